/*
 * The blocking session driver: moves bytes between the transport (through
 * TLS when active), the SMTP engine and the MIME writer.
 */
#include <string.h>

#include "address.h"
#include "sasl.h"
#include "message_int.h"
#include "mime.h"
#include "platform.h"
#include "smtp.h"
#include "session_int.h"
#include "tls.h"

#define INBUF_SIZE UAVMAIL_SESSION_INBUF_SIZE
#define BODYBUF_SIZE UAVMAIL_SESSION_BODYBUF_SIZE

struct uavmail_session {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    char *host;
    unsigned port;
    int security;
    char *cafile, *capath, *username, *helo_name, *tls_session_file;
    char *tls_pins, *client_cert, *client_key;
    uavmail_time_cb time_cb;
    void *time_user_data;
    int token_refreshed;      /* the one token refresh of this message was used */
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

    /* The operation in progress (blocking or stepped). */
    int op;                   /* OP_* */
    int phase;                /* PH_* */
    int nb;                   /* non-blocking: transport calls never wait */
    uavmail_message *msg;
    int final;
    int result;
    int tx_active;
    unsigned tx_rounds;
    uavmail__mime_reader *reader;
    uavmail__envelope env;
    const char **pend_addr;   /* recipients of the current transaction */
    uavmail__rcpt_result *pend_res;
    size_t *pend_map;         /* their index in results */
    size_t npend;
    size_t write_len;         /* bytes offered to a write that said EAGAIN */
    uint64_t wait_since;      /* non-blocking: when the current wait began */
    unsigned wait_limit;

    uavmail__tls_report tls_report; /* the last handshake, kept after disconnect */

    uavmail__smtp engine;
    char inbuf[INBUF_SIZE];
    char body[BODYBUF_SIZE];
    size_t body_off, body_len;
};

enum { OP_NONE, OP_SEND, OP_QUIT };
enum { PH_CONNECT, PH_TLS, PH_SMTP };

