/*
 * The blocking session driver: moves bytes between the transport (through
 * TLS when active), the SMTP engine and the MIME writer.
 */
#include <string.h>

#include "address.h"
#include "message_int.h"
#include "mime.h"
#include "platform.h"
#include "smtp.h"
#include "tls.h"

#define INBUF_SIZE 4096
#define BODYBUF_SIZE 8192

struct uavmail_session {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    char *host;
    unsigned port;
    int security;
    char *cafile, *capath, *username, *helo_name, *tls_session_file;
    uavmail_password_cb password_cb;
    void *password_user_data;
    unsigned connect_timeout_ms;
    uavmail_transport transport;
    uavmail_trace_cb trace_cb;
    void *trace_user_data;

    uavmail__tls_cfg *tls_cfg;
    uavmail__tls *tls;
    void *conn;
    int connected;
    char ehlo_name[300];

    /* Results of the last message. */
    uavmail__rcpt_result *results;
    char **res_addr;
    size_t nresults;

    uavmail__smtp engine;
    char inbuf[INBUF_SIZE];
    char body[BODYBUF_SIZE];
    size_t body_off, body_len;
};

int uavmail_session_options_init(uavmail_session_options *opts, unsigned version)
{
    static const uavmail_session_options defaults = UAVMAIL_SESSION_OPTIONS_INIT;
    if (opts == NULL || version != UAVMAIL_SESSION_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    *opts = defaults;
    return 0;
}

static void info(uavmail_session *s, const char *text)
{
    if (s->trace_cb != NULL)
        s->trace_cb(UAVMAIL_TRACE_INFO, text, strlen(text), s->trace_user_data);
}

static int is_loopback(const char *host)
{
    unsigned char ip[16];
    size_t n = uavmail__plat_parse_ip(host, ip);
    static const unsigned char v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (uavmail__ascii_casecmp(host, "localhost") == 0)
        return 1;
    return (n == 4 && ip[0] == 127) || (n == 16 && memcmp(ip, v6lo, 16) == 0);
}

static int check_host(const char *host)
{
    size_t n, i;
    if (host == NULL || (n = strlen(host)) == 0 || n > 255)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= 0x20 || c == 0x7F || c == '/' || c == '@')
            return 0;
    }
    return 1;
}

static int copy_opt(uavmail_session *s, char **dst, const char *src)
{
    if (src == NULL)
        return 0;
    *dst = uavmail__strdup(&s->alloc, src);
    return *dst == NULL ? -1 : 0;
}

static int validate(const uavmail_session_options *o, uavmail_error_detail *err)
{
    if (!check_host(o->host))
        return uavmail__err_set(err, UAVMAIL_EINVAL, "server host name is missing or invalid");
    if (o->security < UAVMAIL_SECURITY_AUTO || o->security > UAVMAIL_SECURITY_NONE)
        return uavmail__err_set(err, UAVMAIL_EINVAL, "unknown security mode %d", o->security);
    if (o->port > 65535)
        return uavmail__err_set(err, UAVMAIL_EINVAL, "port %u is out of range", o->port);
    if (o->security == UAVMAIL_SECURITY_NONE) {
        if (!is_loopback(o->host))
            return uavmail__err_set(err, UAVMAIL_ECONFIG,
                                    "security \"none\" is only allowed to a loopback relay, "
                                    "not to %s",
                                    o->host);
        if (o->username != NULL)
            return uavmail__err_set(err, UAVMAIL_ECONFIG,
                                    "refusing to send credentials without TLS");
    }
    if (o->helo_name != NULL && !uavmail__helo_valid(o->helo_name))
        return uavmail__err_set(err, UAVMAIL_EINVAL,
                                "EHLO name \"%.80s\" is neither a host name nor an address "
                                "literal (P-12)",
                                o->helo_name);
    if (o->username != NULL) {
        const char *p;
        if (o->username[0] == '\0' || strlen(o->username) > 255)
            return uavmail__err_set(err, UAVMAIL_EINVAL, "user name is empty or too long");
        for (p = o->username; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7F)
                return uavmail__err_set(err, UAVMAIL_EINVAL,
                                        "user name contains a control character (D-08)");
        if (o->password_cb == NULL)
            return uavmail__err_set(err, UAVMAIL_EINVAL,
                                    "a user name needs a password callback");
    }
    if (o->transport != NULL &&
        (o->transport->version != UAVMAIL_TRANSPORT_VERSION || o->transport->connect_fn == NULL ||
         o->transport->send_fn == NULL || o->transport->recv_fn == NULL ||
         o->transport->close_fn == NULL))
        return uavmail__err_set(err, UAVMAIL_EINVAL, "transport operations are incomplete");
    return 0;
}

