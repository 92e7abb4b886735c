/*
 * The library's TLS interface.  tls_mbedtls.c is its only implementation
 * and the only file that includes mbedTLS headers.
 */
#ifndef UAVMAIL_TLS_H
#define UAVMAIL_TLS_H

#include <stddef.h>

#include "internal.h"

/* Byte pipe underneath TLS (the session's transport). */
typedef struct uavmail__bio {
    long (*send)(void *ctx, const unsigned char *buf, size_t len);
    long (*recv)(void *ctx, unsigned char *buf, size_t len, unsigned timeout_ms);
    void *ctx;
} uavmail__bio;

typedef struct uavmail__tls_options {
    const char *cafile;   /* NULL: system bundle (unless capath is set) */
    const char *capath;
    const char *session_file; /* persisted TLS session, or NULL */
    const char *host;     /* the server (binds a resumable session to it) */
    unsigned port;
} uavmail__tls_options;

/* Per-session TLS configuration: trust anchors, RNG, settings. */
typedef struct uavmail__tls_cfg uavmail__tls_cfg;
/* One TLS connection. */
typedef struct uavmail__tls uavmail__tls;

int uavmail__tls_cfg_new(uavmail__tls_cfg **out, const uavmail__alloc *a,
                         const uavmail__tls_options *opts, uavmail_error_detail *err);
void uavmail__tls_cfg_free(uavmail__tls_cfg *cfg);

/* Connect TLS over @p bio and complete the handshake, verifying the
 * certificate chain and that it is for @p host (DNS name or IP literal). */
int uavmail__tls_connect(uavmail__tls **out, uavmail__tls_cfg *cfg, const char *host,
                         const uavmail__bio *bio, unsigned timeout_ms, uavmail_error_detail *err);
/* Send all of @p buf.  Returns 0 or an error. */
int uavmail__tls_send(uavmail__tls *t, const unsigned char *buf, size_t len,
                      uavmail_error_detail *err);
/* Receive up to @p len bytes.  Returns the count, 0 at end of stream, or an error. */
long uavmail__tls_recv(uavmail__tls *t, unsigned char *buf, size_t len, unsigned timeout_ms,
                       uavmail_error_detail *err);
/* Send close_notify (best effort) and free. */
void uavmail__tls_close(uavmail__tls *t);
const char *uavmail__tls_version(const uavmail__tls *t);

const char *uavmail__tls_ciphersuite(const uavmail__tls *t);
/* Whether the handshake resumed an earlier (verified) session. */
int uavmail__tls_resumed(const uavmail__tls *t);
/* Name and version of the TLS library, e.g. "mbedTLS 2.28.3". */
const char *uavmail__tls_library(void);

#endif
