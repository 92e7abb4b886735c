/*
 * "Test connection": walk through what a send needs -- name resolution, TCP
 * connect, greeting, TLS mode, certificate, capabilities, AUTH mechanisms,
 * an optional login -- and end with one verdict and a fix, as text for a
 * person and as JSON for a ground station's settings dialog.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "platform.h"
#include "sasl.h"
#include "session_int.h"

#define TEXT_MAX 8192
#define JSON_MAX 12288

struct uavmail_probe_report {
    uavmail__alloc alloc;
    int verdict;
    char text[TEXT_MAX];
    char json[JSON_MAX];
};

/* Bounded appenders (a report never outgrows its buffers; it is cut). */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap)
        n = b->cap - b->len - 1;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_fmt(sbuf *b, const char *fmt, ...) UAVMAIL__PRINTF(2, 3);
static void sb_fmt(sbuf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        sb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string (RFC 8259 escapes). */
static void sb_json(sbuf *b, const char *s)
{
    sb_str(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[3] = {'\\', (char)c, 0};
            sb_str(b, e);
        } else if (c < 0x20) {
            sb_fmt(b, "\\u%04x", c);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_str(b, "\"");
}

static void json_kv(sbuf *b, const char *key, const char *value, int comma)
{
    sb_fmt(b, "%s\"%s\": ", comma ? ", " : "", key);
    sb_json(b, value);
}

/* Everything learnt along the way. */
typedef struct findings {
    const char *host;
    unsigned port;
    int security;
    char addresses[256];
    int resolved, connected;
    int step_error;         /* the error of the probing session */
    uavmail_error_detail err;
    char greeting[256];
    char caps[1024];        /* the last EHLO reply, one keyword per line */
    int ehlo_domain;        /* the next 250 line is the EHLO reply's domain */
    char trace[4096];
    unsigned mechs;
    uint64_t size_limit;
    uavmail__tls_report tls;
    int login_tried, login_ok;
    int mode_mismatch;      /* 1: plain SMTP on a TLS setting; 2: TLS on a STARTTLS setting */
} findings;

static void on_trace(int dir, const char *line, size_t len, void *ud)
{
    findings *f = ud;
    size_t n = strlen(f->trace);
    if (dir == UAVMAIL_TRACE_INFO && len >= 12 && memcmp(line, "connected to", 12) == 0)
        f->connected = 1;
    if (dir == UAVMAIL_TRACE_CLIENT && len >= 4 && memcmp(line, "EHLO", 4) == 0) {
        f->caps[0] = '\0'; /* only the last EHLO's answer counts (after TLS) */
        f->ehlo_domain = 1;
    }
    if (dir == UAVMAIL_TRACE_SERVER && len > 4 && memcmp(line, "220", 3) == 0 &&
        f->greeting[0] == '\0')
        uavmail__snprintf(f->greeting, sizeof f->greeting, "%.*s", (int)len, line);
    if (dir == UAVMAIL_TRACE_SERVER && len > 4 && memcmp(line, "250", 3) == 0 &&
        !f->ehlo_domain) {
        size_t c = strlen(f->caps);
        uavmail__snprintf(f->caps + c, sizeof f->caps - c, "%.*s\n", (int)(len - 4), line + 4);
    }
    if (dir == UAVMAIL_TRACE_SERVER && len >= 3 && memcmp(line, "250", 3) == 0)
        f->ehlo_domain = 0;
    uavmail__snprintf(f->trace + n, sizeof f->trace - n, "%c: %.*s\n", "CS*"[dir % 3], (int)len,
                      line);
}

/* One connection attempt with the given security and short waits. */
static int attempt(findings *f, const uavmail_session_options *base, int security, int login)
{
    uavmail_session_options o = *base;
    uavmail_session *s;
    int rc;
    o.version = UAVMAIL_SESSION_OPTIONS_VERSION;
    o.security = security;
    o.port = f->port;
    o.trace_cb = on_trace;
    o.trace_user_data = f;
    o.tls_session_file = NULL;
    if (!login)
        o.username = NULL;
    if (o.connect_timeout_ms == 0)
        o.connect_timeout_ms = 10000;
    if (o.timeout_greeting_ms == 0)
        o.timeout_greeting_ms =
            o.command_timeout_ms && o.command_timeout_ms < 8000 ? o.command_timeout_ms : 8000;
    if (o.command_timeout_ms == 0)
        o.command_timeout_ms = 20000;
    rc = uavmail_session_new(&s, &o);
    if (rc != 0)
        return rc;
    rc = uavmail__session_connect_and_quit(s);
    uavmail__err_copy(&f->err, uavmail__session_err(s));
    f->tls = *uavmail__session_tls_report(s);
    {
        const uavmail__smtp *e = uavmail__session_engine(s);
        f->mechs = e->auth_mechs;
        f->size_limit = e->size_limit;
    }
    uavmail_session_free(s);
    return rc;
}

static void mech_list(unsigned mechs, char *out, size_t cap, int json)
{
    static const unsigned all[] = {UAVMAIL__MECH_PLAIN, UAVMAIL__MECH_LOGIN,
                                   UAVMAIL__MECH_XOAUTH2, UAVMAIL__MECH_OAUTHBEARER};
    size_t i, n = 0;
    out[0] = '\0';
    for (i = 0; i < UAVMAIL__ARRAY_LEN(all); i++)
        if (mechs & all[i])
            n += (size_t)uavmail__snprintf(out + n, cap - n, json ? "%s\"%s\"" : "%s%s",
                                           n ? (json ? ", " : " ") : "",
                                           uavmail__sasl_mech_name(all[i]));
}

/* The verdict: one sentence and a fix. */
static void verdict(const findings *f, const char **what, char *msg, size_t cap, char *fix,
                    size_t fcap)
{
    int rc = f->step_error;
    const char *sec = f->security == UAVMAIL_SECURITY_TLS ? "tls" : "starttls";
    fix[0] = '\0';
    if (rc == 0) {
        *what = "ok";
        uavmail__snprintf(msg, cap, "ready to send: %s on port %u works%s", sec, f->port,
                          f->login_ok ? ", and the login was accepted" : "");
        return;
    }
    if (f->mode_mismatch == 1) {
        *what = "use_starttls";
        uavmail__snprintf(msg, cap, "port %u speaks plain SMTP (it greets before any TLS)",
                          f->port);
        uavmail__snprintf(fix, fcap, "this port speaks plain SMTP: use security starttls (or "
                                     "port 465 with tls)");
        return;
    }
    if (f->mode_mismatch == 2) {
        *what = "use_tls";
        uavmail__snprintf(msg, cap, "port %u expects implicit TLS (it says nothing until a TLS "
                                    "handshake)",
                          f->port);
        uavmail__snprintf(fix, fcap, "port %u expects implicit TLS: use security tls", f->port);
        return;
    }
    switch (rc) {
    case UAVMAIL_ERESOLVE: *what = "dns"; break;
    case UAVMAIL_ECONNECT: *what = "connection_refused"; break;
    case UAVMAIL_ETIMEOUT: *what = f->connected ? "timeout" : "port_blocked"; break;
    case UAVMAIL_ECERT: *what = "certificate"; break;
    case UAVMAIL_ECONFIG: *what = "configuration"; break;
    case UAVMAIL_ENOTLS: *what = "no_tls"; break;
    case UAVMAIL_EAUTH: *what = "login_refused"; break;
    case UAVMAIL_ENOAUTH: *what = "no_usable_auth"; break;
    default: *what = "error"; break;
    }
    uavmail__snprintf(msg, cap, "%s", uavmail_error_message(&f->err));
    if (rc == UAVMAIL_ETIMEOUT && !f->connected)
        uavmail__snprintf(fix, fcap, "port %u blocked by a firewall or the mobile provider? try "
                                     "587 (starttls) or 465 (tls)",
                          f->port);
    else if (rc == UAVMAIL_ECONNECT)
        uavmail__snprintf(fix, fcap, "nothing accepts connections on port %u: check the port "
                                     "(submission is 587 with starttls, 465 with tls)",
                          f->port);
    else
        uavmail__strlcpy(fix, uavmail_error_hint(&f->err), fcap);
}

static void render(uavmail_probe_report *r, const findings *f)
{
    sbuf t = {r->text, sizeof r->text, 0}, j = {r->json, sizeof r->json, 0};
    char msg[600], fix[400], mechs[128], mechs_json[160];
    const char *what, *sec = f->security == UAVMAIL_SECURITY_TLS ? "tls" : "starttls";
    const uavmail__tls_report *tl = &f->tls;
    const char *p;
    int first = 1;

    verdict(f, &what, msg, sizeof msg, fix, sizeof fix);
    mech_list(f->mechs, mechs, sizeof mechs, 0);
    mech_list(f->mechs, mechs_json, sizeof mechs_json, 1);
    r->text[0] = r->json[0] = '\0';

    sb_fmt(&t, "Server:       %s port %u, security %s\n", f->host, f->port, sec);
    sb_fmt(&t, "DNS:          %s\n", f->resolved ? f->addresses : "could not resolve the name");
    sb_fmt(&t, "TCP:          %s\n", f->connected ? "connected" : "no connection");
    if (f->greeting[0])
        sb_fmt(&t, "Greeting:     %s\n", f->greeting);
    if (tl->subject[0] || tl->handshake_done) {
        sb_fmt(&t, "TLS:          %s%s%s\n", tl->handshake_done ? tl->version : "handshake failed",
               tl->handshake_done ? ", " : "", tl->ciphersuite);
        sb_fmt(&t, "Certificate:  %s (issuer %s), valid %s .. %s, names %s: %s\n", tl->subject,
               tl->issuer, tl->not_before, tl->not_after, tl->names[0] ? tl->names : "-",
               tl->verified ? "verified" : tl->resumed ? "resumed session" : "NOT accepted");
    }
    if (f->caps[0]) {
        sb_str(&t, "Capabilities: ");
        for (p = f->caps; *p; p++)
            sb_put(&t, *p == '\n' ? (p[1] ? ", " : "") : p, *p == '\n' ? (p[1] ? 2 : 0) : 1);
        sb_str(&t, "\n");
        sb_fmt(&t, "AUTH:         %s\n", mechs[0] ? mechs : "none usable by this library");
        if (f->size_limit)
            sb_fmt(&t, "SIZE:         %llu bytes\n", (unsigned long long)f->size_limit);
    }
    if (f->login_tried)
        sb_fmt(&t, "Login:        %s\n",
               f->login_ok                         ? "accepted"
               : f->step_error == UAVMAIL_EAUTH ? "refused"
                                                 : "not reached");
    sb_fmt(&t, "Verdict:      %s\n", msg);
    if (fix[0])
        sb_fmt(&t, "Fix:          %s\n", fix);

    sb_str(&j, "{");
    json_kv(&j, "host", f->host, 0);
    sb_fmt(&j, ", \"port\": %u", f->port);
    json_kv(&j, "security", sec, 1);
    sb_fmt(&j, ", \"dns\": {\"ok\": %s, \"addresses\": [", f->resolved ? "true" : "false");
    for (p = f->addresses; *p;) {
        const char *comma = strchr(p, ',');
        char ip[64];
        uavmail__snprintf(ip, sizeof ip, "%.*s", (int)(comma ? comma - p : (long)strlen(p)), p);
        if (p != f->addresses)
            sb_str(&j, ", ");
        sb_json(&j, ip);
        p = comma ? comma + 2 : p + strlen(p);
    }
    sb_fmt(&j, "]}, \"tcp\": {\"ok\": %s}", f->connected ? "true" : "false");
    json_kv(&j, "greeting", f->greeting, 1);
    sb_fmt(&j, ", \"tls\": {\"handshake\": %s, \"verified\": %s, \"resumed\": %s",
           tl->handshake_done ? "true" : "false", tl->verified ? "true" : "false",
           tl->resumed ? "true" : "false");
    json_kv(&j, "version", tl->version, 1);
    json_kv(&j, "ciphersuite", tl->ciphersuite, 1);
    sb_str(&j, ", \"certificate\": {");
    json_kv(&j, "subject", tl->subject, 0);
    json_kv(&j, "issuer", tl->issuer, 1);
    json_kv(&j, "not_before", tl->not_before, 1);
    json_kv(&j, "not_after", tl->not_after, 1);
    json_kv(&j, "names", tl->names, 1);
    sb_str(&j, "}}, \"capabilities\": [");
    for (p = f->caps; *p;) {
        const char *nl = strchr(p, '\n');
        char kw[128];
        uavmail__snprintf(kw, sizeof kw, "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
        if (!first)
            sb_str(&j, ", ");
        sb_json(&j, kw);
        first = 0;
        p = nl ? nl + 1 : p + strlen(p);
    }
    sb_fmt(&j, "], \"auth_mechanisms\": [%s], \"size_limit\": %llu", mechs_json,
           (unsigned long long)f->size_limit);
    sb_fmt(&j, ", \"login\": {\"attempted\": %s, \"ok\": %s}", f->login_tried ? "true" : "false",
           f->login_ok ? "true" : "false");
    sb_fmt(&j, ", \"verdict\": {\"ok\": %s", f->step_error == 0 ? "true" : "false");
    json_kv(&j, "code", what, 1);
    json_kv(&j, "message", msg, 1);
    json_kv(&j, "fix", fix, 1);
    sb_fmt(&j, ", \"smtp_code\": %d", f->err.smtp_code);
    json_kv(&j, "enhanced_code", f->err.enhanced, 1);
    sb_str(&j, "}}");
}

/* After a TLS failure on a "tls" setting: does the port greet in plaintext? */
static int greets_in_plaintext(const findings *f, const uavmail_transport *tr)
{
    void *conn = NULL;
    unsigned char buf[64];
    long n;
    if (tr->connect_fn(&conn, f->host, f->port, 10000, tr->user_data) != 0)
        return 0;
    n = tr->recv_fn(conn, buf, sizeof buf, 5000, tr->user_data);
    tr->close_fn(conn, tr->user_data);
    return n >= 4 && memcmp(buf, "220", 3) == 0;
}

int uavmail_probe(uavmail_probe_report **out, const uavmail_session_options *opts, int try_login)
{
    uavmail_probe_report *r;
    uavmail__alloc a;
    findings *f;
    uavmail_session_options o;
    const uavmail_transport *tr;
    int rc;
    if (out == NULL || opts == NULL || opts->version < 3 || opts->host == NULL)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (uavmail__alloc_init(&a, opts->allocator) != 0)
        return UAVMAIL_EINVAL;
    r = uavmail__calloc(&a, 1, sizeof *r);
    f = uavmail__calloc(&a, 1, sizeof *f);
    if (r == NULL || f == NULL) {
        uavmail__free(&a, r);
        uavmail__free(&a, f);
        return UAVMAIL_ENOMEM;
    }
    r->alloc = a;
    o = *opts;
    f->host = opts->host;
    f->security = opts->security == UAVMAIL_SECURITY_AUTO
                      ? (opts->port == 465 ? UAVMAIL_SECURITY_TLS : UAVMAIL_SECURITY_STARTTLS)
                      : opts->security;
    f->port = opts->port ? opts->port : f->security == UAVMAIL_SECURITY_TLS ? 465 : 587;
    tr = opts->transport ? opts->transport : uavmail__plat_tcp_transport();

    f->resolved = opts->transport != NULL ||
                  uavmail__plat_resolve(f->host, f->port, f->addresses, sizeof f->addresses) > 0;
    f->login_tried = try_login && opts->username != NULL;
    rc = f->resolved ? attempt(f, &o, f->security, f->login_tried) : UAVMAIL_ERESOLVE;
    if (rc == UAVMAIL_ERESOLVE)
        uavmail__err_set(&f->err, rc, "cannot resolve host name \"%s\"", f->host);
    /* A TLS / plaintext mix-up shows as a failed handshake or a silent port. */
    if (rc == UAVMAIL_ETLS && f->security == UAVMAIL_SECURITY_TLS && greets_in_plaintext(f, tr)) {
        f->mode_mismatch = 1;
    } else if (rc == UAVMAIL_ETIMEOUT && f->connected && f->greeting[0] == '\0' &&
               f->security != UAVMAIL_SECURITY_TLS) {
        findings g = *f;
        g.trace[0] = '\0';
        if (attempt(&g, &o, UAVMAIL_SECURITY_TLS, 0) != UAVMAIL_ETLS &&
            g.tls.subject[0] != '\0')
            f->mode_mismatch = 2;
    }
    f->step_error = f->mode_mismatch ? UAVMAIL_ECONFIG : rc;
    f->login_ok = f->login_tried && rc == 0;
    r->verdict = f->step_error;
    render(r, f);
    uavmail__free(&a, f);
    *out = r;
    return 0;
}

void uavmail_probe_free(uavmail_probe_report *r)
{
    if (r != NULL) {
        uavmail__alloc a = r->alloc;
        uavmail__free(&a, r);
    }
}

int uavmail_probe_verdict(const uavmail_probe_report *r)
{
    return r ? r->verdict : UAVMAIL_EINVAL;
}

const char *uavmail_probe_text(const uavmail_probe_report *r)
{
    return r ? r->text : "";
}

const char *uavmail_probe_json(const uavmail_probe_report *r)
{
    return r ? r->json : "{}";
}
