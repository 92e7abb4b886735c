/*
 * Streaming MIME writer (RFC 5322, 2045-2047, 2183, 2231).
 *
 * At creation the message is turned into a small program of operations
 * (headers, delimiters, part contents); reading runs the program, producing
 * one piece at a time into a fixed pending buffer.  Attachment files are
 * opened when their content is reached; their bytes are read into the tail
 * of the output buffer and base64-encoded in place towards its head, so no
 * buffer of raw bytes is kept.
 */
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "base64.h"
#include "mime.h"
#include "platform.h"

#define PEND_SIZE UAVMAIL_MIME_PEND_SIZE
/* Most raw bytes per refill: whole 57-byte lines. */
#define B64_CHUNK (UAVMAIL_MIME_READ_CHUNK / UAVMAIL_B64_LINE_BYTES * UAVMAIL_B64_LINE_BYTES)
/* Raw bytes whose MIME base64 fits @p cap output bytes. */
#define RAW_FOR(cap) ((cap) / 78 * UAVMAIL_B64_LINE_BYTES)

enum node_kind { N_MULTI, N_TEXT, N_HTML, N_ATTACH };

/* Without HTML (opts.h) these are constants, so the compiler drops the
 * paths for HTML bodies and inline parts. */
#define HTML_OF(m) (UAVMAIL_WITH_HTML ? (m)->html : NULL)
#define IS_INLINE(a) (UAVMAIL_WITH_HTML && (a)->is_inline)
enum op_kind { OP_TOP, OP_HEADERS, OP_CONTENT, OP_DELIM, OP_CLOSE, OP_END, OP_PREPARED };
enum text_enc { ENC_7BIT, ENC_8BIT, ENC_QP, ENC_BASE64 };

typedef struct node {
    int kind;
    int enc;
    size_t idx;          /* attachment index */
    const char *subtype; /* multipart subtype */
    size_t first_kid, nkids;
    char boundary[48];
} node;

typedef struct op {
    int kind;
    int node;
} op;

struct uavmail__mime_reader {
    uavmail_message *m;
    unsigned flags;
    node *nodes;
    size_t nnodes;
    size_t *kids;
    size_t nkids;
    op *ops;
    size_t nops, pc;
    int op_started;
    /* Header generation within OP_TOP. */
    int hstep;
    size_t hidx;
    /* Leaf content state. */
    uint64_t pos;        /* attachments may be larger than size_t (32-bit, FZ-07) */
    unsigned qp_state;
    int skip_lf;
    uavmail__file *file;
    int file_eof;
    int skip_delim_crlf; /* last base64 content ended with its own CRLF */
    int measured;        /* att_size holds the sizes to send */
    /* Prepared-message filter state (OP_PREPARED). */
    int in_headers, dropping;
    char hold[4];
    size_t nhold;
    uint64_t prepared_size;
    uint64_t *att_size;  /* sizes fixed by uavmail__mime_measure (NULL before) */
    int is_8bit;
    int overflow;        /* an item did not fit the pending buffer */
    char pend[PEND_SIZE];
    size_t pend_off, pend_len;
};

/* ---- small output helpers ------------------------------------------------- */

static size_t pend_room(const uavmail__mime_reader *r)
{
    return sizeof r->pend - r->pend_len;
}

/* Items (a header field, a run of body text) are bounded by the message
 * limits; one that still does not fit fails the rendering (r->overflow)
 * rather than being cut short. */
static void put(uavmail__mime_reader *r, const char *s, size_t n)
{
    if (n > pend_room(r)) {
        r->overflow = 1;
        return;
    }
    memcpy(r->pend + r->pend_len, s, n);
    r->pend_len += n;
}

/* Encoded words written straight into the pending buffer. */
static void put_words(uavmail__mime_reader *r, const char *utf8, size_t col)
{
    size_t n = uavmail__hdr_encode_words(r->pend + r->pend_len, pend_room(r), utf8, col);
    if (n == 0)
        r->overflow = 1;
    r->pend_len += n;
}

static void puts_(uavmail__mime_reader *r, const char *s)
{
    put(r, s, strlen(s));
}

/* ---- media types ------------------------------------------------------------ */

