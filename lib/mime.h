/*
 * Streaming MIME writer: the sender pulls the rendered message in chunks;
 * attachments are read lazily, so memory stays constant whatever their size.
 * Output has CRLF line ends only and no line over 998 octets; it is not
 * dot-stuffed (the SMTP engine does that).
 */
#ifndef UAVMAIL_MIME_H
#define UAVMAIL_MIME_H

#include <stddef.h>
#include <stdint.h>

#include "message_int.h"

enum {
    UAVMAIL__MIME_8BIT = 1 /* the transport carries 8-bit (8BITMIME) */
};

typedef struct uavmail__mime_reader uavmail__mime_reader;

UAVMAIL__SHARED int uavmail__mime_reader_new(uavmail__mime_reader **out, uavmail_message *msg, unsigned flags);
/* Next bytes of the message: count, 0 at the end, or a negative error
 * (described in the message's error detail). */
UAVMAIL__SHARED long uavmail__mime_read(uavmail__mime_reader *r, char *buf, size_t cap);
/* Exact size of the whole rendering, without reading attachments.  The
 * reader is then rewound and renders exactly that many bytes (files are
 * sent as long as they were when measured). */
UAVMAIL__SHARED int uavmail__mime_measure(uavmail__mime_reader *r, uint64_t *size);
/* Whether the rendering contains 8-bit text (so BODY=8BITMIME applies). */
int uavmail__mime_is_8bit(const uavmail__mime_reader *r);
UAVMAIL__SHARED void uavmail__mime_reader_free(uavmail__mime_reader *r);

/* Encoders (exposed for tests and other modules). */

/* Quoted-printable (RFC 2045 6.7) of @p len bytes of text whose line breaks
 * (CR, LF or CRLF) become CRLF; writes at most @p cap bytes and returns the
 * input consumed; *state carries the column across calls. */
size_t uavmail__qp_encode(char *out, size_t cap, size_t *written, const char *in, size_t len,
                          int at_end, unsigned *state);
/* RFC 2047 encoded-word(s) for a header value; folded with CRLF SP so that
 * no line exceeds 78 columns given @p col already used.  Returns the length
 * written (without NUL) or 0 if @p cap is too small. */
size_t uavmail__hdr_encode_words(char *out, size_t cap, const char *utf8, size_t col);
/* A MIME parameter as written in headers (";" CRLF TAB name=...); for tests.
 * Not thread-safe. */
size_t uavmail__mime_param(char *out, size_t cap, const char *name, const char *value);
/* Guess a media type from a file name's extension. */
const char *uavmail__mime_guess_type(const char *filename);

#endif
