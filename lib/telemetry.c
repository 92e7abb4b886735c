/*
 * Telemetry recorder: fixed-size binary records, the newest in a memory
 * block and the rest in an unlinked spill file, so memory stays flat for
 * any flight length.  A running summary is kept on append.  Writers are
 * generators that produce one small unit at a time (a header, one sample,
 * one event, a footer) into a buffer, so every format streams in constant
 * memory; the same generator measures the exact size up front.
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include <cbor.h>

#include "address.h"
#include "flight.h"
#include "internal.h"
#include "message_int.h"
#include "uavmail/telemetry.h"

#define TM_MAX_CHANNELS 32
#define TM_MAX_MODES 32
#define TM_MODE_LEN 24
#define TM_MAX_EVENTS 256
#define TM_EVENT_TEXT 201
#define TM_NAME_LEN 33
#define TM_UNIT_LEN 17
#define TM_READ_RECORDS 32
#define TM_OUT 4096
#define TM_MODE_NONE 255
#define EARTH_RADIUS_M 6371008.8 /* mean radius (IUGG) */
#define TM_TIME_MIN (-62135596800LL * 1000000) /* 0001-01-01T00:00:00Z */
#define TM_TIME_MAX (253402300799LL * 1000000) /* 9999-12-31T23:59:59Z */

/* Doubles of a record, in this order. */
enum { F_LAT, F_LON, F_ALT_MSL, F_ALT_REL, F_GS, F_CLIMB, F_HDG, F_VOLT, F_CURR, F_REM, F_HDOP,
       F_COUNT };

typedef struct rec {
    int64_t t;
    double v[F_COUNT];
    int16_t fix, sats;
    int8_t armed, in_air;
    uint8_t mode, pad;
} rec;

typedef struct tm_event {
    int64_t t;
    int severity;
    double lat, lon, alt;
    char text[TM_EVENT_TEXT];
} tm_event;

/* Running figures, updated on every append. */
typedef struct acc {
    uint64_t n, npos;
    int have_prev, prev_pos_ok;
    rec prev;
    double prev_lat, prev_lon;
    uavmail_flight_summary s;
    int home_set_explicitly, had_fix, last_in_air, disarmed_in_air, emergency, alert;
    double prev_alt; /* altitude of the last sample with a position */
} acc;

typedef struct gen gen;

struct uavmail_telemetry {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    char vehicle[64];
    char spill_dir[512];
    size_t mem_cap, mem_n, rec_size;
    unsigned char *mem;
    FILE *spill;
    uint64_t spilled;
    size_t nchan;
    char chan_name[TM_MAX_CHANNELS][TM_NAME_LEN];
    char chan_unit[TM_MAX_CHANNELS][TM_UNIT_LEN];
    size_t nmodes;
    char modes[TM_MAX_MODES][TM_MODE_LEN];
    tm_event *events;
    size_t nevents, events_cap;
    acc a;
    gen *gens;
};

/* ---- helpers ------------------------------------------------------------------------- */

static int known(double v) { return isfinite(v); }

static int pos_ok(const rec *r)
{
    return known(r->v[F_LAT]) && known(r->v[F_LON]) && (r->fix < 0 || r->fix >= 2) &&
           !(r->v[F_LAT] == 0.0 && r->v[F_LON] == 0.0);
}

static double haversine(double lat1, double lon1, double lat2, double lon2)
{
    const double k = 3.14159265358979323846 / 180.0;
    double dlat = (lat2 - lat1) * k, dlon = (lon2 - lon1) * k;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * k) * cos(lat2 * k) * sin(dlon / 2) * sin(dlon / 2);
    return 2.0 * EARTH_RADIUS_M * asin(sqrt(a < 1.0 ? a : 1.0));
}

/* Position the spill file at byte @p off; 0 or -1. */
static int seek_to(FILE *f, uint64_t off)
{
#if defined(_WIN32)
    return off > (uint64_t)INT64_MAX ? -1 : _fseeki64(f, (long long)off, SEEK_SET);
#else
    return off > (uint64_t)INT64_MAX ? -1 : fseeko(f, (off_t)off, SEEK_SET);
#endif
}

/* Size of the file at @p path, or -1. */
static long long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long long n = -1;
    if (!f)
        return -1;
#if defined(_WIN32)
    if (_fseeki64(f, 0, SEEK_END) == 0)
        n = _ftelli64(f);
#else
    if (fseeko(f, 0, SEEK_END) == 0)
        n = (long long)ftello(f);
#endif
    fclose(f);
    return n;
}

/* ---- options and life cycle ---------------------------------------------------------- */

int uavmail_sample_init(uavmail_sample *s, unsigned version)
{
    if (!s || version != UAVMAIL_SAMPLE_VERSION)
        return UAVMAIL_EINVAL;
    memset(s, 0, sizeof *s);
    s->version = version;
    s->lat = s->lon = s->alt_msl = s->alt_rel = s->ground_speed = s->climb = s->heading = NAN;
    s->voltage = s->current = s->remaining = s->hdop = NAN;
    s->fix_type = s->satellites = s->armed = s->in_air = -1;
    return 0;
}

int uavmail_telemetry_options_init(uavmail_telemetry_options *o, unsigned version)
{
    if (!o || version != UAVMAIL_TELEMETRY_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    memset(o, 0, sizeof *o);
    o->version = version;
    o->memory_samples = 256;
    return 0;
}

int uavmail_report_options_init(uavmail_report_options *o, unsigned version)
{
    if (!o || version != UAVMAIL_REPORT_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    memset(o, 0, sizeof *o);
    o->version = version;
    o->formats = UAVMAIL_TM_CSV | UAVMAIL_TM_GPX | UAVMAIL_TM_GEOJSON | UAVMAIL_TM_CBOR;
    o->raw_log_cap = 10u * 1000u * 1000u;
    return 0;
}

static void summary_reset(uavmail_flight_summary *s)
{
    memset(s, 0, sizeof *s);
    s->version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
    s->max_alt_rel_m = s->max_alt_msl_m = s->max_speed_mps = NAN;
    s->battery_start_v = s->battery_end_v = s->battery_min_v = NAN;
    s->battery_start_pct = s->battery_end_pct = NAN;
    s->max_hdop = NAN;
    s->min_satellites = -1;
    s->home_lat = s->home_lon = s->home_alt_msl = NAN;
    s->land_lat = s->land_lon = s->land_home_m = NAN;
}

int uavmail_telemetry_new(uavmail_telemetry **out, const uavmail_telemetry_options *opts)
{
    uavmail_telemetry_options def;
    uavmail__alloc al;
    uavmail_telemetry *tm;
    if (!out)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (uavmail__flight_paired() != 0)
        return UAVMAIL_ECONFIG;
    if (!opts) {
        uavmail_telemetry_options_init(&def, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
        opts = &def;
    }
    if (opts->version != UAVMAIL_TELEMETRY_OPTIONS_VERSION ||
        (opts->memory_samples && opts->memory_samples < 16) ||
        opts->memory_samples > ((size_t)1 << 24) ||
        (opts->spill_dir && strlen(opts->spill_dir) >= 480) ||
        uavmail__alloc_init(&al, opts->allocator) != 0)
        return UAVMAIL_EINVAL;
    tm = uavmail__calloc(&al, 1, sizeof *tm);
    if (!tm)
        return UAVMAIL_ENOMEM;
    tm->alloc = al;
    uavmail__clean_text(tm->vehicle, sizeof tm->vehicle, opts->vehicle && *opts->vehicle ? opts->vehicle
                                                                                : "UAV");
    if (opts->spill_dir)
        uavmail__strlcpy(tm->spill_dir, opts->spill_dir, sizeof tm->spill_dir);
    tm->mem_cap = opts->memory_samples ? opts->memory_samples : 256;
    summary_reset(&tm->a.s);
    *out = tm;
    return 0;
}

struct gen {
    gen *next;
    uavmail_telemetry *tm;
    int format;
    uint64_t n;                 /* samples in the snapshot */
    uint64_t npos;              /* of which with a position */
    double last_alt, land_alt;  /* KML: the height carried over, the landing height */
    size_t nev;                 /* events in the snapshot */
    uavmail_flight_summary sum; /* summary of the snapshot */
    int phase, first;
    uint64_t i;
    size_t ev;
    uint64_t produced;
    char out[TM_OUT];
    size_t len, pos;
    int overflow;
    unsigned char *rbuf; /* TM_READ_RECORDS records from the spill file */
    uint64_t rfirst;
    size_t rcount;
};

static void gen_free(uavmail_telemetry *tm, gen *g)
{
    uavmail__free(&tm->alloc, g->rbuf);
    uavmail__free(&tm->alloc, g);
}

void uavmail_telemetry_free(uavmail_telemetry *tm)
{
    gen *g, *next;
    if (!tm)
        return;
    for (g = tm->gens; g; g = next) {
        next = g->next;
        gen_free(tm, g);
    }
    if (tm->spill)
        fclose(tm->spill);
    uavmail__free(&tm->alloc, tm->mem);
    uavmail__free(&tm->alloc, tm->events);
    uavmail__free(&tm->alloc, tm);
}

const uavmail_error_detail *uavmail_telemetry_last_error(const uavmail_telemetry *tm)
{
    return tm ? &tm->err : NULL;
}

int uavmail_telemetry_add_channel(uavmail_telemetry *tm, const char *name, const char *unit,
                                  size_t *index)
{
    size_t i;
    if (!tm)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&tm->err);
    if (tm->a.n)
        return uavmail__err_set(&tm->err, UAVMAIL_ESTATE,
                                "channel '%s' added after samples were recorded",
                                name ? name : "(null)");
    if (!uavmail__valid_name(name, TM_NAME_LEN - 1, "_-."))
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "channel name '%s': use 1-32 letters, digits, '_', '-' or '.'",
                                name ? name : "(null)");
    if (unit && *unit && !uavmail__valid_name(unit, TM_UNIT_LEN - 1, "_-./%"))
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "unit '%s' of channel '%s': use 1-16 letters, digits or _-./%%",
                                unit, name);
    if (tm->nchan == TM_MAX_CHANNELS)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL, "more than %d channels",
                                TM_MAX_CHANNELS);
    for (i = 0; i < tm->nchan; i++)
        if (strcmp(tm->chan_name[i], name) == 0)
            return uavmail__err_set(&tm->err, UAVMAIL_EINVAL, "channel '%s' added twice", name);
    uavmail__strlcpy(tm->chan_name[tm->nchan], name, TM_NAME_LEN);
    uavmail__strlcpy(tm->chan_unit[tm->nchan], unit ? unit : "", TM_UNIT_LEN);
    if (index)
        *index = tm->nchan;
    tm->nchan++;
    return 0;
}

