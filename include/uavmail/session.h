/*
 * uavmail - an SMTP submission session.
 *
 * A session holds one connection to a submission server at a time.  It
 * connects when the first message is sent, keeps the connection open for
 * further messages and says QUIT when closed or freed.  Not thread-safe:
 * use one session per thread; callbacks run on the calling thread.
 */
#ifndef UAVMAIL_SESSION_H
#define UAVMAIL_SESSION_H

#include "uavmail/common.h"
#include "uavmail/error.h"
#include "uavmail/message.h"
#include "uavmail/transport.h"

UAVMAIL_BEGIN_DECLS

/** An SMTP session.  @since 0.1.0 */
typedef struct uavmail_session uavmail_session;

/** Connection security.  No mode ever falls back to plaintext.  @since 0.1.0 */
enum uavmail_security {
    UAVMAIL_SECURITY_AUTO = 0,     /**< port 465: implicit TLS; any other port: STARTTLS required */
    UAVMAIL_SECURITY_TLS = 1,      /**< implicit TLS from the first byte (port 465) */
    UAVMAIL_SECURITY_STARTTLS = 2, /**< plain connect, STARTTLS required before anything else */
    UAVMAIL_SECURITY_NONE = 3      /**< no TLS: only to a loopback relay, never with AUTH */
};

/** Trace directions.  @since 0.1.0 */
enum uavmail_trace_direction {
    UAVMAIL_TRACE_CLIENT = 0, /**< bytes the client sent (AUTH lines redacted) */
    UAVMAIL_TRACE_SERVER = 1, /**< bytes the server sent */
    UAVMAIL_TRACE_INFO = 2    /**< a note from the library (TLS established, ...) */
};

/**
 * Supplies the password at AUTH time.  Write at most @p cap bytes to @p buf
 * and the length to @p len.  The library wipes its copy right after use.
 * @return 0, or a non-zero value to abort (reported as UAVMAIL_ECALLBACK).
 */
typedef int (*uavmail_password_cb)(char *buf, size_t cap, size_t *len, void *user_data);

/**
 * Supplies an OAuth2 bearer token at AUTH time (XOAUTH2 / OAUTHBEARER).
 * @p refresh is 1 when the previous token was refused as expired or invalid:
 * obtain a new one (e.g. with the refresh token); this happens at most once
 * per message.  Write at most @p cap bytes to @p buf and the length to @p len.
 * @return 0, or a non-zero value to abort (UAVMAIL_ECALLBACK).
 */
typedef int (*uavmail_token_cb)(char *buf, size_t cap, size_t *len, int refresh,
                                void *user_data);

/**
 * The current time in seconds since 1970-01-01 UTC, from the application's
 * best source (GPS time on a drone without RTC).  Used for Date headers and
 * certificate validity.  Return a negative value if unknown.
 */
typedef int64_t (*uavmail_time_cb)(void *user_data);

/**
 * Receives the protocol exchange, one line (or note) per call, without the
 * line end.  Credentials are replaced by "<redacted>".
 */
typedef void (*uavmail_trace_cb)(int direction, const char *line, size_t len, void *user_data);

