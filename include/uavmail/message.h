/*
 * uavmail - composing a MIME message.
 *
 * A message is built in memory from small pieces (addresses, subject, text
 * body) and references to attachment content that is read lazily, in
 * constant memory, only while the message is rendered.  Rendering happens
 * when the message is sent or written out; it can be repeated.
 */
#ifndef UAVMAIL_MESSAGE_H
#define UAVMAIL_MESSAGE_H

#include "uavmail/common.h"
#include "uavmail/error.h"

UAVMAIL_BEGIN_DECLS

/** A message under construction.  Not thread-safe; one thread at a time.  @since 0.1.0 */
typedef struct uavmail_message uavmail_message;

/** Options for uavmail_message_new().  @since 0.1.0 */
typedef struct uavmail_message_options {
    unsigned version;                   /**< UAVMAIL_MESSAGE_OPTIONS_VERSION */
    const uavmail_allocator *allocator; /**< NULL: the C library's allocator; copied */
    const char *message_id_domain;      /**< right-hand side of Message-ID; NULL: the From domain */
} uavmail_message_options;

#define UAVMAIL_MESSAGE_OPTIONS_VERSION 1
#define UAVMAIL_MESSAGE_OPTIONS_INIT { UAVMAIL_MESSAGE_OPTIONS_VERSION, NULL, NULL }

/**
 * Initialise an options struct to its defaults.
 * @param opts struct to fill.
 * @param version UAVMAIL_MESSAGE_OPTIONS_VERSION of the caller's header.
 * @return 0, or UAVMAIL_EINVAL for NULL or an unknown version.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_options_init(uavmail_message_options *opts, unsigned version);

/**
 * Create an empty message.
 * @param out receives the new handle; free it with uavmail_message_free().
 * @param opts options, or NULL for defaults.
 * @return 0, UAVMAIL_ENOMEM or UAVMAIL_EINVAL.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_new(uavmail_message **out, const uavmail_message_options *opts);

/** Free a message; NULL is ignored.  @since 0.1.0 */
UAVMAIL_EXTERN void uavmail_message_free(uavmail_message *msg);

/**
 * Detail of the last failed call on @p msg.
 * @return detail owned by @p msg; valid until the next call on it.
 * @since 0.1.0
 */
UAVMAIL_EXTERN const uavmail_error_detail *uavmail_message_last_error(const uavmail_message *msg);

/** Recipient kinds.  Bcc recipients are never written into the headers.  @since 0.1.0 */
enum uavmail_recipient_kind {
    UAVMAIL_TO = 0,
    UAVMAIL_CC = 1,
    UAVMAIL_BCC = 2
};

