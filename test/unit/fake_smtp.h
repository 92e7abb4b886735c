/*
 * A small in-memory SMTP server behind an application transport, shared by
 * the session and outbox tests: it answers each command as it arrives and
 * can refuse recipients ("bad..." 550, "later..." 451, more than max_rcpt
 * 452), refuse or drop the end of data (of every transaction or of one),
 * and fail the Nth transport call.
 * With CHUNKING in its EHLO reply it takes BDAT chunks; it counts the
 * client's turns from writing to reading (round trips on a real link).
 */
#ifndef UAVMAIL_FAKE_SMTP_H
#define UAVMAIL_FAKE_SMTP_H

#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct fake_server {
    char in[1 << 16];   /* bytes the client sent, not yet processed */
    size_t in_len;
    char out[1 << 14];  /* replies not yet read by the client */
    size_t out_len;
    char data[1 << 16]; /* DATA content received */
    size_t data_len;
    int in_data;
    int messages;
    int connects;
    long fail_at;       /* fail the Nth transport call (0: never) */
    long calls;
    const char *ehlo;   /* EHLO reply */
    char ehlo_line[300]; /* what the client said */
    int max_rcpt;        /* answer 452 past this many RCPTs per transaction */
    int rcpt_in_tx;
    int transactions;
    const char *final_reply; /* reply to the end of data (default 250) */
    int drop_after_dot;  /* close without replying to the end of data */
    int refuse_connect;  /* connect fails */
    int closed;
    int accept_later;    /* "later..." recipients are accepted after all */
    int rcpt_total;      /* RCPT commands seen */
    char subjects[32][64]; /* Subject of each accepted message, in order */
    char msgids[32][96];
    unsigned long bdat_left; /* chunk bytes still to come */
    int bdats;           /* BDAT commands seen */
    int rsets;           /* RSET commands seen */
    int quits;           /* QUIT commands seen */
    int turns;           /* reads that followed a write */
    int wrote;           /* the last transport call was a write */
    int close_after;     /* answer 421 and hang up after this many messages (0: never) */
    const char *mail_reply; /* REVIEW: refuse MAIL with this; then 503 to RCPT/BDAT */
    int no_tx;
    int end_reply_tx;    /* the end of data of this transaction (1-based) gets end_reply */
    const char *end_reply; /* ... "421 ..." also hangs up, NULL hangs up without a reply */
} fake_server;

static const char *find_header(const char *data, size_t len, const char *name)
{
    size_t nl = strlen(name), i;
    for (i = 0; i + nl <= len; i++)
        if ((i == 0 || data[i - 1] == '\n') && memcmp(data + i, name, nl) == 0)
            return data + i + nl;
    return "";
}

static void copy_line(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    while (s[n] && s[n] != '\r' && s[n] != '\n' && n + 1 < cap)
        n++;
    memcpy(out, s, n);
    out[n] = '\0';
}

static void reply(fake_server *f, const char *s)
{
    size_t n = strlen(s);
    memcpy(f->out + f->out_len, s, n);
    f->out_len += n;
}

/* The end of a message (DATA's dot or the last BDAT chunk): 0, or 1 when
 * the server hung up. */
static int end_of_data(fake_server *f)
{
    if (f->end_reply_tx != 0 && f->transactions == f->end_reply_tx) {
        if (f->end_reply != NULL)
            reply(f, f->end_reply);
        if (f->end_reply == NULL || strncmp(f->end_reply, "421", 3) == 0) {
            f->closed = 1;
            f->in_len = 0;
            return 1;
        }
    } else if (f->drop_after_dot) {
        f->closed = 1;
        f->in_len = 0;
        return 1;
    } else if (f->final_reply != NULL && f->final_reply[0] != '2') {
        reply(f, f->final_reply);
    } else {
        const char *subj = find_header(f->data, f->data_len, "Subject: ");
        const char *mid = find_header(f->data, f->data_len, "Message-ID: ");
        if (f->messages < 32) {
            copy_line(f->subjects[f->messages], sizeof f->subjects[0], subj);
            copy_line(f->msgids[f->messages], sizeof f->msgids[0], mid);
        }
        f->messages++;
        reply(f, "250 2.0.0 queued\r\n");
        if (f->close_after != 0 && f->messages == f->close_after) {
            reply(f, "421 4.3.2 shutting down\r\n");
            f->closed = 1;
            f->in_len = 0;
            return 1;
        }
    }
    return 0;
}

