/*
 * Building a message: validation happens here, when values are set, so a
 * bad value is reported against the call that supplied it.
 */
#include <string.h>

#include "address.h"
#include "base64.h"
#include "message_int.h"
#include "mime.h"
#include "platform.h"

#define SUBJECT_MAX 2048
/* No object is larger than PTRDIFF_MAX: a longer length is a caller's error,
 * refused before any byte is read or any size is computed from it (FZ-07). */
#define OBJECT_MAX ((size_t)PTRDIFF_MAX)
#define NAME_MAX_ 256
#define FILENAME_MAX_ 255

int uavmail_message_options_init(uavmail_message_options *opts, unsigned version)
{
    static const uavmail_message_options defaults = UAVMAIL_MESSAGE_OPTIONS_INIT;
    if (opts == NULL || version != UAVMAIL_MESSAGE_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    *opts = defaults;
    return 0;
}

int uavmail_message_new(uavmail_message **out, const uavmail_message_options *opts)
{
    uavmail__alloc a;
    uavmail_message *m;
    if (out == NULL)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (opts != NULL && opts->version != UAVMAIL_MESSAGE_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    if (uavmail__alloc_init(&a, opts ? opts->allocator : NULL) != 0)
        return UAVMAIL_EINVAL;
    m = uavmail__calloc(&a, 1, sizeof *m);
    if (m == NULL)
        return UAVMAIL_ENOMEM;
    m->alloc = a;
    if (opts != NULL && opts->message_id_domain != NULL) {
        m->msgid_domain = uavmail__strdup(&a, opts->message_id_domain);
        if (m->msgid_domain == NULL) {
            uavmail__free(&a, m);
            return UAVMAIL_ENOMEM;
        }
    }
    *out = m;
    return 0;
}

static void free_mbox(uavmail_message *m, uavmail__mbox *b)
{
    uavmail__free(&m->alloc, b->addr);
    uavmail__free(&m->alloc, b->name);
    b->addr = b->name = NULL;
}

void uavmail_message_free(uavmail_message *m)
{
    size_t i;
    if (m == NULL)
        return;
    free_mbox(m, &m->from);
    free_mbox(m, &m->reply_to);
    for (i = 0; i < m->nhdr; i++) {
        uavmail__free(&m->alloc, m->hdr[i].name);
        uavmail__free(&m->alloc, m->hdr[i].value);
    }
    uavmail__free(&m->alloc, m->hdr);
    uavmail__free(&m->alloc, m->html);
    for (i = 0; i < m->nrcpt; i++)
        free_mbox(m, &m->rcpt[i]);
    uavmail__free(&m->alloc, m->rcpt);
    for (i = 0; i < m->natt; i++) {
        uavmail__free(&m->alloc, m->att[i].path);
        uavmail__free(&m->alloc, m->att[i].data);
        uavmail__free(&m->alloc, m->att[i].content_type);
        uavmail__free(&m->alloc, m->att[i].filename);
        uavmail__free(&m->alloc, m->att[i].content_id);
    }
    uavmail__free(&m->alloc, m->att);
    uavmail__free(&m->alloc, m->subject);
    uavmail__free(&m->alloc, m->text);
    uavmail__free(&m->alloc, m->msgid_domain);
    uavmail__free(&m->alloc, m->prepared);
    uavmail__free(&m->alloc, m->dsn_envid);
    uavmail__free(&m->alloc, m);
}

const uavmail_error_detail *uavmail_message_last_error(const uavmail_message *m)
{
    return m ? &m->err : NULL;
}

/* D-07: a header value may hold no CR, LF or NUL, must be UTF-8 and bounded. */
static int check_header_value(uavmail_message *m, const char *what, const char *v, size_t max)
{
    size_t n = strlen(v), i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\r' || c == '\n')
            return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                    "%s contains a line break (CR or LF), which could inject "
                                    "headers",
                                    what);
        if (c < 0x20 && c != '\t')
            return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                    "%s contains a control character (0x%02X)", what, c);
    }
    if (!uavmail__utf8_valid(v, n))
        return uavmail__err_set(&m->err, UAVMAIL_EENCODING, "%s is not valid UTF-8", what);
    if (n > max)
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER, "%s is longer than %zu bytes", what,
                                max);
    return 0;
}

