/*
 * The store-and-forward outbox.
 *
 * Directory layout (all 0700, files 0600, one file system):
 *   tmp/            files being written; removed at open (never promoted)
 *   msg/ID.eml      the rendered message (written once, before its .meta)
 *   msg/ID.meta     the entry: envelope, per-recipient state, retries (qmeta.h);
 *                   its presence is the commit point of an enqueue
 *   dead/ID.meta    dead letters (bounced, expired, dropped), kept for listing
 *   corrupt/        files that failed validation, never sent
 *   lock            held by the one process flushing
 *   enqueue.lock    shared by enqueuers and the flusher while files are in flight;
 *                   open() cleans up leftovers only if it can take it alone
 *   dedup.lock      exclusive while an enqueue with a de-duplication key runs
 *   rate            timestamps of recent sends (the hourly rate limit)
 *
 * Every write is temp file + fsync + rename + directory fsync through the
 * uavmail__fs ops, so tests can record and replay them with crashes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flight.h"
#include "message_int.h"
#include "mime.h"
#include "outbox_int.h"
#include "platform.h"
#include "qmeta.h"

#define PATH_CAP 1024
#define UAVMAIL__RATE_MAX 512 /* sends per hour the rate file can count */

struct uavmail_outbox {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    uavmail_outbox_options opts;
    uavmail__fs fs;
    char dir[PATH_CAP - 64];
    int link_up;
    int link_boost;            /* the link just came up: everything is due */
    unsigned seq;
};

/* ---- small helpers ------------------------------------------------------------------ */

static int64_t now_s(const uavmail_outbox *q)
{
    if (q->opts.time_cb != NULL) {
        int64_t t = q->opts.time_cb(q->opts.time_user_data);
        if (t >= 0)
            return t;
    }
    return uavmail__plat_time();
}

static void path_of(const uavmail_outbox *q, char *out, const char *sub, const char *name)
{
    uavmail__snprintf(out, PATH_CAP, "%s/%s%s%s", q->dir, sub, name ? "/" : "", name ? name : "");
}

/* Length of @p name without @p suffix if it ends in it after a non-empty
 * stem, else 0. */
static size_t stem_len(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0 ? n - k : 0;
}

static int fs_err(uavmail_outbox *q, int e, const char *what, const char *path)
{
    static const struct {
        int e;
        const char *text;
    } names[] = {{ENOSPC, "no space left on the device"},
#ifdef EROFS
                 {EROFS, "read-only file system"},
#endif
#ifdef EDQUOT
                 {EDQUOT, "disk quota exceeded"},
#endif
                 {EIO, "input/output error"},
                 {EACCES, "permission denied"}};
    const char *why = "file system error";
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(names); i++)
        if (-e == names[i].e)
            why = names[i].text;
    return uavmail__err_set(&q->err, UAVMAIL_EFILE, "outbox: %s \"%s\": %s (errno %d)", what,
                            path, why, -e);
}

/* Write @p len bytes durably as @p final (temp + fsync + rename + dir fsync).
 * @p src, when set, streams the content instead of @p data.  On any failure
 * the temp file is removed.  A @p fresh file (one that did not exist) is
 * also taken back if its directory entry could not be made durable;
 * a rewrite is not: the rename already replaced the only other copy. */
static int commit_file(uavmail_outbox *q, const char *final, const char *final_dir,
                       const void *data, size_t len, uavmail__mime_reader *src, uint64_t *size,
                       uint32_t *crc, int fresh)
{
    char tmp[PATH_CAP], name[64];
    const uavmail__fs *fs = &q->fs;
    int fd = -1, rc;
    unsigned char rnd[6] = {0, 0, 0, 0, 0, 0};
    uavmail__plat_random(rnd, sizeof rnd); /* O_EXCL below catches any clash */
    uavmail__snprintf(name, sizeof name, "tmp.%02x%02x%02x%02x%02x%02x.%u", rnd[0], rnd[1], rnd[2],
                      rnd[3], rnd[4], rnd[5], q->seq++);
    path_of(q, tmp, "tmp", name);
    rc = fs->create(fs->ud, tmp, &fd);
    if (rc != 0)
        return fs_err(q, rc, "cannot create", tmp);
    if (src != NULL) {
        enum { CHUNK = 65536 };
        char *buf = uavmail__malloc(&q->alloc, CHUNK);
        long n = UAVMAIL_ENOMEM;
        uint64_t total = 0;
        uint32_t c = 0;
        while (buf != NULL && (n = uavmail__mime_read(src, buf, CHUNK)) > 0) {
            c = uavmail__crc32c(c, buf, (size_t)n);
            total += (uint64_t)n;
            rc = fs->write(fs->ud, fd, buf, (size_t)n);
            if (rc != 0)
                break;
        }
        uavmail__free(&q->alloc, buf);
        if (n < 0) {
            fs->close(fs->ud, fd);
            fs->unlink(fs->ud, tmp);
            return uavmail__err_set(&q->err, (int)n, "outbox: cannot render the message: %s",
                                    uavmail_strerror((int)n));
        }
        *size = total;
        *crc = c;
    } else {
        rc = fs->write(fs->ud, fd, data, len);
    }
    if (rc == 0)
        rc = fs->fsync(fs->ud, fd); /* fsync failure is fatal for this file */
    if (rc == 0)
        rc = fs->close(fs->ud, fd);
    else
        fs->close(fs->ud, fd);
    if (rc == 0) {
        rc = fs->rename(fs->ud, tmp, final);
        if (rc == 0) {
            rc = fs->fsync_dir(fs->ud, final_dir);
            if (rc != 0 && fresh) /* not durable, so not acknowledged: take it back */
                fs->unlink(fs->ud, final);
            return rc == 0 ? 0 : fs_err(q, rc, "cannot write", final);
        }
    }
    fs->unlink(fs->ud, tmp);
    return fs_err(q, rc, "cannot write", final);
}

