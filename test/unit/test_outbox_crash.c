/*
 * Q-02 crash-point enumeration.  The outbox's durable-write operations
 * (create, write, fsync, close, rename, directory fsync, unlink) are
 * recorded while an enqueue, a flush and a remove run.  For every prefix of
 * those operations a post-crash directory is materialised from a model of
 * what a crash preserves -- file contents only as far as they were fsynced
 * (the rest lost, or torn half-way), directory changes only as far as the
 * directory was fsynced (or, in the other variant, all of them) -- and the
 * outbox is reopened on it.  The invariants, for every crash point:
 *   - every acknowledged message is present byte for byte (or was delivered);
 *   - nothing unacknowledged is visible unless complete;
 *   - nothing is visible twice;
 *   - no partially written message is ever sent.
 * (The SQLite crash-VFS idea, on the ops table instead of a VFS; LazyFS and
 * dm-log-writes cannot run here.)
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "fake_smtp.h"
#include "outbox_int.h"
#include "qmeta.h"
#include "tt.h"
#include "tt_fs.h"

#define MAXF 64
#define MAXOPS 256

/* ---- the model: named files -> inodes with current and durable content ---------- */

typedef struct inode {
    unsigned char *cur;
    size_t cur_len, dur_len; /* durable content is a prefix (files are written once) */
} inode;

typedef struct ns {
    char name[MAXF][96];
    int ino[MAXF];
    int n;
} ns;

typedef struct model {
    inode inodes[MAXF * 4];
    int ninodes;
    ns vol, dur; /* what a running system sees / what survives a crash */
} model;

/* Bounded copy that tolerates source and destination inside the same object. */
static void setname(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n > 95)
        n = 95;
    memmove(dst, src, n);
    dst[n] = '\0';
}

static int ns_find(const ns *s, const char *name)
{
    int i;
    for (i = 0; i < s->n; i++)
        if (strcmp(s->name[i], name) == 0)
            return i;
    return -1;
}

static void ns_set(ns *s, const char *name, int ino)
{
    int i = ns_find(s, name);
    if (i < 0) {
        i = s->n++;
        setname(s->name[i], name);
    }
    s->ino[i] = ino;
}

static void ns_del(ns *s, const char *name)
{
    int i = ns_find(s, name);
    if (i >= 0) {
        s->n--;
        memmove(&s->name[i], &s->name[i + 1], (size_t)(s->n - i) * sizeof s->name[0]);
        memmove(&s->ino[i], &s->ino[i + 1], (size_t)(s->n - i) * sizeof s->ino[0]);
    }
}

/* Directory of a relative name ("msg/x.meta" -> "msg"). */
static void dir_of(const char *name, char *out)
{
    const char *slash = strrchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : 0;
    memcpy(out, name, n);
    out[n] = '\0';
}

/* ---- recording file-system ops ------------------------------------------------------- */

enum { OP_CREATE, OP_WRITE, OP_FSYNC, OP_CLOSE, OP_RENAME, OP_FSYNC_DIR, OP_UNLINK };

typedef struct op {
    int kind, fd;
    char a[96], b[96];
    unsigned char *data;
    size_t len;
} op;

typedef struct recorder {
    const char *root;
    op ops[MAXOPS];
    int nops;
    char fd_name[1024][96];
} recorder;

static recorder rec;

static const char *rel(const char *path)
{
    size_t n = strlen(rec.root);
    return strncmp(path, rec.root, n) == 0 ? path + n + 1 : path;
}

