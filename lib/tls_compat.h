/*
 * mbedTLS version differences, kept to this header (included only by
 * tls_mbedtls.c).  2.28 LTS is the baseline; 3.6 LTS needs the few
 * adjustments below.
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

#endif