const char *uavmail__mime_guess_type(const char *filename)
{
#if UAVMAIL_WITH_MIME_TYPES
    static const struct {
        const char *ext, *type;
    } table[] = {
        {"txt", "text/plain"}, {"log", "text/plain"}, {"csv", "text/csv"},
        {"html", "text/html"}, {"htm", "text/html"}, {"json", "application/json"},
        {"geojson", "application/geo+json"}, {"gpx", "application/gpx+xml"},
        {"kml", "application/vnd.google-earth.kml+xml"},
        {"kmz", "application/vnd.google-earth.kmz"}, {"cbor", "application/cbor"},
        {"xml", "application/xml"}, {"pdf", "application/pdf"}, {"zip", "application/zip"},
        {"gz", "application/gzip"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"},
        {"png", "image/png"}, {"gif", "image/gif"}, {"tif", "image/tiff"},
        {"tiff", "image/tiff"}, {"webp", "image/webp"}, {"mp4", "video/mp4"},
        /* Drone logs: PX4 ULog, ArduPilot DataFlash, MAVLink telemetry log. */
        {"ulg", "application/octet-stream"}, {"bin", "application/octet-stream"},
        {"tlog", "application/octet-stream"},
    };
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    size_t i;
    if (dot != NULL && strchr(dot, '/') == NULL)
        for (i = 0; i < UAVMAIL__ARRAY_LEN(table); i++)
            if (uavmail__ascii_casecmp(dot + 1, table[i].ext) == 0)
                return table[i].type;
#else
    (void)filename;
#endif
    return "application/octet-stream";
}

/* ---- encoders ---------------------------------------------------------------- */

#if UAVMAIL_WITH_QP || UAVMAIL_WITH_RFC2231
static const char hex[] = "0123456789ABCDEF";
#endif

#if UAVMAIL_WITH_QP
size_t uavmail__qp_encode(char *out, size_t cap, size_t *written, const char *in, size_t len,
                          int at_end, unsigned *state)
{
    size_t i = 0, o = 0;
    unsigned col = *state;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        char tok[3];
        size_t tl;
        if (c == '\r' || c == '\n') {
            size_t adv = (c == '\r' && i + 1 < len && in[i + 1] == '\n') ? 2 : 1;
            if (c == '\r' && i + 1 == len && !at_end)
                break; /* need to see whether LF follows */
            if (cap - o < 2)
                break;
            out[o++] = '\r';
            out[o++] = '\n';
            col = 0;
            i += adv;
            continue;
        }
        if (c == ' ' || c == '\t') {
            int before_break;
            if (i + 1 == len && !at_end)
                break; /* need the next byte to know */
            before_break = i + 1 == len || in[i + 1] == '\r' || in[i + 1] == '\n';
            if (before_break) {
                tok[0] = '=';
                tok[1] = hex[c >> 4];
                tok[2] = hex[c & 15];
                tl = 3;
            } else {
                tok[0] = (char)c;
                tl = 1;
            }
        } else if (c >= 33 && c <= 126 && c != '=') {
            tok[0] = (char)c;
            tl = 1;
        } else {
            tok[0] = '=';
            tok[1] = hex[c >> 4];
            tok[2] = hex[c & 15];
            tl = 3;
        }
        if (col + tl > 75) {
            if (cap - o < 3 + tl)
                break;
            out[o++] = '=';
            out[o++] = '\r';
            out[o++] = '\n';
            col = 0;
        }
        if (cap - o < tl)
            break;
        memcpy(out + o, tok, tl);
        o += tl;
        col += (unsigned)tl;
        i++;
    }
    *state = col;
    *written = o;
    return i;
}
#endif

size_t uavmail__hdr_encode_words(char *out, size_t cap, const char *utf8, size_t col)
{
    const unsigned char *s = (const unsigned char *)utf8;
    size_t n = strlen(utf8), i = 0, o = 0;
    int first = 1;
    while (i < n || first) {
        size_t avail = col + 12 < 78 ? 78 - col - 12 : 0;
        size_t take = avail / 4 * 3, end;
        if (take < 6 && !first) {
            take = 45;
        }
        if (take < 6) {
            /* No room on this line: fold first. */
            if (cap - o < 3)
                return 0;
            memcpy(out + o, "\r\n ", 3);
            o += 3;
            col = 1;
            first = 0;
            continue;
        }
        end = i + take < n ? i + take : n;
        /* Never split a UTF-8 sequence between two words (RFC 2047 5). */
        while (end < n && end > i && (s[end] & 0xC0) == 0x80)
            end--;
        if (!first) {
            if (cap - o < 3)
                return 0;
            memcpy(out + o, "\r\n ", 3);
            o += 3;
            col = 1;
        }
        if (cap - o < 12 + uavmail__b64_len(end - i) + 1)
            return 0;
        memcpy(out + o, "=?UTF-8?B?", 10);
        o += 10;
        o += uavmail__b64_encode(out + o, s + i, end - i);
        out[o++] = '?';
        out[o++] = '=';
        col += 12 + uavmail__b64_len(end - i);
        i = end;
        first = 0;
        if (i >= n)
            break;
    }
    out[o] = '\0';
    return o;
}

static int needs_encoding(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (strstr(s, "=?") != NULL)
        return 1; /* would read as an encoded word (cpython gh-121650) */
    for (; *p; p++)
        if (*p >= 0x80 || *p < 0x20 || *p == 0x7F)
            return 1;
    return 0;
}

/* Subject or other unstructured value: folded ASCII or encoded words. */
static void put_unstructured(uavmail__mime_reader *r, const char *name, const char *value)
{
    size_t col = strlen(name) + 2, n = strlen(value), i, start;
    int long_word = 0;
    puts_(r, name);
    puts_(r, ": ");
    for (i = 0, start = 0; i <= n; i++)
        if (i == n || value[i] == ' ') {
            if (i - start > 70)
                long_word = 1;
            start = i + 1;
        }
    if (needs_encoding(value) || long_word) {
        put_words(r, value, col);
        puts_(r, "\r\n");
        return;
    }
    /* Fold at spaces so lines stay within 78 columns. */
    start = 0;
    while (start < n) {
        size_t end = n, brk = 0;
        if (col + (n - start) > 78) {
            for (i = start + 1; i < n && col + (i - start) <= 78; i++)
                if (value[i] == ' ')
                    brk = i;
            if (brk != 0)
                end = brk;
        }
        put(r, value + start, end - start);
        col += end - start;
        if (end < n) {
            puts_(r, "\r\n");
            col = 0;
        }
        start = end;
    }
    puts_(r, "\r\n");
}

static int is_atext_phrase(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!(uavmail__is_alpha(c) || uavmail__is_digit(c) || c == ' ' ||
              (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c))))
            return 0;
    }
    return 1;
}

/* One mailbox: [display-name] <addr> (RFC 5322 3.4). */
static void put_mailbox(uavmail__mime_reader *r, const uavmail__mbox *mb, size_t col)
{
    if (mb->name != NULL && mb->name[0] != '\0') {
        if (needs_encoding(mb->name)) {
            put_words(r, mb->name, col);
        } else if (is_atext_phrase(mb->name)) {
            puts_(r, mb->name);
        } else {
            const char *p;
            puts_(r, "\"");
            for (p = mb->name; *p; p++) {
                if (*p == '"' || *p == '\\')
                    puts_(r, "\\");
                put(r, p, 1);
            }
            puts_(r, "\"");
        }
        puts_(r, " <");
    } else {
        puts_(r, "<");
    }
    puts_(r, mb->addr);
    puts_(r, ">");
}