/**
 * Set the author (From header and, by default, the envelope sender).
 * @param msg the message.
 * @param address addr-spec, e.g. "uav7@example.com" (copied).
 * @param display_name UTF-8 display name or NULL (copied; encoded as needed).
 * @return 0, UAVMAIL_EADDRESS, UAVMAIL_EHEADER, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_from(uavmail_message *msg, const char *address,
                                            const char *display_name);

/**
 * Add a recipient.
 * @param msg the message.
 * @param kind a value of enum uavmail_recipient_kind.
 * @param address addr-spec (copied).
 * @param display_name UTF-8 display name or NULL (copied).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EADDRESS, UAVMAIL_EHEADER, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_add_recipient(uavmail_message *msg, int kind,
                                                 const char *address, const char *display_name);

/**
 * Set the subject.
 * @param msg the message.
 * @param subject UTF-8 text without CR, LF or NUL (copied; encoded as needed).
 * @return 0, UAVMAIL_EHEADER, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_subject(uavmail_message *msg, const char *subject);

/**
 * Set the plain-text body.  Line ends are normalised to CRLF when rendered.
 * @param msg the message.
 * @param text UTF-8 text (copied); may contain any line-end convention.
 * @param len length of @p text in bytes.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_text(uavmail_message *msg, const char *text, size_t len);

/**
 * Attach a file.  The file is opened and read only while the message is
 * rendered (constant memory whatever its size); uavmail_message_check()
 * and sending verify it is readable before any connection is made.
 * @param msg the message.
 * @param path file path (copied).
 * @param content_type media type such as "text/csv", or NULL to guess from the extension.
 * @param filename name shown to the recipient, or NULL for the base name of @p path.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EHEADER, UAVMAIL_EFILE or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_attach_file(uavmail_message *msg, const char *path,
                                               const char *content_type, const char *filename);

/**
 * Attach bytes from memory (copied).
 * @param msg the message.
 * @param data content; may be NULL when @p len is 0.
 * @param len size in bytes.
 * @param content_type media type, or NULL to guess from @p filename.
 * @param filename name shown to the recipient (required).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EHEADER or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_attach_memory(uavmail_message *msg, const void *data,
                                                 size_t len, const char *content_type,
                                                 const char *filename);

/**
 * Set the Reply-To address.
 * @param msg the message.
 * @param address addr-spec (copied).
 * @param display_name UTF-8 display name or NULL (copied).
 * @return 0, UAVMAIL_EADDRESS, UAVMAIL_EHEADER, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_reply_to(uavmail_message *msg, const char *address,
                                                const char *display_name);

/**
 * Add a custom header field such as "X-Vehicle-Id".  Fields the library
 * writes itself (From, To, Cc, Bcc, Reply-To, Subject, Date, Message-ID,
 * MIME-Version, Content-*) are refused: use their setters.
 * @param msg the message.
 * @param name field name: printable ASCII without ':' or space, at most 76 bytes (copied).
 * @param value UTF-8 value without CR, LF or NUL (copied; encoded and folded as needed).
 * @return 0, UAVMAIL_EHEADER (the detail names the field), UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_add_header(uavmail_message *msg, const char *name,
                                              const char *value);

/**
 * Set the HTML body.  With a text body too, both go in multipart/alternative;
 * inline parts (uavmail_message_add_inline_*) go with the HTML in
 * multipart/related.
 * @param msg the message.
 * @param html UTF-8 HTML (copied).
 * @param len length in bytes.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EENCODING or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_html(uavmail_message *msg, const char *html, size_t len);

/**
 * Attach the content of an open file descriptor, read with positioned reads
 * from offset 0 while rendering (the descriptor's own offset is untouched;
 * it must stay open, and is not closed, until the message is freed).
 * @param msg the message.
 * @param fd a readable, seekable descriptor.
 * @param content_type media type, or NULL to guess from @p filename.
 * @param filename name shown to the recipient (required).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EHEADER, UAVMAIL_EFILE or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_attach_fd(uavmail_message *msg, int fd,
                                             const char *content_type, const char *filename);

/**
 * Reads attachment content for the library: copy up to @p cap bytes starting
 * at byte @p offset of the content into @p buf.  Offsets only grow within
 * one rendering; a new rendering (e.g. a retry) starts again at 0.
 * Called on the thread that renders or sends the message.
 * @return bytes copied (0 at the end), or a negative value on error.
 */
typedef long (*uavmail_read_cb)(void *buf, size_t cap, uint64_t offset, void *user_data);

/** Size to pass for content whose length is not known in advance.  @since 0.1.0 */
#define UAVMAIL_SIZE_UNKNOWN ((int64_t)-1)

/**
 * Attach content produced by a callback, streamed in constant memory.
 * @param msg the message.
 * @param read_cb supplies the bytes.
 * @param size content length, or UAVMAIL_SIZE_UNKNOWN (then uavmail_message_size()
 *        cannot answer and the SMTP SIZE parameter is omitted).
 * @param content_type media type, or NULL to guess from @p filename.
 * @param filename name shown to the recipient (required).
 * @param user_data passed to @p read_cb.
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EHEADER or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_attach_callback(uavmail_message *msg, uavmail_read_cb read_cb,
                                                   int64_t size, const char *content_type,
                                                   const char *filename, void *user_data);

/**
 * Add an inline part from a file, referenced from the HTML body as
 * "cid:CONTENT_ID" (e.g. a low-resolution preview image).
 * @param msg the message.
 * @param path file path (copied; read while rendering).
 * @param content_type media type, or NULL to guess from the extension.
 * @param content_id identifier without angle brackets, e.g. "preview@uav7" (copied).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EHEADER or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_add_inline_file(uavmail_message *msg, const char *path,
                                                   const char *content_type,
                                                   const char *content_id);

/**
 * Add an inline part from memory (copied); see uavmail_message_add_inline_file().
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_add_inline_memory(uavmail_message *msg, const void *data,
                                                     size_t len, const char *content_type,
                                                     const char *content_id);

/** Delivery status notification requests (RFC 3461).  @since 0.1.0 */
enum uavmail_dsn_notify {
    UAVMAIL_DSN_SUCCESS = 1, /**< report delivery */
    UAVMAIL_DSN_FAILURE = 2, /**< report failure */
    UAVMAIL_DSN_DELAY = 4,   /**< report delays */
    UAVMAIL_DSN_NEVER = 8    /**< never report (alone) */
};

