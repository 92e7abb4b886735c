/*
 * Platform layer for a board without a file system or OS: randomness and
 * time come from the board; files are unavailable (attach from memory or a
 * read callback); SCRAM needs SHA-256 and reports "unavailable" unless the
 * port links a crypto library (PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER work).
 */
#include <string.h>

#include "mcu_port.h"
#include "platform.h"
#include "tls.h"

static int no_files(char *why, size_t cap)
{
    uavmail__strlcpy(why, "this port has no file system", cap);
    return -1;
}

int uavmail__plat_random(void *buf, size_t n)
{
    return uavmail_port_random(buf, n);
}

int64_t uavmail__plat_time(void)
{
    return uavmail_port_time();
}

int uavmail__plat_utc_offset_min(int64_t t)
{
    (void)t;
    return 0; /* boards keep UTC */
}

int uavmail__plat_file_open(uavmail__file **out, const uavmail__alloc *a, const char *path,
                            char *why, size_t why_cap)
{
    *out = NULL;
    return no_files(why, why_cap);
}

long uavmail__plat_file_read(uavmail__file *f, void *buf, size_t n)
{
    return -1;
}

int64_t uavmail__plat_file_size(uavmail__file *f)
{
    return -1;
}

void uavmail__plat_file_close(uavmail__file *f)
{
}

long uavmail__plat_fd_pread(int fd, void *buf, size_t n, uint64_t offset)
{
    return -1;
}

int64_t uavmail__plat_fd_size(int fd)
{
    return -1;
}

int uavmail__plat_wfile_open(uavmail__wfile **out, const uavmail__alloc *a, const char *path,
                             int private_mode, char *why, size_t why_cap)
{
    *out = NULL;
    return no_files(why, why_cap);
}

int uavmail__plat_wfile_write(uavmail__wfile *f, const void *buf, size_t n)
{
    return -1;
}

int uavmail__plat_wfile_close(uavmail__wfile *f, int commit, char *why, size_t why_cap)
{
    return no_files(why, why_cap);
}

int uavmail__crypto_sha256(const void *in, size_t n, unsigned char out[32])
{
    return -1;
}

int uavmail__crypto_hmac_sha256(const void *key, size_t klen, const void *in, size_t n,
                                unsigned char out[32])
{
    return -1;
}

int uavmail__crypto_pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
                                  unsigned iterations, unsigned char out[32])
{
    return -1;
}
