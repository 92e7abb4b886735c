#define _POSIX_C_SOURCE 200809L
/*
 * cipher_cost: the pure cipher work mbedtls_ssl_write does for N bytes.
 *
 *   cipher_cost [--record BYTES] [--repeat R] N CIPHER
 *
 * CIPHER is an mbedTLS cipher name (AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305,
 * AES-128-CCM, ...) or a TLS 1.2 ciphersuite name as `uavmail send --trace` prints
 * it (TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384), which is mapped to its cipher.
 *
 * The N bytes are cut into TLS records of --record plaintext bytes (default 16384,
 * the TLS maximum and mbedTLS's MBEDTLS_SSL_OUT_CONTENT_LEN), and each record is
 * sealed the way mbedTLS 2.28's ssl_encrypt_buf does for TLS 1.2 AEAD suites:
 * its own nonce and 13-byte additional data (sequence number, type, version,
 * length) and a 16-byte tag, through mbedtls_cipher_auth_encrypt_ext.  Only the
 * record loop is timed, in process CPU time (CLOCK_PROCESS_CPUTIME_ID); key setup
 * is not.  With --repeat the loop runs R times and the fastest run is reported,
 * the usual way to take scheduler noise out of a CPU-bound loop.
 *
 * Encryption goes from a plaintext buffer into a separate record buffer: the same
 * memory traffic as mbedTLS's copy of the caller's data into out_msg followed by
 * in-place encryption, minus the call overhead.  The plaintext buffer is one record
 * long and reused (the caller's data would be in cache too: records are 16 KiB).
 *
 * Output, one line on stdout:
 *   cipher=AES-256-GCM bytes=N records=R record_size=16384 cpu_s=0.123456 MB_per_s=812.3
 * (MB = 10^6 bytes).  Exit status 2 on usage errors, 1 on mbedTLS errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/cipher.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_MAJOR >= 3
#define SUITE_CIPHER(cs) ((cs)->MBEDTLS_PRIVATE(cipher)) /* no public getter in 3.x */
#else
#define SUITE_CIPHER(cs) ((cs)->cipher)
#endif

#define TAG_LEN 16
#define AAD_LEN 13        /* seq_num(8) type(1) version(2) length(2), RFC 5246 6.2.3.3 */
#define MAX_RECORD 16384  /* TLS plaintext limit, RFC 5246 6.2.1 */

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: cipher_cost [--record BYTES] [--repeat R] N CIPHER\n"
                    "  CIPHER: AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305, ... or a TLS\n"
                    "  ciphersuite name such as TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384\n");
    return 2;
}