/* Per-phase timeouts: explicit values (options v2), else the blanket
 * command timeout, else the RFC values; the end-of-data wait is never
 * shortened by the blanket value (P-07). */
static void set_timeouts(uavmail__timeouts *t, const uavmail_session_options *o)
{
    unsigned all = o->command_timeout_ms;
    int v2 = o->version >= 2;
    t->greeting = v2 && o->timeout_greeting_ms ? o->timeout_greeting_ms : all;
    t->mail = v2 && o->timeout_mail_ms ? o->timeout_mail_ms : all;
    t->rcpt = v2 && o->timeout_rcpt_ms ? o->timeout_rcpt_ms : all;
    t->data = v2 && o->timeout_data_ms ? o->timeout_data_ms : all;
    t->block = v2 && o->timeout_block_ms ? o->timeout_block_ms : all;
    t->data_end = v2 && o->timeout_data_end_ms ? o->timeout_data_end_ms
                  : all > UAVMAIL_TIMEOUT_DATA_END_MS ? all
                                                      : 0;
}

int uavmail_session_new(uavmail_session **out, const uavmail_session_options *o)
{
    uavmail__alloc a;
    uavmail_session *s;
    uavmail_error_detail tmp;
    uavmail__smtp_config cfg;
    if (out == NULL)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (o == NULL || o->version < 1 || o->version > UAVMAIL_SESSION_OPTIONS_VERSION ||
        uavmail__alloc_init(&a, o->allocator) != 0)
        return UAVMAIL_EINVAL;
    if (validate(o, &tmp) != 0)
        return tmp.code;
    s = uavmail__calloc(&a, 1, sizeof *s);
    if (s == NULL)
        return UAVMAIL_ENOMEM;
    s->alloc = a;
    s->security = o->security;
    s->port = o->port;
    if (s->security == UAVMAIL_SECURITY_AUTO)
        s->security = s->port == 465 ? UAVMAIL_SECURITY_TLS : UAVMAIL_SECURITY_STARTTLS;
    if (s->port == 0)
        s->port = s->security == UAVMAIL_SECURITY_TLS ? 465 : 587;
    s->password_cb = o->password_cb;
    s->password_user_data = o->password_user_data;
    s->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms
                                                  : UAVMAIL_TIMEOUT_CONNECT_MS;
    s->transport = o->transport ? *o->transport : *uavmail__plat_tcp_transport();
    s->trace_cb = o->trace_cb;
    s->trace_user_data = o->trace_user_data;
    if (copy_opt(s, &s->host, o->host) || copy_opt(s, &s->cafile, o->cafile) ||
        copy_opt(s, &s->capath, o->capath) || copy_opt(s, &s->username, o->username) ||
        copy_opt(s, &s->helo_name, o->helo_name) ||
        (o->version >= 2 && copy_opt(s, &s->tls_session_file, o->tls_session_file))) {
        uavmail_session_free(s);
        return UAVMAIL_ENOMEM;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.helo_name = s->ehlo_name;
    cfg.security = s->security == UAVMAIL_SECURITY_TLS        ? UAVMAIL__SEC_TLS
                   : s->security == UAVMAIL_SECURITY_STARTTLS ? UAVMAIL__SEC_STARTTLS
                                                              : UAVMAIL__SEC_NONE;
    cfg.username = s->username;
    cfg.password_cb = s->password_cb;
    cfg.password_user_data = s->password_user_data;
    set_timeouts(&cfg.timeouts, o);
    cfg.trace_cb = s->trace_cb;
    cfg.trace_user_data = s->trace_user_data;
    uavmail__smtp_init(&s->engine, &cfg, &s->alloc, &s->err);
    *out = s;
    return 0;
}

static void free_results(uavmail_session *s)
{
    size_t i;
    for (i = 0; i < s->nresults; i++)
        uavmail__free(&s->alloc, s->res_addr[i]);
    uavmail__free(&s->alloc, s->res_addr);
    uavmail__free(&s->alloc, s->results);
    s->res_addr = NULL;
    s->results = NULL;
    s->nresults = 0;
}

static void disconnect(uavmail_session *s)
{
    if (s->tls != NULL) {
        uavmail__tls_close(s->tls);
        s->tls = NULL;
    }
    if (s->conn != NULL) {
        s->transport.close_fn(s->conn, s->transport.user_data);
        s->conn = NULL;
    }
    s->connected = 0;
}

void uavmail_session_free(uavmail_session *s)
{
    if (s == NULL)
        return;
    if (s->connected)
        (void)uavmail_session_quit(s);
    disconnect(s);
    uavmail__tls_cfg_free(s->tls_cfg);
    free_results(s);
    uavmail__free(&s->alloc, s->host);
    uavmail__free(&s->alloc, s->cafile);
    uavmail__free(&s->alloc, s->capath);
    uavmail__free(&s->alloc, s->username);
    uavmail__free(&s->alloc, s->helo_name);
    uavmail__free(&s->alloc, s->tls_session_file);
    {
        uavmail__alloc a = s->alloc;
        uavmail__zeroize(s, sizeof *s);
        uavmail__free(&a, s);
    }
}

const uavmail_error_detail *uavmail_session_last_error(const uavmail_session *s)
{
    return s ? &s->err : NULL;
}

/* ---- byte movement ------------------------------------------------------------ */

static long bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    uavmail_session *s = ctx;
    return s->transport.send_fn(s->conn, buf, len, UAVMAIL_TIMEOUT_BLOCK_MS,
                                s->transport.user_data);
}

