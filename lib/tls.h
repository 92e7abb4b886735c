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
    long (*send)(void *ctx, const unsigned char *buf, size_t len, unsigned timeout_ms);
    long (*recv)(void *ctx, unsigned char *buf, size_t len, unsigned timeout_ms);
    void *ctx;
} uavmail__bio;

typedef struct uavmail__tls_options {
    const char *cafile;   /* NULL: system bundle (unless capath is set) */
    const char *capath;
    const char *session_file; /* persisted TLS session, or NULL */
    const char *host;     /* the server (binds a resumable session to it) */
    unsigned port;
    const char *pins;     /* comma-separated hex SHA-256 of the server's SPKI, or NULL */
    const char *client_cert, *client_key; /* PEM files, or NULL */
    int64_t (*time_cb)(void *ud); /* the application's clock, or NULL */
    void *time_user_data;
} uavmail__tls_options;

/* Per-session TLS configuration: trust anchors, RNG, settings. */
typedef struct uavmail__tls_cfg uavmail__tls_cfg;
/* One TLS connection. */
typedef struct uavmail__tls uavmail__tls;

int uavmail__tls_cfg_new(uavmail__tls_cfg **out, const uavmail__alloc *a,
                         const uavmail__tls_options *opts, uavmail_error_detail *err);
void uavmail__tls_cfg_free(uavmail__tls_cfg *cfg);

/* Set up a TLS connection over @p bio for @p host (DNS name or IP
 * literal); no I/O yet. */
int uavmail__tls_start(uavmail__tls **out, uavmail__tls_cfg *cfg, const char *host,
                       const uavmail__bio *bio, uavmail_error_detail *err);
/* Drive the handshake, verifying the chain and that it is for the host.
 * @p timeout_ms 0 means non-blocking: UAVMAIL_EAGAIN is returned with
 * *want = UAVMAIL_WANT_READ or UAVMAIL_WANT_WRITE.  Returns 0 when done. */
int uavmail__tls_handshake(uavmail__tls *t, unsigned timeout_ms, int *want,
                           uavmail_error_detail *err);
/* Send up to @p len bytes: the count, UAVMAIL_EAGAIN (+*want) or an error.
 * After EAGAIN the same bytes must be offered again. */
long uavmail__tls_send(uavmail__tls *t, const unsigned char *buf, size_t len,
                       unsigned timeout_ms, int *want, uavmail_error_detail *err);
/* Receive up to @p len bytes: the count, 0 at end of stream, UAVMAIL_EAGAIN
 * (+*want), or an error. */
long uavmail__tls_recv(uavmail__tls *t, unsigned char *buf, size_t len, unsigned timeout_ms,
                       int *want, uavmail_error_detail *err);
/* Send close_notify (best effort, only after a completed handshake) and free. */
void uavmail__tls_close(uavmail__tls *t);
const char *uavmail__tls_version(const uavmail__tls *t);

const char *uavmail__tls_ciphersuite(const uavmail__tls *t);
/* Whether the handshake resumed an earlier (verified) session. */
int uavmail__tls_resumed(const uavmail__tls *t);
/* What a handshake showed of the server (filled on success and on a
 * certificate failure alike, for the probe). */
typedef struct uavmail__tls_report {
    int handshake_done;
    int verified;
    int resumed;
    char version[16];
    char ciphersuite[64];
    char subject[160];
    char issuer[160];
    char not_before[24];
    char not_after[24];
    char names[200];
} uavmail__tls_report;

void uavmail__tls_report_get(const uavmail__tls *t, uavmail__tls_report *r);

/* Cryptographic primitives from the same library, for SCRAM (RFC 5802). */
int uavmail__crypto_sha256(const void *in, size_t n, unsigned char out[32]);
int uavmail__crypto_hmac_sha256(const void *key, size_t klen, const void *in, size_t n,
                                unsigned char out[32]);
int uavmail__crypto_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                                  unsigned iterations, unsigned char out[32]);

/* Name and version of the TLS library, e.g. "mbedTLS 2.28.3". */
const char *uavmail__tls_library(void);

#endif