uint64_t uavmail_telemetry_count(const uavmail_telemetry *tm)
{
    return tm ? tm->a.n : 0;
}

int uavmail_telemetry_set_home(uavmail_telemetry *tm, double lat, double lon, double alt)
{
    if (!tm || !known(lat) || !known(lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180)
        return UAVMAIL_EINVAL;
    tm->a.s.home_lat = lat;
    tm->a.s.home_lon = lon;
    tm->a.s.home_alt_msl = known(alt) && fabs(alt) < 1e15 ? alt : NAN;
    tm->a.home_set_explicitly = 1;
    return 0;
}

/* ---- recording ----------------------------------------------------------------------- */

static uint8_t intern_mode(uavmail_telemetry *tm, const char *mode)
{
    char clean[TM_MODE_LEN];
    size_t i;
    if (!mode || !*mode)
        return TM_MODE_NONE;
    uavmail__clean_text(clean, sizeof clean, mode);
    for (i = 0; i < tm->nmodes; i++)
        if (strcmp(tm->modes[i], clean) == 0)
            return (uint8_t)i;
    if (tm->nmodes == TM_MAX_MODES)
        return TM_MODE_NONE;
    memcpy(tm->modes[tm->nmodes], clean, sizeof clean);
    return (uint8_t)tm->nmodes++;
}

static int rec_in_air(const rec *r)
{
    if (r->in_air >= 0)
        return r->in_air;
    return r->armed == 1 && ((known(r->v[F_GS]) && r->v[F_GS] > 3.0) ||
                             (known(r->v[F_ALT_REL]) && r->v[F_ALT_REL] > 2.0));
}

static void acc_max(double *m, double v)
{
    if (known(v) && (!known(*m) || v > *m))
        *m = v;
}

static void accumulate(uavmail_telemetry *tm, const rec *r)
{
    acc *a = &tm->a;
    uavmail_flight_summary *s = &a->s;
    int air = rec_in_air(r), has_pos = pos_ok(r);
    if (a->n == 0)
        s->start_us = r->t;
    s->end_us = r->t;
    if (a->have_prev) {
        const rec *p = &a->prev;
        double dt = (double)(r->t - p->t) / 1e6;
        if (a->last_in_air)
            s->air_time_s += dt;
        if (known(p->v[F_CURR]) && known(r->v[F_CURR])) {
            s->charge_mah += (p->v[F_CURR] + r->v[F_CURR]) / 2.0 * dt / 3.6;
            if (known(p->v[F_VOLT]) && known(r->v[F_VOLT]))
                s->energy_wh += (p->v[F_VOLT] * p->v[F_CURR] + r->v[F_VOLT] * r->v[F_CURR]) /
                                2.0 * dt / 3600.0;
        }
        if (p->armed == 1 && p->fix >= 0 && p->fix < 3)
            s->no_fix_s += dt;
    }
    if (has_pos) {
        if (a->prev_pos_ok)
            s->distance_m += haversine(a->prev_lat, a->prev_lon, r->v[F_LAT], r->v[F_LON]);
        a->prev_pos_ok = 1;
        a->prev_lat = r->v[F_LAT];
        a->prev_lon = r->v[F_LON];
        a->prev_alt = r->v[F_ALT_MSL];
        a->npos++;
        s->land_lat = r->v[F_LAT];
        s->land_lon = r->v[F_LON];
        if (!known(s->home_lat) && (r->fix < 0 || r->fix >= 3)) {
            s->home_lat = r->v[F_LAT];
            s->home_lon = r->v[F_LON];
            s->home_alt_msl = r->v[F_ALT_MSL];
        }
    }
    if (air) {
        if (!s->takeoff_us)
            s->takeoff_us = r->t;
        s->landing_us = r->t;
    }
    acc_max(&s->max_alt_rel_m, r->v[F_ALT_REL]);
    acc_max(&s->max_alt_msl_m, r->v[F_ALT_MSL]);
    acc_max(&s->max_speed_mps, r->v[F_GS]);
    if (known(r->v[F_VOLT])) {
        if (!known(s->battery_start_v))
            s->battery_start_v = r->v[F_VOLT];
        s->battery_end_v = r->v[F_VOLT];
        if (!known(s->battery_min_v) || r->v[F_VOLT] < s->battery_min_v)
            s->battery_min_v = r->v[F_VOLT];
    }
    if (known(r->v[F_REM])) {
        if (!known(s->battery_start_pct))
            s->battery_start_pct = r->v[F_REM];
        s->battery_end_pct = r->v[F_REM];
    }
    if (r->armed == 1) {
        if (r->sats >= 0 && (s->min_satellites < 0 || r->sats < s->min_satellites))
            s->min_satellites = r->sats;
        acc_max(&s->max_hdop, r->v[F_HDOP]);
        if (r->fix >= 0) {
            if (r->fix >= 3)
                a->had_fix = 1;
            else if (a->had_fix) {
                s->fix_losses++;
                a->had_fix = 0;
            }
        }
    }
    if (r->armed == 0 && r->in_air == 1)
        a->disarmed_in_air = 1;
    a->last_in_air = air;
    a->prev = *r;
    a->have_prev = 1;
    a->n++;
}

static int spill_open(uavmail_telemetry *tm)
{
#if defined(__unix__) || defined(__APPLE__)
    if (tm->spill_dir[0]) {
        char path[600];
        int fd;
        uavmail__snprintf(path, sizeof path, "%s/uavmail-telemetry-XXXXXX", tm->spill_dir);
        fd = mkstemp(path);
        if (fd < 0)
            return -1;
        unlink(path);
        tm->spill = fdopen(fd, "w+b");
        if (!tm->spill) {
            close(fd);
            return -1;
        }
        return 0;
    }
#endif
    tm->spill = tmpfile();
    return tm->spill ? 0 : -1;
}

static int spill_flush(uavmail_telemetry *tm)
{
    if (!tm->spill && spill_open(tm) != 0)
        return uavmail__err_set(&tm->err, UAVMAIL_EFILE,
                                "cannot create the telemetry spill file in %s",
                                tm->spill_dir[0] ? tm->spill_dir : "the temporary directory");
    /* at the end of what is known good: a write cut short earlier (disk full)
     * left bytes past it, which this one overwrites */
    if (seek_to(tm->spill, tm->spilled * tm->rec_size) != 0 ||
        fwrite(tm->mem, tm->rec_size, tm->mem_n, tm->spill) != tm->mem_n ||
        fflush(tm->spill) != 0)
        return uavmail__err_set(&tm->err, UAVMAIL_EFILE,
                                "cannot write the telemetry spill file (disk full?)");
    tm->spilled += tm->mem_n;
    tm->mem_n = 0;
    return 0;
}

int uavmail_telemetry_append(uavmail_telemetry *tm, const uavmail_sample *s)
{
    rec r;
    size_t i;
    unsigned char *slot;
    if (!tm)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&tm->err);
    if (!s || s->version != UAVMAIL_SAMPLE_VERSION)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL, "sample missing or of unknown version");
    if (s->time_us < TM_TIME_MIN || s->time_us > TM_TIME_MAX)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "sample time %lld us is outside the years 1 to 9999",
                                (long long)s->time_us);
    if (tm->a.have_prev && s->time_us < tm->a.prev.t)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "sample time goes backwards (%lld us before the previous one)",
                                (long long)(tm->a.prev.t - s->time_us));
    if (s->custom_count > tm->nchan || (s->custom_count && !s->custom))
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "sample has %lu custom values but %lu channels were added",
                                (unsigned long)s->custom_count, (unsigned long)tm->nchan);
    if (!tm->mem) {
        tm->rec_size = sizeof(rec) + tm->nchan * sizeof(double);
        tm->mem = tm->mem_cap > SIZE_MAX / tm->rec_size /* FZ-07: 32-bit hosts */
                      ? NULL
                      : uavmail__malloc(&tm->alloc, tm->mem_cap * tm->rec_size);
        if (!tm->mem)
            return uavmail__err_set(&tm->err, UAVMAIL_ENOMEM, "no memory for %lu samples",
                                    (unsigned long)tm->mem_cap);
    }
    if (tm->mem_n == tm->mem_cap && spill_flush(tm) != 0)
        return tm->err.code;
    memset(&r, 0, sizeof r);
    r.t = s->time_us;
    r.v[F_LAT] = s->lat >= -90 && s->lat <= 90 ? s->lat : NAN;
    /* GPX wants -180 <= lon < 180 (also after rounding to 7 decimals) */
    r.v[F_LON] = s->lon >= -180 && s->lon <= 180 ? (s->lon >= 179.99999995 ? s->lon - 360 : s->lon)
                                                 : NAN;
    r.v[F_ALT_MSL] = s->alt_msl;
    r.v[F_ALT_REL] = s->alt_rel;
    r.v[F_GS] = s->ground_speed;
    r.v[F_CLIMB] = s->climb;
    r.v[F_HDG] = s->heading;
    r.v[F_VOLT] = s->voltage;
    r.v[F_CURR] = s->current;
    r.v[F_REM] = s->remaining;
    r.v[F_HDOP] = s->hdop;
    for (i = 0; i < F_COUNT; i++)
        if (!known(r.v[i]) || fabs(r.v[i]) >= 1e15) /* no physical value: unknown */
            r.v[i] = NAN;
    r.fix = (int16_t)(s->fix_type >= 0 && s->fix_type <= 255 ? s->fix_type : -1);
    r.sats = (int16_t)(s->satellites >= 0 && s->satellites <= 255 ? s->satellites : -1);
    r.armed = (int8_t)(s->armed == 0 || s->armed == 1 ? s->armed : -1);
    r.in_air = (int8_t)(s->in_air == 0 || s->in_air == 1 ? s->in_air : -1);
    r.mode = intern_mode(tm, s->mode);
    slot = tm->mem + tm->mem_n * tm->rec_size;
    memcpy(slot, &r, sizeof r);
    for (i = 0; i < tm->nchan; i++) {
        double v = i < s->custom_count && known(s->custom[i]) && fabs(s->custom[i]) < 1e15
                       ? s->custom[i]
                       : NAN;
        memcpy(slot + sizeof r + i * sizeof v, &v, sizeof v);
    }
    tm->mem_n++;
    accumulate(tm, &r);
    return 0;
}

