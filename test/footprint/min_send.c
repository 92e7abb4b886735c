/* The smallest useful uavmail sender (README "Footprint": program size):
 * one text message over STARTTLS with AUTH.  min_send HOST PORT USER FROM TO */
#include <stdlib.h>

#include <uavmail/uavmail.h>

static int password(char *buf, size_t cap, size_t *len, void *ud)
{
    const char *v = getenv("SMTP_PASSWORD");
    size_t n = 0;
    while (v != NULL && v[n] != '\0' && n < cap) {
        buf[n] = v[n];
        n++;
    }
    *len = n;
    return v != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_session *s;
    uavmail_message *m;
    int rc;
    if (argc != 6)
        return 2;
    o.host = argv[1];
    o.port = (unsigned)atoi(argv[2]);
    o.username = argv[3];
    o.password_cb = password;
    if (uavmail_session_new(&s, &o) != 0 || uavmail_message_new(&m, NULL) != 0)
        return 3;
    uavmail_message_set_from(m, argv[4], NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, argv[5], NULL);
    uavmail_message_set_subject(m, "UAV alert");
    uavmail_message_set_text(m, "Battery low, returning home.\n", 29);
    rc = uavmail_session_send_final(s, m);
    uavmail_message_free(m);
    uavmail_session_free(s);
    return rc == 0 ? 0 : 1;
}
