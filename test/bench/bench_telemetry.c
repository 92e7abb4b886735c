/*
 * Telemetry recorder footprint (README "Performance", issue 7): record a
 * flight at 10 Hz through a counting allocator and report the library's
 * heap (current and peak) and the process's max RSS after 1 minute, 10
 * minutes, 1 hour and 2 hours of samples, then the time to write each
 * format of the 2-hour flight and its size.
 *
 *   build/test/bench/bench_telemetry [SPILL_DIR]
 *
 * Prints JSON lines.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uavmail/uavmail.h>

static size_t heap_now, heap_peak;

static void *c_malloc(size_t n, void *ud)
{
    size_t *p = malloc(n + 16);
    (void)ud;
    if (!p)
        return NULL;
    p[0] = n;
    heap_now += n;
    if (heap_now > heap_peak)
        heap_peak = heap_now;
    return (char *)p + 16;
}

static void c_free(void *q, void *ud)
{
    size_t *p;
    (void)ud;
    if (!q)
        return;
    p = (size_t *)((char *)q - 16);
    heap_now -= p[0];
    free(p);
}

static void *c_realloc(void *q, size_t n, void *ud)
{
    void *r = c_malloc(n, ud);
    if (r && q) {
        size_t old = *(size_t *)((char *)q - 16);
        memcpy(r, q, old < n ? old : n);
        c_free(q, ud);
    }
    return r;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    static const struct {
        int fmt;
        const char *name;
    } fmts[] = {{UAVMAIL_TM_CSV, "csv"}, {UAVMAIL_TM_GPX, "gpx"}, {UAVMAIL_TM_KML, "kml"},
                {UAVMAIL_TM_GEOJSON, "geojson"}, {UAVMAIL_TM_CBOR, "cbor"}};
    uavmail_allocator al = {UAVMAIL_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, NULL};
    uavmail_telemetry_options o;
    uavmail_telemetry *tm;
    uavmail_sample s;
    double thermal, t0;
    const long total = 2L * 3600 * 10;
    long i;
    size_t f;
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.vehicle = "UAV-7";
    o.allocator = &al;
    o.spill_dir = argc > 1 ? argv[1] : NULL;
    if (uavmail_telemetry_new(&tm, &o) != 0 ||
        uavmail_telemetry_add_channel(tm, "thermal_max", "degC", NULL) != 0)
        return 1;
    t0 = now();
    for (i = 1; i <= total; i++) {
        double t = i / 10.0;
        uavmail_sample_init(&s, UAVMAIL_SAMPLE_VERSION);
        s.time_us = 1795356180000000LL + (int64_t)i * 100000;
        s.lat = 47.3977 + 0.01 * sin(t / 300);
        s.lon = 8.5456 + 0.01 * cos(t / 300);
        s.alt_msl = 538 + 5 * sin(t / 30);
        s.alt_rel = 50 + 5 * sin(t / 30);
        s.ground_speed = 8;
        s.climb = 0.1;
        s.heading = fmod(t, 360);
        s.voltage = 16.8 - 2.5 * t / 7200;
        s.current = 15;
        s.remaining = 100 - 80 * t / 7200;
        s.hdop = 0.9;
        s.fix_type = 3;
        s.satellites = 14;
        s.armed = 1;
        s.in_air = 1;
        s.mode = "AUTO";
        thermal = 40 + 10 * sin(t / 60);
        s.custom = &thermal;
        s.custom_count = 1;
        if (uavmail_telemetry_append(tm, &s) != 0) {
            fprintf(stderr, "append: %s\n", uavmail_error_message(uavmail_telemetry_last_error(tm)));
            return 1;
        }
        if (i == 600 || i == 6000 || i == 36000 || i == total)
            printf("{\"samples\": %ld, \"flight_min\": %.0f, \"heap_bytes\": %zu, "
                   "\"heap_peak_bytes\": %zu, \"max_rss_kib\": %ld, \"append_s\": %.3f}\n",
                   i, t / 60, heap_now, heap_peak, max_rss_kib(), now() - t0);
    }
    for (f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
        char path[] = "/tmp/uavmail-bench-tm-XXXXXX";
        struct stat st;
        int fd = mkstemp(path);
        double w0 = now();
        close(fd);
        if (uavmail_telemetry_write_file(tm, fmts[f].fmt, path) != 0 || stat(path, &st) != 0)
            return 1;
        printf("{\"format\": \"%s\", \"bytes\": %lld, \"write_s\": %.3f, \"heap_peak_bytes\": "
               "%zu}\n",
               fmts[f].name, (long long)st.st_size, now() - w0, heap_peak);
        unlink(path);
    }
    uavmail_telemetry_free(tm);
    printf("{\"heap_after_free\": %zu}\n", heap_now);
    return heap_now != 0;
}
