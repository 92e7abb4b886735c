/*
 * Telemetry recorder, writers, flight summary, report and alert rules.
 */
#define _POSIX_C_SOURCE 200809L
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <signal.h>
#include <sys/resource.h>
#endif

#include "tt.h"
#include "tt_fs.h"
#include "uavmail/uavmail.h"

#define T0 1795356180000000LL /* 2026-11-22T14:03:00Z */
#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static uavmail_telemetry *recorder(size_t mem)
{
    uavmail_telemetry_options o;
    uavmail_telemetry *tm = NULL;
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.vehicle = "UAV-7";
    o.memory_samples = mem;
    CHECK_INT(uavmail_telemetry_new(&tm, &o), 0);
    return tm;
}

/* A sample of a straight flight north at 10 m/s, 1 Hz. */
static void flight_sample(uavmail_sample *s, int i)
{
    uavmail_sample_init(s, UAVMAIL_SAMPLE_VERSION);
    s->time_us = T0 + (int64_t)i * 1000000;
    s->lat = 47.0 + i * 10.0 / 111194.93; /* 10 m per second on a 6371008.8 m sphere */
    s->lon = 8.5;
    s->alt_msl = 500.0 + (i < 10 ? i : 10);
    s->alt_rel = i < 10 ? i : 10;
    s->ground_speed = 10.0;
    s->voltage = 16.0 - i * 0.01;
    s->current = 10.0;
    s->remaining = 100 - i;
    s->fix_type = 3;
    s->satellites = 12;
    s->hdop = 0.8;
    s->armed = 1;
    s->in_air = 1;
    s->mode = "AUTO";
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static char *write_format(uavmail_telemetry *tm, int fmt, size_t *len)
{
    char dir[64], path[80];
    char *out;
    tt_tempdir(dir, sizeof dir, "uavmail-tm");
    snprintf(path, sizeof path, "%s/out", dir);
    CHECK_INT(uavmail_telemetry_write_file(tm, fmt, path), 0);
    out = slurp(path, len);
    tt_rmtree(dir);
    return out;
}

static void test_sample_validation(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_sample s;
    double custom[2] = {1, 2};
    size_t idx = 99;
    CHECK_INT(uavmail_telemetry_add_channel(tm, "thermal max", "degC", NULL), UAVMAIL_EINVAL);
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "thermal max"));
    CHECK_INT(uavmail_telemetry_add_channel(tm, "thermal_max", "degC", &idx), 0);
    CHECK_INT((int)idx, 0);
    CHECK_INT(uavmail_telemetry_add_channel(tm, "thermal_max", "degC", NULL), UAVMAIL_EINVAL);
    flight_sample(&s, 1);
    s.custom = custom;
    s.custom_count = 2;
    CHECK_INT(uavmail_telemetry_append(tm, &s), UAVMAIL_EINVAL); /* 2 values, 1 channel */
    s.custom_count = 1;
    CHECK_INT(uavmail_telemetry_append(tm, &s), 0);
    flight_sample(&s, 0);
    CHECK_INT(uavmail_telemetry_append(tm, &s), UAVMAIL_EINVAL); /* backwards */
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "backwards"));
    CHECK_INT(uavmail_telemetry_add_channel(tm, "late", NULL, NULL), UAVMAIL_ESTATE);
    s.version = 99;
    CHECK_INT(uavmail_telemetry_append(tm, &s), UAVMAIL_EINVAL);
    CHECK_INT((int)uavmail_telemetry_count(tm), 1);
    CHECK_INT(uavmail_telemetry_set_home(tm, 91, 0, 0), UAVMAIL_EINVAL);
    CHECK_INT(uavmail_telemetry_add_event(tm, T0, 8, "x"), UAVMAIL_EINVAL);
    uavmail_telemetry_free(tm);
}

