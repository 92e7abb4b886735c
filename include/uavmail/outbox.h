/*
 * uavmail - crash-safe store-and-forward outbox.
 *
 * Hand a message to the outbox and forget it: it is rendered and written
 * durably to disk (temp file, fsync, rename, directory fsync) before
 * enqueue returns, and sent when the link is up, alerts first, with
 * back-off between attempts.  Delivery is at-least-once: a message whose
 * outcome is unknown (link lost after the end of data) is sent again with
 * the same Message-ID and Date.  No credential is ever written to disk.
 * One handle per thread; any number of processes may enqueue at once, one
 * flushes at a time (a lock; a killed flusher's lock is released by the OS).
 *
 * In libuavmail-flight, on top of libuavmail: `pkg-config uavmail-flight`.
 */
#ifndef UAVMAIL_OUTBOX_H
#define UAVMAIL_OUTBOX_H

#include "uavmail/common.h"
#include "uavmail/error.h"
#include "uavmail/message.h"
#include "uavmail/session.h"

UAVMAIL_BEGIN_DECLS

/** An outbox directory.  @since 0.1.0 */
typedef struct uavmail_outbox uavmail_outbox;

/** Priorities: lower values are sent first.  @since 0.1.0 */
enum uavmail_priority {
    UAVMAIL_PRIORITY_ALERT = 0,
    UAVMAIL_PRIORITY_NORMAL = 1,
    UAVMAIL_PRIORITY_BULK = 2
};

/** States of an outbox entry.  @since 0.1.0 */
enum uavmail_outbox_state {
    UAVMAIL_ENTRY_QUEUED = 0,  /**< waiting for (another) attempt */
    UAVMAIL_ENTRY_BOUNCED = 1, /**< dead letter: a recipient was refused permanently */
    UAVMAIL_ENTRY_EXPIRED = 2, /**< dead letter: not delivered before its expiry */
    UAVMAIL_ENTRY_DROPPED = 3  /**< evicted by the opt-in drop-oldest-bulk policy */
};

/** Final outcomes reported through uavmail_outcome_cb.  @since 0.1.0 */
enum uavmail_outcome {
    UAVMAIL_OUTCOME_DELIVERED = 0,
    UAVMAIL_OUTCOME_BOUNCED = 1,
    UAVMAIL_OUTCOME_EXPIRED = 2,
    UAVMAIL_OUTCOME_DROPPED = 3
};

/** Reports a message's final outcome (called inside open/flush/enqueue, on
 *  the caller's thread), at least once: a crash or I/O error between the
 *  decision and its cleanup can repeat a report, never lose one.  @p reply
 *  is the server's reply for a bounce, else "". */
typedef void (*uavmail_outcome_cb)(const char *id, int outcome, int smtp_code, const char *reply,
                                   void *user_data);

/** Options for uavmail_outbox_open().  @since 0.1.0 */
typedef struct uavmail_outbox_options {
    unsigned version;                   /**< UAVMAIL_OUTBOX_OPTIONS_VERSION */
    const uavmail_allocator *allocator; /**< NULL: the C library's allocator */
    unsigned max_messages;              /**< 0: 1000 */
    uint64_t max_bytes;                 /**< 0: 1 GiB */
    unsigned retry_initial_s;           /**< first back-off; 0: 60 s */
    unsigned retry_max_s;               /**< back-off ceiling; 0: 30 min */
    unsigned rate_per_hour;             /**< messages per hour per outbox, at most 512; 0: unlimited */
    int drop_oldest_bulk;               /**< 1: make room by evicting the oldest bulk messages */
    uavmail_outcome_cb outcome_cb;      /**< NULL: none */
    void *outcome_user_data;
    uavmail_time_cb time_cb;            /**< the clock (GPS time); NULL: the system clock */
    void *time_user_data;
} uavmail_outbox_options;

#define UAVMAIL_OUTBOX_OPTIONS_VERSION 1
#define UAVMAIL_OUTBOX_OPTIONS_INIT \
    { UAVMAIL_OUTBOX_OPTIONS_VERSION, NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL }

/** One entry as listed.  Strings are owned by the outbox, valid during the callback.  @since 0.1.0 */
typedef struct uavmail_outbox_entry {
    unsigned version;       /**< 1 */
    const char *id;
    int state;              /**< enum uavmail_outbox_state */
    int priority;           /**< enum uavmail_priority */
    unsigned attempts;
    int outcome_unknown;    /**< the last attempt lost the link after the end of data */
    int64_t created, next_attempt, expires; /**< seconds since 1970 UTC; expires 0: never */
    uint64_t size;          /**< bytes of the stored message */
    size_t recipients, delivered, failed;
    const char *message_id;
    const char *subject;
    const char *last_error; /**< "" if none */
} uavmail_outbox_entry;

/** Receives entries from uavmail_outbox_list(); return non-zero to stop. */
typedef int (*uavmail_entry_cb)(const uavmail_outbox_entry *entry, void *user_data);

/** Counters for uavmail_outbox_stats().  @since 0.1.0 */
typedef struct uavmail_outbox_stats {
    unsigned version;      /**< 1 */
    size_t queued, alerts, dead, corrupt;
    uint64_t bytes;
    unsigned sent_last_hour;
} uavmail_outbox_stats;

/**
 * Open (creating it 0700 if needed) an outbox directory.  Leftover temporary
 * files of interrupted writes are removed; nothing half-written is ever sent.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EFILE (directory unusable, or its
 *         parts on different file systems), UAVMAIL_ENOMEM, or (since 0.3.0)
 *         UAVMAIL_ECONFIG when libuavmail is from another release than
 *         libuavmail-flight.
 * @since 0.1.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_open(uavmail_outbox **out, const char *dir,
                                       const uavmail_outbox_options *opts);

/** Close; NULL is ignored.  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN void uavmail_outbox_close(uavmail_outbox *outbox);

/** Detail of the last failed call.  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN const uavmail_error_detail *uavmail_outbox_last_error(const uavmail_outbox *outbox);

/**
 * Render @p msg and store it durably; returns only once it is on disk.
 * @param outbox the outbox.
 * @param msg the message (its Date and Message-ID are fixed now, for good).
 * @param priority enum uavmail_priority.
 * @param expires seconds since 1970 after which it is given up, or 0.
 * @param dedup_key if another queued entry has this key, nothing is added
 *        and its id is returned; NULL: none.
 * @param id receives the entry's id (at least 40 bytes), or NULL.
 * @return 0, UAVMAIL_EFULL (limits reached), UAVMAIL_EFILE (disk full,
 *         read-only, I/O error: nothing was added) or a message error.
 * @since 0.1.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_enqueue(uavmail_outbox *outbox, uavmail_message *msg,
                                          int priority, int64_t expires, const char *dedup_key,
                                          char *id);

/**
 * Tell the outbox whether the link is up.  With the link down, flush makes
 * no connection; when it comes up, every queued message is due at once.
 * @since 0.1.0
 */
UAVMAIL_FLIGHT_EXTERN void uavmail_outbox_set_link(uavmail_outbox *outbox, int up);

/**
 * Send what is due over one connection, highest priority first, within
 * the rate limit.  Temporary failures are retried later with exponential
 * back-off and jitter; permanent ones become dead letters.
 * @param outbox the outbox.
 * @param opts how to reach the server (the credentials stay in memory).
 * @param sent receives how many messages were finished, or NULL.
 * @return 0 (also when nothing was due or the link is down), UAVMAIL_ESTATE
 *         (another process is flushing), or the connection's error after
 *         which the attempted messages were rescheduled.
 * @since 0.1.0
 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_flush(uavmail_outbox *outbox,
                                        const uavmail_session_options *opts, size_t *sent);

/** List entries (queued first, then dead letters).  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_list(uavmail_outbox *outbox, uavmail_entry_cb cb,
                                       void *user_data);

/** Remove one entry (queued or dead).  @return 0, UAVMAIL_EINVAL (no such id), UAVMAIL_ESTATE
 *  (a flush is in progress: it might be sending this entry) or UAVMAIL_EFILE.  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_remove(uavmail_outbox *outbox, const char *id);

/** Remove every dead letter (and quarantined file); with @p all, queued ones too.
 *  @return 0 or UAVMAIL_ESTATE (a flush, or with @p all an enqueue, is in progress).
 *  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_purge(uavmail_outbox *outbox, int all);

/** Fill @p stats (set its version to 1 first).  @since 0.1.0 */
UAVMAIL_FLIGHT_EXTERN int uavmail_outbox_stats_get(uavmail_outbox *outbox, uavmail_outbox_stats *stats);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_OUTBOX_H */
