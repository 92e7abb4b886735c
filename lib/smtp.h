/*
 * The SMTP client engine, sans I/O: it consumes bytes the server sent and
 * produces bytes to send.  It knows nothing of sockets, TLS or clocks; the
 * driver (session.c) moves bytes, runs the TLS handshake when asked and
 * tells the engine when a phase timed out.
 *
 * Driver loop:
 *     for (;;) switch (uavmail__smtp_want(e)) {
 *     case WANT_WRITE: send uavmail__smtp_output(); uavmail__smtp_consume(); break;
 *     case WANT_READ:  receive with uavmail__smtp_timeout_ms(); uavmail__smtp_feed(); break;
 *     case WANT_TLS:   handshake; uavmail__smtp_tls_started(); break;
 *     case WANT_BODY:  uavmail__smtp_body() / uavmail__smtp_body_end(); break;
 *     case IDLE:       submit a message (uavmail__smtp_submit) or quit; break;
 *     case CLOSED / FAILED: close the connection.
 *     }
 */
#ifndef UAVMAIL_SMTP_H
#define UAVMAIL_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "reply.h"
#include "sasl.h"

enum uavmail__smtp_want {
    UAVMAIL__SMTP_WANT_WRITE = 1,
    UAVMAIL__SMTP_WANT_READ,
    UAVMAIL__SMTP_WANT_TLS,
    UAVMAIL__SMTP_WANT_BODY,
    UAVMAIL__SMTP_IDLE,
    UAVMAIL__SMTP_CLOSED,
    UAVMAIL__SMTP_FAILED
};

/* Server capabilities from the latest EHLO. */
enum {
    UAVMAIL__CAP_PIPELINING = 1u << 0,
    UAVMAIL__CAP_CHUNKING = 1u << 1,
    UAVMAIL__CAP_8BITMIME = 1u << 2,
    UAVMAIL__CAP_SMTPUTF8 = 1u << 3,
    UAVMAIL__CAP_SIZE = 1u << 4,
    UAVMAIL__CAP_DSN = 1u << 5,
    UAVMAIL__CAP_ENHANCED = 1u << 6,
    UAVMAIL__CAP_STARTTLS = 1u << 7,
    UAVMAIL__CAP_AUTH = 1u << 8
};

/* Connection security as the engine sees it. */
enum {
    UAVMAIL__SEC_NONE = 0,     /* plaintext, no STARTTLS */
    UAVMAIL__SEC_TLS = 1,      /* the driver already runs TLS from the first byte */
    UAVMAIL__SEC_STARTTLS = 2  /* STARTTLS required before anything else */
};

/* Per-phase waits in ms; 0 selects the RFC 5321 4.5.3.2 value. */
typedef struct uavmail__timeouts {
    unsigned greeting, mail, rcpt, data, block, data_end;
} uavmail__timeouts;

typedef struct uavmail__smtp_config {
    const char *helo_name;         /* validated FQDN or address literal */
    uavmail__timeouts timeouts;
    int security;                  /* UAVMAIL__SEC_* */
    const char *username;          /* NULL: no AUTH */
    uavmail_password_cb password_cb;
    void *password_user_data;
    /* OAuth2 bearer token provider: refresh != 0 asks for a new token. */
    int (*token_cb)(char *buf, size_t cap, size_t *len, int refresh, void *ud);
    void *token_user_data;
    int refresh_token;             /* the next token request is a refresh */
    unsigned auth_allowed;         /* UAVMAIL__MECH_* the user allows; 0: all */
    int trace_secrets;             /* raw AUTH lines in the trace (A-04: loud opt-in) */
    const char *host;              /* for OAUTHBEARER */
    unsigned port;
    int allow_lf_replies;          /* accept LF-only reply lines (default 0) */
    uavmail_trace_cb trace_cb;
    void *trace_user_data;
} uavmail__smtp_config;

/* DSN request (RFC 3461), used only when the server offers DSN. */
enum {
    UAVMAIL__DSN_SUCCESS = 1,
    UAVMAIL__DSN_FAILURE = 2,
    UAVMAIL__DSN_DELAY = 4,
    UAVMAIL__DSN_NEVER = 8
};

