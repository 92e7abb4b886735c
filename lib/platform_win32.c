/*
 * Windows implementation of the platform contract (Winsock, Win32 files).
 *
 * Paths are UTF-8 in the library and converted to UTF-16 for the W calls.
 * Durability: a committed file is flushed (FlushFileBuffers) and renamed
 * over the old one with MoveFileExW(MOVEFILE_REPLACE_EXISTING |
 * MOVEFILE_WRITE_THROUGH), which returns only once the rename is on disk;
 * NTFS journals directory changes, so there is no directory fsync
 * (fsync_dir succeeds without doing anything).  Private files and
 * directories rely on the inherited ACL (a user's profile, e.g.
 * %LOCALAPPDATA%, is owner-only); there is no chmod.  Errors are reported as
 * negative errno values, mapped from GetLastError()/WSAGetLastError().
 */
#define WIN32_LEAN_AND_MEAN
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* Vista: inet_pton, GetTickCount64 */
#endif

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <bcrypt.h>
#include <errno.h>
#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "platform.h"

#define WPATH_MAX 1024 /* UTF-16 units per path, terminator included */

uint64_t uavmail__plat_now_ms(void)
{
    return (uint64_t)GetTickCount64();
}

int64_t uavmail__plat_time(void)
{
    return (int64_t)time(NULL);
}

int uavmail__plat_utc_offset_min(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm lt;
    if (localtime_s(&lt, &tt) != 0)
        return 0;
    return (int)((_mkgmtime(&lt) - tt) / 60);
}

int uavmail__plat_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ULONG chunk = n > 0x10000000u ? 0x10000000u : (ULONG)n;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return -1;
        p += chunk;
        n -= chunk;
    }
    return 0;
}

/* Windows keeps its trusted roots in a certificate store, not a PEM file:
 * applications pass a CA file (uavmail_session_options.cafile). */
const char *uavmail__plat_default_ca_bundle(void)
{
    return NULL;
}

/* Winsock is reference-counted by the system: every user takes a reference. */
static int winsock_up(void)
{
    WSADATA wsa;
    return WSAStartup(MAKEWORD(2, 2), &wsa) == 0 ? 0 : -1;
}

size_t uavmail__plat_parse_ip(const char *host, unsigned char out[16])
{
    size_t n = 0;
    if (winsock_up() != 0)
        return 0;
    if (inet_pton(AF_INET, host, out) == 1)
        n = 4;
    else if (inet_pton(AF_INET6, host, out) == 1)
        n = 16;
    WSACleanup();
    return n;
}

static void ip_text(const struct sockaddr *sa, char *ip, size_t cap)
{
    ip[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, ip, cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, ip, cap);
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
    if (winsock_up() != 0)
        return -1;
    if (getaddrinfo(host, service, &hints, &res) != 0) {
        WSACleanup();
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        ip_text(ai->ai_addr, ip, sizeof ip);
        if (ip[0] == '\0' || strstr(out, ip) != NULL || used + strlen(ip) + 3 >= cap)
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s%s", count ? ", " : "", ip);
        count++;
    }
    freeaddrinfo(res);
    WSACleanup();
    return count;
}

int uavmail__plat_fqdn(char *buf, size_t cap)
{
    char name[256];
    DWORD n = sizeof name;
    if (!GetComputerNameExA(ComputerNameDnsFullyQualified, name, &n))
        return -1;
    if (strchr(name, '.') == NULL || strlen(name) >= cap)
        return -1;
    uavmail__strlcpy(buf, name, cap);
    return 0;
}

/* ---- errors and paths ------------------------------------------------------- */

static int errno_of(DWORD e)
{
    switch (e) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
        return ENOENT;
    case ERROR_FILE_EXISTS:
    case ERROR_ALREADY_EXISTS:
        return EEXIST;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
        return EACCES;
    case ERROR_LOCK_VIOLATION:
    case ERROR_IO_PENDING:
        return EWOULDBLOCK;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
        return ENOMEM;
    case ERROR_DIRECTORY:
        return ENOTDIR;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    default:
        return EIO;
    }
}

static int last_errno(void)
{
    return errno_of(GetLastError());
}

