/*
 * Fuzz target: the alert rule parser and the rule engine.  The input is
 * lines: rule lines first (parsed with uavmail_alerts_parse), then, after a
 * line "---", feed lines "SOURCE VALUE" or "!SOURCE SEVERITY TEXT" with the
 * time advancing by the line number in seconds.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uavmail/uavmail.h"

static int sink(const uavmail_alert *a, void *ud)
{
    size_t *n = ud;
    *n += strlen(a->text) + strlen(a->key); /* read everything handed out */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uavmail_alerts_options o;
    uavmail_alerts *a;
    char *buf, *line, *save = NULL;
    size_t seen = 0;
    int feeding = 0;
    int64_t t = 1795356180000000LL;
    if (size > 65536)
        return 0;
    buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    uavmail_alerts_options_init(&o, UAVMAIL_ALERTS_OPTIONS_VERSION);
    o.cb = sink;
    o.user_data = &seen;
    o.repeat_s = 30;
    if (uavmail_alerts_new(&a, &o) != 0) {
        free(buf);
        return 0;
    }
    for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        t += 1000000;
        if (!feeding) {
            if (strcmp(line, "---") == 0)
                feeding = 1;
            else if (uavmail_alerts_parse(a, line) != 0 &&
                     !uavmail_error_message(uavmail_alerts_last_error(a))[0])
                abort(); /* every refusal says why */
        } else if (line[0] == '!') {
            char src[40];
            int sev = 0, off = 0;
            if (sscanf(line + 1, "%39s %d %n", src, &sev, &off) >= 2)
                uavmail_alerts_event(a, src, sev, line + 1 + off, t);
        } else {
            char src[40];
            char *end;
            double v;
            if (sscanf(line, "%39s", src) == 1) {
                v = strtod(line + strlen(src), &end);
                uavmail_alerts_value(a, src, v, t);
            }
        }
    }
    uavmail_alerts_flush(a, t);
    uavmail_alerts_free(a);
    free(buf);
    return 0;
}