/* A MIME parameter: name="value" for short plain ASCII.  Otherwise first
 * the widely read fallback -- RFC 2047 encoded words inside the quotes, as
 * Gmail, Outlook and Thunderbird write and read them -- then the standard
 * RFC 2231 form name*=UTF-8''... split into continuations of at most 60
 * characters so lines stay short (D-09). */
static void put_param(uavmail__mime_reader *r, const char *name, const char *value)
{
    const unsigned char *p;
    int ascii = !needs_encoding(value);
#if UAVMAIL_WITH_RFC2231
    int plain = ascii && strlen(value) <= 60;
    char seg[80];
    size_t sl = 0;
    unsigned part = 0;
#endif
    puts_(r, ";\r\n\t");
    puts_(r, name);
    puts_(r, "=\"");
    if (ascii) {
        for (p = (const unsigned char *)value; *p; p++) {
            if (*p == '"' || *p == '\\')
                puts_(r, "\\");
            put(r, (const char *)p, 1);
        }
    }
#if UAVMAIL_WITH_RFC2231
    else {
        size_t i, o = r->pend_len;
        put_words(r, value, 0);
        for (i = o; i < r->pend_len; i++) /* one line: folds become plain spaces */
            if (r->pend[i] != '\r' && r->pend[i] != '\n')
                r->pend[o++] = r->pend[i];
        r->pend_len = o;
    }
#endif
    puts_(r, "\""); /* without RFC 2231 message.c lets only such plain values through */
#if UAVMAIL_WITH_RFC2231
    if (plain)
        return;
    for (p = (const unsigned char *)value;; p++) {
        int flush = *p == '\0' || sl >= 57;
        if (flush) {
            char hdr[64];
            uavmail__snprintf(hdr, sizeof hdr, ";\r\n\t%s*%u*=%s", name, part,
                              part == 0 ? "UTF-8''" : "");
            puts_(r, hdr);
            put(r, seg, sl);
            sl = 0;
            part++;
        }
        if (*p == '\0')
            break;
        if (uavmail__is_alpha(*p) || uavmail__is_digit(*p) || strchr("!#$&+-.^_`|~", *p)) {
            seg[sl++] = (char)*p;
        } else {
            seg[sl++] = '%';
            seg[sl++] = hex[*p >> 4];
            seg[sl++] = hex[*p & 15];
        }
    }
#endif
}

size_t uavmail__mime_param(char *out, size_t cap, const char *name, const char *value)
{
    /* Encoder entry point for the golden tests (host only: it puts a whole
     * reader, ~9 KiB, on the stack) holding the buffer the writers use. */
    uavmail__mime_reader r;
    size_t n;
    r.pend_len = 0;
    r.overflow = 0;
    put_param(&r, name, value);
    n = r.pend_len < cap - 1 ? r.pend_len : cap - 1;
    memcpy(out, r.pend, n);
    out[n] = '\0';
    return n;
}

/* ---- analysis ------------------------------------------------------------------ */

static int choose_text_encoding(const char *t, size_t n, unsigned flags)
{
    size_t i, line = 0, maxline = 0;
    int eight = 0, nul = 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c == '\r' || c == '\n') {
            line = 0;
            continue;
        }
        if (++line > maxline)
            maxline = line;
        if (c >= 0x80)
            eight = 1;
        else if (c == 0)
            nul = 1;
    }
    if (nul || maxline > 998)
        return ENC_QP; /* D-02, D-05: never raw NUL or over-long lines */
    if (!eight)
        return ENC_7BIT;
    return (flags & UAVMAIL__MIME_8BIT) ? ENC_8BIT : ENC_QP; /* D-06 */
}

static const char *leaf_text(const uavmail__mime_reader *r, const node *nd, size_t *len)
{
    const char *t = nd->kind == N_HTML ? HTML_OF(r->m) : r->m->text;
    *len = t == NULL ? 0 : nd->kind == N_HTML ? r->m->html_len : r->m->text_len;
    return t ? t : "";
}

/* ---- program construction --------------------------------------------------------- */

static int occurs_in(const char *hay, size_t n, const char *needle)
{
    size_t nl = strlen(needle), i;
    for (i = 0; n >= nl && i <= n - nl; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0)
            return 1;
    return 0;
}

static int new_boundary(uavmail__mime_reader *r, node *nd)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[24];
    size_t i;
    for (;;) {
        if (uavmail__plat_random(rnd, sizeof rnd) != 0)
            return -1;
        /* "=_" can occur in neither base64 nor quoted-printable output. */
        memcpy(nd->boundary, "=_uav_", 6);
        for (i = 0; i < sizeof rnd; i++)
            nd->boundary[6 + i] = alphabet[rnd[i] % (sizeof alphabet - 1)];
        nd->boundary[6 + sizeof rnd] = '\0';
        /* D-09: verify absent from the only unencoded content, the bodies. */
        if (!(r->m->text && occurs_in(r->m->text, r->m->text_len, nd->boundary)) &&
            !(HTML_OF(r->m) && occurs_in(r->m->html, r->m->html_len, nd->boundary)))
            return 0;
    }
}

static void emit_op(uavmail__mime_reader *r, int kind, size_t nd)
{
    r->ops[r->nops].kind = kind;
    r->ops[r->nops].node = (int)nd;
    r->nops++;
}

