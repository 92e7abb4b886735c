/*
 * The session driver through the public API with an application-supplied
 * transport (the RTOS / lwIP plug-in point): a small in-memory SMTP server
 * answers each command.  Also failure sweeps (STYLE 17): fail the Nth
 * transport call and the Nth allocation; every run must end in a clean
 * error or success, with no leak (valgrind / ASan run this too).
 */
#include <stdlib.h>

#include "fake_smtp.h"
#include "tt.h"

/* Counting allocator that can fail the Nth allocation. */
typedef struct counting {
    long n, fail_at, live;
} counting;

static void *c_malloc(size_t n, void *ud)
{
    counting *c = ud;
    void *p;
    if (c->fail_at != 0 && ++c->n == c->fail_at)
        return NULL;
    p = malloc(n);
    if (p)
        c->live++;
    return p;
}

static void *c_realloc(void *p, size_t n, void *ud)
{
    counting *c = ud;
    void *q;
    if (c->fail_at != 0 && ++c->n == c->fail_at)
        return NULL;
    q = realloc(p, n);
    if (q && !p)
        c->live++;
    return q;
}

static void c_free(void *p, void *ud)
{
    counting *c = ud;
    if (p)
        c->live--;
    free(p);
}

static int pw(char *buf, size_t cap, size_t *len, void *ud)
{
    (void)buf;
    (void)cap;
    (void)ud;
    *len = 0;
    return 0;
}

/* One complete send; returns the result code. */
static int send_once(fake_server *f, counting *c, int with_bad_rcpt)
{
    uavmail_transport tr;
    uavmail_allocator al = {UAVMAIL_ALLOCATOR_VERSION, c_malloc, c_realloc, c_free, NULL};
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_message_options mo = UAVMAIL_MESSAGE_OPTIONS_INIT;
    uavmail_session *s = NULL;
    uavmail_message *m = NULL;
    int rc;
    /* A version-1 transport (no fd_fn): older applications keep working. */
    fake_transport(&tr, f);
    al.user_data = c;
    o.host = "localhost";
    o.security = UAVMAIL_SECURITY_NONE;
    o.transport = &tr;
    o.allocator = &al;
    mo.allocator = &al;
    (void)pw;
    rc = uavmail_message_new(&m, &mo);
    if (rc == 0)
        rc = uavmail_message_set_from(m, "uav7@example.com", "UAV 7");
    if (rc == 0)
        rc = uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    if (rc == 0)
        rc = uavmail_message_add_recipient(m, UAVMAIL_CC,
                                           with_bad_rcpt ? "bad@example.com" : "cc@example.com",
                                           NULL);
    if (rc == 0)
        rc = uavmail_message_set_subject(m, "Landed");
    if (rc == 0)
        rc = uavmail_message_set_text(m, "Flight over.\n.\n", 15);
    if (rc == 0)
        rc = uavmail_message_attach_memory(m, "a,b\r\n1,2\r\n", 10, NULL, "t.csv");
    if (rc == 0)
        rc = uavmail_session_new(&s, &o);
    if (rc == 0)
        rc = uavmail_session_send(s, m);
    if (rc == 0 || rc == UAVMAIL_ERECIPIENTS) {
        /* A second message over the same connection. */
        int rc2 = uavmail_session_send(s, m);
        if (rc2 != 0 && rc2 != UAVMAIL_ERECIPIENTS)
            rc = rc2;
    }
    uavmail_session_free(s);
    uavmail_message_free(m);
    return rc;
}

static void custom_transport_delivers(void)
{
    fake_server *f = new_server();
    counting c = {0, 0, 0};
    CHECK_INT(send_once(f, &c, 0), 0);
    CHECK_INT(f->connects, 1); /* both messages over one connection */
    CHECK_INT(f->messages, 2);
    CHECK(strstr(f->data, "Subject: Landed\r\n") != NULL);
    CHECK(strstr(f->data, "\r\n..\r\n") != NULL); /* the lone dot, stuffed */
    CHECK(strstr(f->data, "filename=\"t.csv\"") != NULL);
    CHECK_INT(c.live, 0);
    free(f);
}

static void ehlo_uses_address_literal(void)
{
    fake_server *f = new_server();
    counting c = {0, 0, 0};
    /* P-12: a host name with a dot if the machine has one, otherwise the
     * transport's local address as an address literal. */
    CHECK_INT(send_once(f, &c, 0), 0);
    CHECK(strcmp(f->ehlo_line, "EHLO [192.0.2.7]\r\n") == 0 ||
          (strchr(f->ehlo_line, '.') != NULL && strchr(f->ehlo_line, ' ') == f->ehlo_line + 4));
    free(f);
}

static void per_recipient_results(void)
{
    fake_server *f = new_server();
    counting c = {0, 0, 0};
    CHECK_INT(send_once(f, &c, 1), UAVMAIL_ERECIPIENTS);
    CHECK_INT(f->messages, 2); /* the accepted recipient still got it */
    free(f);
}

static void p10_452_continues_in_new_transaction(void)
{
    fake_server *f = new_server();
    counting c = {0, 0, 0};
    f->max_rcpt = 1; /* the second recipient (Cc) gets 452 each time */
    CHECK_INT(send_once(f, &c, 0), 0);
    /* Two messages, each needing two transactions. */
    CHECK_INT(f->transactions, 4);
    CHECK_INT(f->messages, 4);
    free(f);
}

static void sweep_transport_failures(void)
{
    long n;
    for (n = 1; n < 200; n++) {
        fake_server *f = new_server();
        counting c = {0, 0, 0};
        int rc;
        f->fail_at = n;
        rc = send_once(f, &c, 0);
        CHECK(rc == 0 || rc == UAVMAIL_ECONNECT || rc == UAVMAIL_EIO || rc == UAVMAIL_EUNKNOWN);
        CHECK_INT(c.live, 0);
        free(f);
        if (rc == 0)
            break;
    }
    CHECK(n < 200);
}

static void sweep_allocation_failures(void)
{
    long n;
    for (n = 1; n < 500; n++) {
        fake_server *f = new_server();
        counting c = {0, 0, 0};
        int rc;
        c.fail_at = n;
        rc = send_once(f, &c, 0);
        CHECK(rc == 0 || rc == UAVMAIL_ENOMEM);
        CHECK_INT(c.live, 0);
        free(f);
        if (rc == 0)
            break;
    }
    CHECK(n < 500);
}

static const tt_test tests[] = {
    TT(custom_transport_delivers),
    TT(ehlo_uses_address_literal),
    TT(per_recipient_results),
    TT(p10_452_continues_in_new_transaction),
    TT(sweep_transport_failures),
    TT(sweep_allocation_failures),
};

TT_MAIN(tests)
