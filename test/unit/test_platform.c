/*
 * The platform layer's file contract (lib/platform.h), the same checks for
 * platform_posix.c and platform_win32.c (under wine): atomic replace,
 * durable-write primitives, listing, advisory locks, positioned reads.
 * Runs in the test's build directory (meson's workdir).
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L /* fileno() */
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "platform.h"
#include "tt.h"

#if defined(_WIN32)
#define fileno _fileno
#endif

#define DIR_ "platform-test.d"

static uavmail__alloc al;

static void wipe(void)
{
    static const char *const names[] = {"a", "b", "c", "l", "x", "y"};
    const uavmail__fs *fs = uavmail__plat_fs();
    char path[64];
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, DIR_ "/%s", names[i]);
        fs->unlink(fs->ud, path);
    }
}

static int read_equals(const char *path, const char *want)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    int ok;
    if (uavmail__plat_read_all(&al, path, &buf, &len, 1 << 20) != 0)
        return 0;
    ok = len == strlen(want) && memcmp(buf, want, len) == 0;
    uavmail__free(&al, buf);
    return ok;
}

static int write_file(const char *path, const char *text, int commit)
{
    uavmail__wfile *f;
    char why[128];
    if (uavmail__plat_wfile_open(&f, &al, path, 1, why, sizeof why) != 0)
        return -1;
    if (uavmail__plat_wfile_write(f, text, strlen(text)) != 0)
        commit = 0;
    return uavmail__plat_wfile_close(f, commit, why, sizeof why);
}

typedef struct names {
    char all[256];
    int n;
} names;

static int collect(const char *name, void *ud)
{
    names *ns = ud;
    size_t used = strlen(ns->all);
    snprintf(ns->all + used, sizeof ns->all - used, "%s;", name);
    ns->n++;
    return 0;
}

static void test_mkdir_private(void)
{
    CHECK_INT(uavmail__plat_mkdir_private(DIR_), 0);
    CHECK_INT(uavmail__plat_mkdir_private(DIR_), 0); /* already there */
    wipe();
    CHECK_INT(write_file(DIR_ "/a", "x", 1), 0);
    CHECK_INT(uavmail__plat_mkdir_private(DIR_ "/a"), -ENOTDIR);
    CHECK(uavmail__plat_same_device(DIR_, DIR_ "/a"));
}

static void test_atomic_replace(void)
{
    names ns;
    uavmail__plat_mkdir_private(DIR_);
    wipe();
    CHECK_INT(write_file(DIR_ "/a", "first", 1), 0);
    CHECK(read_equals(DIR_ "/a", "first"));
    CHECK_INT(write_file(DIR_ "/a", "second, longer", 1), 0); /* replaces an existing file */
    CHECK(read_equals(DIR_ "/a", "second, longer"));
    CHECK_INT(write_file(DIR_ "/a", "never", 0), 0);           /* discarded */
    CHECK(read_equals(DIR_ "/a", "second, longer"));
    CHECK_INT(uavmail__plat_path_size(DIR_ "/a"), 14);
    memset(&ns, 0, sizeof ns);
    CHECK_INT(uavmail__plat_list(DIR_, collect, &ns), 0);
    CHECK_STR(ns.all, "a;"); /* no temporary file left behind */
}

static void test_durable_primitives(void)
{
    const uavmail__fs *fs = uavmail__plat_fs();
    int fd = -1, fd2 = -1;
    uavmail__plat_mkdir_private(DIR_);
    wipe();
    CHECK_INT(write_file(DIR_ "/y", "old", 1), 0);
    CHECK_INT(fs->create(fs->ud, DIR_ "/x", &fd), 0);
    CHECK_INT(fs->create(fs->ud, DIR_ "/x", &fd2), -EEXIST); /* exclusive create */
    CHECK_INT(fs->write(fs->ud, fd, "new entry", 9), 0);
    CHECK_INT(fs->fsync(fs->ud, fd), 0);
    CHECK_INT(fs->close(fs->ud, fd), 0);
    CHECK_INT(fs->rename(fs->ud, DIR_ "/x", DIR_ "/y"), 0); /* over an existing file */
    CHECK_INT(fs->fsync_dir(fs->ud, DIR_), 0);
    CHECK(read_equals(DIR_ "/y", "new entry"));
    CHECK_INT(uavmail__plat_path_size(DIR_ "/x"), -1);
    CHECK_INT(fs->unlink(fs->ud, DIR_ "/y"), 0);
    CHECK_INT(fs->unlink(fs->ud, DIR_ "/y"), 0); /* already gone is fine */
    CHECK_INT(fs->rename(fs->ud, DIR_ "/x", DIR_ "/c"), -ENOENT);
}