static size_t add_leaf(uavmail__mime_reader *r, int kind, size_t idx)
{
    node *nd = &r->nodes[r->nnodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    nd->idx = idx;
    if (kind == N_ATTACH) {
        nd->enc = ENC_BASE64;
    } else {
        size_t len;
        const char *t = leaf_text(r, nd, &len);
        nd->enc = choose_text_encoding(t, len, r->flags);
        if (nd->enc == ENC_8BIT)
            r->is_8bit = 1;
    }
    return r->nnodes++;
}

/* A multipart node whose @p nkids children the caller writes to r->kids. */
static int add_multi(uavmail__mime_reader *r, const char *subtype, size_t nkids, size_t *out)
{
    node *nd = &r->nodes[r->nnodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = N_MULTI;
    nd->subtype = subtype;
    nd->first_kid = r->nkids;
    nd->nkids = nkids;
    r->nkids += nkids;
    if (new_boundary(r, nd) != 0)
        return -1;
    *out = r->nnodes++;
    return 0;
}

static void emit_tree(uavmail__mime_reader *r, size_t n, int top)
{
    const node *nd = &r->nodes[n];
    size_t i;
    emit_op(r, top ? OP_TOP : OP_HEADERS, n);
    if (nd->kind != N_MULTI) {
        emit_op(r, OP_CONTENT, n);
        return;
    }
    for (i = 0; i < nd->nkids; i++) {
        emit_op(r, OP_DELIM, n);
        emit_tree(r, r->kids[nd->first_kid + i], 0);
    }
    emit_op(r, OP_CLOSE, n);
}

/* Structure (RFC 2046, 2387):
 *   mixed( alternative( text, related( html, inline... ) ), attachment... )
 * with each level present only when needed. */
static int build(uavmail__mime_reader *r)
{
    uavmail_message *m = r->m;
    size_t i, ninl = 0, natt = 0, text = 0, html = 0, htmlpart = 0, body, root, k;
    int has_html = HTML_OF(m) != NULL, has_text = m->text != NULL || !has_html;
    int inl_in_mixed;
#if UAVMAIL_WITH_FILES
    if (m->prepared != NULL) {
        emit_op(r, OP_PREPARED, 0);
        return 0;
    }
#endif
    for (i = 0; i < m->natt; i++)
        IS_INLINE(&m->att[i]) ? ninl++ : natt++;
    inl_in_mixed = !has_html && ninl > 0;
    if (has_text)
        text = add_leaf(r, N_TEXT, 0);
    if (has_html) {
        html = htmlpart = add_leaf(r, N_HTML, 0);
        if (ninl > 0) {
            if (add_multi(r, "related", 1 + ninl, &htmlpart) != 0)
                return -1;
            k = r->nodes[htmlpart].first_kid;
            r->kids[k++] = html;
            for (i = 0; i < m->natt; i++)
                if (IS_INLINE(&m->att[i]))
                    r->kids[k++] = add_leaf(r, N_ATTACH, i);
        }
    }
    if (has_text && has_html) {
        if (add_multi(r, "alternative", 2, &body) != 0)
            return -1;
        r->kids[r->nodes[body].first_kid] = text;
        r->kids[r->nodes[body].first_kid + 1] = htmlpart;
    } else {
        body = has_html ? htmlpart : text;
    }
    root = body;
    if (natt > 0 || inl_in_mixed) {
        if (add_multi(r, "mixed", 1 + natt + (inl_in_mixed ? ninl : 0), &root) != 0)
            return -1;
        k = r->nodes[root].first_kid;
        r->kids[k++] = body;
        for (i = 0; i < m->natt; i++)
            if (!IS_INLINE(&m->att[i]) || inl_in_mixed)
                r->kids[k++] = add_leaf(r, N_ATTACH, i);
    }
    emit_tree(r, root, 1);
    if (r->nodes[root].kind != N_MULTI)
        emit_op(r, OP_END, root); /* a single-part body still ends with CRLF */
    return 0;
}

int uavmail__mime_reader_new(uavmail__mime_reader **out, uavmail_message *m, unsigned flags)
{
    uavmail__mime_reader *r;
    size_t maxnodes = m->natt + 6;
#if !UAVMAIL_WITH_QP
    size_t i;
#endif
    *out = NULL;
    if (uavmail__message_freeze(m) != 0)
        return m->err.code;
    r = uavmail__calloc(&m->alloc, 1, sizeof *r);
    if (r == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory rendering the message");
    r->m = m;
    r->flags = flags;
    r->nodes = uavmail__calloc(&m->alloc, maxnodes, sizeof *r->nodes);
    r->kids = uavmail__calloc(&m->alloc, maxnodes, sizeof *r->kids);
    r->ops = uavmail__calloc(&m->alloc, maxnodes * 4 + 4, sizeof *r->ops);
    r->att_size = uavmail__calloc(&m->alloc, m->natt + 1, sizeof *r->att_size);
    if (r->nodes == NULL || r->kids == NULL || r->ops == NULL || r->att_size == NULL) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory rendering the message");
    }
    if (build(r) != 0) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&m->err, UAVMAIL_EINTERNAL, "no random numbers for a boundary");
    }
#if !UAVMAIL_WITH_QP
    for (i = 0; i < r->nnodes; i++)
        if (r->nodes[i].enc == ENC_QP) {
            uavmail__mime_reader_free(r);
            return uavmail__err_set(&m->err, UAVMAIL_EENCODING,
                                    "the text needs quoted-printable (8-bit text without "
                                    "8BITMIME, a NUL or a line over 998 octets), which is not "
                                    "compiled in (UAVMAIL_WITH_QP)");
        }
#endif
    *out = r;
    return 0;
}

void uavmail__mime_reader_free(uavmail__mime_reader *r)
{
    const uavmail__alloc *a;
    if (r == NULL)
        return;
    a = &r->m->alloc;
    uavmail__plat_file_close(r->file);
    uavmail__free(a, r->nodes);
    uavmail__free(a, r->kids);
    uavmail__free(a, r->ops);
    uavmail__free(a, r->att_size);
    uavmail__free(a, r);
}

