/*
 * The outbox against the in-memory SMTP server: link state, priorities,
 * per-recipient state, dead letters, expiry, outcome unknown, limits,
 * corruption, stale files, disk errors and the flush lock.  IDs cite
 * CONFORMANCE.md (Q-xx).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fake_smtp.h"
#include "outbox_int.h"
#include "tt.h"
#include "tt_fs.h"

static int64_t fake_now = 1800000000;
static int64_t clock_cb(void *ud)
{
    (void)ud;
    return fake_now;
}

typedef struct outcomes {
    int n, last, code;
    char reply[200], id[40];
} outcomes;

static void on_outcome(const char *id, int outcome, int code, const char *reply, void *ud)
{
    outcomes *o = ud;
    o->n++;
    o->last = outcome;
    o->code = code;
    snprintf(o->reply, sizeof o->reply, "%s", reply);
    snprintf(o->id, sizeof o->id, "%s", id);
}

typedef struct env {
    char dir[64];
    fake_server *f;
    uavmail_transport tr;
    uavmail_session_options so;
    uavmail_outbox_options qo;
    outcomes out;
    uavmail_outbox *q;
} env;

static env *env_new(void)
{
    env *e = calloc(1, sizeof *e);
    tt_tempdir(e->dir, sizeof e->dir, "uavmail-qtest");
    e->f = new_server();
    fake_transport(&e->tr, e->f);
    e->so = (uavmail_session_options)UAVMAIL_SESSION_OPTIONS_INIT;
    e->so.host = "localhost";
    e->so.security = UAVMAIL_SECURITY_NONE;
    e->so.transport = &e->tr;
    e->qo = (uavmail_outbox_options)UAVMAIL_OUTBOX_OPTIONS_INIT;
    e->qo.outcome_cb = on_outcome;
    e->qo.outcome_user_data = &e->out;
    e->qo.time_cb = clock_cb;
    return e;
}

static void env_open(env *e)
{
    CHECK_INT(uavmail_outbox_open(&e->q, e->dir, &e->qo), 0);
}

static void env_free(env *e)
{
    uavmail_outbox_close(e->q);
    tt_rmtree(e->dir);
    free(e->f);
    free(e);
}

static int enqueue(env *e, const char *subject, int priority, const char *rcpt2, char *id)
{
    uavmail_message *m;
    int rc;
    uavmail_message_new(&m, NULL);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    if (rcpt2 != NULL)
        uavmail_message_add_recipient(m, UAVMAIL_CC, rcpt2, NULL);
    uavmail_message_set_subject(m, subject);
    uavmail_message_set_text(m, "telemetry\n", 10);
    rc = uavmail_outbox_enqueue(e->q, m, priority, 0, NULL, id);
    uavmail_message_free(m);
    return rc;
}

typedef struct listing {
    int n;
    uavmail_outbox_entry first;
    char id[40], error[300], msgid[160];
} listing;

static int collect(const uavmail_outbox_entry *en, void *ud)
{
    listing *l = ud;
    if (l->n++ == 0) {
        l->first = *en;
        snprintf(l->id, sizeof l->id, "%s", en->id);
        snprintf(l->error, sizeof l->error, "%s", en->last_error);
        snprintf(l->msgid, sizeof l->msgid, "%s", en->message_id);
    }
    return 0;
}

static listing list(env *e)
{
    listing l;
    memset(&l, 0, sizeof l);
    uavmail_outbox_list(e->q, collect, &l);
    return l;
}

static int flush(env *e)
{
    size_t sent = 0;
    return uavmail_outbox_flush(e->q, &e->so, &sent);
}

static void q13_private_files(void)
{
    env *e = env_new();
    char id[40], path[160];
    env_open(e);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, id), 0);
#if defined(_WIN32) /* the directory's inherited ACL decides there (ABI.md) */
#define PRIVATE_DIR(m) ((m) != 0)
#define PRIVATE_FILE(m) ((m) != 0)
#else
#define PRIVATE_DIR(m) ((m) == 0700)
#define PRIVATE_FILE(m) ((m) == 0600)
#endif
    CHECK(PRIVATE_DIR(tt_mode(e->dir)));
    snprintf(path, sizeof path, "%s/msg/%s.meta", e->dir, id);
    CHECK(PRIVATE_FILE(tt_mode(path)));
    snprintf(path, sizeof path, "%s/msg/%s.eml", e->dir, id);
    CHECK(PRIVATE_FILE(tt_mode(path)));
    CHECK_INT(list(e).n, 1);
    env_free(e);
}