static void test_list(void)
{
    names ns;
    uavmail__plat_mkdir_private(DIR_);
    wipe();
    write_file(DIR_ "/a", "1", 1);
    write_file(DIR_ "/b", "2", 1);
    memset(&ns, 0, sizeof ns);
    CHECK_INT(uavmail__plat_list(DIR_, collect, &ns), 0);
    CHECK_INT(ns.n, 2);
    CHECK(strstr(ns.all, "a;") != NULL && strstr(ns.all, "b;") != NULL);
    CHECK_INT(uavmail__plat_list(DIR_ "/missing", collect, &ns), -ENOENT);
}

static void test_lock(void)
{
    int h1, h2, h3;
    uavmail__plat_mkdir_private(DIR_);
    h1 = uavmail__plat_lock(DIR_ "/l", UAVMAIL__LOCK_TRY);
    CHECK(h1 >= 0);
    h2 = uavmail__plat_lock(DIR_ "/l", UAVMAIL__LOCK_TRY); /* another open: conflicts */
    CHECK_INT(h2, -EWOULDBLOCK);
    uavmail__plat_unlock(h1);
    h3 = uavmail__plat_lock(DIR_ "/l", UAVMAIL__LOCK_TRY);
    CHECK(h3 >= 0);
    uavmail__plat_unlock(h3);
}

static void test_reads(void)
{
    uavmail__file *f = NULL;
    char why[128] = "", buf[16];
    unsigned char *all = NULL;
    size_t len = 0;
    FILE *fp;
    uavmail__plat_mkdir_private(DIR_);
    wipe();
    write_file(DIR_ "/a", "0123456789", 1);
    CHECK_INT(uavmail__plat_file_open(&f, &al, DIR_ "/a", why, sizeof why), 0);
    if (f != NULL) {
        CHECK_INT(uavmail__plat_file_size(f), 10);
        CHECK_INT(uavmail__plat_file_read(f, buf, 4), 4);
        CHECK_MEM(buf, 4, "0123", 4);
        CHECK_INT(uavmail__plat_file_read(f, buf, sizeof buf), 6);
        CHECK_INT(uavmail__plat_file_read(f, buf, sizeof buf), 0);
        uavmail__plat_file_close(f);
    }
    CHECK_INT(uavmail__plat_file_open(&f, &al, DIR_, why, sizeof why), -1);
    CHECK(why[0] != '\0');
    CHECK_INT(uavmail__plat_file_open(&f, &al, DIR_ "/missing", why, sizeof why), -1);
    CHECK_INT(uavmail__plat_read_all(&al, DIR_ "/a", &all, &len, 5), -EFBIG);
    fp = fopen(DIR_ "/a", "rb");
    CHECK(fp != NULL);
    if (fp != NULL) {
        CHECK_INT(uavmail__plat_fd_size(fileno(fp)), 10);
        CHECK_INT(uavmail__plat_fd_pread(fileno(fp), buf, 3, 7), 3);
        CHECK_MEM(buf, 3, "789", 3);
        CHECK_INT(uavmail__plat_fd_pread(fileno(fp), buf, 3, 10), 0);
        fclose(fp);
    }
}

static void test_clock_and_random(void)
{
    unsigned char a[32], b[32];
    uint64_t t0 = uavmail__plat_now_ms();
    CHECK(uavmail__plat_time() > 1700000000);
    CHECK(uavmail__plat_now_ms() >= t0);
    CHECK_INT(uavmail__plat_random(a, sizeof a), 0);
    CHECK_INT(uavmail__plat_random(b, sizeof b), 0);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_INT(uavmail__plat_parse_ip("192.0.2.1", a), 4);
    CHECK_INT(uavmail__plat_parse_ip("2001:db8::1", a), 16);
    CHECK_INT(uavmail__plat_parse_ip("example.net", a), 0);
}

static const tt_test tests[] = {
    TT(test_mkdir_private), TT(test_atomic_replace), TT(test_durable_primitives), TT(test_list),
    TT(test_lock),          TT(test_reads),          TT(test_clock_and_random),
};

int main(int argc, char **argv)
{
    uavmail__alloc_init(&al, NULL);
    return tt_run(tests, UAVMAIL__ARRAY_LEN(tests), argc, argv);
}
