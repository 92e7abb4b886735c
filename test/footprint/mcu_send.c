/*
 * The send loop of the microcontroller port: the sans-I/O SMTP engine and
 * the streaming MIME writer, driven through a uavmail_transport.  It keeps
 * one 512-byte input buffer and one 512-byte body buffer on the stack; the
 * engine's output buffer is sized by UAVMAIL_OUTBUF_SIZE (opts.h).
 */
#include <string.h>

#include "mcu_port.h"
#include "mime.h"
#include "smtp.h"

typedef struct mcu_ctx {
    const char *password;
    uavmail__smtp engine;
    uavmail_error_detail err;
} mcu_ctx;

static int give_password(char *buf, size_t cap, size_t *len, void *ud)
{
    const char *pw = ((const mcu_ctx *)ud)->password;
    *len = strlen(pw);
    if (*len > cap)
        return -1;
    memcpy(buf, pw, *len);
    return 0;
}

/* Hand the engine message bytes while it wants them. */
static int push_body(uavmail__smtp *e, uavmail__mime_reader *r, char *buf, size_t cap,
                     size_t *off, size_t *len)
{
    if (*off == *len) {
        long n = uavmail__mime_read(r, buf, cap);
        if (n < 0)
            return (int)n;
        *off = 0;
        *len = (size_t)n;
        if (n == 0) {
            uavmail__smtp_body_end(e);
            return 0;
        }
    }
    *off += uavmail__smtp_body(e, buf + *off, *len - *off);
    return 0;
}

/* One engine step through the transport: 0, 1 when done, or an error. */
static int step(uavmail__smtp *e, const uavmail_transport *t, void *conn,
                uavmail__mime_reader *r, char *body, size_t *off, size_t *len)
{
    char in[512];
    long n;
    switch (uavmail__smtp_want(e)) {
    case UAVMAIL__SMTP_WANT_WRITE: {
        size_t out_len;
        const char *out = uavmail__smtp_output(e, &out_len);
        n = t->send_fn(conn, (const unsigned char *)out, out_len, uavmail__smtp_timeout_ms(e),
                       t->user_data);
        if (n == UAVMAIL_ETIMEOUT)
            return uavmail__smtp_timed_out(e);
        if (n <= 0)
            return n < 0 ? (int)n : UAVMAIL_EIO;
        uavmail__smtp_consume(e, (size_t)n);
        return 0;
    }
    case UAVMAIL__SMTP_WANT_READ:
        n = t->recv_fn(conn, (unsigned char *)in, sizeof in, uavmail__smtp_timeout_ms(e),
                       t->user_data);
        if (n == UAVMAIL_ETIMEOUT)
            return uavmail__smtp_timed_out(e);
        if (n == 0)
            return uavmail__smtp_eof(e);
        return n < 0 ? (int)n : uavmail__smtp_feed(e, in, (size_t)n);
    case UAVMAIL__SMTP_WANT_BODY:
        return push_body(e, r, body, 512, off, len);
    case UAVMAIL__SMTP_IDLE:
    case UAVMAIL__SMTP_CLOSED:
        return 1;
    default:
        return e->err->code ? e->err->code : UAVMAIL_EPROTOCOL; /* FAILED */
    }
}

static int run(uavmail__smtp *e, const uavmail_transport *t, void *conn,
               uavmail__mime_reader *r)
{
    char body[512];
    size_t off = 0, len = 0;
    int rc;
    while ((rc = step(e, t, conn, r, body, &off, &len)) == 0)
        ;
    if (rc < 0)
        uavmail__smtp_abort(e);
    return rc < 0 ? rc : 0;
}

static int send_message(mcu_ctx *c, const uavmail_transport *t, void *conn,
                        uavmail_message *msg)
{
    uavmail__smtp *e = &c->engine;
    uavmail__mime_reader *r = NULL;
    uavmail__envelope env;
    uavmail__rcpt_result res[4];
    const char *rcpt[4];
    size_t i;
    int rc, result = UAVMAIL_EPROTOCOL;
    if (msg->nrcpt == 0 || msg->nrcpt > 4)
        return UAVMAIL_EINVAL; /* this small port sends to at most four recipients */
    rc = run(e, t, conn, NULL); /* greeting, EHLO, AUTH */
    if (rc == 0)
        rc = uavmail__mime_reader_new(&r, msg, UAVMAIL__MIME_8BIT);
    if (rc != 0)
        return rc;
    memset(&env, 0, sizeof env);
    for (i = 0; i < msg->nrcpt; i++)
        rcpt[i] = msg->rcpt[i].addr;
    env.from = msg->from.addr;
    env.rcpt = rcpt;
    env.nrcpt = msg->nrcpt;
    env.body_8bit = uavmail__mime_is_8bit(r) && uavmail__smtp_has_cap(e, UAVMAIL__CAP_8BITMIME);
    env.quit_after = 1;
    rc = uavmail__smtp_submit(e, &env, res);
    if (rc == 0)
        rc = run(e, t, conn, r);
    if (rc == 0 && !uavmail__smtp_tx_done(e, &result))
        rc = UAVMAIL_EPROTOCOL;
    if (rc == 0 && uavmail__smtp_want(e) == UAVMAIL__SMTP_IDLE) {
        uavmail__smtp_quit(e); /* not pipelined behind the message: say it now */
        run(e, t, conn, NULL);
    }
    uavmail__mime_reader_free(r);
    return rc != 0 ? rc : result;
}

int uavmail_mcu_send(const uavmail_transport *t, const char *host, const char *helo,
                     const char *user, const char *password, uavmail_message *msg,
                     char *why, size_t why_cap)
{
    static mcu_ctx c; /* the engine is large (UAVMAIL_OUTBUF_SIZE): keep it off the stack */
    uavmail__smtp_config cfg;
    uavmail__alloc a;
    void *conn = NULL;
    int rc;
    memset(&cfg, 0, sizeof cfg);
    cfg.helo_name = helo;
    cfg.timeouts.greeting = cfg.timeouts.mail = cfg.timeouts.rcpt = 60000;
    cfg.timeouts.data = cfg.timeouts.block = cfg.timeouts.data_end = 60000;
    cfg.security = UAVMAIL__SEC_TLS; /* the transport runs TLS (or the link is trusted) */
    cfg.username = user;
    cfg.password_cb = give_password;
    cfg.password_user_data = &c;
    cfg.auth_allowed = UAVMAIL__MECH_PLAIN | UAVMAIL__MECH_LOGIN | UAVMAIL__MECH_XOAUTH2;
    cfg.host = host;
    c.password = password;
    uavmail__alloc_init(&a, NULL);
    uavmail__smtp_init(&c.engine, &cfg, &a, &c.err);
    rc = t->connect_fn(&conn, host, 465, 30000, t->user_data);
    if (rc == 0) {
        rc = send_message(&c, t, conn, msg);
        t->close_fn(conn, t->user_data);
    }
    uavmail__smtp_release(&c.engine);
    if (rc != 0)
        uavmail__strlcpy(why, c.err.message[0] ? c.err.message : uavmail_strerror(rc), why_cap);
    return rc;
}
