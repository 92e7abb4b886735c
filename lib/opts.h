/*
 * Compile-time limits, each overridable with -D.  (Model: lwIP opt.h.)
 */
#ifndef UAVMAIL_OPTS_H
#define UAVMAIL_OPTS_H

/* Longest server reply line we accept, CRLF excluded (RFC 5321 minimum is 512). */
#ifndef UAVMAIL_REPLY_LINE_MAX
#define UAVMAIL_REPLY_LINE_MAX 4096
#endif

/* Most lines in one multi-line reply. */
#ifndef UAVMAIL_REPLY_LINES_MAX
#define UAVMAIL_REPLY_LINES_MAX 128
#endif

/* Most text bytes kept from one reply (all lines, codes removed). */
#ifndef UAVMAIL_REPLY_TEXT_MAX
#define UAVMAIL_REPLY_TEXT_MAX 8192
#endif

/* Bytes of message handed to TLS at a time: one full TLS record (16 KiB)
 * keeps records large and write calls few. */
#ifndef UAVMAIL_RECORD_SIZE
#define UAVMAIL_RECORD_SIZE 16384
#endif

/* Size of the engine's output buffer (commands and message bytes). */
#ifndef UAVMAIL_OUTBUF_SIZE
#define UAVMAIL_OUTBUF_SIZE (2 * UAVMAIL_RECORD_SIZE + 1024)
#endif

/* Most bytes read from an attachment source at a time (a multiple of 57,
 * one base64 line); 14 KiB reads keep system calls few. */
#ifndef UAVMAIL_MIME_READ_CHUNK
#define UAVMAIL_MIME_READ_CHUNK (57 * 256)
#endif

/* A session's receive buffer and its buffer of message bytes on their way
 * to the engine (both inside the session handle). */
#ifndef UAVMAIL_SESSION_INBUF_SIZE
#define UAVMAIL_SESSION_INBUF_SIZE 4096
#endif
#ifndef UAVMAIL_SESSION_BODYBUF_SIZE
#define UAVMAIL_SESSION_BODYBUF_SIZE 8192
#endif

/* RFC 5321 section 4.5.3.1 limits. */
#define UAVMAIL_LOCAL_PART_MAX 64
#define UAVMAIL_DOMAIN_MAX 255
#define UAVMAIL_PATH_MAX 256
#define UAVMAIL_COMMAND_LINE_MAX 512

/* RFC 5321 section 4.5.3.2 timeouts, milliseconds. */
#define UAVMAIL_TIMEOUT_GREETING_MS (5u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_MAIL_MS (5u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_RCPT_MS (5u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_DATA_MS (2u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_BLOCK_MS (3u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_DATA_END_MS (10u * 60u * 1000u)
#define UAVMAIL_TIMEOUT_CONNECT_MS (30u * 1000u)

#endif