static void why_errno(char *why, size_t cap, int e)
{
    uavmail__strlcpy(why, strerror(e), cap);
}

/* UTF-8 to UTF-16 into @p w (WPATH_MAX units); 0 or -errno. */
static int widen(const char *s, wchar_t *w)
{
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, WPATH_MAX) == 0)
        return GetLastError() == ERROR_INSUFFICIENT_BUFFER ? -ENAMETOOLONG : -EINVAL;
    return 0;
}

static HANDLE open_w(const char *path, DWORD access, DWORD share, DWORD disposition, int *err)
{
    wchar_t w[WPATH_MAX];
    HANDLE h;
    int rc = widen(path, w);
    if (rc != 0) {
        *err = -rc;
        return INVALID_HANDLE_VALUE;
    }
    h = CreateFileW(w, access, share, NULL, disposition, FILE_ATTRIBUTE_NORMAL, NULL);
    if (h == INVALID_HANDLE_VALUE)
        *err = last_errno();
    return h;
}

#define SHARE_ALL (FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)

/* ---- files ------------------------------------------------------------------- */

struct uavmail__file {
    const uavmail__alloc *alloc;
    HANDLE h;
};

int uavmail__plat_file_open(uavmail__file **out, const uavmail__alloc *a, const char *path,
                            char *why, size_t why_cap)
{
    int err = 0;
    BY_HANDLE_FILE_INFORMATION info;
    HANDLE h = open_w(path, GENERIC_READ, SHARE_ALL, OPEN_EXISTING, &err);
    uavmail__file *f;
    if (h == INVALID_HANDLE_VALUE) {
        /* Opening a directory without backup semantics is "access denied". */
        wchar_t w[WPATH_MAX];
        DWORD attr = widen(path, w) == 0 ? GetFileAttributesW(w) : INVALID_FILE_ATTRIBUTES;
        why_errno(why, why_cap,
                  attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY) ? EISDIR : err);
        return -1;
    }
    if (!GetFileInformationByHandle(h, &info) ||
        (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0) {
        why_errno(why, why_cap, EISDIR);
        CloseHandle(h);
        return -1;
    }
    f = uavmail__malloc(a, sizeof *f);
    if (f == NULL) {
        CloseHandle(h);
        why_errno(why, why_cap, ENOMEM);
        return -1;
    }
    f->alloc = a;
    f->h = h;
    *out = f;
    return 0;
}

static long read_handle(HANDLE h, void *buf, size_t n, const uint64_t *offset)
{
    DWORD got = 0, want = n > 0x40000000u ? 0x40000000u : (DWORD)n;
    OVERLAPPED ov;
    memset(&ov, 0, sizeof ov);
    if (offset != NULL) {
        ov.Offset = (DWORD)*offset;
        ov.OffsetHigh = (DWORD)(*offset >> 32);
    }
    if (!ReadFile(h, buf, want, &got, offset != NULL ? &ov : NULL))
        return GetLastError() == ERROR_HANDLE_EOF ? 0 : -1;
    return (long)got;
}

long uavmail__plat_file_read(uavmail__file *f, void *buf, size_t n)
{
    return read_handle(f->h, buf, n, NULL);
}

static int64_t handle_size(HANDLE h)
{
    LARGE_INTEGER size;
    if (GetFileType(h) != FILE_TYPE_DISK || !GetFileSizeEx(h, &size))
        return -1;
    return (int64_t)size.QuadPart;
}

int64_t uavmail__plat_file_size(uavmail__file *f)
{
    return handle_size(f->h);
}

void uavmail__plat_file_close(uavmail__file *f)
{
    if (f == NULL)
        return;
    CloseHandle(f->h);
    uavmail__free(f->alloc, f);
}

/* An application's descriptor is a C runtime descriptor (_open, _fileno). */
long uavmail__plat_fd_pread(int fd, void *buf, size_t n, uint64_t offset)
{
    intptr_t h = _get_osfhandle(fd);
    if (h == -1)
        return -1;
    return read_handle((HANDLE)h, buf, n, &offset);
}

int64_t uavmail__plat_fd_size(int fd)
{
    intptr_t h = _get_osfhandle(fd);
    return h == -1 ? -1 : handle_size((HANDLE)h);
}

