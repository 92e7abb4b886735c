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
#define UAVMAIL_REPLY_TEXT_MAX 4096
#endif

/* Bytes of message handed to TLS at a time: one full TLS record (16 KiB)
 * keeps records large and write calls few. */
#ifndef UAVMAIL_RECORD_SIZE
#define UAVMAIL_RECORD_SIZE 16384
#endif

/* Size of the engine's output buffer: message bytes fill it up to one
 * record; the rest is room for the commands pipelined behind a message
 * (QUIT, the next message's RSET, MAIL, RCPT and BDAT lines) and must hold
 * the longest command line (an AUTH line with its initial response). */
#ifndef UAVMAIL_OUTBUF_SIZE
#define UAVMAIL_OUTBUF_SIZE (UAVMAIL_RECORD_SIZE >= 2048 ? UAVMAIL_RECORD_SIZE + 1024 : 3072)
#endif

/* Most bytes read from an attachment source at a time (a multiple of 57,
 * one base64 line).  They are read into the output buffer itself and
 * encoded in place, so this only caps the size of one read. */
#ifndef UAVMAIL_MIME_READ_CHUNK
#define UAVMAIL_MIME_READ_CHUNK (57 * 256)
#endif

/* The MIME writer's buffer for one item: a header field (the longest is a
 * Subject of UAVMAIL_SUBJECT_MAX bytes as encoded words, or an attachment's
 * Content-Type and Content-Disposition with both filename forms) or a run
 * of body text.  A message with a longer item fails with UAVMAIL_ETOOBIG. */
#ifndef UAVMAIL_MIME_PEND_SIZE
#define UAVMAIL_MIME_PEND_SIZE 4096
#endif

/* A session's receive buffer (inside the session handle; replies are
 * small, and TLS keeps its own record buffer), and its buffer of message
 * bytes on their way to the dot-stuffer, made only when a server without
 * CHUNKING needs DATA (with BDAT the message is rendered straight into the
 * engine's output buffer). */
#ifndef UAVMAIL_SESSION_INBUF_SIZE
#define UAVMAIL_SESSION_INBUF_SIZE 1024
#endif
#ifndef UAVMAIL_SESSION_BODYBUF_SIZE
#define UAVMAIL_SESSION_BODYBUF_SIZE 2048
#endif

/* An error detail's texts (NUL included): what failed and where, the hint
 * how to fix it, and the server's reply.  A session, each message, and each
 * message of a send keep one; longer texts are cut short. */
#ifndef UAVMAIL_ERROR_MESSAGE_MAX
#define UAVMAIL_ERROR_MESSAGE_MAX 512
#endif
#ifndef UAVMAIL_ERROR_HINT_MAX
#define UAVMAIL_ERROR_HINT_MAX 384
#endif
#ifndef UAVMAIL_ERROR_REPLY_MAX
#define UAVMAIL_ERROR_REPLY_MAX 512
#endif

/* Most messages of a batch in flight at once on one connection (pipelining
 * across messages, RFC 2920 with RFC 3030); each costs 80 bytes of the
 * session handle. */
#ifndef UAVMAIL_PIPELINE_MAX
#define UAVMAIL_PIPELINE_MAX 16
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