static long bio_recv(void *ctx, unsigned char *buf, size_t len, unsigned timeout_ms)
{
    uavmail_session *s = ctx;
    return s->transport.recv_fn(s->conn, buf, len, timeout_ms, s->transport.user_data);
}

static int io_send(uavmail_session *s, const char *buf, size_t len)
{
    if (s->tls != NULL)
        return uavmail__tls_send(s->tls, (const unsigned char *)buf, len, &s->err);
    while (len > 0) {
        long n = bio_send(s, (const unsigned char *)buf, len);
        if (n <= 0)
            return uavmail__err_set(&s->err, n == UAVMAIL_ETIMEOUT ? UAVMAIL_ETIMEOUT : UAVMAIL_EIO,
                                    "sending to %s:%u failed during %s", s->host, s->port,
                                    uavmail__smtp_phase(&s->engine));
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static long io_recv(uavmail_session *s, char *buf, size_t cap, unsigned timeout_ms)
{
    long n;
    if (s->tls != NULL)
        return uavmail__tls_recv(s->tls, (unsigned char *)buf, cap, timeout_ms, &s->err);
    n = bio_recv(s, (unsigned char *)buf, cap, timeout_ms);
    if (n < 0 && n != UAVMAIL_ETIMEOUT)
        uavmail__err_set(&s->err, UAVMAIL_EIO, "receiving from %s:%u failed during %s",
                         s->host, s->port, uavmail__smtp_phase(&s->engine));
    return n;
}

static int start_tls(uavmail_session *s)
{
    uavmail__bio bio;
    char note[160];
    int rc;
    if (s->tls_cfg == NULL) {
        uavmail__tls_options to;
        to.cafile = s->cafile;
        to.capath = s->capath;
        to.session_file = s->tls_session_file;
        to.host = s->host;
        to.port = s->port;
        rc = uavmail__tls_cfg_new(&s->tls_cfg, &s->alloc, &to, &s->err);
        if (rc != 0)
            return rc;
    }
    bio.send = bio_send;
    bio.recv = bio_recv;
    bio.ctx = s;
    rc = uavmail__tls_connect(&s->tls, s->tls_cfg, s->host, &bio, UAVMAIL_TIMEOUT_GREETING_MS,
                              &s->err);
    if (rc != 0)
        return rc;
    uavmail__snprintf(note, sizeof note, "TLS established: %s, %s, %s",
                      uavmail__tls_version(s->tls), uavmail__tls_ciphersuite(s->tls),
                      uavmail__tls_resumed(s->tls) ? "resumed session (verified earlier)"
                                                   : "certificate verified");
    info(s, note);
    return 0;
}

/* Feed the engine with message bytes while it wants them. */
static int push_body(uavmail_session *s, uavmail__mime_reader *r, uavmail_message *m)
{
    if (s->body_off == s->body_len) {
        long n = r ? uavmail__mime_read(r, s->body, sizeof s->body) : 0;
        if (n < 0) {
            uavmail__err_copy(&s->err, &m->err);
            return (int)n;
        }
        s->body_off = 0;
        s->body_len = (size_t)n;
        if (n == 0) {
            uavmail__smtp_body_end(&s->engine);
            return 0;
        }
    }
    s->body_off += uavmail__smtp_body(&s->engine, s->body + s->body_off, s->body_len - s->body_off);
    return 0;
}

/* Run the engine until it is idle, closed or failed. */
static int run(uavmail_session *s, uavmail__mime_reader *r, uavmail_message *m)
{
    for (;;) {
        int rc = 0;
        switch (uavmail__smtp_want(&s->engine)) {
        case UAVMAIL__SMTP_WANT_WRITE: {
            size_t len;
            const char *out = uavmail__smtp_output(&s->engine, &len);
            rc = io_send(s, out, len);
            if (rc == 0)
                uavmail__smtp_consume(&s->engine, len);
            break;
        }
        case UAVMAIL__SMTP_WANT_READ: {
            long n = io_recv(s, s->inbuf, sizeof s->inbuf, uavmail__smtp_timeout_ms(&s->engine));
            if (n == UAVMAIL_ETIMEOUT)
                return uavmail__smtp_timed_out(&s->engine);
            if (n == 0)
                rc = uavmail__smtp_eof(&s->engine);
            else if (n < 0)
                rc = (int)n;
            else
                rc = uavmail__smtp_feed(&s->engine, s->inbuf, (size_t)n);
            break;
        }
        case UAVMAIL__SMTP_WANT_TLS:
            rc = start_tls(s);
            if (rc == 0)
                uavmail__smtp_tls_started(&s->engine);
            break;
        case UAVMAIL__SMTP_WANT_BODY:
            rc = push_body(s, r, m);
            break;
        case UAVMAIL__SMTP_IDLE:
        case UAVMAIL__SMTP_CLOSED:
            return 0;
        default:
            return s->err.code ? s->err.code : UAVMAIL_EINTERNAL;
        }
        if (rc != 0) {
            uavmail__smtp_abort(&s->engine);
            return s->err.code ? s->err.code : rc;
        }
    }
}

static void describe_connect_error(uavmail_session *s, int rc)
{
    switch (rc) {
    case UAVMAIL_ERESOLVE:
        uavmail__err_set(&s->err, rc, "cannot resolve host name \"%s\"", s->host);
        uavmail__err_hint(&s->err, "check the server name and that DNS works on this link");
        break;
    case UAVMAIL_ETIMEOUT:
        uavmail__err_set(&s->err, rc, "connecting to %s port %u timed out", s->host, s->port);
        uavmail__err_hint(&s->err, "port %u may be blocked by a firewall or the mobile provider; "
                                   "try 587 or 465",
                          s->port);
        break;
    default:
        uavmail__err_set(&s->err, UAVMAIL_ECONNECT, "connection to %s port %u refused or "
                                                    "unreachable",
                         s->host, s->port);
        uavmail__err_hint(&s->err, "check the host and port (submission is 587 with STARTTLS or "
                                   "465 with TLS)");
        break;
    }
}

static int connect_session(uavmail_session *s)
{
    int rc;
    char note[320];
    uavmail__smtp_reset(&s->engine);
    rc = s->transport.connect_fn(&s->conn, s->host, s->port, s->connect_timeout_ms,
                                 s->transport.user_data);
    if (rc != 0) {
        s->conn = NULL;
        describe_connect_error(s, rc);
        return s->err.code;
    }
    s->connected = 1;
    if (s->helo_name != NULL)
        uavmail__strlcpy(s->ehlo_name, s->helo_name, sizeof s->ehlo_name);
    else if (uavmail__plat_fqdn(s->ehlo_name, sizeof s->ehlo_name) != 0 &&
             (s->transport.local_address_fn == NULL ||
              s->transport.local_address_fn(s->conn, s->ehlo_name, sizeof s->ehlo_name,
                                            s->transport.user_data) != 0 ||
              !uavmail__helo_valid(s->ehlo_name)))
        uavmail__strlcpy(s->ehlo_name, "localhost", sizeof s->ehlo_name);
    uavmail__snprintf(note, sizeof note, "connected to %s port %u (%s)", s->host, s->port,
                      s->security == UAVMAIL_SECURITY_TLS        ? "implicit TLS"
                      : s->security == UAVMAIL_SECURITY_STARTTLS ? "STARTTLS required"
                                                                 : "no TLS");
    info(s, note);
    if (s->security == UAVMAIL_SECURITY_TLS) {
        rc = start_tls(s);
        if (rc != 0) {
            disconnect(s);
            return rc;
        }
    }
    rc = run(s, NULL, NULL);
    if (rc == UAVMAIL_ETIMEOUT && s->security == UAVMAIL_SECURITY_STARTTLS &&
        s->port == 465)
        uavmail__err_hint(&s->err, "port 465 expects implicit TLS: use security \"tls\"");
    if (rc != 0)
        disconnect(s);
    return rc;
}

static int prepare_results(uavmail_session *s, const uavmail_message *m)
{
    size_t i;
    free_results(s);
    s->results = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->results);
    s->res_addr = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->res_addr);
    if (s->results == NULL || s->res_addr == NULL)
        return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
    s->nresults = m->nrcpt;
    for (i = 0; i < m->nrcpt; i++) {
        s->res_addr[i] = uavmail__strdup(&s->alloc, m->rcpt[i].addr);
        if (s->res_addr[i] == NULL)
            return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
    }
    return 0;
}

