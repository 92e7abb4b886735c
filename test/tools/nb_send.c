/*
 * Sends one message through the non-blocking interface, driven by a poll()
 * loop as an application's event loop would (used by test/e2e/test_send.py).
 *   nb_send HOST PORT tls|starttls CAFILE USER PASSWORD_ENV FROM TO ATTACHMENT
 * Prints "result=N steps=N waits=N" and exits 0 when the message was accepted.
 * With NB_SEND_BATCH=N in the environment it sends N such messages as one
 * batch (uavmail_session_start_batch) and also prints "results=r0,r1,...".
 */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uavmail/uavmail.h>

#include "env_password.h"

int main(int argc, char **argv)
{
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_session *s;
    uavmail_message *m, *batch[8];
    int rc, want = 0, steps = 0, waits = 0, secure_steps = 0, results[8], i;
    int nbatch = getenv("NB_SEND_BATCH") ? atoi(getenv("NB_SEND_BATCH")) : 0;
    static char env_name[128];
    if (argc != 10) {
        fprintf(stderr, "usage: nb_send HOST PORT tls|starttls CAFILE USER PASSWORD_ENV FROM TO FILE\n");
        return 2;
    }
    snprintf(env_name, sizeof env_name, "%s", argv[6]);
    o.host = argv[1];
    o.port = (unsigned)atoi(argv[2]);
    o.security = strcmp(argv[3], "tls") == 0 ? UAVMAIL_SECURITY_TLS : UAVMAIL_SECURITY_STARTTLS;
    o.cafile = argv[4];
    o.username = argv[5];
    o.password_cb = password;
    o.password_user_data = env_name;
    if (uavmail_session_new(&s, &o) != 0 || uavmail_message_new(&m, NULL) != 0)
        return 3;
    uavmail_message_set_from(m, argv[7], NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, argv[8], NULL);
    uavmail_message_set_subject(m, "non-blocking");
    uavmail_message_set_text(m, "sent from an event loop\n", 24);
    uavmail_message_attach_file(m, argv[9], NULL, NULL);
    if (nbatch < 0 || nbatch > 8)
        return 2;
    for (i = 0; i < nbatch; i++)
        batch[i] = m; /* the same message, rendered once per batch entry */
    rc = nbatch ? uavmail_session_start_batch(s, batch, (size_t)nbatch, results, 1)
                : uavmail_session_start(s, m, 1);
    /* TLS-10: nothing claims to be secure before the handshake completed
     * and verified; once it is, it stays so while connected. */
    if (uavmail_session_is_secure(s) || uavmail_session_tls_version(s)[0] != '\0') {
        fprintf(stderr, "secure before connecting\n");
        return 5;
    }
    while (rc == 0 || rc == UAVMAIL_EAGAIN) {
        struct pollfd p;
        rc = uavmail_session_step(s, &want);
        steps++;
        if (uavmail_session_is_secure(s))
            secure_steps++;
        else if (secure_steps > 0 && rc == UAVMAIL_EAGAIN) {
            fprintf(stderr, "security state went back to insecure while connected\n");
            return 5;
        }
        if (rc != UAVMAIL_EAGAIN)
            break;
        p.fd = uavmail_session_fd(s);
        p.events = want == UAVMAIL_WANT_READ ? POLLIN : POLLOUT;
        if (p.fd < 0) {
            fprintf(stderr, "no descriptor to poll\n");
            return 4;
        }
        poll(&p, 1, (int)uavmail_session_timeout_ms(s) + 1);
        waits++;
    }
    printf("result=%d steps=%d secure_steps=%d waits=%d\n", rc, steps, secure_steps, waits);
    if (nbatch) {
        printf("results=");
        for (i = 0; i < nbatch; i++)
            printf("%s%d", i ? "," : "", results[i]);
        printf("\n");
    }
    if (uavmail_session_is_secure(s)) {
        fprintf(stderr, "still secure after the connection closed\n");
        return 5;
    }
    if (rc != 0)
        fprintf(stderr, "%s\n", uavmail_error_message(uavmail_session_last_error(s)));
    uavmail_message_free(m);
    uavmail_session_free(s);
    return rc == 0 ? 0 : 1;
}
