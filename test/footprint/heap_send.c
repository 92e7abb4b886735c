/*
 * Peak heap during one send, split between uavmail and mbedTLS (README
 * "Footprint").  uavmail's own allocations go through the allocator hook
 * (uavmail_allocator); mbedTLS's are counted by linking it statically with
 * -Wl,--wrap=calloc,--wrap=free (scripts/footprint.sh does both).
 *   heap_send HOST PORT CAFILE USER PASSWORD_ENV FILE
 * Sends FILE as an attachment over STARTTLS and prints one JSON line:
 *   {"result": 0, "hook_peak": N, "mbedtls_in_hook": N, "mbedtls_peak": N, "both_peak": N}
 * hook_peak counts everything through the allocator hook, which includes
 * mbedtls_in_hook bytes of mbedTLS context structs that uavmail embeds.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <uavmail/uavmail.h>

#include "env_password.h"

/* mbedTLS context structs that lib/tls_mbedtls.c embeds in its own objects,
 * so they are allocated through the hook although they are mbedTLS state. */
static const size_t tls_embedded = sizeof(mbedtls_ctr_drbg_context) + 2 * sizeof(mbedtls_x509_crt) +
    sizeof(mbedtls_ssl_config) + sizeof(mbedtls_ssl_session) + sizeof(mbedtls_pk_context) +
    sizeof(mbedtls_ssl_context);

static size_t own_now, own_peak, tls_now, tls_peak, both_peak;

static void account(size_t *now, size_t *peak, size_t add, size_t sub)
{
    *now = *now + add - sub;
    if (*now > *peak)
        *peak = *now;
    if (own_now + tls_now > both_peak)
        both_peak = own_now + tls_now;
}

/* uavmail's allocator: a size header in front of every block. */
typedef union hdr {
    size_t size;
    max_align_t align;
} hdr;

static void *own_realloc(void *p, size_t n, void *ud)
{
    hdr *h = p ? (hdr *)p - 1 : NULL;
    size_t old = h ? h->size : 0;
    hdr *q;
    if (n > SIZE_MAX - sizeof *h)
        return NULL;
    q = realloc(h, sizeof *h + n);
    if (q == NULL)
        return NULL;
    q->size = n;
    account(&own_now, &own_peak, n, old);
    return q + 1;
}

static void *own_malloc(size_t n, void *ud)
{
    return own_realloc(NULL, n, ud);
}

static void own_free(void *p, void *ud)
{
    if (p != NULL) {
        hdr *h = (hdr *)p - 1;
        account(&own_now, &own_peak, 0, h->size);
        free(h);
    }
}

/* mbedTLS's calloc/free (only references from statically linked objects are
 * wrapped; a table of live blocks ignores frees of memory it did not see). */
void *__real_calloc(size_t n, size_t size);
void __real_free(void *p);
void *__wrap_calloc(size_t n, size_t size);
void __wrap_free(void *p);

#define LIVE_MAX 65536 /* power of two */
static struct { void *p; size_t n; } live[LIVE_MAX];

static size_t slot(void *p)
{
    size_t i = ((uintptr_t)p >> 4) & (LIVE_MAX - 1);
    while (live[i].p != NULL && live[i].p != p)
        i = (i + 1) & (LIVE_MAX - 1);
    return i;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);
    if (p != NULL && size != 0 && n <= SIZE_MAX / size) {
        size_t i = slot(p);
        live[i].p = p;
        live[i].n = n * size;
        account(&tls_now, &tls_peak, n * size, 0);
    }
    return p;
}

void __wrap_free(void *p)
{
    if (p != NULL) {
        size_t i = slot(p), j, k;
        if (live[i].p == p) {
            account(&tls_now, &tls_peak, 0, live[i].n);
            /* Delete from the linear-probing table, moving later entries back. */
            live[i].p = NULL;
            for (j = (i + 1) & (LIVE_MAX - 1); live[j].p != NULL; j = (j + 1) & (LIVE_MAX - 1)) {
                k = ((uintptr_t)live[j].p >> 4) & (LIVE_MAX - 1);
                if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
                    live[i] = live[j];
                    live[j].p = NULL;
                    i = j;
                }
            }
        }
    }
    __real_free(p);
}

int main(int argc, char **argv)
{
    uavmail_allocator a = {UAVMAIL_ALLOCATOR_VERSION, own_malloc, own_realloc, own_free, NULL};
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_message_options mo = UAVMAIL_MESSAGE_OPTIONS_INIT;
    uavmail_session *s;
    uavmail_message *m;
    int rc;
    if (argc != 7) {
        fprintf(stderr, "usage: heap_send HOST PORT CAFILE USER PASSWORD_ENV FILE\n");
        return 2;
    }
    o.host = argv[1];
    o.port = (unsigned)atoi(argv[2]);
    o.security = UAVMAIL_SECURITY_STARTTLS;
    o.cafile = argv[3];
    o.username = argv[4];
    o.password_cb = password;
    o.password_user_data = argv[5];
    o.allocator = &a;
    mo.allocator = &a;
    if (uavmail_session_new(&s, &o) != 0 || uavmail_message_new(&m, &mo) != 0)
        return 3;
    uavmail_message_set_from(m, "uav7@example.test", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.test", NULL);
    uavmail_message_set_subject(m, "Flight log");
    uavmail_message_set_text(m, "Attached.\n", 10);
    uavmail_message_attach_file(m, argv[6], NULL, NULL);
    rc = uavmail_session_send_final(s, m);
    if (rc != 0)
        fprintf(stderr, "%s\n", uavmail_error_message(uavmail_session_last_error(s)));
    uavmail_message_free(m);
    uavmail_session_free(s);
    printf("{\"result\": %d, \"hook_peak\": %zu, \"mbedtls_in_hook\": %zu, \"mbedtls_peak\": %zu, "
           "\"both_peak\": %zu, \"hook_left\": %zu}\n", rc, own_peak, tls_embedded, tls_peak,
           both_peak, own_now);
    return rc == 0 && own_now == 0 ? 0 : 1;
}