/** Options for uavmail_session_new().  Strings are copied.  @since 0.1.0 */
typedef struct uavmail_session_options {
    unsigned version;           /**< UAVMAIL_SESSION_OPTIONS_VERSION */
    const char *host;           /**< server host name or IP literal (required) */
    unsigned port;              /**< 0: 465 for UAVMAIL_SECURITY_TLS, else 587 */
    int security;               /**< enum uavmail_security */
    const char *cafile;         /**< PEM bundle of trusted CAs; NULL: the system bundle */
    const char *capath;         /**< directory of trusted CA files; NULL: none */
    const char *username;       /**< SASL user; NULL: no authentication */
    uavmail_password_cb password_cb; /**< called at AUTH time (or use token_cb, v3) */
    void *password_user_data;
    const char *helo_name;      /**< EHLO name (FQDN or address literal); NULL: automatic */
    unsigned connect_timeout_ms; /**< 0: 30 s */
    unsigned command_timeout_ms; /**< 0: RFC 5321 section 4.5.3.2 values per phase */
    const uavmail_transport *transport; /**< NULL: the built-in TCP transport; copied */
    const uavmail_allocator *allocator; /**< NULL: the C library's allocator; copied */
    uavmail_trace_cb trace_cb;  /**< NULL: no trace */
    void *trace_user_data;
    /* ---- version 2 (0.1.0) ---- */
    /** Per-phase waits for the server (RFC 5321 4.5.3.2); 0 selects the RFC
     *  value: greeting 5 min, MAIL 5 min, RCPT 5 min, DATA 2 min, each data
     *  block 3 min, end of data 10 min.  command_timeout_ms, when set, is
     *  used for every phase left at 0 except the end of data. */
    unsigned timeout_greeting_ms;
    unsigned timeout_mail_ms;
    unsigned timeout_rcpt_ms;
    unsigned timeout_data_ms;
    unsigned timeout_block_ms;
    unsigned timeout_data_end_ms;
    /** File (created 0600) keeping the TLS session so that the next process
     *  resumes it (one round trip less); NULL: resume only within this
     *  handle.  A session is reused only for the same host, port and CA
     *  settings. */
    const char *tls_session_file;
    /* ---- version 3 (0.1.0) ---- */
    uavmail_token_cb token_cb;  /**< OAuth2 token provider (with username); NULL: none */
    void *token_user_data;
    /** Force one SASL mechanism ("PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER");
     *  NULL: the strongest the post-TLS EHLO offers for the credentials given. */
    const char *auth_mechanism;
    /** INSECURE, for debugging only: show AUTH lines unredacted in the trace
     *  (a warning is traced first).  Off by default. */
    int trace_auth_raw;
    uavmail_time_cb time_cb;    /**< NULL: the system clock */
    void *time_user_data;
    /** Pin the server's public key: comma-separated hex SHA-256 digests of
     *  its SubjectPublicKeyInfo; the chain must still verify.  NULL: no pin. */
    const char *tls_pin_sha256;
    const char *client_cert;    /**< PEM client certificate file; NULL: none */
    const char *client_key;     /**< its PEM private key file */
} uavmail_session_options;

#define UAVMAIL_SESSION_OPTIONS_VERSION 3
#define UAVMAIL_SESSION_OPTIONS_INIT \
    { UAVMAIL_SESSION_OPTIONS_VERSION, NULL, 0, UAVMAIL_SECURITY_AUTO, NULL, NULL, NULL, \
      NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, NULL, \
      NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL }

/**
 * Initialise an options struct to its defaults.
 * @param opts struct to fill.
 * @param version UAVMAIL_SESSION_OPTIONS_VERSION of the caller's header.
 * @return 0, or UAVMAIL_EINVAL for NULL or an unknown version.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_options_init(uavmail_session_options *opts, unsigned version);

/**
 * Create a session.  No connection is made yet.
 * @param out receives the handle; free it with uavmail_session_free().
 * @param opts options (required; host must be set).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_ECONFIG (e.g. security NONE to a
 *         non-loopback host) or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_new(uavmail_session **out, const uavmail_session_options *opts);

/** Say QUIT if connected, close and free; NULL is ignored.  @since 0.1.0 */
UAVMAIL_EXTERN void uavmail_session_free(uavmail_session *session);

