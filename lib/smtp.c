/*
 * SMTP client engine (RFC 5321, 3207, 4954, 2920, 1870, 6152, 2034).
 * Sans I/O: see smtp.h for the driver contract.
 */
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "sasl.h"
#include "smtp.h"

enum {
    S_GREETING,
    S_EHLO,
    S_HELO,
    S_STARTTLS,
    S_TLS_HANDSHAKE,
    S_AUTH,
    S_IDLE,
    S_TX,      /* MAIL / RCPT / DATA replies outstanding */
    S_BODY,    /* driver pushes the message */
    S_DOT,     /* waiting for the reply to the end of data */
    S_QUIT,
    S_CLOSED,
    S_FAILED
};

static const char *const phase_names[] = {
    "greeting", "EHLO", "HELO", "STARTTLS", "TLS handshake", "AUTH", "idle",
    "MAIL/RCPT/DATA", "message body", "end of data", "QUIT", "closed", "failed",
};

/* ---- helpers ------------------------------------------------------------ */

#if UAVMAIL_WITH_TRACE
static void trace(uavmail__smtp *e, int dir, const char *s, size_t n)
{
    if (e->cfg.trace_cb != NULL)
        e->cfg.trace_cb(dir, s, n, e->cfg.trace_user_data);
}

static void trace_str(uavmail__smtp *e, int dir, const char *s)
{
    trace(e, dir, s, strlen(s));
}
#else
#define trace(e, dir, s, n) ((void)(s), (void)(n))
#define trace_str(e, dir, s) ((void)(s))
#endif

static size_t out_room(const uavmail__smtp *e)
{
    return sizeof e->out - e->out_len;
}

/* Room for message bytes: the buffer is filled up to one TLS record
 * (UAVMAIL_RECORD_SIZE), which then goes out in one write; the rest of the
 * buffer keeps room for the commands pipelined behind the message. */
static size_t body_room(const uavmail__smtp *e)
{
    return e->out_len < UAVMAIL_RECORD_SIZE ? UAVMAIL_RECORD_SIZE - e->out_len : 0;
}

/* Append one command line (CRLF added).  @p shown is what the trace shows
 * (NULL: the line itself).  Returns 0, or -1 if it does not fit now. */
static int put_line(uavmail__smtp *e, const char *line, size_t n, const char *shown)
{
    if (n + 2 > out_room(e))
        return -1;
    memcpy(e->out + e->out_len, line, n);
    e->out_len += n;
    e->out[e->out_len++] = '\r';
    e->out[e->out_len++] = '\n';
    if (shown != NULL)
        trace_str(e, UAVMAIL_TRACE_CLIENT, shown);
    else
        trace(e, UAVMAIL_TRACE_CLIENT, line, n);
    return 0;
}

static int put_cmd(uavmail__smtp *e, const char *cmd)
{
    return put_line(e, cmd, strlen(cmd), NULL);
}

/* The session is over: fail(e, code, fmt, ...) describes why in e->err. */
static int failed(uavmail__smtp *e, int code)
{
    e->state = S_FAILED;
    return code;
}
#define fail(e, code, ...) failed((e), uavmail__err_set((e)->err, (code), __VA_ARGS__))

/* The reply's first line without an enhanced status code. */
static const char *reply_text(const uavmail__smtp *e, char *enh, size_t *skip)
{
    const uavmail__reply *r = &e->rr.reply;
    size_t k = 0;
    enh[0] = '\0';
    if (e->caps & UAVMAIL__CAP_ENHANCED)
        k = uavmail__enhanced_parse(r->text, r->len, r->code, enh);
    *skip = k;
    return r->text + k;
}

#if UAVMAIL_ERROR_TEXTS
/* Known provider replies, translated into what to do (probe and errors). */
static void provider_hint(uavmail__smtp *e, int code, const char *enh, const char *text)
{
#define HAS(s) (strcmp(enh, s) == 0 || strstr(text, s) != NULL)
    if (code == 534 && HAS("5.7.9"))
        uavmail__err_hint(e->err, "the provider requires an application-specific password for "
                                  "this account (two-factor sign-in is on): create an app "
                                  "password, or use an OAuth2 token (XOAUTH2)");
    else if (HAS("5.7.139"))
        uavmail__err_hint(e->err, "basic authentication (passwords) is disabled for this "
                                  "Microsoft 365 mailbox: use an OAuth2 token (XOAUTH2), or ask "
                                  "the administrator to enable authenticated SMTP");
    else if (code == 535 && HAS("5.7.8"))
        uavmail__err_hint(e->err, "user name or password not accepted: check both; many "
                                  "providers need an app password when two-factor sign-in is on");
    else if (code == 550 && HAS("5.4.5"))
        uavmail__err_hint(e->err, "the account's daily sending quota is used up: retry after "
                                  "it resets, or send through another account");
    else if ((code == 421 || code == 454 || code == 450 || code == 451) && HAS("4.7.0"))
        uavmail__err_hint(e->err, "the provider is rate limiting this account or address: try "
                                  "again later and send fewer messages per hour");
    else if (code == 530 && HAS("5.7.0"))
        uavmail__err_hint(e->err, "the server requires STARTTLS before this command: use "
                                  "security \"starttls\" (or \"auto\")");
#undef HAS
}
#else
#define provider_hint(e, code, enh, text) ((void)0)
#endif

/* Describe the server's reply as an error; 421 is "closing", 4xx
 * temporary, 5xx permanent unless @p code5 says otherwise.  The session
 * goes on (see fail_reply). */
static int reply_error(uavmail__smtp *e, int code5, const char *what)
{
    int c = e->rr.reply.code;
    int err = c == 421 ? UAVMAIL_ECLOSED : c / 100 == 4 ? UAVMAIL_ETEMPFAIL : code5;
    char enh[16];
    size_t skip;
    const char *t = reply_text(e, enh, &skip);
    uavmail__err_set(e->err, err, "%s: server replied %d %.300s", what, c, t);
    uavmail__err_reply(e->err, c, enh, t);
    provider_hint(e, c, enh, e->rr.reply.text);
    return err;
}

/* The same, and the session is over. */
static int fail_reply(uavmail__smtp *e, int code5, const char *what)
{
    int err = reply_error(e, code5, what);
    e->state = S_FAILED;
    return err;
}

/* ---- the transaction queue ------------------------------------------------------- */

/* The message goes as one BDAT chunk (RFC 3030); never without CHUNKING
 * compiled in, which lets the compiler drop the BDAT paths. */
#if UAVMAIL_WITH_CHUNKING
#define IS_BDAT(t) ((t)->bdat)
#else
#define IS_BDAT(t) 0
#endif

static size_t q_idx(const uavmail__smtp *e, size_t i)
{
    return (e->q_head + i) % UAVMAIL__SMTP_PIPE_MAX;
}

static uavmail__smtp_tx *q_at(uavmail__smtp *e, size_t i)
{
    return &e->txq[q_idx(e, i)];
}

/* The oldest transaction in flight: the next reply is for it (NULL: none). */
static const uavmail__smtp_tx *rd_txc(const uavmail__smtp *e)
{
    return e->q_done < e->q_len ? &e->txq[q_idx(e, e->q_done)] : NULL;
}

static uavmail__smtp_tx *rd_tx(uavmail__smtp *e)
{
    return e->q_done < e->q_len ? q_at(e, e->q_done) : NULL;
}

/* The transaction being written: the newest, while in flight. */
static const uavmail__smtp_tx *wr_txc(const uavmail__smtp *e)
{
    return e->q_done < e->q_len ? &e->txq[q_idx(e, e->q_len - 1)] : NULL;
}

static uavmail__smtp_tx *wr_tx(uavmail__smtp *e)
{
    return e->q_done < e->q_len ? q_at(e, e->q_len - 1) : NULL;
}

/* Replies still due for the transactions in flight (counted commands and
 * pipelined RSETs; not the reply to a DATA end of data). */
static size_t outstanding(const uavmail__smtp *e)
{
    size_t i, n = 0;
    for (i = e->q_done; i < e->q_len; i++) {
        const uavmail__smtp_tx *t = &e->txq[q_idx(e, i)];
        n += t->sent - t->replied + (t->rset == 2);
    }
    return n;
}

/* ---- lifecycle ---------------------------------------------------------- */