int uavmail__mime_is_8bit(const uavmail__mime_reader *r)
{
    return r->is_8bit;
}

/* ---- headers ------------------------------------------------------------------------- */

static void put_date(uavmail__mime_reader *r)
{
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    int off = r->m->date_offset_min, aoff = off < 0 ? -off : off, y, mo, d;
    int64_t t = r->m->date + (int64_t)off * 60;
    int64_t day = (t >= 0 ? t : t - 86399) / 86400, sec = t - day * 86400;
    uavmail__civil_from_days(day, &y, &mo, &d);
    uavmail__snprintf(buf, sizeof buf, "Date: %s, %d %s %04d %02d:%02d:%02d %c%02d%02d\r\n",
                      days[((day % 7) + 7) % 7], d, months[mo - 1], y, (int)(sec / 3600),
                      (int)(sec / 60 % 60), (int)(sec % 60), off < 0 ? '-' : '+', aoff / 60,
                      aoff % 60);
    puts_(r, buf);
}

static void put_content_headers(uavmail__mime_reader *r, const node *nd)
{
    static const char *const enc_names[] = {"7bit", "8bit", "quoted-printable", "base64"};
    if (nd->kind == N_MULTI) {
        puts_(r, "Content-Type: multipart/");
        puts_(r, nd->subtype);
        if (UAVMAIL_WITH_HTML && strcmp(nd->subtype, "related") == 0)
            puts_(r, ";\r\n\ttype=\"text/html\"");
        put_param(r, "boundary", nd->boundary);
        puts_(r, "\r\n");
        return;
    }
    if (nd->kind == N_TEXT) {
        puts_(r, "Content-Type: text/plain; charset=utf-8\r\n");
    } else if (UAVMAIL_WITH_HTML && nd->kind == N_HTML) {
        puts_(r, "Content-Type: text/html; charset=utf-8\r\n");
    } else {
        const uavmail__attachment *a = &r->m->att[nd->idx];
        puts_(r, "Content-Type: ");
        puts_(r, a->content_type);
        put_param(r, "name", a->filename);
        puts_(r, IS_INLINE(a) ? "\r\nContent-Disposition: inline"
                              : "\r\nContent-Disposition: attachment");
        put_param(r, "filename", a->filename);
        puts_(r, "\r\n");
        if (IS_INLINE(a)) {
            puts_(r, "Content-ID: <");
            puts_(r, a->content_id);
            puts_(r, ">\r\n");
        }
    }
    puts_(r, "Content-Transfer-Encoding: ");
    puts_(r, enc_names[nd->enc]);
    puts_(r, "\r\n");
}

/* One address list header (To or Cc), one mailbox per step so every item
 * stays small; returns 1 when the list is finished. */
static int address_list_step(uavmail__mime_reader *r, int kind, const char *name)
{
    uavmail_message *m = r->m;
    int first = 1;
    size_t i;
    for (i = 0; i < r->hidx && i < m->nrcpt; i++)
        if (m->rcpt[i].kind == kind)
            first = 0;
    for (; r->hidx < m->nrcpt; r->hidx++)
        if (m->rcpt[r->hidx].kind == kind)
            break;
    if (r->hidx < m->nrcpt) {
        if (first) {
            puts_(r, name);
            puts_(r, ": ");
        } else {
            puts_(r, ",\r\n ");
        }
        put_mailbox(r, &m->rcpt[r->hidx], first ? strlen(name) + 2 : 1);
        r->hidx++;
        return 0;
    }
    if (!first)
        puts_(r, "\r\n");
    r->hidx = 0;
    return 1;
}

/* Put the next top-level header; returns 1 when all are done. */
static int top_header_step(uavmail__mime_reader *r, const node *root)
{
    uavmail_message *m = r->m;
    switch (r->hstep) {
    case 0:
        put_date(r);
        break;
    case 1:
        puts_(r, "From: ");
        put_mailbox(r, &m->from, 6);
        puts_(r, "\r\n");
        break;
    case 2:
        if (!address_list_step(r, UAVMAIL_TO, "To"))
            return 0;
        break;
    case 3:
        if (!address_list_step(r, UAVMAIL_CC, "Cc"))
            return 0;
        break; /* Bcc is never written (D-10) */
    case 4:
        if (m->reply_to.addr != NULL) {
            puts_(r, "Reply-To: ");
            put_mailbox(r, &m->reply_to, 10);
            puts_(r, "\r\n");
        }
        break;
    case 5:
        if (m->subject != NULL)
            put_unstructured(r, "Subject", m->subject);
        break;
    case 6:
        puts_(r, "Message-ID: <");
        puts_(r, m->message_id);
        puts_(r, ">\r\n");
        break;
    case 7:
        if (r->hidx < m->nhdr) {
            put_unstructured(r, m->hdr[r->hidx].name, m->hdr[r->hidx].value);
            r->hidx++;
            return 0;
        }
        r->hidx = 0;
        break;
    case 8:
        puts_(r, "MIME-Version: 1.0\r\n");
        break;
    case 9:
        put_content_headers(r, root);
        puts_(r, "\r\n");
        break;
    default:
        return 1;
    }
    r->hstep++;
    return 0;
}

/* ---- content ----------------------------------------------------------------------------- */

/* Text as 7bit/8bit: only line ends change (to CRLF). */
static int text_plain_step(uavmail__mime_reader *r, const node *nd)
{
    size_t n;
    const char *t = leaf_text(r, nd, &n);
    while (r->pos < n && pend_room(r) >= 2) {
        char c = t[r->pos++];
        if (r->skip_lf) {
            r->skip_lf = 0;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            r->skip_lf = c == '\r';
            r->pend[r->pend_len++] = '\r';
            r->pend[r->pend_len++] = '\n';
        } else {
            r->pend[r->pend_len++] = c;
        }
    }
    return r->pos >= n;
}