/**
 * Send one message.  The message is checked first (addresses, attachments
 * readable) so bad input fails before any connection.  Connects, secures
 * and authenticates on first use; later calls reuse the open connection,
 * or make a fresh one when the server ended it while idle (a 421 after its
 * idle timeout, or a close), which is found without waiting through the
 * built-in transport, or through any in non-blocking use.
 * @param session the session.
 * @param msg the message; its envelope is From plus To, Cc and Bcc.
 * @return 0 when every recipient was accepted; UAVMAIL_ERECIPIENTS when some
 *         were accepted and some rejected (see uavmail_session_recipient()),
 *         also when the message reached some recipients and the further
 *         transaction for those the server deferred with 452 failed or never
 *         went out (their results then carry that failure, or 452);
 *         otherwise a negative error code with detail in
 *         uavmail_session_last_error().
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_send(uavmail_session *session, uavmail_message *msg);

/**
 * Send one message that is the last on this connection: QUIT goes out in the
 * same round trip when the server offers PIPELINING, and the connection is
 * closed afterwards.  Otherwise as uavmail_session_send().
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_send_final(uavmail_session *session, uavmail_message *msg);

/**
 * Send several messages over one connection, as fast as the server allows.
 * When the server offers PIPELINING and CHUNKING, each message goes right
 * behind the previous one without waiting for its replies (RSET, MAIL,
 * RCPT and BDAT LAST with the message in one write; RFC 2920, RFC 3030):
 * on a high-latency link a further message costs well under one round
 * trip.  Without them, messages go one after the other as with
 * uavmail_session_send() (DATA needs its 354 and end-of-data replies).
 * The replies are matched to their messages in order, so each message has
 * its own outcome: a rejected message or recipient does not affect the
 * others.  Each message sent behind an unanswered one starts with RSET,
 * which clears whatever the previous one left on the server; at most 16
 * messages (and 128 replies) are outstanding at a time.
 *
 * Every message is checked first; one that fails the check gets its error
 * in @p results and the others still go.  The connection is opened,
 * secured and authenticated on first use, and kept for later calls unless
 * @p final is 1 (then QUIT follows the last message in the same round trip,
 * as uavmail_session_send_final()).
 *
 * If the connection ends in the middle (421, link lost, timeout), each
 * message still gets a precise result: a message answered before that keeps
 * its outcome; one sent completely but not answered gets UAVMAIL_EUNKNOWN
 * (it may have been delivered); after a 421 the messages the server had not
 * answered get UAVMAIL_ECLOSED (not delivered), as do, with the
 * connection's error, those not sent yet (UAVMAIL_EIO "not sent" when the
 * connection ended because of another message's own failure, such as its
 * attachment callback failing).  With @p final, results are handed out once
 * QUIT is answered: a QUIT answer other than 221 shows the server's replies
 * were out of step, and every message of that round gets UAVMAIL_EUNKNOWN.
 * Only UAVMAIL_EUNKNOWN messages risk a duplicate when sent again.
 *
 * @param session the session.
 * @param msgs @p count messages; each one's envelope is From plus To, Cc
 *        and Bcc.  They must stay valid until the call returns.
 * @param count number of messages (at least 1).
 * @param results @p count entries, each receiving what uavmail_session_send()
 *        would have returned for that message (0, UAVMAIL_ERECIPIENTS, or an
 *        error; detail in uavmail_session_batch_error()).
 * @param final 1 to say QUIT after the last message and close.
 * @return 0 when every message was accepted for every recipient; otherwise
 *         the result of the first message that was not (its detail is also
 *         in uavmail_session_last_error()); UAVMAIL_EINVAL for NULL
 *         arguments or @p count 0.
 * @since 0.2.0
 */
UAVMAIL_EXTERN int uavmail_session_send_batch(uavmail_session *session,
                                              uavmail_message *const *msgs, size_t count,
                                              int *results, int final);

/**
 * Begin sending a batch without blocking; then drive it with
 * uavmail_session_step() as for uavmail_session_start().  Each entry of
 * @p results is UAVMAIL_EAGAIN until that message's outcome is known, then
 * holds it (it may be read between steps).  step returns the batch's result
 * as uavmail_session_send_batch() would.  @p msgs, the messages and
 * @p results must stay valid until then.
 * @return 0, or an error when no message passed the checks (each message's
 *         error is then in @p results) or for invalid arguments.
 * @since 0.2.0
 */