/* One transaction of @p m to the @p n recipients @p rcpt, results in @p res.
 * @p final pipelines QUIT behind it.  Returns the transaction's result. */
static int transaction(uavmail_session *s, uavmail_message *m, const char *const *rcpt,
                       uavmail__rcpt_result *res, size_t n, int final)
{
    uavmail__mime_reader *r = NULL;
    uavmail__envelope env;
    int rc, result = 0, eight = uavmail__smtp_has_cap(&s->engine, UAVMAIL__CAP_8BITMIME);
    rc = uavmail__mime_reader_new(&r, m, eight ? UAVMAIL__MIME_8BIT : 0);
    memset(&env, 0, sizeof env);
    /* The exact size (RFC 1870 SIZE=, and BDAT when CHUNKING is offered):
     * the same reader then renders exactly these bytes. */
    if (rc == 0) {
        rc = uavmail__mime_measure(r, &env.size);
        env.size_exact = rc == 0;
        if (rc == UAVMAIL_ESTATE) { /* a callback of unknown size: no SIZE, no BDAT */
            uavmail__mime_reader_free(r);
            env.size = 0;
            rc = uavmail__mime_reader_new(&r, m, eight ? UAVMAIL__MIME_8BIT : 0);
        }
    }
    if (rc != 0) {
        uavmail__mime_reader_free(r);
        uavmail__err_copy(&s->err, &m->err);
        return rc;
    }
    if (uavmail__mime_is_8bit(r) && !eight && m->prepared != NULL) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&s->err, UAVMAIL_EPERMFAIL,
                                "the prepared message contains 8-bit data, but the server does "
                                "not offer 8BITMIME (D-06)");
    }
    env.from = m->from.addr;
    env.rcpt = rcpt;
    env.nrcpt = n;
    env.body_8bit = uavmail__mime_is_8bit(r);
    env.smtputf8 = uavmail__message_needs_utf8(m);
    env.quit_after = final;
    env.dsn_notify = m->dsn_notify;
    env.dsn_ret = m->dsn_ret;
    env.dsn_envid = m->dsn_envid;
    s->body_off = s->body_len = 0;
    rc = uavmail__smtp_submit(&s->engine, &env, res);
    if (rc == 0)
        rc = run(s, r, m);
    uavmail__mime_reader_free(r);
    if (uavmail__smtp_tx_done(&s->engine, &result) && (rc == 0 || rc == result))
        rc = result;
    return rc;
}