static void end_operation(uavmail_session *s);
static int run_blocking(uavmail_session *s, int op, uavmail_message *m, int final);

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
    if (o->version >= 3 && o->auth_mechanism != NULL &&
        uavmail__sasl_mech_from_name(o->auth_mechanism, strlen(o->auth_mechanism)) == 0)
        return uavmail__err_set(err, UAVMAIL_EINVAL,
                                "unknown authentication mechanism \"%.40s\" (PLAIN, LOGIN, "
                                "XOAUTH2 or OAUTHBEARER)",
                                o->auth_mechanism);
    if (o->version >= 3 && (o->client_cert == NULL) != (o->client_key == NULL))
        return uavmail__err_set(err, UAVMAIL_EINVAL,
                                "a client certificate needs its key, and the other way round");
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
        if (o->password_cb == NULL && !(o->version >= 3 && o->token_cb != NULL))
            return uavmail__err_set(err, UAVMAIL_EINVAL,
                                    "a user name needs a password or token callback");
    }
    if (o->transport != NULL &&
        (o->transport->version < 1 || o->transport->version > UAVMAIL_TRANSPORT_VERSION ||
         o->transport->connect_fn == NULL ||
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
    s->transport = *uavmail__plat_tcp_transport();
    if (o->transport != NULL) {
        /* Copy only the fields of the caller's struct version. */
        s->transport = *o->transport;
        if (o->transport->version < 2)
            s->transport.fd_fn = NULL;
    }
    s->trace_cb = o->trace_cb;
    s->trace_user_data = o->trace_user_data;
    if (copy_opt(s, &s->host, o->host) || copy_opt(s, &s->cafile, o->cafile) ||
        copy_opt(s, &s->capath, o->capath) || copy_opt(s, &s->username, o->username) ||
        copy_opt(s, &s->helo_name, o->helo_name) ||
        (o->version >= 2 && copy_opt(s, &s->tls_session_file, o->tls_session_file)) ||
        (o->version >= 3 && (copy_opt(s, &s->tls_pins, o->tls_pin_sha256) ||
                             copy_opt(s, &s->client_cert, o->client_cert) ||
                             copy_opt(s, &s->client_key, o->client_key)))) {
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
    cfg.host = s->host;
    cfg.port = s->port;
    if (o->version >= 3) {
        cfg.token_cb = o->token_cb;
        cfg.token_user_data = o->token_user_data;
        cfg.trace_secrets = o->trace_auth_raw != 0;
        if (o->auth_mechanism != NULL)
            cfg.auth_allowed =
                uavmail__sasl_mech_from_name(o->auth_mechanism, strlen(o->auth_mechanism));
        s->time_cb = o->time_cb;
        s->time_user_data = o->time_user_data;
    }
    uavmail__smtp_init(&s->engine, &cfg, &s->alloc, &s->err);
    if (cfg.trace_secrets)
        info(s, "WARNING: raw AUTH tracing is on: passwords and tokens will appear in this "
                "trace (trace_auth_raw)");
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
    uavmail__free(&s->alloc, s->pend_addr);
    uavmail__free(&s->alloc, s->pend_res);
    uavmail__free(&s->alloc, s->pend_map);
    s->res_addr = NULL;
    s->results = NULL;
    s->pend_addr = NULL;
    s->pend_res = NULL;
    s->pend_map = NULL;
    s->nresults = s->npend = 0;
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
    s->phase = PH_CONNECT;
    s->write_len = 0;
}

void uavmail_session_free(uavmail_session *s)
{
    if (s == NULL)
        return;
    end_operation(s); /* an abandoned stepped operation */
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
    uavmail__free(&s->alloc, s->tls_pins);
    uavmail__free(&s->alloc, s->client_cert);
    uavmail__free(&s->alloc, s->client_key);
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

/* In non-blocking mode every transport call gets timeout 0 ("do not wait"). */
static unsigned io_timeout(const uavmail_session *s, unsigned ms)
{
    return s->nb ? 0 : ms;
}

static long bio_send(void *ctx, const unsigned char *buf, size_t len, unsigned timeout_ms)
{
    uavmail_session *s = ctx;
    return s->transport.send_fn(s->conn, buf, len, timeout_ms ? timeout_ms : 0,
                                s->transport.user_data);
}

static long bio_recv(void *ctx, unsigned char *buf, size_t len, unsigned timeout_ms)
{
    uavmail_session *s = ctx;
    return s->transport.recv_fn(s->conn, buf, len, timeout_ms, s->transport.user_data);
}

/* Bytes sent, UAVMAIL_EAGAIN (*want set), or an error. */
static long io_send(uavmail_session *s, const char *buf, size_t len, int *want)
{
    long n;
    unsigned t = io_timeout(s, UAVMAIL_TIMEOUT_BLOCK_MS);
    if (s->tls != NULL)
        return uavmail__tls_send(s->tls, (const unsigned char *)buf, len, t, want, &s->err);
    n = bio_send(s, (const unsigned char *)buf, len, t);
    if (n == UAVMAIL_ETIMEOUT && s->nb) {
        *want = UAVMAIL_WANT_WRITE;
        return UAVMAIL_EAGAIN;
    }
    if (n < 0)
        return uavmail__err_set(&s->err, n == UAVMAIL_ETIMEOUT ? UAVMAIL_ETIMEOUT : UAVMAIL_EIO,
                                "sending to %s:%u failed during %s", s->host, s->port,
                                uavmail__smtp_phase(&s->engine));
    return n;
}

/* Bytes received, 0 at end of stream, UAVMAIL_EAGAIN (*want set),
 * UAVMAIL_ETIMEOUT (blocking mode: the phase timed out) or an error. */
static long io_recv(uavmail_session *s, char *buf, size_t cap, unsigned timeout_ms, int *want)
{
    long n;
    unsigned t = io_timeout(s, timeout_ms);
    if (s->tls != NULL)
        return uavmail__tls_recv(s->tls, (unsigned char *)buf, cap, t, want, &s->err);
    n = bio_recv(s, (unsigned char *)buf, cap, t);
    if (n == UAVMAIL_ETIMEOUT && s->nb) {
        *want = UAVMAIL_WANT_READ;
        return UAVMAIL_EAGAIN;
    }
    if (n < 0 && n != UAVMAIL_ETIMEOUT)
        uavmail__err_set(&s->err, UAVMAIL_EIO, "receiving from %s:%u failed during %s",
                         s->host, s->port, uavmail__smtp_phase(&s->engine));
    return n;
}

/* Non-blocking: we are about to wait up to @p limit_ms for the peer.
 * Returns UAVMAIL_EAGAIN, or UAVMAIL_ETIMEOUT once the limit has passed. */
static int wait_for_peer(uavmail_session *s, unsigned limit_ms)
{
    uint64_t now = uavmail__plat_now_ms();
    if (s->wait_since == 0)
        s->wait_since = now;
    s->wait_limit = limit_ms;
    return now - s->wait_since >= limit_ms ? UAVMAIL_ETIMEOUT : UAVMAIL_EAGAIN;
}

static void progress(uavmail_session *s)
{
    s->wait_since = 0;
}

/* ---- connection phases ---------------------------------------------------------- */

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

static void connected(uavmail_session *s)
{
    char note[320];
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
    uavmail__smtp_reset(&s->engine);
    s->phase = s->security == UAVMAIL_SECURITY_TLS ? PH_TLS : PH_SMTP;
}

static int step_connect(uavmail_session *s, int *want)
{
    int rc = s->transport.connect_fn(&s->conn, s->host, s->port,
                                     io_timeout(s, s->connect_timeout_ms),
                                     s->transport.user_data);
    if (rc == UAVMAIL_EAGAIN && s->nb && s->conn != NULL) {
        *want = UAVMAIL_WANT_WRITE;
        if (wait_for_peer(s, s->connect_timeout_ms) == UAVMAIL_EAGAIN)
            return UAVMAIL_EAGAIN;
        rc = UAVMAIL_ETIMEOUT;
    }
    if (rc != 0) {
        if (s->conn != NULL)
            s->transport.close_fn(s->conn, s->transport.user_data);
        s->conn = NULL;
        describe_connect_error(s, rc);
        return s->err.code;
    }
    progress(s);
    connected(s);
    return 0;
}

static int step_tls(uavmail_session *s, int *want)
{
    char note[160];
    int rc;
    if (s->tls == NULL) {
        uavmail__bio bio;
        if (s->tls_cfg == NULL) {
            uavmail__tls_options to;
            to.cafile = s->cafile;
            to.capath = s->capath;
            to.session_file = s->tls_session_file;
            to.host = s->host;
            to.port = s->port;
            to.pins = s->tls_pins;
            to.client_cert = s->client_cert;
            to.client_key = s->client_key;
            to.time_cb = s->time_cb;
            to.time_user_data = s->time_user_data;
            rc = uavmail__tls_cfg_new(&s->tls_cfg, &s->alloc, &to, &s->err);
            if (rc != 0)
                return rc;
        }
        bio.send = bio_send;
        bio.recv = bio_recv;
        bio.ctx = s;
        rc = uavmail__tls_start(&s->tls, s->tls_cfg, s->host, &bio, &s->err);
        if (rc != 0)
            return rc;
    }
    rc = uavmail__tls_handshake(s->tls, io_timeout(s, UAVMAIL_TIMEOUT_GREETING_MS), want,
                                &s->err);
    if (rc != UAVMAIL_EAGAIN)
        uavmail__tls_report_get(s->tls, &s->tls_report);
    if (rc == UAVMAIL_EAGAIN) {
        if (wait_for_peer(s, UAVMAIL_TIMEOUT_GREETING_MS) == UAVMAIL_EAGAIN)
            return UAVMAIL_EAGAIN;
        return uavmail__err_set(&s->err, UAVMAIL_ETIMEOUT, "TLS handshake timed out");
    }
    if (rc != 0)
        return rc;
    progress(s);
    uavmail__snprintf(note, sizeof note, "TLS established: %s, %s, %s",
                      uavmail__tls_version(s->tls), uavmail__tls_ciphersuite(s->tls),
                      uavmail__tls_resumed(s->tls) ? "resumed session (verified earlier)"
                                                   : "certificate verified");
    info(s, note);
    if (uavmail__smtp_want(&s->engine) == UAVMAIL__SMTP_WANT_TLS)
        uavmail__smtp_tls_started(&s->engine);
    s->phase = PH_SMTP;
    return 0;
}

/* Feed the engine with message bytes while it wants them. */
static int push_body(uavmail_session *s)
{
    size_t cap;
    char *direct = uavmail__smtp_body_space(&s->engine, &cap);
    if (direct != NULL) {
        /* BDAT: the MIME writer renders straight into the output buffer. */
        long n = cap ? uavmail__mime_read(s->reader, direct, cap) : 0;
        if (n < 0) {
            uavmail__err_copy(&s->err, &s->msg->err);
            return (int)n;
        }
        if (n == 0)
            uavmail__smtp_body_end(&s->engine); /* fails if short of the size */
        else
            uavmail__smtp_body_commit(&s->engine, (size_t)n);
        return 0;
    }
    if (s->body_off == s->body_len) {
        long n = s->reader ? uavmail__mime_read(s->reader, s->body, sizeof s->body) : 0;
        if (n < 0) {
            uavmail__err_copy(&s->err, &s->msg->err);
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

/* Run the engine until it is idle or closed (0), must wait (UAVMAIL_EAGAIN),
 * wants TLS (0 with the phase switched), or failed (an error). */
static int step_smtp(uavmail_session *s, int *want)
{
    for (;;) {
        long rc = 0;
        switch (uavmail__smtp_want(&s->engine)) {
        case UAVMAIL__SMTP_WANT_WRITE: {
            size_t len;
            const char *out = uavmail__smtp_output(&s->engine, &len);
            /* After EAGAIN, TLS needs the same bytes offered again. */
            if (s->write_len != 0 && s->write_len <= len)
                len = s->write_len;
            rc = io_send(s, out, len, want);
            if (rc == UAVMAIL_EAGAIN) {
                s->write_len = len;
                if (wait_for_peer(s, uavmail__smtp_timeout_ms(&s->engine)) == UAVMAIL_EAGAIN)
                    return UAVMAIL_EAGAIN;
                rc = uavmail__smtp_timed_out(&s->engine);
                break;
            }
            if (rc > 0) {
                s->write_len = 0;
                progress(s);
                uavmail__smtp_consume(&s->engine, (size_t)rc);
                rc = 0;
            } else if (rc == 0) {
                rc = uavmail__err_set(&s->err, UAVMAIL_EIO, "connection lost while sending");
            }
            break;
        }
        case UAVMAIL__SMTP_WANT_READ: {
            unsigned limit = uavmail__smtp_timeout_ms(&s->engine);
            long n = io_recv(s, s->inbuf, sizeof s->inbuf, limit, want);
            if (n == UAVMAIL_EAGAIN) {
                if (wait_for_peer(s, limit) == UAVMAIL_EAGAIN)
                    return UAVMAIL_EAGAIN;
                n = UAVMAIL_ETIMEOUT;
            }
            if (n == UAVMAIL_ETIMEOUT)
                rc = uavmail__smtp_timed_out(&s->engine);
            else if (n == 0)
                rc = uavmail__smtp_eof(&s->engine);
            else if (n < 0)
                rc = n;
            else {
                progress(s);
                rc = uavmail__smtp_feed(&s->engine, s->inbuf, (size_t)n);
            }
            break;
        }
        case UAVMAIL__SMTP_WANT_TLS:
            s->phase = PH_TLS;
            return 0;
        case UAVMAIL__SMTP_WANT_BODY:
            rc = push_body(s);
            break;
        case UAVMAIL__SMTP_IDLE:
        case UAVMAIL__SMTP_CLOSED:
            return 0;
        default:
            return s->err.code ? s->err.code : UAVMAIL_EINTERNAL;
        }
        if (rc != 0) {
            uavmail__smtp_abort(&s->engine);
            return s->err.code ? s->err.code : (int)rc;
        }
    }
}

/* ---- operations: send a message, quit ------------------------------------------------ */

static int prepare_results(uavmail_session *s, const uavmail_message *m)
{
    size_t i;
    free_results(s);
    s->results = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->results);
    s->res_addr = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->res_addr);
    s->pend_addr = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->pend_addr);
    s->pend_res = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->pend_res);
    s->pend_map = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *s->pend_map);
    if (s->results == NULL || s->res_addr == NULL || s->pend_addr == NULL ||
        s->pend_res == NULL || s->pend_map == NULL)
        return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
    s->nresults = m->nrcpt;
    for (i = 0; i < m->nrcpt; i++) {
        s->res_addr[i] = uavmail__strdup(&s->alloc, m->rcpt[i].addr);
        if (s->res_addr[i] == NULL)
            return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
        s->pend_addr[i] = s->res_addr[i];
        s->pend_map[i] = i;
    }
    s->npend = m->nrcpt;
    return 0;
}

/* Start one transaction for the pending recipients. */
static int start_transaction(uavmail_session *s)
{
    uavmail_message *m = s->msg;
    uavmail__envelope *env = &s->env;
    int rc, eight = uavmail__smtp_has_cap(&s->engine, UAVMAIL__CAP_8BITMIME);
    unsigned flags = eight ? UAVMAIL__MIME_8BIT : 0;
    size_t i;
    rc = uavmail__mime_reader_new(&s->reader, m, flags);
    memset(env, 0, sizeof *env);
    /* The exact size (RFC 1870 SIZE=, and BDAT when CHUNKING is offered):
     * the same reader then renders exactly these bytes. */
    if (rc == 0) {
        rc = uavmail__mime_measure(s->reader, &env->size);
        env->size_exact = rc == 0;
        if (rc == UAVMAIL_ESTATE) { /* a callback of unknown size: no SIZE, no BDAT */
            uavmail__mime_reader_free(s->reader);
            env->size = 0;
            rc = uavmail__mime_reader_new(&s->reader, m, flags);
        }
    }
    if (rc != 0) {
        uavmail__err_copy(&s->err, &m->err);
        return rc;
    }
    if (uavmail__mime_is_8bit(s->reader) && !eight && m->prepared != NULL)
        return uavmail__err_set(&s->err, UAVMAIL_EPERMFAIL,
                                "the prepared message contains 8-bit data, but the server does "
                                "not offer 8BITMIME (D-06)");
    env->from = m->from.addr;
    env->rcpt = (const char *const *)s->pend_addr;
    env->nrcpt = s->npend;
    env->body_8bit = uavmail__mime_is_8bit(s->reader);
    env->smtputf8 = uavmail__message_needs_utf8(m);
    env->quit_after = s->final;
    env->dsn_notify = m->dsn_notify;
    env->dsn_ret = m->dsn_ret;
    env->dsn_envid = m->dsn_envid;
    for (i = 0; i < s->npend; i++)
        memset(&s->pend_res[i], 0, sizeof s->pend_res[i]);
    s->body_off = s->body_len = 0;
    rc = uavmail__smtp_submit(&s->engine, env, s->pend_res);
    if (rc == 0)
        s->tx_active = 1;
    return rc;
}

/* 452 (and 552) to RCPT means "too many recipients for now": the others
 * go in a new transaction while the last one made progress (P-10). */
static int is_too_many(int code)
{
    return code == 452 || code == 552;
}

/* Collect a finished transaction; returns 1 if another one is needed. */
static int finish_transaction(uavmail_session *s, int result)
{
    size_t i, n = 0, accepted = 0;
    uavmail__mime_reader_free(s->reader);
    s->reader = NULL;
    s->tx_active = 0;
    for (i = 0; i < s->npend; i++)
        if (s->pend_res[i].code != 0)
            s->results[s->pend_map[i]] = s->pend_res[i];
    s->result = result;
    if (result != UAVMAIL_ERECIPIENTS || s->tx_rounds++ >= 100 ||
        uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE)
        return 0;
    for (i = 0; i < s->npend; i++)
        if (s->pend_res[i].code / 100 == 2)
            accepted++;
    for (i = 0; i < s->nresults; i++)
        if (is_too_many(s->results[i].code)) {
            s->pend_map[n] = i;
            s->pend_addr[n++] = s->res_addr[i];
        }
    s->npend = n;
    return n > 0 && accepted > 0;
}

static int overall_result(uavmail_session *s)
{
    size_t i;
    if (s->result != UAVMAIL_ERECIPIENTS || s->tx_rounds == 0)
        return s->result;
    for (i = 0; i < s->nresults; i++)
        if (s->results[i].code / 100 != 2)
            return UAVMAIL_ERECIPIENTS;
    return 0;
}

static void end_operation(uavmail_session *s)
{
    uavmail__mime_reader_free(s->reader);
    s->reader = NULL;
    s->tx_active = 0;
    s->op = OP_NONE;
    s->msg = NULL;
    s->nb = 0;
}

/* The engine is idle or closed: what does the operation do next?
 * Returns 1 to keep driving, or the operation's final result. */
static int next_action(uavmail_session *s)
{
    int w = uavmail__smtp_want(&s->engine), result;
    if (s->op == OP_SEND && s->tx_active && uavmail__smtp_tx_done(&s->engine, &result)) {
        if (finish_transaction(s, result))
            return start_transaction(s) == 0 ? 1 : s->err.code;
        s->result = overall_result(s);
        if (!s->final || w == UAVMAIL__SMTP_CLOSED || w != UAVMAIL__SMTP_IDLE) {
            if (w != UAVMAIL__SMTP_IDLE)
                disconnect(s);
            return s->result;
        }
        s->op = OP_QUIT; /* final, but QUIT could not be pipelined */
    }
    if (s->op == OP_SEND && !s->tx_active) {
        int rc = start_transaction(s);
        return rc == 0 ? 1 : rc;
    }
    if (w == UAVMAIL__SMTP_CLOSED) {
        disconnect(s);
        return s->result;
    }
    uavmail__smtp_quit(&s->engine);
    return 1;
}

/* A token mechanism failed in a way a fresh token can fix: status 401
 * (or no status and 535 / 5.7.8); never 400 and never twice. */
static int token_expired(const uavmail_session *s)
{
    const uavmail__smtp *e = &s->engine;
    if (s->token_refreshed || s->op != OP_SEND || !(uavmail__smtp_mech(e) & UAVMAIL__MECH_TOKEN))
        return 0;
    if (e->oauth_status[0] != '\0')
        return strcmp(e->oauth_status, "401") == 0;
    return s->err.smtp_code == 535 || strcmp(s->err.enhanced, "5.7.8") == 0;
}

/* Drive the current operation: its result, or UAVMAIL_EAGAIN (*want set). */
static int drive(uavmail_session *s, int *want)
{
    for (;;) {
        int rc, smtp = s->phase == PH_SMTP;
        switch (s->phase) {
        case PH_CONNECT: rc = step_connect(s, want); break;
        case PH_TLS: rc = step_tls(s, want); break;
        default: rc = step_smtp(s, want); break;
        }
        if (rc == UAVMAIL_EAGAIN)
            return rc;
        if (rc == UAVMAIL_EAUTH && token_expired(s)) {
            /* one refresh through the application, on a new connection. */
            s->token_refreshed = 1;
            info(s, "OAuth2 token refused; asking for a fresh one and reconnecting");
            disconnect(s);
            s->engine.cfg.refresh_token = 1;
            continue;
        }
        if (rc != 0) {
            if (rc == UAVMAIL_ETIMEOUT && s->security == UAVMAIL_SECURITY_STARTTLS &&
                s->port == 465 && !uavmail__smtp_has_cap(&s->engine, 0xffffffffu))
                uavmail__err_hint(&s->err, "port 465 expects implicit TLS: use security \"tls\"");
            if (s->tx_active) {
                int result;
                if (uavmail__smtp_tx_done(&s->engine, &result))
                    finish_transaction(s, result);
            }
            if (uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE || !s->connected)
                disconnect(s);
            return rc;
        }
        if (!smtp || s->phase != PH_SMTP)
            continue; /* connected, TLS done, or TLS wanted: keep going */
        rc = next_action(s); /* the engine is idle or closed */
        if (rc != 1)
            return rc;
    }
}

static int begin(uavmail_session *s, int op, uavmail_message *m, int final, int nb)
{
    int rc;
    uavmail__err_clear(&s->err);
    if (s->op != OP_NONE)
        return uavmail__err_set(&s->err, UAVMAIL_ESTATE, "another operation is in progress");
    if (op == OP_SEND) {
        if (s->time_cb != NULL && !m->frozen && m->from.addr != NULL) {
            int64_t now = s->time_cb(s->time_user_data);
            if (now >= 0)
                uavmail__message_freeze_at(m, now); /* Date from the application's clock */
        }
        rc = uavmail_message_check(m);
        if (rc != 0) {
            uavmail__err_copy(&s->err, &m->err);
            return rc;
        }
        rc = prepare_results(s, m);
        if (rc != 0)
            return rc;
    }
    s->token_refreshed = 0;
    s->engine.cfg.refresh_token = 0;
    s->op = op;
    s->msg = m;
    s->final = final;
    s->nb = nb;
    s->result = 0;
    s->tx_rounds = 0;
    s->write_len = 0;
    s->wait_since = 0;
    if (!s->connected)
        s->phase = PH_CONNECT;
    return 0;
}

static int run_blocking(uavmail_session *s, int op, uavmail_message *m, int final)
{
    int want = 0, rc = begin(s, op, m, final, 0);
    if (rc != 0)
        return rc;
    do
        rc = drive(s, &want);
    while (rc == UAVMAIL_EAGAIN); /* only a custom transport says so here */
    end_operation(s);
    return rc;
}

int uavmail_session_send(uavmail_session *s, uavmail_message *m)
{
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    return run_blocking(s, OP_SEND, m, 0);
}

int uavmail_session_send_final(uavmail_session *s, uavmail_message *m)
{
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    return run_blocking(s, OP_SEND, m, 1);
}

int uavmail_session_quit(uavmail_session *s)
{
    if (s == NULL)
        return UAVMAIL_EINVAL;
    if (!s->connected || s->op != OP_NONE)
        return 0;
    if (uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE) {
        disconnect(s);
        return 0;
    }
    return run_blocking(s, OP_QUIT, NULL, 0);
}

int uavmail_session_is_secure(const uavmail_session *s)
{
    return s != NULL && s->tls != NULL && s->tls_report.handshake_done;
}

const char *uavmail_session_tls_version(const uavmail_session *s)
{
    return uavmail_session_is_secure(s) ? s->tls_report.version : "";
}

const char *uavmail_session_tls_ciphersuite(const uavmail_session *s)
{
    return uavmail_session_is_secure(s) ? s->tls_report.ciphersuite : "";
}

int uavmail__session_connect_and_quit(uavmail_session *s)
{
    if (s->connected)
        disconnect(s);
    memset(&s->tls_report, 0, sizeof s->tls_report);
    return run_blocking(s, OP_QUIT, NULL, 0);
}

const uavmail__smtp *uavmail__session_engine(const uavmail_session *s)
{
    return &s->engine;
}

const uavmail__tls_report *uavmail__session_tls_report(const uavmail_session *s)
{
    return &s->tls_report;
}

uavmail_error_detail *uavmail__session_err(uavmail_session *s)
{
    return &s->err;
}

int uavmail_session_start(uavmail_session *s, uavmail_message *m, int final)
{
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    return begin(s, OP_SEND, m, final != 0, 1);
}

int uavmail_session_step(uavmail_session *s, int *want)
{
    int rc, w = 0;
    if (s == NULL)
        return UAVMAIL_EINVAL;
    if (s->op == OP_NONE)
        return uavmail__err_set(&s->err, UAVMAIL_ESTATE, "no operation in progress");
    rc = drive(s, &w);
    if (want != NULL)
        *want = w;
    if (rc != UAVMAIL_EAGAIN)
        end_operation(s);
    return rc;
}

int uavmail_session_fd(const uavmail_session *s)
{
    if (s == NULL || s->conn == NULL || s->transport.fd_fn == NULL)
        return -1;
    return s->transport.fd_fn(s->conn, s->transport.user_data);
}

unsigned uavmail_session_timeout_ms(const uavmail_session *s)
{
    uint64_t now, end;
    if (s == NULL || s->wait_since == 0)
        return 0;
    now = uavmail__plat_now_ms();
    end = s->wait_since + s->wait_limit;
    return now >= end ? 0 : (unsigned)(end - now);
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