UAVMAIL_EXTERN int uavmail_session_start_batch(uavmail_session *session,
                                               uavmail_message *const *msgs, size_t count,
                                               int *results, int final);

/**
 * Result for one recipient of message @p message of the last batch (or of
 * the last message sent: index 0).  Kept until the next send on the session.
 * @param session the session.
 * @param message index of the message in the batch.
 * @param index 0 .. uavmail_session_batch_recipient_count() - 1.
 * @param address receives the address (owned by the session), or NULL.
 * @param smtp_code receives the server's reply code to RCPT (0: not attempted), or NULL.
 * @param reply receives the server's reply text (owned by the session), or NULL.
 * @return 0, or UAVMAIL_EINVAL when an index is out of range.
 * @since 0.2.0
 */
UAVMAIL_EXTERN int uavmail_session_batch_recipient(const uavmail_session *session,
                                                   size_t message, size_t index,
                                                   const char **address, int *smtp_code,
                                                   const char **reply);

/** @return the number of recipients of message @p message of the last batch,
 *  0 if out of range.  @since 0.2.0 */
UAVMAIL_EXTERN size_t uavmail_session_batch_recipient_count(const uavmail_session *session,
                                                            size_t message);

/**
 * Why message @p message of the last batch failed (code 0 when it did not).
 * @return detail owned by the session, valid until the next send on it, or
 *         NULL when @p message is out of range.
 * @since 0.2.0
 */
UAVMAIL_EXTERN const uavmail_error_detail *uavmail_session_batch_error(
    const uavmail_session *session, size_t message);

/**
 * Fill host, port and security in @p opts for a known provider ("gmail",
 * "office365", "outlook", "yahoo", "icloud", "fastmail", "zoho", "sendgrid",
 * "mailgun", "mailgun-eu", "ses-us-east-1", "ses-eu-west-1").
 * @param name provider name (case-insensitive).
 * @param opts options to fill (other fields are left alone).
 * @param notes receives advice on the user name and credentials (static), or NULL.
 * @return 0, or UAVMAIL_EINVAL for an unknown name.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_provider_preset(const char *name, uavmail_session_options *opts,
                                           const char **notes);

/**
 * Names of the known providers, for listing: index 0, 1, ... until NULL.
 * @since 0.1.0
 */
UAVMAIL_EXTERN const char *uavmail_provider_name(size_t index);

/**
 * Security state of the open connection (TLS-10): 1 only once the TLS
 * handshake has completed and the certificate chain and host name were
 * verified (or a session verified earlier was resumed); 0 before that, after
 * the connection closed, and on a plain relay.  The library has no mode in
 * which a connection is encrypted but unverified.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_is_secure(const uavmail_session *session);

/** @return the negotiated TLS version ("TLSv1.2") while secure, else "".  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_session_tls_version(const uavmail_session *session);

/** @return the negotiated cipher suite while secure, else "".  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_session_tls_ciphersuite(const uavmail_session *session);

/**
 * The result of uavmail_probe(): a "test connection" report.  @since 0.1.0
 */
typedef struct uavmail_probe_report uavmail_probe_report;

/**
 * Test a configuration without sending: resolve the name, connect, read the
 * greeting, find the TLS mode the port really speaks (plain SMTP on a "tls"
 * setting, implicit TLS on a "starttls" one), verify the certificate, list
 * the capabilities and AUTH mechanisms, optionally log in, and say QUIT.
 * Ends with a verdict and, where known, a fix.  Blocks; uses short waits
 * (10 s to connect, 8 s for the greeting) unless the options set others.
 * @param out receives the report (free with uavmail_probe_free()).
 * @param opts the settings to test (version 3 or later; not modified).
 * @param try_login 1 to authenticate with the configured credentials.
 * @return 0 when a report was produced (whatever its verdict), UAVMAIL_EINVAL
 *         or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_probe(uavmail_probe_report **out, const uavmail_session_options *opts,
                                 int try_login);

/** Free a probe report; NULL is ignored.  @since 0.1.0 */
UAVMAIL_EXTERN void uavmail_probe_free(uavmail_probe_report *report);

