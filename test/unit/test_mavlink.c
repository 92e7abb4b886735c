/*
 * The MAVLink decoder (examples/mavlink-notify/mavlink.c) against the golden
 * frames of DRONE-NOTES 3.4, produced byte-identically by node-mavlink 2.3.0
 * and pymavlink: v2 with truncation, both all-zero encodings, v1, signed;
 * plus a byte-at-a-time stream, noise, a corrupted CRC and unknown flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mavlink.h"
#include "tt.h"

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    while (h[0] && h[1]) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
        h += 2;
    }
    return n;
}

typedef struct got {
    mav_frame f[32];
    int n;
} got;

static void on_frame(const mav_frame *f, void *ud)
{
    got *g = ud;
    if (g->n < 32)
        g->f[g->n++] = *f;
}

static got parse_hex(const char *hex, int bytewise)
{
    static got g;
    mav_parser p;
    uint8_t b[600];
    size_t n = unhex(hex, b), i;
    memset(&g, 0, sizeof g);
    mav_parser_init(&p);
    if (bytewise)
        for (i = 0; i < n; i++)
            mav_parse(&p, b + i, 1, on_frame, &g);
    else
        mav_parse(&p, b, n, on_frame, &g);
    return g;
}

static mav_message one(const char *hex)
{
    mav_message m;
    got g = parse_hex(hex, 0);
    memset(&m, 0, sizeof m);
    CHECK_INT(g.n, 1);
    if (g.n == 1)
        CHECK_INT(mav_decode(&g.f[0], &m), 0);
    return m;
}

static void crc_check_value(void)
{
    CHECK_INT(mav_crc(0xFFFF, (const uint8_t *)"123456789", 9), 0x6F91); /* CRC-16/MCRF4XX */
}

static void golden_heartbeat_v2_v1_signed(void)
{
    static const char *const frames[] = {
        "fd0900000001010000000400000002039904037a70",
        "fe09090101000400000002039904036922",
        "fd0901000a010100000004000000020399040368cc0100b00795b41c4fef3829a94d",
    };
    size_t i;
    for (i = 0; i < 3; i++) {
        got g = parse_hex(frames[i], 0);
        mav_message m = one(frames[i]);
        CHECK_INT(g.f[0].version, i == 1 ? 1 : 2);
        CHECK_INT(g.f[0].is_signed, i == 2);
        CHECK_INT(g.f[0].sysid, 1);
        CHECK_INT(m.u.heartbeat.type, 2);
        CHECK_INT(m.u.heartbeat.autopilot, 3);
        CHECK_INT(m.u.heartbeat.base_mode, 0x99); /* armed */
        CHECK_INT(m.u.heartbeat.custom_mode, 4);
        CHECK_INT(m.u.heartbeat.system_status, 4);
        CHECK_INT(m.u.heartbeat.mavlink_version, 3);
    }
}

static void golden_truncated_messages(void)
{
    mav_message m;
    /* NAMED_VALUE_FLOAT from node-mavlink 2.3.0: a camera (compid 100), "thermal" = 85.5,
     * name truncated to 7 bytes on the wire (10 declared) */
    m = one("fd0f0000070164fb000084d203000000ab42746865726d616c29f7");
    CHECK_INT((int)m.msgid, MAV_MSG_NAMED_VALUE_FLOAT);
    CHECK_INT((int)m.u.named_value.time_boot_ms, 250500);
    CHECK(m.u.named_value.value == 85.5f);
    CHECK_STR(m.u.named_value.name, "thermal");
    m = one("fd1f00000101010100002ffc60012ffc60010ffc6001f401d039d20400000000000000000000000012a1f3");
    CHECK_INT(m.u.sys_status.present, 0x0160FC2F);
    CHECK_INT(m.u.sys_status.health, 0x0160FC0F);
    CHECK_INT(m.u.sys_status.load, 500);
    CHECK_INT(m.u.sys_status.voltage_mv, 14800);
    CHECK_INT(m.u.sys_status.current_ca, 1234);
    CHECK_INT(m.u.sys_status.remaining_pct, 18);
    m = one("fd1e000002010118000015cd5b07000000004a52401c43f41705407207007900c80026022823030cb9b3");
    CHECK(m.u.gps_raw.time_usec == 123456789u);
    CHECK_INT(m.u.gps_raw.lat_e7, 473977418);
    CHECK_INT(m.u.gps_raw.lon_e7, 85455939);
    CHECK_INT(m.u.gps_raw.alt_mm, 488000);
    CHECK_INT(m.u.gps_raw.eph, 121);
    CHECK_INT(m.u.gps_raw.vel_cms, 550);
    CHECK_INT(m.u.gps_raw.cog_cdeg, 9000);
    CHECK_INT(m.u.gps_raw.fix_type, 3);
    CHECK_INT(m.u.gps_raw.satellites, 12);
    m = one("fd1c0000030101210000c02709004a52401c43f417059035080050c30000640038ff000078699d93");
    CHECK_INT(m.u.global_position.time_boot_ms, 600000);
    CHECK_INT(m.u.global_position.alt_mm, 538000);
    CHECK_INT(m.u.global_position.relative_alt_mm, 50000);
    CHECK_INT(m.u.global_position.vx, 100);
    CHECK_INT(m.u.global_position.vy, -200);
    CHECK_INT(m.u.global_position.hdg_cdeg, 27000);
    m = one("fd290000040101930000c4090000ffffffffac0d740e740e740e740effffffffffffffffffffffffdc050001010f00000000033fa4");
    CHECK_INT(m.u.battery.current_consumed_mah, 2500);
    CHECK_INT(m.u.battery.energy_consumed_hj, -1);
    CHECK_INT(m.u.battery.temperature_cdeg, 3500);
    CHECK_INT(m.u.battery.voltages_mv[0], 3700);
    CHECK_INT(m.u.battery.voltages_mv[3], 3700);
    CHECK_INT(m.u.battery.voltages_mv[4], 0xFFFF);
    CHECK_INT(m.u.battery.current_ca, 1500);
    CHECK_INT(m.u.battery.function, 1);
    CHECK_INT(m.u.battery.type, 1);
    CHECK_INT(m.u.battery.remaining_pct, 15);
    CHECK_INT(m.u.battery.charge_state, 3);
    m = one("fd160000050101fd00000242617474657279203120697320637269746963616c7b37");
    CHECK_INT(m.u.statustext.severity, 2);
    CHECK(strcmp(m.u.statustext.text, "Battery 1 is critical") == 0);
    m = one("fd080000060101a20000b4290900010001029fca");
    CHECK_INT(m.u.fence.breach_time_ms, 600500);
    CHECK_INT(m.u.fence.breach_count, 1);
    CHECK_INT(m.u.fence.breach_status, 1);
    CHECK_INT(m.u.fence.breach_type, 2);
    m = one("fd020000070101f5000000029c2a");
    CHECK_INT(m.u.ext_state.landed_state, 2);
    /* All-zero payload: len 1 (C, pymavlink) and len 0 (node-mavlink). */
    m = one("fd010000080101f5000000100d");
    CHECK_INT(m.u.ext_state.landed_state, 0);
    m = one("fd000000080101f5000062f3");
    CHECK_INT(m.msgid, MAV_MSG_EXTENDED_SYS_STATE);
}