static void test_csv_golden(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_sample s;
    double custom[1] = {61.25};
    size_t len;
    char *csv;
    CHECK_INT(uavmail_telemetry_add_channel(tm, "thermal_max", "degC", NULL), 0);
    flight_sample(&s, 0);
    s.custom = custom;
    s.custom_count = 1;
    s.mode = "RTL, \"home\"";
    CHECK_INT(uavmail_telemetry_append(tm, &s), 0);
    uavmail_sample_init(&s, UAVMAIL_SAMPLE_VERSION); /* everything unknown */
    s.time_us = T0 + 100000;
    s.lat = -33.8567844;
    s.lon = 151.2152967;
    CHECK_INT(uavmail_telemetry_append(tm, &s), 0);
    csv = write_format(tm, UAVMAIL_TM_CSV, &len);
    CHECK_STR(csv,
              "time_utc,lat_deg,lon_deg,alt_msl_m,alt_rel_m,ground_speed_mps,climb_mps,"
              "heading_deg,voltage_V,current_A,remaining_pct,hdop,fix_type,satellites,armed,"
              "in_air,mode,thermal_max_degC\r\n"
              "2026-11-22T14:03:00.000Z,47.0000000,8.5000000,500.00,0.00,10.00,,,16.000,10.000,"
              "100.0,0.80,3,12,1,1,\"RTL, \"\"home\"\"\",61.2500\r\n"
              "2026-11-22T14:03:00.100Z,-33.8567844,151.2152967,,,,,,,,,,,,,,,\r\n");
    free(csv);
    uavmail_telemetry_free(tm);
}

/* Writers must not depend on LC_NUMERIC (Qt applications set a locale). */
static void test_locale_independent(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_sample s;
    size_t len;
    char *json;
    const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    char probe[16];
    if (!loc)
        loc = setlocale(LC_NUMERIC, "fr_FR.UTF-8");
    if (!loc) /* Windows' name for it */
        loc = setlocale(LC_NUMERIC, "German_Germany.1252");
    if (!loc) /* scripts/deps.sh test generates de_DE.UTF-8 */
        fprintf(stderr, "  no decimal-comma locale installed (de_DE.UTF-8): cannot test\n");
    CHECK(loc != NULL);
    snprintf(probe, sizeof probe, "%.1f", 1.5);
    CHECK_STR(probe, "1,5"); /* the test really runs under a decimal comma */
    flight_sample(&s, 0);
    CHECK_INT(uavmail_telemetry_append(tm, &s), 0);
    flight_sample(&s, 1);
    CHECK_INT(uavmail_telemetry_append(tm, &s), 0);
    json = write_format(tm, UAVMAIL_TM_GEOJSON, &len);
    CHECK(strstr(json, "[8.5000000,47.0000000,500.00]") != NULL); /* lon first, '.' */
    CHECK(strstr(json, "47,0") == NULL);
    free(json);
    json = write_format(tm, UAVMAIL_TM_CSV, &len);
    CHECK(strstr(json, ",16.000,10.000,100.0,") != NULL);
    free(json);
    setlocale(LC_NUMERIC, "C");
    uavmail_telemetry_free(tm);
}

/* Spilling to the temporary file changes nothing in any format. */
static void test_spill_equivalence(void)
{
    static const int fmts[] = {UAVMAIL_TM_CSV, UAVMAIL_TM_GPX, UAVMAIL_TM_KML,
                               UAVMAIL_TM_GEOJSON, UAVMAIL_TM_CBOR};
    uavmail_telemetry *small = recorder(16), *big = recorder(4096);
    uavmail_sample s;
    size_t i, la, lb;
    for (i = 0; i < 1000; i++) {
        flight_sample(&s, (int)i);
        CHECK_INT(uavmail_telemetry_append(small, &s), 0);
        CHECK_INT(uavmail_telemetry_append(big, &s), 0);
    }
    uavmail_telemetry_add_event(small, T0 + 5000000, UAVMAIL_SEV_WARNING, "GPS <glitch> & \"x\"");
    uavmail_telemetry_add_event(big, T0 + 5000000, UAVMAIL_SEV_WARNING, "GPS <glitch> & \"x\"");
    for (i = 0; i < LEN(fmts); i++) {
        char *a = write_format(small, fmts[i], &la), *b = write_format(big, fmts[i], &lb);
        CHECK_MEM(a, la, b, lb);
        free(a);
        free(b);
    }
    uavmail_telemetry_free(small);
    uavmail_telemetry_free(big);
}

