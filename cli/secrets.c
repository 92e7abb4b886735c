/*
 * Credential sources for the CLI: an environment variable, a file that only
 * its owner can read, or the output of a command (msmtp's passwordeval).
 * Copies are wiped after use.
 *
 * On Windows the command runs through cmd.exe (_popen), and a file's privacy
 * is its ACL's: the C runtime's mode bits cannot show who else may read it,
 * so only its presence is checked there (README, "Portability").
 */
#if !defined(_WIN32)
#define _POSIX_C_SOURCE 200809L
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(_WIN32)
#include <io.h>
#define O_CLOEXEC (_O_BINARY | _O_NOINHERIT)
#define open _open
#define read(fd, buf, n) _read((fd), (buf), (unsigned)((n) > 65536 ? 65536 : (n)))
#define close _close
#else
#include <sys/wait.h>
#include <unistd.h>
#endif

#include "secrets.h"

static void wipe(void *p, size_t n)
{
    volatile unsigned char *q = p;
    while (n--)
        *q++ = 0;
}

/* Drop one trailing line end (files and commands usually print one). */
static void chomp(char *buf, size_t *len)
{
    if (*len > 0 && buf[*len - 1] == '\n')
        (*len)--;
    if (*len > 0 && buf[*len - 1] == '\r')
        (*len)--;
}

int secret_file_check(const char *path, char *err, size_t cap)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, cap, "cannot read \"%s\": %s", path, strerror(errno));
        return -1;
    }
#if !defined(_WIN32)
    if (st.st_mode & 077) {
        snprintf(err, cap,
                 "\"%s\" is readable by other users (mode %03o); make it 0600 "
                 "(chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
#endif
    return 0;
}

/* Read everything from @p fd into @p buf: 0, -1 on a read error, -2 if there
 * is more than @p cap bytes.  Reads go straight into @p buf (no stdio buffer
 * that would keep a copy after it is freed). */
static int read_fd(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    for (;;) {
        char extra; /* a full buffer is fine if the end comes next */
        int full = *len == cap;
        ssize_t n = full ? read(fd, &extra, 1) : read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (full) {
            wipe(&extra, 1);
            return -2;
        }
        *len += (size_t)n;
    }
}

static int from_file(secret_source *s, char *buf, size_t cap, size_t *len)
{
    int fd, rc;
    if (secret_file_check(s->value, s->err, sizeof s->err) != 0)
        return -1;
    fd = open(s->value, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(s->err, sizeof s->err, "cannot open \"%s\": %s", s->value, strerror(errno));
        return -1;
    }
    rc = read_fd(fd, buf, cap, len);
    close(fd);
    if (rc != 0) {
        snprintf(s->err, sizeof s->err,
                 rc == -2 ? "\"%s\" is too long for a credential" : "cannot read \"%s\"",
                 s->value);
        return -1;
    }
    chomp(buf, len);
    return 0;
}

/* @p rc from read_fd(), @p status the command's exit status (-1: killed). */
static int command_result(secret_source *s, char *buf, size_t cap, size_t *len, int rc,
                          int status)
{
    if (rc == 0 && status == 0) {
        chomp(buf, len);
        return 0;
    }
    wipe(buf, cap);
    if (rc == -2)
        snprintf(s->err, sizeof s->err, "the credential command printed more than %zu bytes",
                 cap);
    else if (rc != 0)
        snprintf(s->err, sizeof s->err, "cannot read the credential command's output");
    else
        snprintf(s->err, sizeof s->err, "the credential command failed (exit status %d)", status);
    return -1;
}

#if defined(_WIN32)
static int from_command(secret_source *s, char *buf, size_t cap, size_t *len)
{
    FILE *p = _popen(s->value, "rb");
    int status, rc;
    *len = 0;
    if (p == NULL) {
        snprintf(s->err, sizeof s->err, "cannot run the credential command: %s",
                 strerror(errno));
        return -1;
    }
    rc = read_fd(_fileno(p), buf, cap, len); /* past the stream's buffer: no stray copy */
    status = _pclose(p);
    return command_result(s, buf, cap, len, rc, status);
}
#else
static int from_command(secret_source *s, char *buf, size_t cap, size_t *len)
{
    int pipefd[2], status = 0, rc;
    pid_t pid;
    if (pipe(pipefd) != 0) {
        snprintf(s->err, sizeof s->err, "pipe: %s", strerror(errno));
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        snprintf(s->err, sizeof s->err, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execl("/bin/sh", "sh", "-c", s->value, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    rc = read_fd(pipefd[0], buf, cap, len);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return command_result(s, buf, cap, len, rc, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
#endif

int secret_fetch(secret_source *s, char *buf, size_t cap, size_t *len)
{
    int rc;
    s->err[0] = '\0';
    switch (s->kind) {
    case SECRET_ENV: {
        const char *v = getenv(s->value);
        if (v == NULL || strlen(v) > cap) {
            snprintf(s->err, sizeof s->err, "environment variable %s is not set", s->value);
            return -1;
        }
        *len = strlen(v);
        memcpy(buf, v, *len);
        return 0;
    }
    case SECRET_LITERAL: /* from the private configuration file */
        *len = strlen(s->value);
        if (*len > cap) {
            snprintf(s->err, sizeof s->err, "the configured password is too long");
            return -1;
        }
        memcpy(buf, s->value, *len);
        return 0;
    case SECRET_FILE: rc = from_file(s, buf, cap, len); break;
    case SECRET_CMD: rc = from_command(s, buf, cap, len); break;
    default:
        snprintf(s->err, sizeof s->err, "no credential source configured");
        return -1;
    }
    if (rc != 0)
        wipe(buf, cap);
    return rc;
}
