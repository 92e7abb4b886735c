/*
 * Base64 (RFC 4648) for MIME bodies and SASL.  The encoder is a plain
 * table-driven one, fast enough for 100 MB flight logs; it is not
 * constant-time (nothing secret goes through the line encoder).
 */
#ifndef UAVMAIL_BASE64_H
#define UAVMAIL_BASE64_H

#include <stddef.h>

/* Bytes per 76-column MIME line of base64 (76 / 4 * 3). */
#define UAVMAIL_B64_LINE_BYTES 57

/* Length of the unwrapped encoding of @p n bytes; SIZE_MAX on overflow. */
size_t uavmail__b64_len(size_t n);
/* Encode without line breaks; @p out must hold uavmail__b64_len(n) bytes
 * (no NUL is written).  Returns the number of characters written. */
size_t uavmail__b64_encode(char *out, const unsigned char *in, size_t n);
/* Length of the MIME encoding (76-column lines, each ended by CRLF). */
size_t uavmail__b64_lines_len(size_t n);
/* Encode as MIME lines: every 57 input bytes give one 76-character line
 * plus CRLF; a final partial group gives one shorter line plus CRLF. */
size_t uavmail__b64_encode_lines(char *out, const unsigned char *in, size_t n);
/* Strict decode (no whitespace, correct padding).  Returns 0, or -1 on
 * malformed input or when the output would exceed @p cap. */
int uavmail__b64_decode(unsigned char *out, size_t cap, size_t *out_len, const char *in,
                        size_t n);

#endif