static void test_summary(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_flight_summary s;
    uavmail_sample x;
    int i;
    for (i = 0; i <= 100; i++) {
        flight_sample(&x, i);
        if (i >= 40 && i < 50) {
            x.fix_type = 1; /* 10 s without a fix */
            x.satellites = 4;
        }
        if (i == 100)
            x.in_air = 0;
        CHECK_INT(uavmail_telemetry_append(tm, &x), 0);
    }
    s.version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
    CHECK_INT(uavmail_telemetry_summary(tm, &s), 0);
    CHECK_INT((int)s.samples, 101);
    CHECK(fabs(s.duration_s - 100.0) < 1e-9);
    CHECK(fabs(s.air_time_s - 100.0) < 1e-9);
    CHECK(fabs(s.distance_m - 1000.0) < 0.5); /* 90 s + a 11 s hop over the gap, 10 m/s */
    CHECK(fabs(s.max_alt_rel_m - 10.0) < 1e-9);
    CHECK(fabs(s.battery_min_v - 15.0) < 1e-9);
    CHECK(fabs(s.charge_mah - 10.0 * 100.0 / 3.6) < 1e-6);
    CHECK(fabs(s.no_fix_s - 10.0) < 1e-9);
    CHECK_INT((int)s.fix_losses, 1);
    CHECK_INT(s.min_satellites, 4);
    CHECK(fabs(s.home_lat - 47.0) < 1e-12); /* first 3D fix */
    CHECK_INT((int)s.flags, 0);
    uavmail_telemetry_add_event(tm, T0, UAVMAIL_SEV_CRITICAL, "Battery 1 is critical");
    CHECK_INT(uavmail_telemetry_summary(tm, &s), 0);
    CHECK_INT((int)s.flags, UAVMAIL_FLIGHT_ALERT);
    uavmail_telemetry_add_event(tm, T0, UAVMAIL_SEV_EMERGENCY, "Crash detected");
    CHECK_INT(uavmail_telemetry_summary(tm, &s), 0);
    CHECK((s.flags & UAVMAIL_FLIGHT_CRASH) != 0);
    s.version = 7;
    CHECK_INT(uavmail_telemetry_summary(tm, &s), UAVMAIL_EINVAL);
    uavmail_telemetry_free(tm);
}

static void test_subject_fits_78(void)
{
    uavmail_telemetry_options o;
    uavmail_telemetry *tm;
    uavmail_message *msg;
    uavmail_sample x;
    uavmail_report_options ro;
    char buf[200000];
    size_t len;
    int i;
    const char *subj, *end;
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.vehicle = "Überwachungsdrohne Nummer sieben der Bergwacht Graubünden, Staffel Nord";
    CHECK_INT(uavmail_telemetry_new(&tm, &o), 0);
    for (i = 0; i <= 1080; i += 10) {
        flight_sample(&x, i);
        uavmail_telemetry_append(tm, &x);
    }
    uavmail_telemetry_add_event(tm, T0, UAVMAIL_SEV_EMERGENCY, "Crash detected");
    CHECK_INT(uavmail_message_new(&msg, NULL), 0);
    uavmail_message_set_from(msg, "uav7@example.com", NULL);
    uavmail_message_add_recipient(msg, UAVMAIL_TO, "ops@example.com", NULL);
    uavmail_report_options_init(&ro, UAVMAIL_REPORT_OPTIONS_VERSION);
    ro.formats = UAVMAIL_TM_CSV;
    ro.raw_log = "/nonexistent/flight.ulg";
    CHECK_INT(uavmail_telemetry_report(tm, msg, &ro), UAVMAIL_EFILE);
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "flight.ulg"));
    ro.raw_log = "/proc/self/exe"; /* a few hundred KiB: over a 1000-byte cap */
    ro.raw_log_cap = 1000;
    CHECK_INT(uavmail_telemetry_report(tm, msg, &ro), 0);
    CHECK_INT(uavmail_message_render(msg, 0, buf, sizeof buf, &len), 0);
    buf[len] = '\0';
    subj = strstr(buf, "\r\nSubject: ");
    CHECK(subj != NULL);
    /* "[CRASH] [Überwachungsdrohne] Flight repor": the name was cut (on a UTF-8
     * boundary) so that the decoded subject stays within 78 characters */
    {
        static const char want[] = "Subject: =?UTF-8?B?W0NSQVNIXSBbw5xiZXJ3YWNodW5nc2Ryb2huZV0gRm"
                                   "xpZ2h0IHJlcG9y?=\r\n";
        CHECK(strncmp(subj + 2, want, sizeof want - 1) == 0);
    }
    end = strstr(subj + 2, "\r\n =?UTF-8?B?");
    CHECK(end != NULL);
    CHECK(strstr(buf, "Flight log not attached: /proc/self/exe") != NULL);
    uavmail_message_free(msg);
    uavmail_telemetry_free(tm);
}

