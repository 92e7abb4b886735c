/*
 * libuavmail-flight refuses to work next to a libuavmail of another release
 * (lib/flight.h).  Run as is, the constructors succeed; run with
 * other_release.so preloaded (its uavmail_version() names the next release),
 * each returns UAVMAIL_ECONFIG and hands back no handle.
 *   flight_pair same|other OUTBOX_DIR
 */
#include <stdio.h>
#include <string.h>

#include "uavmail/uavmail.h"

static int on_alert(const uavmail_alert *a, void *ud)
{
    (void)a;
    (void)ud;
    return 0;
}

int main(int argc, char **argv)
{
    uavmail_outbox *q = NULL;
    uavmail_telemetry *tm = NULL;
    uavmail_alerts *al = NULL;
    uavmail_alerts_options ao;
    int want, rc[3], fails = 0, i;
    if (argc != 3 || (strcmp(argv[1], "same") != 0 && strcmp(argv[1], "other") != 0)) {
        fprintf(stderr, "usage: flight_pair same|other OUTBOX_DIR\n");
        return 2;
    }
    want = strcmp(argv[1], "same") == 0 ? 0 : UAVMAIL_ECONFIG;
    uavmail_alerts_options_init(&ao, UAVMAIL_ALERTS_OPTIONS_VERSION);
    ao.cb = on_alert;
    rc[0] = uavmail_outbox_open(&q, argv[2], NULL);
    rc[1] = uavmail_telemetry_new(&tm, NULL);
    rc[2] = uavmail_alerts_new(&al, &ao);
    for (i = 0; i < 3; i++) {
        if (rc[i] != want) {
            printf("constructor %d: %d, expected %d\n", i, rc[i], want);
            fails++;
        }
    }
    if (want != 0 && (q || tm || al)) {
        printf("a handle was returned with the error\n");
        fails++;
    }
    printf("libuavmail %#x, %s release: %s\n", uavmail_version(), argv[1], fails ? "FAIL" : "ok");
    uavmail_outbox_close(q);
    uavmail_telemetry_free(tm);
    uavmail_alerts_free(al);
    return fails != 0;
}