static int write_meta(uavmail_outbox *q, const uavmail__qmeta *m, const char *sub, int fresh)
{
    unsigned char *buf;
    size_t len;
    char path[PATH_CAP], dir[PATH_CAP], name[64];
    int rc = uavmail__qmeta_encode(m, &q->alloc, &buf, &len);
    if (rc != 0)
        return uavmail__err_set(&q->err, rc, "outbox: out of memory encoding an entry");
    uavmail__snprintf(name, sizeof name, "%s.meta", m->id);
    path_of(q, path, sub, name);
    path_of(q, dir, sub, NULL);
    rc = commit_file(q, path, dir, buf, len, NULL, NULL, NULL, fresh);
    uavmail__free(&q->alloc, buf);
    return rc;
}

static int valid_id(const char *id);
static int burial_cb(const char *name, void *ud);

/* Load an entry; anything invalid is moved to corrupt/ and reported.
 * Returns 0, -1 (quarantined) or -2 (not readable now; left alone). */
static int load_meta(uavmail_outbox *q, const char *sub, const char *name, uavmail__qmeta *m)
{
    char path[PATH_CAP];
    unsigned char *buf = NULL;
    size_t len = 0;
    int rc;
    path_of(q, path, sub, name);
    memset(m, 0, sizeof *m);
    rc = uavmail__plat_read_all(&q->alloc, path, &buf, &len, UAVMAIL__QMETA_MAX + 64);
    if (rc != 0 && rc != -EFBIG)
        return -2; /* gone meanwhile, or cannot be read now: not the file's fault */
    if (rc == 0)
        rc = uavmail__qmeta_decode(buf, len, &q->alloc, m);
    uavmail__free(&q->alloc, buf);
    if (rc == -2)
        return -2;
    if (rc == 0 && (strlen(m->id) + 5 != strlen(name) || strncmp(m->id, name, strlen(m->id)) != 0 ||
                    !valid_id(m->id))) {
        uavmail__qmeta_free(m, &q->alloc);
        rc = -1; /* its ID must be its name: it goes into paths */
    }
    if (rc != 0) {
        char to[PATH_CAP], dir[PATH_CAP];
        path_of(q, to, "corrupt", name);
        path_of(q, dir, "corrupt", NULL);
        if (q->fs.rename(q->fs.ud, path, to) == 0)
            q->fs.fsync_dir(q->fs.ud, dir);
        return -1;
    }
    return 0;
}

/* ---- opening --------------------------------------------------------------------------- */

static int remove_cb(const char *name, void *ud)
{
    uavmail_outbox *q = ud;
    char path[PATH_CAP];
    path_of(q, path, "tmp", name);
    q->fs.unlink(q->fs.ud, path); /* interrupted writes are never promoted */
    return 0;
}

/* A message file without its .meta is an enqueue that never committed. */
static int orphan_cb(const char *name, void *ud)
{
    uavmail_outbox *q = ud;
    size_t k = stem_len(name, ".eml");
    char meta[PATH_CAP], path[PATH_CAP], base[80];
    if (k == 0 || k > 66) /* base must not truncate */
        return 0;
    uavmail__snprintf(base, sizeof base, "%.*s.meta", (int)k, name);
    path_of(q, meta, "msg", base);
    if (uavmail__plat_path_size(meta) < 0) {
        path_of(q, path, "msg", name);
        q->fs.unlink(q->fs.ud, path);
    }
    return 0;
}

int uavmail__outbox_open_fs(uavmail_outbox **out, const char *dir,
                            const uavmail_outbox_options *opts, const uavmail__fs *fs)
{
    static const char *const subs[] = {"tmp", "msg", "dead", "corrupt"};
    uavmail__alloc a;
    uavmail_outbox *q;
    size_t i;
    int lock;
    char path[PATH_CAP], msg[PATH_CAP], lockpath[PATH_CAP];
    if (out == NULL || dir == NULL || strlen(dir) > PATH_CAP - 128)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (opts != NULL && opts->version != UAVMAIL_OUTBOX_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    if (uavmail__alloc_init(&a, opts ? opts->allocator : NULL) != 0)
        return UAVMAIL_EINVAL;
    q = uavmail__calloc(&a, 1, sizeof *q);
    if (q == NULL)
        return UAVMAIL_ENOMEM;
    q->alloc = a;
    if (opts != NULL)
        q->opts = *opts;
    else
        q->opts.version = UAVMAIL_OUTBOX_OPTIONS_VERSION;
    if (q->opts.max_messages == 0)
        q->opts.max_messages = 1000;
    if (q->opts.max_bytes == 0)
        q->opts.max_bytes = (uint64_t)1 << 30;
    if (q->opts.retry_initial_s == 0)
        q->opts.retry_initial_s = 60;
    if (q->opts.retry_max_s == 0)
        q->opts.retry_max_s = 1800;
    if (q->opts.rate_per_hour > UAVMAIL__RATE_MAX) {
        uavmail__free(&a, q);
        return UAVMAIL_EINVAL;
    }
    q->fs = *fs;
    q->link_up = 1;
    uavmail__strlcpy(q->dir, dir, sizeof q->dir);
    if (uavmail__plat_mkdir_private(dir) != 0) {
        uavmail__free(&a, q);
        return UAVMAIL_EFILE;
    }
    for (i = 0; i < UAVMAIL__ARRAY_LEN(subs); i++) {
        path_of(q, path, subs[i], NULL);
        if (uavmail__plat_mkdir_private(path) != 0) {
            uavmail__free(&a, q);
            return UAVMAIL_EFILE;
        }
    }
    path_of(q, path, "tmp", NULL);
    path_of(q, msg, "msg", NULL);
    if (!uavmail__plat_same_device(path, msg)) { /* rename must be atomic */
        uavmail__free(&a, q);
        return UAVMAIL_EFILE;
    }
    /* Clean up after interrupted enqueues, unless one is in progress right
     * now: its temp file and its message file (renamed just before its entry)
     * look exactly like leftovers.  A crashed enqueuer holds no lock. */
    path_of(q, lockpath, "enqueue.lock", NULL);
    lock = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_TRY);
    if (lock >= 0) {
        uavmail__plat_list(path, remove_cb, q);
        uavmail__plat_list(msg, burial_cb, q);
        uavmail__plat_list(msg, orphan_cb, q);
        uavmail__plat_unlock(lock);
    }
    *out = q;
    return 0;
}