#if UAVMAIL_WITH_QP
static int text_qp_step(uavmail__mime_reader *r, const node *nd)
{
    size_t n, w = 0;
    const char *t = leaf_text(r, nd, &n);
    size_t at = (size_t)r->pos; /* a body in memory: its offsets fit size_t */
    r->pos += uavmail__qp_encode(r->pend + r->pend_len, pend_room(r), &w, t + at, n - at, 1,
                                 &r->qp_state);
    r->pend_len += w;
    return r->pos >= n;
}
#endif

/* Read up to @p n bytes of an attachment at r->pos; count, 0 at end, or <0. */
static long source_read(uavmail__mime_reader *r, const uavmail__attachment *a, unsigned char *buf,
                        size_t n)
{
    switch (a->source) {
    case UAVMAIL__SRC_MEMORY:
        if (n > a->len - r->pos)
            n = (size_t)(a->len - r->pos);
        memcpy(buf, a->data + (size_t)r->pos, n);
        return (long)n;
#if UAVMAIL_WITH_FILES
    case UAVMAIL__SRC_FILE:
        return uavmail__plat_file_read(r->file, buf, n);
    case UAVMAIL__SRC_FD:
        return uavmail__plat_fd_pread(a->fd, buf, n, r->pos);
#endif
    default:
        return a->cb(buf, n, r->pos, a->cb_user_data);
    }
}

/* Fill @p raw with whole 57-byte lines until the end of the content, so the
 * line layout is identical to a one-shot encoding whatever the read sizes.
 * Returns the byte count or a negative error. */
static long fill_raw(uavmail__mime_reader *r, const uavmail__attachment *a, size_t idx,
                     unsigned char *raw, size_t limit)
{
    size_t got = 0;
    /* After measuring, files and descriptors are sent exactly as long as
     * they were measured (a log still growing is sent as of that moment),
     * so SIZE and BDAT lengths always match the bytes sent. */
    int fixed = UAVMAIL_WITH_FILES && r->measured &&
                (a->source == UAVMAIL__SRC_FILE || a->source == UAVMAIL__SRC_FD);
    while (got < limit && !r->file_eof) {
        size_t want = limit - got;
        long n;
        if (fixed && r->att_size[idx] - r->pos < want)
            want = (size_t)(r->att_size[idx] - r->pos);
        if (fixed && want == 0) {
            r->file_eof = 1;
            break;
        }
        n = source_read(r, a, raw + got, want);
        if (fixed && n == 0)
            return uavmail__err_set(&r->m->err, UAVMAIL_EFILE,
                                    "attachment \"%s\" shrank while being sent (%llu of %llu "
                                    "bytes)",
                                    a->path ? a->path : a->filename,
                                    (unsigned long long)r->pos,
                                    (unsigned long long)r->att_size[idx]);
        if (n < 0)
            return uavmail__err_set(&r->m->err,
                                    a->source == UAVMAIL__SRC_CALLBACK ? UAVMAIL_ECALLBACK
                                                                       : UAVMAIL_EFILE,
                                    "attachment \"%s\": %s at byte %llu",
                                    a->path ? a->path : a->filename,
                                    a->source == UAVMAIL__SRC_CALLBACK ? "read callback failed"
                                                                       : "read error",
                                    (unsigned long long)r->pos);
        if (n == 0)
            r->file_eof = 1;
        got += (size_t)n;
        r->pos += (uint64_t)n;
    }
    if (a->source == UAVMAIL__SRC_CALLBACK && a->cb_size != UAVMAIL_SIZE_UNKNOWN &&
        (r->pos > (uint64_t)a->cb_size || (r->file_eof && r->pos != (uint64_t)a->cb_size)))
        return uavmail__err_set(&r->m->err, UAVMAIL_ECALLBACK,
                                "attachment \"%s\": callback produced %llu bytes, %lld declared",
                                a->filename, (unsigned long long)r->pos, (long long)a->cb_size);
    return (long)got;
}

static int open_source(uavmail__mime_reader *r, const uavmail__attachment *a)
{
    char why[128];
    if (!UAVMAIL_WITH_FILES || a->source != UAVMAIL__SRC_FILE || r->file != NULL)
        return 0;
    if (uavmail__plat_file_open(&r->file, &r->m->alloc, a->path, why, sizeof why) != 0)
        return uavmail__err_set(&r->m->err, UAVMAIL_EFILE, "attachment \"%s\" cannot be opened: %s",
                                a->path, why);
    return 0;
}

/* Encode the next part of an attachment into @p out (room for @p cap
 * bytes, at least one line); returns 1 at the end of the content.
 *
 * The raw bytes (L whole lines, L <= cap / 78) are read into the last 57 L
 * bytes of @p out and encoded in place from its start: encoding line j,
 * group g writes up to byte 78 j + 4 g + 4 after reading up to byte
 * cap - 57 L + 57 j + 3 g + 3, and cap - 57 L >= 21 L >= 21 j + g + 1 keeps
 * every write behind the next unread byte (uavmail__b64_encode_lines reads
 * each group before writing it). */
static int attach_step_to(uavmail__mime_reader *r, const node *nd, char *out, size_t cap,
                          size_t *written)
{
    const uavmail__attachment *a = &r->m->att[nd->idx];
    size_t limit = RAW_FOR(cap) < B64_CHUNK ? RAW_FOR(cap) : B64_CHUNK;
    unsigned char *raw = (unsigned char *)out + cap - limit;
    long n;
    int rc = open_source(r, a);
    *written = 0;
    if (rc != 0)
        return rc;
    n = fill_raw(r, a, nd->idx, raw, limit);
    if (n < 0)
        return (int)n;
    if (n > 0) {
        *written = uavmail__b64_encode_lines(out, raw, (size_t)n);
        r->skip_delim_crlf = 1;
    }
    if (r->file_eof) {
        uavmail__plat_file_close(r->file);
        r->file = NULL;
        return 1;
    }
    return 0;
}