int uavmail_telemetry_add_event(uavmail_telemetry *tm, int64_t t, int severity,
                                const char *text)
{
    tm_event *e;
    if (!tm || !text || severity < 0 || severity > 7 || t < TM_TIME_MIN || t > TM_TIME_MAX)
        return UAVMAIL_EINVAL;
    tm->a.s.events++;
    if (severity <= UAVMAIL_SEV_WARNING)
        tm->a.s.warnings++;
    if (severity == UAVMAIL_SEV_EMERGENCY)
        tm->a.emergency = 1;
    if (severity <= UAVMAIL_SEV_ERROR)
        tm->a.alert = 1;
    if (tm->nevents == TM_MAX_EVENTS)
        return 0;
    if (tm->nevents == tm->events_cap) {
        size_t cap = tm->events_cap ? tm->events_cap * 2 : 16;
        tm_event *p = uavmail__realloc(&tm->alloc, tm->events, cap * sizeof *p);
        if (!p) {
            tm->a.s.events--;
            return UAVMAIL_ENOMEM;
        }
        tm->events = p;
        tm->events_cap = cap;
    }
    e = &tm->events[tm->nevents++];
    e->t = t;
    e->severity = severity;
    e->lat = tm->a.prev_pos_ok ? tm->a.prev_lat : NAN;
    e->lon = tm->a.prev_pos_ok ? tm->a.prev_lon : NAN;
    e->alt = tm->a.prev_pos_ok ? tm->a.prev_alt : NAN;
    uavmail__clean_text(e->text, sizeof e->text, text);
    return 0;
}

int uavmail_telemetry_summary(const uavmail_telemetry *tm, uavmail_flight_summary *out)
{
    const uavmail_flight_summary *s;
    if (!tm || !out || out->version != UAVMAIL_FLIGHT_SUMMARY_VERSION)
        return UAVMAIL_EINVAL;
    s = &tm->a.s;
    *out = *s;
    out->samples = tm->a.n;
    out->duration_s = tm->a.n ? (double)(s->end_us - s->start_us) / 1e6 : 0.0;
    if (known(s->home_lat) && known(s->land_lat))
        out->land_home_m = haversine(s->home_lat, s->home_lon, s->land_lat, s->land_lon);
    out->flags = tm->a.alert ? UAVMAIL_FLIGHT_ALERT : 0;
    if (tm->a.emergency || tm->a.disarmed_in_air)
        out->flags |= UAVMAIL_FLIGHT_CRASH;
    return 0;
}

/* ---- record access ------------------------------------------------------------------- */

/* Record @p i (of the whole flight) for generator @p g; NULL on a read error. */
static const unsigned char *rec_at(gen *g, uint64_t i)
{
    uavmail_telemetry *tm = g->tm;
    size_t want;
    if (i >= tm->spilled)
        return tm->mem + (size_t)(i - tm->spilled) * tm->rec_size;
    if (i >= g->rfirst && i < g->rfirst + g->rcount)
        return g->rbuf + (size_t)(i - g->rfirst) * tm->rec_size;
    if (!g->rbuf) {
        g->rbuf = uavmail__malloc(&tm->alloc, TM_READ_RECORDS * tm->rec_size);
        if (!g->rbuf)
            return NULL;
    }
    want = tm->spilled - i < TM_READ_RECORDS ? (size_t)(tm->spilled - i) : TM_READ_RECORDS;
    if (i > UINT64_MAX / tm->rec_size || seek_to(tm->spill, i * tm->rec_size) != 0 ||
        fread(g->rbuf, tm->rec_size, want, tm->spill) != want) {
        g->rcount = 0;
        return NULL;
    }
    g->rfirst = i;
    g->rcount = want;
    return g->rbuf;
}

/* ---- text output --------------------------------------------------------------------- */

static void put(gen *g, const char *s, size_t n)
{
    if (g->len + n > sizeof g->out) {
        g->overflow = 1;
        return;
    }
    memcpy(g->out + g->len, s, n);
    g->len += n;
}

static void puts_(gen *g, const char *s) { put(g, s, strlen(s)); }

static void putc_(gen *g, char c) { put(g, &c, 1); }

