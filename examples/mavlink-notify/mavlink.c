#include "mavlink.h"

#include <string.h>

/* ---- the frame layer ------------------------------------------------------------------ */

uint16_t mav_crc(uint16_t crc, const uint8_t *data, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t t = (uint8_t)(data[i] ^ (crc & 0xFF));
        t = (uint8_t)(t ^ (t << 4));
        crc = (uint16_t)((crc >> 8) ^ ((uint16_t)t << 8) ^ ((uint16_t)t << 3) ^ (t >> 4));
    }
    return crc;
}

static const struct {
    uint32_t id;
    uint8_t extra, max_len;
} known[] = {
    {MAV_MSG_HEARTBEAT, 50, 9},        {MAV_MSG_SYS_STATUS, 124, 43},
    {MAV_MSG_SYSTEM_TIME, 137, 12},    {MAV_MSG_GPS_RAW_INT, 24, 52},
    {MAV_MSG_GLOBAL_POSITION_INT, 104, 28}, {42, 28, 18} /* MISSION_CURRENT */,
    {46, 11, 2} /* MISSION_ITEM_REACHED */, {MAV_MSG_BATTERY_STATUS, 154, 54},
    {MAV_MSG_FENCE_STATUS, 189, 9},    {MAV_MSG_HOME_POSITION, 104, 60},
    {MAV_MSG_EXTENDED_SYS_STATE, 130, 2}, {MAV_MSG_STATUSTEXT, 83, 54},
    {MAV_MSG_NAMED_VALUE_FLOAT, 170, 18},
};

int mav_message_info(uint32_t msgid, uint8_t *crc_extra, uint8_t *max_len)
{
    size_t i;
    for (i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i].id == msgid) {
            *crc_extra = known[i].extra;
            *max_len = known[i].max_len;
            return 1;
        }
    return 0;
}

void mav_parser_init(mav_parser *p)
{
    memset(p, 0, sizeof *p);
}

static void consume(mav_parser *p, size_t k)
{
    memmove(p->buf, p->buf + k, p->n - k);
    p->n -= k;
}

/* Try one frame at buf[0] (a magic byte): 1 consumed something, 0 needs more. */
static int one_frame(mav_parser *p, mav_frame_cb cb, void *ud)
{
    const uint8_t *b = p->buf;
    int v2 = b[0] == 0xFD;
    size_t hdr = v2 ? 10 : 6, total;
    uint8_t extra, max_len;
    uint16_t crc;
    mav_frame f;
    if (p->n < hdr)
        return 0;
    memset(&f, 0, sizeof f);
    f.version = v2 ? 2 : 1;
    f.len = b[1];
    if (v2) {
        f.incompat = b[2];
        f.compat = b[3];
        f.seq = b[4];
        f.sysid = b[5];
        f.compid = b[6];
        f.msgid = (uint32_t)b[7] | (uint32_t)b[8] << 8 | (uint32_t)b[9] << 16;
        f.is_signed = (f.incompat & 0x01) != 0;
    } else {
        f.seq = b[2];
        f.sysid = b[3];
        f.compid = b[4];
        f.msgid = b[5];
    }
    if (f.incompat & ~0x01) { /* an incompatibility we do not understand: drop */
        p->bad_flags++;
        consume(p, 1);
        return 1;
    }
    total = hdr + f.len + 2 + (f.is_signed ? 13 : 0);
    if (p->n < total)
        return 0;
    if (!mav_message_info(f.msgid, &extra, &max_len)) {
        p->unknown_msgid++; /* no CRC_EXTRA: cannot check, skip it whole */
        consume(p, total);
        return 1;
    }
    crc = mav_crc(0xFFFF, b + 1, hdr - 1 + f.len);
    crc = mav_crc(crc, &extra, 1);
    if (crc != (uint16_t)(b[hdr + f.len] | b[hdr + f.len + 1] << 8) ||
        (!v2 && f.len > max_len)) {
        p->bad_crc++;
        consume(p, 1); /* resync just past this magic */
        return 1;
    }
    memcpy(f.payload, b + hdr, f.len);
    p->frames++;
    consume(p, total);
    cb(&f, ud);
    return 1;
}