/* The subject as composed (before encoding): checked through a plain name. */
static void test_subject_text(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_message *msg;
    uavmail_sample x;
    char buf[200000];
    size_t len;
    int i;
    for (i = 0; i <= 1080; i += 10) {
        flight_sample(&x, i);
        uavmail_telemetry_append(tm, &x);
    }
    CHECK_INT(uavmail_message_new(&msg, NULL), 0);
    uavmail_message_set_from(msg, "uav7@example.com", NULL);
    uavmail_message_add_recipient(msg, UAVMAIL_TO, "ops@example.com", NULL);
    CHECK_INT(uavmail_telemetry_report(tm, msg, NULL), 0);
    CHECK_INT(uavmail_message_render(msg, 0, buf, sizeof buf, &len), 0);
    buf[len] = '\0';
    CHECK(strstr(buf, "\r\nSubject: [UAV-7] Flight report 2026-11-22 14:03Z, 18 min, 10.8 km\r\n"));
    CHECK(strstr(buf, "filename=UAV-7-20261122T1403Z.csv") ||
          strstr(buf, "filename=\"UAV-7-20261122T1403Z.csv\""));
    CHECK(strstr(buf, "Content-Type: application/geo+json"));
    CHECK(strstr(buf, "Content-Type: application/cbor"));
    CHECK(strstr(buf, "Content-Type: application/gpx+xml"));
    uavmail_message_free(msg);
    uavmail_telemetry_free(tm);
}

/* The attachment is a snapshot: later samples are not in it, and its
 * size was known before rendering. */
static void test_attach_snapshot(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_message *msg;
    uavmail_sample x;
    uint64_t size;
    size_t len, len2;
    static char a[400001], b[400001];
    int i;
    for (i = 0; i < 100; i++) {
        flight_sample(&x, i);
        uavmail_telemetry_append(tm, &x);
    }
    CHECK_INT(uavmail_message_new(&msg, NULL), 0);
    uavmail_message_set_from(msg, "uav7@example.com", NULL);
    uavmail_message_add_recipient(msg, UAVMAIL_TO, "ops@example.com", NULL);
    CHECK_INT(uavmail_telemetry_attach(tm, msg, UAVMAIL_TM_CSV, "track.csv"), 0);
    CHECK_INT(uavmail_telemetry_attach(tm, msg, 3, NULL), UAVMAIL_EINVAL);
    CHECK_INT(uavmail_message_size(msg, 0, &size), 0);
    CHECK_INT(uavmail_message_render(msg, 0, a, sizeof a - 1, &len), 0);
    a[len] = '\0';
    CHECK_INT((int)size, (int)len);
    /* RFC 4180 (DRONE-NOTES): UTF-8 with a header row */
    CHECK(strstr(a, "Content-Type: text/csv; charset=utf-8; header=present;\r\n\tname=") != NULL);
    for (i = 100; i < 300; i++) { /* more samples, spilling the old ones */
        flight_sample(&x, i);
        uavmail_telemetry_append(tm, &x);
    }
    CHECK_INT(uavmail_message_render(msg, 0, b, sizeof b - 1, &len2), 0);
    b[len2] = '\0';
    CHECK_INT((int)len2, (int)len);
    {   /* the same attachment bytes (the boundary differs per rendering) */
        const char *pa = strstr(a, "filename=\"track.csv\""), *pb = strstr(b, "filename=\"track.csv\"");
        CHECK(pa && pb);
        if (pa && pb) {
            const char *ea = strstr(pa, "\r\n--"), *eb = strstr(pb, "\r\n--");
            CHECK(ea && eb);
            if (ea && eb)
                CHECK_MEM(pa, (size_t)(ea - pa), pb, (size_t)(eb - pb));
        }
    }
    uavmail_message_free(msg);
    uavmail_telemetry_free(tm);
}