/* A decimal number with @p dec fraction digits, the same in every locale. */
static void fmt_fixed(char *buf, size_t cap, double v, int dec)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    double a = fabs(v) * p10[dec] + 0.5;
    uint64_t n, ip, fp, p = (uint64_t)p10[dec];
    if (!known(v)) {
        buf[0] = '\0';
        return;
    }
    if (fabs(v) >= 1e15) { /* no physical telemetry value: written as unknown */
        buf[0] = '\0';
        return;
    }
    n = (uint64_t)a;
    ip = n / p;
    fp = n % p;
    if (dec)
        uavmail__snprintf(buf, cap, "%s%llu.%0*llu", v < 0 && n ? "-" : "",
                          (unsigned long long)ip, dec, (unsigned long long)fp);
    else
        uavmail__snprintf(buf, cap, "%s%llu", v < 0 && n ? "-" : "", (unsigned long long)ip);
}

static void put_fixed(gen *g, double v, int dec)
{
    char b[48];
    fmt_fixed(b, sizeof b, v, dec);
    puts_(g, b);
}

static void put_int(gen *g, long long v)
{
    char b[24];
    uavmail__snprintf(b, sizeof b, "%lld", v);
    puts_(g, b);
}

/* ISO 8601 UTC with milliseconds: 2026-11-22T14:03:05.100Z */
static void fmt_time(char *buf, size_t cap, int64_t us, int with_ms)
{
    int64_t ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    int64_t sec = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t day = (sec >= 0 ? sec : sec - 86399) / 86400, sod = sec - day * 86400;
    int y, mo, d;
    uavmail__civil_from_days(day, &y, &mo, &d);
    if (with_ms)
        uavmail__snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d,
                          (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
                          (int)(ms - sec * 1000));
    else
        uavmail__snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
                          (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
}

static void put_time(gen *g, int64_t us)
{
    char b[40];
    fmt_time(b, sizeof b, us, 1);
    puts_(g, b);
}

static void put_xml(gen *g, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': puts_(g, "&amp;"); break;
        case '<': puts_(g, "&lt;"); break;
        case '>': puts_(g, "&gt;"); break;
        case '"': puts_(g, "&quot;"); break;
        case '\'': puts_(g, "&apos;"); break;
        default: putc_(g, *s);
        }
    }
}

static void put_json_str(gen *g, const char *s)
{
    putc_(g, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            putc_(g, '\\');
            putc_(g, (char)c);
        } else if (c < 0x20) {
            char b[8];
            uavmail__snprintf(b, sizeof b, "\\u%04x", c);
            puts_(g, b);
        } else {
            putc_(g, (char)c);
        }
    }
    putc_(g, '"');
}

static const char *severity_name(int s)
{
    static const char *const names[] = {"emergency", "alert", "critical", "error",
                                        "warning", "notice", "info", "debug"};
    return s >= 0 && s <= 7 ? names[s] : "unknown";
}

static const char *mode_name(const uavmail_telemetry *tm, const rec *r)
{
    return r->mode < tm->nmodes ? tm->modes[r->mode] : "";
}

/* Standard columns: name, unit, record field (-1 time, -2 fix, -3 sats,
 * -4 armed, -5 in_air, -6 mode), decimals. */
static const struct column {
    const char *name, *unit;
    int field, dec;
} columns[] = {
    {"time", "utc", -1, 0},       {"lat", "deg", F_LAT, 7},      {"lon", "deg", F_LON, 7},
    {"alt_msl", "m", F_ALT_MSL, 2}, {"alt_rel", "m", F_ALT_REL, 2}, {"ground_speed", "m/s", F_GS, 2},
    {"climb", "m/s", F_CLIMB, 2},  {"heading", "deg", F_HDG, 1},   {"voltage", "V", F_VOLT, 3},
    {"current", "A", F_CURR, 3},   {"remaining", "%", F_REM, 1},   {"hdop", "", F_HDOP, 2},
    {"fix_type", "", -2, 0},       {"satellites", "", -3, 0},      {"armed", "", -4, 0},
    {"in_air", "", -5, 0},         {"mode", "", -6, 0},
};

static int rec_int(const rec *r, int field)
{
    switch (field) {
    case -2: return r->fix;
    case -3: return r->sats;
    case -4: return r->armed;
    default: return r->in_air;
    }
}

static double rec_custom(const unsigned char *raw, size_t c)
{
    double v;
    memcpy(&v, raw + sizeof(rec) + c * sizeof v, sizeof v);
    return v;
}

/* ---- the generators ------------------------------------------------------------------ */

enum { PH_HEAD, PH_SAMPLES, PH_MID, PH_EVENTS, PH_TAIL, PH_DONE };

static void csv_field(gen *g, const char *s)
{
    if (strpbrk(s, ",\"\r\n")) {
        putc_(g, '"');
        for (; *s; s++) {
            if (*s == '"')
                putc_(g, '"');
            putc_(g, *s);
        }
        putc_(g, '"');
    } else {
        puts_(g, s);
    }
}

static void csv_step(gen *g, const rec *r, const unsigned char *raw)
{
    size_t i;
    uavmail_telemetry *tm = g->tm;
    if (g->phase == PH_HEAD) {
        char b[64];
        for (i = 0; i < UAVMAIL__ARRAY_LEN(columns); i++) {
            if (i)
                putc_(g, ',');
            if (columns[i].unit[0])
                uavmail__snprintf(b, sizeof b, "%s_%s", columns[i].name,
                                  strcmp(columns[i].unit, "%") == 0     ? "pct"
                                  : strcmp(columns[i].unit, "m/s") == 0 ? "mps"
                                                                        : columns[i].unit);
            else
                uavmail__strlcpy(b, columns[i].name, sizeof b);
            puts_(g, b);
        }
        for (i = 0; i < tm->nchan; i++) {
            putc_(g, ',');
            puts_(g, tm->chan_name[i]);
            if (tm->chan_unit[i][0]) {
                putc_(g, '_');
                puts_(g, tm->chan_unit[i]);
            }
        }
        puts_(g, "\r\n");
        return;
    }
    for (i = 0; i < UAVMAIL__ARRAY_LEN(columns); i++) {
        int f = columns[i].field;
        if (i)
            putc_(g, ',');
        if (f == -1)
            put_time(g, r->t);
        else if (f >= 0)
            put_fixed(g, r->v[f], columns[i].dec);
        else if (f == -6)
            csv_field(g, mode_name(tm, r));
        else if (rec_int(r, f) >= 0)
            put_int(g, rec_int(r, f));
    }
    for (i = 0; i < tm->nchan; i++) {
        putc_(g, ',');
        put_fixed(g, rec_custom(raw, i), 4);
    }
    puts_(g, "\r\n");
}

static void gpx_step(gen *g, const rec *r)
{
    uavmail_telemetry *tm = g->tm;
    switch (g->phase) {
    case PH_HEAD:
        puts_(g, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<gpx version=\"1.1\" creator=\"uavmail\" "
                 "xmlns=\"http://www.topografix.com/GPX/1/1\">\n<metadata><name>");
        put_xml(g, tm->vehicle);
        puts_(g, " flight</name>");
        if (g->n) {
            puts_(g, "<time>");
            put_time(g, g->sum.start_us);
            puts_(g, "</time>");
        }
        puts_(g, "</metadata>\n");
        if (known(g->sum.home_lat)) {
            puts_(g, "<wpt lat=\"");
            put_fixed(g, g->sum.home_lat, 7);
            puts_(g, "\" lon=\"");
            put_fixed(g, g->sum.home_lon, 7);
            puts_(g, "\">");
            if (known(g->sum.home_alt_msl)) {
                puts_(g, "<ele>");
                put_fixed(g, g->sum.home_alt_msl, 2);
                puts_(g, "</ele>");
            }
            puts_(g, "<name>Home</name></wpt>\n");
        }
        puts_(g, "<trk><name>");
        put_xml(g, tm->vehicle);
        puts_(g, "</name><trkseg>\n");
        return;
    case PH_SAMPLES:
        if (!pos_ok(r))
            return;
        puts_(g, "<trkpt lat=\"");
        put_fixed(g, r->v[F_LAT], 7);
        puts_(g, "\" lon=\"");
        put_fixed(g, r->v[F_LON], 7);
        puts_(g, "\">");
        if (known(r->v[F_ALT_MSL])) {
            puts_(g, "<ele>");
            put_fixed(g, r->v[F_ALT_MSL], 2);
            puts_(g, "</ele>");
        }
        puts_(g, "<time>");
        put_time(g, r->t);
        puts_(g, "</time>");
        if (r->fix >= 2)
            puts_(g, r->fix == 2 ? "<fix>2d</fix>" : r->fix == 3 ? "<fix>3d</fix>"
                                                                 : "<fix>dgps</fix>");
        if (r->sats >= 0) {
            puts_(g, "<sat>");
            put_int(g, r->sats);
            puts_(g, "</sat>");
        }
        if (known(r->v[F_HDOP])) {
            puts_(g, "<hdop>");
            put_fixed(g, r->v[F_HDOP], 2);
            puts_(g, "</hdop>");
        }
        puts_(g, "</trkpt>\n");
        return;
    default:
        puts_(g, "</trkseg></trk>\n</gpx>\n");
    }
}

