/*
 * Streaming MIME writer (RFC 5322, 2045-2047, 2183, 2231).
 *
 * At creation the message is turned into a small program of operations
 * (headers, delimiters, part contents); reading runs the program, producing
 * one piece at a time into a fixed pending buffer.  Attachment files are
 * opened when their content is reached and read in fixed chunks.
 */
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "base64.h"
#include "mime.h"
#include "platform.h"

#define PEND_SIZE 8192
/* Raw bytes per base64 refill: whole 57-byte lines that fit the buffer. */
#define B64_CHUNK ((PEND_SIZE / 78) * UAVMAIL_B64_LINE_BYTES)

enum node_kind { N_MULTI, N_TEXT, N_ATTACH };
enum op_kind { OP_TOP, OP_HEADERS, OP_CONTENT, OP_DELIM, OP_CLOSE };
enum text_enc { ENC_7BIT, ENC_8BIT, ENC_QP, ENC_BASE64 };

typedef struct node {
    int kind;
    int enc;
    size_t idx;          /* attachment index */
    const char *subtype; /* multipart subtype */
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
    op *ops;
    size_t nops, pc;
    int op_started;
    /* Header generation within OP_TOP. */
    int hstep;
    size_t hidx;
    /* Leaf content state. */
    size_t pos;
    unsigned qp_state;
    int skip_lf;
    uavmail__file *file;
    int file_eof;
    int skip_delim_crlf; /* last base64 content ended with its own CRLF */
    int is_8bit;
    unsigned char *raw; /* B64_CHUNK bytes */
    char pend[PEND_SIZE];
    size_t pend_off, pend_len;
};

/* ---- small output helpers ------------------------------------------------- */

static size_t pend_room(const uavmail__mime_reader *r)
{
    return sizeof r->pend - r->pend_len;
}

static void put(uavmail__mime_reader *r, const char *s, size_t n)
{
    if (n > pend_room(r))
        n = pend_room(r); /* cannot happen: items are bounded well below PEND_SIZE */
    memcpy(r->pend + r->pend_len, s, n);
    r->pend_len += n;
}

static void puts_(uavmail__mime_reader *r, const char *s)
{
    put(r, s, strlen(s));
}

/* ---- media types ------------------------------------------------------------ */

const char *uavmail__mime_guess_type(const char *filename)
{
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
    return "application/octet-stream";
}

/* ---- encoders ---------------------------------------------------------------- */

