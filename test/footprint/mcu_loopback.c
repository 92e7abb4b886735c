/*
 * The microcontroller port (mcu_port.c + mcu_send.c, built from the same
 * core sources as the Cortex-M4 image) run on the host against a scripted
 * server behind the transport ops struct: the exact client transcript, the
 * delivered message, and a rejection reaching the caller.
 */
#include <stdlib.h>
#include <string.h>

#include "mcu_port.h"
#include "tt.h"

int uavmail_port_random(void *buf, size_t n)
{
    memset(buf, 0x5a, n);
    return 0;
}

int64_t uavmail_port_time(void)
{
    return 1795000000;
}

typedef struct server {
    char in[8192];  /* what the client sent */
    size_t in_len;
    const char *out; /* pending reply bytes */
    int data;        /* inside DATA */
    int reject_rcpt;
    size_t scan;     /* start of the first line not yet answered */
} server;

static const char *reply_for(server *s, const char *line, size_t len)
{
    if (s->data)
        return len == 1 && line[0] == '.' ? (s->data = 0, "250 2.0.0 queued as 42\r\n") : "";
    if (len >= 4 && memcmp(line, "EHLO", 4) == 0)
        return "250-mx.example.net\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n";
    if (len >= 4 && memcmp(line, "AUTH", 4) == 0)
        return "235 2.7.0 ok\r\n";
    if (len >= 4 && memcmp(line, "MAIL", 4) == 0)
        return "250 2.1.0 ok\r\n";
    if (len >= 4 && memcmp(line, "RCPT", 4) == 0)
        return s->reject_rcpt ? "550 5.1.1 no such user\r\n" : "250 2.1.5 ok\r\n";
    if (len >= 4 && memcmp(line, "DATA", 4) == 0)
        return (s->data = 1, "354 go ahead\r\n");
    if (len >= 4 && memcmp(line, "QUIT", 4) == 0)
        return "221 bye\r\n";
    return "500 what?\r\n";
}

static int t_connect(void **conn, const char *host, unsigned port, unsigned ms, void *ud)
{
    server *s = ud;
    s->out = "220 mx.example.net ESMTP\r\n";
    *conn = s;
    return 0;
}

static char replies[4096];

static long t_send(void *conn, const unsigned char *buf, size_t len, unsigned ms, void *ud)
{
    server *s = conn;
    size_t i;
    if (len >= sizeof s->in - s->in_len)
        return UAVMAIL_EIO;
    memcpy(s->in + s->in_len, buf, len);
    s->in_len += len;
    /* Answer every complete line (the client may pipeline several). */
    replies[0] = '\0';
    for (i = s->scan; i + 1 < s->in_len; i++) {
        if (s->in[i] == '\r' && s->in[i + 1] == '\n') {
            strcat(replies, reply_for(s, s->in + s->scan, i - s->scan));
            s->scan = i + 2;
        }
    }
    if (replies[0] != '\0')
        s->out = replies;
    return (long)len;
}

static long t_recv(void *conn, unsigned char *buf, size_t len, unsigned ms, void *ud)
{
    server *s = conn;
    size_t n = s->out ? strlen(s->out) : 0;
    if (n == 0)
        return UAVMAIL_ETIMEOUT;
    if (n > len)
        n = len;
    memcpy(buf, s->out, n);
    s->out += n;
    return (long)n;
}

static void t_close(void *conn, void *ud)
{
}

static int send_one(server *s, char *why, size_t cap)
{
    static const unsigned char csv[] = "t,lat,lon\n0,47.39,8.54\n";
    uavmail_transport t;
    uavmail_message *m;
    int rc;
    memset(&t, 0, sizeof t);
    t.version = UAVMAIL_TRANSPORT_VERSION;
    t.connect_fn = t_connect;
    t.send_fn = t_send;
    t.recv_fn = t_recv;
    t.close_fn = t_close;
    t.user_data = s;
    if (uavmail_message_new(&m, NULL) != 0)
        return -1;
    uavmail_message_set_from(m, "uav7@example.net", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    uavmail_message_set_subject(m, "Battery low");
    uavmail_message_set_text(m, "RTL engaged.\n.\n", 15);
    uavmail_message_attach_memory(m, csv, sizeof csv - 1, "text/csv", "track.csv");
    rc = uavmail_mcu_send(&t, "mx.example.net", "uav7.example.net", "uav7", "secret", m, why,
                          cap);
    uavmail_message_free(m);
    return rc;
}

static void test_send_accepted(void)
{
    static server s;
    char why[200] = "";
    const char *body;
    static const char head[] = "EHLO uav7.example.net\r\nAUTH PLAIN AHVhdjcAc2VjcmV0\r\n"
                               "MAIL FROM:<uav7@example.net>";
    CHECK_INT(send_one(&s, why, sizeof why), 0);
    s.in[s.in_len] = '\0';
    CHECK_MEM(s.in, sizeof head - 1, head, sizeof head - 1);
    CHECK(strstr(s.in, "RCPT TO:<ops@example.net>\r\nDATA\r\n") != NULL);
    body = strstr(s.in, "\r\n\r\n");
    CHECK(body != NULL);
    CHECK(strstr(s.in, "Subject: Battery low\r\n") != NULL);
    CHECK(strstr(s.in, "RTL engaged.\r\n..\r\n") != NULL);           /* dot-stuffed */
    CHECK(strstr(s.in, "dCxsYXQsbG9uCjAsNDcuMzksOC41NAo=\r\n") != NULL); /* the CSV in base64 */
    CHECK(strstr(s.in, "\r\n.\r\n") != NULL);
    CHECK(s.in_len > 6 && strcmp(s.in + s.in_len - 6, "QUIT\r\n") == 0);
}

static void test_rcpt_rejected(void)
{
    static server s;
    char why[200] = "";
    s.reject_rcpt = 1;
    CHECK(send_one(&s, why, sizeof why) < 0);
    CHECK(strstr(why, "550") != NULL || strstr(why, "ops@example.net") != NULL);
}

static const tt_test cases[] = {
    TT(test_send_accepted),
    TT(test_rcpt_rejected),
};

TT_MAIN(cases)
