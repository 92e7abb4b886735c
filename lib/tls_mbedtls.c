/*
 * TLS through mbedTLS (2.28 LTS; 3.x through tls_compat.h).  Every mbedTLS
 * call of the library is in this file.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "platform.h"
#include "tls.h"
#include "tls_compat.h"

#if defined(MBEDTLS_SSL_CLI_ALLOW_WEAK_CERTIFICATE_VERIFICATION_WITHOUT_HOSTNAME)
#error "TLS-08: mbedTLS must not allow verification without a host name"
#endif

struct uavmail__tls_cfg {
    const uavmail__alloc *alloc;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    /* Session resumption: one session, bound to host, port and CA settings. */
    mbedtls_ssl_session saved;
    int have_saved;
    char *session_file;
    char key[600];
    /* SPKI SHA-256 pins (up to 8) and the optional client identity. */
    unsigned char pins[8][32];
    size_t npins;
    mbedtls_x509_crt own_cert;
    mbedtls_pk_context own_key;
    int have_own_cert;
    int64_t (*time_cb)(void *ud);
    void *time_user_data;
};

/* CTR_DRBG is seeded (and reseeded) straight from the operating system's
 * generator (getrandom, /dev/urandom, BCryptGenRandom), which is what
 * mbedTLS's entropy collector would poll on these systems; skipping the
 * collector saves its 38 KB context per session. */
static int os_entropy(void *unused, unsigned char *buf, size_t n)
{
    (void)unused;
    return uavmail__plat_random(buf, n) == 0 ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}

#define SESSION_MAGIC "uavmail-tls-session-1\n"

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* "hex,hex,..." of 64 hex digits each (colons allowed between bytes). */
static int parse_pins(uavmail__tls_cfg *c, const char *s)
{
    while (*s) {
        size_t n = 0;
        if (c->npins == UAVMAIL__ARRAY_LEN(c->pins))
            return -1;
        while (*s && *s != ',') {
            int hi, lo;
            if (*s == ':' || *s == ' ') {
                s++;
                continue;
            }
            hi = hexval((unsigned char)s[0]);
            lo = s[1] ? hexval((unsigned char)s[1]) : -1;
            if (hi < 0 || lo < 0 || n == 32)
                return -1;
            c->pins[c->npins][n++] = (unsigned char)(hi * 16 + lo);
            s += 2;
        }
        if (n != 32)
            return -1;
        c->npins++;
        if (*s == ',')
            s++;
    }
    return c->npins ? 0 : -1;
}

/* Seconds since 1970 of an X.509 time (proleptic Gregorian, UTC). */
static int64_t x509_epoch(const mbedtls_x509_time *t)
{
    int64_t y = t->year - (t->mon <= 2), era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400, m = t->mon;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + t->day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = era * 146097 + doe - 719468;
    return days * 86400 + t->hour * 3600 + t->min * 60 + t->sec;
}

/* Load a persisted session if it was made for the same server and trust. */
static void session_load(uavmail__tls_cfg *c)
{
    uavmail__file *f;
    char why[64];
    unsigned char *buf;
    size_t cap = 8192, n = 0, hdr = strlen(SESSION_MAGIC) + strlen(c->key) + 1;
    long r;
    if (uavmail__plat_file_open(&f, c->alloc, c->session_file, why, sizeof why) != 0)
        return;
    buf = uavmail__malloc(c->alloc, cap);
    while (buf != NULL && n < cap && (r = uavmail__plat_file_read(f, buf + n, cap - n)) > 0)
        n += (size_t)r;
    uavmail__plat_file_close(f);
    if (buf != NULL && n > hdr && memcmp(buf, SESSION_MAGIC, strlen(SESSION_MAGIC)) == 0 &&
        memcmp(buf + strlen(SESSION_MAGIC), c->key, strlen(c->key)) == 0 &&
        buf[hdr - 1] == '\n' &&
        mbedtls_ssl_session_load(&c->saved, buf + hdr, n - hdr) == 0)
        c->have_saved = 1;
    if (buf != NULL)
        uavmail__free_secret(c->alloc, buf, cap);
}

