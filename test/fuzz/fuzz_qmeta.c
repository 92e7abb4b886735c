/*
 * libFuzzer target over the outbox metadata decoder (FZ-06, Q-03): a file
 * read back from disk after a crash, a bad sector or tampering.  Each input
 * is decoded twice: as it is (the frame: magic, version, length, CRC32C, end
 * marker) and wrapped in a valid frame (so that the CBOR payload itself is
 * explored past the checksum).  Invariants: no crash or out-of-bounds
 * access, every string field NUL-terminated in its buffer, and whatever
 * decodes re-encodes to a file that decodes to the same entry.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmeta.h"

#define ASSERT(c)                                                                            \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_qmeta: assertion failed: %s (line %d)\n", #c, __LINE__);   \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

#define TERMINATED(field) ASSERT(memchr((field), '\0', sizeof(field)) != NULL)

static void check_entry(const uavmail__qmeta *m)
{
    size_t i;
    TERMINATED(m->id);
    TERMINATED(m->dedup);
    TERMINATED(m->message_id);
    TERMINATED(m->subject);
    TERMINATED(m->from);
    TERMINATED(m->last_error);
    ASSERT(m->nrcpt == 0 || m->rcpt != NULL);
    for (i = 0; i < m->nrcpt; i++) {
        TERMINATED(m->rcpt[i].addr);
        TERMINATED(m->rcpt[i].reply);
    }
}

static int same(const uavmail__qmeta *a, const uavmail__qmeta *b)
{
    size_t i;
    if (strcmp(a->id, b->id) || a->priority != b->priority || a->created != b->created ||
        a->next_attempt != b->next_attempt || a->expires != b->expires ||
        a->attempts != b->attempts || a->unknown != b->unknown || a->dead != b->dead ||
        strcmp(a->dedup, b->dedup) || strcmp(a->message_id, b->message_id) ||
        strcmp(a->subject, b->subject) || strcmp(a->from, b->from) ||
        a->eml_size != b->eml_size || a->eml_crc != b->eml_crc ||
        strcmp(a->last_error, b->last_error) || a->nrcpt != b->nrcpt)
        return 0;
    for (i = 0; i < a->nrcpt; i++)
        if (strcmp(a->rcpt[i].addr, b->rcpt[i].addr) || a->rcpt[i].state != b->rcpt[i].state ||
            a->rcpt[i].code != b->rcpt[i].code || strcmp(a->rcpt[i].reply, b->rcpt[i].reply))
            return 0;
    return 1;
}

static void decode_and_check(const unsigned char *buf, size_t len, const uavmail__alloc *a)
{
    uavmail__qmeta m, again;
    unsigned char *enc = NULL;
    size_t enc_len = 0;
    memset(&m, 0, sizeof m);
    if (uavmail__qmeta_decode(buf, len, a, &m) != 0)
        return;
    check_entry(&m);
    if (uavmail__qmeta_encode(&m, a, &enc, &enc_len) == 0) {
        memset(&again, 0, sizeof again);
        ASSERT(uavmail__qmeta_decode(enc, enc_len, a, &again) == 0);
        ASSERT(same(&m, &again));
        uavmail__qmeta_free(&again, a);
        uavmail__free(a, enc);
    }
    uavmail__qmeta_free(&m, a);
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uavmail__alloc a;
    unsigned char *framed;
    if (size > UAVMAIL__QMETA_MAX)
        return 0;
    if (uavmail__alloc_init(&a, NULL) != 0)
        return 0;
    decode_and_check(data, size, &a);
    /* The same bytes as the CBOR payload of a well-formed frame. */
    framed = malloc(size + 17);
    if (framed == NULL)
        return 0;
    memcpy(framed, "UAVQ", 4);
    framed[4] = 1;
    put32(framed + 5, (uint32_t)size);
    if (size)
        memcpy(framed + 9, data, size);
    put32(framed + 9 + size, uavmail__crc32c(0, data, size));
    memcpy(framed + 13 + size, "QEND", 4);
    decode_and_check(framed, size + 17, &a);
    free(framed);
    return 0;
}