static void kml_point(gen *g, const char *name, double lat, double lon, double alt)
{
    puts_(g, "<Placemark><name>");
    put_xml(g, name);
    puts_(g, known(alt) ? "</name><Point><altitudeMode>absolute</altitudeMode><coordinates>"
                        : "</name><Point><altitudeMode>clampToGround</altitudeMode><coordinates>");
    put_fixed(g, lon, 7);
    putc_(g, ',');
    put_fixed(g, lat, 7);
    if (known(alt)) {
        putc_(g, ',');
        put_fixed(g, alt, 2);
    }
    puts_(g, "</coordinates></Point></Placemark>\n");
}

static void kml_step(gen *g, const rec *r)
{
    uavmail_telemetry *tm = g->tm;
    int track = g->npos >= 2;
    switch (g->phase) {
    case PH_HEAD:
        puts_(g, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<kml xmlns=\"http://www.opengis.net/kml/2.2\"><Document><name>");
        put_xml(g, tm->vehicle);
        puts_(g, " flight</name>\n");
        if (known(g->sum.home_lat))
            kml_point(g, "Home", g->sum.home_lat, g->sum.home_lon, g->sum.home_alt_msl);
        if (track) /* heights above sea level when the record has any, else on the ground */
            puts_(g, known(g->sum.max_alt_msl_m)
                         ? "<Placemark><name>Track</name><LineString><altitudeMode>absolute"
                           "</altitudeMode><coordinates>\n"
                         : "<Placemark><name>Track</name><LineString><altitudeMode>"
                           "clampToGround</altitudeMode><coordinates>\n");
        g->last_alt = NAN;
        return;
    case PH_SAMPLES:
        if (!track || !pos_ok(r))
            return;
        if (known(r->v[F_ALT_MSL]))
            g->last_alt = r->v[F_ALT_MSL];
        if (known(g->sum.max_alt_msl_m) && !known(g->last_alt))
            return; /* no height yet in an absolute track: not a point at sea level */
        put_fixed(g, r->v[F_LON], 7);
        putc_(g, ',');
        put_fixed(g, r->v[F_LAT], 7);
        if (known(g->sum.max_alt_msl_m)) {
            putc_(g, ',');
            put_fixed(g, g->last_alt, 2);
        }
        putc_(g, '\n');
        return;
    default:
        if (track)
            puts_(g, "</coordinates></LineString></Placemark>\n");
        if (known(g->sum.land_lat))
            kml_point(g, "Landing", g->sum.land_lat, g->sum.land_lon, g->land_alt);
        puts_(g, "</Document></kml>\n");
    }
}

static void json_pos(gen *g, double lat, double lon, double alt)
{
    putc_(g, '[');
    put_fixed(g, lon, 7);
    putc_(g, ',');
    put_fixed(g, lat, 7);
    if (known(alt)) {
        putc_(g, ',');
        put_fixed(g, alt, 2);
    }
    putc_(g, ']');
}

static void json_point(gen *g, const char *kind, double lat, double lon, double alt)
{
    puts_(g, ",\n{\"type\":\"Feature\",\"properties\":{\"name\":");
    put_json_str(g, kind);
    puts_(g, "},\"geometry\":{\"type\":\"Point\",\"coordinates\":");
    json_pos(g, lat, lon, alt);
    puts_(g, "}}");
}

static void geojson_step(gen *g, const rec *r)
{
    uavmail_telemetry *tm = g->tm;
    int track = g->npos >= 2;
    const tm_event *e;
    switch (g->phase) {
    case PH_HEAD:
        puts_(g, "{\"type\":\"FeatureCollection\",\"features\":[\n"
                 "{\"type\":\"Feature\",\"properties\":{\"name\":\"track\",\"vehicle\":");
        put_json_str(g, tm->vehicle);
        if (g->n) {
            puts_(g, ",\"start\":\"");
            put_time(g, g->sum.start_us);
            puts_(g, "\",\"end\":\"");
            put_time(g, g->sum.end_us);
            putc_(g, '"');
        }
        puts_(g, track ? "},\"geometry\":{\"type\":\"LineString\",\"coordinates\":[\n"
                       : "},\"geometry\":null}");
        g->first = 1;
        return;
    case PH_SAMPLES:
        if (!track || !pos_ok(r))
            return;
        if (!g->first)
            puts_(g, ",\n");
        g->first = 0;
        json_pos(g, r->v[F_LAT], r->v[F_LON], r->v[F_ALT_MSL]);
        return;
    case PH_MID:
        if (track)
            puts_(g, "]}}");
        if (known(g->sum.home_lat))
            json_point(g, "home", g->sum.home_lat, g->sum.home_lon, g->sum.home_alt_msl);
        if (known(g->sum.land_lat))
            json_point(g, "landing", g->sum.land_lat, g->sum.land_lon, NAN);
        return;
    case PH_EVENTS:
        e = &tm->events[g->ev];
        puts_(g, ",\n{\"type\":\"Feature\",\"properties\":{\"name\":\"event\",\"time\":\"");
        put_time(g, e->t);
        puts_(g, "\",\"severity\":\"");
        puts_(g, severity_name(e->severity));
        puts_(g, "\",\"text\":");
        put_json_str(g, e->text);
        puts_(g, "},\"geometry\":");
        if (known(e->lat)) {
            puts_(g, "{\"type\":\"Point\",\"coordinates\":");
            json_pos(g, e->lat, e->lon, e->alt);
            putc_(g, '}');
        } else {
            puts_(g, "null");
        }
        putc_(g, '}');
        return;
    default:
        puts_(g, "\n]}\n");
    }
}

/* ---- CBOR (libcbor's streaming encoders) ---------------------------------------------- */

static void cb_put(gen *g, size_t n)
{
    if (n == 0)
        g->overflow = 1;
    else
        g->len += n;
}

#define CB(call) cb_put(g, call)
#define ROOM ((unsigned char *)g->out + g->len), (sizeof g->out - g->len)

static void cb_text(gen *g, const char *s)
{
    size_t n = strlen(s);
    CB(cbor_encode_string_start(n, ROOM));
    put(g, s, n);
}

static void cb_double(gen *g, double v)
{
    if (known(v))
        CB(cbor_encode_double(v, ROOM));
    else
        CB(cbor_encode_null(ROOM));
}

static void cb_int(gen *g, int64_t v)
{
    if (v >= 0)
        CB(cbor_encode_uint((uint64_t)v, ROOM));
    else
        CB(cbor_encode_negint((uint64_t)(-(v + 1)), ROOM));
}

static void cb_summary(gen *g)
{
    const uavmail_flight_summary *s = &g->sum;
    const struct {
        const char *k;
        double v;
    } d[] = {
        {"duration_s", s->duration_s},       {"air_time_s", s->air_time_s},
        {"distance_m", s->distance_m},       {"max_alt_rel_m", s->max_alt_rel_m},
        {"max_alt_msl_m", s->max_alt_msl_m}, {"max_speed_mps", s->max_speed_mps},
        {"battery_start_v", s->battery_start_v}, {"battery_end_v", s->battery_end_v},
        {"battery_min_v", s->battery_min_v}, {"battery_start_pct", s->battery_start_pct},
        {"battery_end_pct", s->battery_end_pct}, {"charge_mah", s->charge_mah},
        {"energy_wh", s->energy_wh},         {"max_hdop", s->max_hdop},
        {"no_fix_s", s->no_fix_s},           {"home_lat", s->home_lat},
        {"home_lon", s->home_lon},           {"home_alt_msl", s->home_alt_msl},
        {"land_lat", s->land_lat},           {"land_lon", s->land_lon},
        {"land_home_m", s->land_home_m},
    };
    const struct {
        const char *k;
        int64_t v;
    } n[] = {
        {"samples", (int64_t)s->samples}, {"start_us", s->start_us}, {"end_us", s->end_us},
        {"takeoff_us", s->takeoff_us},    {"landing_us", s->landing_us},
        {"min_satellites", s->min_satellites}, {"fix_losses", s->fix_losses},
        {"events", s->events},            {"warnings", s->warnings}, {"flags", s->flags},
    };
    size_t i;
    CB(cbor_encode_map_start(UAVMAIL__ARRAY_LEN(d) + UAVMAIL__ARRAY_LEN(n), ROOM));
    for (i = 0; i < UAVMAIL__ARRAY_LEN(n); i++) {
        cb_text(g, n[i].k);
        if (strcmp(n[i].k, "min_satellites") == 0 && n[i].v < 0)
            CB(cbor_encode_null(ROOM));
        else
            cb_int(g, n[i].v);
    }
    for (i = 0; i < UAVMAIL__ARRAY_LEN(d); i++) {
        cb_text(g, d[i].k);
        cb_double(g, d[i].v);
    }
}