/* Persist the session (it holds the master secret: owner-only file). */
static void session_store(uavmail__tls_cfg *c)
{
    uavmail__wfile *f;
    char why[64];
    size_t cap = 8192, n = 0, hdr = strlen(SESSION_MAGIC) + strlen(c->key) + 1;
    unsigned char *buf = uavmail__malloc(c->alloc, cap);
    if (buf == NULL)
        return;
    memcpy(buf, SESSION_MAGIC, strlen(SESSION_MAGIC));
    memcpy(buf + strlen(SESSION_MAGIC), c->key, strlen(c->key));
    buf[hdr - 1] = '\n';
    if (mbedtls_ssl_session_save(&c->saved, buf + hdr, cap - hdr, &n) == 0 &&
        uavmail__plat_wfile_open(&f, c->alloc, c->session_file, 1, why, sizeof why) == 0) {
        int ok = uavmail__plat_wfile_write(f, buf, hdr + n) == 0;
        uavmail__plat_wfile_close(f, ok, why, sizeof why);
    }
    uavmail__free_secret(c->alloc, buf, cap);
}

/* What the verify callback saw of the server's certificate. */
typedef struct peer_info {
    const uavmail__tls_cfg *cfg;
    const char *host;
    int pin_mismatch;
    int64_t now;                 /* the time the chain was checked against */
    int host_is_ip;
    unsigned char ip[16];
    size_t ip_len;
    int seen;
    int self_signed;
    char subject[160];
    char issuer[160];
    char names[200];
    char valid_from[24];
    char valid_to[24];
} peer_info;

struct uavmail__tls {
    uavmail__tls_cfg *cfg;
    mbedtls_ssl_context ssl;
    uavmail__bio bio;
    unsigned timeout_ms; /* 0: non-blocking */
    int io_error;        /* uavmail error from the transport, if any */
    int established;
    peer_info peer;
};

int uavmail__crypto_sha256(const void *in, size_t n, unsigned char out[32])
{
    return uavmail__tls_sha256(in, n, out);
}

int uavmail__crypto_hmac_sha256(const void *key, size_t klen, const void *in, size_t n,
                                unsigned char out[32])
{
    return mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, klen, in, n, out);
}

int uavmail__crypto_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                                  unsigned iterations, unsigned char out[32])
{
    return uavmail__tls_pbkdf2_sha256(pw, pwlen, salt, saltlen, iterations, out);
}

const char *uavmail__tls_library(void)
{
    return "mbedTLS " MBEDTLS_VERSION_STRING;
}

static void describe_mbedtls(uavmail_error_detail *err, int code, const char *what)
{
    char buf[160];
    mbedtls_strerror(code, buf, sizeof buf);
    uavmail__err_set(err, UAVMAIL_ETLS, "%s: %s (mbedTLS -0x%04X)", what, buf, (unsigned)-code);
    err->tls_code = code;
}