static const char hex[] = "0123456789ABCDEF";

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
    char buf[PEND_SIZE / 2];
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
        if (uavmail__hdr_encode_words(buf, sizeof buf, value, col) != 0)
            puts_(r, buf);
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
    char buf[PEND_SIZE / 4];
    if (mb->name != NULL && mb->name[0] != '\0') {
        if (needs_encoding(mb->name)) {
            if (uavmail__hdr_encode_words(buf, sizeof buf, mb->name, col) != 0)
                puts_(r, buf);
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

/* A MIME parameter: name="value" for plain ASCII; RFC 2231 name*= for
 * anything else, preceded by a quoted ASCII fallback that many clients
 * still read (D-09). */
static void put_param(uavmail__mime_reader *r, const char *name, const char *value)
{
    const unsigned char *p;
    int plain = !needs_encoding(value) && strlen(value) <= 60;
    puts_(r, ";\r\n\t");
    puts_(r, name);
    puts_(r, "=\"");
    for (p = (const unsigned char *)value; *p; p++) {
        char c = (char)*p;
        if (*p >= 0x80 || *p < 0x20)
            c = '_';
        if (c == '"' || c == '\\')
            puts_(r, "\\");
        put(r, &c, 1);
    }
    puts_(r, "\"");
    if (plain)
        return;
    puts_(r, ";\r\n\t");
    puts_(r, name);
    puts_(r, "*=UTF-8''");
    for (p = (const unsigned char *)value; *p; p++) {
        if (uavmail__is_alpha(*p) || uavmail__is_digit(*p) || strchr("!#$&+-.^_`|~", *p)) {
            put(r, (const char *)p, 1);
        } else {
            char esc[3];
            esc[0] = '%';
            esc[1] = hex[*p >> 4];
            esc[2] = hex[*p & 15];
            put(r, esc, 3);
        }
    }
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

/* ---- program construction --------------------------------------------------------- */

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
        /* D-09: verify absent from the only unencoded content, the text. */
        if (r->m->text == NULL || r->m->text_len < strlen(nd->boundary))
            return 0;
        {
            const char *t = r->m->text, *end = t + r->m->text_len;
            size_t bl = strlen(nd->boundary);
            int found = 0;
            for (; t + bl <= end; t++)
                if (*t == '=' && memcmp(t, nd->boundary, bl) == 0) {
                    found = 1;
                    break;
                }
            if (!found)
                return 0;
        }
    }
}

static void emit_op(uavmail__mime_reader *r, int kind, int nd)
{
    r->ops[r->nops].kind = kind;
    r->ops[r->nops].node = nd;
    r->nops++;
}

static int add_node(uavmail__mime_reader *r, int kind)
{
    node *nd = &r->nodes[r->nnodes];
    memset(nd, 0, sizeof *nd);
    nd->kind = kind;
    return (int)r->nnodes++;
}

static int build(uavmail__mime_reader *r)
{
    uavmail_message *m = r->m;
    int text, root;
    size_t i;
    text = add_node(r, N_TEXT);
    r->nodes[text].enc =
        choose_text_encoding(m->text ? m->text : "", m->text ? m->text_len : 0, r->flags);
    if (r->nodes[text].enc == ENC_8BIT)
        r->is_8bit = 1;
    if (m->natt == 0) {
        emit_op(r, OP_TOP, text);
        emit_op(r, OP_CONTENT, text);
        return 0;
    }
    root = add_node(r, N_MULTI);
    r->nodes[root].subtype = "mixed";
    if (new_boundary(r, &r->nodes[root]) != 0)
        return -1;
    emit_op(r, OP_TOP, root);
    emit_op(r, OP_DELIM, root);
    emit_op(r, OP_HEADERS, text);
    emit_op(r, OP_CONTENT, text);
    for (i = 0; i < m->natt; i++) {
        int a = add_node(r, N_ATTACH);
        r->nodes[a].idx = i;
        r->nodes[a].enc = ENC_BASE64;
        emit_op(r, OP_DELIM, root);
        emit_op(r, OP_HEADERS, a);
        emit_op(r, OP_CONTENT, a);
    }
    emit_op(r, OP_CLOSE, root);
    return 0;
}

int uavmail__mime_reader_new(uavmail__mime_reader **out, uavmail_message *m, unsigned flags)
{
    uavmail__mime_reader *r;
    size_t maxnodes = m->natt + 4;
    *out = NULL;
    if (uavmail__message_freeze(m) != 0)
        return m->err.code;
    r = uavmail__calloc(&m->alloc, 1, sizeof *r);
    if (r == NULL)
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory rendering the message");
    r->m = m;
    r->flags = flags;
    r->nodes = uavmail__calloc(&m->alloc, maxnodes, sizeof *r->nodes);
    r->ops = uavmail__calloc(&m->alloc, maxnodes * 4 + 4, sizeof *r->ops);
    r->raw = uavmail__malloc(&m->alloc, B64_CHUNK);
    if (r->nodes == NULL || r->ops == NULL || r->raw == NULL) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&m->err, UAVMAIL_ENOMEM, "out of memory rendering the message");
    }
    if (build(r) != 0) {
        uavmail__mime_reader_free(r);
        return uavmail__err_set(&m->err, UAVMAIL_EINTERNAL, "no random numbers for a boundary");
    }
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
    uavmail__free(a, r->ops);
    uavmail__free(a, r->raw);
    uavmail__free(a, r);
}

int uavmail__mime_is_8bit(const uavmail__mime_reader *r)
{
    return r->is_8bit;
}

/* ---- headers ------------------------------------------------------------------------- */

