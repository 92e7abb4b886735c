/*
 * The microcontroller port (mcu_port.c + mcu_send.c, built from the same
 * core sources as the Cortex-M4 image) run on the host against a scripted
 * server behind the transport ops struct: the exact client transcript, the
 * delivered message, and a rejection reaching the caller.  Built twice
 * (test/footprint/meson.build): with every feature, and in the small
 * configuration of test/footprint/mcu_small.txt, where the features it
 * compiles out must be refused with their error codes.
 */
#include <stdlib.h>
#include <string.h>

#include "mcu_port.h"
#include "mime.h"
#include "smtp.h"
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
    const char *ehlo;       /* the EHLO reply (NULL: 8BITMIME, AUTH PLAIN LOGIN) */
    const char *ehlo_plain; /* the EHLO reply before STARTTLS (NULL: no STARTTLS) */
    int tls;                /* the (simulated) TLS handshake is done */
} server;

static const char *reply_for(server *s, const char *line, size_t len)
{
    if (s->data)
        return len == 1 && line[0] == '.' ? (s->data = 0, "250 2.0.0 queued as 42\r\n") : "";
    if (len >= 4 && memcmp(line, "EHLO", 4) == 0) {
        if (s->ehlo_plain != NULL && !s->tls)
            return s->ehlo_plain;
        return s->ehlo ? s->ehlo : "250-mx.example.net\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n";
    }
    if (len == 8 && memcmp(line, "STARTTLS", 8) == 0)
        return "220 2.0.0 ready to start TLS\r\n";
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
    CHECK_INT(send_one(&s, why, sizeof why), UAVMAIL_EPERMFAIL);
#if UAVMAIL_ERROR_TEXTS
    CHECK(strstr(why, "550") != NULL || strstr(why, "ops@example.net") != NULL);
#else
    CHECK_STR(why, uavmail_strerror(UAVMAIL_EPERMFAIL)); /* the generic text of the code */
#endif
}

/* ---- the engine driven directly: STARTTLS, AUTH PLAIN, error detail ---------------- */

static int give_secret(char *buf, size_t cap, size_t *len, void *ud)
{
    *len = 6;
    memcpy(buf, "secret", 6);
    return 0;
}

static void engine_config(uavmail__smtp_config *cfg, int security, const char *user)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->helo_name = "uav7.example.net";
    cfg->security = security;
    cfg->username = user;
    cfg->password_cb = give_secret;
}

/* Greet from @p s and start @p e on it (the engine keeps @p a). */
static void engine_start(uavmail__smtp *e, server *s, int security, const char *user,
                         uavmail__alloc *a, uavmail_error_detail *err)
{
    uavmail__smtp_config cfg;
    void *conn;
    t_connect(&conn, "mx.example.net", 25, 0, s); /* sets the greeting */
    engine_config(&cfg, security, user);
    uavmail__alloc_init(a, NULL);
    uavmail__smtp_init(e, &cfg, a, err);
}

/* Run the engine against @p s until it is idle or closed (0) or failed (its
 * error); the TLS handshake STARTTLS asks for is simulated. */
static int drive(uavmail__smtp *e, server *s, uavmail__mime_reader *r)
{
    char in[512], body[512];
    size_t off = 0, len = 0, n;
    long got;
    int rc;
    for (;;) {
        switch (uavmail__smtp_want(e)) {
        case UAVMAIL__SMTP_WANT_WRITE: {
            const char *out = uavmail__smtp_output(e, &n);
            if (t_send(s, (const unsigned char *)out, n, 0, NULL) < 0)
                return UAVMAIL_EIO;
            uavmail__smtp_consume(e, n);
            break;
        }
        case UAVMAIL__SMTP_WANT_READ:
            got = t_recv(s, (unsigned char *)in, sizeof in, 0, NULL);
            if (got == UAVMAIL_ETIMEOUT)
                return uavmail__smtp_timed_out(e);
            rc = uavmail__smtp_feed(e, in, (size_t)got);
            if (rc != 0)
                return rc;
            break;
        case UAVMAIL__SMTP_WANT_TLS:
            s->tls = 1;
            uavmail__smtp_tls_started(e);
            break;
        case UAVMAIL__SMTP_WANT_BODY:
            if (off == len) {
                got = uavmail__mime_read(r, body, sizeof body);
                if (got < 0)
                    return (int)got;
                if (got == 0) {
                    uavmail__smtp_body_end(e);
                    break;
                }
                off = 0;
                len = (size_t)got;
            }
            off += uavmail__smtp_body(e, body + off, len - off);
            break;
        case UAVMAIL__SMTP_IDLE:
        case UAVMAIL__SMTP_CLOSED:
            return 0;
        default:
            return e->err->code;
        }
    }
}