int uavmail__tls_cfg_new(uavmail__tls_cfg **out, const uavmail__alloc *a,
                         const uavmail__tls_options *opts, uavmail_error_detail *err)
{
    static const char pers[] = "uavmail";
    uavmail__tls_cfg *c;
    int rc;
    *out = NULL;
    c = uavmail__calloc(a, 1, sizeof *c);
    if (c == NULL)
        return uavmail__err_set(err, UAVMAIL_ENOMEM, "out of memory setting up TLS");
    c->alloc = a;
    mbedtls_ctr_drbg_init(&c->drbg);
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ssl_config_init(&c->conf);
    mbedtls_ssl_session_init(&c->saved);
    mbedtls_x509_crt_init(&c->own_cert);
    mbedtls_pk_init(&c->own_key);
    c->time_cb = opts->time_cb;
    c->time_user_data = opts->time_user_data;
    if (opts->pins != NULL && parse_pins(c, opts->pins) != 0) {
        uavmail__err_set(err, UAVMAIL_ECONFIG,
                         "certificate pin \"%.80s\" is not a list of hex SHA-256 digests",
                         opts->pins);
        goto fail;
    }
    uavmail__snprintf(c->key, sizeof c->key, "%s:%u ca=%s capath=%s pins=%s cert=%s",
                      opts->host ? opts->host : "", opts->port,
                      opts->cafile ? opts->cafile : "(system)", opts->capath ? opts->capath : "",
                      opts->pins ? opts->pins : "", opts->client_cert ? opts->client_cert : "");
    if (opts->session_file != NULL) {
        c->session_file = uavmail__strdup(a, opts->session_file);
        if (c->session_file == NULL) {
            uavmail__err_set(err, UAVMAIL_ENOMEM, "out of memory setting up TLS");
            goto fail;
        }
        session_load(c);
    }

    rc = mbedtls_ctr_drbg_seed(&c->drbg, os_entropy, NULL, (const unsigned char *)pers,
                               sizeof pers - 1);
    if (rc != 0) {
        describe_mbedtls(err, rc, "seeding the random generator failed");
        goto fail;
    }
    if (opts->cafile != NULL) {
        rc = mbedtls_x509_crt_parse_file(&c->ca, opts->cafile);
        if (rc < 0) {
            uavmail__err_set(err, UAVMAIL_ECONFIG,
                             "cannot load CA certificates from \"%s\" (mbedTLS -0x%04X)",
                             opts->cafile, (unsigned)-rc);
            err->tls_code = rc;
            uavmail__err_hint(err, "the CA file must exist and hold PEM certificates");
            goto fail;
        }
    }
    if (opts->capath != NULL) {
        rc = mbedtls_x509_crt_parse_path(&c->ca, opts->capath);
        if (rc < 0) {
            uavmail__err_set(err, UAVMAIL_ECONFIG,
                             "cannot load CA certificates from directory \"%s\"", opts->capath);
            err->tls_code = rc;
            goto fail;
        }
    }
    if (opts->cafile == NULL && opts->capath == NULL) {
        const char *bundle = uavmail__plat_default_ca_bundle();
        rc = bundle ? mbedtls_x509_crt_parse_file(&c->ca, bundle) : -1;
        if (rc < 0) {
            uavmail__err_set(err, UAVMAIL_ECONFIG,
                             "no system CA bundle found to verify servers with");
            uavmail__err_hint(err, "install ca-certificates or give a CA file (--cafile)");
            goto fail;
        }
    }
    rc = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
                                     MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) {
        describe_mbedtls(err, rc, "TLS configuration failed");
        goto fail;
    }
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED); /* TLS-08 */
    if (opts->client_cert != NULL) {
        rc = mbedtls_x509_crt_parse_file(&c->own_cert, opts->client_cert);
        if (rc == 0)
            rc = uavmail__tls_pk_parse_keyfile(&c->own_key, opts->client_key, &c->drbg);
        if (rc == 0)
            rc = mbedtls_ssl_conf_own_cert(&c->conf, &c->own_cert, &c->own_key);
        if (rc != 0) {
            uavmail__err_set(err, UAVMAIL_ECONFIG,
                             "cannot load the client certificate \"%s\" or its key \"%s\" "
                             "(mbedTLS -0x%04X)",
                             opts->client_cert, opts->client_key, (unsigned)-rc);
            err->tls_code = rc;
            goto fail;
        }
        c->have_own_cert = 1;
    }
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_ctr_drbg_random, &c->drbg);
    uavmail__tls_conf_min_tls12(&c->conf); /* TLS-12 */
    *out = c;
    return 0;
fail:
    uavmail__tls_cfg_free(c);
    return err->code;
}