/* Counting allocator: the heap must not grow with the flight length. */
static size_t heap_now, heap_peak;
static void *count_malloc(size_t n, void *ud)
{
    size_t *p = malloc(n + sizeof(size_t) * 2);
    (void)ud;
    if (!p)
        return NULL;
    p[0] = n;
    heap_now += n;
    if (heap_now > heap_peak)
        heap_peak = heap_now;
    return p + 2;
}
static void count_free(void *q, void *ud)
{
    size_t *p = q;
    (void)ud;
    if (!q)
        return;
    heap_now -= p[-2];
    free(p - 2);
}
static void *count_realloc(void *q, size_t n, void *ud)
{
    void *r = count_malloc(n, ud);
    if (r && q) {
        size_t old = ((size_t *)q)[-2];
        memcpy(r, q, old < n ? old : n);
        count_free(q, ud);
    }
    return r;
}

static void test_heap_flat(void)
{
    uavmail_allocator al = {UAVMAIL_ALLOCATOR_VERSION, count_malloc, count_realloc, count_free,
                            NULL};
    uavmail_telemetry_options o;
    uavmail_telemetry *tm;
    uavmail_sample x;
    size_t after_first_spill = 0, len;
    char *csv;
    int i;
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.allocator = &al;
    o.memory_samples = 256;
    CHECK_INT(uavmail_telemetry_new(&tm, &o), 0);
    for (i = 0; i < 20000; i++) {
        flight_sample(&x, i);
        CHECK_INT(uavmail_telemetry_append(tm, &x), 0);
        if (i == 300)
            after_first_spill = heap_peak;
    }
    CHECK_INT((int)heap_peak, (int)after_first_spill);
    csv = write_format(tm, UAVMAIL_TM_CSV, &len);
    CHECK(len > 20000 * 100);
    free(csv);
    uavmail_telemetry_free(tm);
    CHECK_INT((int)heap_now, 0);
}

static void test_encoded_size(void)
{
    CHECK_INT((int)uavmail_encoded_size(0), 0);
    CHECK_INT((int)uavmail_encoded_size(1), 6);    /* "AA==" CRLF */
    CHECK_INT((int)uavmail_encoded_size(57), 78);  /* one full line */
    CHECK_INT((int)uavmail_encoded_size(58), 84);
}

/* ---- alerts ---------------------------------------------------------------------------- */

static char alert_log[4096];
static int alert_cb(const uavmail_alert *a, void *ud)
{
    size_t n = strlen(alert_log);
    (void)ud;
    snprintf(alert_log + n, sizeof alert_log - n, "%s%s@%lld%s:%s|", a->digest ? "digest " : "",
             a->key, (long long)((a->time_us - T0) / 1000000),
             a->suppressed && !a->digest ? "(+suppressed)" : "", a->text);
    return 0;
}

static uavmail_alerts *alert_set(double repeat)
{
    uavmail_alerts_options o;
    uavmail_alerts *a = NULL;
    uavmail_alerts_options_init(&o, UAVMAIL_ALERTS_OPTIONS_VERSION);
    o.cb = alert_cb;
    o.repeat_s = repeat;
    CHECK_INT(uavmail_alerts_new(&a, &o), 0);
    alert_log[0] = '\0';
    return a;
}

#define AT(s) (T0 + (int64_t)(s)*1000000)

