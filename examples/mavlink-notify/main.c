/*
 * mavlink-notify: a MAVLink-to-e-mail bridge for a companion computer or a
 * ground station.  It listens for MAVLink on UDP (default 0.0.0.0:14550) or
 * replays a .tlog, records the flight with uavmail's telemetry recorder,
 * applies alert rules from its config file, queues alerts (alert priority)
 * and, on disarm, the flight report with CSV/GPX/GeoJSON/CBOR attachments
 * in a crash-safe outbox, and flushes the outbox when a server is set.
 * GPS time from SYSTEM_TIME is the clock of samples, alerts and the outbox.
 *
 *   mavlink-notify --config FILE [--udp [HOST:]PORT | --tlog FILE] [--flush]
 *
 * It builds for Linux and for Windows ground stations (Winsock; Ctrl+C stops
 * it on both).
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(_WIN32)
#include <winsock2.h>
#include <ws2tcpip.h>
typedef SOCKET sock_t;
#define BAD_SOCK INVALID_SOCKET
#define close_sock closesocket
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
typedef int sock_t;
#define BAD_SOCK (-1)
#define close_sock close
#endif

#include "mavlink.h"
#include "uavmail/uavmail.h"

#define MAX_RCPT 16
#define MAX_ALERTS 64
#define MAX_CHANNELS 8

typedef struct config {
    char vehicle[64], from[256], outbox[512], server[256], security[16], user[256];
    char password_file[512], cafile[512], raw_log[512];
    char to[MAX_RCPT][256];
    int nto;
    unsigned port;
    unsigned formats;
    double sample_hz, link_timeout_s;
    unsigned long long raw_log_cap;
    char alerts[MAX_ALERTS][256];
    int nalerts;
    int sysid, no_default_alerts, battery_id;
    char chan_name[MAX_CHANNELS][11], chan_unit[MAX_CHANNELS][17];
    int nchan;
} config;

typedef struct bridge {
    config cfg;
    uavmail_outbox *outbox;
    uavmail_telemetry *tm;
    uavmail_alerts *alerts;
    int flush;
    /* clock */
    int64_t gps_offset_us; /* unix time minus boot time, from SYSTEM_TIME; 0: unknown */
    int64_t record_us;     /* .tlog record time, or wall clock for UDP */
    int64_t now_us;
    /* vehicle state */
    int sysid, compid, armed, in_air, fix, sats, fence, failsafe, have_batt_status;
    int have_home;
    double home_lat, home_lon, home_alt;
    unsigned long dropped_samples;
    double lat, lon, alt_msl, alt_rel, gs, climb, hdg, volt, curr, rem, hdop;
    char mode[24];
    double custom[MAX_CHANNELS];
    int64_t last_sample_us, last_heartbeat_us;
    int link_lost;
    char statustext[256];
    int st_severity, st_pending;
    unsigned st_id, st_next;
    int64_t st_since;
    char last_event[256];
    int64_t last_event_us;
    unsigned statustext_id;
    unsigned long reports, alerts_sent;
    int failed;
} bridge;

static volatile sig_atomic_t stop_flag;

/* Record an event once: an alert raised by a STATUSTEXT repeats its text. */
static void event(struct bridge *b, int64_t t, int severity, const char *text)
{
    if (!b->tm || (t == b->last_event_us && strcmp(text, b->last_event) == 0))
        return;
    uavmail_telemetry_add_event(b->tm, t, severity, text);
    b->last_event_us = t;
    snprintf(b->last_event, sizeof b->last_event, "%s", text);
}
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

