/*
 * uavmail - telemetry recording, flight reports and track attachments.
 *
 * A recorder takes samples as the flight goes (10 Hz for hours is fine: past
 * a configurable count they spill to an unlinked temporary file, so the heap
 * stays flat), keeps a running flight summary, and renders the samples as
 * CSV, GPX, KML, GeoJSON or CBOR attachments streamed in constant memory,
 * plus the text and HTML bodies and subject of a flight report.
 *
 * Numbers are written the same whatever the C locale (no decimal commas).
 * Not thread-safe: one recorder per thread, or lock around it.
 *
 * In libuavmail-flight, on top of libuavmail: `pkg-config uavmail-flight`.
 */
#ifndef UAVMAIL_TELEMETRY_H
#define UAVMAIL_TELEMETRY_H

#include "uavmail/common.h"
#include "uavmail/error.h"
#include "uavmail/message.h"

UAVMAIL_BEGIN_DECLS

/** A telemetry recorder (one flight).  @since 0.2.0 */
typedef struct uavmail_telemetry uavmail_telemetry;

#define UAVMAIL_SAMPLE_VERSION 1

/**
 * One telemetry sample.  Fill it with uavmail_sample_init() first: every
 * value starts as unknown (NaN for doubles, -1 for integers, NULL for the
 * mode), and unknown values are left empty in the writers.  @since 0.2.0
 */
typedef struct uavmail_sample {
    unsigned version;      /**< UAVMAIL_SAMPLE_VERSION */
    int64_t time_us;       /**< UTC, microseconds since 1970-01-01 (required; years 1-9999) */
    double lat;            /**< degrees north, WGS 84 */
    double lon;            /**< degrees east, WGS 84 */
    double alt_msl;        /**< metres above mean sea level */
    double alt_rel;        /**< metres above home */
    double ground_speed;   /**< metres per second */
    double climb;          /**< metres per second, up positive */
    double heading;        /**< degrees, 0 = north, clockwise */
    double voltage;        /**< battery volts */
    double current;        /**< battery amperes (discharge positive) */
    double remaining;      /**< battery remaining, percent */
    double hdop;           /**< GPS horizontal dilution of precision */
    int fix_type;          /**< MAVLink GPS_FIX_TYPE: 0-1 none, 2 2D, 3 3D, 4+ better */
    int satellites;        /**< satellites used */
    int armed;             /**< 1 armed, 0 disarmed */
    int in_air;            /**< 1 flying, 0 on the ground; -1: armed and moving counts */
    const char *mode;      /**< flight mode name such as "AUTO" (copied; at most 23 bytes) */
    const double *custom;  /**< values of the channels added with uavmail_telemetry_add_channel() */
    size_t custom_count;   /**< number of values in @p custom (at most the channel count) */
} uavmail_sample;

/**
 * Set every value of @p sample to unknown.
 * @return 0, or UAVMAIL_EINVAL for NULL or an unknown version.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_sample_init(uavmail_sample *sample, unsigned version);

#define UAVMAIL_TELEMETRY_OPTIONS_VERSION 1

/** Options for uavmail_telemetry_new().  @since 0.2.0 */
typedef struct uavmail_telemetry_options {
    unsigned version;            /**< UAVMAIL_TELEMETRY_OPTIONS_VERSION */
    const char *vehicle;         /**< vehicle name for subjects and files, e.g. "UAV-7" */
    size_t memory_samples;       /**< samples kept in memory before spilling (default 256, at least 16) */
    const char *spill_dir;       /**< directory of the spill file; NULL: the system's temporary directory */
    const uavmail_allocator *allocator; /**< NULL: malloc */
} uavmail_telemetry_options;