typedef struct uavmail__envelope {
    const char *from;              /* reverse-path without brackets ("" for null) */
    const char *const *rcpt;       /* forward-paths without brackets */
    size_t nrcpt;
    int body_8bit;                 /* BODY=8BITMIME wanted */
    int smtputf8;                  /* an address needs SMTPUTF8 (RFC 6531) */
    uint64_t size;                 /* SIZE= estimate, 0 if unknown */
    int size_exact;                /* size is the exact byte count pushed: BDAT possible */
    int quit_after;                /* last message: pipeline QUIT behind it */
    unsigned dsn_notify;           /* UAVMAIL__DSN_* or 0 */
    int dsn_ret;                   /* 0 none, 1 FULL, 2 HDRS */
    const char *dsn_envid;         /* or NULL */
} uavmail__envelope;

typedef struct uavmail__rcpt_result {
    int code;                      /* reply to RCPT; 0 until known */
    char enhanced[16];
    char text[200];
} uavmail__rcpt_result;

/* Limits of the pipeline across messages: transactions in flight (or
 * finished but not yet collected), and replies outstanding, which bounds
 * what the server may have to buffer while the client writes (RFC 2920 3.5). */
#define UAVMAIL__SMTP_PIPE_MAX UAVMAIL_PIPELINE_MAX
#define UAVMAIL__SMTP_PIPE_REPLIES 128

/* One transaction (message) from submit until the driver collects it. */
typedef struct uavmail__smtp_tx {
    const uavmail__envelope *env;
    uavmail__rcpt_result *results; /* env->nrcpt entries, owned by the caller */
    uavmail_error_detail *err;     /* this transaction's failure described here, or NULL */
    void *tag;                     /* the caller's */
    size_t sent;                   /* commands sent: 0 = MAIL, 1..n = RCPT, n+1 = DATA/BDAT */
    size_t replied;
    size_t accepted;
    int rset;                      /* 1: RSET goes out in front of MAIL; 2: its reply is due */
    int data_refused;              /* MAIL was rejected (result already in result) */
    int bdat;                      /* body goes as one BDAT ... LAST chunk (RFC 3030) */
    int body_sent;                 /* the chunk or the end of data went out completely */
    int result;
    int done;
} uavmail__smtp_tx;

typedef struct uavmail__smtp uavmail__smtp;

struct uavmail__smtp {
    uavmail__smtp_config cfg;
    uavmail_error_detail *err;     /* where failures are described */
    const uavmail__alloc *alloc;

    int state;
    int tls_active;                /* TLS established and verified */
    int authed;
    unsigned caps;
    unsigned auth_mechs;
    uint64_t size_limit;
    unsigned mech;                 /* mechanism in use */
    int sasl_step;
    int ir_deferred;               /* initial response too long for the AUTH line */
    int close_error;               /* QUIT after a failure; then fail with this */
    const char *sasl_why;          /* why the client cancelled the exchange */
#if UAVMAIL_WITH_SCRAM
    uavmail__scram *scram;         /* SCRAM-SHA-256 state during the exchange, or NULL */
#endif
#if UAVMAIL_WITH_OAUTH2
    int oauth_failing;             /* in the XOAUTH2/OAUTHBEARER error exchange */
    char oauth_status[16];         /* from an XOAUTH2/OAUTHBEARER error challenge */
    char oauth_scope[128];
#endif
    int ehlo_failed;

    uavmail__reply_reader rr;

    /* Output buffer; out_secret marks bytes that hold credentials. */
    char out[UAVMAIL_OUTBUF_SIZE];
    size_t out_len;
    int out_secret;

    /* Transactions, oldest first: q_done finished ones not yet collected,
     * then those in flight; replies belong to the oldest in flight, the
     * newest is the one being written.  Several are in flight only when
     * the server offers PIPELINING and CHUNKING (RFC 2920 3.1, RFC 3030). */
    uavmail__smtp_tx txq[UAVMAIL__SMTP_PIPE_MAX];
    size_t q_head, q_len, q_done;
    int need_rset;                 /* server holds a transaction we abandoned */
    int tx_result;                 /* the latest finished transaction's result */
    int tx_done;                   /* ... and whether one finished since submit */
    uint64_t bdat_left;            /* bytes of the chunk still to send */
    int quit_sent;                 /* QUIT pipelined behind the message */

    /* Streaming dot-stuffer state (D-01..D-04). */
    int bol;                       /* at the beginning of a line */
    int skip_lf;                   /* last input byte was CR: swallow a following LF */
};