static op *add_op(int kind)
{
    op *o = &rec.ops[rec.nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    return o;
}

static int r_create(void *ud, const char *p, int *fd)
{
    int rc = uavmail__plat_fs()->create(ud, p, fd);
    if (rc == 0) {
        op *o = add_op(OP_CREATE);
        snprintf(o->a, sizeof o->a, "%s", rel(p));
        snprintf(rec.fd_name[*fd], sizeof rec.fd_name[0], "%s", rel(p));
    }
    return rc;
}

static int r_write(void *ud, int fd, const void *b, size_t n)
{
    op *o = add_op(OP_WRITE);
    setname(o->a, rec.fd_name[fd]);
    o->data = malloc(n ? n : 1);
    memcpy(o->data, b, n);
    o->len = n;
    return uavmail__plat_fs()->write(ud, fd, b, n);
}

static int r_fsync(void *ud, int fd)
{
    setname(add_op(OP_FSYNC)->a, rec.fd_name[fd]);
    return uavmail__plat_fs()->fsync(ud, fd);
}

static int r_close(void *ud, int fd)
{
    add_op(OP_CLOSE);
    return uavmail__plat_fs()->close(ud, fd);
}

static int r_rename(void *ud, const char *a, const char *b)
{
    op *o = add_op(OP_RENAME);
    snprintf(o->a, sizeof o->a, "%s", rel(a));
    snprintf(o->b, sizeof o->b, "%s", rel(b));
    return uavmail__plat_fs()->rename(ud, a, b);
}

static int r_fsync_dir(void *ud, const char *d)
{
    snprintf(add_op(OP_FSYNC_DIR)->a, 96, "%s", strcmp(d, rec.root) == 0 ? "" : rel(d));
    return uavmail__plat_fs()->fsync_dir(ud, d);
}

static int r_unlink(void *ud, const char *p)
{
    snprintf(add_op(OP_UNLINK)->a, 96, "%s", rel(p));
    return uavmail__plat_fs()->unlink(ud, p);
}

static const uavmail__fs recording = {r_create, r_write,      r_fsync, r_close,
                                      r_rename, r_fsync_dir, r_unlink, NULL};

/* ---- snapshots ------------------------------------------------------------------------ */

static const char *const subs[] = {"tmp", "msg", "dead", "corrupt"};

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

/* Load a committed directory as fully durable. */
static void model_load(model *m, const char *root)
{
    size_t s;
    memset(m, 0, sizeof *m);
    for (s = 0; s < 4; s++) {
        char dir[256];
        DIR *d;
        struct dirent *e;
        snprintf(dir, sizeof dir, "%s/%s", root, subs[s]);
        d = opendir(dir);
        while (d && (e = readdir(d)) != NULL) {
            char path[512], name[300];
            inode *in;
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            snprintf(name, sizeof name, "%s/%s", subs[s], e->d_name);
            in = &m->inodes[m->ninodes];
            in->cur = slurp(path, &in->cur_len);
            in->dur_len = in->cur_len;
            ns_set(&m->vol, name, m->ninodes);
            ns_set(&m->dur, name, m->ninodes);
            m->ninodes++;
        }
        if (d)
            closedir(d);
    }
}

static void apply(model *m, const op *o)
{
    int i;
    char d[96];
    switch (o->kind) {
    case OP_CREATE:
        m->inodes[m->ninodes].cur = NULL;
        m->inodes[m->ninodes].cur_len = m->inodes[m->ninodes].dur_len = 0;
        ns_set(&m->vol, o->a, m->ninodes++);
        break;
    case OP_WRITE:
        i = ns_find(&m->vol, o->a);
        if (i >= 0) {
            inode *in = &m->inodes[m->vol.ino[i]];
            in->cur = realloc(in->cur, in->cur_len + o->len + 1);
            memcpy(in->cur + in->cur_len, o->data, o->len);
            in->cur_len += o->len;
        }
        break;
    case OP_FSYNC:
        i = ns_find(&m->vol, o->a);
        if (i >= 0)
            m->inodes[m->vol.ino[i]].dur_len = m->inodes[m->vol.ino[i]].cur_len;
        break;
    case OP_RENAME:
        i = ns_find(&m->vol, o->a);
        if (i >= 0) {
            int ino = m->vol.ino[i];
            ns_del(&m->vol, o->a);
            ns_set(&m->vol, o->b, ino);
        }
        break;
    case OP_FSYNC_DIR: {
        /* The directory's entries become durable as they are now. */
        int k;
        for (k = m->dur.n - 1; k >= 0; k--) {
            dir_of(m->dur.name[k], d);
            if (strcmp(d, o->a) == 0)
                ns_del(&m->dur, m->dur.name[k]);
        }
        for (k = 0; k < m->vol.n; k++) {
            dir_of(m->vol.name[k], d);
            if (strcmp(d, o->a) == 0)
                ns_set(&m->dur, m->vol.name[k], m->vol.ino[k]);
        }
        break;
    }
    case OP_UNLINK:
        ns_del(&m->vol, o->a);
        break;
    default:
        break;
    }
}

/* Write the post-crash state: @p all_names keeps unsynced directory changes;
 * @p torn keeps half of each file's unsynced tail (else it is lost). */
static void materialise(const model *m, const char *root, int all_names, int torn)
{
    const ns *s = all_names ? &m->vol : &m->dur;
    size_t k;
    int i;
    tt_mkdir(root);
    for (k = 0; k < 4; k++) {
        char dir[256];
        snprintf(dir, sizeof dir, "%s/%s", root, subs[k]);
        tt_mkdir(dir);
    }
    for (i = 0; i < s->n; i++) {
        const inode *in = &m->inodes[s->ino[i]];
        size_t len = in->dur_len + (torn ? (in->cur_len - in->dur_len) / 2 : 0);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", root, s->name[i]);
        if (tt_write_file(path, in->cur, len) != 0)
            fprintf(stderr, "%s: write failed\n", path);
    }
}

/* ---- the scenario ---------------------------------------------------------------------- */

static int64_t t0 = 1800000000;
static int64_t clk(void *ud)
{
    (void)ud;
    return t0;
}

typedef struct expect {
    char id[8][40];
    unsigned char *eml[8];
    size_t eml_len[8];
    int n;
} expect;

static void enqueue_one(uavmail_outbox *q, const char *subject, char *id)
{
    uavmail_message *m;
    uavmail_message_new(&m, NULL);
    uavmail_message_set_from(m, "uav7@example.com", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL);
    uavmail_message_set_subject(m, subject);
    uavmail_message_set_text(m, "flight log\n.\nend\n", 17);
    CHECK_INT(uavmail_outbox_enqueue(q, m, 1, 0, NULL, id), 0);
    uavmail_message_free(m);
}

static void remember(expect *x, const char *root, const char *id)
{
    char path[512];
    snprintf(path, sizeof path, "%s/msg/%s.eml", root, id);
    snprintf(x->id[x->n], sizeof x->id[0], "%s", id);
    x->eml[x->n] = slurp(path, &x->eml_len[x->n]);
    x->n++;
}

typedef struct seen {
    char ids[16][40];
    int n, dup;
} seen;

static int see(const uavmail_outbox_entry *e, void *ud)
{
    seen *s = ud;
    int i;
    for (i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], e->id) == 0)
            s->dup = 1;
    if (s->n < 16)
        snprintf(s->ids[s->n++], 40, "%s", e->id);
    return 0;
}