static int parse_size(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

/* A cipher name, else a TLS ciphersuite name mapped to the cipher it uses. */
static const mbedtls_cipher_info_t *find_cipher(const char *name)
{
    const mbedtls_cipher_info_t *info = mbedtls_cipher_info_from_string(name);
    if (info == NULL) {
        const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_string(name);
        if (cs != NULL)
            info = mbedtls_cipher_info_from_type((mbedtls_cipher_type_t)SUITE_CIPHER(cs));
    }
    return info;
}

static int is_aead(mbedtls_cipher_mode_t mode)
{
    return mode == MBEDTLS_MODE_GCM || mode == MBEDTLS_MODE_CCM ||
           mode == MBEDTLS_MODE_CHACHAPOLY;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    int i;
    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

/*
 * The TLS 1.2 AEAD nonce for record `seq` (RFC 5288 / RFC 7905):
 *   GCM, CCM:  4-byte implicit IV || 8-byte explicit nonce (mbedTLS sends seq)
 *   ChaCha20:  12-byte IV XOR (0^32 || seq)
 */
static void make_nonce(unsigned char nonce[12], const unsigned char iv[12], uint64_t seq,
                       mbedtls_cipher_mode_t mode)
{
    unsigned char s[8];
    int i;
    put_be64(s, seq);
    memcpy(nonce, iv, 12);
    if (mode == MBEDTLS_MODE_CHACHAPOLY) {
        for (i = 0; i < 8; i++)
            nonce[4 + i] ^= s[i];
    } else {
        memcpy(nonce + 4, s, 8);
    }
}

/* Seal `total` bytes as records of `rec` bytes; returns 0 or an mbedTLS error. */
static int run(mbedtls_cipher_context_t *ctx, mbedtls_cipher_mode_t mode,
               const unsigned char iv[12], const unsigned char *plain, unsigned char *record,
               unsigned long long total, size_t rec, unsigned long long *records)
{
    uint64_t seq = 1; /* record 0 of the epoch is the Finished message */
    unsigned long long left = total;
    *records = 0;
    while (left > 0) {
        size_t len = left < rec ? (size_t)left : rec, olen;
        unsigned char nonce[12], aad[AAD_LEN];
        int rc;
        make_nonce(nonce, iv, seq, mode);
        put_be64(aad, seq);
        aad[8] = 23; /* application_data */
        aad[9] = 3;  /* TLS 1.2 = {3, 3} */
        aad[10] = 3;
        aad[11] = (unsigned char)(len >> 8);
        aad[12] = (unsigned char)len;
        rc = mbedtls_cipher_auth_encrypt_ext(ctx, nonce, 12, aad, AAD_LEN, plain, len, record,
                                             len + TAG_LEN, &olen, TAG_LEN);
        if (rc != 0)
            return rc;
        seq++;
        left -= len;
        ++*records;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long long total, rec = MAX_RECORD, repeat = 1, records = 0, r;
    const mbedtls_cipher_info_t *info;
    mbedtls_cipher_context_t ctx;
    mbedtls_cipher_mode_t mode;
    unsigned char key[32], iv[12], *plain, *record;
    double best = -1.0;
    int argi = 1, rc;
    size_t i;

    while (argi < argc && strncmp(argv[argi], "--", 2) == 0) {
        const char *opt = argv[argi];
        unsigned long long *dst = strcmp(opt, "--record") == 0   ? &rec
                                  : strcmp(opt, "--repeat") == 0 ? &repeat
                                                                 : NULL;
        if (dst == NULL || argi + 1 >= argc || !parse_size(argv[argi + 1], dst))
            return usage();
        argi += 2;
    }
    if (argc - argi != 2 || !parse_size(argv[argi], &total) || rec == 0 || rec > MAX_RECORD ||
        repeat == 0)
        return usage();
    info = find_cipher(argv[argi + 1]);
    if (info == NULL) {
        fprintf(stderr, "cipher_cost: unknown cipher or ciphersuite: %s\n", argv[argi + 1]);
        return 2;
    }

    /* Arbitrary but fixed key material and data: AES/ChaCha timing is data-independent. */
    for (i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 37 + 11);
    for (i = 0; i < sizeof iv; i++)
        iv[i] = (unsigned char)(i * 91 + 5);
    plain = malloc(MAX_RECORD);
    record = malloc(MAX_RECORD + TAG_LEN);
    if (plain == NULL || record == NULL) {
        fprintf(stderr, "cipher_cost: out of memory\n");
        return 1;
    }
    for (i = 0; i < MAX_RECORD; i++)
        plain[i] = (unsigned char)(i * 2654435761u >> 13);

    /* Mode, name and key length come from the set-up context: those getters exist in
     * both mbedTLS 2.28 and 3.x (the cipher_info ones are 3.x only). */
    mbedtls_cipher_init(&ctx);
    rc = mbedtls_cipher_setup(&ctx, info);
    if (rc != 0) {
        fprintf(stderr, "cipher_cost: mbedTLS error -0x%04x\n", (unsigned)-rc);
        return 1;
    }
    mode = mbedtls_cipher_get_cipher_mode(&ctx);
    if (!is_aead(mode)) {
        fprintf(stderr, "cipher_cost: %s is not an AEAD cipher (only AEAD suites are "
                        "modelled)\n", mbedtls_cipher_get_name(&ctx));
        mbedtls_cipher_free(&ctx);
        return 2;
    }
    rc = mbedtls_cipher_setkey(&ctx, key, mbedtls_cipher_get_key_bitlen(&ctx), MBEDTLS_ENCRYPT);
    for (r = 0; rc == 0 && r < repeat; r++) {
        double t0 = cpu_now(), t;
        rc = run(&ctx, mode, iv, plain, record, total, (size_t)rec, &records);
        t = cpu_now() - t0;
        if (best < 0 || t < best)
            best = t;
    }
    if (rc == 0)
        printf("cipher=%s bytes=%llu records=%llu record_size=%llu cpu_s=%.6f MB_per_s=%.1f\n",
               mbedtls_cipher_get_name(&ctx), total, records, rec, best,
               best > 0 ? (double)total / best / 1e6 : 0.0);
    else
        fprintf(stderr, "cipher_cost: mbedTLS error -0x%04x\n", (unsigned)-rc);
    mbedtls_cipher_free(&ctx);
    free(plain);
    free(record);
    return rc == 0 ? 0 : 1;
}