void uavmail__smtp_init(uavmail__smtp *e, const uavmail__smtp_config *cfg,
                        const uavmail__alloc *alloc, uavmail_error_detail *err);
/* Restart for a new connection. */
void uavmail__smtp_reset(uavmail__smtp *e);
/* Free what the engine allocated (before the engine's memory goes). */
void uavmail__smtp_release(uavmail__smtp *e);
int uavmail__smtp_want(uavmail__smtp *e);
const char *uavmail__smtp_output(const uavmail__smtp *e, size_t *len);
void uavmail__smtp_consume(uavmail__smtp *e, size_t n);
/* Feed received bytes.  Returns 0, or a negative error (also recorded). */
int uavmail__smtp_feed(uavmail__smtp *e, const char *data, size_t len);
/* The driver finished the TLS handshake asked for by WANT_TLS. */
void uavmail__smtp_tls_started(uavmail__smtp *e);
/* Start a transaction; @p results must have env->nrcpt entries and stay
 * valid with @p env until the transaction is done. */
int uavmail__smtp_submit(uavmail__smtp *e, const uavmail__envelope *env,
                         uavmail__rcpt_result *results);
/* Transaction finished (IDLE reached after submit): its result.  This
 * simple form forgets finished transactions that were not collected. */
int uavmail__smtp_tx_done(const uavmail__smtp *e, int *result);
/* The pipelined form: queue a transaction that may go out while earlier
 * ones still await replies.  Allowed in IDLE, or when
 * uavmail__smtp_can_pipeline() says so.  A failure of this transaction is
 * described in @p err (may be NULL); @p tag comes back from collect. */
int uavmail__smtp_submit_tx(uavmail__smtp *e, const uavmail__envelope *env,
                            uavmail__rcpt_result *results, uavmail_error_detail *err,
                            void *tag);
/* 1 when @p env can be submitted now behind transactions whose replies are
 * still outstanding: PIPELINING and CHUNKING offered, the previous message
 * completely written as BDAT LAST, no QUIT queued, this one's size exact
 * (so it goes as BDAT too), and room in the pipeline. */
int uavmail__smtp_can_pipeline(const uavmail__smtp *e, const uavmail__envelope *env);
/* Take the oldest finished transaction, in submit order: 1 with its tag and
 * result, or 0 when none is finished. */
int uavmail__smtp_collect(uavmail__smtp *e, void **tag, int *result);
/* Transactions submitted and not yet finished. */
size_t uavmail__smtp_in_flight(const uavmail__smtp *e);
/* 1 while another transaction may still be submitted on this connection
 * (not failed or closed, no QUIT sent). */
int uavmail__smtp_can_continue(const uavmail__smtp *e);
/* Push message bytes while WANT_BODY; returns how many were taken. */
size_t uavmail__smtp_body(uavmail__smtp *e, const char *data, size_t len);
/* The whole message was pushed. */
void uavmail__smtp_body_end(uavmail__smtp *e);
/* BDAT without copies: where the next message bytes go (NULL when the
 * message goes by DATA), at most *cap of them (never past the declared
 * size); then commit how many were written.  The bytes must already be
 * CRLF-clean -- the MIME writer guarantees it, for prepared messages too --
 * since BDAT content is neither normalised nor dot-stuffed. */
char *uavmail__smtp_body_space(uavmail__smtp *e, size_t *cap);
void uavmail__smtp_body_commit(uavmail__smtp *e, size_t n);
/* Say QUIT (only in IDLE). */
void uavmail__smtp_quit(uavmail__smtp *e);
/* The driver gave up waiting for the current phase / the peer closed. */
int uavmail__smtp_timed_out(uavmail__smtp *e);
int uavmail__smtp_eof(uavmail__smtp *e);
/* Abort on a driver-side failure that is already in e->err. */
void uavmail__smtp_abort(uavmail__smtp *e);
/* How long the current phase may wait for the server, in milliseconds. */
unsigned uavmail__smtp_timeout_ms(const uavmail__smtp *e);
/* Name of the current phase ("greeting", "EHLO", ...). */
const char *uavmail__smtp_phase(const uavmail__smtp *e);
int uavmail__smtp_has_cap(const uavmail__smtp *e, unsigned cap);
/* The mechanism of the last AUTH (UAVMAIL__MECH_*), 0 if none. */
unsigned uavmail__smtp_mech(const uavmail__smtp *e);

#endif