/** @return 0 if a send would work, else the error code of the first problem.  @since 0.1.0 */
UAVMAIL_EXTERN int uavmail_probe_verdict(const uavmail_probe_report *report);

/** @return the report for a person, several "Label: value" lines ending with
 *  "Verdict:" and "Fix:"; owned by the report.  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_probe_text(const uavmail_probe_report *report);

/** @return the report as a JSON object (dns, tcp, greeting, tls with the
 *  certificate, capabilities, auth_mechanisms, size_limit, login, verdict
 *  with code, message and fix); owned by the report.  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_probe_json(const uavmail_probe_report *report);

/** What a non-blocking session waits for.  @since 0.1.0 */
enum uavmail_want {
    UAVMAIL_WANT_READ = 1,  /**< the descriptor must become readable */
    UAVMAIL_WANT_WRITE = 2  /**< the descriptor must become writable */
};

/**
 * Begin sending a message without blocking, for an application's own event
 * loop (Qt, asyncio, an RTOS task).  Then call uavmail_session_step()
 * whenever uavmail_session_fd() is ready as asked, or its timeout expired.
 * Host name resolution happens inside the first step and may block.
 * Callbacks (password, trace, attachment reads) run inside step; the trace
 * callback also inside start when it finds a kept connection the server
 * has ended meanwhile (the server's last reply and a note).
 * @param session the session (one operation at a time).
 * @param msg the message; must stay valid until step returns the result.
 * @param final 1 to say QUIT behind it (as uavmail_session_send_final()).
 * @return 0, or an error (the message is checked first, as in send).
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_start(uavmail_session *session, uavmail_message *msg,
                                         int final);

/**
 * Make progress on the operation begun with uavmail_session_start().
 * @param session the session.
 * @param want receives UAVMAIL_WANT_READ or UAVMAIL_WANT_WRITE when the
 *        return value is UAVMAIL_EAGAIN.
 * @return UAVMAIL_EAGAIN while in progress; otherwise the result, exactly
 *         as uavmail_session_send() would return it.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_step(uavmail_session *session, int *want);

/**
 * The descriptor to poll while stepping, or -1 (not connected, or a custom
 * transport without fd_fn).
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_fd(const uavmail_session *session);

/**
 * Milliseconds until the current wait times out (call step then: it reports
 * the timeout), or 0 when step should be called at once.
 * @since 0.1.0
 */
UAVMAIL_EXTERN unsigned uavmail_session_timeout_ms(const uavmail_session *session);

/**
 * Say QUIT and close the connection, if one is open.
 * @return 0, or an error if the connection could not be closed cleanly
 *         (delivery results already recorded are not affected).
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_quit(uavmail_session *session);

/**
 * Result for one recipient of the last message sent (after a batch: its
 * last message; see uavmail_session_batch_recipient()).
 * @param session the session.
 * @param index 0 .. count-1.
 * @param address receives the address (owned by the session), or NULL.
 * @param smtp_code receives the server's reply code to RCPT (0: not attempted), or NULL.
 * @param reply receives the server's reply text (owned by the session), or NULL.
 * @return 0, or UAVMAIL_EINVAL when @p index is out of range.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_session_recipient(const uavmail_session *session, size_t index,
                                             const char **address, int *smtp_code,
                                             const char **reply);

/** @return the number of recipients of the last message sent.  @since 0.1.0 */
UAVMAIL_EXTERN size_t uavmail_session_recipient_count(const uavmail_session *session);

/**
 * Detail of the last failed call on @p session.
 * @return detail owned by @p session; valid until the next call on it.
 * @since 0.1.0
 */
UAVMAIL_EXTERN const uavmail_error_detail *uavmail_session_last_error(const uavmail_session *session);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_SESSION_H */