static uavmail_message *telemetry_message(void)
{
    static const unsigned char csv[] = "t,lat,lon\n0,47.39,8.54\n";
    uavmail_message *m;
    if (uavmail_message_new(&m, NULL) != 0)
        return NULL;
    uavmail_message_set_from(m, "uav7@example.net", "UAV 7");
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    uavmail_message_set_subject(m, "Batterie schwach \xe2\x80\x93 R\xc3\xbc" "ckkehr");
    uavmail_message_set_text(m, "RTL engaged.\n.\n", 15);
    /* No media type: guessed from the name, or application/octet-stream
     * without the table (UAVMAIL_WITH_MIME_TYPES 0). */
    uavmail_message_attach_memory(m, csv, sizeof csv - 1, NULL, "track.csv");
    return m;
}

static void test_starttls_send(void)
{
    static server s;
    static uavmail__smtp e;
    uavmail__alloc a;
    uavmail_error_detail *err = calloc(1, sizeof *err);
    uavmail__mime_reader *r = NULL;
    uavmail__envelope env;
    uavmail__rcpt_result res[1];
    const char *rcpt[1] = {"ops@example.net"};
    uavmail_message *m = telemetry_message();
    int result = -1;
    static const char head[] = "EHLO uav7.example.net\r\nSTARTTLS\r\nEHLO uav7.example.net\r\n"
                               "AUTH PLAIN AHVhdjcAc2VjcmV0\r\nMAIL FROM:<uav7@example.net>\r\n"
                               "RCPT TO:<ops@example.net>\r\nDATA\r\n";
    CHECK(m != NULL && err != NULL);
    if (m == NULL || err == NULL)
        return;
    s.ehlo_plain = "250-mx.example.net\r\n250-PIPELINING\r\n250 STARTTLS\r\n";
    s.ehlo = "250-mx.example.net\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
             "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n";
    engine_start(&e, &s, UAVMAIL__SEC_STARTTLS, "uav7", &a, err);
    CHECK_INT(drive(&e, &s, NULL), 0); /* greeting, EHLO, STARTTLS, EHLO, AUTH */
    CHECK_INT(s.tls, 1);
    CHECK_INT(uavmail__mime_reader_new(&r, m, UAVMAIL__MIME_8BIT), 0);
    memset(&env, 0, sizeof env);
    env.from = "uav7@example.net";
    env.rcpt = rcpt;
    env.nrcpt = 1;
    env.quit_after = 1;
    CHECK_INT(uavmail__smtp_submit(&e, &env, res), 0);
    CHECK_INT(drive(&e, &s, r), 0); /* MAIL, RCPT, DATA pipelined; the message; QUIT */
    CHECK(uavmail__smtp_tx_done(&e, &result));
    CHECK_INT(result, 0);
    CHECK_INT(res[0].code, 250);
    s.in[s.in_len] = '\0';
    CHECK_MEM(s.in, sizeof head - 1, head, sizeof head - 1);
    CHECK(strstr(s.in, "Subject: =?UTF-8?B?QmF0dGVyaWUgc2Nod2FjaCDigJMgUsO8Y2trZWhy?=\r\n") != NULL);
    CHECK(strstr(s.in, "RTL engaged.\r\n..\r\n") != NULL); /* dot-stuffed */
#if UAVMAIL_WITH_MIME_TYPES
    CHECK(strstr(s.in, "Content-Type: text/csv;\r\n\tname=\"track.csv\"\r\n") != NULL);
#else
    CHECK(strstr(s.in, "Content-Type: application/octet-stream;\r\n\tname=\"track.csv\"\r\n") !=
          NULL);
#endif
    CHECK(strstr(s.in, "Content-Disposition: attachment;\r\n\tfilename=\"track.csv\"\r\n"
                       "Content-Transfer-Encoding: base64\r\n\r\n"
                       "dCxsYXQsbG9uCjAsNDcuMzksOC41NAo=\r\n") != NULL);
    CHECK(s.in_len > 11 && strcmp(s.in + s.in_len - 11, "\r\n.\r\nQUIT\r\n") == 0);
    uavmail__mime_reader_free(r);
    uavmail_message_free(m);
    free(err);
}

