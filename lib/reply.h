/*
 * Incremental SMTP reply reader (RFC 5321 section 4.2): turns received
 * bytes into complete replies, with bounded memory and strict framing.
 */
#ifndef UAVMAIL_REPLY_H
#define UAVMAIL_REPLY_H

#include <stddef.h>

#include "opts.h"

/* Reader results. */
enum {
    UAVMAIL__REPLY_MORE = 0,      /* all input consumed, no complete reply yet */
    UAVMAIL__REPLY_DONE = 1,      /* one reply complete (see *used) */
    UAVMAIL__REPLY_BAD_CODE = -1, /* malformed or out-of-range code, mismatched continuation */
    UAVMAIL__REPLY_BAD_BYTE = -2, /* NUL, bare CR, or LF-only line end when not allowed */
    UAVMAIL__REPLY_TOO_LONG = -3  /* line, line count or total size over the caps */
};

typedef struct uavmail__reply {
    int code;      /* 200..599 */
    size_t nlines; /* number of lines */
    size_t len;    /* length of text */
    /* The lines' text without codes, joined with '\n', NUL-terminated. */
    char text[UAVMAIL_REPLY_TEXT_MAX + 1];
} uavmail__reply;

typedef struct uavmail__reply_reader {
    uavmail__reply reply; /* the reply being assembled / just completed */
    size_t line_len;      /* bytes of the current line seen so far */
    size_t line_start;    /* offset in reply.text where the current line's text starts */
    int line_code;        /* code of the current line once known */
    int saw_cr;           /* previous byte was CR */
    int allow_lf;         /* accept bare LF as a line end (default: no) */
    int error;            /* sticky error */
    int complete;         /* the last call returned a complete reply */
    char head[4];         /* first four bytes of the current line */
} uavmail__reply_reader;

void uavmail__reply_reader_init(uavmail__reply_reader *r, int allow_lf);
/* Feed bytes.  Stops after the first complete reply; *used tells how many
 * bytes were consumed.  The reply stays valid until the next call. */
int uavmail__reply_feed(uavmail__reply_reader *r, const char *data, size_t len, size_t *used);
/* Whether a reply is partially assembled (bytes seen but not complete). */
int uavmail__reply_pending(const uavmail__reply_reader *r);
/* A description of a reader error code. */
const char *uavmail__reply_strerror(int err);
/* Parse an RFC 3463 enhanced status code at the start of @p text for a reply
 * of class @p code / 100.  Writes it to @p out (cap >= 16) and returns the
 * number of bytes consumed including one following space, or 0 if absent or
 * malformed (P-06). */
size_t uavmail__enhanced_parse(const char *text, size_t len, int code, char *out);

#endif