static void process(fake_server *f)
{
    char *eol;
    if (f->closed) {
        f->in_len = 0; /* hung up: nothing more is read */
        return;
    }
    for (;;) {
        size_t n;
        if (f->bdat_left > 0) {
            /* Chunk bytes are data, whatever they look like (RFC 3030). */
            n = f->in_len < f->bdat_left ? f->in_len : (size_t)f->bdat_left;
            if (n == 0)
                return;
            if (f->data_len + n < sizeof f->data) {
                memcpy(f->data + f->data_len, f->in, n);
                f->data_len += n;
            }
            memmove(f->in, f->in + n, f->in_len - n);
            f->in_len -= n;
            f->bdat_left -= n;
            if (f->bdat_left == 0 && end_of_data(f))
                return;
            continue;
        }
        if ((eol = memchr(f->in, '\n', f->in_len)) == NULL)
            return;
        n = (size_t)(eol - f->in) + 1;
        if (f->in_data) {
            if (n == 3 && memcmp(f->in, ".\r\n", 3) == 0) {
                f->in_data = 0;
                if (end_of_data(f))
                    return;
            } else if (f->data_len + n < sizeof f->data) {
                memcpy(f->data + f->data_len, f->in, n);
                f->data_len += n;
            }
        } else if (strncmp(f->in, "EHLO ", 5) == 0) {
            memcpy(f->ehlo_line, f->in, n < sizeof f->ehlo_line ? n : sizeof f->ehlo_line - 1);
            reply(f, f->ehlo);
        } else if (strncmp(f->in, "MAIL FROM:", 10) == 0 && f->mail_reply != NULL) {
            f->no_tx = 1;
            reply(f, f->mail_reply);
        } else if (f->no_tx && strncmp(f->in, "RCPT TO:", 8) == 0) {
            reply(f, "503 5.5.1 Error: need MAIL command\r\n");
        } else if (f->no_tx && strncmp(f->in, "BDAT ", 5) == 0) {
            f->bdat_left = strtoul(f->in + 5, NULL, 10);
            f->data_len = 0;
            f->final_reply = "503 5.5.1 Error: need RCPT command\r\n";
        } else if (strncmp(f->in, "MAIL FROM:", 10) == 0) {
            f->no_tx = 0;
            f->rcpt_in_tx = 0;
            f->transactions++;
            reply(f, "250 2.1.0 ok\r\n");
        } else if (strncmp(f->in, "RCPT TO:<bad", 12) == 0) {
            f->rcpt_total++;
            reply(f, "550 5.1.1 no such user\r\n");
        } else if (strncmp(f->in, "RCPT TO:<later", 14) == 0 && !f->accept_later) {
            f->rcpt_total++;
            reply(f, "451 4.2.0 try later\r\n");
        } else if (strncmp(f->in, "RCPT TO:", 8) == 0 && f->max_rcpt &&
                   ++f->rcpt_in_tx > f->max_rcpt) {
            reply(f, "452 4.5.3 too many recipients\r\n");
        } else if (strncmp(f->in, "RCPT TO:", 8) == 0) {
            f->rcpt_total++;
            reply(f, "250 2.1.5 ok\r\n");
        } else if (strncmp(f->in, "DATA", 4) == 0) {
            reply(f, "354 go ahead\r\n");
            f->in_data = 1;
            f->data_len = 0;
        } else if (strncmp(f->in, "BDAT ", 5) == 0 && strstr(f->ehlo, "CHUNKING") != NULL) {
            f->bdats++;
            f->bdat_left = strtoul(f->in + 5, NULL, 10);
            f->data_len = 0;
        } else if (strncmp(f->in, "RSET", 4) == 0) {
            f->rsets++;
            reply(f, "250 2.0.0 reset\r\n");
        } else if (strncmp(f->in, "QUIT", 4) == 0) {
            f->quits++;
            reply(f, "221 bye\r\n");
        } else {
            reply(f, "502 unknown\r\n");
        }
        memmove(f->in, f->in + n, f->in_len - n);
        f->in_len -= n;
    }
}

static int fail_now(fake_server *f)
{
    return f->fail_at != 0 && ++f->calls == f->fail_at;
}

static int t_connect(void **conn, const char *host, unsigned port, unsigned timeout_ms, void *ud)
{
    fake_server *f = ud;
    (void)host;
    (void)port;
    (void)timeout_ms;
    if (fail_now(f) || f->refuse_connect)
        return UAVMAIL_ECONNECT;
    f->connects++;
    f->in_len = f->out_len = 0;
    f->in_data = 0;
    f->closed = 0;
    reply(f, "220 fake.example ESMTP\r\n");
    *conn = f;
    return 0;
}

static long t_send(void *conn, const unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    fake_server *f = conn;
    (void)timeout_ms;
    (void)ud;
    if (fail_now(f))
        return UAVMAIL_EIO;
    f->wrote = 1;
    if (len > sizeof f->in - f->in_len)
        len = sizeof f->in - f->in_len;
    memcpy(f->in + f->in_len, buf, len);
    f->in_len += len;
    process(f);
    return (long)len;
}

static long t_recv(void *conn, unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    fake_server *f = conn;
    (void)timeout_ms;
    (void)ud;
    if (fail_now(f))
        return UAVMAIL_EIO;
    f->turns += f->wrote;
    f->wrote = 0;
    if (f->out_len == 0 && f->closed)
        return 0; /* the server hung up */
    if (f->out_len == 0)
        return UAVMAIL_ETIMEOUT;
    if (len > f->out_len)
        len = f->out_len;
    memcpy(buf, f->out, len);
    memmove(f->out, f->out + len, f->out_len - len);
    f->out_len -= len;
    return (long)len;
}

static void t_close(void *conn, void *ud)
{
    (void)conn;
    (void)ud;
}

static int t_local(void *conn, char *buf, size_t cap, void *ud)
{
    (void)conn;
    (void)ud;
    uavmail__strlcpy(buf, "[192.0.2.7]", cap);
    return 0;
}

static fake_server *new_server(void)
{
    fake_server *f = calloc(1, sizeof *f);
    f->ehlo = "250-fake.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    return f;
}

/* A version-1 transport (no fd_fn) over @p f. */
static void fake_transport(uavmail_transport *tr, fake_server *f)
{
    memset(tr, 0, sizeof *tr);
    tr->version = 1;
    tr->connect_fn = t_connect;
    tr->send_fn = t_send;
    tr->recv_fn = t_recv;
    tr->close_fn = t_close;
    tr->local_address_fn = t_local;
    tr->user_data = f;
}

#endif