void mav_parse(mav_parser *p, const uint8_t *data, size_t len, mav_frame_cb cb, void *ud)
{
    while (len > 0 || p->n > 0) {
        size_t take = sizeof p->buf - p->n;
        if (take > len)
            take = len;
        memcpy(p->buf + p->n, data, take);
        p->n += take;
        data += take;
        len -= take;
        for (;;) {
            size_t skip = 0;
            while (skip < p->n && p->buf[skip] != 0xFD && p->buf[skip] != 0xFE)
                skip++;
            if (skip) {
                p->skipped_bytes += skip;
                consume(p, skip);
            }
            if (p->n == 0 || !one_frame(p, cb, ud))
                break;
        }
        if (len == 0)
            break;
    }
}

/* ---- .tlog ------------------------------------------------------------------------- */

void mav_tlog_init(mav_tlog *t)
{
    memset(t, 0, sizeof *t);
}

typedef struct tlog_ctx {
    mav_tlog_cb cb;
    void *ud;
    uint64_t time_us;
    int got;
} tlog_ctx;

static void tlog_frame(const mav_frame *f, void *ud)
{
    tlog_ctx *c = ud;
    c->got = 1;
    c->cb(f, c->time_us, c->ud);
}

/* Length of the frame starting at @p b (n bytes available), 0 if not yet
 * known, or -1 if @p b does not start a frame. */
static long frame_len(const uint8_t *b, size_t n)
{
    if (n < 1)
        return 0;
    if (b[0] == 0xFE)
        return n < 2 ? 0 : 8 + (long)b[1];
    if (b[0] != 0xFD)
        return -1;
    return n < 3 ? 0 : 12 + (long)b[1] + ((b[2] & 0x01) ? 13 : 0);
}

void mav_tlog_feed(mav_tlog *t, const uint8_t *data, size_t len, mav_tlog_cb cb, void *ud)
{
    for (;;) {
        size_t take = sizeof t->buf - t->n;
        long fl;
        if (take > len)
            take = len;
        memcpy(t->buf + t->n, data, take);
        t->n += take;
        data += take;
        len -= take;
        if (t->n < 9)
            return;
        fl = frame_len(t->buf + 8, t->n - 8);
        if (fl < 0) { /* not a record boundary: slide one byte and look again */
            t->bad_records++;
            memmove(t->buf, t->buf + 1, --t->n);
            continue;
        }
        if (fl == 0 || t->n < 8 + (size_t)fl) {
            if (len == 0)
                return;
            continue;
        }
        {
            mav_parser p;
            tlog_ctx c;
            size_t i;
            c.cb = cb;
            c.ud = ud;
            c.got = 0;
            c.time_us = 0;
            for (i = 0; i < 8; i++)
                c.time_us = c.time_us << 8 | t->buf[i];
            mav_parser_init(&p);
            mav_parse(&p, t->buf + 8, (size_t)fl, tlog_frame, &c);
            if (c.got || p.unknown_msgid) {
                t->records++;
                t->n -= 8 + (size_t)fl;
                memmove(t->buf, t->buf + 8 + fl, t->n);
            } else {
                t->bad_records++;
                memmove(t->buf, t->buf + 1, --t->n);
            }
        }
    }
}

/* ---- messages ----------------------------------------------------------------------- */

static uint16_t u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t u64(const uint8_t *p)
{
    return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32;
}

static int32_t i32(const uint8_t *p)
{
    return (int32_t)u32(p);
}

static int16_t i16(const uint8_t *p)
{
    return (int16_t)u16(p);
}