int uavmail_outbox_open(uavmail_outbox **out, const char *dir, const uavmail_outbox_options *opts)
{
    if (out && uavmail__flight_paired() != 0) {
        *out = NULL;
        return UAVMAIL_ECONFIG;
    }
    return uavmail__outbox_open_fs(out, dir, opts, uavmail__plat_fs());
}

void uavmail_outbox_close(uavmail_outbox *q)
{
    if (q != NULL) {
        uavmail__alloc a = q->alloc;
        uavmail__free(&a, q);
    }
}

const uavmail_error_detail *uavmail_outbox_last_error(const uavmail_outbox *q)
{
    return q ? &q->err : NULL;
}

void uavmail_outbox_set_link(uavmail_outbox *q, int up)
{
    if (q == NULL)
        return;
    if (up && !q->link_up)
        q->link_boost = 1; /* an immediate attempt on link-up */
    q->link_up = up != 0;
}

/* ---- scanning ----------------------------------------------------------------------------- */

typedef struct scan {
    uavmail_outbox *q;
    const char *sub;
    uavmail__qmeta *metas;
    size_t n, cap;
    size_t corrupt;
} scan;

static int scan_cb(const char *name, void *ud)
{
    scan *s = ud;
    if (stem_len(name, ".meta") == 0)
        return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        uavmail__qmeta *p = uavmail__realloc(&s->q->alloc, s->metas, cap * sizeof *p);
        if (p == NULL)
            return 1;
        s->metas = p;
        s->cap = cap;
    }
    switch (load_meta(s->q, s->sub, name, &s->metas[s->n])) {
    case 0: s->n++; break;
    case -1: s->corrupt++; break;
    default: break;
    }
    return 0;
}

static void scan_free(scan *s)
{
    size_t i;
    for (i = 0; i < s->n; i++)
        uavmail__qmeta_free(&s->metas[i], &s->q->alloc);
    uavmail__free(&s->q->alloc, s->metas);
    s->metas = NULL;
    s->n = s->cap = 0;
}

static void scan_dir(uavmail_outbox *q, const char *sub, scan *s)
{
    char path[PATH_CAP];
    memset(s, 0, sizeof *s);
    s->q = q;
    s->sub = sub;
    path_of(q, path, sub, NULL);
    uavmail__plat_list(path, scan_cb, s);
}

static int by_priority(const void *a, const void *b)
{
    const uavmail__qmeta *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority - y->priority;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* ---- removal and dead letters ----------------------------------------------------------- */

/* Remove an entry: the .meta first (the commit point), then its message. */
static int remove_entry(uavmail_outbox *q, const char *sub, const char *id)
{
    char path[PATH_CAP], name[64], dir[PATH_CAP];
    int rc;
    uavmail__snprintf(name, sizeof name, "%s.meta", id);
    path_of(q, path, sub, name);
    rc = q->fs.unlink(q->fs.ud, path);
    if (rc != 0)
        return fs_err(q, rc, "cannot remove", path);
    uavmail__snprintf(name, sizeof name, "%s.eml", id);
    path_of(q, path, "msg", name);
    rc = q->fs.unlink(q->fs.ud, path);
    if (rc != 0 && rc != -ENOENT) /* dead letters have no message file */
        return fs_err(q, rc, "cannot remove", path);
    path_of(q, dir, sub, NULL);
    rc = q->fs.fsync_dir(q->fs.ud, dir);
    return rc == 0 ? 0 : fs_err(q, rc, "cannot sync the directory", dir);
}

static void report(uavmail_outbox *q, const uavmail__qmeta *m, int outcome, int code,
                   const char *reply)
{
    if (q->opts.outcome_cb != NULL)
        q->opts.outcome_cb(m->id, outcome, code, reply ? reply : "", q->opts.outcome_user_data);
}

static int outcome_of(int state)
{
    return state == UAVMAIL_ENTRY_BOUNCED   ? UAVMAIL_OUTCOME_BOUNCED
           : state == UAVMAIL_ENTRY_EXPIRED ? UAVMAIL_OUTCOME_EXPIRED
                                            : UAVMAIL_OUTCOME_DROPPED;
}

/* Make @p m a dead letter: its entry is written to dead/ (the decision, now
 * durable), removed from msg/ and reported.  If the removal fails or a crash
 * cuts it short, the next open() or flush finishes it and reports again
 * (outcomes are reported at least once, like deliveries). */
static int bury(uavmail_outbox *q, uavmail__qmeta *m, int state, int code, const char *reply)
{
    int rc;
    m->dead = state;
    rc = write_meta(q, m, "dead", 1);
    if (rc != 0) {
        m->dead = 0; /* still queued: reported when it really ends */
        return rc;
    }
    rc = remove_entry(q, "msg", m->id);
    report(q, m, outcome_of(state), code, reply); /* decided and durable */
    return rc;
}

/* An entry both in msg/ and dead/ is a burial cut short (crash or error):
 * finish it -- remove the queued copy, report the outcome.  1 if it was. */
static int finish_burial(uavmail_outbox *q, const char *id)
{
    char path[PATH_CAP], name[64];
    uavmail__qmeta d;
    size_t i;
    uavmail__snprintf(name, sizeof name, "%s.meta", id);
    path_of(q, path, "dead", name);
    if (uavmail__plat_path_size(path) < 0 || load_meta(q, "dead", name, &d) != 0)
        return 0;
    if (remove_entry(q, "msg", id) == 0) {
        for (i = 0; i < d.nrcpt && d.rcpt[i].state != UAVMAIL__R_FAILED; i++)
            ;
        report(q, &d, outcome_of(d.dead), i < d.nrcpt ? d.rcpt[i].code : 0,
               i < d.nrcpt ? d.rcpt[i].reply : d.last_error);
    }
    uavmail__qmeta_free(&d, &q->alloc);
    return 1;
}

static int burial_cb(const char *name, void *ud)
{
    size_t k = stem_len(name, ".meta");
    char id[64];
    if (k == 0 || k > 55) /* id must not truncate */
        return 0;
    uavmail__snprintf(id, sizeof id, "%.*s", (int)k, name);
    finish_burial(ud, id);
    return 0;
}

/* ---- enqueue ------------------------------------------------------------------------------ */

typedef struct tally_ctx {
    uavmail_outbox *q;
    size_t count;
    uint64_t bytes;
} tally_ctx;

static int tally_cb(const char *name, void *ud)
{
    tally_ctx *t = ud;
    if (stem_len(name, ".meta") != 0) {
        t->count++;
    } else if (stem_len(name, ".eml") != 0) {
        char path[PATH_CAP];
        int64_t size;
        path_of(t->q, path, "msg", name);
        size = uavmail__plat_path_size(path);
        t->bytes += size > 0 ? (uint64_t)size : 0;
    }
    return 0;
}

/* Entries and message bytes from the directory alone (no entry is read):
 * an upper bound, as it also counts leftovers that open() would remove. */
static void tally(uavmail_outbox *q, size_t *count, uint64_t *bytes)
{
    tally_ctx t;
    char path[PATH_CAP];
    t.q = q;
    t.count = 0;
    t.bytes = 0;
    path_of(q, path, "msg", NULL);
    uavmail__plat_list(path, tally_cb, &t);
    *count = t.count;
    *bytes = t.bytes;
}

static int make_room(uavmail_outbox *q, scan *s, uint64_t need_bytes)
{
    uint64_t bytes = 0;
    size_t i, count = s->n;
    char lockpath[PATH_CAP];
    int flushing;
    for (i = 0; i < s->n; i++)
        bytes += s->metas[i].eml_size;
    if (count < q->opts.max_messages && bytes + need_bytes <= q->opts.max_bytes)
        return 0;
    if (!q->opts.drop_oldest_bulk)
        return uavmail__err_set(&q->err, UAVMAIL_EFULL,
                                "outbox full: %zu messages, %llu bytes (limits %u, %llu)", count,
                                (unsigned long long)bytes, q->opts.max_messages,
                                (unsigned long long)q->opts.max_bytes);
    /* Opt-in policy: evict the oldest bulk messages, each one reported --
     * not while a flush might be sending them. */
    path_of(q, lockpath, "lock", NULL);
    flushing = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_TRY);
    if (flushing < 0)
        return uavmail__err_set(&q->err, UAVMAIL_EFULL,
                                "outbox full, and a flush is in progress: nothing dropped");
    if (s->n > 1)
        qsort(s->metas, s->n, sizeof *s->metas, by_priority);
    for (i = 0; i < s->n && (count >= q->opts.max_messages ||
                             bytes + need_bytes > q->opts.max_bytes); i++) {
        uavmail__qmeta *m = &s->metas[i];
        if (m->priority != UAVMAIL_PRIORITY_BULK)
            continue;
        uavmail__strlcpy(m->last_error, "dropped to make room (drop_oldest_bulk)",
                         sizeof m->last_error);
        if (bury(q, m, UAVMAIL_ENTRY_DROPPED, 0, m->last_error) != 0) {
            uavmail__plat_unlock(flushing);
            return q->err.code;
        }
        count--;
        bytes -= m->eml_size;
    }
    uavmail__plat_unlock(flushing);
    if (count >= q->opts.max_messages || bytes + need_bytes > q->opts.max_bytes)
        return uavmail__err_set(&q->err, UAVMAIL_EFULL,
                                "outbox full even after dropping bulk messages");
    return 0;
}