void uavmail__tls_cfg_free(uavmail__tls_cfg *c)
{
    if (c == NULL)
        return;
    mbedtls_ssl_session_free(&c->saved);
    mbedtls_x509_crt_free(&c->own_cert);
    mbedtls_pk_free(&c->own_key);
    uavmail__free(c->alloc, c->session_file);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    mbedtls_ctr_drbg_free(&c->drbg);
    uavmail__free(c->alloc, c);
}

/* ---- BIO glue: mbedTLS <-> the session's transport ------------------------ */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    uavmail__tls *t = ctx;
    long n = t->bio.send(t->bio.ctx, buf, len, t->timeout_ms);
    if (n >= 0)
        return (int)n;
    if (n == UAVMAIL_ETIMEOUT && t->timeout_ms == 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE; /* non-blocking: try again later */
    t->io_error = (int)n;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
    uavmail__tls *t = ctx;
    long n;
    (void)timeout; /* the per-phase timeout of the session applies */
    n = t->bio.recv(t->bio.ctx, buf, len, t->timeout_ms);
    if (n >= 0)
        return (int)n;
    if (n == UAVMAIL_ETIMEOUT && t->timeout_ms == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    t->io_error = (int)n;
    return n == UAVMAIL_ETIMEOUT ? MBEDTLS_ERR_SSL_TIMEOUT : MBEDTLS_ERR_NET_RECV_FAILED;
}

static int want_of(int rc)
{
    return rc == MBEDTLS_ERR_SSL_WANT_WRITE ? UAVMAIL_WANT_WRITE : UAVMAIL_WANT_READ;
}

/* ---- verification --------------------------------------------------------- */

static void fmt_time(char *out, size_t cap, const mbedtls_x509_time *tm)
{
    uavmail__snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02dZ", tm->year, tm->mon, tm->day,
                      tm->hour, tm->min, tm->sec);
}

static void collect_names(peer_info *p, const mbedtls_x509_crt *crt)
{
    const mbedtls_x509_sequence *s = &crt->subject_alt_names;
    size_t used = 0;
    p->names[0] = '\0';
    for (; s != NULL && s->buf.p != NULL; s = s->next) {
        char one[80];
        int tag = s->buf.tag & 0x1F;
        if (tag == 2) /* dNSName */
            uavmail__snprintf(one, sizeof one, "%.*s", (int)s->buf.len, (const char *)s->buf.p);
        else if (tag == 7 && s->buf.len == 4) /* iPAddress v4 */
            uavmail__snprintf(one, sizeof one, "%u.%u.%u.%u", s->buf.p[0], s->buf.p[1],
                              s->buf.p[2], s->buf.p[3]);
        else if (tag == 7 && s->buf.len == 16)
            uavmail__strlcpy(one, "(IPv6 address)", sizeof one);
        else
            continue;
        if (used + strlen(one) + 3 >= sizeof p->names)
            break;
        used += (size_t)uavmail__snprintf(p->names + used, sizeof p->names - used, "%s%s",
                                          used ? ", " : "", one);
    }
}

/* RFC 6125: an IP literal host matches only an iPAddress SAN with the same
 * bytes.  mbedTLS 2.28 compares DNS names only, so this is done here. */
static int ip_san_matches(const peer_info *p, const mbedtls_x509_crt *crt)
{
    const mbedtls_x509_sequence *s;
    for (s = &crt->subject_alt_names; s != NULL && s->buf.p != NULL; s = s->next)
        if ((s->buf.tag & 0x1F) == 7 && s->buf.len == p->ip_len &&
            memcmp(s->buf.p, p->ip, p->ip_len) == 0)
            return 1;
    return 0;
}

static int pin_matches(const uavmail__tls_cfg *c, mbedtls_x509_crt *crt)
{
    unsigned char der[1024], digest[32];
    int len = mbedtls_pk_write_pubkey_der(&crt->pk, der, sizeof der);
    size_t i;
    if (len <= 0 || uavmail__tls_sha256(der + sizeof der - len, (size_t)len, digest) != 0)
        return 0;
    for (i = 0; i < c->npins; i++)
        if (memcmp(c->pins[i], digest, 32) == 0)
            return 1;
    return 0;
}