void uavmail__smtp_init(uavmail__smtp *e, const uavmail__smtp_config *cfg,
                        const uavmail__alloc *alloc, uavmail_error_detail *err)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->alloc = alloc;
    e->err = err;
    uavmail__smtp_reset(e);
}

/* SCRAM's state lives only while the exchange runs (it is not needed, and
 * takes no memory, while a message is sent). */
static void scram_end(uavmail__smtp *e)
{
#if UAVMAIL_WITH_SCRAM
    uavmail__free_secret(e->alloc, e->scram, sizeof *e->scram);
    e->scram = NULL;
#else
    (void)e;
#endif
}

void uavmail__smtp_release(uavmail__smtp *e)
{
    scram_end(e);
}

void uavmail__smtp_reset(uavmail__smtp *e)
{
    scram_end(e);
    uavmail__zeroize(e->out, sizeof e->out);
    e->out_len = 0;
    e->out_secret = 0;
    e->state = S_GREETING;
    e->tls_active = e->cfg.security == UAVMAIL__SEC_TLS;
    e->authed = 0;
    e->caps = 0;
    e->auth_mechs = 0;
    e->size_limit = 0;
    e->mech = 0;
    e->sasl_step = 0;
    e->close_error = 0;
    e->ehlo_failed = 0;
    e->q_head = e->q_len = e->q_done = 0;
    e->need_rset = 0;
    e->tx_done = 0;
    e->quit_sent = 0;
    uavmail__reply_reader_init(&e->rr, e->cfg.allow_lf_replies);
}

const char *uavmail__smtp_phase(const uavmail__smtp *e)
{
    return phase_names[e->state];
}

unsigned uavmail__smtp_mech(const uavmail__smtp *e)
{
    return e->mech;
}

int uavmail__smtp_has_cap(const uavmail__smtp *e, unsigned cap)
{
    return (e->caps & cap) != 0;
}

unsigned uavmail__smtp_timeout_ms(const uavmail__smtp *e)
{
    /* RFC 5321 4.5.3.2 per phase unless configured (P-07). */
    const uavmail__timeouts *t = &e->cfg.timeouts;
    const uavmail__smtp_tx *tx;
    size_t n;
    switch (e->state) {
    case S_GREETING: return t->greeting ? t->greeting : UAVMAIL_TIMEOUT_GREETING_MS;
    case S_TX:
        /* What is awaited: the next reply of the oldest transaction. */
        tx = rd_txc(e);
        n = tx ? tx->env->nrcpt : 0;
        if (tx == NULL || tx->replied == 0 || tx->rset == 2)
            return t->mail ? t->mail : UAVMAIL_TIMEOUT_MAIL_MS;
        if (tx->replied <= n)
            return t->rcpt ? t->rcpt : UAVMAIL_TIMEOUT_RCPT_MS;
        if (IS_BDAT(tx))
            return t->data_end ? t->data_end : UAVMAIL_TIMEOUT_DATA_END_MS;
        return t->data ? t->data : UAVMAIL_TIMEOUT_DATA_MS;
    case S_BODY: return t->block ? t->block : UAVMAIL_TIMEOUT_BLOCK_MS;
    case S_DOT: return t->data_end ? t->data_end : UAVMAIL_TIMEOUT_DATA_END_MS;
    default: return t->mail ? t->mail : UAVMAIL_TIMEOUT_MAIL_MS;
    }
}

/* ---- output ------------------------------------------------------------- */

const char *uavmail__smtp_output(const uavmail__smtp *e, size_t *len)
{
    *len = e->out_len;
    return e->out;
}

void uavmail__smtp_consume(uavmail__smtp *e, size_t n)
{
    if (n > e->out_len)
        n = e->out_len;
    memmove(e->out, e->out + n, e->out_len - n);
    e->out_len -= n;
    if (e->out_secret) {
        /* Credentials must not linger in the buffer once written. */
        uavmail__zeroize(e->out + e->out_len, sizeof e->out - e->out_len);
        if (e->out_len == 0)
            e->out_secret = 0;
    }
}

static void send_ehlo(uavmail__smtp *e)
{
    char line[300];
    uavmail__snprintf(line, sizeof line, "EHLO %s", e->cfg.helo_name);
    put_cmd(e, line);
    e->state = S_EHLO;
}

#if UAVMAIL_WITH_HELO
static void send_helo(uavmail__smtp *e)
{
    char line[300];
    uavmail__snprintf(line, sizeof line, "HELO %s", e->cfg.helo_name);
    put_cmd(e, line);
    e->state = S_HELO;
}
#endif