static int attach_step(uavmail__mime_reader *r, const node *nd)
{
    size_t w;
    int rc = attach_step_to(r, nd, r->pend + r->pend_len, pend_room(r), &w);
    r->pend_len += w;
    return rc;
}

/* Size of an attachment's content without reading it. */
static int source_size(uavmail__mime_reader *r, const uavmail__attachment *a, uint64_t *size)
{
    int64_t s;
    switch (a->source) {
    case UAVMAIL__SRC_MEMORY:
        *size = a->len;
        return 0;
    case UAVMAIL__SRC_FD:
        s = uavmail__plat_fd_size(a->fd);
        break;
    case UAVMAIL__SRC_CALLBACK:
        if (a->cb_size == UAVMAIL_SIZE_UNKNOWN)
            return uavmail__err_set(&r->m->err, UAVMAIL_ESTATE,
                                    "attachment \"%s\" has no declared size", a->filename);
        s = a->cb_size;
        break;
    default: {
        int rc = open_source(r, a);
        if (rc != 0)
            return rc;
        s = uavmail__plat_file_size(r->file);
        uavmail__plat_file_close(r->file);
        r->file = NULL;
        break;
    }
    }
    if (s < 0)
        return uavmail__err_set(&r->m->err, UAVMAIL_EFILE, "attachment \"%s\": size unknown",
                                a->path ? a->path : a->filename);
    *size = (uint64_t)s;
    return 0;
}

/* ---- prepared messages -------------------------------------------------------------- */

#if UAVMAIL_WITH_FILES

static void prep_put(uavmail__mime_reader *r, char c)
{
    r->pend[r->pend_len++] = c;
    if ((unsigned char)c >= 0x80)
        r->is_8bit = 1;
}

/* Decide about a header line once its first bytes are known: a Bcc field
 * (D-10) and its continuation lines are dropped; others pass. */
static void prep_flush_hold(uavmail__mime_reader *r)
{
    size_t i;
    int cont = r->nhold > 0 && (r->hold[0] == ' ' || r->hold[0] == '\t');
    if (!cont)
        r->dropping = r->nhold == 4 && uavmail__ascii_ncasecmp(r->hold, "bcc:", 4) == 0;
    if (!r->dropping)
        for (i = 0; i < r->nhold; i++)
            prep_put(r, r->hold[i]);
    r->nhold = (size_t)-1; /* decided for this line */
}

/* Copy a prepared message: CR, LF and CRLF become CRLF; Bcc removed. */
static void prep_filter(uavmail__mime_reader *r, const unsigned char *in, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char c = (char)in[i];
        if (r->skip_lf) {
            r->skip_lf = 0;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            r->skip_lf = c == '\r';
            if (r->in_headers) {
                if (r->nhold == 0) {
                    r->in_headers = 0; /* the empty line ends the header */
                    r->dropping = 0;
                } else if (r->nhold != (size_t)-1) {
                    prep_flush_hold(r);
                }
                r->nhold = 0;
                if (r->dropping)
                    continue;
            }
            prep_put(r, '\r');
            prep_put(r, '\n');
            continue;
        }
        if (r->in_headers && r->nhold != (size_t)-1) {
            r->hold[r->nhold++] = c;
            if (r->nhold == 4 || c == ':' || c == ' ' || c == '\t')
                prep_flush_hold(r);
            continue;
        }
        if (!(r->in_headers && r->dropping))
            prep_put(r, c);
    }
}

/* The file's bytes are read into the upper part of the pending buffer's
 * free room and filtered towards its start: a byte gives at most two, and
 * bytes held back from the previous read at most three more, so with
 * want <= (room - 4) / 2 the output never reaches an unread byte. */
static int prepared_step(uavmail__mime_reader *r)
{
    long n;
    size_t room = pend_room(r), want = (room - 4) / 2;
    unsigned char *in;
    char why[128];
    if (r->file == NULL && !r->file_eof) {
        if (uavmail__plat_file_open(&r->file, &r->m->alloc, r->m->prepared, why, sizeof why) != 0)
            return uavmail__err_set(&r->m->err, UAVMAIL_EFILE,
                                    "message file \"%s\" cannot be opened: %s", r->m->prepared,
                                    why);
        r->in_headers = 1;
        r->dropping = 0;
        r->nhold = 0;
    }
    if (want > B64_CHUNK)
        want = B64_CHUNK;
    in = (unsigned char *)r->pend + r->pend_len + (room - want);
    n = uavmail__plat_file_read(r->file, in, want);
    if (n < 0)
        return uavmail__err_set(&r->m->err, UAVMAIL_EFILE, "message file \"%s\": read error",
                                r->m->prepared);
    prep_filter(r, in, (size_t)n);
    if (n == 0) {
        if (r->in_headers && r->nhold != 0 && r->nhold != (size_t)-1)
            prep_flush_hold(r);
        uavmail__plat_file_close(r->file);
        r->file = NULL;
        r->file_eof = 1;
        return 1;
    }
    return 0;
}
#endif /* UAVMAIL_WITH_FILES */

/* Run one step of the program.  Returns 1 if the current op finished,
 * 0 if it needs more steps, or a negative error. */
static void start_op(uavmail__mime_reader *r, const op *o)
{
    if (!r->op_started) {
        r->op_started = 1;
        r->pos = 0;
        r->qp_state = 0;
        r->skip_lf = 0;
        r->file_eof = 0;
        r->hstep = 0;
        r->hidx = 0;
        if (o->kind == OP_CONTENT)
            r->skip_delim_crlf = 0;
    }
}

