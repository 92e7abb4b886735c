/*
 * The message model shared by message.c (building) and mime.c (rendering).
 */
#ifndef UAVMAIL_MESSAGE_INT_H
#define UAVMAIL_MESSAGE_INT_H

#include "internal.h"

typedef struct uavmail__mbox {
    char *addr;
    char *name; /* UTF-8 display name or NULL */
    int kind;   /* enum uavmail_recipient_kind (recipients only) */
} uavmail__mbox;

enum { UAVMAIL__SRC_MEMORY, UAVMAIL__SRC_FILE, UAVMAIL__SRC_FD, UAVMAIL__SRC_CALLBACK };

typedef struct uavmail__attachment {
    int source;          /* UAVMAIL__SRC_* */
    char *path;          /* file source */
    unsigned char *data; /* memory source (owned) */
    size_t len;
    int fd;              /* descriptor source (not owned) */
    uavmail_read_cb cb;  /* callback source */
    void *cb_user_data;
    int64_t cb_size;     /* callback: declared size or UAVMAIL_SIZE_UNKNOWN */
    char *content_type;
    char *filename;      /* UTF-8, shown to the recipient */
    char *content_id;    /* inline parts: Content-ID without brackets */
    int is_inline;
} uavmail__attachment;

typedef struct uavmail__header {
    char *name;
    char *value;
} uavmail__header;

struct uavmail_message {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    uavmail__mbox from;
    uavmail__mbox *rcpt;
    size_t nrcpt, rcpt_cap;
    char *subject;
    uavmail__mbox reply_to;
    char *text;
    size_t text_len;
    char *html;
    size_t html_len;
    uavmail__header *hdr;
    size_t nhdr, hdr_cap;
    uavmail__attachment *att;
    size_t natt, att_cap;
    char *msgid_domain;
    char *prepared;        /* path of a prepared RFC 5322 message, or NULL */
    unsigned dsn_notify;   /* enum uavmail_dsn_notify */
    int dsn_ret;
    char *dsn_envid;
    /* Fixed on first check/render so every rendering is identical. */
    int frozen;
    int64_t date;
    int date_offset_min;
    char message_id[160];
};

/* Fix Date and Message-ID if not yet done. */
int uavmail__message_freeze(uavmail_message *m);
/* The same, dated @p t (seconds since 1970 UTC) in UTC. */
UAVMAIL__SHARED int uavmail__message_freeze_at(uavmail_message *m, int64_t t);
/* For the library's own writers: the last attachment's media type becomes @p type, which may
 * carry parameters (the public API takes type/subtype alone).  Short of memory the attachment
 * keeps its plain type. */
UAVMAIL__SHARED void uavmail__message_set_last_type(uavmail_message *m, const char *type);
/* Whether an address of the message needs SMTPUTF8 (RFC 6531). */
int uavmail__message_needs_utf8(const uavmail_message *m);

#endif