/* A rejection keeps the server's reply (code, enhanced status, text)
 * whether or not the error texts are compiled in. */
static void test_reply_detail(void)
{
    static server s;
    static uavmail__smtp e;
    uavmail__alloc a;
    uavmail_error_detail *err = calloc(1, sizeof *err);
    uavmail__envelope env;
    uavmail__rcpt_result res[1];
    const char *rcpt[1] = {"ops@example.net"};
    CHECK(err != NULL);
    if (err == NULL)
        return;
    s.ehlo = "250-mx.example.net\r\n250 ENHANCEDSTATUSCODES\r\n";
    s.reject_rcpt = 1;
    engine_start(&e, &s, UAVMAIL__SEC_NONE, NULL, &a, err);
    CHECK_INT(drive(&e, &s, NULL), 0);
    memset(&env, 0, sizeof env);
    env.from = "uav7@example.net";
    env.rcpt = rcpt;
    env.nrcpt = 1;
    CHECK_INT(uavmail__smtp_submit(&e, &env, res), 0);
    CHECK_INT(drive(&e, &s, NULL), 0);
    CHECK_INT(uavmail_error_code(err), UAVMAIL_EPERMFAIL);
    CHECK_INT(uavmail_error_smtp_code(err), 550);
    CHECK_STR(uavmail_error_enhanced_code(err), "5.1.1");
    CHECK_STR(uavmail_error_server_reply(err), "no such user");
#if !UAVMAIL_ERROR_TEXTS
    CHECK_STR(uavmail_error_message(err), uavmail_strerror(UAVMAIL_EPERMFAIL));
#endif
    free(err);
}

/* The server offers only mechanisms that are compiled out (or that the
 * configuration cannot use): UAVMAIL_ENOAUTH, and no AUTH command is sent. */
static void test_mechanism_unavailable(void)
{
    static server s;
    static uavmail__smtp e;
    uavmail__alloc a;
    uavmail_error_detail *err = calloc(1, sizeof *err);
    CHECK(err != NULL);
    if (err == NULL)
        return;
    s.ehlo = UAVMAIL_WITH_SCRAM ? "250-mx.example.net\r\n250 AUTH XOAUTH2 OAUTHBEARER\r\n"
                                : "250-mx.example.net\r\n250 AUTH SCRAM-SHA-256\r\n";
    /* A password, every mechanism allowed. */
    engine_start(&e, &s, UAVMAIL__SEC_TLS, "uav7", &a, err);
    CHECK_INT(drive(&e, &s, NULL), UAVMAIL_ENOAUTH);
    CHECK_INT(uavmail_error_code(err), UAVMAIL_ENOAUTH);
    s.in[s.in_len] = '\0';
    CHECK_STR(s.in, "EHLO uav7.example.net\r\n");
    free(err);
}

#if !UAVMAIL_WITH_HELO
/* A plain relay refusing EHLO: without the HELO fallback, the session's failure. */
static void test_no_helo_fallback(void)
{
    static server s;
    static uavmail__smtp e;
    uavmail__alloc a;
    uavmail_error_detail *err = calloc(1, sizeof *err);
    CHECK(err != NULL);
    if (err == NULL)
        return;
    s.ehlo = "502 5.5.1 EHLO not implemented\r\n";
    engine_start(&e, &s, UAVMAIL__SEC_NONE, NULL, &a, err);
    CHECK_INT(drive(&e, &s, NULL), UAVMAIL_EPERMFAIL);
    CHECK_INT(uavmail_error_smtp_code(err), 502);
    free(err);
}
#endif

/* What the small configuration compiles out is refused with an error code
 * when asked for, never silently dropped. */