struct uavmail__wfile {
    const uavmail__alloc *alloc;
    HANDLE h;
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
    int err = 0;
    (void)private_mode; /* the inherited ACL decides (see the top of this file) */
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
    snprintf(f->tmp, n + 16, "%s.tmp%05u", path, (unsigned)(GetCurrentProcessId() % 100000u));
    f->h = open_w(f->tmp, GENERIC_WRITE, 0, CREATE_ALWAYS, &err);
    if (f->h == INVALID_HANDLE_VALUE) {
        why_errno(why, why_cap, err);
        wfile_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

static int write_handle(HANDLE h, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        DWORD done = 0, want = n > 0x40000000u ? 0x40000000u : (DWORD)n;
        if (!WriteFile(h, p, want, &done, NULL))
            return -last_errno();
        p += done;
        n -= done;
    }
    return 0;
}

int uavmail__plat_wfile_write(uavmail__wfile *f, const void *buf, size_t n)
{
    return write_handle(f->h, buf, n) == 0 ? 0 : -1;
}

/* Atomic replace that is durable once it returns. */
static int replace_w(const char *from, const char *to)
{
    wchar_t wf[WPATH_MAX], wt[WPATH_MAX];
    int rc = widen(from, wf);
    if (rc == 0)
        rc = widen(to, wt);
    if (rc != 0)
        return rc;
    if (!MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH))
        return -last_errno();
    return 0;
}

static int unlink_w(const char *path)
{
    wchar_t w[WPATH_MAX];
    int rc = widen(path, w);
    if (rc != 0)
        return rc;
    if (!DeleteFileW(w)) {
        int e = last_errno();
        return e == ENOENT ? 0 : -e;
    }
    return 0;
}

int uavmail__plat_wfile_close(uavmail__wfile *f, int commit, char *why, size_t why_cap)
{
    int rc = 0;
    if (commit && !FlushFileBuffers(f->h)) {
        why_errno(why, why_cap, last_errno());
        rc = -1;
    }
    if (!CloseHandle(f->h) && rc == 0 && commit) {
        why_errno(why, why_cap, last_errno());
        rc = -1;
    }
    if (commit && rc == 0) {
        int e = replace_w(f->tmp, f->path);
        if (e != 0) {
            why_errno(why, why_cap, -e);
            rc = -1;
        }
    }
    if (!commit || rc != 0)
        unlink_w(f->tmp);
    wfile_free(f);
    return rc;
}

/* ---- outbox directories ------------------------------------------------------------ */

int uavmail__plat_mkdir_private(const char *path)
{
    wchar_t w[WPATH_MAX];
    DWORD attr;
    int rc = widen(path, w);
    if (rc != 0)
        return rc;
    if (CreateDirectoryW(w, NULL))
        return 0;
    if (GetLastError() != ERROR_ALREADY_EXISTS)
        return -last_errno();
    attr = GetFileAttributesW(w);
    if (attr == INVALID_FILE_ATTRIBUTES)
        return -last_errno();
    return (attr & FILE_ATTRIBUTE_DIRECTORY) ? 0 : -ENOTDIR;
}

int uavmail__plat_same_device(const char *a, const char *b)
{
    wchar_t wa[WPATH_MAX], wb[WPATH_MAX], va[MAX_PATH + 1], vb[MAX_PATH + 1];
    if (widen(a, wa) != 0 || widen(b, wb) != 0)
        return 0;
    if (!GetVolumePathNameW(wa, va, MAX_PATH + 1) || !GetVolumePathNameW(wb, vb, MAX_PATH + 1))
        return 0;
    return CompareStringOrdinal(va, -1, vb, -1, TRUE) == CSTR_EQUAL;
}

