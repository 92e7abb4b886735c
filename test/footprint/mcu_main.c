/*
 * A Cortex-M4 firmware image for the size report (scripts/footprint.sh): a
 * telemetry alert with a small in-memory attachment, sent through a
 * transport whose operations stand in for the board's lwIP netconn (they
 * live outside the core and are kept trivial so they cost almost nothing).
 */
#include <string.h>

#include "mcu_port.h"

static volatile uint32_t *const trng = (volatile uint32_t *)0x50060000u; /* STM32-like RNG */

int uavmail_port_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n-- > 0)
        *p++ = (unsigned char)*trng;
    return 0;
}

int64_t uavmail_port_time(void)
{
    return 1795000000; /* an RTC read on a real board */
}

static int net_connect(void **conn, const char *host, unsigned port, unsigned timeout_ms, void *ud)
{
    *conn = ud;
    return 0;
}

static long net_send(void *conn, const unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    volatile unsigned char *uart = (volatile unsigned char *)0x40004400u;
    size_t i;
    for (i = 0; i < len; i++)
        *uart = buf[i];
    return (long)len;
}

static long net_recv(void *conn, unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    volatile unsigned char *uart = (volatile unsigned char *)0x40004400u;
    if (len == 0)
        return UAVMAIL_ETIMEOUT;
    buf[0] = *uart;
    return 1;
}

static void net_close(void *conn, void *ud)
{
}

int main(void)
{
    static const unsigned char telemetry[] = "t,lat,lon,alt\n0,47.39,8.54,412\n";
    uavmail_transport t;
    uavmail_message *m;
    char why[128];
    memset(&t, 0, sizeof t);
    t.version = UAVMAIL_TRANSPORT_VERSION;
    t.connect_fn = net_connect;
    t.send_fn = net_send;
    t.recv_fn = net_recv;
    t.close_fn = net_close;
    if (uavmail_message_new(&m, NULL) != 0)
        return 1;
    uavmail_message_set_from(m, "uav7@example.net", "UAV 7");
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    uavmail_message_set_subject(m, "Battery low - returning home");
    uavmail_message_set_text(m, "Battery at 18 %, RTL engaged.\n", 30);
    uavmail_message_attach_memory(m, telemetry, sizeof telemetry - 1, "text/csv", "track.csv");
    return uavmail_mcu_send(&t, "smtp.example.net", "uav7.example.net", "uav7", "secret", m,
                            why, sizeof why) == 0 ? 0 : 2;
}