static int verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    peer_info *p = ctx;
    if (p->cfg->time_cb != NULL && p->now >= 0) {
        /* Validity against the application's clock (GPS time), not the
         * system's, which may be unset on a drone without RTC. */
        *flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE);
        if (p->now > x509_epoch(&crt->valid_to))
            *flags |= MBEDTLS_X509_BADCERT_EXPIRED;
        if (p->now < x509_epoch(&crt->valid_from))
            *flags |= MBEDTLS_X509_BADCERT_FUTURE;
    }
    if (depth != 0)
        return 0;
    if (p->cfg->npins != 0 && !pin_matches(p->cfg, crt)) {
        p->pin_mismatch = 1;
        *flags |= MBEDTLS_X509_BADCERT_OTHER;
    }
    p->seen = 1;
    mbedtls_x509_dn_gets(p->subject, sizeof p->subject, &crt->subject);
    mbedtls_x509_dn_gets(p->issuer, sizeof p->issuer, &crt->issuer);
    p->self_signed = crt->subject_raw.len == crt->issuer_raw.len &&
                     memcmp(crt->subject_raw.p, crt->issuer_raw.p, crt->issuer_raw.len) == 0;
    fmt_time(p->valid_from, sizeof p->valid_from, &crt->valid_from);
    fmt_time(p->valid_to, sizeof p->valid_to, &crt->valid_to);
    collect_names(p, crt);
    if (p->host_is_ip) {
        if (ip_san_matches(p, crt))
            *flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
        else
            *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    }
    return 0;
}

static void describe_cert_failure(uavmail__tls *t, uint32_t flags, const char *host,
                                  uavmail_error_detail *err)
{
    const peer_info *p = &t->peer;
    int64_t now = p->now;
    uavmail__err_set(err, UAVMAIL_ECERT, "certificate of %s not accepted", host);
    if (p->pin_mismatch && !(flags & ~(uint32_t)MBEDTLS_X509_BADCERT_OTHER)) {
        uavmail__err_set(err, UAVMAIL_ECERT,
                         "the public key of %s does not match the configured pin", host);
        uavmail__err_hint(err, "the server's key changed, or this is not your relay; update "
                               "the pin only if you expected the change");
    } else if ((flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)) &&
               now < (int64_t)1577836800 /* 2020-01-01 */) {
        uavmail__err_set(err, UAVMAIL_ECERT,
                         "certificate of %s cannot be checked: the system clock is not set "
                         "(it is before 2020)",
                         host);
        uavmail__err_hint(err, "set the clock (GPS time, NTP or an RTC) before sending");
    } else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
        if (p->self_signed)
            uavmail__err_set(err, UAVMAIL_ECERT,
                             "certificate of %s is self-signed (subject \"%s\")", host,
                             p->subject);
        else
            uavmail__err_set(err, UAVMAIL_ECERT,
                             "certificate of %s is issued by \"%s\", which is not a trusted CA",
                             host, p->issuer);
        uavmail__err_hint(err, "give the CA that issued the server's certificate with --cafile, "
                               "or check you are talking to the right server");
    } else if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
        uavmail__err_set(err, UAVMAIL_ECERT, "certificate of %s expired on %s", host,
                         p->valid_to);
        uavmail__err_hint(err, "the server's certificate must be renewed (or this machine's "
                               "clock is wrong)");
    } else if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
        uavmail__err_set(err, UAVMAIL_ECERT, "certificate of %s is not valid before %s", host,
                         p->valid_from);
        uavmail__err_hint(err, "check this machine's clock");
    } else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
        uavmail__err_set(err, UAVMAIL_ECERT,
                         "certificate is for %s, not for %s%s", p->names[0] ? p->names : p->subject,
                         host, t->peer.host_is_ip ? " (an IP address needs an IP SAN)" : "");
        uavmail__err_hint(err, "connect with the host name the certificate was issued for");
    } else {
        char info[256];
        mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        uavmail__err_set(err, UAVMAIL_ECERT, "certificate of %s not accepted: %s", host, info);
    }
    err->tls_code = MBEDTLS_ERR_X509_CERT_VERIFY_FAILED;
}