static int listed(const seen *s, const char *id)
{
    int i;
    for (i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

/* Check one crash state.  @p must: entries that must be there;
 * @p may: entries that may be there (complete) or gone. */
static void check_state(const char *root, const expect *must, const expect *may, int *checked)
{
    uavmail_outbox_options qo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    uavmail_outbox *q;
    seen s;
    int i, k;
    fake_server *f = new_server();
    uavmail_transport tr;
    uavmail_session_options so = UAVMAIL_SESSION_OPTIONS_INIT;
    memset(&s, 0, sizeof s);
    qo.time_cb = clk;
    CHECK_INT(uavmail_outbox_open(&q, root, &qo), 0);
    uavmail_outbox_list(q, see, &s);
    CHECK(!s.dup);
    for (i = 0; i < must->n; i++)
        CHECK(listed(&s, must->id[i]));
    for (k = 0; k < s.n; k++) {
        int known = 0;
        for (i = 0; i < must->n; i++)
            known |= strcmp(s.ids[k], must->id[i]) == 0;
        for (i = 0; i < may->n; i++)
            known |= strcmp(s.ids[k], may->id[i]) == 0;
        CHECK(known); /* nothing unexpected becomes visible */
    }
    /* Whatever is listed is sent, and only complete messages go out. */
    fake_transport(&tr, f);
    so.host = "localhost";
    so.security = UAVMAIL_SECURITY_NONE;
    so.transport = &tr;
    t0 += 3600; /* past any back-off the crashed run scheduled */
    uavmail_outbox_flush(q, &so, NULL);
    t0 -= 3600;
    CHECK_INT(f->messages, s.n);
    for (k = 0; k < f->messages; k++) {
        int match = 0;
        for (i = 0; i < must->n; i++)
            match |= strstr(must->eml[i] ? (const char *)must->eml[i] : "", f->msgids[k]) != NULL;
        for (i = 0; i < may->n; i++)
            match |= may->eml[i] && strstr((const char *)may->eml[i], f->msgids[k]) != NULL;
        CHECK(match && f->msgids[k][0] != '\0');
    }
    uavmail_outbox_close(q);
    free(f);
    (*checked)++;
}

static int expected; /* crash states the enumeration must visit */

/* Enumerate every crash point of the recorded operations. */
static void enumerate(const char *base, const expect *must, const expect *may_before,
                      const expect *must_after, const expect *may, int *checked)
{
    int k, variant;
    expected += 4 * (rec.nops + 1);
    for (k = 0; k <= rec.nops; k++)
        for (variant = 0; variant < 4; variant++) {
            model m;
            char crash[64];
            int i;
            snprintf(crash, sizeof crash, "%s-crash", base);
            model_load(&m, base);
            for (i = 0; i < k; i++)
                apply(&m, &rec.ops[i]);
            tt_rmtree(crash);
            materialise(&m, crash, variant & 1, variant & 2);
            check_state(crash, k == rec.nops ? must_after : must, k == rec.nops ? may : may_before,
                        checked);
            tt_rmtree(crash);
            for (i = 0; i < m.ninodes; i++)
                free(m.inodes[i].cur);
        }
}

static void free_ops(void)
{
    int i;
    for (i = 0; i < rec.nops; i++)
        free(rec.ops[i].data);
    rec.nops = 0;
}

static void q02_crash_points(void)
{
    char base[64], work[80], id[3][40];
    uavmail_outbox_options qo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    uavmail__fs fs = recording;
    uavmail_outbox *q;
    expect before, after, none, maybe_new;
    int checked = 0, i;
    fake_server *f = new_server();
    uavmail_transport tr;
    uavmail_session_options so = UAVMAIL_SESSION_OPTIONS_INIT;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    memset(&none, 0, sizeof none);
    memset(&maybe_new, 0, sizeof maybe_new);
    qo.time_cb = clk;
    tt_tempdir(base, sizeof base, "uavmail-crash");
    /* Base state: two acknowledged messages. */
    CHECK_INT(uavmail_outbox_open(&q, base, &qo), 0);
    enqueue_one(q, "one", id[0]);
    enqueue_one(q, "two", id[1]);
    uavmail_outbox_close(q);
    remember(&before, base, id[0]);
    remember(&before, base, id[1]);

    /* 1. enqueue: the new message appears only complete, and surely once acknowledged. */
    snprintf(work, sizeof work, "%s-work", base);
    tt_copytree(base, work);
    rec.root = work;
    CHECK_INT(uavmail__outbox_open_fs(&q, work, &qo, &fs), 0);
    rec.nops = 0;
    enqueue_one(q, "three", id[2]);
    uavmail_outbox_close(q);
    after = before;
    remember(&after, work, id[2]);
    maybe_new.n = 0;
    remember(&maybe_new, work, id[2]);
    CHECK(rec.nops > 8);
    enumerate(base, &before, &maybe_new, &after, &none, &checked);
    free_ops();

    /* 2. flush: each message is either still queued intact or delivered. */
    tt_copytree(base, work);
    CHECK_INT(uavmail__outbox_open_fs(&q, work, &qo, &fs), 0);
    fake_transport(&tr, f);
    so.host = "localhost";
    so.security = UAVMAIL_SECURITY_NONE;
    so.transport = &tr;
    CHECK_INT(uavmail_outbox_flush(q, &so, NULL), 0);
    CHECK_INT(f->messages, 2);
    uavmail_outbox_close(q);
    enumerate(base, &none, &before, &none, &before, &checked);
    free_ops();

    /* 3. remove: the entry goes or stays whole; the other is untouched. */
    tt_copytree(base, work);
    CHECK_INT(uavmail__outbox_open_fs(&q, work, &qo, &fs), 0);
    CHECK_INT(uavmail_outbox_remove(q, id[0]), 0);
    uavmail_outbox_close(q);
    {
        expect keep, gone;
        memset(&keep, 0, sizeof keep);
        memset(&gone, 0, sizeof gone);
        keep.n = 1;
        snprintf(keep.id[0], 40, "%s", before.id[1]);
        keep.eml[0] = before.eml[1];
        keep.eml_len[0] = before.eml_len[1];
        gone.n = 1;
        snprintf(gone.id[0], 40, "%s", before.id[0]);
        gone.eml[0] = before.eml[0];
        gone.eml_len[0] = before.eml_len[0];
        enumerate(base, &keep, &gone, &keep, &none, &checked);
    }
    free_ops();

    /* 4. a temporary failure: the retry schedule is rewritten, both entries stay whole. */
    tt_copytree(base, work);
    CHECK_INT(uavmail__outbox_open_fs(&q, work, &qo, &fs), 0);
    free(f);
    f = new_server();
    f->final_reply = "451 4.3.0 try again later\r\n";
    fake_transport(&tr, f);
    so.transport = &tr;
    uavmail_outbox_flush(q, &so, NULL);
    CHECK_INT(f->messages, 0);
    uavmail_outbox_close(q);
    CHECK(rec.nops > 4);
    enumerate(base, &before, &none, &before, &none, &checked);
    free_ops();
    printf("crash states checked: %d (%d expected)\n", checked, expected);
    CHECK_INT(checked, expected);
    tt_rmtree(work);
    tt_rmtree(base);
    for (i = 0; i < before.n; i++)
        free(before.eml[i]);
    free(maybe_new.eml[0]);
    free(after.eml[2]);
    free(f);
}

static const tt_test tests[] = {
    TT(q02_crash_points),
};

TT_MAIN(tests)