static void test_alert_hysteresis_and_hold(void)
{
    uavmail_alerts *a = alert_set(0);
    static const double seq[] = {30, 19, 21, 19, 22, 24, 19, 26, 19, 19, 19};
    size_t i;
    CHECK_INT(uavmail_alerts_parse(a, "bat: remaining < 20 clear 25 hold 1 text Battery {value} %"),
              0);
    for (i = 0; i < LEN(seq); i++)
        CHECK_INT(uavmail_alerts_value(a, "remaining", seq[i], AT(i)), 0);
    /* 19 at 1 s starts the hold, 21 at 2 s resets it; 19 at 3 s, still 19? no: 22 at 4 s;
     * 19 at 6 s, 26 at 7 s clears nothing (not fired); 19 at 8 s, 9 s (held 1 s): fires */
    CHECK_STR(alert_log, "bat@9:Battery 19 %|");
    uavmail_alerts_free(a);

    a = alert_set(0);
    CHECK_INT(uavmail_alerts_parse(a, "bat: remaining < 20 clear 25"), 0);
    for (i = 0; i < LEN(seq); i++)
        uavmail_alerts_value(a, "remaining", seq[i], AT(i));
    /* fires at 1 s; 21, 19, 22, 24, 19 stay inside the band; 26 re-arms; 19 fires again */
    CHECK_STR(alert_log, "bat@1:bat: remaining is 19 (below 20)|bat@8:bat: remaining is 19 "
                         "(below 20)|");
    CHECK_INT(uavmail_alerts_value(a, "remaining", NAN, AT(20)), 0); /* unknown: ignored */
    uavmail_alerts_free(a);
}

static void test_alert_rate_limit_and_digest(void)
{
    uavmail_alerts *a = alert_set(60);
    int i;
    CHECK_INT(uavmail_alerts_parse(a, "text: statustext <= warning"), 0);
    CHECK_INT(uavmail_alerts_parse(a, "fence: fence_breach > 0.5 severity critical repeat 10 "
                                      "text Geofence breached"),
              0);
    for (i = 0; i < 5; i++)
        uavmail_alerts_event(a, "statustext", 4, "Geofence violated", AT(i));
    uavmail_alerts_event(a, "statustext", 6, "Takeoff complete", AT(5)); /* info: no rule */
    uavmail_alerts_event(a, "statustext", 2, "Battery 1 is critical", AT(6));
    CHECK_STR(alert_log, "text@0:Geofence violated|");
    uavmail_alerts_tick(a, AT(59));
    CHECK_STR(alert_log, "text@0:Geofence violated|");
    uavmail_alerts_tick(a, AT(60));
    CHECK_STR(alert_log, "text@0:Geofence violated|digest text@60:5 more 'text' alerts since "
                         "14:03:01Z; last: Battery 1 is critical|");
    alert_log[0] = '\0';
    for (i = 0; i < 40; i++) /* flapping fence: 0/1 every second, repeat 10 s */
        uavmail_alerts_value(a, "fence_breach", i % 2, AT(100 + i));
    uavmail_alerts_flush(a, AT(140));
    /* one message per key per interval; a new alert after the interval carries the count of
     * those suppressed before it; what is still suppressed at the end goes out as a digest */
    CHECK_STR(alert_log, "fence@101:Geofence breached|fence@111(+suppressed):Geofence breached|"
                         "fence@121(+suppressed):Geofence breached|fence@131(+suppressed):"
                         "Geofence breached|digest fence@140:4 more 'fence' alerts since "
                         "14:05:13Z; last: Geofence breached|");
    uavmail_alerts_free(a);

    /* the digest keeps the worst: an EMERGENCY between two warnings */
    a = alert_set(300);
    CHECK_INT(uavmail_alerts_parse(a, "w: statustext <= warning"), 0);
    uavmail_alerts_event(a, "statustext", 4, "minor warning", AT(0));
    uavmail_alerts_event(a, "statustext", 0, "motor failure", AT(10));
    uavmail_alerts_event(a, "statustext", 4, "minor warning", AT(20));
    uavmail_alerts_flush(a, AT(30));
    CHECK_STR(alert_log, "w@0:minor warning|digest w@30:2 more 'w' alerts since 14:03:10Z; "
                         "worst: motor failure; last: minor warning|");
    uavmail_alerts_free(a);
}