static void q14_link_down_then_up(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    CHECK_INT(enqueue(e, "bulk log", UAVMAIL_PRIORITY_BULK, NULL, NULL), 0);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    CHECK_INT(enqueue(e, "ALERT battery", UAVMAIL_PRIORITY_ALERT, NULL, NULL), 0);
    uavmail_outbox_set_link(e->q, 0);
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->connects, 0); /* no connection with the link down */
    uavmail_outbox_set_link(e->q, 1);
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->connects, 1); /* everything over one connection */
    CHECK_INT(e->f->messages, 3);
    CHECK_STR(e->f->subjects[0], "ALERT battery"); /* alerts first */
    CHECK_STR(e->f->subjects[1], "report");
    CHECK_STR(e->f->subjects[2], "bulk log");
    CHECK_INT(e->out.n, 3);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_DELIVERED);
    l = list(e);
    CHECK_INT(l.n, 0); /* delivered entries are removed */
    env_free(e);
}

static void q08_per_recipient_state(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    {
        uavmail_message *m;
        uavmail_message_new(&m, NULL);
        uavmail_message_set_from(m, "uav7@example.com", NULL);
        uavmail_message_add_recipient(m, UAVMAIL_TO, "ok@example.com", NULL);
        uavmail_message_add_recipient(m, UAVMAIL_TO, "bad@example.com", NULL);
        uavmail_message_add_recipient(m, UAVMAIL_TO, "later@example.com", NULL);
        uavmail_message_set_text(m, "x", 1);
        CHECK_INT(uavmail_outbox_enqueue(e->q, m, UAVMAIL_PRIORITY_NORMAL, 0, NULL, NULL), 0);
        uavmail_message_free(m);
    }
    flush(e);
    /* A restart (reopen) shows only the 451 recipient pending. */
    uavmail_outbox_close(e->q);
    env_open(e);
    l = list(e);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.first.state, UAVMAIL_ENTRY_QUEUED);
    CHECK_INT(l.first.delivered, 1);
    CHECK_INT(l.first.failed, 1);
    CHECK_INT(l.first.recipients, 3);
    CHECK(l.first.next_attempt > fake_now); /* back-off */
    CHECK_INT(e->out.n, 0);                 /* not finished yet */
    fake_now += 3600;
    e->f->accept_later = 1;
    {
        int before = e->f->rcpt_total;
        flush(e);
        CHECK_INT(e->f->rcpt_total, before + 1); /* only the pending recipient again */
    }
    /* Every recipient is final now: a bounce, carrying the refused one's 550. */
    CHECK_INT(e->out.n, 1);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_BOUNCED);
    CHECK_INT(e->out.code, 550);
    env_free(e);
}

/* Q-08 with P-10: ops got the message in the first transaction; cc was deferred with 452
 * (and the server would shut down during a retry).  Only cc gets it again. */
static void q08_partial_after_452_not_resent(void)
{
    env *e = env_new();
    listing l;
    int before;
    env_open(e);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, "cc@example.com", NULL), 0);
    e->f->max_rcpt = 1;
    e->f->end_reply_tx = 2;
    e->f->end_reply = "421 4.3.2 shutting down\r\n";
    flush(e);
    CHECK_INT(e->f->messages, 1);
    l = list(e);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.first.delivered, 1);
    CHECK_INT(l.first.failed, 0);
    CHECK_INT(e->out.n, 0); /* cc still pending */
    fake_now += 3600;
    e->f->max_rcpt = 0;
    e->f->end_reply_tx = 0;
    before = e->f->rcpt_total;
    flush(e);
    CHECK_INT(e->f->rcpt_total, before + 1); /* cc alone */
    CHECK_INT(e->f->messages, 2);
    CHECK_INT(e->out.n, 1);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_DELIVERED);
    CHECK_INT(list(e).n, 0);
    env_free(e);
}

static void p09_permanent_is_dead_letter(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    e->f->final_reply = "554 5.7.1 rejected as spam\r\n";
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    flush(e);
    CHECK_INT(e->out.n, 1);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_BOUNCED);
    CHECK_INT(e->out.code, 554);
    CHECK(strstr(e->out.reply, "spam") != NULL);
    l = list(e);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.first.state, UAVMAIL_ENTRY_BOUNCED);
    CHECK(strstr(l.error, "554") != NULL);
    env_free(e);
}