#if UAVMAIL_WITH_DSN
/* xtext (RFC 3461 4): "+" and "=" and anything outside '!'..'~' as +XX. */
static void xtext(char *out, size_t cap, const char *in)
{
    size_t o = 0;
    for (; *in && o + 4 < cap; in++) {
        unsigned char c = (unsigned char)*in;
        if (c < '!' || c > '~' || c == '+' || c == '=') {
            uavmail__snprintf(out + o, cap - o, "+%02X", c);
            o += 3;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}
#endif

static void mail_line(uavmail__smtp *e, const uavmail__envelope *env, char *line, size_t cap)
{
    size_t n = (size_t)uavmail__snprintf(line, cap, "MAIL FROM:<%s>", env->from);
#if UAVMAIL_WITH_SIZE
    if (env->size != 0 && (e->caps & UAVMAIL__CAP_SIZE))
        n += (size_t)uavmail__snprintf(line + n, cap - n, " SIZE=%llu",
                                       (unsigned long long)env->size);
#endif
    if (env->body_8bit && (e->caps & UAVMAIL__CAP_8BITMIME))
        n += (size_t)uavmail__snprintf(line + n, cap - n, " BODY=8BITMIME");
#if UAVMAIL_WITH_SMTPUTF8
    if (env->smtputf8)
        n += (size_t)uavmail__snprintf(line + n, cap - n, " SMTPUTF8");
#endif
#if UAVMAIL_WITH_DSN
    if (e->caps & UAVMAIL__CAP_DSN) {
        if (env->dsn_ret)
            n += (size_t)uavmail__snprintf(line + n, cap - n, " RET=%s",
                                           env->dsn_ret == 1 ? "FULL" : "HDRS");
        if (env->dsn_envid != NULL) {
            char x[200];
            xtext(x, sizeof x, env->dsn_envid);
            uavmail__snprintf(line + n, cap - n, " ENVID=%s", x);
        }
    }
#endif
}

static void rcpt_line(uavmail__smtp *e, const uavmail__envelope *env, char *line, size_t cap,
                      const char *addr)
{
    size_t n = (size_t)uavmail__snprintf(line, cap, "RCPT TO:<%s>", addr);
#if UAVMAIL_WITH_DSN
    if ((e->caps & UAVMAIL__CAP_DSN) && env->dsn_notify != 0) {
        char x[UAVMAIL_COMMAND_LINE_MAX];
        if (env->dsn_notify & UAVMAIL__DSN_NEVER)
            n += (size_t)uavmail__snprintf(line + n, cap - n, " NOTIFY=NEVER");
        else
            n += (size_t)uavmail__snprintf(
                line + n, cap - n, " NOTIFY=%s%s%s",
                (env->dsn_notify & UAVMAIL__DSN_SUCCESS) ? "SUCCESS" : "",
                (env->dsn_notify & UAVMAIL__DSN_FAILURE)
                    ? ((env->dsn_notify & UAVMAIL__DSN_SUCCESS) ? ",FAILURE" : "FAILURE")
                    : "",
                (env->dsn_notify & UAVMAIL__DSN_DELAY)
                    ? ((env->dsn_notify & (UAVMAIL__DSN_SUCCESS | UAVMAIL__DSN_FAILURE))
                           ? ",DELAY"
                           : "DELAY")
                    : "");
        xtext(x, sizeof x, addr);
        uavmail__snprintf(line + n, cap - n, " ORCPT=rfc822;%s", x);
    }
#else
    (void)e, (void)env, (void)n;
#endif
}

/* Emit the commands of the transaction being written that may go out now.
 * With PIPELINING (RFC 2920) MAIL, every RCPT and DATA (or BDAT LAST with
 * the message, RFC 3030) go in one batch -- behind the previous message's
 * chunk when it was submitted pipelined, led by an RSET (allowed anywhere
 * in a group, RFC 2920 3.1) that clears whatever that message left; without
 * PIPELINING one command at a time. */
static void emit_tx(uavmail__smtp *e)
{
    uavmail__smtp_tx *t = wr_tx(e);
    size_t n;
    int pipelining = (e->caps & UAVMAIL__CAP_PIPELINING) != 0;
    char line[2 * UAVMAIL_COMMAND_LINE_MAX];

    if (t == NULL || e->state != S_TX)
        return;
    n = t->env->nrcpt;
    if (t->rset == 1) {
        if (put_cmd(e, "RSET") < 0)
            return;
        t->rset = 2;
        if (!pipelining)
            return;
    }
    while (t->sent <= n + 1) {
        if (!pipelining && (t->replied != t->sent || t->rset == 2))
            return;
        if (t->sent == 0) {
            mail_line(e, t->env, line, sizeof line);
        } else if (t->sent <= n) {
            rcpt_line(e, t->env, line, sizeof line, t->env->rcpt[t->sent - 1]);
        } else {
            /* Without pipelining, DATA only when someone accepted (P-10). */
            if (!pipelining && t->accepted == 0)
                return;
            if (IS_BDAT(t))
                uavmail__snprintf(line, sizeof line, "BDAT %llu LAST",
                                  (unsigned long long)t->env->size);
            else
                uavmail__strlcpy(line, "DATA", sizeof line);
        }
        if (strlen(line) > UAVMAIL_COMMAND_LINE_MAX - 2) {
            /* P-11: never ask the server with an over-long command line. */
            fail(e, UAVMAIL_ETOOBIG,
                 "command line longer than %d octets (RFC 5321 4.5.3.1.4): %.60s...",
                 UAVMAIL_COMMAND_LINE_MAX, line);
            return;
        }
        if (put_cmd(e, line) < 0)
            return; /* buffer full: the rest follows once it drains */
        t->sent++;
        if (t->sent == n + 2 && IS_BDAT(t)) {
            /* The chunk follows the command at once: no 354 to wait for. */
            e->state = S_BODY;
            e->bdat_left = t->env->size;
            e->skip_lf = 0;
            e->bol = 1;
            return;
        }
    }
}

/* ---- SASL (RFC 4954) ------------------------------------------------------------ */

#define SECRET_MAX 2048 /* longest password or token accepted */
/* The longest command lines must fit the output buffer: AUTH LOGIN's
 * password line, base64 of up to SECRET_MAX bytes, and a deferred initial
 * response of up to SECRET_MAX + 512 base64 characters (initial_response);
 * and a message's record must leave room for the commands behind it. */
#define AUTH_LINE_MAX (4 * ((SECRET_MAX + 2) / 3) > SECRET_MAX + 512 ? 4 * ((SECRET_MAX + 2) / 3) \
                                                                   : SECRET_MAX + 512)
typedef char uavmail__outbuf_holds_auth[UAVMAIL_OUTBUF_SIZE >= AUTH_LINE_MAX + 2 ? 1 : -1];
typedef char uavmail__outbuf_over_record[UAVMAIL_OUTBUF_SIZE >= UAVMAIL_RECORD_SIZE + 512 ? 1
                                                                                          : -1];

#if UAVMAIL_WITH_OAUTH2
#define OAUTH_FAILING(e) ((e)->oauth_failing)
#else
#define OAUTH_FAILING(e) 0
#endif

/* Ask the application for the credential of the current mechanism. */
static int get_secret(uavmail__smtp *e, char *buf, size_t cap, size_t *len)
{
    int rc;
    *len = 0;
#if UAVMAIL_WITH_OAUTH2
    if (e->mech & UAVMAIL__MECH_TOKEN)
        rc = e->cfg.token_cb(buf, cap, len, e->cfg.refresh_token, e->cfg.token_user_data);
    else
#endif
        rc = e->cfg.password_cb(buf, cap, len, e->cfg.password_user_data);
    if (rc != 0 || *len > cap) {
        uavmail__zeroize(buf, cap);
        fail(e, UAVMAIL_ECALLBACK, "the %s callback did not supply one",
             (e->mech & UAVMAIL__MECH_TOKEN) ? "OAuth2 token" : "password");
        return -1;
    }
    return 0;
}

/* Queue a line holding a credential: redacted in the trace unless the
 * application asked for raw AUTH traces, wiped from the buffer once sent. */
static void put_secret_line(uavmail__smtp *e, const char *line, size_t n, const char *shown)
{
    /* It always fits: AUTH lines are queued in answer to a reply, when the
     * output buffer is empty (replies are read only once everything was
     * written), and the buffer holds the longest one (AUTH_LINE_MAX). */
    put_line(e, line, n, e->cfg.trace_secrets ? NULL : shown);
    e->out_secret = 1;
}

/* The initial response of the current mechanism, base64, into @p out. */
static size_t initial_response(uavmail__smtp *e, char *out, size_t cap)
{
    char *secret = out + cap / 2; /* the second half of the scratch holds the secret */
    size_t slen, n = 0;
    if (get_secret(e, secret, cap / 2, &slen) != 0)
        return 0;
    if (e->mech == UAVMAIL__MECH_PLAIN)
        n = uavmail__sasl_plain(out, cap / 2, NULL, e->cfg.username, secret, slen);
#if UAVMAIL_WITH_OAUTH2
    else if (e->mech == UAVMAIL__MECH_XOAUTH2)
        n = uavmail__sasl_xoauth2(out, cap / 2, e->cfg.username, secret, slen);
    else if (e->mech == UAVMAIL__MECH_OAUTHBEARER)
        n = uavmail__sasl_oauthbearer(out, cap / 2, e->cfg.username, e->cfg.host, e->cfg.port,
                                      secret, slen);
#endif
    uavmail__zeroize(secret, cap / 2);
    if (n == 0)
        fail(e, UAVMAIL_EINVAL, "credentials too long or containing NUL (A-07)");
    return n;
}

static void start_auth(uavmail__smtp *e)
{
    char line[UAVMAIL_COMMAND_LINE_MAX + 1], ir[2 * SECRET_MAX + 1024];
    unsigned usable = 0;
    size_t n;
    const char *name;

    if (!e->tls_active) {
        fail(e, UAVMAIL_ENOTLS, "refusing to authenticate without TLS (A-01)");
        return;
    }
    if (!(e->caps & UAVMAIL__CAP_AUTH)) {
        /* credentials configured, but the (post-TLS) EHLO has no AUTH. */
        fail(e, UAVMAIL_ENOAUTH, "server offers no AUTH, so the configured credentials "
                                 "cannot be used");
        uavmail__err_hint(e->err, "check the port (submission is 587 or 465) and that this "
                                  "server accepts logins");
        return;
    }
    if (e->cfg.password_cb != NULL)
        usable |= UAVMAIL__MECH_PASSWORD;
#if UAVMAIL_WITH_OAUTH2
    if (e->cfg.token_cb != NULL)
        usable |= UAVMAIL__MECH_TOKEN;
#endif
    if (e->cfg.auth_allowed != 0)
        usable &= e->cfg.auth_allowed;
    e->mech = uavmail__sasl_choose(e->auth_mechs, usable);
    if (e->mech == 0) {
        fail(e, UAVMAIL_ENOAUTH, "none of the server's AUTH mechanisms can be used with the "
                                 "configured credentials");
        if ((e->auth_mechs & UAVMAIL__MECH_TOKEN) && !(usable & UAVMAIL__MECH_TOKEN))
            uavmail__err_hint(e->err, "this server wants an OAuth2 token (XOAUTH2/OAUTHBEARER); "
                                      "configure a token provider");
        else if ((e->auth_mechs & UAVMAIL__MECH_PASSWORD) && !(usable & UAVMAIL__MECH_PASSWORD))
            uavmail__err_hint(e->err, "this server wants a password (PLAIN/LOGIN)");
        return;
    }
    name = uavmail__sasl_mech_name(e->mech);
    e->state = S_AUTH;
    e->sasl_step = 0;
    e->ir_deferred = 0;
#if UAVMAIL_WITH_OAUTH2
    e->oauth_failing = 0;
    e->oauth_status[0] = e->oauth_scope[0] = '\0';
#endif
    if (e->mech == UAVMAIL__MECH_LOGIN) {
        uavmail__snprintf(line, sizeof line, "AUTH %s", name);
        put_cmd(e, line);
        return;
    }
    e->sasl_why = NULL;
#if UAVMAIL_WITH_SCRAM
    if (e->mech == UAVMAIL__MECH_SCRAM_SHA256) {
        /* SCRAM's first message names the user only; the password never
         * leaves this machine, only a proof derived from it. */
        e->scram = uavmail__calloc(e->alloc, 1, sizeof *e->scram);
        if (e->scram == NULL) {
            fail(e, UAVMAIL_ENOMEM, "out of memory for SCRAM");
            return;
        }
        n = uavmail__scram_first(e->scram, e->cfg.username, ir, sizeof ir);
        if (n == 0) {
            fail(e, UAVMAIL_EINVAL, "user name too long for SCRAM");
            return;
        }
        uavmail__snprintf(line, sizeof line, "AUTH %s %.*s", name, (int)n, ir);
        put_secret_line(e, line, strlen(line), "AUTH SCRAM-SHA-256 <redacted>");
        return;
    }
#endif
    /* An initial response (RFC 4954 SASL-IR) saves a round trip when the
     * AUTH line stays within 512 octets. */
    n = initial_response(e, ir, sizeof ir);
    if (n == 0)
        return;
    if (6 + strlen(name) + n <= UAVMAIL_COMMAND_LINE_MAX - 2) {
        char shown[64];
        uavmail__snprintf(line, sizeof line, "AUTH %s %.*s", name, (int)n, ir);
#if UAVMAIL_WITH_TRACE
        uavmail__snprintf(shown, sizeof shown, "AUTH %s <redacted>", name);
#else
        shown[0] = '\0';
#endif
        put_secret_line(e, line, strlen(line), shown);
    } else {
        uavmail__snprintf(line, sizeof line, "AUTH %s", name);
        put_cmd(e, line);
        e->ir_deferred = 1;
    }
    uavmail__zeroize(ir, sizeof ir);
    uavmail__zeroize(line, sizeof line);
}

/* Answer a 334 challenge. */
static void sasl_challenge(uavmail__smtp *e)
{
    if (e->mech == UAVMAIL__MECH_LOGIN && e->sasl_step < 2) {
        /* answer the two challenges in order, whatever they say. */
        char line[2 * SECRET_MAX], secret[SECRET_MAX];
        size_t n, slen;
        if (e->sasl_step == 0) {
            n = uavmail__b64_encode(line, (const unsigned char *)e->cfg.username,
                                    strlen(e->cfg.username));
        } else {
            if (get_secret(e, secret, sizeof secret, &slen) != 0)
                return;
            n = uavmail__b64_encode(line, (const unsigned char *)secret, slen);
            uavmail__zeroize(secret, sizeof secret);
        }
        put_secret_line(e, line, n, "<redacted>");
        uavmail__zeroize(line, sizeof line);
        e->sasl_step++;
        return;
    }
#if UAVMAIL_WITH_SCRAM
    if (e->mech == UAVMAIL__MECH_SCRAM_SHA256 && e->sasl_step < 2) {
        char out[1200], secret[SECRET_MAX];
        size_t n = 0, slen;
        if (e->sasl_step == 0) { /* server-first: answer with the proof */
            if (get_secret(e, secret, sizeof secret, &slen) != 0)
                return;
            n = uavmail__scram_final(e->scram, e->rr.reply.text, e->rr.reply.len, secret, slen,
                                     out, sizeof out, &e->sasl_why);
            uavmail__zeroize(secret, sizeof secret);
        } else if (uavmail__scram_verify(e->scram, e->rr.reply.text, e->rr.reply.len) == 0) {
            n = 0; /* server-final verified: an empty response completes */
            e->sasl_why = NULL;
        } else {
            e->sasl_why = "the server could not prove it knows the password (SCRAM server "
                          "signature mismatch): not the real server?";
        }
        if (e->sasl_why != NULL) {
            put_cmd(e, "*");
            e->sasl_step = 99;
            return;
        }
        put_secret_line(e, out, n, e->sasl_step == 0 ? "<redacted>" : "");
        uavmail__zeroize(out, sizeof out);
        e->sasl_step++;
        return;
    }
#endif
#if UAVMAIL_WITH_OAUTH2
    if ((e->mech & UAVMAIL__MECH_TOKEN) && e->ir_deferred && e->sasl_step == 0) {
        char ir[2 * SECRET_MAX + 1024];
        size_t n = initial_response(e, ir, sizeof ir);
        if (n == 0)
            return;
        put_secret_line(e, ir, n, "<redacted>");
        uavmail__zeroize(ir, sizeof ir);
        e->sasl_step = 1;
        return;
    }
    if ((e->mech & UAVMAIL__MECH_TOKEN) && e->sasl_step < 2) {
        /* The error exchange: the challenge is base64 JSON with
         * the reason; answer with an empty response (XOAUTH2) or ^A
         * (OAUTHBEARER) so the server sends its final failure. */
        uavmail__sasl_oauth_error(e->rr.reply.text, e->rr.reply.len, e->oauth_status,
                                  sizeof e->oauth_status, e->oauth_scope, sizeof e->oauth_scope);
        put_line(e, e->mech == UAVMAIL__MECH_XOAUTH2 ? "" : "AQ==",
                 e->mech == UAVMAIL__MECH_XOAUTH2 ? 0 : 4, NULL);
        e->oauth_failing = 1;
        e->sasl_step = 2;
        return;
    }
#endif
    /* an unexpected challenge is cancelled and counts as failure. */
    put_cmd(e, "*");
    e->sasl_step = 99;
}

/* Authentication failed: say QUIT and end the session with the error; the
 * next attempt uses a new connection, never a weaker mechanism. */
static void auth_failed(uavmail__smtp *e)
{
    int c = e->rr.reply.code;
    int err = reply_error(e, c / 100 == 4 ? UAVMAIL_ETEMPFAIL : UAVMAIL_EAUTH,
                          e->sasl_why       ? e->sasl_why
                          : e->sasl_step == 99 ? "authentication cancelled after an unexpected "
                                                 "challenge"
                                               : "authentication failed");
#if UAVMAIL_WITH_OAUTH2 && UAVMAIL_ERROR_TEXTS
    if (e->oauth_status[0] != '\0') {
        size_t n = strlen(e->err->message);
        uavmail__snprintf(e->err->message + n, sizeof e->err->message - n,
                          " (token status %s%s%s)", e->oauth_status,
                          e->oauth_scope[0] ? ", scope " : "", e->oauth_scope);
    }
#endif
    if (e->err->hint[0] != '\0')
        ; /* a provider-specific hint already says what to do */
    else if (c / 100 == 5 && (e->mech & UAVMAIL__MECH_PASSWORD))
        uavmail__err_hint(e->err, "check the user name and password; many providers need an "
                                  "app password when two-factor sign-in is on");
    else if (c / 100 == 5)
        uavmail__err_hint(e->err, "the OAuth2 token was refused: it may have expired or lack "
                                  "the mail scope");
    e->close_error = err;
    if (put_cmd(e, "QUIT") == 0)
        e->state = S_QUIT;
    else
        e->state = S_FAILED;
}

/* After EHLO/HELO succeeded (or TLS/AUTH completed): what next? */
static void advance_setup(uavmail__smtp *e)
{
    if (e->cfg.security == UAVMAIL__SEC_STARTTLS && !e->tls_active) {
        if (!(e->caps & UAVMAIL__CAP_STARTTLS)) {
            fail(e, UAVMAIL_ENOTLS,
                 "server does not offer STARTTLS, which this connection requires");
            uavmail__err_hint(e->err, "if this is port 465 use security \"tls\" (implicit "
                                      "TLS); never send over plaintext");
            return;
        }
        put_cmd(e, "STARTTLS");
        e->state = S_STARTTLS;
        return;
    }
    if (e->cfg.username != NULL && !e->authed) {
        start_auth(e);
        return;
    }
    e->state = S_IDLE;
}

/* ---- capability parsing -------------------------------------------------- */

static void parse_auth_list(uavmail__smtp *e, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t start;
        while (i < n && s[i] == ' ')
            i++;
        start = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i > start)
            e->auth_mechs |= uavmail__sasl_mech_from_name(s + start, i - start);
    }
}

