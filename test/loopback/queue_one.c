/*
 * Portable outbox driver for the loopback suite (no POSIX, so it also runs as
 * a Windows program under wine, where it exercises the Windows file layer):
 *   queue_one DIR enqueue alert|normal|bulk SUBJECT [ATTACHMENT]
 *   queue_one DIR flush HOST PORT tls|starttls CAFILE USER PASSWORD_ENV [now]
 *   queue_one DIR list
 * Each run is a separate process, so what one stores another must find.
 * enqueue prints "id=ID"; flush prints an "outcome id=ID outcome=N" line per
 * finished message and "result=N sent=K message=TEXT" ("now": the link goes
 * down and up first, which makes every queued message due at once); list
 * prints "entry id=ID priority=P state=S attempts=A subject=TEXT" per entry
 * and "error=TEXT" when it has one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uavmail/uavmail.h>

#include "env_password.h"

static void outcome(const char *id, int result, int smtp_code, const char *reply, void *ud)
{
    (void)ud;
    printf("outcome id=%s outcome=%d code=%d reply=%s\n", id, result, smtp_code, reply);
}

static int entry(const uavmail_outbox_entry *e, void *ud)
{
    (void)ud;
    printf("entry id=%s priority=%d state=%d attempts=%u subject=%s\n", e->id, e->priority,
           e->state, e->attempts, e->subject);
    if (e->last_error[0] != '\0')
        printf("error=%s\n", e->last_error);
    return 0;
}

static int enqueue(uavmail_outbox *q, int argc, char **argv)
{
    uavmail_message *m;
    const uavmail_error_detail *why;
    char id[64];
    int rc, prio = strcmp(argv[3], "alert") == 0    ? UAVMAIL_PRIORITY_ALERT
                   : strcmp(argv[3], "normal") == 0 ? UAVMAIL_PRIORITY_NORMAL
                                                    : UAVMAIL_PRIORITY_BULK;
    if (uavmail_message_new(&m, NULL) != 0)
        return 3;
    uavmail_message_set_from(m, "uav7@example.test", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.test", NULL);
    uavmail_message_set_subject(m, argv[4]);
    uavmail_message_set_text(m, "From the outbox.\n", 17);
    rc = argc > 5 ? uavmail_message_attach_file(m, argv[5], NULL, NULL) : 0;
    why = uavmail_message_last_error(m);
    if (rc == 0) {
        rc = uavmail_outbox_enqueue(q, m, prio, 0, NULL, id);
        why = uavmail_outbox_last_error(q);
    }
    if (rc == 0)
        printf("id=%s\n", id);
    else
        printf("result=%d message=%s\n", rc, uavmail_error_message(why));
    uavmail_message_free(m);
    return rc == 0 ? 0 : 1;
}

static int flush(uavmail_outbox *q, int argc, char **argv)
{
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    size_t sent = 0;
    int rc;
    o.host = argv[3];
    o.port = (unsigned)atoi(argv[4]);
    o.security = strcmp(argv[5], "tls") == 0 ? UAVMAIL_SECURITY_TLS : UAVMAIL_SECURITY_STARTTLS;
    o.cafile = argv[6];
    o.username = argv[7];
    o.password_cb = password;
    o.password_user_data = argv[8];
    o.helo_name = "uav7.example.test";
    o.connect_timeout_ms = 5000;
    if (argc > 9 && strcmp(argv[9], "now") == 0) {
        uavmail_outbox_set_link(q, 0);
        uavmail_outbox_set_link(q, 1);
    }
    rc = uavmail_outbox_flush(q, &o, &sent);
    printf("result=%d sent=%u message=%s\n", rc, (unsigned)sent,
           rc == 0 ? "" : uavmail_error_message(uavmail_outbox_last_error(q)));
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    uavmail_outbox_options qo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    uavmail_outbox *q;
    int rc;
    const char *cmd = argc > 2 ? argv[2] : "";
    if (!(strcmp(cmd, "enqueue") == 0 && (argc == 5 || argc == 6)) &&
        !(strcmp(cmd, "flush") == 0 && (argc == 9 || argc == 10)) &&
        !(strcmp(cmd, "list") == 0 && argc == 3)) {
        fprintf(stderr, "usage: queue_one DIR enqueue alert|normal|bulk SUBJECT [FILE]\n"
                        "       queue_one DIR flush HOST PORT tls|starttls CAFILE USER "
                        "PASSWORD_ENV [now]\n"
                        "       queue_one DIR list\n");
        return 2;
    }
    qo.outcome_cb = outcome;
    rc = uavmail_outbox_open(&q, argv[1], &qo);
    if (rc != 0) {
        printf("result=%d message=cannot open the outbox\n", rc);
        return 1;
    }
    if (strcmp(cmd, "enqueue") == 0)
        rc = enqueue(q, argc, argv);
    else if (strcmp(cmd, "flush") == 0)
        rc = flush(q, argc, argv);
    else
        rc = uavmail_outbox_list(q, entry, NULL) == 0 ? 0 : 1;
    uavmail_outbox_close(q);
    return rc;
}