/** Initialise options to the defaults.  @return 0 or UAVMAIL_EINVAL.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_options_init(uavmail_telemetry_options *opts,
                                                  unsigned version);

/**
 * Create a recorder.
 * @param out receives the handle; free it with uavmail_telemetry_free().
 * @param opts options, or NULL for the defaults.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_ENOMEM, or (since 0.3.0) UAVMAIL_ECONFIG when libuavmail is from another release than libuavmail-flight (ship
 *         the two together).
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_new(uavmail_telemetry **out,
                                         const uavmail_telemetry_options *opts);

/** Free a recorder; NULL is ignored.  Messages it was attached to must not be rendered after this.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN void uavmail_telemetry_free(uavmail_telemetry *tm);

/** Detail of the last failed call on @p tm.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN const uavmail_error_detail *uavmail_telemetry_last_error(const uavmail_telemetry *tm);

/**
 * Declare a custom value channel (e.g. a thermal camera's maximum
 * temperature).  Only before the first sample; at most 32 channels.
 * @param tm the recorder.
 * @param name letters, digits, '_', '-' or '.', at most 32 bytes, e.g. "thermal_max".
 * @param unit same characters (plus '/' and '%'), at most 16 bytes, e.g. "degC"; or NULL.
 * @param index receives the channel's index in uavmail_sample.custom, or NULL.
 * @return 0, UAVMAIL_EINVAL (bad name, duplicate, too many) or UAVMAIL_ESTATE (samples recorded).
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_add_channel(uavmail_telemetry *tm, const char *name,
                                                 const char *unit, size_t *index);

/**
 * Record a sample.  Times must not go backwards.
 * @return 0, UAVMAIL_EINVAL (NULL, bad version, time going backwards, more
 *         custom values than channels), UAVMAIL_EFILE (the spill file cannot be
 *         written) or UAVMAIL_ENOMEM.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_append(uavmail_telemetry *tm, const uavmail_sample *sample);

/** Samples recorded so far.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN uint64_t uavmail_telemetry_count(const uavmail_telemetry *tm);

/**
 * Set the home position (e.g. from MAVLink HOME_POSITION).  Without it, the
 * first sample with a 3D fix is home.
 * @return 0 or UAVMAIL_EINVAL (out of range).
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_set_home(uavmail_telemetry *tm, double lat, double lon,
                                              double alt_msl);

/** Event severities (the MAVLink MAV_SEVERITY values).  @since 0.2.0 */
enum uavmail_severity {
    UAVMAIL_SEV_EMERGENCY = 0,
    UAVMAIL_SEV_ALERT = 1,
    UAVMAIL_SEV_CRITICAL = 2,
    UAVMAIL_SEV_ERROR = 3,
    UAVMAIL_SEV_WARNING = 4,
    UAVMAIL_SEV_NOTICE = 5,
    UAVMAIL_SEV_INFO = 6,
    UAVMAIL_SEV_DEBUG = 7
};

/**
 * Record an event (a warning, a geofence breach, an alert that fired) at
 * the last known position.  The first 256 are kept; later ones are counted.
 * @param tm the recorder.
 * @param time_us UTC microseconds.
 * @param severity enum uavmail_severity.
 * @param text UTF-8, at most 200 bytes are kept; control characters become spaces.
 * @return 0, UAVMAIL_EINVAL or UAVMAIL_ENOMEM.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_add_event(uavmail_telemetry *tm, int64_t time_us,
                                               int severity, const char *text);

/** Flags of a flight summary.  @since 0.2.0 */
enum uavmail_flight_flags {
    UAVMAIL_FLIGHT_ALERT = 1, /**< an event of severity ERROR or worse was recorded */
    UAVMAIL_FLIGHT_CRASH = 2  /**< an EMERGENCY event, or a sample disarmed while in the air */
};

#define UAVMAIL_FLIGHT_SUMMARY_VERSION 1

/** Figures of one flight; NaN (or -1 for counts) where unknown.  @since 0.2.0 */
typedef struct uavmail_flight_summary {
    unsigned version;         /**< set to UAVMAIL_FLIGHT_SUMMARY_VERSION before the call */
    uint64_t samples;         /**< samples recorded */
    int64_t start_us;         /**< first sample, UTC microseconds */
    int64_t end_us;           /**< last sample */
    int64_t takeoff_us;       /**< first sample in the air, or 0 */
    int64_t landing_us;       /**< last sample in the air, or 0 */
    double duration_s;        /**< end - start */
    double air_time_s;        /**< time in the air */
    double distance_m;        /**< along the track (fixes of 2D or better) */
    double max_alt_rel_m;     /**< highest above home */
    double max_alt_msl_m;     /**< highest above mean sea level */
    double max_speed_mps;     /**< highest ground speed */
    double battery_start_v;   /**< first voltage */
    double battery_end_v;     /**< last voltage */
    double battery_min_v;     /**< lowest voltage */
    double battery_start_pct; /**< first remaining percentage */
    double battery_end_pct;   /**< last remaining percentage */
    double charge_mah;        /**< integral of the current */
    double energy_wh;         /**< integral of voltage times current */
    int min_satellites;       /**< fewest satellites while armed, -1 unknown */
    double max_hdop;          /**< worst HDOP while armed */
    double no_fix_s;          /**< time armed without a 3D fix */
    unsigned fix_losses;      /**< times a 3D fix was lost while armed */
    double home_lat, home_lon, home_alt_msl; /**< home position */
    double land_lat, land_lon;               /**< last position */
    double land_home_m;       /**< last position's distance from home */
    unsigned events;          /**< events recorded (including those not kept) */
    unsigned warnings;        /**< events of severity WARNING or worse */
    unsigned flags;           /**< enum uavmail_flight_flags */
} uavmail_flight_summary;