static void parse_caps(uavmail__smtp *e)
{
    const char *t = e->rr.reply.text;
    const char *end = t + e->rr.reply.len;
    const char *line = memchr(t, '\n', (size_t)(end - t));
    e->caps = 0;
    e->auth_mechs = 0;
    e->size_limit = 0;
    /* The first line is the greeting text; keywords follow one per line. */
    while (line != NULL && line < end) {
        const char *kw = line + 1;
        const char *eol = memchr(kw, '\n', (size_t)(end - kw));
        size_t n = (size_t)((eol ? eol : end) - kw), k = 0;
        while (k < n && kw[k] != ' ' && kw[k] != '=')
            k++;
#define KW(name) (k == sizeof(name) - 1 && uavmail__ascii_ncasecmp(kw, name, k) == 0)
        if (KW("PIPELINING"))
            e->caps |= UAVMAIL__CAP_PIPELINING;
#if UAVMAIL_WITH_CHUNKING
        else if (KW("CHUNKING"))
            e->caps |= UAVMAIL__CAP_CHUNKING;
#endif
        else if (KW("8BITMIME"))
            e->caps |= UAVMAIL__CAP_8BITMIME;
#if UAVMAIL_WITH_SMTPUTF8
        else if (KW("SMTPUTF8"))
            e->caps |= UAVMAIL__CAP_SMTPUTF8;
#endif
#if UAVMAIL_WITH_DSN
        else if (KW("DSN"))
            e->caps |= UAVMAIL__CAP_DSN;
#endif
        else if (KW("ENHANCEDSTATUSCODES"))
            e->caps |= UAVMAIL__CAP_ENHANCED;
        else if (KW("STARTTLS"))
            e->caps |= UAVMAIL__CAP_STARTTLS;
#if UAVMAIL_WITH_SIZE
        else if (KW("SIZE")) {
            uint64_t v = 0;
            size_t j = k + 1;
            e->caps |= UAVMAIL__CAP_SIZE;
            while (j < n && uavmail__is_digit(kw[j]) && v < UINT64_MAX / 100)
                v = v * 10 + (uint64_t)(kw[j++] - '0');
            e->size_limit = v; /* 0: no fixed limit */
        }
#endif
        else if (KW("AUTH")) {
            e->caps |= UAVMAIL__CAP_AUTH;
            if (k < n)
                parse_auth_list(e, kw + k + 1, n - k - 1);
        }
#undef KW
        line = eol;
    }
}

