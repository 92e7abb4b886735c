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
int64_t uavmail__plat_time(void);
/* Offset of local time from UTC in minutes at @p t (for Date headers). */
int uavmail__plat_utc_offset_min(int64_t t);
/* Cryptographically strong random bytes.  Returns 0 or -1. */
int uavmail__plat_random(void *buf, size_t n);
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

/* The built-in TCP transport. */
const uavmail_transport *uavmail__plat_tcp_transport(void);

#endif