int uavmail__plat_list(const char *dir, int (*cb)(const char *name, void *ud), void *ud)
{
    wchar_t w[WPATH_MAX];
    WIN32_FIND_DATAW fd;
    HANDLE h;
    size_t n;
    int rc = widen(dir, w);
    if (rc != 0)
        return rc;
    n = wcslen(w);
    if (n + 3 > WPATH_MAX)
        return -ENAMETOOLONG;
    wcscpy(w + n, n > 0 && (w[n - 1] == L'\\' || w[n - 1] == L'/') ? L"*" : L"\\*");
    h = FindFirstFileW(w, &fd);
    if (h == INVALID_HANDLE_VALUE) {
        int e = last_errno();
        return e == ENOENT && GetLastError() == ERROR_FILE_NOT_FOUND ? 0 : -e; /* empty */
    }
    do {
        char name[MAX_PATH * 3 + 1];
        if (wcscmp(fd.cFileName, L".") == 0 || wcscmp(fd.cFileName, L"..") == 0)
            continue;
        if (WideCharToMultiByte(CP_UTF8, 0, fd.cFileName, -1, name, (int)sizeof name, NULL,
                                NULL) == 0)
            continue;
        if (cb(name, ud) != 0)
            break;
    } while (FindNextFileW(h, &fd));
    FindClose(h);
    return 0;
}

