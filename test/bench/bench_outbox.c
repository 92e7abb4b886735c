/*
 * Durable enqueue rate (README "Performance", issue 6): N messages of about
 * 10 KB (a text body plus a CSV attachment from memory) enqueued one after
 * the other into an outbox on the given directory's file system; every
 * enqueue returns only once its files and directory entries are fsynced.
 *
 *   build/test/bench/bench_outbox DIR [N]
 *
 * Prints one JSON line: messages, seconds, messages per second, and the
 * median and 99th-percentile latency of one enqueue in milliseconds.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uavmail/uavmail.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    uavmail_outbox *q;
    uavmail_outbox_options qo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    char body[2048], csv[8192];
    size_t i, n = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 1000, len = 0;
    double *lat, t0, total;
    if (argc < 2 || n == 0) {
        fprintf(stderr, "usage: bench_outbox DIR [N]\n");
        return 2;
    }
    lat = calloc(n, sizeof *lat);
    memset(body, 'x', sizeof body - 1);
    for (i = 0; i + 64 < sizeof body - 1; i += 64)
        body[i + 63] = '\n';
    body[sizeof body - 1] = '\0';
    while (len + 48 < sizeof csv) /* 47.398640,8.545594,432.1,12.6 ... */
        len += (size_t)snprintf(csv + len, sizeof csv - len, "%zu,47.39864,8.54559,432.1,12.6\r\n",
                                len);
    qo.max_messages = (unsigned)n + 1;
    if (lat == NULL || uavmail_outbox_open(&q, argv[1], &qo) != 0) {
        fprintf(stderr, "bench_outbox: cannot open the outbox %s\n", argv[1]);
        return 1;
    }
    total = now();
    for (i = 0; i < n; i++) {
        uavmail_message *m;
        int rc;
        uavmail_message_new(&m, NULL);
        uavmail_message_set_from(m, "uav7@example.com", NULL);
        uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
        uavmail_message_set_subject(m, "[UAV-7] telemetry");
        uavmail_message_set_text(m, body, strlen(body));
        uavmail_message_attach_memory(m, csv, len, "text/csv", "track.csv");
        t0 = now();
        rc = uavmail_outbox_enqueue(q, m, UAVMAIL_PRIORITY_NORMAL, 0, NULL, NULL);
        lat[i] = (now() - t0) * 1e3;
        uavmail_message_free(m);
        if (rc != 0) {
            fprintf(stderr, "bench_outbox: enqueue %zu: %s\n", i,
                    uavmail_error_message(uavmail_outbox_last_error(q)));
            return 1;
        }
    }
    total = now() - total;
    qsort(lat, n, sizeof *lat, cmp);
    printf("{\"messages\": %zu, \"seconds\": %.3f, \"per_second\": %.1f, "
           "\"median_ms\": %.3f, \"p99_ms\": %.3f}\n",
           n, total, (double)n / total, lat[n / 2], lat[n * 99 / 100]);
    uavmail_outbox_close(q);
    free(lat);
    return 0;
}