/* 452 (and 552) to RCPT means "too many recipients for now": the others
 * go in a new transaction (RFC 5321 4.5.3.1.10, P-10). */
static int is_too_many(int code)
{
    return code == 452 || code == 552;
}

static int send_message(uavmail_session *s, uavmail_message *m, int final)
{
    const char **pending = NULL;
    uavmail__rcpt_result *res = NULL;
    size_t *map = NULL, i, n;
    int rc, again;
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&s->err);
    rc = uavmail_message_check(m);
    if (rc != 0) {
        uavmail__err_copy(&s->err, &m->err);
        return rc;
    }
    rc = prepare_results(s, m);
    if (rc != 0)
        return rc;
    if (!s->connected) {
        rc = connect_session(s);
        if (rc != 0)
            return rc;
    }
    rc = transaction(s, m, (const char *const *)s->res_addr, s->results, s->nresults, final);
    /* Recipients deferred with 452 get further transactions while the
     * previous one made progress. */
    for (again = 0; again < 100 && rc == UAVMAIL_ERECIPIENTS &&
                    uavmail__smtp_want(&s->engine) == UAVMAIL__SMTP_IDLE;
         again++) {
        size_t accepted = 0;
        n = 0;
        for (i = 0; i < s->nresults; i++) {
            if (is_too_many(s->results[i].code))
                n++;
            else if (s->results[i].code / 100 == 2)
                accepted++;
        }
        if (n == 0 || accepted == 0)
            break;
        pending = uavmail__calloc(&s->alloc, n, sizeof *pending);
        res = uavmail__calloc(&s->alloc, n, sizeof *res);
        map = uavmail__calloc(&s->alloc, n, sizeof *map);
        if (pending == NULL || res == NULL || map == NULL) {
            rc = uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
            break;
        }
        for (i = 0, n = 0; i < s->nresults; i++)
            if (is_too_many(s->results[i].code)) {
                map[n] = i;
                pending[n++] = s->res_addr[i];
            }
        rc = transaction(s, m, pending, res, n, final);
        for (i = 0; i < n; i++)
            if (res[i].code != 0)
                s->results[map[i]] = res[i];
        uavmail__free(&s->alloc, pending);
        uavmail__free(&s->alloc, res);
        uavmail__free(&s->alloc, map);
        pending = NULL;
        res = NULL;
        map = NULL;
        if (rc == 0 || rc == UAVMAIL_ERECIPIENTS) {
            /* Recompute over all recipients. */
            rc = 0;
            for (i = 0; i < s->nresults; i++)
                if (s->results[i].code / 100 != 2) {
                    rc = UAVMAIL_ERECIPIENTS;
                    break;
                }
        }
    }
    uavmail__free(&s->alloc, pending);
    uavmail__free(&s->alloc, res);
    uavmail__free(&s->alloc, map);
    if (final || uavmail__smtp_want(&s->engine) == UAVMAIL__SMTP_FAILED) {
        if (final && uavmail__smtp_want(&s->engine) == UAVMAIL__SMTP_IDLE)
            (void)uavmail_session_quit(s);
        else if (uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE)
            disconnect(s);
    }
    return rc;
}

int uavmail_session_send(uavmail_session *s, uavmail_message *m)
{
    return send_message(s, m, 0);
}

int uavmail_session_send_final(uavmail_session *s, uavmail_message *m)
{
    return send_message(s, m, 1);
}

int uavmail_session_quit(uavmail_session *s)
{
    int rc = 0;
    if (s == NULL)
        return UAVMAIL_EINVAL;
    if (!s->connected)
        return 0;
    if (uavmail__smtp_want(&s->engine) == UAVMAIL__SMTP_IDLE) {
        uavmail__smtp_quit(&s->engine);
        rc = run(s, NULL, NULL);
    }
    disconnect(s);
    return rc;
}

size_t uavmail_session_recipient_count(const uavmail_session *s)
{
    return s ? s->nresults : 0;
}

int uavmail_session_recipient(const uavmail_session *s, size_t index, const char **address,
                              int *smtp_code, const char **reply)
{
    if (s == NULL || index >= s->nresults)
        return UAVMAIL_EINVAL;
    if (address != NULL)
        *address = s->res_addr[index];
    if (smtp_code != NULL)
        *smtp_code = s->results[index].code;
    if (reply != NULL)
        *reply = s->results[index].text;
    return 0;
}
