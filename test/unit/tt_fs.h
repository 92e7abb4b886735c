/*
 * File-system helpers for the outbox tests, the same on POSIX and Windows
 * (mingw-w64 under wine): a fresh temporary directory, mkdir, recursive copy
 * and removal, a file's permission bits, and writing a file's bytes exactly.
 */
#ifndef UAVMAIL_TT_FS_H
#define UAVMAIL_TT_FS_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TT_UNUSED __attribute__((unused))

#if defined(_WIN32)
#include <direct.h>
#include <io.h>
#include <windows.h>
#define TT_MKDIR(p) _mkdir(p)
#else
#include <unistd.h>
#define TT_MKDIR(p) mkdir((p), 0700)
#endif

/* Create a new, empty directory "<temp>/<prefix>-XXXXXX" into @p buf (abort
 * if it does not fit). */
TT_UNUSED static void tt_tempdir(char *buf, size_t cap, const char *prefix)
{
#if defined(_WIN32)
    char base[MAX_PATH + 1];
    DWORD n = GetTempPathA(sizeof base, base);
    unsigned k;
    if (n == 0 || n > MAX_PATH)
        abort();
    for (k = 0; k < 1000; k++) {
        unsigned long tag = (GetTickCount() + GetCurrentProcessId() * 7919u + k) % 1000000u;
        if ((size_t)snprintf(buf, cap, "%s%s-%06lu", base, prefix, tag) >= cap)
            break;
        if (_mkdir(buf) == 0)
            return;
        if (errno != EEXIST)
            break;
    }
    abort();
#else
    if ((size_t)snprintf(buf, cap, "/tmp/%s-XXXXXX", prefix) >= cap || mkdtemp(buf) == NULL)
        abort();
#endif
}

TT_UNUSED static int tt_mkdir(const char *path)
{
    return TT_MKDIR(path);
}

/* Permission bits of @p path (0 if it does not exist).  Windows reports only
 * the read-only attribute this way; the outbox relies on inherited ACLs there. */
TT_UNUSED static unsigned tt_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (unsigned)st.st_mode & 0777u : 0u;
}

TT_UNUSED static int tt_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Replace @p path's contents with @p len bytes of @p data, byte for byte. */
TT_UNUSED static int tt_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL)
        return -1;
    ok = len == 0 || fwrite(data, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    return ok ? 0 : -1;
}

TT_UNUSED static void tt_rmtree(const char *path)
{
    DIR *d;
    struct dirent *e;
    if (!tt_is_dir(path)) {
        remove(path);
        return;
    }
    d = opendir(path);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char sub[1024];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        tt_rmtree(sub);
    }
    if (d != NULL)
        closedir(d);
    if (rmdir(path) != 0)
        fprintf(stderr, "tt_rmtree: %s: %s\n", path, strerror(errno));
}

/* Copy the tree @p from to @p to (which is removed first), keeping file modes. */
TT_UNUSED static void tt_copytree(const char *from, const char *to)
{
    DIR *d;
    struct dirent *e;
    tt_rmtree(to);
    if (!tt_is_dir(from)) {
        FILE *in = fopen(from, "rb"), *out = in != NULL ? fopen(to, "wb") : NULL;
        char buf[4096];
        size_t n;
        while (out != NULL && (n = fread(buf, 1, sizeof buf, in)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                fprintf(stderr, "tt_copytree: short write to %s\n", to);
        if (in != NULL)
            fclose(in);
        if (out == NULL || fclose(out) != 0)
            fprintf(stderr, "tt_copytree: cannot copy %s to %s\n", from, to);
#if !defined(_WIN32)
        chmod(to, tt_mode(from));
#endif
        return;
    }
    if (tt_mkdir(to) != 0)
        fprintf(stderr, "tt_copytree: mkdir %s: %s\n", to, strerror(errno));
#if !defined(_WIN32)
    chmod(to, tt_mode(from));
#endif
    d = opendir(from);
    while (d != NULL && (e = readdir(d)) != NULL) {
        char a[1024], b[1024];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(a, sizeof a, "%s/%s", from, e->d_name);
        snprintf(b, sizeof b, "%s/%s", to, e->d_name);
        tt_copytree(a, b);
    }
    if (d != NULL)
        closedir(d);
}

#endif