/** What a DSN returns of the message.  @since 0.1.0 */
enum uavmail_dsn_ret {
    UAVMAIL_DSN_RET_DEFAULT = 0, /**< the server's choice */
    UAVMAIL_DSN_RET_FULL = 1,    /**< the whole message */
    UAVMAIL_DSN_RET_HDRS = 2     /**< the headers only */
};

/**
 * Ask for delivery status notifications.  Used only when the server offers
 * DSN; ORCPT is sent for every recipient.
 * @param msg the message.
 * @param notify enum uavmail_dsn_notify flags (NEVER alone), or 0 for none.
 * @param ret enum uavmail_dsn_ret.
 * @param envid envelope identifier (printable ASCII, at most 100 bytes; copied), or NULL.
 * @return 0, UAVMAIL_EINVAL or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_dsn(uavmail_message *msg, unsigned notify, int ret,
                                           const char *envid);

/**
 * Use a complete, prepared RFC 5322 message from a file as the content
 * (e.g. an .eml written earlier).  Line ends are normalised to CRLF and any
 * Bcc header field is removed when it is sent; the From and recipients set
 * on this handle are used only for the envelope, and the other setters no
 * longer affect the content.
 * @param msg the message.
 * @param path the file (copied; read while sending; must stay readable).
 * @return 0, UAVMAIL_EINVAL, UAVMAIL_EFILE or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_set_prepared_file(uavmail_message *msg, const char *path);

/** Rendering flags.  @since 0.1.0 */
enum uavmail_render_flags {
    UAVMAIL_RENDER_8BIT = 1 /**< the transport carries 8-bit text (8BITMIME): no QP for UTF-8 text */
};

/**
 * Exact size in bytes of the rendered message, computed without reading any
 * attachment (callers budget against provider limits and the server's SIZE).
 * @param msg the message.
 * @param flags enum uavmail_render_flags.
 * @param size receives the size.
 * @return 0, UAVMAIL_EFILE (an attachment cannot be examined), UAVMAIL_ESTATE
 *         (a callback attachment of unknown size) or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_size(uavmail_message *msg, unsigned flags, uint64_t *size);

/**
 * Render the message into a caller's buffer.
 * @param msg the message.
 * @param flags enum uavmail_render_flags.
 * @param buf destination, or NULL to ask for the size.
 * @param cap capacity of @p buf.
 * @param len receives the rendered length (or the needed length).
 * @return 0, UAVMAIL_ETOOBIG when @p cap is too small (*len says how much is
 *         needed), UAVMAIL_EFILE or UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_render(uavmail_message *msg, unsigned flags, void *buf,
                                          size_t cap, size_t *len);

/**
 * Validate the message without sending it: a From and at least one
 * recipient are present and every attachment can be opened.  Fixes the
 * Date and Message-ID on first use so later renderings are identical.
 * @param msg the message.
 * @return 0, UAVMAIL_EINVAL (missing From or recipients) or UAVMAIL_EFILE
 *         (the detail names the file).
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_check(uavmail_message *msg);

/**
 * Render the message as an RFC 5322 file (.eml, CRLF line ends), 7-bit
 * clean unless an address needs SMTPUTF8.
 * @param msg the message.
 * @param path output path; written through a temporary file and renamed.
 * @return 0, or UAVMAIL_EINVAL, UAVMAIL_EFILE, UAVMAIL_ENOMEM.
 * @since 0.1.0
 */
UAVMAIL_EXTERN int uavmail_message_write_file(uavmail_message *msg, const char *path);

UAVMAIL_END_DECLS

#endif /* UAVMAIL_MESSAGE_H */
