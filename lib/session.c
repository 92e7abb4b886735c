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

/* One message of the operation in progress (a send is a batch of one). */
typedef struct send_slot {
    uavmail_message *msg;
    int state;                /* SL_* */
    int result;               /* UAVMAIL_EAGAIN until known */
    unsigned tx_rounds;       /* transactions after the first (452 retries) */
    int env_ready;            /* reader and env made for the next transaction */
    uavmail__mime_reader *reader;
    uavmail__envelope env;
    uavmail__rcpt_result *results; /* per recipient, in the message's order */
    char **res_addr;
    size_t nresults;
    const char **pend_addr;   /* recipients of the next/current transaction */
    uavmail__rcpt_result *pend_res;
    size_t *pend_map;         /* their index in results */
    size_t npend;
    uavmail_error_detail err; /* this message's failure */
} send_slot;

enum { SL_WAIT, SL_QUEUED, SL_DONE };

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

    /* The messages of the last send or batch, kept for their results. */
    send_slot *slots;
    size_t nslots;
    int *user_results;        /* the batch caller's array, or NULL */

    /* The operation in progress (blocking or stepped). */
    int op;                   /* OP_* */
    int phase;                /* PH_* */
    int nb;                   /* non-blocking: transport calls never wait */
    send_slot *writer;        /* the message whose body is being pushed */
    size_t queued;            /* transactions submitted and not yet collected */
    int batch;                /* the operation sends: 1 one message, 2 a batch */
    int final;
    int result;
    size_t write_len;         /* bytes offered to a write that said EAGAIN */
    uint64_t wait_since;      /* non-blocking: when the current wait began */
    uint64_t idle_since;      /* when the last operation on the kept connection ended */
    unsigned wait_limit;

    uavmail__tls_report tls_report; /* the last handshake, kept after disconnect */

    uavmail__smtp engine;
    char inbuf[INBUF_SIZE];
    char *body;               /* BODYBUF_SIZE bytes, made when a server without
                                 CHUNKING first needs them (DATA) */
    size_t body_off, body_len;
};

enum { OP_NONE, OP_SEND, OP_QUIT };
enum { PH_CONNECT, PH_TLS, PH_SMTP };

static void end_operation(uavmail_session *s);
static int run_blocking(uavmail_session *s, int op, uavmail_message *const *msgs, size_t n,
                        int *results, int final);

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
#if !UAVMAIL_WITH_OAUTH2
    if (o->version >= 3 && o->token_cb != NULL)
        return uavmail__err_set(err, UAVMAIL_EINVAL,
                                "OAuth2 tokens are not compiled in (UAVMAIL_WITH_OAUTH2)");
#endif
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

static void free_slot(uavmail_session *s, send_slot *sl)
{
    size_t i;
    uavmail__mime_reader_free(sl->reader);
    sl->reader = NULL;
    sl->env_ready = 0;
    for (i = 0; i < sl->nresults && sl->res_addr != NULL; i++)
        uavmail__free(&s->alloc, sl->res_addr[i]);
    uavmail__free(&s->alloc, sl->res_addr);
    uavmail__free(&s->alloc, sl->results);
    uavmail__free(&s->alloc, sl->pend_addr);
    uavmail__free(&s->alloc, sl->pend_res);
    uavmail__free(&s->alloc, sl->pend_map);
}