static int tls_fail(uavmail__tls *t, int rc, const char *what, uavmail_error_detail *err)
{
    if (rc == MBEDTLS_ERR_SSL_TIMEOUT || t->io_error == UAVMAIL_ETIMEOUT) {
        uavmail__err_set(err, UAVMAIL_ETIMEOUT, "%s: timed out", what);
        err->tls_code = rc;
        return UAVMAIL_ETIMEOUT;
    }
    if (t->io_error != 0) {
        uavmail__err_set(err, UAVMAIL_EIO, "%s: connection lost", what);
        err->tls_code = rc;
        return UAVMAIL_EIO;
    }
    describe_mbedtls(err, rc, what);
    return UAVMAIL_ETLS;
}

int uavmail__tls_start(uavmail__tls **out, uavmail__tls_cfg *cfg, const char *host,
                       const uavmail__bio *bio, uavmail_error_detail *err)
{
    uavmail__tls *t;
    int rc;
    *out = NULL;
    t = uavmail__calloc(cfg->alloc, 1, sizeof *t);
    if (t == NULL)
        return uavmail__err_set(err, UAVMAIL_ENOMEM, "out of memory starting TLS");
    t->cfg = cfg;
    t->bio = *bio;
    t->peer.cfg = cfg;
    t->peer.host = host;
    t->peer.now = cfg->time_cb ? cfg->time_cb(cfg->time_user_data) : (int64_t)time(NULL);
    if (t->peer.now < 0)
        t->peer.now = (int64_t)time(NULL);
    t->peer.ip_len = uavmail__plat_parse_ip(host, t->peer.ip);
    t->peer.host_is_ip = t->peer.ip_len != 0;
    mbedtls_ssl_init(&t->ssl);
    rc = mbedtls_ssl_setup(&t->ssl, &cfg->conf);
    if (rc == 0)
        rc = mbedtls_ssl_set_hostname(&t->ssl, host); /* TLS-08: always, IPs included */
    if (rc != 0) {
        describe_mbedtls(err, rc, "TLS setup failed");
        uavmail__tls_close(t);
        return UAVMAIL_ETLS;
    }
    mbedtls_ssl_set_verify(&t->ssl, verify_cb, &t->peer);
    mbedtls_ssl_set_bio(&t->ssl, t, bio_send, NULL, bio_recv_timeout);
    if (cfg->have_saved)
        (void)mbedtls_ssl_set_session(&t->ssl, &cfg->saved); /* offer resumption */
    *out = t;
    return 0;
}

int uavmail__tls_handshake(uavmail__tls *t, unsigned timeout_ms, int *want,
                           uavmail_error_detail *err)
{
    uavmail__tls_cfg *cfg = t->cfg;
    int rc;
    t->timeout_ms = timeout_ms;
    t->io_error = 0;
    while ((rc = mbedtls_ssl_handshake(&t->ssl)) != 0) {
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (timeout_ms != 0)
                continue;
            *want = want_of(rc);
            return UAVMAIL_EAGAIN;
        }
        if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            describe_cert_failure(t, mbedtls_ssl_get_verify_result(&t->ssl), t->peer.host, err);
            return UAVMAIL_ECERT;
        }
        rc = tls_fail(t, rc, "TLS handshake failed", err);
        if (uavmail__tls_server_asked_cert(&t->ssl) && !cfg->have_own_cert)
            uavmail__err_hint(err, "the server asked for a client certificate and none is "
                                   "configured: set client_cert and client_key "
                                   "(CLI: --client-cert FILE --client-key FILE)");
        else if (rc == UAVMAIL_ETLS)
            uavmail__err_hint(err, "if the server speaks plain SMTP on this port, use "
                                   "STARTTLS (usually port 587) instead of implicit TLS");
        return rc;
    }
    t->established = 1;
    /* Keep the (verified) session for the next connection. */
    mbedtls_ssl_session_free(&cfg->saved);
    mbedtls_ssl_session_init(&cfg->saved);
    cfg->have_saved = mbedtls_ssl_get_session(&t->ssl, &cfg->saved) == 0;
    if (cfg->have_saved && cfg->session_file != NULL)
        session_store(cfg);
    return 0;
}