/* ---- reply handling ------------------------------------------------------- */

static void on_greeting(uavmail__smtp *e)
{
    int c = e->rr.reply.code;
    if (c == 220) {
        send_ehlo(e);
        return;
    }
    if (c == 421 || c / 100 == 4)
        fail_reply(e, UAVMAIL_ETEMPFAIL, "greeting");
    else if (c / 100 == 5)
        fail_reply(e, UAVMAIL_EPERMFAIL, "greeting");
    else
        fail_reply(e, UAVMAIL_EPROTOCOL, "unexpected greeting");
}

static void on_ehlo(uavmail__smtp *e)
{
    int c = e->rr.reply.code;
    if (c == 250) {
        parse_caps(e);
        advance_setup(e);
        return;
    }
    if (c == 421 || c / 100 == 4) {
        fail_reply(e, UAVMAIL_ETEMPFAIL, "EHLO");
        return;
    }
    if (c / 100 == 5 && e->cfg.security == UAVMAIL__SEC_NONE && e->cfg.username == NULL) {
        /* Only a plain relay without AUTH may fall back to HELO. */
#if UAVMAIL_WITH_HELO
        send_helo(e);
#else
        fail_reply(e, UAVMAIL_EPERMFAIL, "EHLO refused (no HELO fallback: UAVMAIL_WITH_HELO)");
#endif
        return;
    }
    if (c / 100 == 5) {
        fail_reply(e, UAVMAIL_ENOTLS, "EHLO refused, so no STARTTLS or AUTH is possible");
        return;
    }
    fail_reply(e, UAVMAIL_EPROTOCOL, "unexpected reply to EHLO");
}

#if UAVMAIL_WITH_HELO
static void on_helo(uavmail__smtp *e)
{
    if (e->rr.reply.code == 250) {
        e->caps = 0;
        e->state = S_IDLE;
        return;
    }
    fail_reply(e, UAVMAIL_EPERMFAIL, "HELO");
}
#endif

static void on_starttls(uavmail__smtp *e, int extra_bytes)
{
    int c = e->rr.reply.code;
    if (c == 220) {
        if (extra_bytes) {
            /* TLS-03: anything after the 220 came before our ClientHello and
             * could only be an injection attempt; never parse it as SMTP. */
            fail(e, UAVMAIL_EINJECTION,
                 "server sent data after its STARTTLS reply, before the TLS handshake "
                 "(possible command injection); connection aborted");
            return;
        }
        e->state = S_TLS_HANDSHAKE;
        return;
    }
    if (c == 421 || c == 454 || c / 100 == 4) {
        fail_reply(e, UAVMAIL_ETEMPFAIL, "STARTTLS not available right now");
        return;
    }
    if (c / 100 == 5) {
        fail_reply(e, UAVMAIL_ENOTLS, "server refused STARTTLS");
        return;
    }
    fail_reply(e, UAVMAIL_EPROTOCOL, "unexpected reply to STARTTLS");
}

static void on_auth(uavmail__smtp *e)
{
    int c = e->rr.reply.code;
    if (c != 334)
        scram_end(e);
#if UAVMAIL_WITH_SCRAM
    if (c == 235 && e->mech == UAVMAIL__MECH_SCRAM_SHA256 && e->sasl_step != 2) {
        /* Success without the server's proof is not accepted (RFC 5802 9). */
        e->sasl_why = "the server accepted the login without proving it knows the password "
                      "(SCRAM)";
        e->sasl_step = 99;
        auth_failed(e);
        return;
    }
#endif
    if (c == 235 && !OAUTH_FAILING(e) && e->sasl_step != 99) {
        e->authed = 1;
        e->state = S_IDLE;
        return;
    }
    if (c == 334 && e->sasl_step != 99) {
        sasl_challenge(e);
        return;
    }
    auth_failed(e);
}

static void record_rcpt(uavmail__smtp *e, uavmail__smtp_tx *t, size_t i)
{
    char enh[16];
    size_t skip;
    const char *txt = reply_text(e, enh, &skip);
    uavmail__rcpt_result *r = &t->results[i];
    r->code = e->rr.reply.code;
    uavmail__strlcpy(r->enhanced, enh, sizeof r->enhanced);
    uavmail__strlcpy(r->text, txt, sizeof r->text);
    if (r->code / 100 == 2)
        t->accepted++;
}

/* The oldest transaction in flight is finished with @p result (described
 * in e->err when non-zero). */
static void finish_tx(uavmail__smtp *e, uavmail__smtp_tx *t, int result)
{
    t->result = result;
    t->done = 1;
    if (result != 0 && t->err != NULL)
        uavmail__err_copy(t->err, e->err);
    e->q_done++;
    e->tx_result = result;
    e->tx_done = 1;
    if (e->q_done == e->q_len && e->state != S_FAILED && e->state != S_CLOSED)
        e->state = e->quit_sent ? S_QUIT : S_IDLE;
}

/* The server may still hold @p t's transaction: clear it before the next
 * MAIL.  A transaction submitted behind it already leads with RSET. */
static void rset_after(uavmail__smtp *e, const uavmail__smtp_tx *t)
{
    if (t == wr_tx(e))
        e->need_rset = 1;
}

/* The connection is over (e->err says why): settle every transaction in
 * flight, oldest first.  @p head_code is the oldest one's result and
 * @p rest_code the others'; 0 classifies by what was written: a message
 * whose chunk or end of data went out completely may have been delivered
 * (P-08), so its outcome is unknown; one still being written was not
 * delivered and gets e->err's code. */
static void settle_all(uavmail__smtp *e, int before, int head_code, int rest_code)
{
    uavmail__smtp_tx *t, *w = wr_tx(e);
    int first = 1, base = e->err->code;
    while ((t = rd_tx(e)) != NULL) {
        int c = first ? head_code : rest_code;
        if (c == 0)
            c = t != w || t->body_sent || before == S_DOT ? UAVMAIL_EUNKNOWN : base;
        if (t->err != NULL) {
            if ((first && c == base) || (t == w && !t->body_sent)) {
                uavmail__err_copy(t->err, e->err); /* the error is about this one */
            } else {
                uavmail__err_set(t->err, c, "the connection ended before the server answered "
                                            "this message (%.300s)",
                                 e->err->message);
            }
            if (c == UAVMAIL_EUNKNOWN && (!first || base != UAVMAIL_EUNKNOWN))
                uavmail__err_hint(t->err, "it was sent completely, so it may or may not "
                                          "have been delivered");
            t->err->code = c;
        }
        t->result = c;
        t->done = 1;
        e->q_done++;
        e->tx_result = c;
        e->tx_done = 1;
        first = 0;
    }
}

