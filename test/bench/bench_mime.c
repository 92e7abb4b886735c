#define _POSIX_C_SOURCE 200809L
/*
 * MIME benchmarks.
 *   bench_mime base64          MB/s of the MIME base64 line encoder against memcpy and
 *                              against mbedTLS's constant-time mbedtls_base64_encode
 *   bench_mime render BYTES    render a message with a BYTES-long file attachment
 *                              through the streaming writer; prints max RSS and the
 *                              library's own peak heap (counting allocator)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>

#include "base64.h"
#include "message_int.h"
#include "mime.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned char sink;

static int bench_base64(void)
{
    size_t n = 64u << 20, rounds = 5, i;
    unsigned char *in = malloc(n);
    char *out = malloc(n * 2);
    double t0, t_memcpy, t_b64, t_mbed;
    size_t olen;
    for (i = 0; i < n; i++)
        in[i] = (unsigned char)(i * 2654435761u >> 13);
    t0 = now();
    for (i = 0; i < rounds; i++) {
        memcpy(out, in, n);
        sink ^= (unsigned char)out[i];
    }
    t_memcpy = (now() - t0) / (double)rounds;
    t0 = now();
    for (i = 0; i < rounds; i++) {
        olen = uavmail__b64_encode_lines(out, in, n);
        sink ^= (unsigned char)out[olen - 3];
    }
    t_b64 = (now() - t0) / (double)rounds;
    t0 = now();
    mbedtls_base64_encode((unsigned char *)out, n * 2, &olen, in, n);
    t_mbed = now() - t0;
    printf("input %zu MiB\n", n >> 20);
    printf("memcpy                 %8.0f MB/s\n", (double)n / t_memcpy / 1e6);
    printf("uavmail base64 lines   %8.0f MB/s  (%.1fx memcpy time)\n", (double)n / t_b64 / 1e6,
           t_b64 / t_memcpy);
    printf("mbedtls_base64_encode  %8.0f MB/s  (constant-time, no line breaks)\n",
           (double)n / t_mbed / 1e6);
    free(in);
    free(out);
    return 0;
}

typedef struct counting {
    size_t live, peak;
} counting;

/* Size-prefixed blocks so the live total is exact. */
static void *c_malloc(size_t n, void *ud)
{
    counting *c = ud;
    size_t *p = malloc(n + sizeof(size_t) * 2);
    if (!p)
        return NULL;
    p[0] = n;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + 2;
}

static void c_free(void *q, void *ud)
{
    counting *c = ud;
    size_t *p;
    if (!q)
        return;
    p = (size_t *)q - 2;
    c->live -= p[0];
    free(p);
}

static void *c_realloc(void *q, size_t n, void *ud)
{
    void *r;
    size_t old;
    if (!q)
        return c_malloc(n, ud);
    old = ((size_t *)q - 2)[0];
    r = c_malloc(n, ud);
    if (!r)
        return NULL;
    memcpy(r, q, old < n ? old : n);
    c_free(q, ud);
    return r;
}

static int bench_render(size_t bytes)
{
    char path[] = "/tmp/uavmail-bench-XXXXXX";
    int fd = mkstemp(path);
    static char chunk[1 << 16], out[16384];
    counting c = {0, 0};
    uavmail_allocator al = {UAVMAIL_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, &c};
    uavmail_message_options mo = UAVMAIL_MESSAGE_OPTIONS_INIT;
    uavmail_message *m;
    uavmail__mime_reader *r;
    size_t left = bytes, total = 0;
    long n;
    struct rusage ru;
    double t0;
    memset(chunk, 'x', sizeof chunk);
    while (left > 0) {
        size_t k = left < sizeof chunk ? left : sizeof chunk;
        if (write(fd, chunk, k) != (ssize_t)k)
            return 1;
        left -= k;
    }
    close(fd);
    mo.allocator = &al;
    uavmail_message_new(&m, &mo);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    uavmail_message_set_text(m, "log attached", 12);
    uavmail_message_attach_file(m, path, NULL, "flight.ulg");
    t0 = now();
    if (uavmail__mime_reader_new(&r, m, 0) != 0)
        return 1;
    while ((n = uavmail__mime_read(r, out, sizeof out)) > 0)
        total += (size_t)n;
    uavmail__mime_reader_free(r);
    uavmail_message_free(m);
    unlink(path);
    getrusage(RUSAGE_SELF, &ru);
    printf("attachment %zu bytes -> %zu rendered bytes in %.3f s; max RSS %ld KiB; library peak "
           "heap %zu bytes\n",
           bytes, total, now() - t0, ru.ru_maxrss, c.peak);
    return n < 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "base64") == 0)
        return bench_base64();
    if (argc >= 3 && strcmp(argv[1], "render") == 0)
        return bench_render((size_t)strtoull(argv[2], NULL, 10));
    fprintf(stderr, "usage: bench_mime base64 | render BYTES\n");
    return 2;
}