static void test_alert_parse_errors(void)
{
    uavmail_alerts *a = alert_set(60);
    static const struct {
        const char *line, *want;
    } bad[] = {
        {"", "column 1: expected a rule key"},
        {"bat remaining < 20", "column 5: expected ':'"},
        {"bat: remaining = 20", "column 16: expected '<', '>' or '<='"},
        {"bat: remaining < twenty", "column 18: expected a number"},
        {"bat: remaining < 20,5", "column 20: expected clear, hold"},
        {"bat: remaining < 20 clear 10", "clear level must be on the safe side"},
        {"bat: remaining < 20 severity loud", "column 30: expected a severity"},
        {"w: statustext <= bogus", "column 18: expected a severity"},
        {"bat: remaining < 20 sometimes", "column 21: expected clear"},
        {"txt: statustext <= 9", "expected a severity"},
    };
    size_t i;
    for (i = 0; i < LEN(bad); i++) {
        CHECK_INT(uavmail_alerts_parse(a, bad[i].line), UAVMAIL_EINVAL);
        if (!strstr(uavmail_error_message(uavmail_alerts_last_error(a)), bad[i].want)) {
            fprintf(stderr, "  '%s': got '%s', want '%s'\n", bad[i].line,
                    uavmail_error_message(uavmail_alerts_last_error(a)), bad[i].want);
            CHECK(0);
        }
    }
    CHECK_INT(uavmail_alerts_parse(a, "x: v > 1.5 # a comment"), 0);
    uavmail_alerts_free(a);
}

/* Text from the radio ends up in subjects: CR, LF and broken UTF-8 are cleaned. */
static void test_alert_text_cleaned(void)
{
    uavmail_alerts *a = alert_set(0);
    uavmail_telemetry *tm = recorder(16);
    uavmail_message *msg;
    CHECK_INT(uavmail_alerts_parse(a, "t: statustext <= warning"), 0);
    CHECK_INT(uavmail_alerts_event(a, "statustext", 2, "Bad\r\nBcc: x@evil\xff\xc3", AT(1)), 0);
    CHECK_STR(alert_log, "t@1:Bad  Bcc: x@evil??|");
    uavmail_alerts_free(a);
    CHECK_INT(uavmail_message_new(&msg, NULL), 0);
    CHECK_INT(uavmail_telemetry_report(tm, msg, NULL), UAVMAIL_ESTATE); /* nothing recorded */
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "no samples"));
    uavmail_message_free(msg);
    uavmail_telemetry_free(tm);
}

/* A spill write cut short (file size limit: disk full) must not shift the records
 * spilled afterwards.  (Windows has no file size limit to set; the rest of the
 * suite runs there.) */
static void test_spill_write_failure(void)
{
#if !defined(_WIN32)
    uavmail_telemetry_options o;
    uavmail_telemetry *tm;
    uavmail_sample x;
    struct rlimit old, lim;
    char dir[] = "/tmp/uavmail-spill-XXXXXX";
    size_t len, lines = 0, ok = 0, i;
    char *csv, *p;
    int failed = 0;
    CHECK(mkdtemp(dir) != NULL);
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.memory_samples = 16;
    o.spill_dir = dir;
    CHECK_INT(uavmail_telemetry_new(&tm, &o), 0);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 2500; /* the second spill of 16 records is cut short */
    setrlimit(RLIMIT_FSIZE, &lim);
    for (i = 0; i < 40; i++) {
        flight_sample(&x, (int)i);
        if (uavmail_telemetry_append(tm, &x) == 0)
            ok++;
        else
            failed = 1;
    }
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK(failed);
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "disk full") != NULL);
    for (i = 40; i < 100; i++) {
        flight_sample(&x, (int)i);
        CHECK_INT(uavmail_telemetry_append(tm, &x), 0);
        ok++;
    }
    csv = write_format(tm, UAVMAIL_TM_CSV, &len);
    for (p = csv; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    CHECK_INT((int)lines, (int)ok + 1);
    CHECK(strstr(csv, "1970-") == NULL); /* no record read from a shifted offset */
    CHECK(strstr(csv, "2026-11-22T14:04:39.000Z,47.0089") != NULL); /* sample 99 */
    free(csv);
    uavmail_telemetry_free(tm);
    rmdir(dir);
#endif
}

/* Edge values found in review: absurd magnitudes, unknown heights in KML, the 180th
 * meridian, the years outside 1-9999, encoded sizes near 2^64. */