static void cbor_step(gen *g, const rec *r, const unsigned char *raw)
{
    uavmail_telemetry *tm = g->tm;
    size_t i;
    const tm_event *e;
    switch (g->phase) {
    case PH_HEAD:
        CB(cbor_encode_map_start(6, ROOM));
        cb_text(g, "schema");
        cb_text(g, "uavmail-flight/1");
        cb_text(g, "vehicle");
        cb_text(g, tm->vehicle);
        cb_text(g, "summary");
        cb_summary(g);
        cb_text(g, "columns");
        CB(cbor_encode_array_start(UAVMAIL__ARRAY_LEN(columns) + tm->nchan, ROOM));
        for (i = 0; i < UAVMAIL__ARRAY_LEN(columns); i++) {
            CB(cbor_encode_array_start(2, ROOM));
            cb_text(g, columns[i].field == -1 ? "time_us" : columns[i].name);
            cb_text(g, columns[i].field == -1 ? "us" : columns[i].unit);
        }
        for (i = 0; i < tm->nchan; i++) {
            CB(cbor_encode_array_start(2, ROOM));
            cb_text(g, tm->chan_name[i]);
            cb_text(g, tm->chan_unit[i]);
        }
        cb_text(g, "samples");
        CB(cbor_encode_array_start((size_t)g->n, ROOM));
        return;
    case PH_SAMPLES:
        CB(cbor_encode_array_start(UAVMAIL__ARRAY_LEN(columns) + tm->nchan, ROOM));
        for (i = 0; i < UAVMAIL__ARRAY_LEN(columns); i++) {
            int f = columns[i].field;
            if (f == -1)
                cb_int(g, r->t);
            else if (f >= 0)
                cb_double(g, r->v[f]);
            else if (f == -6 && r->mode < tm->nmodes)
                cb_text(g, tm->modes[r->mode]);
            else if (f == -4 || f == -5)
                CB(rec_int(r, f) >= 0 ? cbor_encode_bool(rec_int(r, f) == 1, ROOM)
                                      : cbor_encode_null(ROOM));
            else if (f != -6 && rec_int(r, f) >= 0)
                cb_int(g, rec_int(r, f));
            else
                CB(cbor_encode_null(ROOM));
        }
        for (i = 0; i < tm->nchan; i++)
            cb_double(g, rec_custom(raw, i));
        return;
    case PH_MID:
        cb_text(g, "events");
        CB(cbor_encode_array_start(g->nev, ROOM));
        return;
    case PH_EVENTS:
        e = &tm->events[g->ev];
        CB(cbor_encode_map_start(5, ROOM));
        cb_text(g, "time_us");
        cb_int(g, e->t);
        cb_text(g, "severity");
        cb_int(g, e->severity);
        cb_text(g, "text");
        cb_text(g, e->text);
        cb_text(g, "lat");
        cb_double(g, e->lat);
        cb_text(g, "lon");
        cb_double(g, e->lon);
        return;
    default:
        return;
    }
}

/* Produce the next unit into g->out; 0, or -1 on a read error or overflow. */
static int gen_step(gen *g)
{
    const unsigned char *raw = NULL;
    rec r;
    g->len = g->pos = 0;
    if (g->phase == PH_SAMPLES) {
        if (g->i == g->n) {
            g->phase = PH_MID;
            return gen_step(g);
        }
        raw = rec_at(g, g->i);
        if (!raw)
            return -1;
        memcpy(&r, raw, sizeof r);
        g->i++;
    } else if (g->phase == PH_EVENTS && g->ev == g->nev) {
        g->phase = PH_TAIL;
    }
    switch (g->format) {
    case UAVMAIL_TM_CSV:
        if (g->phase == PH_HEAD || g->phase == PH_SAMPLES)
            csv_step(g, &r, raw);
        break;
    case UAVMAIL_TM_GPX:
        if (g->phase != PH_MID && g->phase != PH_EVENTS)
            gpx_step(g, &r);
        break;
    case UAVMAIL_TM_KML:
        if (g->phase != PH_MID && g->phase != PH_EVENTS)
            kml_step(g, &r);
        break;
    case UAVMAIL_TM_GEOJSON:
        geojson_step(g, &r);
        break;
    default:
        cbor_step(g, &r, raw);
    }
    switch (g->phase) {
    case PH_HEAD: g->phase = PH_SAMPLES; break;
    case PH_MID: g->phase = PH_EVENTS; break;
    case PH_EVENTS: g->ev++; break;
    case PH_TAIL: g->phase = PH_DONE; break;
    default: break;
    }
    return g->overflow ? -1 : 0;
}

static void gen_reset(gen *g)
{
    g->phase = PH_HEAD;
    g->i = 0;
    g->ev = 0;
    g->produced = 0;
    g->len = g->pos = 0;
    g->overflow = 0;
}

/* Copy up to @p cap bytes; returns the count (0 at the end) or -1. */
static long gen_read(gen *g, void *buf, size_t cap)
{
    size_t done = 0;
    while (done < cap) {
        size_t n;
        if (g->pos == g->len) {
            if (g->phase == PH_DONE)
                break;
            if (gen_step(g) != 0)
                return -1;
            continue;
        }
        n = g->len - g->pos < cap - done ? g->len - g->pos : cap - done;
        memcpy((char *)buf + done, g->out + g->pos, n);
        g->pos += n;
        done += n;
    }
    g->produced += done;
    return (long)done;
}

static long gen_cb(void *buf, size_t cap, uint64_t offset, void *user_data)
{
    gen *g = user_data;
    if (offset == 0 && g->produced)
        gen_reset(g);
    if (offset != g->produced)
        return -1;
    if (cap > 65536)
        cap = 65536;
    return gen_read(g, buf, cap);
}

static const char *format_ext(int f)
{
    switch (f) {
    case UAVMAIL_TM_CSV: return "csv";
    case UAVMAIL_TM_GPX: return "gpx";
    case UAVMAIL_TM_KML: return "kml";
    case UAVMAIL_TM_GEOJSON: return "geojson";
    default: return "cbor";
    }
}

static const char *format_type(int f)
{
    switch (f) {
    case UAVMAIL_TM_CSV: return "text/csv; charset=utf-8; header=present"; /* RFC 4180 */
    case UAVMAIL_TM_GPX: return "application/gpx+xml";
    case UAVMAIL_TM_KML: return "application/vnd.google-earth.kml+xml";
    case UAVMAIL_TM_GEOJSON: return "application/geo+json";
    default: return "application/cbor";
    }
}

static int valid_format(int f)
{
    return f == UAVMAIL_TM_CSV || f == UAVMAIL_TM_GPX || f == UAVMAIL_TM_KML ||
           f == UAVMAIL_TM_GEOJSON || f == UAVMAIL_TM_CBOR;
}

static gen *gen_new(uavmail_telemetry *tm, int format)
{
    gen *g = uavmail__calloc(&tm->alloc, 1, sizeof *g);
    if (!g)
        return NULL;
    g->tm = tm;
    g->format = format;
    g->n = tm->a.n;
    g->nev = tm->nevents;
    g->sum.version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
    uavmail_telemetry_summary(tm, &g->sum);
    g->npos = tm->a.npos;
    g->land_alt = tm->a.prev_pos_ok ? tm->a.prev_alt : NAN;
    gen_reset(g);
    return g;
}

