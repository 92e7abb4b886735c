/*
 * Compile-time limits and feature switches, each overridable with -D.
 * (Model: lwIP opt.h.)
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
 * the longest command line, AUTH LOGIN's password line of 2734 bytes
 * (checked at compile time in smtp.c). */
#ifndef UAVMAIL_OUTBUF_SIZE
#define UAVMAIL_OUTBUF_SIZE (UAVMAIL_RECORD_SIZE >= 2048 ? UAVMAIL_RECORD_SIZE + 1024 : 3072)
#endif

/* Most bytes read from an attachment source at a time (a multiple of 57,
 * one base64 line).  They are read into the output buffer itself and
 * encoded in place, so this only caps the size of one read. */
#ifndef UAVMAIL_MIME_READ_CHUNK
#define UAVMAIL_MIME_READ_CHUNK (57 * 256)
#endif

/* The MIME writer's buffer for one item: a header field (the longest are a
 * 2048-byte Subject as encoded words, about 3.8 KiB, and an attachment's
 * Content-Type and Content-Disposition with both forms of a 255-byte
 * non-ASCII file name, about 3.6 KiB) or a run of body text.  A message
 * with a longer item fails with UAVMAIL_ETOOBIG when it is rendered. */
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

/* ---- features ------------------------------------------------------------
 * Each is 1 (compiled in) unless set to 0 with -D; a small device drops what
 * it does not need.  scripts/footprint.sh measures the Cortex-M4 core with
 * all of them and in the small configuration of test/footprint/mcu_small.txt
 * (every switch below at 0), which the mcu-loopback-small test runs.  A
 * compiled-out feature that the caller or a message asks for is refused with
 * an error code, never silently dropped; only the trace and SIZE, which
 * merely inform, go without a word. */

/* Error detail in words: the formatted message and the suggested fix
 * (uavmail_error_message(), uavmail_error_hint()), provider hints
 * included.  With 0 the code, the server's reply (code, enhanced status,
 * text) and the TLS code are still recorded, and uavmail_error_message()
 * gives uavmail_strerror() of the code. */
#ifndef UAVMAIL_ERROR_TEXTS
#define UAVMAIL_ERROR_TEXTS 1
#endif

/* SASL SCRAM-SHA-256 (RFC 7677); needs the platform's SHA-256, HMAC and
 * PBKDF2.  With 0 a server offering only SCRAM gives UAVMAIL_ENOAUTH. */
#ifndef UAVMAIL_WITH_SCRAM
#define UAVMAIL_WITH_SCRAM 1
#endif

/* OAuth2 bearer tokens: SASL XOAUTH2 and OAUTHBEARER (RFC 7628) with their
 * error exchange.  With 0 a token callback is refused (UAVMAIL_EINVAL) and
 * a server offering only these gives UAVMAIL_ENOAUTH. */
#ifndef UAVMAIL_WITH_OAUTH2
#define UAVMAIL_WITH_OAUTH2 1
#endif

/* Delivery status notifications (RFC 3461: NOTIFY, RET, ENVID, ORCPT).
 * With 0 uavmail_message_set_dsn() and a message asking for them are
 * refused with UAVMAIL_EINVAL. */
#ifndef UAVMAIL_WITH_DSN
#define UAVMAIL_WITH_DSN 1
#endif

/* Internationalised addresses (RFC 6531 SMTPUTF8).  With 0 an address with
 * non-ASCII characters is refused with UAVMAIL_EADDRESS. */
#ifndef UAVMAIL_WITH_SMTPUTF8
#define UAVMAIL_WITH_SMTPUTF8 1
#endif

/* The protocol trace (uavmail_trace_cb).  With 0 a trace callback is
 * accepted but never called. */
#ifndef UAVMAIL_WITH_TRACE
#define UAVMAIL_WITH_TRACE 1
#endif

/* HELO when a plain relay without AUTH refuses EHLO (RFC 5321 3.2).  With
 * 0 that refusal is the session's failure (UAVMAIL_EPERMFAIL). */
#ifndef UAVMAIL_WITH_HELO
#define UAVMAIL_WITH_HELO 1
#endif

/* CHUNKING (RFC 3030): a message of known size goes as one BDAT chunk,
 * and messages follow each other without waiting (pipelined across
 * messages).  With 0 every message goes by DATA, one at a time. */
#ifndef UAVMAIL_WITH_CHUNKING
#define UAVMAIL_WITH_CHUNKING 1
#endif

/* RFC 2231 attachment file name parameters (filename*0*=UTF-8''...) for
 * non-ASCII names, after an RFC 2047 form in quotes.  With 0 a file name
 * must be printable ASCII without "=?" (it goes as one quoted string);
 * others are refused with UAVMAIL_EHEADER. */
#ifndef UAVMAIL_WITH_RFC2231
#define UAVMAIL_WITH_RFC2231 1
#endif

/* The table of media types guessed from a file name's extension for an
 * attachment added without one.  With 0 such attachments are sent as
 * application/octet-stream. */
#ifndef UAVMAIL_WITH_MIME_TYPES
#define UAVMAIL_WITH_MIME_TYPES 1
#endif

/* Attachments and prepared messages read from files or descriptors.  With
 * 0 those calls are refused with UAVMAIL_EINVAL: attach from memory or a
 * read callback (a board without a file system). */
#ifndef UAVMAIL_WITH_FILES
#define UAVMAIL_WITH_FILES 1
#endif

/* HTML bodies (multipart/alternative) and inline parts (multipart/related).
 * With 0 uavmail_message_set_html() and the inline calls are refused with
 * UAVMAIL_EINVAL; the text body and attachments remain. */
#ifndef UAVMAIL_WITH_HTML
#define UAVMAIL_WITH_HTML 1
#endif

/* Quoted-printable text parts (RFC 2045 6.7), for 8-bit text the server
 * cannot take as 8BITMIME, a NUL, or a line over 998 octets.  With 0 such
 * a text is refused with UAVMAIL_EENCODING; 7-bit text (and 8-bit text
 * with 8BITMIME) goes as before. */
#ifndef UAVMAIL_WITH_QP
#define UAVMAIL_WITH_QP 1
#endif

/* Message size declaration (RFC 1870 SIZE): SIZE= on MAIL, and a message
 * over the server's announced limit refused before it is sent.  With 0
 * the server's own refusal after the data is the result. */
#ifndef UAVMAIL_WITH_SIZE
#define UAVMAIL_WITH_SIZE 1
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

/* A session does not reuse a connection idle this long: a server may end one idle for 5
 * minutes (RFC 5321 4.5.3.2.7; Postfix's smtpd_timeout, Exim's), and a NAT or LTE carrier
 * on the way may drop it without a word, so the next command would only meet the MAIL
 * timeout.  A little under 5 minutes, so as not to cross the server's 421 on the wire. */
#ifndef UAVMAIL_SESSION_IDLE_MAX_MS
#define UAVMAIL_SESSION_IDLE_MAX_MS (4u * 60u * 1000u)
#endif

#endif
