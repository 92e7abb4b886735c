/*
 * Public-API checks driven by test/e2e/test_api.py against a real TLS server.
 *
 *   apitest secrets HOST PORT CAFILE USER PASSWORD_ENV
 *       send over TLS with AUTH through a scanning allocator: every block the
 *       library frees (and everything still live at the end) is searched for
 *       the password, its base64 and the base64 PLAIN blob
 *   apitest clock HOST PORT CAFILE EPOCH
 *       send with a time source returning EPOCH (a drone's GPS time): prints
 *       the error message, or the Date header that went out
 *   apitest pin HOST PORT CAFILE PINS
 *       send with the server key pinned (comma-separated SHA-256 hex)
 *   apitest idle HOST PORT CAFILE SECONDS [USER PASSWORD_ENV]
 *       send, keep the connection SECONDS while idle, then send again on the
 *       same session (the server's idle timeout ended the kept connection);
 *       prints the first send's result as "first=N"
 * Prints "result=N" and the error message; exit 0 unless a check failed.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uavmail/uavmail.h>

static const char *password;
static char needles[8][600];
static size_t nneedles;
static int found;

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = t[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = t[v >> 18];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = t[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

static void scan(const void *p, size_t n, const char *when)
{
    size_t i, k;
    for (k = 0; k < nneedles; k++) {
        size_t nl = strlen(needles[k]);
        for (i = 0; nl <= n && i <= n - nl; i++)
            if (memcmp((const char *)p + i, needles[k], nl) == 0) {
                fprintf(stderr, "secret #%zu found in a block %s\n", k, when);
                found = 1;
                return;
            }
    }
}

/* Size-prefixed blocks in a list, so frees can be scanned and leftovers found. */
typedef struct blk {
    struct blk *next, *prev;
    size_t n;
} blk;
static blk live = {&live, &live, 0};

static void *s_malloc(size_t n, void *ud)
{
    blk *b = malloc(sizeof(blk) + n);
    (void)ud;
    if (!b)
        return NULL;
    b->n = n;
    b->next = live.next;
    b->prev = &live;
    live.next->prev = b;
    live.next = b;
    return b + 1;
}

static void s_free(void *p, void *ud)
{
    blk *b;
    (void)ud;
    if (!p)
        return;
    b = (blk *)p - 1;
    scan(p, b->n, "being freed");
    b->prev->next = b->next;
    b->next->prev = b->prev;
    free(b);
}

static void *s_realloc(void *p, size_t n, void *ud)
{
    void *q;
    if (!p)
        return s_malloc(n, ud);
    q = s_malloc(n, ud);
    if (!q)
        return NULL;
    memcpy(q, p, ((blk *)p - 1)->n < n ? ((blk *)p - 1)->n : n);
    s_free(p, ud);
    return q;
}

/* Once the server accepted the login, no live block may hold the secret:
 * the library must have wiped its copies as soon as they were sent. */
static void scan_live_after_auth(int dir, const char *line, size_t len, void *ud)
{
    blk *b;
    (void)ud;
    if (dir != UAVMAIL_TRACE_SERVER || len < 3 || memcmp(line, "235", 3) != 0)
        return;
    for (b = live.next; b != &live; b = b->next)
        scan(b + 1, b->n, "live after AUTH succeeded");
}

static int pw(char *buf, size_t cap, size_t *len, void *ud)
{
    (void)ud;
    *len = strlen(password);
    if (*len > cap)
        return -1;
    memcpy(buf, password, *len);
    return 0;
}

static int64_t fixed_time;
static unsigned idle_s;
static int64_t gps_time(void *ud)
{
    (void)ud;
    return fixed_time;
}

int main(int argc, char **argv)
{
    uavmail_allocator al = {UAVMAIL_ALLOCATOR_VERSION, s_malloc, s_realloc, s_free, NULL};
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    uavmail_message_options mo = UAVMAIL_MESSAGE_OPTIONS_INIT;
    uavmail_session *s;
    uavmail_message *m;
    char rendered[4096];
    size_t rlen = 0;
    int rc;
    if (argc < 6) {
        fprintf(stderr, "usage: see the comment at the top of apitest.c\n");
        return 2;
    }
    o.host = argv[2];
    o.port = (unsigned)atoi(argv[3]);
    o.security = UAVMAIL_SECURITY_TLS;
    o.cafile = argv[4];
    if (strcmp(argv[1], "secrets") == 0 && argc == 7) {
        unsigned char plain[600];
        size_t ul = strlen(argv[5]);
        password = getenv(argv[6]);
        if (password == NULL)
            return 2;
        /* The password, its base64, and the base64 PLAIN blob. */
        snprintf(needles[nneedles++], sizeof needles[0], "%s", password);
        b64((const unsigned char *)password, strlen(password), needles[nneedles++]);
        plain[0] = 0;
        memcpy(plain + 1, argv[5], ul);
        plain[1 + ul] = 0;
        memcpy(plain + 2 + ul, password, strlen(password));
        b64(plain, 2 + ul + strlen(password), needles[nneedles++]);
        o.username = argv[5];
        o.password_cb = pw;
        o.trace_cb = scan_live_after_auth;
        o.allocator = &al;
        mo.allocator = &al;
    } else if (strcmp(argv[1], "clock") == 0) {
        fixed_time = strtoll(argv[5], NULL, 10);
        o.time_cb = gps_time;
    } else if (strcmp(argv[1], "pin") == 0) {
        o.tls_pin_sha256 = argv[5];
    } else if (strcmp(argv[1], "idle") == 0) {
        idle_s = (unsigned)atoi(argv[5]);
        if (argc == 8) {
            o.username = argv[6];
            password = getenv(argv[7]);
            if (password == NULL)
                return 2;
            o.password_cb = pw;
        }
    } else {
        return 2;
    }
    if (uavmail_session_new(&s, &o) != 0 || uavmail_message_new(&m, &mo) != 0)
        return 3;
    uavmail_message_set_from(m, "uav7@example.test", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.test", NULL);
    uavmail_message_set_subject(m, "api test");
    uavmail_message_set_text(m, "hello\n", 6);
    if (idle_s != 0) {
        printf("first=%d\n", uavmail_session_send(s, m));
        sleep(idle_s);
    }
    rc = uavmail_session_send_final(s, m);
    printf("result=%d\n", rc);
    printf("message=%s\n", uavmail_error_message(uavmail_session_last_error(s)));
    if (uavmail_message_render(m, 0, rendered, sizeof rendered - 1, &rlen) == 0) {
        char *date = strstr(rendered, "Date: ");
        rendered[rlen] = '\0';
        if (date)
            printf("%.*s\n", (int)(strstr(date, "\r\n") - date), date);
    }
    uavmail_session_free(s);
    uavmail_message_free(m);
    {
        blk *b;
        for (b = live.next; b != &live; b = b->next)
            scan(b + 1, b->n, "still allocated at exit");
        if (strcmp(argv[1], "secrets") == 0 && live.next != &live) {
            fprintf(stderr, "blocks leaked\n");
            found = 1;
        }
    }
    return found ? 1 : 0;
}