/* ---- configuration ------------------------------------------------------------------- */

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static int copy(char *dst, size_t cap, const char *v, const char *file, int line)
{
    if (strlen(v) >= cap) {
        fprintf(stderr, "%s:%d: value too long (at most %zu bytes)\n", file, line, cap - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static unsigned parse_formats(const char *v)
{
    unsigned f = 0;
    if (strstr(v, "csv")) f |= UAVMAIL_TM_CSV;
    if (strstr(v, "gpx")) f |= UAVMAIL_TM_GPX;
    if (strstr(v, "kml")) f |= UAVMAIL_TM_KML;
    if (strstr(v, "geojson")) f |= UAVMAIL_TM_GEOJSON;
    if (strstr(v, "cbor")) f |= UAVMAIL_TM_CBOR;
    return f;
}

static int load_config(config *c, const char *path)
{
    char buf[1024];
    int line = 0, rc = 0;
    FILE *f = fopen(path, "r");
    memset(c, 0, sizeof *c);
    strcpy(c->vehicle, "UAV");
    strcpy(c->security, "auto");
    c->formats = UAVMAIL_TM_CSV | UAVMAIL_TM_GPX | UAVMAIL_TM_GEOJSON | UAVMAIL_TM_CBOR;
    c->sample_hz = 10;
    c->link_timeout_s = 5;
    if (!f) {
        fprintf(stderr, "mavlink-notify: cannot read config %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (fgets(buf, sizeof buf, f)) {
        char *k, *v, *eq;
        line++;
        k = trim(buf);
        if (!*k || *k == '#')
            continue;
        eq = strchr(k, '=');
        if (!eq) {
            fprintf(stderr, "%s:%d: expected 'name = value'\n", path, line);
            rc = -1;
            continue;
        }
        *eq = '\0';
        k = trim(k);
        v = eq + 1;
        {   /* a comment after the value: whitespace then '#' */
            char *hash = v;
            while ((hash = strchr(hash, '#')) != NULL && hash > v && hash[-1] != ' ' &&
                   hash[-1] != '\t')
                hash++;
            if (hash)
                *hash = '\0';
        }
        v = trim(v);
        if (!strcmp(k, "vehicle")) rc |= copy(c->vehicle, sizeof c->vehicle, v, path, line);
        else if (!strcmp(k, "from")) rc |= copy(c->from, sizeof c->from, v, path, line);
        else if (!strcmp(k, "outbox")) rc |= copy(c->outbox, sizeof c->outbox, v, path, line);
        else if (!strcmp(k, "server")) rc |= copy(c->server, sizeof c->server, v, path, line);
        else if (!strcmp(k, "security")) rc |= copy(c->security, sizeof c->security, v, path, line);
        else if (!strcmp(k, "user")) rc |= copy(c->user, sizeof c->user, v, path, line);
        else if (!strcmp(k, "password_file"))
            rc |= copy(c->password_file, sizeof c->password_file, v, path, line);
        else if (!strcmp(k, "cafile")) rc |= copy(c->cafile, sizeof c->cafile, v, path, line);
        else if (!strcmp(k, "raw_log")) rc |= copy(c->raw_log, sizeof c->raw_log, v, path, line);
        else if (!strcmp(k, "port")) c->port = (unsigned)strtoul(v, NULL, 10);
        else if (!strcmp(k, "sysid")) c->sysid = atoi(v);
        else if (!strcmp(k, "battery_id")) c->battery_id = atoi(v);
        else if (!strcmp(k, "default_alerts")) c->no_default_alerts = !strcmp(v, "no");
        else if (!strcmp(k, "sample_hz")) c->sample_hz = strtod(v, NULL);
        else if (!strcmp(k, "link_timeout")) c->link_timeout_s = strtod(v, NULL);
        else if (!strcmp(k, "formats")) c->formats = parse_formats(v);
        else if (!strcmp(k, "raw_log_cap")) c->raw_log_cap = strtoull(v, NULL, 10);
        else if (!strcmp(k, "to")) {
            if (c->nto == MAX_RCPT) {
                fprintf(stderr, "%s:%d: more than %d recipients\n", path, line, MAX_RCPT);
                rc = -1;
            } else {
                rc |= copy(c->to[c->nto++], sizeof c->to[0], v, path, line);
            }
        } else if (!strcmp(k, "channel")) { /* channel = NAME [UNIT]: a NAMED_VALUE_FLOAT */
            char name[64] = "", unit[64] = "";
            if (c->nchan == MAX_CHANNELS || sscanf(v, "%63s %63s", name, unit) < 1 ||
                strlen(name) > 10 || strlen(unit) > 16) {
                fprintf(stderr, "%s:%d: 'channel = NAME [UNIT]' (name at most 10 bytes, "
                                "at most %d channels)\n", path, line, MAX_CHANNELS);
                rc = -1;
            } else {
                strcpy(c->chan_name[c->nchan], name);
                strcpy(c->chan_unit[c->nchan++], unit);
            }
        } else if (!strcmp(k, "alert")) {
            if (c->nalerts == MAX_ALERTS) {
                fprintf(stderr, "%s:%d: more than %d alert rules\n", path, line, MAX_ALERTS);
                rc = -1;
            } else {
                rc |= copy(c->alerts[c->nalerts++], sizeof c->alerts[0], v, path, line);
            }
        } else {
            fprintf(stderr, "%s:%d: unknown setting '%s'\n", path, line, k);
            rc = -1;
        }
    }
    fclose(f);
    if (!c->from[0] || !c->nto || !c->outbox[0]) {
        fprintf(stderr, "%s: 'from', 'to' and 'outbox' are required\n", path);
        rc = -1;
    }
    if (!(c->sample_hz > 0 && c->sample_hz <= 100)) {
        fprintf(stderr, "%s: sample_hz must be in (0, 100]\n", path);
        rc = -1;
    }
    return rc;
}

/* Default rules (DRONE-NOTES 3.3); "default_alerts = no" leaves only the config's. */
static const char *const default_rules[] = {
    "battery_low: remaining < 20 clear 25 hold 2 severity critical text Battery low: {value} % left",
    "battery_state: charge_state > 1.5 clear 1.5 severity critical text Battery state critical",
    "gps_lost: fix_type < 3 clear 3 hold 2 severity warning text GPS 3D fix lost",
    "geofence: fence_breach > 0.5 clear 0.5 severity critical text Geofence breached",
    "failsafe: failsafe > 0.5 clear 0.5 severity critical text Vehicle in a critical or emergency state",
    "link_lost: link_lost > 0.5 clear 0.5 severity warning text No heartbeat from the autopilot",
    "statustext: statustext <= warning",
};

/* ---- time ---------------------------------------------------------------------------- */

static int64_t wall_us(void)
{
#if defined(_WIN32)
    FILETIME ft; /* 100 ns units since 1601 */
    uint64_t t;
    GetSystemTimePreciseAsFileTime(&ft);
    t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    return (int64_t)(t / 10) - 11644473600000000LL;
#else
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
#endif
}

/* The last socket error as text. */
static const char *sock_error(void)
{
#if defined(_WIN32)
    static char buf[160];
    int e = WSAGetLastError();
    if (!FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                        (DWORD)e, 0, buf, sizeof buf, NULL))
        snprintf(buf, sizeof buf, "Winsock error %d", e);
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf;
#else
    return strerror(errno);
#endif
}

/* Time of a message carrying time_boot_ms: GPS time when known. */
static int64_t stamp(bridge *b, uint32_t boot_ms)
{
    if (b->gps_offset_us && boot_ms)
        return b->gps_offset_us + (int64_t)boot_ms * 1000;
    return b->record_us;
}

static int64_t clock_cb(void *user_data)
{
    bridge *b = user_data;
    return b->now_us > 0 ? b->now_us / 1000000 : -1;
}

/* ---- mail ---------------------------------------------------------------------------- */

static void statustext_flush(struct bridge *b, const char *mark);

static int new_message(bridge *b, uavmail_message **out)
{
    uavmail_message *m;
    int i, rc = uavmail_message_new(&m, NULL);
    if (rc)
        return rc;
    rc = uavmail_message_set_from(m, b->cfg.from, b->cfg.vehicle);
    for (i = 0; !rc && i < b->cfg.nto; i++)
        rc = uavmail_message_add_recipient(m, UAVMAIL_TO, b->cfg.to[i], NULL);
    if (!rc)
        rc = uavmail_message_add_header(m, "X-Vehicle", b->cfg.vehicle);
    if (rc) {
        fprintf(stderr, "mavlink-notify: %s\n",
                uavmail_error_message(uavmail_message_last_error(m)));
        uavmail_message_free(m);
        b->failed = 1;
        return rc;
    }
    *out = m;
    return 0;
}

static void enqueue(bridge *b, uavmail_message *m, int priority, const char *what)
{
    char id[64];
    int rc = uavmail_outbox_enqueue(b->outbox, m, priority, 0, NULL, id);
    if (rc) {
        fprintf(stderr, "mavlink-notify: cannot queue the %s: %s\n", what,
                uavmail_error_message(uavmail_outbox_last_error(b->outbox)));
        b->failed = 1;
    } else {
        printf("queued %s %s\n", what, id);
    }
}

static int on_alert(const uavmail_alert *a, void *user_data)
{
    bridge *b = user_data;
    uavmail_message *m;
    char subject[400], body[1600], when[32], pos[96], batt[64], more[96] = "";
    time_t t = (time_t)(a->time_us / 1000000);
    struct tm tmv;
#if defined(_WIN32)
    gmtime_s(&tmv, &t);
#else
    gmtime_r(&t, &tmv);
#endif
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%SZ", &tmv);
    event(b, a->time_us, a->severity, a->text);
    printf("alert %s%s: %s\n", a->key, a->digest ? " (digest)" : "", a->text);
    if (new_message(b, &m))
        return 0;
    snprintf(subject, sizeof subject, "[ALERT] [%s] %s", b->cfg.vehicle, a->text);
    if (isfinite(b->lat))
        snprintf(pos, sizeof pos, "%.7f, %.7f (%.1f m above home)", b->lat, b->lon, b->alt_rel);
    else
        snprintf(pos, sizeof pos, "unknown");
    if (isfinite(b->volt) && isfinite(b->rem))
        snprintf(batt, sizeof batt, "%.2f V, %.0f %% left", b->volt, b->rem);
    else if (isfinite(b->volt))
        snprintf(batt, sizeof batt, "%.2f V", b->volt);
    else
        snprintf(batt, sizeof batt, "unknown");
    if (a->suppressed)
        snprintf(more, sizeof more, "%u similar alert%s suppressed by the rate limit before this.\r\n",
                 a->suppressed, a->suppressed == 1 ? " was" : "s were");
    snprintf(body, sizeof body,
             "%s\r\n\r\nVehicle:  %s\r\nTime:     %s\r\nAlert:    %s\r\n"
             "Position: %s\r\nBattery:  %s\r\n%s",
             a->text, b->cfg.vehicle, when, a->key, pos, batt, more);
    if (uavmail_message_set_subject(m, subject) == 0 &&
        uavmail_message_set_text(m, body, strlen(body)) == 0) {
        enqueue(b, m, UAVMAIL_PRIORITY_ALERT, "alert");
        b->alerts_sent++;
    } else {
        fprintf(stderr, "mavlink-notify: alert '%s' not queued: %s\n", a->key,
                uavmail_error_message(uavmail_message_last_error(m)));
        b->failed = 1;
    }
    uavmail_message_free(m);
    return 0;
}

static void start_flight(bridge *b)
{
    uavmail_telemetry_options o;
    int i;
    uavmail_telemetry_free(b->tm);
    uavmail_telemetry_options_init(&o, UAVMAIL_TELEMETRY_OPTIONS_VERSION);
    o.vehicle = b->cfg.vehicle;
    if (uavmail_telemetry_new(&b->tm, &o) != 0) {
        fprintf(stderr, "mavlink-notify: out of memory\n");
        b->tm = NULL;
        return;
    }
    for (i = 0; i < b->cfg.nchan; i++)
        if (uavmail_telemetry_add_channel(b->tm, b->cfg.chan_name[i],
                                          b->cfg.chan_unit[i][0] ? b->cfg.chan_unit[i] : NULL,
                                          NULL) != 0)
            fprintf(stderr, "mavlink-notify: channel %s: %s\n", b->cfg.chan_name[i],
                    uavmail_error_message(uavmail_telemetry_last_error(b->tm)));
    if (b->have_home) /* HOME_POSITION usually comes before arming */
        uavmail_telemetry_set_home(b->tm, b->home_lat, b->home_lon, b->home_alt);
    b->last_sample_us = 0;
    printf("flight started\n");
}

static void finish_flight(bridge *b, const char *why)
{
    uavmail_report_options ro;
    uavmail_message *m;
    int rc;
    if (!b->tm)
        return;
    statustext_flush(b, " [...]");
    uavmail_alerts_flush(b->alerts, b->now_us);
    uavmail_telemetry_add_event(b->tm, b->now_us, UAVMAIL_SEV_INFO, why);
    uavmail_report_options_init(&ro, UAVMAIL_REPORT_OPTIONS_VERSION);
    ro.formats = b->cfg.formats;
    if (b->cfg.raw_log[0])
        ro.raw_log = b->cfg.raw_log;
    if (b->cfg.raw_log_cap)
        ro.raw_log_cap = b->cfg.raw_log_cap;
    if (new_message(b, &m) == 0) {
        rc = uavmail_telemetry_report(b->tm, m, &ro);
        if (rc) {
            fprintf(stderr, "mavlink-notify: report: %s\n",
                    uavmail_error_message(uavmail_telemetry_last_error(b->tm)));
            b->failed = 1;
        } else
            enqueue(b, m, UAVMAIL_PRIORITY_NORMAL, "flight report");
        uavmail_message_free(m);
    }
    b->reports++;
    uavmail_telemetry_free(b->tm);
    b->tm = NULL;
    printf("flight finished (%s)\n", why);
}

/* ---- MAVLink handling ---------------------------------------------------------------- */

static void value(bridge *b, const char *name, double v)
{
    uavmail_alerts_value(b->alerts, name, v, b->now_us);
}

/* Append the current state at @p t; @p force: whatever the sample rate. */
static void record(bridge *b, int64_t t, int force)
{
    uavmail_sample s;
    if (!b->tm || (!force && t - b->last_sample_us < (int64_t)(1e6 / b->cfg.sample_hz)))
        return;
    uavmail_sample_init(&s, UAVMAIL_SAMPLE_VERSION);
    s.time_us = t;
    s.lat = b->lat;
    s.lon = b->lon;
    s.alt_msl = b->alt_msl;
    s.alt_rel = b->alt_rel;
    s.ground_speed = b->gs;
    s.climb = b->climb;
    s.heading = b->hdg;
    s.voltage = b->volt;
    s.current = b->curr;
    s.remaining = b->rem;
    s.hdop = b->hdop;
    s.fix_type = b->fix;
    s.satellites = b->sats;
    s.armed = b->armed;
    s.in_air = b->in_air;
    s.mode = b->mode[0] ? b->mode : NULL;
    s.custom = b->custom;
    s.custom_count = (size_t)b->cfg.nchan;
    if (uavmail_telemetry_append(b->tm, &s) == 0)
        b->last_sample_us = t;
    else
        b->dropped_samples++; /* e.g. the autopilot's clock went backwards */
}

static const char *mode_name(const mav_heartbeat *h, char *buf, size_t cap)
{
    /* ArduPilot custom_mode numbering differs per vehicle (Copter, Plane); PX4 packs a main
     * mode in bits 16-23 and, for AUTO, a sub-mode in bits 24-31 */
    static const char *const copter[] = {"STABILIZE", "ACRO", "ALT_HOLD", "AUTO", "GUIDED",
                                         "LOITER", "RTL", "CIRCLE", NULL, "LAND", NULL,
                                         "DRIFT", NULL, "SPORT", "FLIP", "AUTOTUNE", "POSHOLD",
                                         "BRAKE", "THROW", "AVOID_ADSB", "GUIDED_NOGPS",
                                         "SMART_RTL"};
    static const char *const plane[] = {"MANUAL", "CIRCLE", "STABILIZE", "TRAINING", "ACRO",
                                        "FBWA", "FBWB", "CRUISE", "AUTOTUNE", NULL, "AUTO", "RTL",
                                        "LOITER", "TAKEOFF", "AVOID_ADSB", "GUIDED"};
    static const char *const px4_main[] = {NULL, "MANUAL", "ALTCTL", "POSCTL", "AUTO", "ACRO",
                                           "OFFBOARD", "STABILIZED", "RATTITUDE"};
    static const char *const px4_auto[] = {NULL, "AUTO_READY", "AUTO_TAKEOFF", "AUTO_LOITER",
                                           "AUTO_MISSION", "AUTO_RTL", "AUTO_LAND", NULL,
                                           "AUTO_FOLLOW", "AUTO_PRECLAND"};
    const char *name = NULL;
    unsigned long cm = h->custom_mode;
    int multirotor = h->type == 2 || h->type == 3 || h->type == 4 || h->type == 13 ||
                     h->type == 14 || h->type == 15;
    if (h->autopilot == 3 && multirotor && cm < sizeof copter / sizeof *copter)
        name = copter[cm];
    else if (h->autopilot == 3 && h->type == 1 && cm < sizeof plane / sizeof *plane)
        name = plane[cm];
    else if (h->autopilot == 12 && ((cm >> 16) & 0xFF) == 4 &&
             (cm >> 24) < sizeof px4_auto / sizeof *px4_auto)
        name = px4_auto[cm >> 24] ? px4_auto[cm >> 24] : "AUTO";
    else if (h->autopilot == 12 && ((cm >> 16) & 0xFF) < sizeof px4_main / sizeof *px4_main)
        name = px4_main[(cm >> 16) & 0xFF];
    if (name)
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "MODE_%lu", cm);
    return buf;
}

/* Report a (re)assembled STATUSTEXT. */
static void statustext_emit(bridge *b, int severity, const char *raw)
{
    char text[300];
    size_t n;
    snprintf(text, sizeof text, "%s", raw);
    n = strlen(text);
    while (n && (text[n - 1] == '\t' || text[n - 1] == ' ')) /* PX4 event mirrors end in \t */
        text[--n] = '\0';
    if (severity <= UAVMAIL_SEV_NOTICE)
        event(b, b->now_us, severity, text);
    uavmail_alerts_event(b->alerts, "statustext", severity, text, b->now_us);
}

/* A text whose last chunk never came: report what arrived, marked. */
static void statustext_flush(bridge *b, const char *mark)
{
    size_t n = strlen(b->statustext);
    if (!b->st_pending)
        return;
    snprintf(b->statustext + n, sizeof b->statustext - n, "%s", mark);
    b->st_pending = 0;
    statustext_emit(b, b->st_severity, b->statustext);
    b->statustext[0] = '\0';
}

static void statustext(bridge *b, const mav_statustext *st)
{
    size_t n;
    if (st->id == 0) { /* a whole text */
        statustext_flush(b, " [...]");
        statustext_emit(b, st->severity, st->text);
        return;
    }
    if (b->st_pending && (st->id != b->st_id || st->chunk_seq != b->st_next))
        statustext_flush(b, " [...]"); /* a chunk was lost, or another text began */
    if (!b->st_pending) {
        snprintf(b->statustext, sizeof b->statustext, "%s", st->chunk_seq ? "[...] " : "");
        b->st_pending = 1;
        b->st_id = st->id;
        b->st_severity = st->severity;
        b->st_since = b->record_us;
    }
    n = strlen(b->statustext);
    snprintf(b->statustext + n, sizeof b->statustext - n, "%s", st->text);
    b->st_next = st->chunk_seq + 1u;
    if (strlen(st->text) < 50 || b->st_next > 4) { /* a short chunk ends the text */
        b->st_pending = 0;
        statustext_emit(b, b->st_severity, b->statustext);
        b->statustext[0] = '\0';
    }
}

static void on_message(bridge *b, const mav_frame *f)
{
    mav_message m;
    if (mav_decode(f, &m) != 0)
        return;
    if (m.msgid == MAV_MSG_HEARTBEAT) {
        const mav_heartbeat *h = &m.u.heartbeat;
        if (f->compid != 1 || h->autopilot == 8 || h->type == 6) /* GCS or no autopilot */
            return;
        if (!b->sysid && (!b->cfg.sysid || f->sysid == b->cfg.sysid)) {
            b->sysid = f->sysid;
            b->compid = f->compid;
        }
    }
    if (!b->sysid || f->sysid != b->sysid)
        return;
    /* vehicle state only from the autopilot itself (DRONE-NOTES 3.6); texts and named
     * values (a camera's hot spot) from any component of the vehicle */
    if (f->compid != b->compid && m.msgid != MAV_MSG_STATUSTEXT &&
        m.msgid != MAV_MSG_NAMED_VALUE_FLOAT)
        return;
    switch (m.msgid) {
    case MAV_MSG_HEARTBEAT: {
        const mav_heartbeat *h = &m.u.heartbeat;
        int armed = (h->base_mode & 0x80) != 0;
        b->last_heartbeat_us = b->record_us;
        if (b->link_lost) {
            b->link_lost = 0;
            value(b, "link_lost", 0);
        }
        mode_name(h, b->mode, sizeof b->mode);
        b->failsafe = h->system_status == 5 || h->system_status == 6 || h->system_status == 8;
        value(b, "failsafe", b->failsafe);
        if (armed && !b->armed) {
            b->armed = 1;
            start_flight(b);
            if (b->tm)
                uavmail_telemetry_add_event(b->tm, b->now_us, UAVMAIL_SEV_INFO, "Armed");
        } else if (!armed && b->armed) {
            b->armed = 0;
            record(b, b->now_us, 1); /* the disarmed state itself: motors stopped in the air? */
            finish_flight(b, "Disarmed");
        }
        break;
    }
    case MAV_MSG_SYSTEM_TIME:
        if (m.u.system_time.time_unix_usec > 1000000000000000ull) { /* after 2001 */
            b->gps_offset_us = (int64_t)m.u.system_time.time_unix_usec -
                               (int64_t)m.u.system_time.time_boot_ms * 1000;
            b->now_us = (int64_t)m.u.system_time.time_unix_usec; /* GPS time from now on */
        }
        break;
    case MAV_MSG_GPS_RAW_INT: {
        const mav_gps_raw *g = &m.u.gps_raw;
        b->fix = g->fix_type;
        b->sats = g->satellites == 255 ? -1 : g->satellites;
        b->hdop = g->eph == UINT16_MAX ? NAN : g->eph / 100.0;
        if (b->armed) { /* no fix before take-off is not a lost fix */
            value(b, "fix_type", b->fix);
            value(b, "satellites", b->sats < 0 ? NAN : b->sats);
        }
        value(b, "hdop", b->hdop);
        break;
    }
    case MAV_MSG_GLOBAL_POSITION_INT: {
        const mav_global_position *p = &m.u.global_position;
        int64_t t = stamp(b, p->time_boot_ms);
        b->now_us = b->gps_offset_us || t > b->now_us ? t : b->now_us;
        b->lat = p->lat_e7 / 1e7;
        b->lon = p->lon_e7 / 1e7;
        b->alt_msl = p->alt_mm / 1000.0;
        b->alt_rel = p->relative_alt_mm / 1000.0;
        b->gs = sqrt((double)p->vx * p->vx + (double)p->vy * p->vy) / 100.0;
        b->climb = -p->vz / 100.0;
        b->hdg = p->hdg_cdeg == UINT16_MAX ? NAN : p->hdg_cdeg / 100.0;
        value(b, "alt_rel", b->alt_rel);
        value(b, "alt_msl", b->alt_msl);
        value(b, "ground_speed", b->gs);
        record(b, b->now_us, 0);
        break;
    }
    case MAV_MSG_SYS_STATUS:
        if (b->have_batt_status)
            break; /* prefer BATTERY_STATUS */
        b->volt = m.u.sys_status.voltage_mv == UINT16_MAX ? NAN
                                                          : m.u.sys_status.voltage_mv / 1000.0;
        b->curr = m.u.sys_status.current_ca < 0 ? NAN : m.u.sys_status.current_ca / 100.0;
        b->rem = m.u.sys_status.remaining_pct < 0 ? NAN : m.u.sys_status.remaining_pct;
        value(b, "voltage", b->volt);
        value(b, "current", b->curr);
        value(b, "remaining", b->rem);
        break;
    case MAV_MSG_BATTERY_STATUS: {
        const mav_battery *bt = &m.u.battery;
        double v = 0;
        int i, cells = 0;
        if (bt->id != b->cfg.battery_id)
            break; /* one pack's figures; another pack's would interleave */
        for (i = 0; i < 10; i++)
            if (bt->voltages_mv[i] != UINT16_MAX) {
                v += bt->voltages_mv[i] / 1000.0;
                cells++;
            }
        b->have_batt_status = 1;
        b->volt = cells ? v : NAN;
        b->curr = bt->current_ca < 0 ? NAN : bt->current_ca / 100.0;
        b->rem = bt->remaining_pct < 0 ? NAN : bt->remaining_pct;
        value(b, "voltage", b->volt);
        value(b, "current", b->curr);
        value(b, "remaining", b->rem);
        if (bt->charge_state)
            value(b, "charge_state", bt->charge_state);
        break;
    }
    case MAV_MSG_EXTENDED_SYS_STATE: {
        int ls = m.u.ext_state.landed_state;
        b->in_air = ls == 0 ? -1 : ls != 1;
        break;
    }
    case MAV_MSG_FENCE_STATUS: {
        int breach = m.u.fence.breach_status != 0;
        if (breach && !b->fence && b->tm) {
            char t[96];
            snprintf(t, sizeof t, "Geofence breach (type %u, count %u)", m.u.fence.breach_type,
                     m.u.fence.breach_count);
            uavmail_telemetry_add_event(b->tm, b->now_us, UAVMAIL_SEV_CRITICAL, t);
        }
        b->fence = breach;
        value(b, "fence_breach", breach);
        break;
    }
    case MAV_MSG_HOME_POSITION:
        b->have_home = 1;
        b->home_lat = m.u.home.lat_e7 / 1e7;
        b->home_lon = m.u.home.lon_e7 / 1e7;
        b->home_alt = m.u.home.alt_mm / 1000.0;
        if (b->tm)
            uavmail_telemetry_set_home(b->tm, b->home_lat, b->home_lon, b->home_alt);
        break;
    case MAV_MSG_STATUSTEXT:
        statustext(b, &m.u.statustext);
        break;
    case MAV_MSG_NAMED_VALUE_FLOAT: { /* e.g. a thermal camera's "thermal_max" */
        int i;
        double v = isfinite(m.u.named_value.value) ? m.u.named_value.value : NAN;
        for (i = 0; i < b->cfg.nchan; i++)
            if (!strcmp(b->cfg.chan_name[i], m.u.named_value.name))
                b->custom[i] = v;
        value(b, m.u.named_value.name, v); /* any rule on that name applies */
        break;
    }
    default:
        break;
    }
}

static void check_link(bridge *b)
{
    if (b->st_pending && b->record_us - b->st_since > 2000000)
        statustext_flush(b, " [...]");
    if (b->sysid && b->armed && !b->link_lost && b->last_heartbeat_us &&
        b->record_us - b->last_heartbeat_us > (int64_t)(b->cfg.link_timeout_s * 1e6)) {
        b->link_lost = 1;
        value(b, "link_lost", 1);
    }
    uavmail_alerts_tick(b->alerts, b->now_us);
}

static void tlog_frame(const mav_frame *f, uint64_t time_us, void *user_data)
{
    bridge *b = user_data;
    b->record_us = (int64_t)time_us;
    if (!b->gps_offset_us && (int64_t)time_us > b->now_us)
        b->now_us = (int64_t)time_us;
    check_link(b);
    on_message(b, f);
}

static void udp_frame(const mav_frame *f, void *user_data)
{
    bridge *b = user_data;
    on_message(b, f);
}

/* ---- outbox flush -------------------------------------------------------------------- */

static int password_cb(char *buf, size_t cap, size_t *len, void *user_data)
{
    const bridge *b = user_data;
    FILE *f;
    size_t n;
    const char *env = getenv("UAVMAIL_PASSWORD");
    if (!b->cfg.password_file[0]) {
        if (!env || strlen(env) > cap)
            return 1;
        memcpy(buf, env, strlen(env));
        *len = strlen(env);
        return 0;
    }
    f = fopen(b->cfg.password_file, "r");
    if (!f)
        return 1;
    n = fread(buf, 1, cap, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    *len = n;
    return 0;
}

static void flush_outbox(bridge *b)
{
    uavmail_session_options so;
    size_t sent = 0;
    int rc;
    if (!b->flush || !b->cfg.server[0])
        return;
    uavmail_session_options_init(&so, UAVMAIL_SESSION_OPTIONS_VERSION);
    so.host = b->cfg.server;
    so.port = b->cfg.port;
    so.security = !strcmp(b->cfg.security, "tls")        ? UAVMAIL_SECURITY_TLS
                  : !strcmp(b->cfg.security, "starttls") ? UAVMAIL_SECURITY_STARTTLS
                  : !strcmp(b->cfg.security, "none")     ? UAVMAIL_SECURITY_NONE
                                                         : UAVMAIL_SECURITY_AUTO;
    if (b->cfg.cafile[0])
        so.cafile = b->cfg.cafile;
    if (b->cfg.user[0]) {
        so.username = b->cfg.user;
        so.password_cb = password_cb;
        so.password_user_data = b;
    }
    so.time_cb = clock_cb;
    so.time_user_data = b;
    rc = uavmail_outbox_flush(b->outbox, &so, &sent);
    if (rc)
        fprintf(stderr, "mavlink-notify: flush: %s%s%s\n",
                uavmail_error_message(uavmail_outbox_last_error(b->outbox)),
                uavmail_error_hint(uavmail_outbox_last_error(b->outbox))[0] ? " - " : "",
                uavmail_error_hint(uavmail_outbox_last_error(b->outbox)));
    else if (sent)
        printf("sent %zu\n", sent);
}

/* ---- inputs -------------------------------------------------------------------------- */

static int run_tlog(bridge *b, const char *path)
{
    mav_tlog t;
    uint8_t buf[65536];
    size_t n;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mavlink-notify: cannot read %s: %s\n", path, strerror(errno));
        return 66;
    }
    mav_tlog_init(&t);
    while (!stop_flag && (n = fread(buf, 1, sizeof buf, f)) > 0)
        mav_tlog_feed(&t, buf, n, tlog_frame, b);
    fclose(f);
    if (b->tm)
        finish_flight(b, "End of the log while armed");
    uavmail_alerts_flush(b->alerts, b->now_us);
    printf("tlog: %lu records (%lu bytes skipped to resynchronise)\n", t.records, t.bad_records);
    return 0;
}

static int run_udp(bridge *b, const char *spec)
{
    struct sockaddr_in sa;
    char host[64] = "0.0.0.0";
    const char *colon = strrchr(spec, ':');
    unsigned port = (unsigned)strtoul(colon ? colon + 1 : spec, NULL, 10);
    sock_t fd;
    int one = 1;
    mav_parser p;
    int64_t last_flush = 0;
    if (colon && (size_t)(colon - spec) < sizeof host) {
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
    }
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!port || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "mavlink-notify: bad UDP address '%s' (want [IPv4:]PORT)\n", spec);
        return 64;
    }
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd == BAD_SOCK ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, (const char *)&one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "mavlink-notify: cannot listen on UDP %s:%u: %s\n", host, port,
                sock_error());
        if (fd != BAD_SOCK)
            close_sock(fd);
        return 69;
    }
    printf("listening on UDP %s:%u\n", host, port);
    fflush(stdout);
    mav_parser_init(&p);
    while (!stop_flag) {
        uint8_t buf[2048];
#if defined(_WIN32)
        WSAPOLLFD pfd = {fd, POLLRDNORM, 0};
        int r = WSAPoll(&pfd, 1, 1000);
#else
        struct pollfd pfd = {fd, POLLIN, 0};
        int r = poll(&pfd, 1, 1000);
#endif
        b->record_us = wall_us();
        if (!b->gps_offset_us) /* until SYSTEM_TIME gives GPS time, the host clock */
            b->now_us = b->record_us;
        if (r > 0) {
            int n = (int)recv(fd, (char *)buf, sizeof buf, 0);
            if (n > 0)
                mav_parse(&p, buf, (size_t)n, udp_frame, b);
        }
        check_link(b);
        if (b->record_us - last_flush > 10000000) {
            flush_outbox(b);
            last_flush = b->record_us;
        }
        fflush(stdout);
    }
    if (b->tm)
        finish_flight(b, "Bridge stopped while armed");
    close_sock(fd);
    return 0;
}

