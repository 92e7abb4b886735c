/*
 * libFuzzer target over the MAVLink stream decoder (issue 7): corrupt,
 * truncated and hostile input, fed whole and then in pieces the input
 * itself chooses, as a raw stream and as a .tlog.  Invariants: no crash or out-of-bounds access, every
 * emitted frame has a known message id and a payload within 255 bytes, and
 * splitting the stream never changes which frames come out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mavlink.h"

#define ASSERT(c)                                                                            \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_mavlink: assertion failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

typedef struct tally {
    unsigned long n;
    uint32_t sum;
} tally;

static void on_frame(const mav_frame *f, void *ud)
{
    tally *t = ud;
    mav_message m;
    uint8_t extra, max_len;
    ASSERT(mav_message_info(f->msgid, &extra, &max_len));
    (void)mav_decode(f, &m);
    t->n++;
    t->sum = t->sum * 31u + f->msgid + f->len + f->seq;
}

static void on_record(const mav_frame *f, uint64_t time_us, void *ud)
{
    on_frame(f, ud);
    ((tally *)ud)->sum += (uint32_t)time_us;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mav_parser p;
    tally whole = {0, 0}, parts = {0, 0};
    size_t off = 0, step = size ? (size_t)data[0] % 7 + 1 : 1;
    mav_parser_init(&p);
    mav_parse(&p, data, size, on_frame, &whole);
    mav_parser_init(&p);
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        mav_parse(&p, data + off, n, on_frame, &parts);
        off += n;
    }
    ASSERT(whole.n == parts.n && whole.sum == parts.sum);
    /* The same bytes as a .tlog. */
    {
        mav_tlog t;
        tally a = {0, 0}, b = {0, 0};
        mav_tlog_init(&t);
        mav_tlog_feed(&t, data, size, on_record, &a);
        mav_tlog_init(&t);
        for (off = 0; off < size; off += step)
            mav_tlog_feed(&t, data + off, size - off < step ? size - off : step, on_record, &b);
        ASSERT(a.n == b.n && a.sum == b.sum);
    }
    return 0;
}