int uavmail__plat_read_all(const uavmail__alloc *a, const char *path, unsigned char **buf,
                           size_t *len, size_t max)
{
    int err = 0;
    HANDLE h = open_w(path, GENERIC_READ, SHARE_ALL, OPEN_EXISTING, &err);
    int64_t size;
    size_t got = 0;
    unsigned char *p;
    if (h == INVALID_HANDLE_VALUE)
        return -err;
    size = handle_size(h);
    if (size < 0 || (uint64_t)size > max) {
        CloseHandle(h);
        return size < 0 ? -EIO : -EFBIG;
    }
    p = uavmail__malloc(a, (size_t)size + 1);
    if (p == NULL) {
        CloseHandle(h);
        return -ENOMEM;
    }
    while (got < (size_t)size) {
        long n = read_handle(h, p + got, (size_t)size - got, NULL);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    CloseHandle(h);
    *buf = p;
    *len = got;
    return 0;
}

int64_t uavmail__plat_path_size(const char *path)
{
    wchar_t w[WPATH_MAX];
    WIN32_FILE_ATTRIBUTE_DATA d;
    if (widen(path, w) != 0 || !GetFileAttributesExW(w, GetFileExInfoStandard, &d))
        return -1;
    return (int64_t)(((uint64_t)d.nFileSizeHigh << 32) | d.nFileSizeLow);
}

/* Kernel handles have 32 significant bits (so 32- and 64-bit processes can
 * share them), which lets the lock handle travel as an int. */
int uavmail__plat_lock(const char *path, int how)
{
    int err = 0;
    OVERLAPPED ov;
    DWORD flags = how == UAVMAIL__LOCK_TRY    ? LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY
                  : how == UAVMAIL__LOCK_SHARED ? 0
                                                : LOCKFILE_EXCLUSIVE_LOCK;
    HANDLE h = open_w(path, GENERIC_READ | GENERIC_WRITE, SHARE_ALL, OPEN_ALWAYS, &err);
    if (h == INVALID_HANDLE_VALUE)
        return -err;
    memset(&ov, 0, sizeof ov);
    if (!LockFileEx(h, flags, 0, 1, 0, &ov)) {
        err = last_errno();
        CloseHandle(h);
        return -err;
    }
    return (int)(intptr_t)h;
}

void uavmail__plat_unlock(int handle)
{
    if (handle >= 0)
        CloseHandle((HANDLE)(intptr_t)handle); /* releases the lock */
}

/* The durable-write table works on C runtime descriptors. */
static int fs_create(void *ud, const char *path, int *fd)
{
    int err = 0;
    HANDLE h = open_w(path, GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_DELETE, CREATE_NEW, &err);
    (void)ud;
    *fd = -1;
    if (h == INVALID_HANDLE_VALUE)
        return -err;
    *fd = _open_osfhandle((intptr_t)h, _O_WRONLY | _O_BINARY);
    if (*fd < 0) {
        CloseHandle(h);
        return -EMFILE;
    }
    return 0;
}

static int fs_write(void *ud, int fd, const void *buf, size_t n)
{
    intptr_t h = _get_osfhandle(fd);
    (void)ud;
    return h == -1 ? -EBADF : write_handle((HANDLE)h, buf, n);
}

static int fs_fsync(void *ud, int fd)
{
    intptr_t h = _get_osfhandle(fd);
    (void)ud;
    if (h == -1)
        return -EBADF;
    return FlushFileBuffers((HANDLE)h) ? 0 : -last_errno();
}

static int fs_close(void *ud, int fd)
{
    (void)ud;
    return _close(fd) == 0 ? 0 : -EIO; /* closes the Win32 handle too */
}

static int fs_rename(void *ud, const char *from, const char *to)
{
    (void)ud;
    return replace_w(from, to);
}

static int fs_fsync_dir(void *ud, const char *dir)
{
    (void)ud;
    (void)dir; /* MOVEFILE_WRITE_THROUGH already made the rename durable */
    return 0;
}

static int fs_unlink(void *ud, const char *path)
{
    (void)ud;
    return unlink_w(path);
}

static const uavmail__fs win32_fs = {fs_create, fs_write, fs_fsync, fs_close,
                                     fs_rename, fs_fsync_dir, fs_unlink, NULL};

const uavmail__fs *uavmail__plat_fs(void)
{
    return &win32_fs;
}

/* ---- TCP transport (Winsock) ---------------------------------------------------- */

/* The connection pointer carries the socket (+1, so it is never NULL); each
 * open connection holds one Winsock reference, dropped when it closes. */
static void *sock_to_conn(SOCKET s)
{
    return (void *)((uintptr_t)s + 1);
}

static SOCKET conn_to_sock(void *conn)
{
    return (SOCKET)((uintptr_t)conn - 1);
}

static void close_sock(SOCKET s)
{
    closesocket(s);
    WSACleanup();
}

/* Wait until @p s is readable (or writable); a failed connect shows in the
 * exception set. */
static int wait_sock(SOCKET s, int for_write, unsigned timeout_ms)
{
    uint64_t deadline = uavmail__plat_now_ms() + timeout_ms;
    for (;;) {
        fd_set rd, wr, ex;
        struct timeval tv;
        uint64_t now = uavmail__plat_now_ms(), left = now >= deadline ? 0 : deadline - now;
        int r;
        FD_ZERO(&rd);
        FD_ZERO(&wr);
        FD_ZERO(&ex);
        FD_SET(s, for_write ? &wr : &rd);
        FD_SET(s, &ex);
        tv.tv_sec = (long)(left / 1000u);
        tv.tv_usec = (long)(left % 1000u) * 1000;
        r = select(0, &rd, &wr, &ex, &tv);
        if (r > 0)
            return FD_ISSET(s, &ex) ? UAVMAIL_ECONNECT : 0;
        if (r == 0)
            return UAVMAIL_ETIMEOUT;
        if (WSAGetLastError() != WSAEINTR)
            return UAVMAIL_EIO;
    }
}

static void set_nodelay(SOCKET s)
{
    BOOL one = TRUE;
    /* Commands are small and latency matters more than packet count. */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
}

/* A non-blocking socket with connect() started: 0 connected, 1 in progress, or an error. */
static int start_connect(const struct addrinfo *ai, SOCKET *out)
{
    u_long nb = 1;
    SOCKET s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (s == INVALID_SOCKET)
        return UAVMAIL_ECONNECT;
    SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
    ioctlsocket(s, FIONBIO, &nb);
    *out = s;
    if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) == 0)
        return 0;
    if (WSAGetLastError() == WSAEWOULDBLOCK)
        return 1;
    closesocket(s);
    return UAVMAIL_ECONNECT;
}

static int try_connect(const struct addrinfo *ai, unsigned timeout_ms, SOCKET *out)
{
    int rc = start_connect(ai, out);
    if (rc == 1) {
        rc = wait_sock(*out, 1, timeout_ms);
        if (rc != 0)
            closesocket(*out);
    }
    if (rc == 0)
        set_nodelay(*out);
    return rc;
}

/* Finish a non-blocking connect started earlier (timeout 0 mode). */
static int tcp_connect_finish(void *conn)
{
    SOCKET s = conn_to_sock(conn);
    int rc = wait_sock(s, 1, 0);
    if (rc == UAVMAIL_ETIMEOUT)
        return UAVMAIL_EAGAIN;
    if (rc != 0)
        return UAVMAIL_ECONNECT; /* the library closes *conn */
    set_nodelay(s);
    return 0;
}