static void temporary_failure_backs_off(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    e->f->final_reply = "451 4.3.0 busy\r\n";
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    flush(e);
    l = list(e);
    CHECK_INT(l.first.attempts, 1);
    CHECK(l.first.next_attempt >= fake_now + 45 && l.first.next_attempt <= fake_now + 75);
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->connects, 1); /* not due yet: no connection */
    e->f->final_reply = NULL;
    fake_now += 120;
    flush(e);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_DELIVERED);
    CHECK_INT(list(e).n, 0);
    env_free(e);
}

static void expiry_is_dead_letter(void)
{
    env *e = env_new();
    uavmail_message *m;
    listing l;
    env_open(e);
    uavmail_message_new(&m, NULL);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, UAVMAIL_PRIORITY_BULK, fake_now + 10, NULL, NULL), 0);
    uavmail_message_free(m);
    fake_now += 20;
    flush(e);
    CHECK_INT(e->f->connects, 0);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_EXPIRED);
    l = list(e);
    CHECK_INT(l.first.state, UAVMAIL_ENTRY_EXPIRED);
    env_free(e);
}

static void q09_outcome_unknown_resent_same_message_id(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    e->f->drop_after_dot = 1;
    flush(e);
    l = list(e);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.first.outcome_unknown, 1); /* P-08: never treated as success */
    CHECK_INT(e->out.n, 0);
    e->f->drop_after_dot = 0;
    fake_now += 3600;
    flush(e);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_DELIVERED);
    CHECK_INT(e->f->messages, 1);
    {
        char want[170];
        snprintf(want, sizeof want, "<%s>", l.msgid);
        CHECK_STR(e->f->msgids[0], want); /* the same Message-ID */
    }
    env_free(e);
}

static void dedup_and_full(void)
{
    env *e = env_new();
    uavmail_message *m;
    char a[40], b[40];
    e->qo.max_messages = 2;
    env_open(e);
    uavmail_message_new(&m, NULL);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, 1, 0, "geofence-7", a), 0);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, 1, 0, "geofence-7", b), 0);
    CHECK_STR(b, a);
    CHECK_INT(list(e).n, 1);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, UAVMAIL_PRIORITY_BULK, 0, NULL, NULL), 0);
    /* a full outbox refuses new messages and never evicts silently. */
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, 1, 0, NULL, NULL), UAVMAIL_EFULL);
    CHECK_INT(list(e).n, 2);
    uavmail_outbox_close(e->q);
    e->qo.drop_oldest_bulk = 1;
    env_open(e);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, UAVMAIL_PRIORITY_ALERT, 0, NULL, NULL), 0);
    CHECK_INT(e->out.last, UAVMAIL_OUTCOME_DROPPED); /* reported, opt-in */
    uavmail_message_free(m);
    env_free(e);
}