static int set_mbox(uavmail_message *m, uavmail__mbox *b, const char *what, const char *addr,
                    const char *name)
{
    char *a2, *n2 = NULL;
    if (uavmail__address_check(addr, what, &m->err, NULL) != 0)
        return UAVMAIL_EADDRESS;
    if (name != NULL) {
        char label[64];
#if UAVMAIL_ERROR_TEXTS
        uavmail__snprintf(label, sizeof label, "%s display name", what);
#else
        label[0] = 0; /* it only names the field in error texts */
#endif
        if (check_header_value(m, label, name, NAME_MAX_) != 0)
            return m->err.code;
    }
    a2 = uavmail__strdup(&m->alloc, addr);
    if (name != NULL)
        n2 = uavmail__strdup(&m->alloc, name);
    if (a2 == NULL || (name != NULL && n2 == NULL)) {
        uavmail__free(&m->alloc, a2);
        uavmail__free(&m->alloc, n2);
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    }
    free_mbox(m, b);
    b->addr = a2;
    b->name = n2;
    return 0;
}

int uavmail_message_set_from(uavmail_message *m, const char *address, const char *display_name)
{
    if (m == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    return set_mbox(m, &m->from, "From", address, display_name);
}

/* Grow an array of @p size-byte elements to hold one more. */
static int grow(uavmail_message *m, void **arr, size_t *cap, size_t n, size_t size)
{
    void *p;
    size_t ncap;
    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / size)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "too many items");
    p = uavmail__realloc(&m->alloc, *arr, ncap * size);
    if (p == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    *arr = p;
    *cap = ncap;
    return 0;
}

int uavmail_message_add_recipient(uavmail_message *m, int kind, const char *address,
                                  const char *display_name)
{
    static const char *const what[] = {"To", "Cc", "Bcc"};
    uavmail__mbox b = {NULL, NULL, 0};
    int rc;
    if (m == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (kind < UAVMAIL_TO || kind > UAVMAIL_BCC)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "unknown recipient kind %d", kind);
    rc = grow(m, (void **)&m->rcpt, &m->rcpt_cap, m->nrcpt, sizeof *m->rcpt);
    if (rc == 0)
        rc = set_mbox(m, &b, what[kind], address, display_name);
    if (rc != 0)
        return rc;
    b.kind = kind;
    m->rcpt[m->nrcpt++] = b;
    return 0;
}

