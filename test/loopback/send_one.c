/*
 * Portable sender for the loopback suite (no POSIX, so it also runs as a
 * Windows program under wine):
 *   send_one HOST PORT tls|starttls CAFILE USER PASSWORD_ENV ATTACHMENT [blocking|step]
 * Sends one message with ATTACHMENT through the built-in TCP transport and
 * prints "result=N message=TEXT".  "step" drives the
 * non-blocking interface (uavmail_session_start/step) with the library's
 * own timeouts instead of an event loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uavmail/uavmail.h>

#include "env_password.h"

int main(int argc, char **argv)
{
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_session *s;
    uavmail_message *m;
    int rc, want = 0, step = argc == 9 && strcmp(argv[8], "step") == 0;
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: send_one HOST PORT tls|starttls CAFILE USER PASSWORD_ENV FILE "
                        "[blocking|step]\n");
        return 2;
    }
    o.host = argv[1];
    o.port = (unsigned)atoi(argv[2]);
    o.security = strcmp(argv[3], "tls") == 0 ? UAVMAIL_SECURITY_TLS : UAVMAIL_SECURITY_STARTTLS;
    o.cafile = argv[4];
    o.username = argv[5];
    o.password_cb = password;
    o.password_user_data = argv[6];
    o.helo_name = "uav7.example.test";
    if (uavmail_session_new(&s, &o) != 0 || uavmail_message_new(&m, NULL) != 0)
        return 3;
    uavmail_message_set_from(m, "uav7@example.test", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.test", NULL);
    uavmail_message_set_subject(m, "Loopback flight log");
    uavmail_message_set_text(m, "Log attached.\n", 14);
    rc = uavmail_message_attach_file(m, argv[7], NULL, NULL);
    if (rc == 0 && !step) {
        rc = uavmail_session_send_final(s, m);
    } else if (rc == 0) {
        rc = uavmail_session_start(s, m, 1);
        while (rc == 0 || rc == UAVMAIL_EAGAIN) {
            rc = uavmail_session_step(s, &want);
            if (rc != UAVMAIL_EAGAIN)
                break;
        }
    }
    printf("result=%d message=%s\n", rc,
           rc == 0 ? "" : uavmail_error_message(uavmail_session_last_error(s)));
    uavmail_message_free(m);
    uavmail_session_free(s);
    return rc == 0 ? 0 : 1;
}