static void test_edge_values(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_sample x;
    size_t len;
    char *out;
    flight_sample(&x, 0);
    x.alt_msl = 1e60;
    x.lon = 180.0;
    x.custom_count = 0;
    CHECK_INT(uavmail_telemetry_append(tm, &x), 0);
    flight_sample(&x, 1);
    x.alt_msl = NAN;
    x.lon = 179.99999999; /* rounds to 180 at 7 decimals */
    CHECK_INT(uavmail_telemetry_append(tm, &x), 0);
    flight_sample(&x, 2);
    x.time_us = 253402300800LL * 1000000; /* year 10000 */
    CHECK_INT(uavmail_telemetry_append(tm, &x), UAVMAIL_EINVAL);
    CHECK(strstr(uavmail_error_message(uavmail_telemetry_last_error(tm)), "years 1 to 9999"));
    out = write_format(tm, UAVMAIL_TM_GPX, &len);
    CHECK(strstr(out, "lon=\"-180.0000000\"") != NULL);  /* GPX: -180 <= lon < 180 */
    CHECK(strstr(out, "lon=\"180.") == NULL);
    CHECK(strstr(out, "<ele>") == NULL);                  /* 1e60 m is no height */
    free(out);
    out = write_format(tm, UAVMAIL_TM_KML, &len);
    CHECK(strstr(out, "clampToGround") != NULL);           /* no known height: not sea level */
    CHECK(strstr(out, ",0.00") == NULL);
    free(out);
    uavmail_telemetry_free(tm);
    CHECK(uavmail_encoded_size(UINT64_MAX) == UINT64_MAX);
    CHECK(uavmail_encoded_size(UINT64_MAX / 2) == 12621456471485482686u); /* exact, by Python */
    CHECK(uavmail_encoded_size(0xC000000000000000u) == UINT64_MAX);
    CHECK(uavmail_encoded_size(1000000) == 1333336 + 2 * 17544);
}

/* The ALERT flag counts every event, not only the first 256 kept. */
static void test_flags_beyond_kept_events(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_flight_summary s;
    uavmail_sample x;
    int i;
    flight_sample(&x, 0);
    uavmail_telemetry_append(tm, &x);
    for (i = 0; i < 256; i++)
        uavmail_telemetry_add_event(tm, T0, UAVMAIL_SEV_WARNING, "w");
    uavmail_telemetry_add_event(tm, T0, UAVMAIL_SEV_CRITICAL, "the 257th");
    s.version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
    uavmail_telemetry_summary(tm, &s);
    CHECK_INT((int)s.events, 257);
    CHECK_INT((int)s.flags, UAVMAIL_FLIGHT_ALERT);
    uavmail_telemetry_free(tm);
}

/* Long notes: the text body is complete and valid UTF-8 wherever a character falls. */
static void test_long_notes(void)
{
    uavmail_telemetry *tm = recorder(16);
    uavmail_report_options ro;
    uavmail_sample x;
    char notes[1001];
    int at;
    flight_sample(&x, 0);
    uavmail_telemetry_append(tm, &x);
    for (at = 480; at < 520; at += 3) {
        uavmail_message *msg;
        memset(notes, 'n', sizeof notes);
        memcpy(notes + at, "\xc3\xa9", 2);
        memcpy(notes + 980, "END-OF-NOTES", 13);
        uavmail_report_options_init(&ro, UAVMAIL_REPORT_OPTIONS_VERSION);
        ro.formats = 0;
        ro.notes = notes;
        CHECK_INT(uavmail_message_new(&msg, NULL), 0);
        CHECK_INT(uavmail_telemetry_report(tm, msg, &ro), 0);
        uavmail_message_free(msg);
    }
    uavmail_telemetry_free(tm);
}

static const tt_test tests[] = {
    TT(test_sample_validation),   TT(test_csv_golden),
    TT(test_locale_independent),  TT(test_spill_equivalence),
    TT(test_summary),             TT(test_subject_fits_78),
    TT(test_subject_text),        TT(test_attach_snapshot),
    TT(test_heap_flat),           TT(test_encoded_size),
    TT(test_alert_hysteresis_and_hold), TT(test_alert_rate_limit_and_digest),
    TT(test_alert_parse_errors),  TT(test_alert_text_cleaned),
    TT(test_spill_write_failure), TT(test_edge_values),
    TT(test_flags_beyond_kept_events), TT(test_long_notes),
};
TT_MAIN(tests)