static int tx_result_from_rcpts(uavmail__smtp *e, const uavmail__smtp_tx *t)
{
    size_t i;
    for (i = 0; i < t->env->nrcpt; i++)
        if (t->results[i].code / 100 != 2) {
            uavmail__err_set(e->err, UAVMAIL_ERECIPIENTS,
                             "%zu of %zu recipients rejected; first: <%.200s> %d %.200s",
                             t->env->nrcpt - t->accepted, t->env->nrcpt, t->env->rcpt[i],
                             t->results[i].code, t->results[i].text);
            uavmail__err_reply(e->err, t->results[i].code, t->results[i].enhanced,
                               t->results[i].text);
            return UAVMAIL_ERECIPIENTS;
        }
    return 0;
}

/* All recipients failed: classify like a single reply would be. */
static int all_rejected(uavmail__smtp *e, const uavmail__smtp_tx *t)
{
    size_t i;
    int temp = 0;
    for (i = 0; i < t->env->nrcpt; i++)
        if (t->results[i].code / 100 == 4)
            temp = 1;
    uavmail__err_set(e->err, temp ? UAVMAIL_ETEMPFAIL : UAVMAIL_EPERMFAIL,
                     "every recipient was rejected; first: <%.200s> %d %.200s",
                     t->env->rcpt[0], t->results[0].code, t->results[0].text);
    uavmail__err_reply(e->err, t->results[0].code, t->results[0].enhanced, t->results[0].text);
    return temp ? UAVMAIL_ETEMPFAIL : UAVMAIL_EPERMFAIL;
}

/* The reply that ends the transaction: after "." or to BDAT ... LAST. */
static void on_final(uavmail__smtp *e, uavmail__smtp_tx *t)
{
    int c = e->rr.reply.code;
    if (t->data_refused) {
        finish_tx(e, t, t->result); /* MAIL failed: that is the result */
        return;
    }
    if (c / 100 != 2 && IS_BDAT(t))
        rset_after(e, t); /* after a refused BDAT the state is indeterminate (RFC 3030 2) */
    if (t->accepted == 0) {
        rset_after(e, t); /* MAIL was accepted: the server may still hold it */
        finish_tx(e, t, all_rejected(e, t));
        return;
    }
    if (c == 221) {
        /* "closing" is no answer to the message: whether it was taken is unknown. */
        uavmail__err_set(e->err, UAVMAIL_EUNKNOWN, "server said 221 (closing) instead of "
                                                   "answering the message: outcome unknown");
        finish_tx(e, t, UAVMAIL_EUNKNOWN);
        return;
    }
    if (c / 100 == 2) {
        finish_tx(e, t, tx_result_from_rcpts(e, t));
        return;
    }
    finish_tx(e, t, reply_error(e, UAVMAIL_EPERMFAIL, "message refused after end of data"));
}

/* Switch to pushing the message (after 354, or right behind BDAT). */
static void start_body(uavmail__smtp *e)
{
    e->state = S_BODY;
    e->bol = 1;
    e->skip_lf = 0;
}

/* The session cannot go on (e->err says why): fail it and settle what is
 * in flight (see settle_all). */
static void fail_all(uavmail__smtp *e, int head_code, int rest_code)
{
    int before = e->state;
    e->state = S_FAILED;
    settle_all(e, before, head_code, rest_code);
}

/* Replies to RSET, MAIL (index 0), RCPT (1..n), DATA/BDAT (n+1) and the
 * end of data, matched by position: with PIPELINING they arrive in the
 * order the commands went out, transaction after transaction. */
static void on_tx_reply(uavmail__smtp *e)
{
    int c = e->rr.reply.code;
    uavmail__smtp_tx *t = rd_tx(e);
    size_t n = t->env->nrcpt, idx = t->replied;
    int pipelining = (e->caps & UAVMAIL__CAP_PIPELINING) != 0;

    if (t->rset == 2) {
        /* The RSET that cleared what the previous transaction left. */
        t->rset = 0;
        if (c / 100 != 2) {
            /* What the server holds is unknown now: nothing more is trusted. */
            reply_error(e, UAVMAIL_EPROTOCOL, "RSET");
            fail_all(e, 0, 0);
            return;
        }
        emit_tx(e);
        return;
    }
    if (!IS_BDAT(t) && idx == t->sent) { /* the reply to the end of data */
        on_final(e, t);
        return;
    }
    t->replied++;
    if (idx == 0) { /* MAIL */
        if (c / 100 != 2) {
            t->result = reply_error(e, UAVMAIL_EPERMFAIL, "sender rejected (MAIL FROM)");
            t->data_refused = 1;
            if (!pipelining || t->sent == 1)
                finish_tx(e, t, t->result); /* nothing else is outstanding */
            return; /* pipelined: read the remaining replies first */
        }
    } else if (idx <= n) { /* RCPT */
        if (!t->data_refused) /* after a refused MAIL the 503s say nothing of recipients */
            record_rcpt(e, t, idx - 1);
        if (!pipelining && idx == n && t->accepted == 0 && !t->data_refused) {
            /* P-10: nobody accepted, no DATA; the transaction is abandoned. */
            e->need_rset = 1;
            finish_tx(e, t, all_rejected(e, t));
            return;
        }
    } else if (IS_BDAT(t)) {
        if (t == wr_tx(e) && e->state == S_BODY) {
            uavmail__err_set(e->err, UAVMAIL_EPROTOCOL,
                             "server answered BDAT before the chunk was complete");
            fail_all(e, 0, 0);
            return;
        }
        on_final(e, t);
        return;
    } else { /* DATA */
        if (c == 354 && (t->data_refused || t->accepted == 0)) {
            /* RFC 2920 3.1: DATA accepted although nothing can be: end it empty. */
            put_cmd(e, ".");
            e->state = S_DOT;
            return;
        }
        if (c == 354) {
            start_body(e);
            return;
        }
        if (t->data_refused) {
            finish_tx(e, t, t->result);
            return;
        }
        if (t->accepted == 0) {
            rset_after(e, t); /* MAIL was accepted: the server still holds it */
            finish_tx(e, t, all_rejected(e, t));
            return;
        }
        e->need_rset = 1;
        finish_tx(e, t, reply_error(e, UAVMAIL_EPERMFAIL, "DATA refused"));
        return;
    }
    emit_tx(e);
}

#if UAVMAIL_WITH_TRACE
static void trace_reply(uavmail__smtp *e)
{
    const uavmail__reply *r = &e->rr.reply;
    const char *p = r->text, *end = r->text + r->len;
    char buf[UAVMAIL_REPLY_LINE_MAX + 8];
    if (e->cfg.trace_cb == NULL)
        return;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        int k = uavmail__snprintf(buf, sizeof buf, "%d%c%.*s", r->code, nl ? '-' : ' ', (int)n,
                                  p);
        trace(e, UAVMAIL_TRACE_SERVER, buf, (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1);
        if (nl == NULL)
            break;
        p = nl + 1;
    }
}
#else
#define trace_reply(e) ((void)0)
#endif

/* QUIT went out behind the last message and its answer is not 221: a reply
 * too many (or too few) came somewhere, so every reply of this pipelined round
 * may belong to another command (P-13).  Nothing of it is trusted: each
 * message's outcome is unknown (sent again with the same Message-ID). */
static void out_of_step(uavmail__smtp *e)
{
    size_t i;
    for (i = 0; i < e->q_done; i++) {
        uavmail__smtp_tx *t = q_at(e, i);
        t->result = UAVMAIL_EUNKNOWN;
        if (t->err != NULL) {
            uavmail__err_set(t->err, UAVMAIL_EUNKNOWN,
                             "the server's replies were out of step (QUIT was answered %d): "
                             "this message may or may not have been delivered",
                             e->rr.reply.code);
            uavmail__err_hint(t->err, "the server sent a reply too many or too few; it "
                                      "breaks pipelining (RFC 2920)");
        }
    }
    e->tx_result = UAVMAIL_EUNKNOWN;
}