static int read_error(uavmail_telemetry *tm, gen *g)
{
    return g->overflow ? uavmail__err_set(&tm->err, UAVMAIL_EINTERNAL,
                                          "telemetry writer buffer overflow")
                       : uavmail__err_set(&tm->err, UAVMAIL_EFILE,
                                          "cannot read the telemetry spill file back");
}

int uavmail_telemetry_write_file(uavmail_telemetry *tm, int format, const char *path)
{
    gen *g;
    FILE *f;
    char buf[8192];
    long n;
    int rc = 0;
    if (!tm)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&tm->err);
    if (!valid_format(format) || !path)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL, "unknown telemetry format %d or no path",
                                format);
    g = gen_new(tm, format);
    if (!g)
        return uavmail__err_set(&tm->err, UAVMAIL_ENOMEM, "no memory for a telemetry writer");
    f = fopen(path, "wb");
    if (!f) {
        gen_free(tm, g);
        return uavmail__err_set(&tm->err, UAVMAIL_EFILE, "cannot create %s", path);
    }
    while ((n = gen_read(g, buf, sizeof buf)) > 0)
        if (fwrite(buf, 1, (size_t)n, f) != (size_t)n) {
            rc = uavmail__err_set(&tm->err, UAVMAIL_EFILE, "cannot write %s", path);
            break;
        }
    if (n < 0)
        rc = read_error(tm, g);
    if (fclose(f) != 0 && rc == 0)
        rc = uavmail__err_set(&tm->err, UAVMAIL_EFILE, "cannot write %s", path);
    gen_free(tm, g);
    return rc;
}

static void default_name(const uavmail_telemetry *tm, char *buf, size_t cap, const char *ext)
{
    char t[40], stamp[20];
    size_t i, o = 0;
    fmt_time(t, sizeof t, tm->a.s.start_us, 0);
    /* 2026-11-22T14:03:05Z -> 20261122T1403Z */
    for (i = 0; t[i] && o < 13; i++)
        if (t[i] != '-' && t[i] != ':')
            stamp[o++] = t[i];
    stamp[o++] = 'Z';
    stamp[o] = '\0';
    for (o = 0, i = 0; tm->vehicle[i] && o < 40; i++) {
        char c = tm->vehicle[i];
        buf[o++] = uavmail__is_alpha((unsigned char)c) || uavmail__is_digit((unsigned char)c) ||
                           c == '-' || c == '_'
                       ? c
                       : '_';
    }
    uavmail__snprintf(buf + o, cap - o, "-%s.%s", stamp, ext);
}

int uavmail_telemetry_attach(uavmail_telemetry *tm, uavmail_message *msg, int format,
                             const char *filename)
{
    gen *g;
    char name[96], buf[8192];
    long n;
    int64_t size = 0;
    int rc;
    if (!tm)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&tm->err);
    if (!msg || !valid_format(format))
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL, "no message or unknown format %d",
                                format);
    g = gen_new(tm, format);
    if (!g)
        return uavmail__err_set(&tm->err, UAVMAIL_ENOMEM, "no memory for a telemetry writer");
    while ((n = gen_read(g, buf, sizeof buf)) > 0) /* exact size for SIZE and budgets */
        size += n;
    if (n < 0) {
        rc = read_error(tm, g);
        gen_free(tm, g);
        return rc;
    }
    gen_reset(g);
    if (!filename) {
        default_name(tm, name, sizeof name, format_ext(format));
        filename = name;
    }
    /* type/subtype here; CSV's parameters go on after (the public API takes none) */
    rc = uavmail_message_attach_callback(msg, gen_cb, size,
                                         format == UAVMAIL_TM_CSV ? "text/csv" : format_type(format),
                                         filename, g);
    if (rc != 0) {
        uavmail__err_copy(&tm->err, uavmail_message_last_error(msg));
        gen_free(tm, g);
        return rc;
    }
    if (format == UAVMAIL_TM_CSV)
        uavmail__message_set_last_type(msg, format_type(format));
    g->next = tm->gens;
    tm->gens = g;
    return 0;
}

uint64_t uavmail_encoded_size(uint64_t raw)
{
    uint64_t groups = raw / 3 + (raw % 3 != 0), lines = raw / 57 + (raw % 57 != 0);
    if (groups > (UINT64_MAX - 2 * lines) / 4 || lines > UINT64_MAX / 2)
        return UINT64_MAX; /* saturate (FZ-07) */
    return groups * 4 + 2 * lines;
}

/* ---- the report ---------------------------------------------------------------------- */