static int enqueue_locked(uavmail_outbox *q, uavmail_message *msg, int priority,
                          int64_t expires, const char *dedup_key, char *id)
{
    uavmail__qmeta m;
    uavmail__mime_reader *r = NULL;
    scan s;
    char eml[PATH_CAP], dir[PATH_CAP], name[64];
    unsigned char rnd[4];
    int64_t t;
    uint64_t size = 0, bytes = 0;
    size_t i, count = 0;
    int rc;
    rc = uavmail__mime_reader_new(&r, msg, 0);
    if (rc == 0)
        rc = uavmail__mime_measure(r, &size);
    if (rc != 0) {
        uavmail__mime_reader_free(r);
        uavmail__err_copy(&q->err, &msg->err);
        return rc;
    }
    /* Reading every entry costs O(queue) per enqueue: only when a
     * de-duplication key must be looked up or the limits may be reached. */
    tally(q, &count, &bytes);
    if (dedup_key == NULL && count < q->opts.max_messages &&
        bytes + size <= q->opts.max_bytes) {
        memset(&s, 0, sizeof s);
        s.q = q;
    } else {
        scan_dir(q, "msg", &s);
    }
    for (i = 0; dedup_key != NULL && i < s.n; i++)
        if (strcmp(s.metas[i].dedup, dedup_key) == 0) {
            if (id != NULL)
                uavmail__strlcpy(id, s.metas[i].id, 40);
            scan_free(&s);
            uavmail__mime_reader_free(r);
            return 0; /* already queued */
        }
    rc = make_room(q, &s, size);
    scan_free(&s);
    if (rc != 0) {
        uavmail__mime_reader_free(r);
        return rc;
    }
    memset(&m, 0, sizeof m);
    t = now_s(q);
    for (i = 0;; i++) { /* an ID no entry, live or dead, has: rename would replace it */
        char taken[PATH_CAP];
        if (i == 8 || uavmail__plat_random(rnd, sizeof rnd) != 0) {
            uavmail__mime_reader_free(r);
            return uavmail__err_set(&q->err, UAVMAIL_EINTERNAL,
                                    "outbox: no random source for a new entry's ID");
        }
        uavmail__snprintf(m.id, sizeof m.id, "%012lld-%02x%02x%02x%02x", (long long)t, rnd[0],
                          rnd[1], rnd[2], rnd[3]);
        uavmail__snprintf(name, sizeof name, "%s.eml", m.id);
        path_of(q, taken, "msg", name);
        if (uavmail__plat_path_size(taken) >= 0)
            continue;
        uavmail__snprintf(name, sizeof name, "%s.meta", m.id);
        path_of(q, taken, "dead", name);
        if (uavmail__plat_path_size(taken) < 0)
            break;
    }
    m.priority = priority;
    m.created = t;
    m.next_attempt = t;
    m.expires = expires > 0 ? expires : 0;
    uavmail__strlcpy(m.dedup, dedup_key ? dedup_key : "", sizeof m.dedup);
    uavmail__strlcpy(m.message_id, msg->message_id, sizeof m.message_id);
    uavmail__strlcpy(m.subject, msg->subject ? msg->subject : "", sizeof m.subject);
    uavmail__strlcpy(m.from, msg->from.addr, sizeof m.from);
    m.nrcpt = msg->nrcpt;
    m.rcpt = uavmail__calloc(&q->alloc, msg->nrcpt, sizeof *m.rcpt);
    if (m.rcpt == NULL) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&q->err, UAVMAIL_ENOMEM, "out of memory");
    }
    for (i = 0; i < msg->nrcpt; i++)
        uavmail__strlcpy(m.rcpt[i].addr, msg->rcpt[i].addr, sizeof m.rcpt[i].addr);
    /* 1. the message (with attachments: their sources may be rotated away) */
    uavmail__snprintf(name, sizeof name, "%s.eml", m.id);
    path_of(q, eml, "msg", name);
    path_of(q, dir, "msg", NULL);
    rc = commit_file(q, eml, dir, NULL, 0, r, &m.eml_size, &m.eml_crc, 1);
    uavmail__mime_reader_free(r);
    /* 2. the entry: once it is durable, the message is acknowledged */
    if (rc == 0)
        rc = write_meta(q, &m, "msg", 1);
    if (rc != 0)
        q->fs.unlink(q->fs.ud, eml);
    else if (id != NULL)
        uavmail__strlcpy(id, m.id, 40);
    uavmail__qmeta_free(&m, &q->alloc);
    return rc;
}