static void dispatch(uavmail__smtp *e, size_t extra)
{
    trace_reply(e);
    if (e->rr.reply.code == 421 && e->state != S_QUIT) {
        /* P-05: 421 at any point closes the session.  It answers the oldest
         * transaction's next command, so that message was not taken, and
         * the server processes nothing after it: none of the later ones was. */
        reply_error(e, UAVMAIL_ECLOSED, "server closed the session");
        fail_all(e, UAVMAIL_ECLOSED, UAVMAIL_ECLOSED);
        return;
    }
    switch (e->state) {
    case S_GREETING: on_greeting(e); break;
    case S_EHLO: on_ehlo(e); break;
#if UAVMAIL_WITH_HELO
    case S_HELO: on_helo(e); break;
#endif
    case S_STARTTLS: on_starttls(e, extra != 0); break;
    case S_AUTH: on_auth(e); break;
    case S_TX:
        on_tx_reply(e);
        break;
    case S_BODY: /* BDAT: replies may arrive while the chunk goes out */
    case S_DOT:
        on_tx_reply(e);
        break;
    case S_QUIT: /* P-14: any reply ends it */
        if (e->quit_sent && e->rr.reply.code != 221 && !e->close_error)
            out_of_step(e);
        e->state = e->close_error ? S_FAILED : S_CLOSED;
        if (e->close_error)
            e->err->code = e->close_error;
        break;
    default:
        fail(e, UAVMAIL_EPROTOCOL, "unexpected reply %d from the server during %s",
             e->rr.reply.code, phase_names[e->state]);
        break;
    }
}

static int expecting_reply(const uavmail__smtp *e)
{
    switch (e->state) {
    case S_GREETING: case S_EHLO: case S_HELO: case S_STARTTLS: case S_AUTH:
    case S_DOT: case S_QUIT:
    case S_IDLE: /* only 421 (P-05), when the server shuts down or times the session out */
        return 1;
    case S_TX:
    case S_BODY:
        return outstanding(e) > 0;
    default:
        return 0;
    }
}

int uavmail__smtp_feed(uavmail__smtp *e, const char *data, size_t len)
{
    while (len > 0) {
        size_t used = 0;
        int rc;
        if (e->state == S_FAILED || e->state == S_CLOSED)
            return e->state == S_FAILED ? e->err->code : 0;
        if (!expecting_reply(e))
            return fail(e, UAVMAIL_EPROTOCOL,
                        "server sent data nobody asked for during %s (more replies than "
                        "commands)",
                        phase_names[e->state]);
        rc = uavmail__reply_feed(&e->rr, data, len, &used);
        if (rc < 0)
            return fail(e, UAVMAIL_EPROTOCOL, "%s during %s", uavmail__reply_strerror(rc),
                        phase_names[e->state]);
        data += used;
        len -= used;
        if (rc == UAVMAIL__REPLY_DONE)
            dispatch(e, len);
        if (e->state == S_TLS_HANDSHAKE || e->state == S_FAILED)
            break;
    }
    return e->state == S_FAILED ? e->err->code : 0;
}

void uavmail__smtp_tls_started(uavmail__smtp *e)
{
    /* TLS-04: forget everything learnt in plaintext; EHLO comes first. */
    e->tls_active = 1;
    e->caps = 0;
    e->auth_mechs = 0;
    e->size_limit = 0;
    uavmail__reply_reader_init(&e->rr, e->cfg.allow_lf_replies);
    send_ehlo(e);
}

int uavmail__smtp_want(uavmail__smtp *e)
{
    switch (e->state) {
    case S_FAILED:
        settle_all(e, S_FAILED, 0, 0); /* a failure while writing */
        return UAVMAIL__SMTP_FAILED;
    case S_CLOSED: return UAVMAIL__SMTP_CLOSED;
    case S_TLS_HANDSHAKE:
        /* TLS-05: STARTTLS is the last thing written before the handshake. */
        return e->out_len ? UAVMAIL__SMTP_WANT_WRITE : UAVMAIL__SMTP_WANT_TLS;
    case S_TX:
        emit_tx(e);
        break;
    case S_BODY:
        /* Write when the record is (nearly) full; asking for more message
         * bytes leaves at least 512 bytes of room for them. */
        if (body_room(e) < 512)
            return UAVMAIL__SMTP_WANT_WRITE;
        return UAVMAIL__SMTP_WANT_BODY;
    default:
        break;
    }
    if (e->out_len)
        return UAVMAIL__SMTP_WANT_WRITE;
    if (e->state == S_IDLE)
        return UAVMAIL__SMTP_IDLE;
    return UAVMAIL__SMTP_WANT_READ;
}

int uavmail__smtp_can_pipeline(const uavmail__smtp *e, const uavmail__envelope *env)
{
    const unsigned both = UAVMAIL__CAP_PIPELINING | UAVMAIL__CAP_CHUNKING;
    const uavmail__smtp_tx *w = wr_txc(e);
    /* RFC 2920 3.1 ends a group at DATA (its 354 must be awaited), not at
     * BDAT: after a BDAT LAST chunk the next MAIL may follow at once. */
    return e->state == S_DOT && (e->caps & both) == both && !e->quit_sent && w != NULL &&
           IS_BDAT(w) && env->size_exact && env->nrcpt > 0 &&
           e->q_len < UAVMAIL__SMTP_PIPE_MAX &&
           outstanding(e) + env->nrcpt + 3 <= UAVMAIL__SMTP_PIPE_REPLIES;
}

int uavmail__smtp_can_continue(const uavmail__smtp *e)
{
    return e->state != S_FAILED && e->state != S_CLOSED && e->state != S_QUIT && !e->quit_sent;
}

size_t uavmail__smtp_in_flight(const uavmail__smtp *e)
{
    if (e->quit_sent && e->state == S_QUIT)
        return e->q_len; /* held until QUIT is answered (see uavmail__smtp_collect) */
    return e->q_len - e->q_done;
}

int uavmail__smtp_submit_tx(uavmail__smtp *e, const uavmail__envelope *env,
                            uavmail__rcpt_result *results, uavmail_error_detail *err,
                            void *tag)
{
    uavmail__smtp_tx *t;
    size_t i;
    int behind = e->state != S_IDLE;
    if (behind && !uavmail__smtp_can_pipeline(e, env))
        return uavmail__err_set(e->err, UAVMAIL_ESTATE, "session is not ready for a message");
    if (e->q_len >= UAVMAIL__SMTP_PIPE_MAX)
        return uavmail__err_set(e->err, UAVMAIL_ESTATE,
                                "finished transactions must be collected first");
    if (env->nrcpt == 0)
        return uavmail__err_set(e->err, UAVMAIL_EINVAL, "message has no recipients");
#if UAVMAIL_WITH_SIZE
    if (e->size_limit != 0 && env->size > e->size_limit)
        return uavmail__err_set(e->err, UAVMAIL_ETOOBIG,
                                "message of %llu bytes exceeds the server's limit of %llu "
                                "bytes (SIZE)",
                                (unsigned long long)env->size,
                                (unsigned long long)e->size_limit);
#endif
    if (env->smtputf8 && !(UAVMAIL_WITH_SMTPUTF8 && (e->caps & UAVMAIL__CAP_SMTPUTF8)))
        return uavmail__err_set(e->err, UAVMAIL_EADDRESS,
                                "an address of this message has non-ASCII characters, which "
                                "needs SMTPUTF8, and the server does not offer it");
#if !UAVMAIL_WITH_DSN
    if (env->dsn_notify != 0 || env->dsn_ret != 0 || env->dsn_envid != NULL)
        return uavmail__err_set(e->err, UAVMAIL_EINVAL,
                                "delivery status notifications are not compiled in "
                                "(UAVMAIL_WITH_DSN)");
#endif
    {   /* P-11 before anything is queued: an over-long command is this message's
         * failure alone, not the connection's (others may be in flight) */
        char line[2 * UAVMAIL_COMMAND_LINE_MAX];
        mail_line(e, env, line, sizeof line);
        for (i = 0; strlen(line) <= UAVMAIL_COMMAND_LINE_MAX - 2; i++) {
            if (i == env->nrcpt)
                break;
            rcpt_line(e, env, line, sizeof line, env->rcpt[i]);
        }
        if (strlen(line) > UAVMAIL_COMMAND_LINE_MAX - 2)
            return uavmail__err_set(e->err, UAVMAIL_ETOOBIG,
                                    "command line longer than %d octets (RFC 5321 4.5.3.1.4): "
                                    "%.60s...",
                                    UAVMAIL_COMMAND_LINE_MAX, line);
    }
    t = q_at(e, e->q_len);
    memset(t, 0, sizeof *t);
    t->env = env;
    t->results = results;
    t->err = err;
    t->tag = tag;
    for (i = 0; i < env->nrcpt; i++)
        memset(&results[i], 0, sizeof results[i]);
    /* CHUNKING (RFC 3030): the whole message as one BDAT ... LAST chunk,
     * pipelined with the envelope, when its exact size is known. */
    t->bdat = UAVMAIL_WITH_CHUNKING && (e->caps & UAVMAIL__CAP_CHUNKING) && env->size_exact;
    /* Behind a message whose outcome is not known yet, the server may
     * still hold its transaction (a refused chunk leaves the state
     * indeterminate, RFC 3030 2): RSET first, in the same group. */
    t->rset = e->need_rset || behind;
    e->need_rset = 0;
    e->q_len++;
    e->tx_done = 0;
    e->tx_result = 0;
    if (!behind)
        e->quit_sent = 0;
    e->state = S_TX;
    emit_tx(e);
    return 0;
}