static void q03_corrupt_files_quarantined(void)
{
    env *e = env_new();
    char id[40], path[160], corrupt[160];
    FILE *f;
    long size, cut;
    unsigned char *orig;
    env_open(e);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, id), 0);
    snprintf(path, sizeof path, "%s/msg/%s.meta", e->dir, id);
    snprintf(corrupt, sizeof corrupt, "%s/corrupt/%s.meta", e->dir, id);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    orig = malloc((size_t)size);
    CHECK(fread(orig, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    /* Every truncation and a bit flip in every byte: never listed, never sent. */
    for (cut = 0; cut < 2 * size; cut++) {
        f = fopen(path, "wb");
        if (cut < size) {
            fwrite(orig, 1, (size_t)cut, f);
        } else {
            unsigned char *flip = malloc((size_t)size);
            memcpy(flip, orig, (size_t)size);
            flip[cut - size] ^= (unsigned char)(1u << (cut % 8));
            fwrite(flip, 1, (size_t)size, f);
            free(flip);
        }
        fclose(f);
        CHECK_INT(list(e).n, 0);
        CHECK(tt_mode(corrupt) != 0); /* moved to corrupt/ */
        rename(corrupt, path);
    }
    flush(e);
    CHECK_INT(e->f->messages, 0);
    /* The intact file still works. */
    f = fopen(path, "wb");
    fwrite(orig, 1, (size_t)size, f);
    fclose(f);
    CHECK_INT(list(e).n, 1);
    free(orig);
    env_free(e);
}

static void q04_stale_temp_files_removed(void)
{
    env *e = env_new();
    char path[160];
    FILE *f;
    env_open(e);
    uavmail_outbox_close(e->q);
    snprintf(path, sizeof path, "%s/tmp/tmp.0123456789ab.7", e->dir);
    f = fopen(path, "wb");
    fputs("UAVQ half a file", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/msg/001800000000-deadbeef.eml", e->dir);
    f = fopen(path, "wb"); /* a message whose entry never committed */
    fputs("Subject: orphan\r\n\r\nx\r\n", f);
    fclose(f);
    env_open(e);
    snprintf(path, sizeof path, "%s/tmp/tmp.0123456789ab.7", e->dir);
    CHECK_INT(tt_mode(path), 0);
    snprintf(path, sizeof path, "%s/msg/001800000000-deadbeef.eml", e->dir);
    CHECK_INT(tt_mode(path), 0);
    CHECK_INT(list(e).n, 0);
    env_free(e);
}

/* Found by the kill -9 torture: another process's open() must not take the
 * files of an enqueue in progress for leftovers (its message file sits in
 * msg/ for a moment before its entry). */
static void q04_cleanup_spares_an_enqueue_in_progress(void)
{
    env *e = env_new();
    char path[160], lock[160];
    FILE *f;
    int h;
    env_open(e);
    uavmail_outbox_close(e->q);
    snprintf(lock, sizeof lock, "%s/enqueue.lock", e->dir);
    h = uavmail__plat_lock(lock, UAVMAIL__LOCK_SHARED); /* the other enqueuer */
    CHECK(h >= 0);
    snprintf(path, sizeof path, "%s/msg/001800000000-deadbeef.eml", e->dir);
    f = fopen(path, "wb");
    fputs("Subject: in flight\r\n\r\nx\r\n", f);
    fclose(f);
    env_open(e);
    CHECK(tt_mode(path) != 0); /* spared */
    uavmail_outbox_close(e->q);
    uavmail__plat_unlock(h); /* it died before its entry committed */
    env_open(e);
    CHECK_INT(tt_mode(path), 0); /* now a leftover, removed */
    env_free(e);
}

/* File-system ops that fail the Nth call with a chosen errno. */
typedef struct failing {
    const uavmail__fs *real;
    int n, fail_at, err;
} failing;

#define FAIL_OR(call)                                                                        \
    do {                                                                                     \
        failing *x = ud;                                                                     \
        if (++x->n == x->fail_at)                                                            \
            return -x->err;                                                                  \
        return call;                                                                         \
    } while (0)

static int ff_create(void *ud, const char *p, int *fd)
{
    FAIL_OR(((failing *)ud)->real->create(NULL, p, fd));
}
static int ff_write(void *ud, int fd, const void *b, size_t n)
{
    FAIL_OR(((failing *)ud)->real->write(NULL, fd, b, n));
}
static int ff_fsync(void *ud, int fd)
{
    FAIL_OR(((failing *)ud)->real->fsync(NULL, fd));
}
/* A failing close still releases the descriptor, as close() and _close() do (a
 * leaked handle would also keep a Windows file from being deleted). */
static int ff_close(void *ud, int fd)
{
    failing *x = ud;
    int rc = x->real->close(NULL, fd);
    return ++x->n == x->fail_at ? -x->err : rc;
}
static int ff_rename(void *ud, const char *a, const char *b)
{
    FAIL_OR(((failing *)ud)->real->rename(NULL, a, b));
}
static int ff_fsync_dir(void *ud, const char *d)
{
    FAIL_OR(((failing *)ud)->real->fsync_dir(NULL, d));
}
static int ff_unlink(void *ud, const char *p)
{
    FAIL_OR(((failing *)ud)->real->unlink(NULL, p));
}

static int count_tmp(const char *name, void *ud)
{
    (void)name;
    (*(int *)ud)++;
    return 0;
}

static void q01_q05_q06_failures_leave_nothing(void)
{
    static const int errs[] = {EIO, ENOSPC, EROFS,
#if defined(EDQUOT)
                               EDQUOT
#else
                               EFBIG
#endif
    };
    size_t k;
    for (k = 0; k < UAVMAIL__ARRAY_LEN(errs); k++) {
        int at;
        for (at = 1; at < 40; at++) {
            env *e = env_new();
            failing fl = {uavmail__plat_fs(), 0, at, errs[k]};
            uavmail__fs fs = {ff_create, ff_write, ff_fsync, ff_close, ff_rename,
                              ff_fsync_dir, ff_unlink, &fl};
            char tmp[120];
            int rc, leftovers = 0, done;
            CHECK_INT(uavmail__outbox_open_fs(&e->q, e->dir, &e->qo, &fs), 0);
            rc = enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL);
            done = fl.n < at; /* the enqueue finished before the failure point */
            if (!done) {
                CHECK_INT(rc, UAVMAIL_EFILE);
                CHECK(strstr(uavmail_error_message(uavmail_outbox_last_error(e->q)), "errno") !=
                      NULL);
            } else {
                CHECK_INT(rc, 0);
            }
            /* After a restart: the entry exists exactly when it was acknowledged. */
            uavmail_outbox_close(e->q);
            env_open(e);
            CHECK_INT(list(e).n, done ? 1 : 0);
            snprintf(tmp, sizeof tmp, "%s/tmp", e->dir);
            uavmail__plat_list(tmp, count_tmp, &leftovers);
            CHECK_INT(leftovers, 0);
            env_free(e);
            if (done)
                break;
        }
    }
}

/* Found in review: a rewrite whose directory fsync failed used to be "taken
 * back" -- deleting the only copy of an acknowledged entry.  Fail every file
 * operation of a deferred attempt in turn: the entry survives each time. */
static void rewrite_failures_keep_the_entry(void)
{
    int at;
    for (at = 1; at < 20; at++) {
        env *e = env_new();
        failing fl = {uavmail__plat_fs(), 0, at, EIO};
        uavmail__fs fs = {ff_create, ff_write, ff_fsync, ff_close, ff_rename,
                          ff_fsync_dir, ff_unlink, &fl};
        env_open(e);
        CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
        uavmail_outbox_close(e->q);
        CHECK_INT(uavmail__outbox_open_fs(&e->q, e->dir, &e->qo, &fs), 0);
        e->f->final_reply = "451 4.3.0 later\r\n";
        flush(e);
        uavmail_outbox_close(e->q);
        env_open(e);
        CHECK_INT(list(e).n, 1);
        CHECK_INT(e->out.n, 0); /* nothing reported: it has not ended */
        env_free(e);
    }
}

/* A failed dead-letter write leaves the entry queued and unreported; once the
 * dead letter is durable the outcome is reported (again after an
 * interrupted burial is finished at the next open), and never resent. */
static void bounce_reported_only_once_saved(void)
{
    int at;
    for (at = 1; at < 12; at++) {
        env *e = env_new();
        failing fl = {uavmail__plat_fs(), 0, at, ENOSPC};
        uavmail__fs fs = {ff_create, ff_write, ff_fsync, ff_close, ff_rename,
                          ff_fsync_dir, ff_unlink, &fl};
        listing l;
        env_open(e);
        CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
        uavmail_outbox_close(e->q);
        CHECK_INT(uavmail__outbox_open_fs(&e->q, e->dir, &e->qo, &fs), 0);
        e->f->final_reply = "554 5.7.1 no\r\n";
        flush(e);
        uavmail_outbox_close(e->q);
        env_open(e);
        l = list(e);
        CHECK_INT(l.n, 1);
        if (l.first.state == UAVMAIL_ENTRY_BOUNCED) /* at least once, once decided */
            CHECK(e->out.n >= 1 && e->out.last == UAVMAIL_OUTCOME_BOUNCED);
        else
            CHECK_INT(e->out.n, 0);
        env_free(e);
    }
}

typedef struct find {
    const char *id;
    int state;
} find;

static int find_cb(const uavmail_outbox_entry *en, void *ud)
{
    find *f = ud;
    if (strcmp(en->id, f->id) == 0)
        f->state = en->state;
    return 0;
}

static int state_of(env *e, const char *id)
{
    find f = {id, -1};
    uavmail_outbox_list(e->q, find_cb, &f);
    return f.state;
}

static void recipient_limit_and_oldest_bulk_dropped(void)
{
    env *e = env_new();
    uavmail_message *m;
    char old_id[40], new_id[40];
    int i;
    env_open(e);
    uavmail_message_new(&m, NULL);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    for (i = 0; i < 4097; i++) {
        char a[40];
        snprintf(a, sizeof a, "r%d@example.com", i);
        uavmail_message_add_recipient(m, UAVMAIL_BCC, a, NULL);
    }
    uavmail_message_set_subject(m, "many");
    uavmail_message_set_text(m, "x\n", 2);
    CHECK_INT(uavmail_outbox_enqueue(e->q, m, UAVMAIL_PRIORITY_NORMAL, 0, NULL, NULL),
              UAVMAIL_EINVAL); /* refused up front, never acknowledged then quarantined */
    uavmail_message_free(m);
    uavmail_outbox_close(e->q);
    e->qo.max_messages = 2;
    e->qo.drop_oldest_bulk = 1;
    env_open(e);
    CHECK_INT(enqueue(e, "old bulk", UAVMAIL_PRIORITY_BULK, NULL, old_id), 0);
    fake_now += 10;
    CHECK_INT(enqueue(e, "new bulk", UAVMAIL_PRIORITY_BULK, NULL, new_id), 0);
    CHECK_INT(enqueue(e, "alert", UAVMAIL_PRIORITY_ALERT, NULL, NULL), 0);
    CHECK_INT(state_of(e, old_id), UAVMAIL_ENTRY_DROPPED);
    CHECK_INT(state_of(e, new_id), UAVMAIL_ENTRY_QUEUED);
    env_free(e);
}

static void q12_one_flusher(void)
{
    env *e = env_new();
    char lock[120];
    int h;
    env_open(e);
    CHECK_INT(enqueue(e, "report", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    snprintf(lock, sizeof lock, "%s/lock", e->dir);
    h = uavmail__plat_lock(lock, UAVMAIL__LOCK_TRY);
    CHECK(h >= 0);
    CHECK_INT(flush(e), UAVMAIL_ESTATE);
    CHECK_INT(e->f->connects, 0);
    uavmail__plat_unlock(h); /* as when the holder dies: the OS releases it */
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->messages, 1);
    env_free(e);
}

static void connection_failure_reschedules_all(void)
{
    env *e = env_new();
    listing l;
    env_open(e);
    CHECK_INT(enqueue(e, "a", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    CHECK_INT(enqueue(e, "b", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    e->f->refuse_connect = 1;
    CHECK_INT(flush(e), UAVMAIL_ECONNECT);
    l = list(e);
    CHECK_INT(l.n, 2);
    CHECK_INT(l.first.attempts, 1);
    CHECK(strstr(l.error, "refused") != NULL);
    e->f->refuse_connect = 0;
    uavmail_outbox_set_link(e->q, 0);
    uavmail_outbox_set_link(e->q, 1); /* link-up: due at once, back-off or not */
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->messages, 2);
    env_free(e);
}

static void rate_limit(void)
{
    env *e = env_new();
    int i;
    e->qo.rate_per_hour = 2;
    env_open(e);
    for (i = 0; i < 3; i++)
        CHECK_INT(enqueue(e, "r", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    flush(e);
    CHECK_INT(e->f->messages, 2);
    flush(e);
    CHECK_INT(e->f->messages, 2); /* the third waits for the hour to pass */
    fake_now += 3601;
    flush(e);
    CHECK_INT(e->f->messages, 3);
    env_free(e);
}

/* A flush sends everything due as one batch: with PIPELINING and CHUNKING
 * the messages go behind each other, one round trip after EHLO in all.  A
 * 421 after two messages: those two are done, the others stay queued with
 * an attempt counted and their outcome known (not delivered). */
static void flush_is_one_pipelined_batch(void)
{
    env *e = env_new();
    listing l;
    int i;
    e->f->ehlo = "250-fake.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n";
    env_open(e);
    for (i = 0; i < 4; i++)
        CHECK_INT(enqueue(e, "batch", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->messages, 4);
    CHECK_INT(e->f->bdats, 4);
    CHECK_INT(e->f->turns, 2); /* EHLO, then all four messages and QUIT */
    CHECK_INT(e->f->quits, 1);
    CHECK_INT(list(e).n, 0);
    for (i = 0; i < 4; i++)
        CHECK_INT(enqueue(e, "again", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    e->f->close_after = 6;
    CHECK_INT(flush(e), UAVMAIL_ECLOSED);
    CHECK_INT(e->f->messages, 6);
    l = list(e);
    CHECK_INT(l.n, 2);
    CHECK_INT(l.first.attempts, 1);
    CHECK_INT(l.first.outcome_unknown, 0);
    env_free(e);
}

/* REVIEW: a connection that never opened must not use up the hourly rate. */
static void review_rate_not_spent_by_failed_connect(void)
{
    env *e = env_new();
    e->qo.rate_per_hour = 2;
    env_open(e);
    CHECK_INT(enqueue(e, "a", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    CHECK_INT(enqueue(e, "b", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    e->f->refuse_connect = 1;
    CHECK_INT(flush(e), UAVMAIL_ECONNECT);
    CHECK_INT(e->f->messages, 0);
    e->f->refuse_connect = 0;
    uavmail_outbox_set_link(e->q, 0);
    uavmail_outbox_set_link(e->q, 1); /* due at once */
    CHECK_INT(flush(e), 0);
    CHECK_INT(e->f->messages, 2); /* nothing was sent in the last hour */
    env_free(e);
}

/* REVIEW: MAIL FROM refused temporarily (451, e.g. greylisting / rate
 * limiting), the pipelined RCPT and BDAT get 503: the entry must stay
 * queued for a retry, not become a bounced dead letter. */
static void review_mail_451_is_not_a_bounce(void)
{
    env *e = env_new();
    listing l;
    e->f->ehlo = "250-fake.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n";
    e->f->mail_reply = "451 4.7.1 greylisted, try again later\r\n";
    env_open(e);
    CHECK_INT(enqueue(e, "a", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    flush(e);
    l = list(e);
    fprintf(stderr, "outcomes reported %d (last %d, code %d %s); entry state %d, err %s\n",
            e->out.n, e->out.last, e->out.code, e->out.reply, l.first.state, l.error);
    CHECK_INT(e->out.n, 0);           /* no end reported: it is only deferred */
    CHECK_INT(l.n, 1);
    CHECK_INT(l.first.state, UAVMAIL_ENTRY_QUEUED);
    env_free(e);
}

/* REVIEW: an entry whose last attempt's outcome is unknown keeps that flag
 * when the next flush cannot even connect (nothing new was learnt). */
static void review_unknown_flag_survives_failed_connect(void)
{
    env *e = env_new();
    e->f->ehlo = "250-fake.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n";
    env_open(e);
    CHECK_INT(enqueue(e, "a", UAVMAIL_PRIORITY_NORMAL, NULL, NULL), 0);
    e->f->drop_after_dot = 1;
    flush(e);
    CHECK_INT(list(e).first.outcome_unknown, 1);
    e->f->drop_after_dot = 0;
    e->f->refuse_connect = 1;
    uavmail_outbox_set_link(e->q, 0);
    uavmail_outbox_set_link(e->q, 1);
    CHECK_INT(flush(e), UAVMAIL_ECONNECT);
    fprintf(stderr, "after a refused connection: outcome_unknown=%d\n", list(e).first.outcome_unknown);
    CHECK_INT(list(e).first.outcome_unknown, 1);
    env_free(e);
}

static const tt_test tests[] = {
    TT(review_unknown_flag_survives_failed_connect),
    TT(review_mail_451_is_not_a_bounce),
    TT(review_rate_not_spent_by_failed_connect),
    TT(q13_private_files),
    TT(q14_link_down_then_up),
    TT(q08_per_recipient_state),
    TT(q08_partial_after_452_not_resent),
    TT(p09_permanent_is_dead_letter),
    TT(temporary_failure_backs_off),
    TT(expiry_is_dead_letter),
    TT(q09_outcome_unknown_resent_same_message_id),
    TT(dedup_and_full),
    TT(q03_corrupt_files_quarantined),
    TT(q04_stale_temp_files_removed),
    TT(q04_cleanup_spares_an_enqueue_in_progress),
    TT(q01_q05_q06_failures_leave_nothing),
    TT(q12_one_flusher),
    TT(rewrite_failures_keep_the_entry),
    TT(bounce_reported_only_once_saved),
    TT(recipient_limit_and_oldest_bulk_dropped),
    TT(connection_failure_reschedules_all),
    TT(rate_limit),
    TT(flush_is_one_pipelined_batch),
};

TT_MAIN(tests)