/** Compute the summary of what was recorded.  @return 0 or UAVMAIL_EINVAL.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_summary(const uavmail_telemetry *tm,
                                             uavmail_flight_summary *summary);

/** Telemetry formats; flags so a report can ask for several.  @since 0.2.0 */
enum uavmail_telemetry_format {
    UAVMAIL_TM_CSV = 1,     /**< RFC 4180, header row with units: text/csv; charset=utf-8; header=present */
    UAVMAIL_TM_GPX = 2,     /**< GPX 1.1 track: application/gpx+xml */
    UAVMAIL_TM_KML = 4,     /**< KML 2.2 track with altitude: application/vnd.google-earth.kml+xml */
    UAVMAIL_TM_GEOJSON = 8, /**< RFC 7946 FeatureCollection: application/geo+json */
    UAVMAIL_TM_CBOR = 16    /**< summary and samples (docs/telemetry.md): application/cbor */
};

/**
 * Write what was recorded so far in one format to a file.
 * @return 0, UAVMAIL_EINVAL or UAVMAIL_EFILE.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_write_file(uavmail_telemetry *tm, int format,
                                                const char *path);

/**
 * Attach the samples recorded so far (later ones are not included) in one
 * format, as a part streamed in constant memory while the message renders.
 * @p tm must outlive every rendering of @p msg (an outbox renders at enqueue);
 * each attachment keeps about 4.5 KiB in @p tm until it is freed.
 * @param tm the recorder.
 * @param msg the message.
 * @param format one enum uavmail_telemetry_format value.
 * @param filename name shown to the recipient, or NULL for VEHICLE-YYYYMMDDTHHMMZ.EXT.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EFILE (spill file unreadable) or UAVMAIL_ENOMEM.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_attach(uavmail_telemetry *tm, uavmail_message *msg,
                                            int format, const char *filename);

#define UAVMAIL_REPORT_OPTIONS_VERSION 1

/** Options for uavmail_telemetry_report().  @since 0.2.0 */
typedef struct uavmail_report_options {
    unsigned version;        /**< UAVMAIL_REPORT_OPTIONS_VERSION */
    unsigned formats;        /**< enum uavmail_telemetry_format flags to attach (default CSV|GPX|GEOJSON|CBOR) */
    const char *raw_log;     /**< path of the raw log (.ulg, .bin, .tlog) to attach, or NULL */
    uint64_t raw_log_cap;    /**< largest encoded size the raw log may have (default 10 MB) */
    unsigned flags;          /**< enum uavmail_flight_flags to force on (e.g. CRASH from the bridge) */
    const char *notes;       /**< operator notes appended to the body (UTF-8), or NULL */
} uavmail_report_options;

/** Initialise report options to the defaults.  @return 0 or UAVMAIL_EINVAL.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_report_options_init(uavmail_report_options *opts, unsigned version);

/**
 * Make @p msg the flight report: subject such as
 * "[UAV-7] Flight report 2026-11-22 14:03Z, 18 min, 6.2 km" (at most 78
 * characters, "[ALERT] " or "[CRASH] " in front where it applies), text and
 * HTML bodies with the summary and events, and the attachments asked for.
 * A raw log whose encoded size exceeds the cap is not attached; the body says
 * so and gives its path and size.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EFILE (raw log unreadable) or UAVMAIL_ENOMEM.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_telemetry_report(uavmail_telemetry *tm, uavmail_message *msg,
                                            const uavmail_report_options *opts);

/**
 * Size of @p raw bytes once base64-encoded in a MIME part (76-character
 * lines with CRLF), for budgeting attachments against provider limits.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN uint64_t uavmail_encoded_size(uint64_t raw);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_TELEMETRY_H */