int uavmail_message_set_subject(uavmail_message *m, const char *subject)
{
    char *s;
    if (m == NULL || subject == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (check_header_value(m, "Subject", subject, SUBJECT_MAX) != 0)
        return m->err.code;
    s = uavmail__strdup(&m->alloc, subject);
    if (s == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    uavmail__free(&m->alloc, m->subject);
    m->subject = s;
    return 0;
}

static int set_body(uavmail_message *m, char **dst, size_t *dst_len, const char *what,
                    const char *text, size_t len)
{
    char *t;
    if (m == NULL || (text == NULL && len != 0))
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (len > OBJECT_MAX)
        return uavmail__err_set(&m->err, UAVMAIL_ETOOBIG, "%s body length %zu is impossible", what,
                                len);
    if (!uavmail__utf8_valid(text ? text : "", len))
        return uavmail__err_set(&m->err, UAVMAIL_EENCODING, "%s body is not valid UTF-8", what);
    t = uavmail__strndup(&m->alloc, text ? text : "", len);
    if (t == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    uavmail__free(&m->alloc, *dst);
    *dst = t;
    *dst_len = len;
    return 0;
}

#if !UAVMAIL_WITH_HTML
/* An HTML body or inline part asked for with UAVMAIL_WITH_HTML 0 (opts.h). */
static int no_html(uavmail_message *m)
{
    return uavmail__err_set(&m->err, UAVMAIL_EINVAL,
                            "HTML bodies and inline parts are not compiled in "
                            "(UAVMAIL_WITH_HTML)");
}
#endif

int uavmail_message_set_text(uavmail_message *m, const char *text, size_t len)
{
    return m ? set_body(m, &m->text, &m->text_len, "text", text, len) : UAVMAIL_EINVAL;
}

int uavmail_message_set_html(uavmail_message *m, const char *html, size_t len)
{
    if (m == NULL)
        return UAVMAIL_EINVAL;
#if !UAVMAIL_WITH_HTML
    if (html != NULL)
        return no_html(m);
#endif
    return set_body(m, &m->html, &m->html_len, "HTML", html, len);
}

int uavmail_message_set_reply_to(uavmail_message *m, const char *address,
                                 const char *display_name)
{
    if (m == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    return set_mbox(m, &m->reply_to, "Reply-To", address, display_name);
}

/* Fields the library writes itself; an application may not add them. */
static int reserved_header(const char *name)
{
    static const char *const names[] = {"From", "To", "Cc", "Bcc", "Reply-To", "Subject",
                                        "Date", "Message-ID", "MIME-Version", "Sender",
                                        "Return-Path", "Received"};
    size_t i;
    if (uavmail__ascii_ncasecmp(name, "Content-", 8) == 0)
        return 1;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(names); i++)
        if (uavmail__ascii_casecmp(name, names[i]) == 0)
            return 1;
    return 0;
}

int uavmail_message_add_header(uavmail_message *m, const char *name, const char *value)
{
    const char *p;
    char what[100];
    uavmail__header h;
    int rc;
    if (m == NULL || name == NULL || value == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    /* RFC 5322 3.6.8: field-name = 1*ftext, printable US-ASCII except ':'. */
    if (name[0] == '\0' || strlen(name) > 76)
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                "header name is empty or longer than 76 bytes");
    for (p = name; *p; p++)
        if ((unsigned char)*p < 33 || (unsigned char)*p > 126 || *p == ':')
            return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                    "header name \"%.76s\" contains a character that is not "
                                    "allowed (space, ':', control or non-ASCII)",
                                    name);
    if (reserved_header(name))
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                "header \"%s\" is written by the library; use its setter", name);
    uavmail__snprintf(what, sizeof what, "header %s", name);
    if (check_header_value(m, what, value, 998) != 0)
        return m->err.code;
    rc = grow(m, (void **)&m->hdr, &m->hdr_cap, m->nhdr, sizeof *m->hdr);
    if (rc != 0)
        return rc;
    h.name = uavmail__strdup(&m->alloc, name);
    h.value = uavmail__strdup(&m->alloc, value);
    if (h.name == NULL || h.value == NULL) {
        uavmail__free(&m->alloc, h.name);
        uavmail__free(&m->alloc, h.value);
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    }
    m->hdr[m->nhdr++] = h;
    return 0;
}

/* A file source asked for with UAVMAIL_WITH_FILES 0 (opts.h). */
static int no_files(uavmail_message *m)
{
    return uavmail__err_set(&m->err, UAVMAIL_EINVAL,
                            "files are not compiled in (UAVMAIL_WITH_FILES): attach from memory "
                            "or a read callback");
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
#if defined(_WIN32)
    const char *b = strrchr(path, '\\');
    if (b != NULL && (s == NULL || b > s))
        s = b;
#endif
    return s ? s + 1 : path;
}

/* Media type: type "/" subtype, tokens only (RFC 2045 5.1); parameters
 * are not accepted here. */
static int check_media_type(uavmail_message *m, const char *t)
{
    const char *p;
    int slash = 0;
    if (*t == '\0' || strlen(t) > 127)
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER, "content type is empty or too long");
    for (p = t; *p; p++) {
        if (*p == '/') {
            if (slash++ || p == t || p[1] == '\0')
                return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                        "content type \"%.60s\" is not type/subtype", t);
        } else if (!(uavmail__is_alpha(*p) || uavmail__is_digit(*p) ||
                     strchr("!#$&-^_.+", *p))) {
            return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                    "content type \"%.60s\" contains a forbidden character", t);
        }
    }
    if (!slash)
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                "content type \"%.60s\" is not type/subtype", t);
    return 0;
}

