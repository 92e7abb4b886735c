/*
 * Outbox metadata: one self-validating file per queued message
 *   "UAVQ" version(1) length(4, big-endian) CBOR-payload CRC32C(4) "QEND"
 * The CBOR payload (libcbor; schema in docs/outbox.md) holds the envelope,
 * per-recipient state and the retry bookkeeping -- never a credential.
 * All libcbor calls of the library are in qmeta.c.
 */
#ifndef UAVMAIL_QMETA_H
#define UAVMAIL_QMETA_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum { UAVMAIL__R_PENDING = 0, UAVMAIL__R_DELIVERED = 1, UAVMAIL__R_FAILED = 2 };

typedef struct uavmail__qrcpt {
    char addr[256];
    int state;      /* UAVMAIL__R_* */
    int code;       /* last reply code */
    char reply[200];
} uavmail__qrcpt;

typedef struct uavmail__qmeta {
    char id[40];
    int priority;           /* enum uavmail_priority */
    int64_t created, next_attempt, expires; /* seconds since 1970; expires 0: never */
    unsigned attempts;
    int unknown;            /* the last attempt ended with the outcome unknown */
    int dead;               /* enum uavmail_outbox_state beyond active */
    char dedup[128];
    char message_id[160];
    char subject[128];
    char from[256];
    uint64_t eml_size;
    uint32_t eml_crc;       /* CRC32C of the message file */
    char last_error[300];
    size_t nrcpt;
    uavmail__qrcpt *rcpt;   /* nrcpt entries (allocated) */
} uavmail__qmeta;

#define UAVMAIL__QMETA_MAX (1u << 20) /* no metadata file is larger */

/* Serialise @p m into a newly allocated framed buffer (*out, *len). */
int uavmail__qmeta_encode(const uavmail__qmeta *m, const uavmail__alloc *a, unsigned char **out,
                          size_t *len);
#define UAVMAIL__QMETA_MAX_RCPT 4096 /* recipients per entry */

/* Validate and decode a framed buffer; 0, -1 for anything malformed,
 * truncated or corrupt (the caller quarantines it), or -2 when memory ran
 * out (the file may be fine).  Frees with qmeta_free. */
int uavmail__qmeta_decode(const unsigned char *buf, size_t len, const uavmail__alloc *a,
                          uavmail__qmeta *m);
void uavmail__qmeta_free(uavmail__qmeta *m, const uavmail__alloc *a);
uint32_t uavmail__crc32c(uint32_t crc, const void *buf, size_t n);

#endif