static void test_compiled_out_refused(void)
{
    uavmail_message *m;
    uavmail__mime_reader *r = NULL;
    CHECK_INT(uavmail_message_new(&m, NULL), 0);
    if (m == NULL)
        return;
    CHECK_INT(uavmail_message_set_from(m, "uav7@example.net", NULL), 0);
#if !UAVMAIL_WITH_DSN
    CHECK_INT(uavmail_message_set_dsn(m, UAVMAIL_DSN_FAILURE, UAVMAIL_DSN_RET_HDRS, NULL),
              UAVMAIL_EINVAL);
    CHECK_INT(uavmail_message_set_dsn(m, 0, UAVMAIL_DSN_RET_DEFAULT, NULL), 0); /* nothing asked */
    {
        static uavmail__smtp e;
        uavmail__alloc a;
        uavmail_error_detail *err = calloc(1, sizeof *err);
        uavmail__envelope env;
        uavmail__rcpt_result res[1];
        const char *rcpt[1] = {"ops@example.net"};
        static server s;
        engine_start(&e, &s, UAVMAIL__SEC_NONE, NULL, &a, err);
        CHECK_INT(drive(&e, &s, NULL), 0);
        memset(&env, 0, sizeof env);
        env.from = "uav7@example.net";
        env.rcpt = rcpt;
        env.nrcpt = 1;
        env.dsn_notify = UAVMAIL__DSN_FAILURE;
        CHECK_INT(uavmail__smtp_submit(&e, &env, res), UAVMAIL_EINVAL);
        free(err);
    }
#endif
#if !UAVMAIL_WITH_SMTPUTF8
    CHECK_INT(uavmail_message_add_recipient(m, UAVMAIL_TO, "j\xc3\xb6rg@example.net", NULL),
              UAVMAIL_EADDRESS);
#endif
    CHECK_INT(uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL), 0);
#if !UAVMAIL_WITH_HTML
    CHECK_INT(uavmail_message_set_html(m, "<p>RTL</p>", 10), UAVMAIL_EINVAL);
    CHECK_INT(uavmail_message_add_inline_memory(m, "x", 1, "image/png", "map"), UAVMAIL_EINVAL);
#endif
#if !UAVMAIL_WITH_FILES
    CHECK_INT(uavmail_message_attach_file(m, "/dev/null", NULL, "log.txt"), UAVMAIL_EINVAL);
    CHECK_INT(uavmail_message_set_prepared_file(m, "/dev/null"), UAVMAIL_EINVAL);
    CHECK_INT(uavmail_message_attach_fd(m, 0, NULL, "log.txt"), UAVMAIL_EINVAL);
#endif
#if !UAVMAIL_WITH_RFC2231
    CHECK_INT(uavmail_message_attach_memory(m, "x", 1, NULL, "Fl\xc3\xbcge.txt"),
              UAVMAIL_EHEADER);
    CHECK_INT(uavmail_message_attach_memory(m, "x", 1, NULL, "=?x?="), UAVMAIL_EHEADER);
#endif
#if !UAVMAIL_ERROR_TEXTS
    CHECK_STR(uavmail_error_message(uavmail_message_last_error(m)),
              uavmail_strerror(uavmail_error_code(uavmail_message_last_error(m))));
#endif
#if !UAVMAIL_WITH_QP
    /* 8-bit text for a server without 8BITMIME would need quoted-printable. */
    CHECK_INT(uavmail_message_set_text(m, "Akku 18 \xe2\x80\x93 RTL\n", 15), 0);
    CHECK_INT(uavmail__mime_reader_new(&r, m, 0), UAVMAIL_EENCODING);
    CHECK(r == NULL);
    CHECK_INT(uavmail__mime_reader_new(&r, m, UAVMAIL__MIME_8BIT), 0); /* 8BITMIME: fine */
#endif
    uavmail__mime_reader_free(r);
    uavmail_message_free(m);
}

static const tt_test cases[] = {
    TT(test_send_accepted),
    TT(test_rcpt_rejected),
    TT(test_starttls_send),
    TT(test_reply_detail),
    TT(test_mechanism_unavailable),
#if !UAVMAIL_WITH_HELO
    TT(test_no_helo_fallback),
#endif
    TT(test_compiled_out_refused),
};

TT_MAIN(cases)