#define STREAM                                                                             \
    "fd0900000001010000000400000002039904037a70"                                           \
    "fd1f00000101010100002ffc60012ffc60010ffc6001f401d039d20400000000000000000000000012a1f3" \
    "fe09090101000400000002039904036922"                                                    \
    "fd0901000a010100000004000000020399040368cc0100b00795b41c4fef3829a94d"                \
    "fd000000080101f5000062f3"

static void stream_bytewise_and_with_noise(void)
{
    got g = parse_hex(STREAM, 1);
    CHECK_INT(g.n, 5);
    /* Noise (including stray magic bytes) between frames, a corrupted CRC,
     * an unknown incompat flag and an unknown message: only good frames. */
    g = parse_hex("00fdfe12"
                  "fd0900000001010000000400000002039904037a71" /* CRC off by one */
                  "fd0902000001010000000400000002039904037a70" /* incompat 0x02 */
                  "fd0200000701019999990000aaaa"               /* unknown msgid 0x999999 */
                  "fd020000070101f5000000029c2a"
                  "fe",
                  0);
    CHECK_INT(g.n, 1);
    CHECK_INT(g.f[0].msgid, MAV_MSG_EXTENDED_SYS_STATE);
}

typedef struct tl {
    int n;
    uint64_t t[8];
    uint32_t id[8];
} tl;

static void on_record(const mav_frame *f, uint64_t time_us, void *ud)
{
    tl *x = ud;
    if (x->n < 8) {
        x->t[x->n] = time_us;
        x->id[x->n] = f->msgid;
        x->n++;
    }
}

static void tlog_records(void)
{
    /* DRONE-NOTES 3.4: the first HEARTBEAT at 2025-01-01T00:00:00Z, then a
     * GPS record; fed whole, then byte by byte, then with a damaged record. */
    const char *hex = "00062a99ba0c6000fd0900000001010000000400000002039904037a70"
                      "00062a99ba0c6001fd020000070101f5000000029c2a";
    uint8_t b[200];
    size_t n = unhex(hex, b), i;
    mav_tlog t;
    tl x;
    memset(&x, 0, sizeof x);
    mav_tlog_init(&t);
    mav_tlog_feed(&t, b, n, on_record, &x);
    CHECK_INT(x.n, 2);
    CHECK(x.t[0] == 1735689600000000ull);
    CHECK_INT(x.id[0], MAV_MSG_HEARTBEAT);
    CHECK(x.t[1] == 1735689600000001ull);
    CHECK_INT(x.id[1], MAV_MSG_EXTENDED_SYS_STATE);
    memset(&x, 0, sizeof x);
    mav_tlog_init(&t);
    for (i = 0; i < n; i++)
        mav_tlog_feed(&t, b + i, 1, on_record, &x);
    CHECK_INT(x.n, 2);
    b[20] ^= 0x40; /* damage the first frame: only the second record remains */
    memset(&x, 0, sizeof x);
    mav_tlog_init(&t);
    mav_tlog_feed(&t, b, n, on_record, &x);
    CHECK_INT(x.n, 1);
    CHECK_INT(x.id[0], MAV_MSG_EXTENDED_SYS_STATE);
}

static const tt_test tests[] = {
    TT(tlog_records),
    TT(crc_check_value),
    TT(golden_heartbeat_v2_v1_signed),
    TT(golden_truncated_messages),
    TT(stream_bytewise_and_with_noise),
};

TT_MAIN(tests)