/* Civil date from days since 1970-01-01 (proleptic Gregorian; the
 * well-known era arithmetic), so no OS time functions are needed. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    int64_t era, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    yoe = z - era * 146097;
    yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
    doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void put_date(uavmail__mime_reader *r)
{
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    int off = r->m->date_offset_min, aoff = off < 0 ? -off : off, y, mo, d;
    int64_t t = r->m->date + (int64_t)off * 60;
    int64_t day = (t >= 0 ? t : t - 86399) / 86400, sec = t - day * 86400;
    civil_from_days(day, &y, &mo, &d);
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
        put_param(r, "boundary", nd->boundary);
        puts_(r, "\r\n");
        return;
    }
    if (nd->kind == N_TEXT) {
        puts_(r, "Content-Type: text/plain; charset=utf-8\r\n");
    } else {
        const uavmail__attachment *a = &r->m->att[nd->idx];
        puts_(r, "Content-Type: ");
        puts_(r, a->content_type);
        put_param(r, "name", a->filename);
        puts_(r, "\r\nContent-Disposition: attachment");
        put_param(r, "filename", a->filename);
        puts_(r, "\r\n");
    }
    puts_(r, "Content-Transfer-Encoding: ");
    puts_(r, enc_names[nd->enc]);
    puts_(r, "\r\n");
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
    case 2:   /* To */
    case 3: { /* Cc */
        int kind = r->hstep == 2 ? UAVMAIL_TO : UAVMAIL_CC;
        int first = 1;
        size_t i;
        /* One mailbox per call keeps every item small; find the next one. */
        for (i = 0; i < r->hidx; i++)
            if (m->rcpt[i].kind == kind)
                first = 0;
        for (; r->hidx < m->nrcpt; r->hidx++)
            if (m->rcpt[r->hidx].kind == kind)
                break;
        if (r->hidx < m->nrcpt) {
            puts_(r, first ? (kind == UAVMAIL_TO ? "To: " : "Cc: ") : ",\r\n ");
            put_mailbox(r, &m->rcpt[r->hidx], first ? 4 : 1);
            r->hidx++;
            return 0;
        }
        if (!first)
            puts_(r, "\r\n");
        r->hidx = 0;
        break; /* Bcc is never written (D-10) */
    }
    case 4:
        if (m->subject != NULL)
            put_unstructured(r, "Subject", m->subject);
        break;
    case 5:
        puts_(r, "Message-ID: <");
        puts_(r, m->message_id);
        puts_(r, ">\r\nMIME-Version: 1.0\r\nX-Mailer: uavmail " UAVMAIL_VERSION_STRING "\r\n");
        break;
    case 6:
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
static int text_plain_step(uavmail__mime_reader *r)
{
    const char *t = r->m->text ? r->m->text : "";
    size_t n = r->m->text ? r->m->text_len : 0;
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

static int text_qp_step(uavmail__mime_reader *r)
{
    const char *t = r->m->text ? r->m->text : "";
    size_t n = r->m->text ? r->m->text_len : 0, w = 0;
    r->pos += uavmail__qp_encode(r->pend + r->pend_len, pend_room(r), &w, t + r->pos, n - r->pos,
                                 1, &r->qp_state);
    r->pend_len += w;
    return r->pos >= n;
}

/* Fill r->raw from the attachment; returns bytes, or -1 on a read error. */
static long fill_raw(uavmail__mime_reader *r, const uavmail__attachment *a)
{
    size_t got = 0;
    if (a->source == UAVMAIL__SRC_MEMORY) {
        size_t n = a->len - r->pos < B64_CHUNK ? a->len - r->pos : B64_CHUNK;
        memcpy(r->raw, a->data + r->pos, n);
        r->pos += n;
        return (long)n;
    }
    /* Whole 57-byte lines until end of file keep the line layout identical
     * to a one-shot encoding whatever the read sizes are. */
    while (got < B64_CHUNK && !r->file_eof) {
        long n = uavmail__plat_file_read(r->file, r->raw + got, B64_CHUNK - got);
        if (n < 0)
            return -1;
        if (n == 0)
            r->file_eof = 1;
        got += (size_t)n;
    }
    return (long)got;
}

static int attach_step(uavmail__mime_reader *r, const node *nd)
{
    const uavmail__attachment *a = &r->m->att[nd->idx];
    long n;
    if (a->source == UAVMAIL__SRC_FILE && r->file == NULL && !r->file_eof) {
        char why[128];
        if (uavmail__plat_file_open(&r->file, a->path, why, sizeof why) != 0)
            return uavmail__err_set(&r->m->err, UAVMAIL_EFILE,
                                    "attachment \"%s\" cannot be opened: %s", a->path, why);
    }
    n = fill_raw(r, a);
    if (n < 0)
        return uavmail__err_set(&r->m->err, UAVMAIL_EFILE, "attachment \"%s\": read error",
                                a->path);
    if (n > 0) {
        r->pend_len += uavmail__b64_encode_lines(r->pend + r->pend_len, r->raw, (size_t)n);
        r->skip_delim_crlf = 1;
    }
    if ((size_t)n < B64_CHUNK || (a->source == UAVMAIL__SRC_MEMORY && r->pos >= a->len)) {
        uavmail__plat_file_close(r->file);
        r->file = NULL;
        return 1;
    }
    return 0;
}

/* Run one step of the program.  Returns 1 if the current op finished,
 * 0 if it needs more steps, or a negative error. */
static int run_step(uavmail__mime_reader *r)
{
    const op *o = &r->ops[r->pc];
    const node *nd = &r->nodes[o->node];
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
    switch (o->kind) {
    case OP_TOP:
        return top_header_step(r, nd);
    case OP_HEADERS:
        put_content_headers(r, nd);
        puts_(r, "\r\n");
        return 1;
    case OP_DELIM:
    case OP_CLOSE:
        if (!(r->skip_delim_crlf || (r->pc > 0 && r->ops[r->pc - 1].kind == OP_TOP)))
            puts_(r, "\r\n");
        r->skip_delim_crlf = 0;
        puts_(r, "--");
        puts_(r, nd->boundary);
        puts_(r, o->kind == OP_CLOSE ? "--\r\n" : "\r\n");
        return 1;
    case OP_CONTENT:
        if (nd->kind == N_ATTACH)
            return attach_step(r, nd);
        return nd->enc == ENC_QP ? text_qp_step(r) : text_plain_step(r);
    default:
        return 1;
    }
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
        {
            int rc = run_step(r);
            if (rc < 0)
                return rc;
            if (rc == 1) {
                r->pc++;
                r->op_started = 0;
            }
        }
    }
    return (long)got;
}