typedef struct sbuf {
    const uavmail__alloc *al;
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 1024);
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = uavmail__realloc(b->al, b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) UAVMAIL__PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        sb_put(b, tmp, (size_t)n);
        return;
    }
    sb_put(b, "", 0);
    if (b->oom || (size_t)n + 1 > b->cap - b->len) { /* grow, then format in place */
        size_t len = b->len;
        char *p;
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < len + (size_t)n + 1)
            cap *= 2;
        if (b->oom || (p = uavmail__realloc(b->al, b->p, cap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void sb_html(sbuf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': sb_put(b, "&amp;", 5); break;
        case '<': sb_put(b, "&lt;", 4); break;
        case '>': sb_put(b, "&gt;", 4); break;
        case '"': sb_put(b, "&quot;", 6); break;
        default: sb_put(b, s, 1);
        }
    }
}

static void fmt_duration(char *buf, size_t cap, double s)
{
    long t = known(s) && s > 0 ? (long)(s + 0.5) : 0;
    if (t >= 3600)
        uavmail__snprintf(buf, cap, "%ld h %02ld min %02ld s", t / 3600, t / 60 % 60, t % 60);
    else
        uavmail__snprintf(buf, cap, "%ld min %02ld s", t / 60, t % 60);
}

/* Short "HH:MMZ" or "YYYY-MM-DD HH:MMZ" forms. */
static void fmt_short(char *buf, size_t cap, int64_t us, int date)
{
    char t[40];
    fmt_time(t, sizeof t, us, 0);
    if (date)
        uavmail__snprintf(buf, cap, "%.10s %.5sZ", t, t + 11);
    else
        uavmail__snprintf(buf, cap, "%.8sZ", t + 11);
}

/* One summary row: label and value text (already formatted). */
typedef struct row {
    const char *label;
    char value[160];
} row;

static size_t summary_rows(const uavmail_flight_summary *s, row *rows)
{
    size_t n = 0;
    char a[48], b[48], c[48], d[48];
#define ROW(lbl) (rows[n].label = (lbl), rows[n++].value)
    fmt_short(a, sizeof a, s->start_us, 1);
    uavmail__snprintf(ROW("Start"), sizeof rows[0].value, "%s", a);
    fmt_short(a, sizeof a, s->end_us, 1);
    uavmail__snprintf(ROW("End"), sizeof rows[0].value, "%s", a);
    fmt_duration(a, sizeof a, s->duration_s);
    fmt_duration(b, sizeof b, s->air_time_s);
    uavmail__snprintf(ROW("Duration"), sizeof rows[0].value, "%s (in the air %s)", a, b);
    fmt_fixed(a, sizeof a, s->distance_m / 1000.0, 2);
    uavmail__snprintf(ROW("Distance"), sizeof rows[0].value, "%s km", a);
    fmt_fixed(a, sizeof a, s->max_alt_rel_m, 1);
    fmt_fixed(b, sizeof b, s->max_alt_msl_m, 1);
    uavmail__snprintf(ROW("Max altitude"), sizeof rows[0].value, "%s m above home (%s m MSL)",
                      a[0] ? a : "?", b[0] ? b : "?");
    fmt_fixed(a, sizeof a, s->max_speed_mps, 1);
    uavmail__snprintf(ROW("Max speed"), sizeof rows[0].value, "%s m/s", a[0] ? a : "?");
    fmt_fixed(a, sizeof a, s->battery_start_v, 2);
    fmt_fixed(b, sizeof b, s->battery_end_v, 2);
    fmt_fixed(c, sizeof c, s->battery_min_v, 2);
    uavmail__snprintf(ROW("Battery"), sizeof rows[0].value, "%s V -> %s V (min %s V)",
                      a[0] ? a : "?", b[0] ? b : "?", c[0] ? c : "?");
    fmt_fixed(a, sizeof a, s->charge_mah, 0);
    fmt_fixed(b, sizeof b, s->energy_wh, 1);
    fmt_fixed(c, sizeof c, s->battery_start_pct, 0);
    fmt_fixed(d, sizeof d, s->battery_end_pct, 0);
    uavmail__snprintf(ROW("Energy used"), sizeof rows[0].value, "%s mAh, %s Wh (%s %% -> %s %%)",
                      a, b, c[0] ? c : "?", d[0] ? d : "?");
    fmt_fixed(a, sizeof a, s->max_hdop, 2);
    fmt_fixed(b, sizeof b, s->no_fix_s, 0);
    if (s->min_satellites >= 0)
        uavmail__snprintf(c, sizeof c, "%d", s->min_satellites);
    else
        uavmail__strlcpy(c, "?", sizeof c);
    uavmail__snprintf(ROW("GPS"), sizeof rows[0].value,
                      "min %s satellites, max HDOP %s, %s s without 3D fix (%u loss%s)", c,
                      a[0] ? a : "?", b, s->fix_losses, s->fix_losses == 1 ? "" : "es");
    fmt_fixed(a, sizeof a, s->home_lat, 7);
    fmt_fixed(b, sizeof b, s->home_lon, 7);
    uavmail__snprintf(ROW("Home"), sizeof rows[0].value, "%s, %s", a[0] ? a : "?", b[0] ? b : "?");
    fmt_fixed(a, sizeof a, s->land_lat, 7);
    fmt_fixed(b, sizeof b, s->land_lon, 7);
    fmt_fixed(c, sizeof c, s->land_home_m, 0);
    uavmail__snprintf(ROW("Landed"), sizeof rows[0].value, "%s, %s (%s m from home)",
                      a[0] ? a : "?", b[0] ? b : "?", c[0] ? c : "?");
#undef ROW
    return n;
}

/* Subject within 78 characters; the vehicle name gives way. */
static void make_subject(const uavmail_telemetry *tm, const uavmail_flight_summary *s,
                         char *buf, size_t cap)
{
    char when[32], rest[96], dist[32], veh[64];
    const char *prefix = s->flags & UAVMAIL_FLIGHT_CRASH   ? "[CRASH] "
                         : s->flags & UAVMAIL_FLIGHT_ALERT ? "[ALERT] "
                                                           : "";
    size_t room, vl;
    fmt_short(when, sizeof when, s->start_us, 1);
    fmt_fixed(dist, sizeof dist, s->distance_m / 1000.0, 1);
    uavmail__snprintf(rest, sizeof rest, "] Flight report %s, %ld min, %s km", when,
                      (long)(s->duration_s / 60.0 + 0.5), dist);
    room = strlen(prefix) + 1 + strlen(rest) < 78 ? 78 - strlen(prefix) - 1 - strlen(rest) : 0;
    vl = strlen(tm->vehicle);
    if (vl > room) { /* cut on a UTF-8 boundary */
        vl = room;
        while (vl && ((unsigned char)tm->vehicle[vl] & 0xC0) == 0x80)
            vl--;
    }
    memcpy(veh, tm->vehicle, vl);
    veh[vl] = '\0';
    uavmail__snprintf(buf, cap, "%s[%s%s", prefix, veh, rest);
}

int uavmail_telemetry_report(uavmail_telemetry *tm, uavmail_message *msg,
                             const uavmail_report_options *opts)
{
    uavmail_report_options def;
    uavmail_flight_summary s;
    row rows[16];
    size_t nrows, i;
    sbuf text = {0}, html = {0};
    char subject[128], t[40], raw_note[700] = "";
    int rc, f;
    if (!tm)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&tm->err);
    if (!opts) {
        uavmail_report_options_init(&def, UAVMAIL_REPORT_OPTIONS_VERSION);
        opts = &def;
    }
    if (!msg || opts->version != UAVMAIL_REPORT_OPTIONS_VERSION ||
        (opts->formats & ~31u) != 0)
        return uavmail__err_set(&tm->err, UAVMAIL_EINVAL,
                                "no message, or unknown report options version or formats");
    if (tm->a.n == 0)
        return uavmail__err_set(&tm->err, UAVMAIL_ESTATE, "no samples recorded: nothing to report");
    s.version = UAVMAIL_FLIGHT_SUMMARY_VERSION;
    uavmail_telemetry_summary(tm, &s);
    s.flags |= opts->flags & 3u;
    text.al = html.al = &tm->alloc;
    nrows = summary_rows(&s, rows);
    make_subject(tm, &s, subject, sizeof subject);

    if (opts->raw_log) {
        long long raw = file_size(opts->raw_log);
        if (raw < 0)
            return uavmail__err_set(&tm->err, UAVMAIL_EFILE, "raw log %s cannot be read",
                                    opts->raw_log);
        if (uavmail_encoded_size((uint64_t)raw) > opts->raw_log_cap)
            uavmail__snprintf(raw_note, sizeof raw_note,
                              "Flight log not attached: %s is %lld bytes, %llu encoded, over "
                              "the %llu-byte limit.",
                              opts->raw_log, raw,
                              (unsigned long long)uavmail_encoded_size((uint64_t)raw),
                              (unsigned long long)opts->raw_log_cap);
    }

    sb_printf(&text, "%s flight report\r\n\r\n", tm->vehicle);
    sb_put(&html, "<!DOCTYPE html><html><body><h2>", 31);
    sb_html(&html, tm->vehicle);
    sb_printf(&html, " flight report</h2>\r\n<table>\r\n");
    for (i = 0; i < nrows; i++) {
        sb_printf(&text, "%-13s %s\r\n", rows[i].label, rows[i].value);
        sb_printf(&html, "<tr><th align=\"left\">%s</th><td>", rows[i].label);
        sb_html(&html, rows[i].value);
        sb_put(&html, "</td></tr>\r\n", 12);
    }
    sb_put(&html, "</table>\r\n", 10);
    if (tm->nevents) {
        sb_printf(&text, "\r\nEvents (%u)\r\n", s.events);
        sb_printf(&html, "<h3>Events (%u)</h3>\r\n<table>\r\n", s.events);
        for (i = 0; i < tm->nevents; i++) {
            fmt_time(t, sizeof t, tm->events[i].t, 0);
            sb_printf(&text, "%.8sZ  %-9s  %s\r\n", t + 11, severity_name(tm->events[i].severity),
                      tm->events[i].text);
            sb_printf(&html, "<tr><td>%.8sZ</td><td>%s</td><td>", t + 11,
                      severity_name(tm->events[i].severity));
            sb_html(&html, tm->events[i].text);
            sb_put(&html, "</td></tr>\r\n", 12);
        }
        if (s.events > tm->nevents)
            sb_printf(&text, "(%u more not listed)\r\n", s.events - (unsigned)tm->nevents);
        sb_put(&html, "</table>\r\n", 10);
    }
    if (raw_note[0]) {
        sb_printf(&text, "\r\n%s\r\n", raw_note);
        sb_put(&html, "<p>", 3);
        sb_html(&html, raw_note);
        sb_put(&html, "</p>\r\n", 6);
    }
    if (opts->notes) {
        char notes[1024];
        uavmail__clean_text(notes, sizeof notes, opts->notes);
        sb_printf(&text, "\r\nNotes: %s\r\n", notes);
        sb_put(&html, "<p>Notes: ", 10);
        sb_html(&html, notes);
        sb_put(&html, "</p>\r\n", 6);
    }
    sb_put(&html, "</body></html>\r\n", 16);
    if (text.oom || html.oom) {
        rc = uavmail__err_set(&tm->err, UAVMAIL_ENOMEM, "no memory for the report body");
        goto out;
    }
    if ((rc = uavmail_message_set_subject(msg, subject)) != 0 ||
        (rc = uavmail_message_set_text(msg, text.p, text.len)) != 0 ||
        (rc = uavmail_message_set_html(msg, html.p, html.len)) != 0) {
        uavmail__err_copy(&tm->err, uavmail_message_last_error(msg));
        goto out;
    }
    for (f = 1; f <= UAVMAIL_TM_CBOR; f <<= 1)
        if ((opts->formats & (unsigned)f) && (rc = uavmail_telemetry_attach(tm, msg, f, NULL)) != 0)
            goto out;
    if (opts->raw_log && !raw_note[0] &&
        (rc = uavmail_message_attach_file(msg, opts->raw_log, "application/octet-stream",
                                          NULL)) != 0)
        uavmail__err_copy(&tm->err, uavmail_message_last_error(msg));
out:
    uavmail__free(&tm->alloc, text.p);
    uavmail__free(&tm->alloc, html.p);
    return rc;
}