int uavmail_outbox_enqueue(uavmail_outbox *q, uavmail_message *msg, int priority,
                           int64_t expires, const char *dedup_key, char *id)
{
    char lockpath[PATH_CAP];
    int rc, lock, dedup = -1;
    if (q == NULL || msg == NULL || priority < UAVMAIL_PRIORITY_ALERT ||
        priority > UAVMAIL_PRIORITY_BULK ||
        (dedup_key && strlen(dedup_key) >= sizeof ((uavmail__qmeta *)0)->dedup))
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&q->err);
    if (q->opts.time_cb != NULL && !msg->frozen && msg->from.addr != NULL)
        uavmail__message_freeze_at(msg, now_s(q));
    rc = uavmail_message_check(msg); /* also fixes Date and Message-ID (D-11, Q-09) */
    if (rc != 0) {
        uavmail__err_copy(&q->err, &msg->err);
        return rc;
    }
    if (msg->nrcpt > UAVMAIL__QMETA_MAX_RCPT)
        return uavmail__err_set(&q->err, UAVMAIL_EINVAL,
                                "outbox: %zu recipients; an entry holds at most %d", msg->nrcpt,
                                UAVMAIL__QMETA_MAX_RCPT);
    /* enqueue.lock, shared, is held while our files are in flight so that no
     * other process's open() mistakes them for leftovers; dedup.lock,
     * exclusive, makes the look-up and the commit one step across processes. */
    path_of(q, lockpath, "enqueue.lock", NULL);
    lock = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_SHARED);
    if (lock < 0)
        return fs_err(q, lock, "cannot add to the outbox: cannot lock", lockpath);
    if (dedup_key != NULL) {
        path_of(q, lockpath, "dedup.lock", NULL);
        dedup = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_WAIT);
        if (dedup < 0) {
            uavmail__plat_unlock(lock);
            return fs_err(q, dedup, "cannot add to the outbox: cannot lock", lockpath);
        }
    }
    rc = enqueue_locked(q, msg, priority, expires, dedup_key, id);
    uavmail__plat_unlock(dedup);
    uavmail__plat_unlock(lock);
    return rc;
}

/* ---- flush ------------------------------------------------------------------------------------ */

static unsigned backoff_s(const uavmail_outbox *q, unsigned attempts)
{
    uint64_t d = q->opts.retry_initial_s;
    unsigned char j;
    while (attempts-- > 1 && d < q->opts.retry_max_s)
        d *= 2;
    if (d > q->opts.retry_max_s)
        d = q->opts.retry_max_s;
    uavmail__plat_random(&j, 1);
    /* +-25 % jitter so a fleet does not retry in lockstep. */
    return (unsigned)(d * (100 - 25 + (j % 51)) / 100);
}

/* Hourly rate limit: timestamps of sends in DIR/rate (one per line). */
static unsigned sent_last_hour(uavmail_outbox *q, int64_t now, int64_t *stamps, size_t cap,
                               size_t *n)
{
    char path[PATH_CAP];
    unsigned char *buf = NULL;
    size_t len = 0, i = 0;
    *n = 0;
    path_of(q, path, "rate", NULL);
    if (uavmail__plat_read_all(&q->alloc, path, &buf, &len, 1 << 20) != 0)
        return 0;
    while (i < len && *n < cap) {
        int64_t v = 0;
        while (i < len && buf[i] >= '0' && buf[i] <= '9') {
            int d = buf[i++] - '0';
            v = v <= (INT64_MAX - d) / 10 ? v * 10 + d : INT64_MAX; /* FZ-07: corrupt file */
        }
        while (i < len && (buf[i] < '0' || buf[i] > '9'))
            i++;
        if (v > now - 3600 && v <= now)
            stamps[(*n)++] = v;
    }
    uavmail__free(&q->alloc, buf);
    return (unsigned)*n;
}

static void record_sends(uavmail_outbox *q, int64_t now, unsigned count)
{
    int64_t stamps[UAVMAIL__RATE_MAX];
    size_t n, i, len = 0;
    char text[UAVMAIL__RATE_MAX * 21], path[PATH_CAP];
    if (q->opts.rate_per_hour == 0 || count == 0)
        return;
    if (count > UAVMAIL__ARRAY_LEN(stamps))
        count = (unsigned)UAVMAIL__ARRAY_LEN(stamps); /* more than the limit can count anyway */
    sent_last_hour(q, now, stamps, UAVMAIL__ARRAY_LEN(stamps) - count, &n);
    for (i = 0; i < count; i++)
        stamps[n++] = now;
    for (i = 0; i < n; i++)
        len += (size_t)uavmail__snprintf(text + len, sizeof text - len, "%lld\n",
                                         (long long)stamps[i]);
    path_of(q, path, "rate", NULL);
    commit_file(q, path, q->dir, text, len, NULL, NULL, NULL, 0);
}

/* The message reached the server (answered, or sent completely): it counts against the
 * provider's rate; a message never sent does not. */