static int tcp_connect(void **conn, const char *host, unsigned port, unsigned timeout_ms,
                       void *ud)
{
    struct addrinfo hints, *res = NULL, *ai;
    char service[16];
    int rc = UAVMAIL_ECONNECT;
    SOCKET s = INVALID_SOCKET;
    (void)ud;
    if (*conn != NULL)
        return tcp_connect_finish(*conn);
    if (winsock_up() != 0)
        return UAVMAIL_ECONNECT;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    snprintf(service, sizeof service, "%u", port);
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) {
        WSACleanup();
        return UAVMAIL_ERESOLVE;
    }
    if (timeout_ms == 0) {
        /* Non-blocking: start with the first address; finish later. */
        rc = start_connect(res, &s);
        freeaddrinfo(res);
        if (rc < 0) {
            WSACleanup();
            return rc;
        }
        *conn = sock_to_conn(s);
        if (rc == 0)
            set_nodelay(s); /* connected at once (loopback) */
        return rc == 0 ? 0 : UAVMAIL_EAGAIN;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        rc = try_connect(ai, timeout_ms, &s);
        if (rc == 0)
            break;
    }
    freeaddrinfo(res);
    if (rc != 0) {
        WSACleanup();
        return rc;
    }
    *conn = sock_to_conn(s);
    return 0;
}

static long tcp_send(void *conn, const unsigned char *buf, size_t len, unsigned timeout_ms,
                     void *ud)
{
    SOCKET s = conn_to_sock(conn);
    int want = len > 0x40000000u ? 0x40000000 : (int)len;
    (void)ud;
    for (;;) {
        int n = send(s, (const char *)buf, want, 0);
        if (n >= 0)
            return (long)n;
        if (WSAGetLastError() == WSAEWOULDBLOCK) {
            int rc = wait_sock(s, 1, timeout_ms);
            if (rc != 0)
                return rc == UAVMAIL_ECONNECT ? UAVMAIL_EIO : rc;
            continue;
        }
        return UAVMAIL_EIO;
    }
}

static long tcp_recv(void *conn, unsigned char *buf, size_t len, unsigned timeout_ms, void *ud)
{
    SOCKET s = conn_to_sock(conn);
    int want = len > 0x40000000u ? 0x40000000 : (int)len;
    (void)ud;
    for (;;) {
        int n = recv(s, (char *)buf, want, 0);
        if (n >= 0)
            return (long)n;
        if (WSAGetLastError() == WSAEWOULDBLOCK) {
            int rc = wait_sock(s, 0, timeout_ms);
            if (rc != 0)
                return rc == UAVMAIL_ECONNECT ? UAVMAIL_EIO : rc;
            continue;
        }
        return UAVMAIL_EIO;
    }
}

static void tcp_close(void *conn, void *ud)
{
    (void)ud;
    if (conn != NULL)
        close_sock(conn_to_sock(conn));
}

static int tcp_local_address(void *conn, char *buf, size_t cap, void *ud)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    (void)ud;
    if (getsockname(conn_to_sock(conn), (struct sockaddr *)&ss, &len) != 0)
        return -1;
    ip_text((const struct sockaddr *)&ss, ip, sizeof ip);
    if (ip[0] == '\0')
        return -1;
    if (ss.ss_family == AF_INET6)
        uavmail__snprintf(buf, cap, "[IPv6:%s]", ip);
    else
        uavmail__snprintf(buf, cap, "[%s]", ip);
    return 0;
}

/* For an event loop: the SOCKET value (select() and WSAPoll() take it). */
static int tcp_fd(void *conn, void *ud)
{
    (void)ud;
    return (int)conn_to_sock(conn);
}

static const uavmail_transport tcp_transport = {
    UAVMAIL_TRANSPORT_VERSION, tcp_connect, tcp_send, tcp_recv, tcp_close, tcp_local_address, NULL,
    tcp_fd,
};

const uavmail_transport *uavmail__plat_tcp_transport(void)
{
    return &tcp_transport;
}
