/*
 * libFuzzer target over the reply parser and the SMTP state machine
 * (FZ-03): arbitrary server bytes, cut into segments by the input itself,
 * go through greeting -> EHLO -> STARTTLS -> AUTH -> MAIL/RCPT/DATA or BDAT.
 * Invariants: no crash or out-of-bounds access, bounded output, every run
 * ends in a defined state within a bounded number of steps, and nothing
 * but EHLO/HELO/STARTTLS/QUIT is ever written before TLS (TLS-02, A-01).
 * In batch mode (mode bit 7) three messages go through the pipeline
 * (submitted behind each other whenever the engine allows): every one is
 * collected exactly once, in submit order, and none stays in flight.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

#define NBATCH 3

typedef struct fz_batch {
    uavmail__envelope env[NBATCH];
    uavmail__rcpt_result res[NBATCH][3];
    uavmail_error_detail err[NBATCH];
    size_t submitted, collected;
} fz_batch;

#define ASSERT(c)                                                                            \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_smtp: assertion failed: %s (line %d)\n", #c, __LINE__);    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

static int get_password(char *buf, size_t cap, size_t *len, void *ud)
{
    (void)ud;
    *len = 8;
    if (cap < 8)
        return -1;
    memcpy(buf, "p4ssw0rd", 8);
    return 0;
}

/* Check one chunk of client output written while TLS was not active. */
static void check_plaintext(const char *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const char *eol = memchr(out + i, '\n', n - i);
        size_t len = eol ? (size_t)(eol - (out + i)) + 1 : n - i;
        ASSERT(len >= 4);
        ASSERT(memcmp(out + i, "EHLO", 4) == 0 || memcmp(out + i, "HELO", 4) == 0 ||
               memcmp(out + i, "STAR", 4) == 0 || memcmp(out + i, "QUIT", 4) == 0);
        i += len;
    }
}

static void collect_all(uavmail__smtp *e, fz_batch *b)
{
    void *tag;
    int r;
    while (uavmail__smtp_collect(e, &tag, &r)) {
        ASSERT(b->collected < b->submitted);
        ASSERT(tag == &b->env[b->collected]); /* in submit order */
        ASSERT(r != 0 || b->err[b->collected].code == 0);
        b->collected++;
    }
}

/* Submit the next message of the batch; 0 when it went in. */
static int submit_next(uavmail__smtp *e, fz_batch *b)
{
    size_t k = b->submitted;
    if (k >= NBATCH)
        return -1;
    if (uavmail__smtp_submit_tx(e, &b->env[k], b->res[k], &b->err[k], &b->env[k]) != 0)
        return -1;
    b->submitted++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const rcpt[] = {"a@example.com", "b@example.com", "c@example.com"};
    static const char body[] = "Subject: x\r\n\r\n.line\r\nbody\r\n";
    uavmail__smtp *e = calloc(1, sizeof *e);
    uavmail__smtp_config cfg;
    uavmail__alloc alloc;
    uavmail_error_detail err;
    uavmail__envelope env;
    uavmail__rcpt_result res[3];
    size_t pos = 0, body_pos = 0, steps = 0;
    int tls = 0, submitted = 0, quit = 0;
    unsigned mode = size ? data[0] : 0;
    int batch = (mode >> 7) & 1;
    fz_batch *b = calloc(1, sizeof *b);
    size_t k;

    memset(&cfg, 0, sizeof cfg);
    cfg.helo_name = "uav7.example.com";
    cfg.security = (int)(mode % 3); /* none, implicit TLS, STARTTLS */
    cfg.username = cfg.security != UAVMAIL__SEC_NONE ? "pilot@example.com" : NULL;
    cfg.password_cb = get_password;
    cfg.allow_lf_replies = (mode >> 2) & 1;
    uavmail__alloc_init(&alloc, NULL);
    uavmail__smtp_init(e, &cfg, &alloc, &err);
    tls = cfg.security == UAVMAIL__SEC_TLS;
    memset(&env, 0, sizeof env);
    env.from = "uav7@example.com";
    env.rcpt = rcpt;
    env.nrcpt = 1 + ((mode >> 3) & 1) * 2;
    env.size = sizeof body - 1;
    env.size_exact = (mode >> 4) & 1;
    env.quit_after = (mode >> 5) & 1;
    env.dsn_notify = (mode >> 6) & 1 ? 3 : 0;
    for (k = 0; k < NBATCH; k++) {
        b->env[k] = env;
        b->env[k].quit_after = k + 1 == NBATCH && env.quit_after;
    }
    if (size)
        pos = 1;

    for (steps = 0; steps < 10000; steps++) {
        int w = uavmail__smtp_want(e);
        if (w == UAVMAIL__SMTP_WANT_WRITE) {
            size_t n;
            const char *o = uavmail__smtp_output(e, &n);
            ASSERT(n <= UAVMAIL_OUTBUF_SIZE);
            if (!tls && cfg.security != UAVMAIL__SEC_NONE)
                check_plaintext(o, n); /* TLS required: nothing else before it */
            if (cfg.security == UAVMAIL__SEC_NONE)
                ASSERT(n < 4 || memcmp(o, "AUTH", 4) != 0); /* */
            uavmail__smtp_consume(e, n);
        } else if (w == UAVMAIL__SMTP_WANT_READ) {
            size_t seg;
            if (batch && b->submitted < NBATCH &&
                uavmail__smtp_can_pipeline(e, &b->env[b->submitted])) {
                ASSERT(submit_next(e, b) == 0); /* behind the unanswered one */
                body_pos = 0;
                continue;
            }
            if (pos >= size) {
                /* The server went quiet or hung up: both must end cleanly. */
                if (steps & 1)
                    uavmail__smtp_eof(e);
                else
                    uavmail__smtp_timed_out(e);
                continue;
            }
            /* Segment length from the input: exercise every split point. */
            seg = 1 + data[pos] % 64;
            pos++;
            if (seg > size - pos)
                seg = size - pos;
            uavmail__smtp_feed(e, (const char *)data + pos, seg);
            pos += seg;
        } else if (w == UAVMAIL__SMTP_WANT_TLS) {
            tls = 1;
            uavmail__smtp_tls_started(e);
        } else if (w == UAVMAIL__SMTP_WANT_BODY) {
            if (body_pos < sizeof body - 1)
                body_pos += uavmail__smtp_body(e, body + body_pos, sizeof body - 1 - body_pos);
            else
                uavmail__smtp_body_end(e);
        } else if (w == UAVMAIL__SMTP_IDLE && batch) {
            collect_all(e, b);
            ASSERT(uavmail__smtp_in_flight(e) == 0);
            body_pos = 0;
            if (submit_next(e, b) == 0)
                continue;
            if (quit++)
                break;
            uavmail__smtp_quit(e);
        } else if (w == UAVMAIL__SMTP_IDLE) {
            int r;
            if (!submitted) {
                submitted = 1;
                if (uavmail__smtp_submit(e, &env, res) != 0)
                    uavmail__smtp_quit(e);
                continue;
            }
            ASSERT(uavmail__smtp_tx_done(e, &r));
            if (quit++)
                break;
            uavmail__smtp_quit(e);
        } else {
            break; /* CLOSED or FAILED: a defined end */
        }
    }
    ASSERT(steps < 10000);
    if (batch) {
        collect_all(e, b);
        ASSERT(uavmail__smtp_in_flight(e) == 0);
        ASSERT(b->collected == b->submitted);
    }
    uavmail__smtp_reset(e);
    free(b);
    free(e);
    return 0;
}