static int went_out(int rc)
{
    return rc == 0 || rc == UAVMAIL_ERECIPIENTS || rc == UAVMAIL_EUNKNOWN ||
           rc == UAVMAIL_ETEMPFAIL || rc == UAVMAIL_EPERMFAIL || rc == UAVMAIL_ETOOBIG;
}

/* Apply one message's per-recipient results and its outcome:
 * 2xx recipients of an accepted message are delivered, 5xx ones (and all of
 * a message refused with 5xx) failed for good, the rest stay pending.  An
 * unknown outcome changes nothing: the message goes again (at least once). */
static int settle(uavmail_outbox *q, uavmail_session *s, size_t idx, uavmail__qmeta *m, int rc,
                  int64_t now, int *finished)
{
    const uavmail_error_detail *d = uavmail_session_batch_error(s, idx);
    int accepted = rc == 0 || rc == UAVMAIL_ERECIPIENTS, refused = rc == UAVMAIL_EPERMFAIL;
    size_t i, k = 0, pending = 0, first_fail = m->nrcpt;
    *finished = 0;
    for (i = 0; i < m->nrcpt; i++) {
        uavmail__qrcpt *r = &m->rcpt[i];
        const char *addr = "", *reply = "";
        int code = 0;
        if (r->state != UAVMAIL__R_PENDING)
            continue;
        if (uavmail_session_batch_recipient(s, idx, k++, &addr, &code, &reply) != 0 ||
            rc == UAVMAIL_EUNKNOWN)
            continue;
        if (code / 100 == 5) {
            r->state = UAVMAIL__R_FAILED;
        } else if (code / 100 == 2 && accepted) {
            r->state = UAVMAIL__R_DELIVERED;
        } else if (refused) {
            r->state = UAVMAIL__R_FAILED; /* MAIL or the message itself refused */
            code = uavmail_error_smtp_code(d);
            reply = uavmail_error_server_reply(d);
        }
        if (code != 0) {
            r->code = code;
            uavmail__strlcpy(r->reply, reply, sizeof r->reply);
        }
    }
    for (i = 0; i < m->nrcpt; i++) {
        pending += m->rcpt[i].state == UAVMAIL__R_PENDING;
        if (m->rcpt[i].state == UAVMAIL__R_FAILED && first_fail == m->nrcpt)
            first_fail = i;
    }
    m->attempts++;
    /* resent with the same Message-ID (P-08, Q-09); a flush that never sent it changes
     * nothing about what the last attempt may have done */
    if (rc == UAVMAIL_EUNKNOWN || went_out(rc))
        m->unknown = rc == UAVMAIL_EUNKNOWN;
    uavmail__strlcpy(m->last_error, rc == 0 || d == NULL ? "" : uavmail_error_message(d),
                     sizeof m->last_error);
    if (pending == 0) {
        *finished = 1;
        if (first_fail < m->nrcpt)
            return bury(q, m, UAVMAIL_ENTRY_BOUNCED, m->rcpt[first_fail].code,
                        m->rcpt[first_fail].reply);
        report(q, m, UAVMAIL_OUTCOME_DELIVERED, 250, "");
        return remove_entry(q, "msg", m->id);
    }
    m->next_attempt = now + backoff_s(q, m->attempts);
    return write_meta(q, m, "msg", 0);
}

/* A connection-level failure: everything that was due waits its back-off. */
static void reschedule(uavmail_outbox *q, uavmail__qmeta *m, const char *why, int64_t now)
{
    m->attempts++;
    m->next_attempt = now + backoff_s(q, m->attempts);
    uavmail__strlcpy(m->last_error, why, sizeof m->last_error);
    write_meta(q, m, "msg", 0);
}

/* The message of entry @p m for its pending recipients, from its file. */
static int build_one(uavmail_outbox *q, uavmail__qmeta *m, uavmail_message **out, int *damaged)
{
    uavmail_message_options mo = UAVMAIL_MESSAGE_OPTIONS_INIT;
    uavmail_message *msg;
    char eml[PATH_CAP], name[64];
    size_t i;
    int rc;
    *out = NULL;
    mo.allocator = q->opts.allocator;
    uavmail__snprintf(name, sizeof name, "%s.eml", m->id);
    path_of(q, eml, "msg", name);
    *damaged = (uint64_t)uavmail__plat_path_size(eml) != m->eml_size;
    if (*damaged)
        return uavmail__err_set(&q->err, UAVMAIL_EFILE, "outbox: message file of %s is missing "
                                                        "or damaged",
                                m->id);
    rc = uavmail_message_new(&msg, &mo);
    if (rc != 0)
        return rc;
    rc = uavmail_message_set_prepared_file(msg, eml);
    if (rc == 0)
        rc = uavmail_message_set_from(msg, m->from, NULL);
    for (i = 0; rc == 0 && i < m->nrcpt; i++)
        if (m->rcpt[i].state == UAVMAIL__R_PENDING)
            rc = uavmail_message_add_recipient(msg, UAVMAIL_BCC, m->rcpt[i].addr, NULL);
    if (rc != 0) {
        uavmail__err_set(&q->err, rc, "outbox: %s: %s", m->id,
                         uavmail_error_message(uavmail_message_last_error(msg)));
        uavmail_message_free(msg);
        return rc;
    }
    *out = msg;
    return 0;
}

/* Errors after which the next message cannot go over this connection. */
static int connection_lost(int rc)
{
    switch (rc) {
    case UAVMAIL_ERESOLVE: case UAVMAIL_ECONNECT: case UAVMAIL_ETIMEOUT: case UAVMAIL_EIO:
    case UAVMAIL_ETLS: case UAVMAIL_ECERT: case UAVMAIL_ENOTLS: case UAVMAIL_EPROTOCOL:
    case UAVMAIL_EINJECTION: case UAVMAIL_EAUTH: case UAVMAIL_ENOAUTH: case UAVMAIL_EUNKNOWN:
    case UAVMAIL_ECLOSED: case UAVMAIL_ECONFIG: case UAVMAIL_ECALLBACK:
        return 1;
    default:
        return 0;
    }
}