static int run_step(uavmail__mime_reader *r)
{
    const op *o = &r->ops[r->pc];
    const node *nd = &r->nodes[o->node];
    start_op(r, o);
    switch (o->kind) {
    case OP_TOP:
        return top_header_step(r, nd);
    case OP_HEADERS:
        put_content_headers(r, nd);
        puts_(r, "\r\n");
        return 1;
    case OP_DELIM:
    case OP_CLOSE:
        if (!(r->skip_delim_crlf || (r->pc > 0 && r->ops[r->pc - 1].kind == OP_TOP) ||
              (r->pc > 0 && r->ops[r->pc - 1].kind == OP_HEADERS)))
            puts_(r, "\r\n");
        r->skip_delim_crlf = 0;
        puts_(r, "--");
        puts_(r, nd->boundary);
        puts_(r, o->kind == OP_CLOSE ? "--\r\n" : "\r\n");
        if (o->kind == OP_CLOSE)
            r->skip_delim_crlf = 1; /* a nested close already ends its line */
        return 1;
    case OP_CONTENT:
        if (nd->kind == N_ATTACH)
            return attach_step(r, nd);
#if UAVMAIL_WITH_QP
        if (nd->enc == ENC_QP)
            return text_qp_step(r, nd);
#endif
        return text_plain_step(r, nd);
#if UAVMAIL_WITH_FILES
    case OP_PREPARED:
        return prepared_step(r);
#endif
    case OP_END: {
        size_t n;
        const char *t = leaf_text(r, nd, &n);
        if (n == 0 || (t[n - 1] != '\n' && t[n - 1] != '\r'))
            puts_(r, "\r\n");
        return 1;
    }
    default:
        return 1;
    }
}

static int advance(uavmail__mime_reader *r)
{
    int rc = run_step(r);
    if (r->overflow)
        return uavmail__err_set(&r->m->err, UAVMAIL_ETOOBIG,
                                "a header of the message does not fit the MIME writer's %u-byte "
                                "buffer (UAVMAIL_MIME_PEND_SIZE)",
                                (unsigned)PEND_SIZE);
    if (rc == 1) {
        r->pc++;
        r->op_started = 0;
    }
    return rc < 0 ? rc : 0;
}

long uavmail__mime_read(uavmail__mime_reader *r, char *buf, size_t cap)
{
    size_t got = 0;
    while (got < cap) {
        if (r->pend_off < r->pend_len) {
            size_t n = r->pend_len - r->pend_off;
            if (n > cap - got)
                n = cap - got;
            memcpy(buf + got, r->pend + r->pend_off, n);
            r->pend_off += n;
            got += n;
            continue;
        }
        r->pend_off = r->pend_len = 0;
        if (r->pc >= r->nops)
            break;
        if (r->ops[r->pc].kind == OP_CONTENT && r->nodes[r->ops[r->pc].node].kind == N_ATTACH &&
            (cap - got >= 4096 || (got == 0 && cap >= 78))) {
            /* Attachment bytes go straight into the caller's buffer (read
             * into it and encoded in place), at least one line at a time. */
            size_t w;
            int rc;
            start_op(r, &r->ops[r->pc]);
            rc = attach_step_to(r, &r->nodes[r->ops[r->pc].node], buf + got, cap - got, &w);
            if (rc < 0)
                return rc;
            got += w;
            if (rc == 1) {
                r->pc++;
                r->op_started = 0;
            }
            continue;
        }
        if (got > 0 && r->ops[r->pc].kind == OP_CONTENT &&
            r->nodes[r->ops[r->pc].node].kind == N_ATTACH)
            break; /* the next call has room to encode straight into the buffer */
        {
            int rc = advance(r);
            if (rc < 0)
                return rc;
        }
    }
    return (long)got;
}

/* uavmail__b64_lines_len() in 64 bits: an attachment may be larger than
 * size_t on a 32-bit system.  0, or -1 when not representable. */
static int b64_lines_len64(uint64_t n, uint64_t *out)
{
    uint64_t groups = n / 3 + (n % 3 != 0);
    uint64_t lines = n / UAVMAIL_B64_LINE_BYTES + (n % UAVMAIL_B64_LINE_BYTES != 0);
    if (groups > UINT64_MAX / 4 || 2 * lines > UINT64_MAX - 4 * groups)
        return -1;
    *out = 4 * groups + 2 * lines;
    return 0;
}

int uavmail__mime_measure(uavmail__mime_reader *r, uint64_t *size)
{
    uint64_t total = 0;
    while (r->pc < r->nops) {
        const op *o = &r->ops[r->pc];
        const node *nd = &r->nodes[o->node];
        if (o->kind == OP_CONTENT && nd->kind == N_ATTACH) {
            uint64_t s = 0;
            int rc = source_size(r, &r->m->att[nd->idx], &s);
            if (rc != 0)
                return rc;
            r->att_size[nd->idx] = s;
            if (b64_lines_len64(s, &s) != 0 || s > UINT64_MAX - total)
                return uavmail__err_set(&r->m->err, UAVMAIL_ETOOBIG,
                                        "the attachments' total size is not representable");
            total += s;
            r->skip_delim_crlf = s > 0;
            r->pc++;
            r->op_started = 0;
            continue;
        }
        {
            int rc = advance(r);
            if (rc < 0)
                return rc;
        }
        total += r->pend_len;
        r->pend_len = r->pend_off = 0;
    }
    *size = total;
    /* Rewind: the same reader now renders exactly what was measured. */
    r->measured = 1;
    r->pc = 0;
    r->op_started = 0;
    r->skip_delim_crlf = 0;
    return 0;
}