int mav_decode(const mav_frame *f, mav_message *m)
{
    uint8_t p[255], extra, max_len;
    size_t i;
    if (!mav_message_info(f->msgid, &extra, &max_len))
        return -1;
    memset(p, 0, sizeof p); /* truncated trailing zeros come back (DRONE-NOTES 3.1) */
    memcpy(p, f->payload, f->len);
    memset(m, 0, sizeof *m);
    m->msgid = f->msgid;
    switch (f->msgid) {
    case MAV_MSG_HEARTBEAT:
        m->u.heartbeat.custom_mode = u32(p);
        m->u.heartbeat.type = p[4];
        m->u.heartbeat.autopilot = p[5];
        m->u.heartbeat.base_mode = p[6];
        m->u.heartbeat.system_status = p[7];
        m->u.heartbeat.mavlink_version = p[8];
        return 0;
    case MAV_MSG_SYS_STATUS:
        m->u.sys_status.present = u32(p);
        m->u.sys_status.enabled = u32(p + 4);
        m->u.sys_status.health = u32(p + 8);
        m->u.sys_status.load = u16(p + 12);
        m->u.sys_status.voltage_mv = u16(p + 14);
        m->u.sys_status.current_ca = i16(p + 16);
        m->u.sys_status.remaining_pct = (int8_t)p[30];
        return 0;
    case MAV_MSG_SYSTEM_TIME:
        m->u.system_time.time_unix_usec = u64(p);
        m->u.system_time.time_boot_ms = u32(p + 8);
        return 0;
    case MAV_MSG_GPS_RAW_INT:
        m->u.gps_raw.time_usec = u64(p);
        m->u.gps_raw.lat_e7 = i32(p + 8);
        m->u.gps_raw.lon_e7 = i32(p + 12);
        m->u.gps_raw.alt_mm = i32(p + 16);
        m->u.gps_raw.eph = u16(p + 20);
        m->u.gps_raw.epv = u16(p + 22);
        m->u.gps_raw.vel_cms = u16(p + 24);
        m->u.gps_raw.cog_cdeg = u16(p + 26);
        m->u.gps_raw.fix_type = p[28];
        m->u.gps_raw.satellites = p[29];
        return 0;
    case MAV_MSG_GLOBAL_POSITION_INT:
        m->u.global_position.time_boot_ms = u32(p);
        m->u.global_position.lat_e7 = i32(p + 4);
        m->u.global_position.lon_e7 = i32(p + 8);
        m->u.global_position.alt_mm = i32(p + 12);
        m->u.global_position.relative_alt_mm = i32(p + 16);
        m->u.global_position.vx = i16(p + 20);
        m->u.global_position.vy = i16(p + 22);
        m->u.global_position.vz = i16(p + 24);
        m->u.global_position.hdg_cdeg = u16(p + 26);
        return 0;
    case MAV_MSG_BATTERY_STATUS:
        m->u.battery.current_consumed_mah = i32(p);
        m->u.battery.energy_consumed_hj = i32(p + 4);
        m->u.battery.temperature_cdeg = i16(p + 8);
        for (i = 0; i < 10; i++)
            m->u.battery.voltages_mv[i] = u16(p + 10 + 2 * i);
        m->u.battery.current_ca = i16(p + 30);
        m->u.battery.id = p[32];
        m->u.battery.function = p[33];
        m->u.battery.type = p[34];
        m->u.battery.remaining_pct = (int8_t)p[35];
        m->u.battery.time_remaining_s = i32(p + 36);
        m->u.battery.charge_state = p[40];
        return 0;
    case MAV_MSG_FENCE_STATUS:
        m->u.fence.breach_time_ms = u32(p);
        m->u.fence.breach_count = u16(p + 4);
        m->u.fence.breach_status = p[6];
        m->u.fence.breach_type = p[7];
        return 0;
    case MAV_MSG_HOME_POSITION:
        m->u.home.lat_e7 = i32(p);
        m->u.home.lon_e7 = i32(p + 4);
        m->u.home.alt_mm = i32(p + 8);
        return 0;
    case MAV_MSG_EXTENDED_SYS_STATE:
        m->u.ext_state.vtol_state = p[0];
        m->u.ext_state.landed_state = p[1];
        return 0;
    case MAV_MSG_STATUSTEXT:
        m->u.statustext.severity = p[0];
        memcpy(m->u.statustext.text, p + 1, 50); /* [50] stays NUL */
        m->u.statustext.id = u16(p + 51);
        m->u.statustext.chunk_seq = p[53];
        return 0;
    case MAV_MSG_NAMED_VALUE_FLOAT: {
        uint32_t bits = u32(p + 4);
        m->u.named_value.time_boot_ms = u32(p);
        memcpy(&m->u.named_value.value, &bits, sizeof bits); /* IEEE 754 binary32 */
        memcpy(m->u.named_value.name, p + 8, 10);             /* [10] stays NUL */
        return 0;
    }
    default:
        return -1; /* known frame (CRC checked) without a decoder here */
    }
}