int uavmail_outbox_flush(uavmail_outbox *q, const uavmail_session_options *opts, size_t *sent)
{
    scan s;
    uavmail_session *sess = NULL;
    uavmail__qmeta **batch = NULL;
    uavmail_message **msgs = NULL;
    int *results = NULL;
    int64_t now, stamps[UAVMAIL__RATE_MAX];
    size_t i, k, done = 0, n_stamps, nbatch = 0;
    unsigned allowed = ~0u, sends = 0;
    char lockpath[PATH_CAP];
    int lock, writing, rc = 0, boost;
    if (q == NULL || opts == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&q->err);
    if (sent != NULL)
        *sent = 0;
    if (!q->link_up)
        return 0; /* with the link down no connection is attempted */
    path_of(q, lockpath, "lock", NULL);
    lock = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_TRY);
    if (lock < 0)
        return uavmail__err_set(&q->err, UAVMAIL_ESTATE,
                                "outbox: another process is flushing it (Q-12)");
    /* Our rewrites pass through tmp/ too: no open() may clean up meanwhile. */
    path_of(q, lockpath, "enqueue.lock", NULL);
    writing = uavmail__plat_lock(lockpath, UAVMAIL__LOCK_SHARED);
    now = now_s(q);
    boost = q->link_boost;
    q->link_boost = 0;
    scan_dir(q, "msg", &s);
    if (s.n > 1) /* qsort must not see the NULL of an empty scan */
        qsort(s.metas, s.n, sizeof *s.metas, by_priority);
    if (q->opts.rate_per_hour != 0) {
        unsigned used = sent_last_hour(q, now, stamps, UAVMAIL__ARRAY_LEN(stamps), &n_stamps);
        allowed = used >= q->opts.rate_per_hour ? 0 : q->opts.rate_per_hour - used;
    }
    /* Expired entries become dead letters; the rest are due or waiting. */
    for (i = 0; i < s.n; i++) {
        uavmail__qmeta *m = &s.metas[i];
        if (m->expires != 0 && now >= m->expires) {
            uavmail__strlcpy(m->last_error, "expired before it could be delivered",
                             sizeof m->last_error);
            bury(q, m, UAVMAIL_ENTRY_EXPIRED, 0, m->last_error);
            m->dead = UAVMAIL_ENTRY_EXPIRED;
        }
    }
    /* Everything due (up to the rate limit) goes as one batch over one
     * connection: pipelined across messages where the server allows. */
    batch = s.n ? uavmail__calloc(&q->alloc, s.n, sizeof *batch) : NULL;
    msgs = s.n ? uavmail__calloc(&q->alloc, s.n, sizeof *msgs) : NULL;
    results = s.n ? uavmail__calloc(&q->alloc, s.n, sizeof *results) : NULL;
    for (k = 0; results != NULL && k < s.n; k++)
        results[k] = UAVMAIL_EAGAIN; /* never "delivered" by default */
    if (s.n && (batch == NULL || msgs == NULL || results == NULL))
        rc = uavmail__err_set(&q->err, UAVMAIL_ENOMEM, "out of memory");
    for (i = 0; i < s.n && rc == 0 && nbatch < allowed; i++) {
        uavmail__qmeta *m = &s.metas[i];
        int damaged = 0;
        if (m->dead || !(boost || m->next_attempt <= now))
            continue;
        if (finish_burial(q, m->id)) {
            m->dead = UAVMAIL_ENTRY_BOUNCED; /* its end was decided before: never resent */
            continue;
        }
        rc = build_one(q, m, &msgs[nbatch], &damaged);
        if (damaged) {
            /* Its message file is gone or damaged: quarantine, never send. */
            char from[PATH_CAP], to[PATH_CAP], name[64];
            uavmail__snprintf(name, sizeof name, "%s.meta", m->id);
            path_of(q, from, "msg", name);
            path_of(q, to, "corrupt", name);
            q->fs.rename(q->fs.ud, from, to);
            m->dead = UAVMAIL_ENTRY_BOUNCED; /* not due any more in this flush */
            rc = 0;
            continue;
        }
        if (rc == UAVMAIL_ENOMEM)
            break;
        if (rc != 0) {
            reschedule(q, m, q->err.message, now); /* this entry only; the others go */
            m->dead = UAVMAIL_ENTRY_BOUNCED;         /* (not due any more in this flush) */
            rc = 0;
            continue;
        }
        batch[nbatch++] = m;
    }
    if (rc == 0 && nbatch > 0 && (rc = uavmail_session_new(&sess, opts)) != 0)
        uavmail__err_set(&q->err, rc, "outbox: cannot start a session: %s", uavmail_strerror(rc));
    if (rc == 0 && nbatch > 0) {
        int lost = 0;
        (void)uavmail_session_send_batch(sess, msgs, nbatch, results, 1);
        for (i = 0; i < nbatch; i++) {
            int finished = 0, r = results[i];
            if (connection_lost(r) && !lost) {
                lost = 1;
                uavmail__err_copy(&q->err, uavmail_session_batch_error(sess, i));
                rc = r;
            }
            if (settle(q, sess, i, batch[i], r, now, &finished) != 0) {
                rc = q->err.code;
                break;
            }
            sends += went_out(r);
            done += finished;
        }
        if (lost)
            /* Due entries past the rate limit wait their back-off too. */
            for (k = 0; k < s.n; k++) {
                uavmail__qmeta *m = &s.metas[k];
                size_t j;
                int in_batch = 0;
                for (j = 0; j < nbatch; j++)
                    in_batch |= batch[j] == m;
                if (!in_batch && !m->dead && (boost || m->next_attempt <= now))
                    reschedule(q, m, q->err.message, now);
            }
    }
    for (i = 0; i < nbatch; i++)
        uavmail_message_free(msgs[i]);
    uavmail__free(&q->alloc, batch);
    uavmail__free(&q->alloc, msgs);
    uavmail__free(&q->alloc, results);
    record_sends(q, now, sends);
    uavmail_session_free(sess);
    scan_free(&s);
    uavmail__plat_unlock(writing);
    uavmail__plat_unlock(lock);
    if (sent != NULL)
        *sent = done;
    return rc;
}

/* ---- listing and maintenance ----------------------------------------------------------------- */

