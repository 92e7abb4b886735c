/*
 * mbedTLS version differences, kept to this header (included only by
 * tls_mbedtls.c).  2.28 LTS is the baseline; 3.6 LTS needs the few
 * adjustments below (plus MBEDTLS_PRIVATE access to certificate fields).
 */
#ifndef UAVMAIL_TLS_COMPAT_H
#define UAVMAIL_TLS_COMPAT_H

#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER >= 0x03000000
#include <mbedtls/build_info.h>
#else
#include <mbedtls/config.h>
#endif

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h> /* MBEDTLS_ERR_NET_* codes only */
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

static inline void uavmail__tls_conf_min_tls12(mbedtls_ssl_config *conf)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

/* 1 if the server sent a CertificateRequest during the handshake (2.28 keeps
 * it in a public field; 3.x hides it: then 0, "unknown", and no hint). */
static inline int uavmail__tls_server_asked_cert(const mbedtls_ssl_context *ssl)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    (void)ssl;
    return 0;
#else
    return ssl->client_auth != 0;
#endif
}

static inline int uavmail__tls_pk_parse_keyfile(mbedtls_pk_context *pk, const char *path,
                                                mbedtls_ctr_drbg_context *drbg)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_pk_parse_keyfile(pk, path, NULL, mbedtls_ctr_drbg_random, drbg);
#else
    (void)drbg;
    return mbedtls_pk_parse_keyfile(pk, path, NULL);
#endif
}

static inline int uavmail__tls_pbkdf2_sha256(const unsigned char *pw, size_t pwlen,
                                             const unsigned char *salt, size_t saltlen,
                                             unsigned iterations, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, pw, pwlen, salt, saltlen, iterations,
                                         32, out);
#else
    mbedtls_md_context_t md;
    int rc;
    mbedtls_md_init(&md);
    rc = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rc == 0)
        rc = mbedtls_pkcs5_pbkdf2_hmac(&md, pw, pwlen, salt, saltlen, iterations, 32, out);
    mbedtls_md_free(&md);
    return rc;
#endif
}

static inline int uavmail__tls_sha256(const unsigned char *in, size_t n, unsigned char out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_sha256(in, n, out, 0);
#else
    return mbedtls_sha256_ret(in, n, out, 0);
#endif
}

#endif
