/*
 * Platform contract: everything the library needs from the OS.  Core code
 * uses only this header; platform_posix.c implements it (platform_win32.c
 * later).  Model: nng src/core/platform.h.
 */
#ifndef UAVMAIL_PLATFORM_H
#define UAVMAIL_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* Monotonic milliseconds (for timeouts only). */
uint64_t uavmail__plat_now_ms(void);
/* Wall-clock seconds since 1970 UTC. */
UAVMAIL__SHARED int64_t uavmail__plat_time(void);
/* Offset of local time from UTC in minutes at @p t (for Date headers). */
int uavmail__plat_utc_offset_min(int64_t t);
/* Cryptographically strong random bytes.  Returns 0 or -1. */
UAVMAIL__SHARED int uavmail__plat_random(void *buf, size_t n);
/* Path of the system CA bundle, or NULL if none is found. */
const char *uavmail__plat_default_ca_bundle(void);
/* Parse an IPv4/IPv6 literal (no brackets) into @p out; returns 4, 16 or 0. */
size_t uavmail__plat_parse_ip(const char *host, unsigned char out[16]);
/* Resolve @p host: its addresses as text ("192.0.2.1, 2001:db8::1") into
 * @p out; returns how many, or -1. */
int uavmail__plat_resolve(const char *host, unsigned port, char *out, size_t cap);
/* This host's fully qualified name into @p buf, or -1 if it has none. */
int uavmail__plat_fqdn(char *buf, size_t cap);

/* Files, read sequentially (attachments, messages). */
typedef struct uavmail__file uavmail__file;
/* Open for reading; on failure returns -1 and writes a reason to @p why. */
int uavmail__plat_file_open(uavmail__file **out, const uavmail__alloc *a, const char *path,
                            char *why, size_t why_cap);
/* Read up to @p n bytes; returns the count (0 at end) or -1. */
long uavmail__plat_file_read(uavmail__file *f, void *buf, size_t n);
/* Size in bytes, or -1 if unknown. */
int64_t uavmail__plat_file_size(uavmail__file *f);
void uavmail__plat_file_close(uavmail__file *f);
/* Positioned read from an application's descriptor: count, 0 at end, -1. */
long uavmail__plat_fd_pread(int fd, void *buf, size_t n, uint64_t offset);
/* Size of the file behind a descriptor, or -1. */
int64_t uavmail__plat_fd_size(int fd);
/* Write a whole file atomically (temp + fsync + rename); @p private_mode
 * creates it readable by the owner only. */
typedef struct uavmail__wfile uavmail__wfile;
int uavmail__plat_wfile_open(uavmail__wfile **out, const uavmail__alloc *a, const char *path,
                             int private_mode, char *why, size_t why_cap);
int uavmail__plat_wfile_write(uavmail__wfile *f, const void *buf, size_t n);
/* Commit (fsync + rename) when @p commit, else discard.  Returns 0 or -1. */
int uavmail__plat_wfile_close(uavmail__wfile *f, int commit, char *why, size_t why_cap);

/* ---- directories for the outbox -------------------------------------------------- */

/* Create @p path 0700 (or tighten an existing one to 0700).  0 or -errno. */
UAVMAIL__SHARED int uavmail__plat_mkdir_private(const char *path);
/* 1 if both paths are on the same file system (rename is atomic), else 0. */
UAVMAIL__SHARED int uavmail__plat_same_device(const char *a, const char *b);
/* Call @p cb for each entry name of @p dir (not "." and ".."); stops when it
 * returns non-zero.  0, or -errno. */
UAVMAIL__SHARED int uavmail__plat_list(const char *dir, int (*cb)(const char *name, void *ud), void *ud);
/* Read a whole file of at most @p max bytes into a new buffer. 0 or -errno. */
UAVMAIL__SHARED int uavmail__plat_read_all(const uavmail__alloc *a, const char *path, unsigned char **buf,
                           size_t *len, size_t max);
/* Size of a file by path, or -1. */
UAVMAIL__SHARED int64_t uavmail__plat_path_size(const char *path);
/* How uavmail__plat_lock() locks. */
enum { UAVMAIL__LOCK_TRY = 0, /* exclusive, without waiting */
       UAVMAIL__LOCK_SHARED = 1, /* shared, waiting for exclusive holders */
       UAVMAIL__LOCK_WAIT = 2 /* exclusive, waiting */ };
/* Take an advisory lock on @p path (created 0600), released by the OS if the
 * process dies.  Returns a handle >= 0, -EWOULDBLOCK if held (TRY), or -errno. */
UAVMAIL__SHARED int uavmail__plat_lock(const char *path, int how);
UAVMAIL__SHARED void uavmail__plat_unlock(int handle);

/* Durable-write primitives, all returning 0 or -errno, collected in an ops
 * table so tests can record them and simulate crashes and disk errors. */
typedef struct uavmail__fs {
    int (*create)(void *ud, const char *path, int *fd); /* new file, 0600 */
    int (*write)(void *ud, int fd, const void *buf, size_t n);
    int (*fsync)(void *ud, int fd);
    int (*close)(void *ud, int fd);
    int (*rename)(void *ud, const char *from, const char *to);
    int (*fsync_dir)(void *ud, const char *dir);
    int (*unlink)(void *ud, const char *path);
    void *ud;
} uavmail__fs;

UAVMAIL__SHARED const uavmail__fs *uavmail__plat_fs(void);

/* The built-in TCP transport. */
const uavmail_transport *uavmail__plat_tcp_transport(void);

#endif