int uavmail__smtp_submit(uavmail__smtp *e, const uavmail__envelope *env,
                         uavmail__rcpt_result *results)
{
    void *tag;
    int r;
    while (uavmail__smtp_collect(e, &tag, &r))
        ; /* this simple form does not collect */
    return uavmail__smtp_submit_tx(e, env, results, NULL, NULL);
}

int uavmail__smtp_collect(uavmail__smtp *e, void **tag, int *result)
{
    uavmail__smtp_tx *t;
    if (e->q_done == 0)
        return 0;
    if (e->quit_sent && e->state == S_QUIT)
        return 0; /* QUIT's answer shows whether the round's replies were in step */
    t = q_at(e, 0);
    *tag = t->tag;
    *result = t->result;
    e->q_head = (e->q_head + 1) % UAVMAIL__SMTP_PIPE_MAX;
    e->q_len--;
    e->q_done--;
    return 1;
}

int uavmail__smtp_tx_done(const uavmail__smtp *e, int *result)
{
    if (!e->tx_done)
        return 0;
    *result = e->tx_result;
    return 1;
}

/* ---- message body: CRLF normalisation and dot-stuffing ---------------------- */

/* The message is out: pipeline QUIT behind it when this is the last one. */
static void body_done(uavmail__smtp *e)
{
    e->state = S_DOT;
    wr_tx(e)->body_sent = 1;
    if (wr_tx(e)->env->quit_after && (e->caps & UAVMAIL__CAP_PIPELINING) &&
        put_cmd(e, "QUIT") == 0)
        e->quit_sent = 1;
}

size_t uavmail__smtp_body(uavmail__smtp *e, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    int bdat;
    if (e->state != S_BODY)
        return 0;
    bdat = IS_BDAT(wr_tx(e));
    while (p < end) {
        const char *lf, *cr, *q;
        size_t room = body_room(e), run;
        int eol;
        if (e->skip_lf) {
            e->skip_lf = 0;
            if (*p == '\n') {
                p++;
                continue;
            }
        }
        if (room < 4)
            break;
        if (e->bol && *p == '.' && !bdat) {
            e->out[e->out_len++] = '.'; /* D-03: stuff a leading dot */
            room--;
        }
        /* Find the next line end: CR or LF, whichever comes first. */
        lf = memchr(p, '\n', (size_t)(end - p));
        cr = memchr(p, '\r', (size_t)((lf ? lf : end) - p));
        q = cr ? cr : lf ? lf : end;
        run = (size_t)(q - p);
        if (run > room - 2)
            run = room - 2;
        eol = p + run < end && (p[run] == '\r' || p[run] == '\n');
        if (bdat && run + (eol ? 2u : 0u) > e->bdat_left) {
            /* More than the declared chunk: never send it (it would be read
             * as commands).  The connection is dropped so the server
             * discards the incomplete chunk. */
            fail(e, UAVMAIL_EINTERNAL,
                 "message is longer than its declared size; connection aborted");
            return len;
        }
        memcpy(e->out + e->out_len, p, run);
        e->out_len += run;
        e->bdat_left -= bdat ? run : 0;
        if (run > 0)
            e->bol = 0;
        p += run;
        if (eol) {
            /* Any of CR, LF or CRLF ends a line; it goes out as CRLF (D-01). */
            e->skip_lf = *p == '\r';
            e->out[e->out_len++] = '\r';
            e->out[e->out_len++] = '\n';
            e->bdat_left -= bdat ? 2 : 0;
            e->bol = 1;
            p++;
        }
        if (bdat && e->bdat_left == 0) {
            body_done(e);
            if (p < end && !(e->skip_lf && end - p == 1 && *p == '\n'))
                fail(e, UAVMAIL_EINTERNAL,
                     "message is longer than its declared size; connection aborted");
            return len;
        }
    }
    return (size_t)(p - data);
}

char *uavmail__smtp_body_space(uavmail__smtp *e, size_t *cap)
{
    size_t room = body_room(e);
    if (e->state != S_BODY || !IS_BDAT(wr_tx(e))) {
        *cap = 0;
        return NULL;
    }
    *cap = room < e->bdat_left ? room : (size_t)e->bdat_left;
    return e->out + e->out_len;
}

void uavmail__smtp_body_commit(uavmail__smtp *e, size_t n)
{
    e->out_len += n;
    e->bdat_left -= n;
    if (e->bdat_left == 0)
        body_done(e);
}

void uavmail__smtp_body_end(uavmail__smtp *e)
{
    if (e->state != S_BODY)
        return;
    if (IS_BDAT(wr_tx(e))) {
        if (e->bdat_left != 0) {
            fail(e, UAVMAIL_EINTERNAL,
                 "message is %llu bytes shorter than its declared size; connection aborted",
                 (unsigned long long)e->bdat_left);
            return;
        }
        body_done(e);
        return;
    }
    /* Room is guaranteed: WANT_BODY is only reported with 512 bytes free. */
    if (!e->bol) {
        e->out[e->out_len++] = '\r';
        e->out[e->out_len++] = '\n';
    }
    memcpy(e->out + e->out_len, ".\r\n", 3);
    e->out_len += 3;
    trace_str(e, UAVMAIL_TRACE_CLIENT, ".");
    body_done(e);
}

void uavmail__smtp_quit(uavmail__smtp *e)
{
    if (e->state != S_IDLE)
        return;
    put_cmd(e, "QUIT");
    e->state = S_QUIT;
}

int uavmail__smtp_timed_out(uavmail__smtp *e)
{
    const char *phase = phase_names[e->state];
    int st = e->state;
    if (st == S_QUIT) {
        e->state = e->close_error ? S_FAILED : S_CLOSED; /* P-14: outcome already known */
        return e->close_error;
    }
    uavmail__err_set(e->err, st == S_DOT ? UAVMAIL_EUNKNOWN : UAVMAIL_ETIMEOUT,
                     "no reply from the server within %u s during %s%s",
                     uavmail__smtp_timeout_ms(e) / 1000, phase,
                     st == S_DOT ? ": the message may or may not have been delivered" : "");
    fail_all(e, 0, 0);
    return e->err->code;
}

int uavmail__smtp_eof(uavmail__smtp *e)
{
    int st = e->state;
    if (st == S_QUIT) {
        e->state = e->close_error ? S_FAILED : S_CLOSED;
        return e->close_error;
    }
    if (uavmail__reply_pending(&e->rr))
        fail(e, UAVMAIL_EPROTOCOL, "server closed the connection in the middle of a reply "
                                   "during %s",
             phase_names[st]);
    else
        fail(e, st == S_DOT ? UAVMAIL_EUNKNOWN : UAVMAIL_EIO,
             "server closed the connection during %s%s", phase_names[st],
             st == S_DOT ? ": the message may or may not have been delivered" : "");
    if (st == S_DOT && e->err->code == UAVMAIL_EPROTOCOL)
        e->err->code = UAVMAIL_EUNKNOWN;
    e->state = st;
    fail_all(e, 0, 0);
    return e->err->code;
}

void uavmail__smtp_abort(uavmail__smtp *e)
{
    int st = e->state;
    if (st == S_DOT && e->err->code != UAVMAIL_EUNKNOWN) {
        /* Link lost after the end of data was (maybe) sent: P-08. */
        e->err->code = UAVMAIL_EUNKNOWN;
    }
    fail_all(e, 0, 0);
}
