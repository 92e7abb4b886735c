/*
 * uavmail - alert rules (exception-based reporting).
 *
 * Rules watch named values (battery percentage, voltage, GPS fix, altitude,
 * a geofence flag, any custom value) with a threshold and a hysteresis band,
 * or event streams (STATUSTEXT) by severity.  An alert fires on entering
 * the alarm state; it can fire again only after the value has crossed back
 * past the clear level.  Each key has a minimum repeat interval: alerts
 * inside it, and exact repeats of the same text, are suppressed and counted,
 * and what was suppressed is reported as a digest once the interval ends.
 * A new alert after the interval carries the count of those suppressed before
 * it (uavmail_alert.suppressed).  Time comes from the caller (GPS time), so
 * replays behave like live flights; a time earlier than one seen before counts
 * as that one.  Not thread-safe.
 *
 * In libuavmail-flight, on top of libuavmail: `pkg-config uavmail-flight`.
 */
#ifndef UAVMAIL_ALERT_H
#define UAVMAIL_ALERT_H

#include "uavmail/common.h"
#include "uavmail/error.h"

UAVMAIL_BEGIN_DECLS

/** A set of alert rules and their state.  @since 0.2.0 */
typedef struct uavmail_alerts uavmail_alerts;

/** How a rule compares.  @since 0.2.0 */
enum uavmail_alert_op {
    UAVMAIL_ALERT_ABOVE = 1,   /**< alarm while value > trigger; clears at value <= clear */
    UAVMAIL_ALERT_BELOW = 2,   /**< alarm while value < trigger; clears at value >= clear */
    UAVMAIL_ALERT_SEVERITY = 3 /**< an event of this source with severity <= trigger fires */
};

#define UAVMAIL_ALERT_RULE_VERSION 1

/** One rule.  Strings are copied.  @since 0.2.0 */
typedef struct uavmail_alert_rule {
    unsigned version;    /**< UAVMAIL_ALERT_RULE_VERSION */
    const char *key;     /**< alert key, e.g. "battery_low" (letters, digits, '_', '-', '.') */
    const char *source;  /**< value or event name, e.g. "remaining", "statustext" */
    int op;              /**< enum uavmail_alert_op */
    double trigger;      /**< threshold */
    double clear;        /**< hysteresis: re-arm level (NaN: the trigger itself) */
    double hold_s;       /**< condition must hold this long before firing (debounce) */
    double repeat_s;     /**< minimum interval between alerts of this key (< 0: the set's default;
                              the first rule of a key sets it) */
    int severity;        /**< enum uavmail_severity of the alert (events: the event's own) */
    const char *text;    /**< alert text; "{value}" is replaced; NULL: generated.  Severity
                              rules: put in front of the event's text */
} uavmail_alert_rule;

/** Initialise a rule: ABOVE, clear = trigger, no hold, default repeat, WARNING.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alert_rule_init(uavmail_alert_rule *rule, unsigned version);

/** An alert handed to the callback; valid during the call.  @since 0.2.0 */
typedef struct uavmail_alert {
    const char *key;       /**< the rule's key */
    const char *text;      /**< what happened */
    int severity;          /**< enum uavmail_severity */
    double value;          /**< the value that fired it (NaN for events and digests) */
    int64_t time_us;       /**< when */
    unsigned suppressed;   /**< alerts of this key suppressed since the last one sent */
    int digest;            /**< 1: this is a digest of suppressed alerts, not a new event */
} uavmail_alert;

/** Receives alerts; return non-zero to stop processing the current input (the
 *  alert is counted as delivered all the same).  @since 0.2.0 */
typedef int (*uavmail_alert_cb)(const uavmail_alert *alert, void *user_data);

#define UAVMAIL_ALERTS_OPTIONS_VERSION 1

/** Options for uavmail_alerts_new().  @since 0.2.0 */
typedef struct uavmail_alerts_options {
    unsigned version;          /**< UAVMAIL_ALERTS_OPTIONS_VERSION */
    double repeat_s;           /**< default minimum repeat interval per key (default 300 s) */
    uavmail_alert_cb cb;       /**< receives alerts (required) */
    void *user_data;           /**< passed to @p cb */
    const uavmail_allocator *allocator; /**< NULL: malloc */
} uavmail_alerts_options;

/** Initialise options to the defaults.  @return 0 or UAVMAIL_EINVAL.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_options_init(uavmail_alerts_options *opts, unsigned version);

/** Create a rule set.  @return 0, UAVMAIL_EINVAL, UAVMAIL_ENOMEM, or (since 0.3.0)
 *  UAVMAIL_ECONFIG when libuavmail is from another release than libuavmail-flight.
 *  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_new(uavmail_alerts **out, const uavmail_alerts_options *opts);

/** Free a rule set; NULL is ignored.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN void uavmail_alerts_free(uavmail_alerts *alerts);

/** Detail of the last failed call.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN const uavmail_error_detail *uavmail_alerts_last_error(const uavmail_alerts *alerts);

/** Add a rule (at most 64).  @return 0, UAVMAIL_EINVAL (the detail says what) or UAVMAIL_ENOMEM.  @since 0.2.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_add(uavmail_alerts *alerts, const uavmail_alert_rule *rule);

/**
 * Add a rule written as one line of text, as in a configuration file:
 *
 *     KEY: SOURCE < TRIGGER [clear LEVEL] [hold SECONDS] [repeat SECONDS]
 *          [severity NAME|0-7] [text FREE TEXT TO THE END]
 *
 * with '>' for ABOVE and '<=' for SEVERITY (e.g. "warn: statustext <= warning").
 * Numbers use '.' as the decimal point whatever the locale.
 * @return 0, UAVMAIL_EINVAL (the detail gives the column and what was expected) or UAVMAIL_ENOMEM.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_parse(uavmail_alerts *alerts, const char *line);

/**
 * Feed a value of @p source at @p time_us (UTC microseconds); NaN means
 * unknown and changes nothing.
 * @return 0, UAVMAIL_EINVAL or UAVMAIL_ECALLBACK (the callback asked to stop).
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_value(uavmail_alerts *alerts, const char *source, double value,
                                        int64_t time_us);

/**
 * Feed an event of @p source (e.g. "statustext") with a severity and text.
 * Exact repeats of a text inside the key's repeat interval are suppressed.
 * @return 0, UAVMAIL_EINVAL or UAVMAIL_ECALLBACK.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_event(uavmail_alerts *alerts, const char *source, int severity,
                                        const char *text, int64_t time_us);

/**
 * Let time pass: emit a digest for every key whose repeat interval has ended
 * with alerts suppressed in it.  Called by value() and event() too.
 * @return 0 or UAVMAIL_ECALLBACK.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_tick(uavmail_alerts *alerts, int64_t time_us);

/**
 * Emit digests for everything still suppressed (e.g. at the end of a
 * flight), whatever the time.
 * @return 0 or UAVMAIL_ECALLBACK.
 * @since 0.2.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_alerts_flush(uavmail_alerts *alerts, int64_t time_us);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_ALERT_H */