/* Content-ID: printable ASCII without brackets, quotes or spaces. */
static int check_content_id(uavmail_message *m, const char *cid)
{
    const char *p;
    if (cid == NULL || cid[0] == '\0' || strlen(cid) > 200)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "inline part needs a content ID");
    for (p = cid; *p; p++)
        if ((unsigned char)*p <= 32 || (unsigned char)*p >= 127 || strchr("<>\"\\()[],;:", *p))
            return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                    "content ID \"%.60s\" contains a character that is not "
                                    "allowed",
                                    cid);
    return 0;
}

#if !UAVMAIL_WITH_RFC2231
/* Without RFC 2231 a file name goes as one quoted string: printable ASCII,
 * and nothing a reader could take for an RFC 2047 encoded word. */
static int plain_filename(const char *f)
{
    const char *p;
    for (p = f; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            return 0;
    return strstr(f, "=?") == NULL;
}
#endif

static int add_attachment(uavmail_message *m, uavmail__attachment *a, const char *content_type,
                          const char *filename, const char *cid)
{
    int rc;
    a->is_inline = UAVMAIL_WITH_HTML && cid != NULL;
    if (a->is_inline && check_content_id(m, cid) != 0)
        return m->err.code;
    if (filename == NULL || filename[0] == '\0')
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "attachment needs a file name");
    if (check_header_value(m, "attachment file name", filename, FILENAME_MAX_) != 0)
        return m->err.code;
#if !UAVMAIL_WITH_RFC2231
    if (!plain_filename(filename))
        return uavmail__err_set(&m->err, UAVMAIL_EHEADER,
                                "attachment file name \"%.100s\" is not plain printable ASCII, "
                                "and RFC 2231 parameters are not compiled in "
                                "(UAVMAIL_WITH_RFC2231)",
                                filename);
#endif
    if (content_type == NULL)
        content_type = uavmail__mime_guess_type(filename);
    else if (check_media_type(m, content_type) != 0)
        return m->err.code;
    rc = grow(m, (void **)&m->att, &m->att_cap, m->natt, sizeof *m->att);
    if (rc != 0)
        return rc;
    a->content_type = uavmail__strdup(&m->alloc, content_type);
    a->filename = uavmail__strdup(&m->alloc, filename);
    if (a->is_inline)
        a->content_id = uavmail__strdup(&m->alloc, cid);
    if (a->content_type == NULL || a->filename == NULL || (a->is_inline && !a->content_id)) {
        uavmail__free(&m->alloc, a->content_type);
        uavmail__free(&m->alloc, a->filename);
        if (a->is_inline)
            uavmail__free(&m->alloc, a->content_id);
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    }
    m->att[m->natt++] = *a;
    return 0;
}

