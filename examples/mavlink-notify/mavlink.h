/*
 * A small MAVLink v1/v2 stream decoder for the notification bridge
 * (examples/mavlink-notify): frame sync and CRC with CRC_EXTRA, truncated
 * payloads zero-extended, signed frames accepted (signature skipped, not
 * verified), frames with unknown incompatibility flags dropped, and the
 * messages a flight report and alert rules need decoded into plain structs.
 * Facts: shared DRONE-NOTES.md section 3.  No allocation; no dependency.
 */
#ifndef UAVMAIL_MAVLINK_H
#define UAVMAIL_MAVLINK_H

#include <stddef.h>
#include <stdint.h>

#define MAV_MAX_FRAME 280 /* 10 header + 255 payload + 2 CRC + 13 signature */

typedef struct mav_frame {
    int version;        /* 1 or 2 */
    uint8_t len;        /* payload bytes on the wire (after truncation) */
    uint8_t incompat, compat, seq, sysid, compid;
    int is_signed;
    uint32_t msgid;
    uint8_t payload[255];
} mav_frame;

typedef struct mav_parser {
    uint8_t buf[2 * MAV_MAX_FRAME];
    size_t n;
    unsigned long frames, bad_crc, unknown_msgid, bad_flags, skipped_bytes;
} mav_parser;

typedef void (*mav_frame_cb)(const mav_frame *frame, void *user_data);

void mav_parser_init(mav_parser *p);
/* Feed stream bytes; @p cb runs for every frame of a known message whose
 * CRC checks.  Unknown messages are skipped whole, bad CRCs resync one
 * byte past the magic (DRONE-NOTES 3.1). */
void mav_parse(mav_parser *p, const uint8_t *data, size_t len, mav_frame_cb cb, void *user_data);

/* A .tlog (MAVProxy / Mission Planner telemetry log): each frame preceded
 * by an 8-byte big-endian timestamp in microseconds since 1970.  Feed the
 * file's bytes in any pieces; @p cb gets each good frame and @p time_us its
 * record's timestamp.  Records whose frame fails are skipped to the next
 * plausible timestamp. */
typedef void (*mav_tlog_cb)(const mav_frame *frame, uint64_t time_us, void *user_data);

typedef struct mav_tlog {
    uint8_t buf[8 + MAV_MAX_FRAME];
    size_t n;
    unsigned long records, bad_records;
} mav_tlog;

void mav_tlog_init(mav_tlog *t);
void mav_tlog_feed(mav_tlog *t, const uint8_t *data, size_t len, mav_tlog_cb cb, void *user_data);

/* CRC-16/MCRF4XX ("X.25" in MAVLink) step over @p n bytes. */
uint16_t mav_crc(uint16_t crc, const uint8_t *data, size_t n);
/* CRC_EXTRA and full (v2) payload length of a known message; 0 if unknown. */
int mav_message_info(uint32_t msgid, uint8_t *crc_extra, uint8_t *max_len);

enum {
    MAV_MSG_HEARTBEAT = 0, MAV_MSG_SYS_STATUS = 1, MAV_MSG_SYSTEM_TIME = 2,
    MAV_MSG_GPS_RAW_INT = 24, MAV_MSG_GLOBAL_POSITION_INT = 33, MAV_MSG_BATTERY_STATUS = 147,
    MAV_MSG_FENCE_STATUS = 162, MAV_MSG_HOME_POSITION = 242, MAV_MSG_EXTENDED_SYS_STATE = 245,
    MAV_MSG_STATUSTEXT = 253, MAV_MSG_NAMED_VALUE_FLOAT = 251
};

typedef struct mav_heartbeat {
    uint32_t custom_mode;
    uint8_t type, autopilot, base_mode, system_status, mavlink_version;
} mav_heartbeat;

typedef struct mav_sys_status {
    uint32_t present, enabled, health;
    uint16_t load, voltage_mv; /* voltage UINT16_MAX: not sent */
    int16_t current_ca;        /* -1: not sent */
    int8_t remaining_pct;      /* -1: not sent */
} mav_sys_status;

typedef struct mav_system_time {
    uint64_t time_unix_usec;
    uint32_t time_boot_ms;
} mav_system_time;

typedef struct mav_gps_raw {
    uint64_t time_usec;
    int32_t lat_e7, lon_e7, alt_mm;
    uint16_t eph, epv, vel_cms, cog_cdeg;
    uint8_t fix_type, satellites;
} mav_gps_raw;

typedef struct mav_global_position {
    uint32_t time_boot_ms;
    int32_t lat_e7, lon_e7, alt_mm, relative_alt_mm;
    int16_t vx, vy, vz; /* cm/s north, east, down */
    uint16_t hdg_cdeg;
} mav_global_position;

typedef struct mav_battery {
    int32_t current_consumed_mah, energy_consumed_hj;
    int16_t temperature_cdeg;
    uint16_t voltages_mv[10];
    int16_t current_ca;
    uint8_t id, function, type;
    int8_t remaining_pct;
    int32_t time_remaining_s;
    uint8_t charge_state;
} mav_battery;

typedef struct mav_statustext {
    uint8_t severity;
    char text[51]; /* NUL-terminated here (50 bytes on the wire, unterminated when full) */
    uint16_t id;
    uint8_t chunk_seq;
} mav_statustext;

typedef struct mav_fence_status {
    uint32_t breach_time_ms;
    uint16_t breach_count;
    uint8_t breach_status, breach_type;
} mav_fence_status;

typedef struct mav_home_position {
    int32_t lat_e7, lon_e7, alt_mm;
} mav_home_position;

typedef struct mav_extended_sys_state {
    uint8_t vtol_state, landed_state;
} mav_extended_sys_state;

typedef struct mav_named_value {
    uint32_t time_boot_ms;
    float value;
    char name[11]; /* NUL-terminated here (10 bytes on the wire) */
} mav_named_value;

typedef struct mav_message {
    uint32_t msgid;
    union {
        mav_heartbeat heartbeat;
        mav_sys_status sys_status;
        mav_system_time system_time;
        mav_gps_raw gps_raw;
        mav_global_position global_position;
        mav_battery battery;
        mav_statustext statustext;
        mav_fence_status fence;
        mav_home_position home;
        mav_extended_sys_state ext_state;
        mav_named_value named_value;
    } u;
} mav_message;

/* Decode a checked frame (zero-extending a truncated payload); 0, or -1
 * for a message this decoder does not know. */
int mav_decode(const mav_frame *frame, mav_message *out);

#endif