static void usage(void)
{
    fputs("usage: mavlink-notify --config FILE [--udp [IPV4:]PORT | --tlog FILE] [--flush]\n"
          "  --udp   listen for MAVLink (default 0.0.0.0:14550)\n"
          "  --tlog  replay a telemetry log instead\n"
          "  --flush send what is queued (server settings from the config)\n",
          stderr);
}

int main(int argc, char **argv)
{
    static bridge b;
    const char *config_path = NULL, *udp = "0.0.0.0:14550", *tlog = NULL;
    uavmail_outbox_options oo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    uavmail_alerts_options ao;
    int i, rc;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            config_path = argv[++i];
        else if (!strcmp(argv[i], "--udp") && i + 1 < argc)
            udp = argv[++i];
        else if (!strcmp(argv[i], "--tlog") && i + 1 < argc)
            tlog = argv[++i];
        else if (!strcmp(argv[i], "--flush"))
            b.flush = 1;
        else {
            usage();
            return 64;
        }
    }
    if (!config_path) {
        usage();
        return 64;
    }
    if (load_config(&b.cfg, config_path) != 0)
        return 78;
    b.fix = b.sats = b.in_air = -1;
    b.lat = b.lon = b.alt_msl = b.alt_rel = b.gs = b.climb = b.hdg = NAN;
    b.volt = b.curr = b.rem = b.hdop = NAN;
    for (i = 0; i < MAX_CHANNELS; i++)
        b.custom[i] = NAN;
    uavmail_alerts_options_init(&ao, UAVMAIL_ALERTS_OPTIONS_VERSION);
    ao.cb = on_alert;
    ao.user_data = &b;
    if (uavmail_alerts_new(&b.alerts, &ao) != 0)
        return 70;
    {
        int ndef = b.cfg.no_default_alerts ? 0 : (int)(sizeof default_rules / sizeof *default_rules);
        for (i = 0; i < ndef + b.cfg.nalerts; i++) {
            const char *rule = i < ndef ? default_rules[i] : b.cfg.alerts[i - ndef];
            if (uavmail_alerts_parse(b.alerts, rule) != 0) {
                fprintf(stderr, "%s: alert '%s': %s\n", config_path, rule,
                        uavmail_error_message(uavmail_alerts_last_error(b.alerts)));
                uavmail_alerts_free(b.alerts);
                return 78;
            }
        }
    }
    {   /* addresses are checked now, not at the first alert in flight */
        uavmail_message *probe;
        if (new_message(&b, &probe) != 0) {
            fprintf(stderr, "%s: fix 'from' / 'to'\n", config_path);
            uavmail_alerts_free(b.alerts);
            return 78;
        }
        uavmail_message_free(probe);
    }
    oo.time_cb = clock_cb;
    oo.time_user_data = &b;
    if (uavmail_outbox_open(&b.outbox, b.cfg.outbox, &oo) != 0) {
        fprintf(stderr, "mavlink-notify: outbox %s: %s\n", b.cfg.outbox,
                b.outbox ? uavmail_error_message(uavmail_outbox_last_error(b.outbox))
                         : "cannot open");
        uavmail_alerts_free(b.alerts);
        return 74;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
#if defined(_WIN32)
    if (!tlog) {
        WSADATA wsa;
        if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
            fprintf(stderr, "mavlink-notify: Winsock did not start\n");
            uavmail_alerts_free(b.alerts);
            uavmail_outbox_close(b.outbox);
            return 71;
        }
    }
#endif
    rc = tlog ? run_tlog(&b, tlog) : run_udp(&b, udp);
#if defined(_WIN32)
    if (!tlog)
        WSACleanup();
#endif
    flush_outbox(&b);
    if (b.dropped_samples)
        fprintf(stderr, "mavlink-notify: %lu samples dropped (time went backwards)\n",
                b.dropped_samples);
    printf("reports %lu, alerts %lu\n", b.reports, b.alerts_sent);
    uavmail_telemetry_free(b.tm);
    uavmail_alerts_free(b.alerts);
    uavmail_outbox_close(b.outbox);
    return rc ? rc : b.failed ? 75 : 0;
}
