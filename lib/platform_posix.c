/*
 * POSIX implementation of the platform contract.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#if defined(HAVE_GETRANDOM)
#include <sys/random.h>
#endif

#include "platform.h"

uint64_t uavmail__plat_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t uavmail__plat_time(void)
{
    return (int64_t)time(NULL);
}

int uavmail__plat_utc_offset_min(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm lt;
    if (localtime_r(&tt, &lt) == NULL)
        return 0;
    return (int)(lt.tm_gmtoff / 60);
}

int uavmail__plat_random(void *buf, size_t n)
{
    unsigned char *p = buf;
#if defined(HAVE_GETRANDOM)
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        p += r;
        n -= (size_t)r;
    }
    if (n == 0)
        return 0;
#endif
    {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        while (n > 0) {
            ssize_t r = read(fd, p, n);
            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                close(fd);
                return -1;
            }
            p += r;
            n -= (size_t)r;
        }
        close(fd);
    }
    return 0;
}

const char *uavmail__plat_default_ca_bundle(void)
{
    static const char *const candidates[] = {
        "/etc/ssl/certs/ca-certificates.crt", /* Debian, Ubuntu, Alpine */
        "/etc/pki/tls/certs/ca-bundle.crt",   /* Fedora, RHEL */
        "/etc/ssl/ca-bundle.pem",             /* openSUSE */
        "/etc/ssl/cert.pem",                  /* macOS, BSD */
    };
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(candidates); i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return NULL;
}

size_t uavmail__plat_parse_ip(const char *host, unsigned char out[16])
{
    if (inet_pton(AF_INET, host, out) == 1)
        return 4;
    if (inet_pton(AF_INET6, host, out) == 1)
        return 16;
    return 0;
}

int uavmail__plat_resolve(const char *host, unsigned port, char *out, size_t cap)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int count = 0;
    size_t used = 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(service, sizeof service, "%u", port);
    out[0] = '\0';
    if (getaddrinfo(host, service, &hints, &res) != 0)
        return -1;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN] = "";
        if (ai->ai_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, ip, sizeof ip);
        else if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, ip, sizeof ip);
        if (ip[0] == '\0' || strstr(out, ip) != NULL || used + strlen(ip) + 3 >= cap)
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s%s", count ? ", " : "", ip);
        count++;
    }
    freeaddrinfo(res);
    return count;
}

int uavmail__plat_fqdn(char *buf, size_t cap)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        return -1;
    name[sizeof name - 1] = '\0';
    if (strchr(name, '.') == NULL || strlen(name) >= cap)
        return -1;
    uavmail__strlcpy(buf, name, cap);
    return 0;
}

/* ---- files ---------------------------------------------------------------- */

struct uavmail__file {
    const uavmail__alloc *alloc;
    int fd;
};

static void why_errno(char *why, size_t cap, int e)
{
    uavmail__strlcpy(why, strerror(e), cap);
}

int uavmail__plat_file_open(uavmail__file **out, const uavmail__alloc *a, const char *path,
                            char *why, size_t why_cap)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uavmail__file *f;
    if (fd < 0) {
        why_errno(why, why_cap, errno);
        return -1;
    }
    if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        why_errno(why, why_cap, S_ISDIR(st.st_mode) ? EISDIR : errno);
        close(fd);
        return -1;
    }
    f = uavmail__malloc(a, sizeof *f);
    if (f == NULL) {
        close(fd);
        why_errno(why, why_cap, ENOMEM);
        return -1;
    }
    f->alloc = a;
    f->fd = fd;
    *out = f;
    return 0;
}

long uavmail__plat_file_read(uavmail__file *f, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = read(f->fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        return (long)r;
    }
}

int64_t uavmail__plat_file_size(uavmail__file *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (int64_t)st.st_size;
}

void uavmail__plat_file_close(uavmail__file *f)
{
    if (f == NULL)
        return;
    close(f->fd);
    uavmail__free(f->alloc, f);
}