long uavmail__tls_send(uavmail__tls *t, const unsigned char *buf, size_t len,
                       unsigned timeout_ms, int *want, uavmail_error_detail *err)
{
    t->timeout_ms = timeout_ms;
    t->io_error = 0;
    for (;;) {
        int rc = mbedtls_ssl_write(&t->ssl, buf, len);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (timeout_ms != 0)
                continue;
            *want = want_of(rc);
            return UAVMAIL_EAGAIN;
        }
        if (rc < 0)
            return tls_fail(t, rc, "TLS write failed", err);
        return rc;
    }
}

long uavmail__tls_recv(uavmail__tls *t, unsigned char *buf, size_t len, unsigned timeout_ms,
                       int *want, uavmail_error_detail *err)
{
    t->timeout_ms = timeout_ms;
    t->io_error = 0;
    for (;;) {
        int rc = mbedtls_ssl_read(&t->ssl, buf, len);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if (timeout_ms != 0)
                continue;
            *want = want_of(rc);
            return UAVMAIL_EAGAIN;
        }
        if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || rc == 0)
            return 0;
        if (rc < 0)
            return tls_fail(t, rc, "TLS read failed", err);
        return rc;
    }
}

void uavmail__tls_close(uavmail__tls *t)
{
    const uavmail__alloc *a;
    if (t == NULL)
        return;
    a = t->cfg->alloc;
    if (t->established) {
        t->timeout_ms = 1000;
        (void)mbedtls_ssl_close_notify(&t->ssl);
    }
    mbedtls_ssl_free(&t->ssl);
    uavmail__free(a, t);
}

const char *uavmail__tls_version(const uavmail__tls *t)
{
    return mbedtls_ssl_get_version(&t->ssl);
}

void uavmail__tls_report_get(const uavmail__tls *t, uavmail__tls_report *r)
{
    memset(r, 0, sizeof *r);
    if (t == NULL)
        return;
    r->handshake_done = t->established;
    r->verified = t->established;
    r->resumed = t->established && !t->peer.seen;
    if (t->established) {
        uavmail__strlcpy(r->version, mbedtls_ssl_get_version(&t->ssl), sizeof r->version);
        uavmail__strlcpy(r->ciphersuite, mbedtls_ssl_get_ciphersuite(&t->ssl),
                         sizeof r->ciphersuite);
    }
    uavmail__strlcpy(r->subject, t->peer.subject, sizeof r->subject);
    uavmail__strlcpy(r->issuer, t->peer.issuer, sizeof r->issuer);
    uavmail__strlcpy(r->not_before, t->peer.valid_from, sizeof r->not_before);
    uavmail__strlcpy(r->not_after, t->peer.valid_to, sizeof r->not_after);
    uavmail__strlcpy(r->names, t->peer.names, sizeof r->names);
}

int uavmail__tls_resumed(const uavmail__tls *t)
{
    /* A resumed handshake carries no certificate to verify. */
    return !t->peer.seen;
}

const char *uavmail__tls_ciphersuite(const uavmail__tls *t)
{
    return mbedtls_ssl_get_ciphersuite(&t->ssl);
}