static void free_results(uavmail_session *s)
{
    size_t i;
    for (i = 0; i < s->nslots; i++)
        free_slot(s, &s->slots[i]);
    uavmail__free(&s->alloc, s->slots);
    s->slots = NULL;
    s->nslots = 0;
    s->user_results = NULL;
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
    uavmail__free(&s->alloc, s->body);
    uavmail__smtp_release(&s->engine);
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
    send_slot *w = s->writer;
    char *direct = uavmail__smtp_body_space(&s->engine, &cap);
    if (direct != NULL) {
        /* BDAT: the MIME writer renders straight into the output buffer. */
        long n = cap ? uavmail__mime_read(w->reader, direct, cap) : 0;
        if (n < 0) {
            uavmail__err_copy(&s->err, &w->msg->err);
            return (int)n;
        }
        if (n == 0)
            uavmail__smtp_body_end(&s->engine); /* fails if short of the size */
        else
            uavmail__smtp_body_commit(&s->engine, (size_t)n);
        return 0;
    }
    if (s->body == NULL && (s->body = uavmail__malloc(&s->alloc, BODYBUF_SIZE)) == NULL)
        return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory for the message body");
    if (s->body_off == s->body_len) {
        long n = w->reader ? uavmail__mime_read(w->reader, s->body, BODYBUF_SIZE) : 0;
        if (n < 0) {
            uavmail__err_copy(&s->err, &w->msg->err);
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

static int want_submit(uavmail_session *s);
static int partial_delivery(send_slot *sl, const uavmail_error_detail *failure);

/* Run the engine until it is idle or closed (0), must wait (UAVMAIL_EAGAIN),
 * wants TLS (0 with the phase switched), has a finished transaction to
 * collect or can take the next message behind the previous one (0), or
 * failed (an error). */
static int step_smtp(uavmail_session *s, int *want)
{
    for (;;) {
        long rc = 0;
        int w = uavmail__smtp_want(&s->engine);
        if (s->op == OP_SEND && w == UAVMAIL__SMTP_WANT_READ &&
            (uavmail__smtp_in_flight(&s->engine) < s->queued || want_submit(s)))
            return 0; /* next_action collects or submits before we wait */
        switch (w) {
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

/* ---- operations: send messages, quit ------------------------------------------------ */

/* The per-recipient arrays of one message. */
static int prepare_slot(uavmail_session *s, send_slot *sl, uavmail_message *m)
{
    size_t i;
    sl->msg = m;
    sl->result = UAVMAIL_EAGAIN;
    sl->results = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *sl->results);
    sl->res_addr = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *sl->res_addr);
    sl->pend_addr = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *sl->pend_addr);
    sl->pend_res = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *sl->pend_res);
    sl->pend_map = uavmail__calloc(&s->alloc, m->nrcpt, sizeof *sl->pend_map);
    if (sl->results == NULL || sl->res_addr == NULL || sl->pend_addr == NULL ||
        sl->pend_res == NULL || sl->pend_map == NULL)
        return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
    sl->nresults = m->nrcpt;
    for (i = 0; i < m->nrcpt; i++) {
        sl->res_addr[i] = uavmail__strdup(&s->alloc, m->rcpt[i].addr);
        if (sl->res_addr[i] == NULL)
            return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
        sl->pend_addr[i] = sl->res_addr[i];
        sl->pend_map[i] = i;
    }
    sl->npend = m->nrcpt;
    return 0;
}

/* A message's outcome is final: record it where the caller sees it. */
static void slot_done(uavmail_session *s, send_slot *sl, int result)
{
    uavmail__mime_reader_free(sl->reader);
    sl->reader = NULL;
    sl->env_ready = 0;
    sl->state = SL_DONE;
    sl->result = result;
    if (result == 0)
        uavmail__err_clear(&sl->err);
    else if (sl->err.code != result)
        sl->err.code = result;
    if (s->user_results != NULL)
        s->user_results[sl - s->slots] = result;
}

/* Render the envelope of the next transaction of @p sl (once). */
static int prepare_env(uavmail_session *s, send_slot *sl)
{
    uavmail_message *m = sl->msg;
    uavmail__envelope *env = &sl->env;
    int rc, eight = uavmail__smtp_has_cap(&s->engine, UAVMAIL__CAP_8BITMIME);
    unsigned flags = eight ? UAVMAIL__MIME_8BIT : 0;
    size_t i;
    if (sl->env_ready)
        return 0;
    uavmail__mime_reader_free(sl->reader);
    rc = uavmail__mime_reader_new(&sl->reader, m, flags);
    memset(env, 0, sizeof *env);
    /* The exact size (RFC 1870 SIZE=, and BDAT when CHUNKING is offered):
     * the same reader then renders exactly these bytes. */
    if (rc == 0) {
        rc = uavmail__mime_measure(sl->reader, &env->size);
        env->size_exact = rc == 0;
        if (rc == UAVMAIL_ESTATE) { /* a callback of unknown size: no SIZE, no BDAT */
            uavmail__mime_reader_free(sl->reader);
            env->size = 0;
            rc = uavmail__mime_reader_new(&sl->reader, m, flags);
        }
    }
    if (rc != 0) {
        uavmail__err_copy(&s->err, &m->err);
        return rc;
    }
    if (uavmail__mime_is_8bit(sl->reader) && !eight && m->prepared != NULL)
        return uavmail__err_set(&s->err, UAVMAIL_EPERMFAIL,
                                "the prepared message contains 8-bit data, but the server does "
                                "not offer 8BITMIME (D-06)");
    env->from = m->from.addr;
    env->rcpt = (const char *const *)sl->pend_addr;
    env->nrcpt = sl->npend;
    env->body_8bit = uavmail__mime_is_8bit(sl->reader);
    env->smtputf8 = uavmail__message_needs_utf8(m);
    env->dsn_notify = m->dsn_notify;
    env->dsn_ret = m->dsn_ret;
    env->dsn_envid = m->dsn_envid;
    for (i = 0; i < sl->npend; i++)
        memset(&sl->pend_res[i], 0, sizeof sl->pend_res[i]);
    sl->env_ready = 1;
    return 0;
}

/* The first message still to go (in order), or NULL. */
static send_slot *next_waiting(uavmail_session *s)
{
    size_t i;
    for (i = 0; i < s->nslots; i++)
        if (s->slots[i].state == SL_WAIT)
            return &s->slots[i];
    return NULL;
}

/* Start a transaction for @p sl's pending recipients: with the engine
 * idle, or pipelined behind the previous message.  A failure here is this
 * message's alone (its envelope or content); the connection goes on. */
static int start_transaction(uavmail_session *s, send_slot *sl)
{
    size_t i;
    int rc = prepare_env(s, sl);
    if (rc == 0) {
        /* QUIT goes behind the last message when this is the final batch. */
        sl->env.quit_after = s->final;
        for (i = (size_t)(sl - s->slots) + 1; i < s->nslots; i++)
            if (s->slots[i].state == SL_WAIT)
                sl->env.quit_after = 0;
        s->body_off = s->body_len = 0;
        rc = uavmail__smtp_submit_tx(&s->engine, &sl->env, sl->pend_res, &sl->err, sl);
    }
    if (rc != 0) {
        uavmail__err_copy(&sl->err, &s->err);
        /* a later round that never went out: the first reached some recipients (P-10) */
        slot_done(s, sl, sl->tx_rounds > 0 ? partial_delivery(sl, &sl->err) : rc);
        return rc;
    }
    sl->state = SL_QUEUED;
    s->writer = sl;
    s->queued++;
    return 0;
}

/* The next message can be submitted now behind those in flight. */
static int want_submit(uavmail_session *s)
{
    send_slot *sl = next_waiting(s);
    if (sl == NULL || !uavmail__smtp_in_flight(&s->engine))
        return 0;
    if (prepare_env(s, sl) != 0)
        return 1; /* next_action records the failure */
    return uavmail__smtp_can_pipeline(&s->engine, &sl->env);
}

/* 452 (and 552) to RCPT means "too many recipients for now": the others
 * go in a new transaction while the last one made progress (P-10). */
static int is_too_many(int code)
{
    return code == 452 || code == 552;
}

static int overall_result(const send_slot *sl, int result)
{
    size_t i;
    if (result != UAVMAIL_ERECIPIENTS || sl->tx_rounds == 0)
        return result;
    for (i = 0; i < sl->nresults; i++)
        if (sl->results[i].code / 100 != 2)
            return UAVMAIL_ERECIPIENTS;
    return 0;
}

/* A message whose first transaction was delivered to some recipients ended before the ones
 * deferred with 452 got it (the retry failed, or never went out): it is a partial delivery,
 * UAVMAIL_ERECIPIENTS, never a failure of the whole message, so that nobody sends it again
 * to the recipients who have it.  The retry's recipients whose RCPT was accepted carry the
 * failure (@p why: its SMTP code, or 0 when not known) instead of that 2xx; the others keep
 * their 452. */
static int partial_delivery(send_slot *sl, const uavmail_error_detail *failure)
{
    uavmail_error_detail copy, *why = &copy; /* @p failure may be sl->err itself */
    size_t i, got = 0;
    uavmail__err_copy(why, failure);
    for (i = 0; i < sl->npend; i++) {
        uavmail__rcpt_result *r = &sl->results[sl->pend_map[i]];
        if (r->code / 100 != 2)
            continue;
        r->code = why->smtp_code;
        uavmail__strlcpy(r->enhanced, why->enhanced, sizeof r->enhanced);
        uavmail__strlcpy(r->text, why->reply[0] != '\0' ? why->reply : why->message,
                         sizeof r->text);
    }
    for (i = 0; i < sl->nresults; i++)
        got += sl->results[i].code / 100 == 2;
    uavmail__err_set(&sl->err, UAVMAIL_ERECIPIENTS,
                     "delivered to %zu of %zu recipients; the server deferred the others (452) "
                     "and the transaction for them failed: %.200s",
                     got, sl->nresults, why->message);
    return UAVMAIL_ERECIPIENTS;
}

/* Collect a finished transaction of @p sl: the message is done, or waits
 * for another transaction for the recipients deferred with 452. */
static void finish_transaction(uavmail_session *s, send_slot *sl, int result)
{
    size_t i, n = 0, accepted = 0;
    uavmail__mime_reader_free(sl->reader);
    sl->reader = NULL;
    sl->env_ready = 0;
    if (s->writer == sl)
        s->writer = NULL;
    for (i = 0; i < sl->npend; i++)
        if (sl->pend_res[i].code != 0)
            sl->results[sl->pend_map[i]] = sl->pend_res[i];
    if (result == UAVMAIL_ERECIPIENTS && sl->tx_rounds < 100 &&
        uavmail__smtp_can_continue(&s->engine)) {
        for (i = 0; i < sl->npend; i++)
            if (sl->pend_res[i].code / 100 == 2)
                accepted++;
        for (i = 0; i < sl->nresults; i++)
            if (is_too_many(sl->results[i].code)) {
                sl->pend_map[n] = i;
                sl->pend_addr[n++] = sl->res_addr[i];
            }
        if (n > 0 && accepted > 0) {
            sl->npend = n;
            sl->tx_rounds++;
            sl->state = SL_WAIT;
            return;
        }
    }
    if (sl->tx_rounds > 0 && result != 0 && result != UAVMAIL_ERECIPIENTS)
        result = partial_delivery(sl, &sl->err);
    slot_done(s, sl, overall_result(sl, result));
}

/* Take every transaction the engine finished, in order. */
static void collect_done(uavmail_session *s)
{
    void *tag;
    int result;
    while (uavmail__smtp_collect(&s->engine, &tag, &result)) {
        s->queued--;
        finish_transaction(s, tag, result);
    }
}

/* The connection ended with @p rc: messages not yet sent were not
 * delivered; they get the connection's error. */
static void fail_waiting(uavmail_session *s, int rc)
{
    send_slot *sl;
    int unsent = rc;
    collect_done(s);
    if (s->batch == 2) { /* a single send's error is its own message's */
        switch (rc) {
        case UAVMAIL_EUNKNOWN: case UAVMAIL_ETOOBIG: case UAVMAIL_ECALLBACK: case UAVMAIL_EFILE:
        case UAVMAIL_EPERMFAIL: case UAVMAIL_ETEMPFAIL: case UAVMAIL_ERECIPIENTS:
        case UAVMAIL_EHEADER: case UAVMAIL_EENCODING: case UAVMAIL_EADDRESS: case UAVMAIL_EINVAL:
            /* about one message (or "maybe delivered"): one never sent was just not sent */
            unsent = UAVMAIL_EIO;
            break;
        default:
            break;
        }
    }
    while ((sl = next_waiting(s)) != NULL) {
        if (sl->tx_rounds > 0) {
            slot_done(s, sl, partial_delivery(sl, &s->err));
            continue;
        }
        if (unsent != rc) {
            uavmail__err_set(&sl->err, unsent,
                             "not sent: the connection ended after another message failed "
                             "(%.300s)",
                             s->err.message);
        } else {
            uavmail__err_copy(&sl->err, &s->err);
            sl->err.code = rc;
        }
        if (s->nslots > 1)
            uavmail__err_hint(&sl->err, "this message was not sent; it can be sent again");
        slot_done(s, sl, unsent);
    }
}

/* The result of the whole operation: 0, or the first message's failure
 * (whose detail then becomes the session's last error). */
static int batch_result(uavmail_session *s)
{
    size_t i;
    for (i = 0; i < s->nslots; i++)
        if (s->slots[i].result != 0) {
            if (s->nslots > 1 || s->err.code != s->slots[i].result)
                uavmail__err_copy(&s->err, &s->slots[i].err);
            return s->slots[i].result;
        }
    return 0;
}

static void end_operation(uavmail_session *s)
{
    size_t i;
    for (i = 0; i < s->nslots; i++) {
        uavmail__mime_reader_free(s->slots[i].reader);
        s->slots[i].reader = NULL;
        s->slots[i].env_ready = 0;
        if (s->slots[i].state != SL_DONE && s->op == OP_SEND)
            slot_done(s, &s->slots[i], UAVMAIL_ESTATE); /* abandoned */
    }
    if (s->op != OP_NONE)
        s->idle_since = uavmail__plat_now_ms();
    s->writer = NULL;
    s->queued = 0;
    s->op = OP_NONE;
    s->nb = 0;
}

/* The engine is idle or closed, has a finished transaction, or can take
 * the next message: what does the operation do next?
 * Returns 1 to keep driving, or the operation's final result. */
static int next_action(uavmail_session *s)
{
    int w;
    collect_done(s);
    w = uavmail__smtp_want(&s->engine);
    if (s->op == OP_SEND) {
        send_slot *sl = next_waiting(s);
        if (sl != NULL && (w == UAVMAIL__SMTP_IDLE || want_submit(s))) {
            (void)start_transaction(s, sl); /* a failure is this message's alone */
            return 1;
        }
        if ((sl != NULL || s->queued > 0) && w != UAVMAIL__SMTP_CLOSED)
            return 1; /* replies outstanding */
        /* Closed early: QUIT went out before a 452 retry became due. */
        fail_waiting(s, UAVMAIL_ECLOSED);
        s->result = batch_result(s);
        if (!s->final || w != UAVMAIL__SMTP_IDLE) {
            if (w != UAVMAIL__SMTP_IDLE)
                disconnect(s);
            return s->result;
        }
        s->op = OP_QUIT; /* final, but QUIT could not be pipelined */
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
#if UAVMAIL_WITH_OAUTH2
    const uavmail__smtp *e = &s->engine;
    if (s->token_refreshed || s->op != OP_SEND || !(uavmail__smtp_mech(e) & UAVMAIL__MECH_TOKEN))
        return 0;
    if (e->oauth_status[0] != '\0')
        return strcmp(e->oauth_status, "401") == 0;
    return s->err.smtp_code == 535 || strcmp(s->err.enhanced, "5.7.8") == 0;
#else
    (void)s;
    return 0; /* no tokens without OAuth2 */
#endif
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
            if (s->batch) {
                /* Every message in flight was settled by the engine; those
                 * not sent yet get this error. */
                fail_waiting(s, rc);
                rc = batch_result(s);
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

/* Check every message (bad input fails before any connection) and make
 * its slot.  Returns 0 when at least one message can go. */
static int begin_send(uavmail_session *s, uavmail_message *const *msgs, size_t n, int *results)
{
    size_t i, ok = 0;
    free_results(s);
    s->slots = uavmail__calloc(&s->alloc, n, sizeof *s->slots);
    if (s->slots == NULL) {
        for (i = 0; results != NULL && i < n; i++)
            results[i] = UAVMAIL_ENOMEM;
        return uavmail__err_set(&s->err, UAVMAIL_ENOMEM, "out of memory");
    }
    s->nslots = n;
    s->user_results = results;
    for (i = 0; i < n; i++) {
        send_slot *sl = &s->slots[i];
        uavmail_message *m = msgs[i];
        int rc;
        sl->result = UAVMAIL_EAGAIN;
        if (results != NULL)
            results[i] = UAVMAIL_EAGAIN;
        if (m == NULL) {
            uavmail__err_set(&sl->err, UAVMAIL_EINVAL, "message %zu of the batch is NULL", i);
            slot_done(s, sl, UAVMAIL_EINVAL);
            continue;
        }
        if (s->time_cb != NULL && !m->frozen && m->from.addr != NULL) {
            int64_t now = s->time_cb(s->time_user_data);
            if (now >= 0)
                uavmail__message_freeze_at(m, now); /* Date from the application's clock */
        }
        rc = uavmail_message_check(m);
        if (rc != 0) {
            uavmail__err_copy(&sl->err, &m->err);
        } else {
            rc = prepare_slot(s, sl, m);
            if (rc != 0)
                uavmail__err_copy(&sl->err, &s->err);
        }
        if (rc != 0) {
            slot_done(s, sl, rc);
            continue;
        }
        ok++;
    }
    return ok > 0 ? 0 : batch_result(s);
}

/* A kept connection may have been ended by the server while we were idle: Postfix says
 * "421 4.4.2 ... timeout exceeded" after smtpd_timeout (5 minutes) and hangs up, others just
 * close.  Look without waiting: anything that arrived (that 421, the end of the stream, an
 * error) means the connection is gone, and as nothing of the new operation went out on it, a
 * fresh one is made instead; the application never sees a failure for it.  One idle too long
 * is not reused at all (opts.h); a link that died silently sooner (no FIN from behind a NAT)
 * is only found by the operation itself. */
/* The kept connection has been idle longer than servers keep one (opts.h). */
static int idle_too_long(const uavmail_session *s)
{
    return uavmail__plat_now_ms() - s->idle_since >= UAVMAIL_SESSION_IDLE_MAX_MS;
}

static void check_kept_connection(uavmail_session *s)
{
    int want = 0;
    long n;
    if (s->connected && idle_too_long(s)) {
        /* the server has (or a NAT on the way may have) given up on it */
        info(s, "the connection was idle for longer than servers keep one; connecting again");
        disconnect(s);
        return;
    }
    /* Only where timeout 0 means "do not wait": the built-in transport, and any in non-blocking
     * use (transport.h).  A blocking custom transport may take 0 as "no timeout" (SO_RCVTIMEO,
     * lwIP's netconn_set_recvtimeout) and would never return on a healthy connection. */
    if (!s->connected || uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE ||
        (!s->nb && s->transport.recv_fn != uavmail__plat_tcp_transport()->recv_fn))
        return;
    n = io_recv(s, s->inbuf, sizeof s->inbuf, 0, &want);
    if (n == UAVMAIL_ETIMEOUT || n == UAVMAIL_EAGAIN)
        return; /* nothing arrived: still there */
    if (n > 0)
        (void)uavmail__smtp_feed(&s->engine, s->inbuf, (size_t)n); /* traced; 421 ends it */
    info(s, n > 0 ? "the server ended the idle connection; connecting again"
                  : "the idle connection was closed; connecting again");
    disconnect(s);
    uavmail__err_clear(&s->err);
}

static int begin(uavmail_session *s, int op, uavmail_message *const *msgs, size_t n,
                 int *results, int final, int nb)
{
    int rc;
    uavmail__err_clear(&s->err);
    if (s->op != OP_NONE)
        return uavmail__err_set(&s->err, UAVMAIL_ESTATE, "another operation is in progress");
    s->batch = 0;
    if (op == OP_SEND) {
        rc = begin_send(s, msgs, n, results);
        if (rc != 0)
            return rc;
        s->batch = results != NULL ? 2 : 1;
    }
    s->token_refreshed = 0;
    s->engine.cfg.refresh_token = 0;
    s->op = op;
    s->writer = NULL;
    s->queued = 0;
    s->final = final;
    s->nb = nb;
    s->result = 0;
    s->write_len = 0;
    s->wait_since = 0;
    if (op == OP_SEND)
        check_kept_connection(s);
    if (!s->connected)
        s->phase = PH_CONNECT;
    return 0;
}

static int run_blocking(uavmail_session *s, int op, uavmail_message *const *msgs, size_t n,
                        int *results, int final)
{
    int want = 0, rc = begin(s, op, msgs, n, results, final, 0);
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
    return run_blocking(s, OP_SEND, &m, 1, NULL, 0);
}

int uavmail_session_send_final(uavmail_session *s, uavmail_message *m)
{
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    return run_blocking(s, OP_SEND, &m, 1, NULL, 1);
}

int uavmail_session_send_batch(uavmail_session *s, uavmail_message *const *msgs, size_t count,
                               int *results, int final)
{
    if (s == NULL || msgs == NULL || results == NULL || count == 0)
        return UAVMAIL_EINVAL;
    return run_blocking(s, OP_SEND, msgs, count, results, final != 0);
}

int uavmail_session_quit(uavmail_session *s)
{
    if (s == NULL)
        return UAVMAIL_EINVAL;
    if (!s->connected || s->op != OP_NONE)
        return 0;
    if (uavmail__smtp_want(&s->engine) != UAVMAIL__SMTP_IDLE || idle_too_long(s)) {
        /* nobody left to answer QUIT: just close */
        disconnect(s);
        return 0;
    }
    return run_blocking(s, OP_QUIT, NULL, 0, NULL, 0);
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
    return run_blocking(s, OP_QUIT, NULL, 0, NULL, 0);
}

const uavmail__smtp *uavmail__session_engine(const uavmail_session *s)
{
    return &s->engine;
}

const uavmail__tls_report *uavmail__session_tls_report(const uavmail_session *s)
{
    return &s->tls_report;
}

void uavmail__session_idle_for(uavmail_session *s, uint64_t ms)
{
    s->idle_since -= ms;
}

uavmail_error_detail *uavmail__session_err(uavmail_session *s)
{
    return &s->err;
}

int uavmail_session_start(uavmail_session *s, uavmail_message *m, int final)
{
    if (s == NULL || m == NULL)
        return UAVMAIL_EINVAL;
    return begin(s, OP_SEND, &m, 1, NULL, final != 0, 1);
}

int uavmail_session_start_batch(uavmail_session *s, uavmail_message *const *msgs, size_t count,
                                int *results, int final)
{
    if (s == NULL || msgs == NULL || results == NULL || count == 0)
        return UAVMAIL_EINVAL;
    return begin(s, OP_SEND, msgs, count, results, final != 0, 1);
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

size_t uavmail_session_batch_recipient_count(const uavmail_session *s, size_t message)
{
    return s != NULL && message < s->nslots ? s->slots[message].nresults : 0;
}

int uavmail_session_batch_recipient(const uavmail_session *s, size_t message, size_t index,
                                    const char **address, int *smtp_code, const char **reply)
{
    const send_slot *sl;
    if (s == NULL || message >= s->nslots || index >= s->slots[message].nresults)
        return UAVMAIL_EINVAL;
    sl = &s->slots[message];
    if (address != NULL)
        *address = sl->res_addr[index];
    if (smtp_code != NULL)
        *smtp_code = sl->results[index].code;
    if (reply != NULL)
        *reply = sl->results[index].text;
    return 0;
}

const uavmail_error_detail *uavmail_session_batch_error(const uavmail_session *s, size_t message)
{
    if (s == NULL || message >= s->nslots)
        return NULL;
    return &s->slots[message].err;
}

/* The single-message forms report the last message of the last send. */
size_t uavmail_session_recipient_count(const uavmail_session *s)
{
    return s != NULL && s->nslots > 0 ? uavmail_session_batch_recipient_count(s, s->nslots - 1)
                                       : 0;
}

int uavmail_session_recipient(const uavmail_session *s, size_t index, const char **address,
                              int *smtp_code, const char **reply)
{
    if (s == NULL || s->nslots == 0)
        return UAVMAIL_EINVAL;
    return uavmail_session_batch_recipient(s, s->nslots - 1, index, address, smtp_code, reply);
}