long uavmail__plat_fd_pread(int fd, void *buf, size_t n, uint64_t offset)
{
    for (;;) {
        ssize_t r = pread(fd, buf, n, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        return (long)r;
    }
}

int64_t uavmail__plat_fd_size(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (int64_t)st.st_size;
}

struct uavmail__wfile {
    const uavmail__alloc *alloc;
    int fd;
    char *path;
    char *tmp;
};

static void wfile_free(uavmail__wfile *f)
{
    uavmail__free(f->alloc, f->tmp);
    uavmail__free(f->alloc, f->path);
    uavmail__free(f->alloc, f);
}

int uavmail__plat_wfile_open(uavmail__wfile **out, const uavmail__alloc *a, const char *path,
                             int private_mode, char *why, size_t why_cap)
{
    uavmail__wfile *f = uavmail__calloc(a, 1, sizeof *f);
    size_t n = strlen(path);
    if (f == NULL) {
        why_errno(why, why_cap, ENOMEM);
        return -1;
    }
    f->alloc = a;
    f->path = uavmail__strdup(a, path);
    f->tmp = uavmail__malloc(a, n + 16);
    if (f->path == NULL || f->tmp == NULL) {
        wfile_free(f);
        why_errno(why, why_cap, ENOMEM);
        return -1;
    }
    snprintf(f->tmp, n + 16, "%s.tmp%05u", path, (unsigned)getpid() % 100000u);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, private_mode ? 0600 : 0644);
    if (f->fd < 0) {
        why_errno(why, why_cap, errno);
        wfile_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

int uavmail__plat_wfile_write(uavmail__wfile *f, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int uavmail__plat_wfile_close(uavmail__wfile *f, int commit, char *why, size_t why_cap)
{
    int rc = 0;
    if (commit && fsync(f->fd) != 0) {
        why_errno(why, why_cap, errno);
        rc = -1;
    }
    if (close(f->fd) != 0 && rc == 0 && commit) {
        why_errno(why, why_cap, errno);
        rc = -1;
    }
    if (commit && rc == 0 && rename(f->tmp, f->path) != 0) {
        why_errno(why, why_cap, errno);
        rc = -1;
    }
    if (!commit || rc != 0)
        unlink(f->tmp);
    wfile_free(f);
    return rc;
}

/* ---- outbox directories ------------------------------------------------------------ */

int uavmail__plat_mkdir_private(const char *path)
{
    struct stat st;
    if (mkdir(path, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    if (stat(path, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if ((st.st_mode & 077) != 0 && chmod(path, 0700) != 0)
        return -errno;
    return 0;
}

int uavmail__plat_same_device(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev;
}

int uavmail__plat_list(const char *dir, int (*cb)(const char *name, void *ud), void *ud)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (cb(e->d_name, ud) != 0)
            break;
    }
    closedir(d);
    return 0;
}

int uavmail__plat_read_all(const uavmail__alloc *a, const char *path, unsigned char **buf,
                           size_t *len, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t got = 0;
    unsigned char *p;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
        int e = (uint64_t)st.st_size > max ? EFBIG : errno;
        close(fd);
        return -e;
    }
    p = uavmail__malloc(a, (size_t)st.st_size + 1);
    if (p == NULL) {
        close(fd);
        return -ENOMEM;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    *buf = p;
    *len = got;
    return 0;
}

int64_t uavmail__plat_path_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

int uavmail__plat_lock(const char *path, int how)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), r;
    if (fd < 0)
        return -errno;
    do
        r = flock(fd, how == UAVMAIL__LOCK_TRY      ? LOCK_EX | LOCK_NB
                      : how == UAVMAIL__LOCK_SHARED ? LOCK_SH
                                                    : LOCK_EX);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

void uavmail__plat_unlock(int handle)
{
    if (handle >= 0)
        close(handle); /* releases the flock */
}

static int fs_create(void *ud, const char *path, int *fd)
{
    (void)ud;
    *fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    return *fd < 0 ? -errno : 0;
}

static int fs_write(void *ud, int fd, const void *buf, size_t n)
{
    const char *p = buf;
    (void)ud;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fs_fsync(void *ud, int fd)
{
    (void)ud;
    return fsync(fd) == 0 ? 0 : -errno;
}

static int fs_close(void *ud, int fd)
{
    (void)ud;
    return close(fd) == 0 ? 0 : -errno;
}

static int fs_rename(void *ud, const char *from, const char *to)
{
    (void)ud;
    return rename(from, to) == 0 ? 0 : -errno;
}

static int fs_fsync_dir(void *ud, const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;
    (void)ud;
    if (fd < 0)
        return -errno;
    rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static int fs_unlink(void *ud, const char *path)
{
    (void)ud;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
}

static const uavmail__fs posix_fs = {fs_create, fs_write, fs_fsync, fs_close,
                                     fs_rename, fs_fsync_dir, fs_unlink, NULL};

const uavmail__fs *uavmail__plat_fs(void)
{
    return &posix_fs;
}

/* ---- TCP transport ----------------------------------------------------------- */

/* The connection pointer carries the descriptor (+1, so it is never NULL):
 * the built-in transport allocates nothing. */
static void *fd_to_conn(int fd)
{
    return (void *)((uintptr_t)fd + 1);
}

static int conn_to_fd(void *conn)
{
    return (int)((uintptr_t)conn - 1);
}

static int wait_fd(int fd, short events, unsigned timeout_ms)
{
    struct pollfd pfd;
    uint64_t deadline = uavmail__plat_now_ms() + timeout_ms;
    pfd.fd = fd;
    pfd.events = events;
    for (;;) {
        uint64_t now = uavmail__plat_now_ms();
        int left = now >= deadline ? 0 : (int)(deadline - now);
        int r = poll(&pfd, 1, left);
        if (r > 0)
            return 0;
        if (r == 0)
            return UAVMAIL_ETIMEOUT;
        if (errno != EINTR)
            return UAVMAIL_EIO;
    }
}

static int try_connect(const struct addrinfo *ai, unsigned timeout_ms, int *out_fd)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1, err = 0;
    socklen_t len = sizeof err;
    if (fd < 0)
        return UAVMAIL_ECONNECT;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int rc;
        if (errno != EINPROGRESS) {
            close(fd);
            return UAVMAIL_ECONNECT;
        }
        rc = wait_fd(fd, POLLOUT, timeout_ms);
        if (rc != 0) {
            close(fd);
            return rc;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            close(fd);
            return UAVMAIL_ECONNECT;
        }
    }
    /* Commands are small and latency matters more than packet count. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
#ifdef SO_NOSIGPIPE
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    *out_fd = fd;
    return 0;
}

/* Finish a non-blocking connect started earlier (timeout 0 mode). */
static int tcp_connect_finish(void *conn)
{
    int fd = conn_to_fd(conn), err = 0, one = 1;
    socklen_t len = sizeof err;
    struct pollfd pfd;
    pfd.fd = fd;
    pfd.events = POLLOUT;
    if (poll(&pfd, 1, 0) == 0)
        return UAVMAIL_EAGAIN;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return UAVMAIL_ECONNECT; /* the library closes *conn */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

static int tcp_connect(void **conn, const char *host, unsigned port, unsigned timeout_ms,
                       void *ud)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int rc = UAVMAIL_ECONNECT, fd = -1;
    (void)ud;
    if (*conn != NULL)
        return tcp_connect_finish(*conn);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
        return UAVMAIL_ERESOLVE;
    if (timeout_ms == 0) {
        /* Non-blocking: start with the first address; finish later. */
        fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    res->ai_protocol);
        if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0 && errno != EINPROGRESS) {
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0)
            return UAVMAIL_ECONNECT;
        *conn = fd_to_conn(fd);
        return UAVMAIL_EAGAIN;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        rc = try_connect(ai, timeout_ms, &fd);
        if (rc == 0)
            break;
    }
    freeaddrinfo(res);
    if (rc != 0)
        return rc;
    *conn = fd_to_conn(fd);
    return 0;
}

static long tcp_send(void *conn, const unsigned char *buf, size_t len, unsigned timeout_ms,
                     void *ud)
{
    int fd = conn_to_fd(conn);
    (void)ud;
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLOUT, timeout_ms);
            if (rc != 0)
                return rc;
            continue;
        }
        return UAVMAIL_EIO;
    }
}

static long tcp_recv(void *conn, unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    int fd = conn_to_fd(conn);
    (void)ud;
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n >= 0)
            return (long)n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int rc = wait_fd(fd, POLLIN, timeout_ms);
            if (rc != 0)
                return rc;
            continue;
        }
        return UAVMAIL_EIO;
    }
}

static void tcp_close(void *conn, void *ud)
{
    (void)ud;
    if (conn != NULL)
        close(conn_to_fd(conn));
}

static int tcp_local_address(void *conn, char *buf, size_t cap, void *ud)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    (void)ud;
    if (getsockname(conn_to_fd(conn), (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        uavmail__snprintf(buf, cap, "[%s]", ip);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        uavmail__snprintf(buf, cap, "[IPv6:%s]", ip);
    } else {
        return -1;
    }
    return 0;
}

static int tcp_fd(void *conn, void *ud)
{
    (void)ud;
    return conn_to_fd(conn);
}

static const uavmail_transport tcp_transport = {
    UAVMAIL_TRANSPORT_VERSION, tcp_connect, tcp_send, tcp_recv, tcp_close, tcp_local_address, NULL,
    tcp_fd,
};

const uavmail_transport *uavmail__plat_tcp_transport(void)
{
    return &tcp_transport;
}
