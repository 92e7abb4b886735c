#include <string.h>

#include "internal.h"
#include "reply.h"

void uavmail__reply_reader_init(uavmail__reply_reader *r, int allow_lf)
{
    memset(r, 0, sizeof *r);
    r->allow_lf = allow_lf;
}

int uavmail__reply_pending(const uavmail__reply_reader *r)
{
    return !r->complete && (r->line_len != 0 || r->reply.nlines != 0 || r->saw_cr);
}

const char *uavmail__reply_strerror(int err)
{
    switch (err) {
    case UAVMAIL__REPLY_BAD_CODE: return "malformed reply code";
    case UAVMAIL__REPLY_BAD_BYTE: return "forbidden byte in reply (NUL, bare CR or bare LF)";
    case UAVMAIL__REPLY_TOO_LONG: return "reply exceeds the size limits";
    default: return "reply error";
    }
}

/* Check the first four bytes of a line: "DDD " / "DDD-" / "DDD" + end.
 * Returns the code, or -1. */
static int head_code(const char *h, size_t n)
{
    int code;
    if (n < 3 || !uavmail__is_digit(h[0]) || !uavmail__is_digit(h[1]) ||
        !uavmail__is_digit(h[2]))
        return -1;
    if (h[0] < '2' || h[0] > '5')
        return -1; /* P-01: a first digit outside 2..5 is fatal */
    if (n > 3 && h[3] != ' ' && h[3] != '-')
        return -1; /* "2500 ok" */
    code = (h[0] - '0') * 100 + (h[1] - '0') * 10 + (h[2] - '0');
    return code;
}

/* A line ended.  Returns DONE if it was the last line, MORE otherwise, or an error. */
static int end_line(uavmail__reply_reader *r)
{
    size_t n = r->line_len;
    int code = head_code(r->head, n < 4 ? n : 4);
    int last = n <= 3 || r->head[3] == ' ';
    uavmail__reply *rep = &r->reply;

    if (code < 0)
        return UAVMAIL__REPLY_BAD_CODE;
    if (rep->nlines > 0 && code != rep->code)
        return UAVMAIL__REPLY_BAD_CODE; /* P-01: mismatched continuation */
    rep->code = code;
    rep->nlines++;
    r->line_len = 0;
    if (last) {
        rep->text[rep->len] = '\0';
        return UAVMAIL__REPLY_DONE;
    }
    if (rep->nlines >= UAVMAIL_REPLY_LINES_MAX || rep->len >= UAVMAIL_REPLY_TEXT_MAX)
        return UAVMAIL__REPLY_TOO_LONG;
    rep->text[rep->len++] = '\n';
    r->line_start = rep->len;
    return UAVMAIL__REPLY_MORE;
}

static void start_reply(uavmail__reply_reader *r)
{
    r->reply.code = 0;
    r->reply.nlines = 0;
    r->reply.len = 0;
    r->reply.text[0] = '\0';
    r->line_start = 0;
}

int uavmail__reply_feed(uavmail__reply_reader *r, const char *data, size_t len, size_t *used)
{
    size_t i;
    *used = 0;
    if (r->error)
        return r->error;
    if (r->complete) {
        r->complete = 0;
        start_reply(r);
    }
    for (i = 0; i < len; i++) {
        char c = data[i];
        int rc;
        if (r->saw_cr) {
            r->saw_cr = 0;
            if (c != '\n') {
                r->error = UAVMAIL__REPLY_BAD_BYTE; /* P-04: bare CR inside a line */
                return r->error;
            }
            rc = end_line(r);
        } else if (c == '\r') {
            r->saw_cr = 1;
            continue;
        } else if (c == '\n') {
            if (!r->allow_lf) {
                r->error = UAVMAIL__REPLY_BAD_BYTE; /* P-04: LF-only rejected by default */
                return r->error;
            }
            rc = end_line(r);
        } else if (c == '\0') {
            r->error = UAVMAIL__REPLY_BAD_BYTE;
            return r->error;
        } else {
            if (r->line_len >= UAVMAIL_REPLY_LINE_MAX) {
                r->error = UAVMAIL__REPLY_TOO_LONG;
                return r->error;
            }
            if (r->line_len < 4) {
                r->head[r->line_len] = c;
                if (r->line_len == 3 && c != ' ' && c != '-') {
                    r->error = UAVMAIL__REPLY_BAD_CODE;
                    return r->error;
                }
            } else {
                if (r->reply.len >= UAVMAIL_REPLY_TEXT_MAX) {
                    r->error = UAVMAIL__REPLY_TOO_LONG;
                    return r->error;
                }
                r->reply.text[r->reply.len++] = c;
            }
            r->line_len++;
            continue;
        }
        if (rc < 0) {
            r->error = rc;
            return rc;
        }
        if (rc == UAVMAIL__REPLY_DONE) {
            r->complete = 1;
            *used = i + 1;
            return rc;
        }
    }
    *used = len;
    return UAVMAIL__REPLY_MORE;
}

static int parse_num(const char *s, size_t len, size_t *pos, int max_digits, int *out)
{
    int v = 0, d = 0;
    while (*pos < len && uavmail__is_digit(s[*pos])) {
        if (d == 0 && s[*pos] == '0' && *pos + 1 < len && uavmail__is_digit(s[*pos + 1]))
            return -1; /* leading zero, e.g. 5.07.1 */
        v = v * 10 + (s[*pos] - '0');
        (*pos)++;
        if (++d > max_digits)
            return -1;
    }
    if (d == 0)
        return -1;
    *out = v;
    return 0;
}

size_t uavmail__enhanced_parse(const char *text, size_t len, int code, char *out)
{
    /* class "." subject "." detail ; class 2/4/5, subject 1-3 digits, detail 1-3 digits */
    size_t pos = 0;
    int cls, subj, det;
    if (parse_num(text, len, &pos, 1, &cls) || (cls != 2 && cls != 4 && cls != 5))
        return 0;
    if (cls != code / 100)
        return 0; /* P-06: a class contradicting the reply code is ignored */
    if (pos >= len || text[pos++] != '.' || parse_num(text, len, &pos, 3, &subj))
        return 0;
    if (pos >= len || text[pos++] != '.' || parse_num(text, len, &pos, 3, &det))
        return 0;
    if (pos < len && text[pos] != ' ')
        return 0;
    uavmail__snprintf(out, 16, "%d.%d.%d", cls, subj, det);
    return pos < len ? pos + 1 : pos;
}
