/*
 * uavmail - error codes and per-handle error detail.
 *
 * Every fallible function returns 0 on success or a negative value of
 * enum uavmail_error.  Codes are never renumbered or reused (ABI.md keeps the
 * registry).  Run-time detail (text, SMTP reply, enhanced status, TLS code,
 * and a hint saying how to fix it) is read from the handle that failed.
 */
#ifndef UAVMAIL_ERROR_H
#define UAVMAIL_ERROR_H

#include "uavmail/common.h"

UAVMAIL_BEGIN_DECLS

/** Error codes.  @since 0.1.0 unless noted. */
enum uavmail_error {
    UAVMAIL_OK = 0,
    UAVMAIL_ENOMEM = -1,          /**< out of memory */
    UAVMAIL_EINVAL = -2,          /**< invalid argument or option */
    UAVMAIL_ESTATE = -3,          /**< call not valid in the handle's current state */
    UAVMAIL_EADDRESS = -4,        /**< malformed e-mail address */
    UAVMAIL_EHEADER = -5,         /**< header name or value not allowed (CR, LF, NUL, ...) */
    UAVMAIL_EENCODING = -6,       /**< text is not valid UTF-8 */
    UAVMAIL_EFILE = -7,           /**< a file (attachment, CA, message) cannot be read */
    UAVMAIL_ETOOBIG = -8,         /**< size limit exceeded (local or server SIZE) */
    UAVMAIL_ERESOLVE = -9,        /**< host name could not be resolved */
    UAVMAIL_ECONNECT = -10,       /**< TCP connection refused or unreachable */
    UAVMAIL_ETIMEOUT = -11,       /**< a protocol phase timed out */
    UAVMAIL_EIO = -12,            /**< connection lost or network I/O failure */
    UAVMAIL_ETLS = -13,           /**< TLS handshake or record failure */
    UAVMAIL_ECERT = -14,          /**< server certificate not accepted */
    UAVMAIL_ENOTLS = -15,         /**< server does not offer TLS where it is required */
    UAVMAIL_EPROTOCOL = -16,      /**< server violated the SMTP protocol */
    UAVMAIL_EINJECTION = -17,     /**< server sent data ahead of the TLS handshake */
    UAVMAIL_EAUTH = -18,          /**< server rejected the credentials */
    UAVMAIL_ENOAUTH = -19,        /**< no usable authentication mechanism */
    UAVMAIL_ETEMPFAIL = -20,      /**< server reported a temporary failure (4xx) */
    UAVMAIL_EPERMFAIL = -21,      /**< server reported a permanent failure (5xx) */
    UAVMAIL_ERECIPIENTS = -22,    /**< some recipients were rejected, others accepted */
    UAVMAIL_EUNKNOWN = -23,       /**< link lost after the message was sent: outcome unknown */
    UAVMAIL_ECONFIG = -24,        /**< configuration cannot work (e.g. CA file unreadable) */
    UAVMAIL_ECALLBACK = -25,      /**< an application callback aborted the operation */
    UAVMAIL_ECLOSED = -26,        /**< server closed the session (421) */
    UAVMAIL_EINTERNAL = -27,      /**< internal error (a bug: please report it) */
    UAVMAIL_EAGAIN = -28,         /**< non-blocking: in progress, call again when ready */
    UAVMAIL_EFULL = -29           /**< the outbox is full (its message or byte limit) */
};

/**
 * Short, static English description of an error code.
 * @param code a value of enum uavmail_error (unknown values are accepted).
 * @return a static NUL-terminated string; never NULL.
 * @since 0.1.0
 */
UAVMAIL_EXTERN const char *uavmail_strerror(int code);

/**
 * Whether an error is worth retrying later unchanged (network trouble, 4xx,
 * outcome unknown) as opposed to needing a fix (bad input, 5xx, credentials,
 * certificate).
 * @param code a value of enum uavmail_error.
 * @return 1 if temporary, 0 otherwise.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_error_is_temporary(int code);

/**
 * Detail of the last failure of one handle.  Obtained from the handle
 * (e.g. uavmail_session_last_error()), owned by it, valid until the next
 * call on that handle.  All string getters return "" rather than NULL.
 * @since 0.1.0
 */
typedef struct uavmail_error_detail uavmail_error_detail;

/** @return the error code (0 when the last call succeeded).  @since 0.1.0 */
UAVMAIL_EXTERN int uavmail_error_code(const uavmail_error_detail *detail);
/** @return human-readable text saying what failed and where.  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_error_message(const uavmail_error_detail *detail);
/** @return a suggestion how to fix the problem, or "".  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_error_hint(const uavmail_error_detail *detail);
/** @return the SMTP reply code involved (e.g. 535), or 0.  @since 0.1.0 */
UAVMAIL_EXTERN int uavmail_error_smtp_code(const uavmail_error_detail *detail);
/** @return the enhanced status code (e.g. "5.7.8"), or "".  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_error_enhanced_code(const uavmail_error_detail *detail);
/** @return the server's reply text (lines joined by "\n"), or "".  @since 0.1.0 */
UAVMAIL_EXTERN const char *uavmail_error_server_reply(const uavmail_error_detail *detail);
/** @return the TLS library's (negative) error code, or 0.  @since 0.1.0 */
UAVMAIL_EXTERN long uavmail_error_tls_code(const uavmail_error_detail *detail);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_ERROR_H */