static int attach_file(uavmail_message *m, const char *path, const char *content_type,
                       const char *filename, const char *cid)
{
    uavmail__attachment a;
    int rc;
    if (m == NULL || path == NULL || path[0] == '\0')
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (!UAVMAIL_WITH_FILES)
        return no_files(m);
    memset(&a, 0, sizeof a);
    a.source = UAVMAIL__SRC_FILE;
    a.path = uavmail__strdup(&m->alloc, path);
    if (a.path == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    rc = add_attachment(m, &a, content_type, filename ? filename : base_name(path), cid);
    if (rc != 0)
        uavmail__free(&m->alloc, a.path);
    return rc;
}

static int attach_memory(uavmail_message *m, const void *data, size_t len,
                         const char *content_type, const char *filename, const char *cid)
{
    uavmail__attachment a;
    int rc;
    if (m == NULL || (data == NULL && len != 0))
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (len > OBJECT_MAX)
        return uavmail__err_set(&m->err, UAVMAIL_ETOOBIG, "attachment length %zu is impossible",
                                len);
    memset(&a, 0, sizeof a);
    a.source = UAVMAIL__SRC_MEMORY;
    a.len = len;
    a.data = uavmail__malloc(&m->alloc, len);
    if (a.data == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    if (len != 0)
        memcpy(a.data, data, len);
    rc = add_attachment(m, &a, content_type, filename, cid);
    if (rc != 0)
        uavmail__free(&m->alloc, a.data);
    return rc;
}

int uavmail_message_attach_file(uavmail_message *m, const char *path, const char *content_type,
                                const char *filename)
{
    return attach_file(m, path, content_type, filename, NULL);
}

int uavmail_message_attach_memory(uavmail_message *m, const void *data, size_t len,
                                  const char *content_type, const char *filename)
{
    return attach_memory(m, data, len, content_type, filename, NULL);
}

int uavmail_message_add_inline_file(uavmail_message *m, const char *path,
                                    const char *content_type, const char *content_id)
{
#if UAVMAIL_WITH_HTML
    if (content_id == NULL)
        return UAVMAIL_EINVAL;
    return attach_file(m, path, content_type, NULL, content_id);
#else
    return m == NULL ? UAVMAIL_EINVAL : no_html(m);
#endif
}

int uavmail_message_add_inline_memory(uavmail_message *m, const void *data, size_t len,
                                      const char *content_type, const char *content_id)
{
#if UAVMAIL_WITH_HTML
    if (content_id == NULL)
        return UAVMAIL_EINVAL;
    return attach_memory(m, data, len, content_type, content_id, content_id);
#else
    return m == NULL ? UAVMAIL_EINVAL : no_html(m);
#endif
}

int uavmail_message_attach_fd(uavmail_message *m, int fd, const char *content_type,
                              const char *filename)
{
    uavmail__attachment a;
    if (m == NULL || fd < 0)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (!UAVMAIL_WITH_FILES)
        return no_files(m);
    if (uavmail__plat_fd_size(fd) < 0)
        return uavmail__err_set(&m->err, UAVMAIL_EFILE,
                                "descriptor %d for attachment \"%.100s\" is not a readable "
                                "regular file",
                                fd, filename ? filename : "");
    memset(&a, 0, sizeof a);
    a.source = UAVMAIL__SRC_FD;
    a.fd = fd;
    return add_attachment(m, &a, content_type, filename, NULL);
}

int uavmail_message_attach_callback(uavmail_message *m, uavmail_read_cb read_cb, int64_t size,
                                    const char *content_type, const char *filename,
                                    void *user_data)
{
    uavmail__attachment a;
    if (m == NULL || read_cb == NULL || (size < 0 && size != UAVMAIL_SIZE_UNKNOWN))
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    memset(&a, 0, sizeof a);
    a.source = UAVMAIL__SRC_CALLBACK;
    a.cb = read_cb;
    a.cb_user_data = user_data;
    a.cb_size = size;
    return add_attachment(m, &a, content_type, filename, NULL);
}

void uavmail__message_set_last_type(uavmail_message *m, const char *type)
{
    char *t = m->natt ? uavmail__strdup(&m->alloc, type) : NULL;
    if (t != NULL) {
        uavmail__free(&m->alloc, m->att[m->natt - 1].content_type);
        m->att[m->natt - 1].content_type = t;
    }
}

int uavmail_message_set_dsn(uavmail_message *m, unsigned notify, int ret, const char *envid)
{
    char *e = NULL;
    if (m == NULL || (notify & ~15u) != 0 ||
        ((notify & UAVMAIL_DSN_NEVER) && notify != UAVMAIL_DSN_NEVER) ||
        ret < UAVMAIL_DSN_RET_DEFAULT || ret > UAVMAIL_DSN_RET_HDRS)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
#if !UAVMAIL_WITH_DSN
    if (notify != 0 || ret != UAVMAIL_DSN_RET_DEFAULT || envid != NULL)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL,
                                "delivery status notifications are not compiled in "
                                "(UAVMAIL_WITH_DSN)");
#endif
    if (envid != NULL) {
        const char *p;
        if (strlen(envid) > 100)
            return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "DSN envelope id is too long");
        for (p = envid; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
                return uavmail__err_set(&m->err, UAVMAIL_EINVAL,
                                        "DSN envelope id must be printable ASCII");
        e = uavmail__strdup(&m->alloc, envid);
        if (e == NULL)
            return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    }
    uavmail__free(&m->alloc, m->dsn_envid);
    m->dsn_envid = e;
    m->dsn_notify = notify;
    m->dsn_ret = ret;
    return 0;
}

int uavmail_message_set_prepared_file(uavmail_message *m, const char *path)
{
    uavmail__file *f;
    char why[128], *p;
    if (m == NULL || path == NULL || path[0] == '\0')
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (!UAVMAIL_WITH_FILES)
        return no_files(m);
    if (uavmail__plat_file_open(&f, &m->alloc, path, why, sizeof why) != 0)
        return uavmail__err_set(&m->err, UAVMAIL_EFILE, "message file \"%s\" cannot be opened: %s",
                                path, why);
    uavmail__plat_file_close(f);
    p = uavmail__strdup(&m->alloc, path);
    if (p == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory");
    uavmail__free(&m->alloc, m->prepared);
    m->prepared = p;
    return 0;
}

int uavmail__message_freeze(uavmail_message *m)
{
    int64_t now;
    int rc;
    if (m->frozen)
        return 0;
    now = uavmail__plat_time();
    rc = uavmail__message_freeze_at(m, now);
    if (rc == 0)
        m->date_offset_min = uavmail__plat_utc_offset_min(now); /* local zone */
    return rc;
}

int uavmail__message_freeze_at(uavmail_message *m, int64_t t)
{
    unsigned char rnd[12];
    char id[2 * sizeof rnd + 1];
    const char *domain;
    size_t i;
    if (m->frozen)
        return 0;
    if (m->from.addr == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "message has no From address");
    domain = m->msgid_domain;
    if (domain == NULL) {
        domain = strrchr(m->from.addr, '@') + 1;
        if (domain[0] == '[' || (unsigned char)domain[0] >= 0x80)
            domain = "uavmail.invalid";
    }
    if (uavmail__plat_random(rnd, sizeof rnd) != 0)
        return uavmail__err_set(&m->err, UAVMAIL_EINTERNAL, "no random numbers available");
    for (i = 0; i < sizeof rnd; i++) {
        id[2 * i] = "0123456789abcdef"[rnd[i] >> 4];
        id[2 * i + 1] = "0123456789abcdef"[rnd[i] & 15];
    }
    id[2 * sizeof rnd] = '\0';
    m->date = t;
    m->date_offset_min = 0;
    uavmail__snprintf(m->message_id, sizeof m->message_id, "%lld.%s@%.120s",
                      (long long)m->date, id, domain);
    m->frozen = 1;
    return 0;
}

int uavmail_message_check(uavmail_message *m)
{
    size_t i;
    if (m == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    if (m->from.addr == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "message has no From address");
    if (m->nrcpt == 0)
        return uavmail__err_set(&m->err, UAVMAIL_EINVAL, "message has no recipients");
    if (m->prepared != NULL) {
        uavmail__file *f;
        char why[128];
        if (uavmail__plat_file_open(&f, &m->alloc, m->prepared, why, sizeof why) != 0)
            return uavmail__err_set(&m->err, UAVMAIL_EFILE,
                                    "message file \"%s\" cannot be opened: %s", m->prepared, why);
        uavmail__plat_file_close(f);
    }
    for (i = 0; i < m->natt; i++) {
        uavmail__file *f;
        char why[128];
        if (m->att[i].source == UAVMAIL__SRC_FD && uavmail__plat_fd_size(m->att[i].fd) < 0)
            return uavmail__err_set(&m->err, UAVMAIL_EFILE,
                                    "attachment \"%s\": its descriptor is no longer readable",
                                    m->att[i].filename);
        if (m->att[i].source != UAVMAIL__SRC_FILE)
            continue;
        if (uavmail__plat_file_open(&f, &m->alloc, m->att[i].path, why, sizeof why) != 0)
            return uavmail__err_set(&m->err, UAVMAIL_EFILE,
                                    "attachment \"%s\" cannot be opened: %s", m->att[i].path,
                                    why);
        uavmail__plat_file_close(f);
    }
    return uavmail__message_freeze(m);
}

int uavmail__message_needs_utf8(const uavmail_message *m)
{
    size_t i;
    unsigned f = 0;
    uavmail_error_detail scratch;
    if (m->from.addr && uavmail__address_check(m->from.addr, "", &scratch, &f) == 0 &&
        (f & UAVMAIL__ADDR_UTF8))
        return 1;
    for (i = 0; i < m->nrcpt; i++)
        if (uavmail__address_check(m->rcpt[i].addr, "", &scratch, &f) == 0 &&
            (f & UAVMAIL__ADDR_UTF8))
            return 1;
    return 0;
}

static unsigned mime_flags(unsigned flags)
{
    return (flags & UAVMAIL_RENDER_8BIT) ? UAVMAIL__MIME_8BIT : 0;
}

int uavmail_message_size(uavmail_message *m, unsigned flags, uint64_t *size)
{
    uavmail__mime_reader *r;
    int rc;
    if (m == NULL || size == NULL)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&m->err);
    rc = uavmail__mime_reader_new(&r, m, mime_flags(flags));
    if (rc != 0)
        return rc;
    rc = uavmail__mime_measure(r, size);
    uavmail__mime_reader_free(r);
    return rc;
}

int uavmail_message_render(uavmail_message *m, unsigned flags, void *buf, size_t cap,
                           size_t *len)
{
    uavmail__mime_reader *r;
    uint64_t need;
    long n;
    size_t got = 0;
    int rc;
    if (m == NULL || len == NULL || (buf == NULL && cap != 0))
        return UAVMAIL_EINVAL;
    rc = uavmail_message_check(m);
    if (rc == 0)
        rc = uavmail__mime_reader_new(&r, m, mime_flags(flags));
    if (rc != 0)
        return rc;
    rc = uavmail__mime_measure(r, &need);
    if (rc == 0 && need > SIZE_MAX)
        rc = uavmail__err_set(&m->err, UAVMAIL_ETOOBIG, "message too large for memory");
    if (rc == 0 && need > cap) {
        *len = (size_t)need;
        rc = uavmail__err_set(&m->err, UAVMAIL_ETOOBIG,
                              "buffer of %zu bytes is too small for the message (%zu bytes)",
                              cap, (size_t)need);
    }
    if (rc != 0) {
        uavmail__mime_reader_free(r);
        return rc;
    }
    while ((n = uavmail__mime_read(r, (char *)buf + got, cap - got)) > 0)
        got += (size_t)n;
    uavmail__mime_reader_free(r);
    if (n < 0)
        return (int)n;
    *len = got;
    return 0;
}

int uavmail_message_write_file(uavmail_message *m, const char *path)
{
    uavmail__mime_reader *r;
    uavmail__wfile *f;
    char buf[16384], why[128];
    long n;
    int rc;
    if (m == NULL || path == NULL)
        return UAVMAIL_EINVAL;
    rc = uavmail_message_check(m);
    if (rc != 0)
        return rc;
    rc = uavmail__mime_reader_new(&r, m, 0);
    if (rc != 0)
        return rc;
    if (uavmail__plat_wfile_open(&f, &m->alloc, path, 0, why, sizeof why) != 0) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&m->err, UAVMAIL_EFILE, "cannot write \"%s\": %s", path, why);
    }
    while ((n = uavmail__mime_read(r, buf, sizeof buf)) > 0) {
        if (uavmail__plat_wfile_write(f, buf, (size_t)n) != 0) {
            n = uavmail__err_set(&m->err, UAVMAIL_EFILE, "cannot write \"%s\"", path);
            break;
        }
    }
    uavmail__mime_reader_free(r);
    if (uavmail__plat_wfile_close(f, n == 0, why, sizeof why) != 0 && n == 0)
        return uavmail__err_set(&m->err, UAVMAIL_EFILE, "cannot write \"%s\": %s", path, why);
    return n < 0 ? (int)n : 0;
}
