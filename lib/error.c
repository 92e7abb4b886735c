/*
 * Error codes, their descriptions and per-handle error detail.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *uavmail_strerror(int code)
{
    switch (code) {
    case UAVMAIL_OK: return "success";
    case UAVMAIL_ENOMEM: return "out of memory";
    case UAVMAIL_EINVAL: return "invalid argument";
    case UAVMAIL_ESTATE: return "operation not valid in the current state";
    case UAVMAIL_EADDRESS: return "malformed e-mail address";
    case UAVMAIL_EHEADER: return "header name or value not allowed";
    case UAVMAIL_EENCODING: return "text is not valid UTF-8";
    case UAVMAIL_EFILE: return "file cannot be read";
    case UAVMAIL_ETOOBIG: return "size limit exceeded";
    case UAVMAIL_ERESOLVE: return "host name could not be resolved";
    case UAVMAIL_ECONNECT: return "connection failed";
    case UAVMAIL_ETIMEOUT: return "timed out";
    case UAVMAIL_EIO: return "connection lost";
    case UAVMAIL_ETLS: return "TLS failure";
    case UAVMAIL_ECERT: return "server certificate not accepted";
    case UAVMAIL_ENOTLS: return "server does not offer TLS";
    case UAVMAIL_EPROTOCOL: return "SMTP protocol violation by the server";
    case UAVMAIL_EINJECTION: return "server sent data ahead of the TLS handshake";
    case UAVMAIL_EAUTH: return "authentication failed";
    case UAVMAIL_ENOAUTH: return "no usable authentication mechanism";
    case UAVMAIL_ETEMPFAIL: return "temporary failure reported by the server";
    case UAVMAIL_EPERMFAIL: return "permanent failure reported by the server";
    case UAVMAIL_ERECIPIENTS: return "some recipients were rejected";
    case UAVMAIL_EUNKNOWN: return "connection lost after sending: outcome unknown";
    case UAVMAIL_ECONFIG: return "configuration error";
    case UAVMAIL_ECALLBACK: return "aborted by a callback";
    case UAVMAIL_ECLOSED: return "server closed the session";
    case UAVMAIL_EINTERNAL: return "internal error";
    case UAVMAIL_EAGAIN: return "in progress: call again when the descriptor is ready";
    case UAVMAIL_EFULL: return "the outbox is full";
    default: return "unknown error";
    }
}

int uavmail_error_is_temporary(int code)
{
    switch (code) {
    case UAVMAIL_ERESOLVE:
    case UAVMAIL_ECONNECT:
    case UAVMAIL_ETIMEOUT:
    case UAVMAIL_EIO:
    case UAVMAIL_ETEMPFAIL:
    case UAVMAIL_EUNKNOWN:
    case UAVMAIL_ECLOSED:
    case UAVMAIL_ENOMEM:
        return 1;
    default:
        return 0;
    }
}

void uavmail__err_clear(uavmail_error_detail *e)
{
    e->code = 0;
    e->smtp_code = 0;
    e->tls_code = 0;
    e->enhanced[0] = '\0';
    e->message[0] = '\0';
    e->hint[0] = '\0';
    e->reply[0] = '\0';
}

#if UAVMAIL_ERROR_TEXTS
int uavmail__err_vset(uavmail_error_detail *e, int code, const char *fmt, va_list ap)
{
    uavmail__err_clear(e);
    e->code = code;
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    return code;
}

int uavmail__err_set(uavmail_error_detail *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uavmail__err_vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void uavmail__err_hint(uavmail_error_detail *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof e->hint, fmt, ap);
    va_end(ap);
}
#else
/* The macro of internal.h hides this name from the library's own calls. */
int (uavmail__err_set)(uavmail_error_detail *e, int code, const char *fmt, ...)
{
    (void)fmt;
    return uavmail__err_code(e, code);
}
#endif

int uavmail__err_code(uavmail_error_detail *e, int code)
{
    uavmail__err_clear(e);
    e->code = code;
    return code;
}

void uavmail__err_reply(uavmail_error_detail *e, int smtp_code, const char *enhanced,
                        const char *text)
{
    e->smtp_code = smtp_code;
    uavmail__strlcpy(e->enhanced, enhanced ? enhanced : "", sizeof e->enhanced);
    uavmail__strlcpy(e->reply, text ? text : "", sizeof e->reply);
}

void uavmail__err_copy(uavmail_error_detail *dst, const uavmail_error_detail *src)
{
    if (dst != src)
        memcpy(dst, src, sizeof *dst);
}

int uavmail_error_code(const uavmail_error_detail *d)
{
    return d ? d->code : 0;
}

const char *uavmail_error_message(const uavmail_error_detail *d)
{
    if (d == NULL)
        return "";
    if (d->message[0] == '\0' && d->code != 0)
        return uavmail_strerror(d->code);
    return d->message;
}

const char *uavmail_error_hint(const uavmail_error_detail *d)
{
    return d ? d->hint : "";
}

int uavmail_error_smtp_code(const uavmail_error_detail *d)
{
    return d ? d->smtp_code : 0;
}

const char *uavmail_error_enhanced_code(const uavmail_error_detail *d)
{
    return d ? d->enhanced : "";
}

const char *uavmail_error_server_reply(const uavmail_error_detail *d)
{
    return d ? d->reply : "";
}

long uavmail_error_tls_code(const uavmail_error_detail *d)
{
    return d ? d->tls_code : 0;
}