static int emit_entries(scan *s, uavmail_entry_cb cb, void *ud)
{
    size_t i, k;
    for (i = 0; i < s->n; i++) {
        const uavmail__qmeta *m = &s->metas[i];
        uavmail_outbox_entry e;
        memset(&e, 0, sizeof e);
        e.version = 1;
        e.id = m->id;
        e.state = m->dead;
        e.priority = m->priority;
        e.attempts = m->attempts;
        e.outcome_unknown = m->unknown;
        e.created = m->created;
        e.next_attempt = m->next_attempt;
        e.expires = m->expires;
        e.size = m->eml_size;
        e.recipients = m->nrcpt;
        for (k = 0; k < m->nrcpt; k++) {
            e.delivered += m->rcpt[k].state == UAVMAIL__R_DELIVERED;
            e.failed += m->rcpt[k].state == UAVMAIL__R_FAILED;
        }
        e.message_id = m->message_id;
        e.subject = m->subject;
        e.last_error = m->last_error;
        if (cb(&e, ud) != 0)
            return 1;
    }
    return 0;
}

int uavmail_outbox_list(uavmail_outbox *q, uavmail_entry_cb cb, void *ud)
{
    scan s;
    int stop;
    if (q == NULL || cb == NULL)
        return UAVMAIL_EINVAL;
    scan_dir(q, "msg", &s);
    if (s.n > 1) /* qsort must not see the NULL of an empty scan */
        qsort(s.metas, s.n, sizeof *s.metas, by_priority);
    stop = emit_entries(&s, cb, ud);
    scan_free(&s);
    if (!stop) {
        scan_dir(q, "dead", &s);
        emit_entries(&s, cb, ud);
        scan_free(&s);
    }
    return 0;
}

static int valid_id(const char *id)
{
    size_t n = strlen(id), i;
    if (n == 0 || n > 39)
        return 0;
    for (i = 0; i < n; i++)
        if (!(uavmail__is_digit(id[i]) || (id[i] >= 'a' && id[i] <= 'f') || id[i] == '-'))
            return 0;
    return 1;
}

/* Take the flush lock (and with @p enqueues, the enqueue lock alone) for a
 * change to msg/ that must not race a flush sending the same entries. */
static int lock_out(uavmail_outbox *q, int enqueues, int *locks)
{
    char path[PATH_CAP];
    locks[0] = locks[1] = -1;
    path_of(q, path, "lock", NULL);
    locks[0] = uavmail__plat_lock(path, UAVMAIL__LOCK_TRY);
    if (locks[0] < 0)
        return uavmail__err_set(&q->err, UAVMAIL_ESTATE,
                                "outbox: a flush is in progress; try again when it is over");
    if (enqueues) {
        path_of(q, path, "enqueue.lock", NULL);
        locks[1] = uavmail__plat_lock(path, UAVMAIL__LOCK_TRY);
        if (locks[1] < 0) {
            uavmail__plat_unlock(locks[0]);
            return uavmail__err_set(&q->err, UAVMAIL_ESTATE,
                                    "outbox: a message is being added; try again");
        }
    }
    return 0;
}

static void unlock_out(int *locks)
{
    uavmail__plat_unlock(locks[1]);
    uavmail__plat_unlock(locks[0]);
}

int uavmail_outbox_remove(uavmail_outbox *q, const char *id)
{
    char path[PATH_CAP], name[64];
    int locks[2], rc;
    if (q == NULL || id == NULL || !valid_id(id))
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&q->err);
    rc = lock_out(q, 0, locks);
    if (rc != 0)
        return rc;
    uavmail__snprintf(name, sizeof name, "%s.meta", id);
    path_of(q, path, "msg", name);
    if (uavmail__plat_path_size(path) >= 0) {
        rc = remove_entry(q, "msg", id);
    } else {
        path_of(q, path, "dead", name);
        rc = uavmail__plat_path_size(path) >= 0
                 ? remove_entry(q, "dead", id)
                 : uavmail__err_set(&q->err, UAVMAIL_EINVAL, "outbox: no entry %s", id);
    }
    unlock_out(locks);
    return rc;
}

typedef struct purge_ctx {
    uavmail_outbox *q;
    const char *sub;
} purge_ctx;

static int purge_cb(const char *name, void *ud)
{
    purge_ctx *p = ud;
    char path[PATH_CAP];
    path_of(p->q, path, p->sub, name);
    p->q->fs.unlink(p->q->fs.ud, path);
    return 0;
}

int uavmail_outbox_purge(uavmail_outbox *q, int all)
{
    static const char *const subs[] = {"dead", "corrupt", "msg"};
    size_t i;
    int locks[2], rc;
    if (q == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&q->err);
    rc = lock_out(q, all, locks);
    if (rc != 0)
        return rc;
    for (i = 0; i < (all ? 3u : 2u); i++) {
        char path[PATH_CAP];
        purge_ctx p;
        p.q = q;
        p.sub = subs[i];
        path_of(q, path, subs[i], NULL);
        uavmail__plat_list(path, purge_cb, &p);
        q->fs.fsync_dir(q->fs.ud, path);
    }
    unlock_out(locks);
    return 0;
}

static int count_cb(const char *name, void *ud)
{
    (void)name;
    (*(size_t *)ud)++;
    return 0;
}

int uavmail_outbox_stats_get(uavmail_outbox *q, uavmail_outbox_stats *st)
{
    scan s;
    size_t i;
    char path[PATH_CAP];
    int64_t stamps[UAVMAIL__RATE_MAX];
    size_t n;
    if (q == NULL || st == NULL || st->version != 1)
        return UAVMAIL_EINVAL;
    memset(st, 0, sizeof *st);
    st->version = 1;
    scan_dir(q, "msg", &s);
    st->queued = s.n;
    for (i = 0; i < s.n; i++) {
        st->bytes += s.metas[i].eml_size;
        st->alerts += s.metas[i].priority == UAVMAIL_PRIORITY_ALERT;
    }
    scan_free(&s);
    scan_dir(q, "dead", &s);
    st->dead = s.n;
    scan_free(&s);
    path_of(q, path, "corrupt", NULL);
    uavmail__plat_list(path, count_cb, &st->corrupt);
    st->sent_last_hour = sent_last_hour(q, now_s(q), stamps, UAVMAIL__ARRAY_LEN(stamps), &n);
    return 0;
}
