/*
 * libFuzzer target over the header and body encoders (issue: MIME; FZ-05
 * composition half).  The input is cut into fields (subject, display name,
 * custom header value, text body, attachment bytes, file name) that go
 * through the public API; whatever is accepted is rendered, then:
 *   - no bare CR or LF, no line over 998 octets (D-01, D-05);
 *   - 7-bit rendering has no 8-bit byte (D-06);
 *   - the top-level header count is exactly the intended one, no Bcc (D-07, D-10);
 *   - the text body and the attachment decode back to the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uavmail/uavmail.h>

#define ASSERT(c)                                                                            \
    do {                                                                                     \
        if (!(c)) {                                                                          \
            fprintf(stderr, "fuzz_mime: assertion failed: %s (line %d)\n", #c, __LINE__);    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

typedef struct field {
    const uint8_t *p;
    size_t n;
} field;

static field take(const uint8_t **data, size_t *size)
{
    field f = {NULL, 0};
    size_t n;
    if (*size < 2) {
        f.p = *data;
        return f;
    }
    n = (size_t)(*data)[0] | ((size_t)(*data)[1] << 8);
    *data += 2;
    *size -= 2;
    if (n > *size)
        n = *size;
    f.p = *data;
    f.n = n;
    *data += n;
    *size -= n;
    return f;
}

static char *cstr(field f)
{
    char *s = malloc(f.n + 1);
    memcpy(s, f.p, f.n);
    s[f.n] = '\0';
    return s;
}

static const char *find(const char *hay, size_t n, const char *needle)
{
    size_t nl = strlen(needle), i;
    for (i = 0; nl <= n && i <= n - nl; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            return hay + i;
    return NULL;
}

static size_t b64_decode(const char *s, size_t n, uint8_t *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0, i;
    for (i = 0; i < n; i++) {
        const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *q = s[i] ? strchr(tab, s[i]) : NULL;
        if (s[i] == '=' || s[i] == '\r' || s[i] == '\n')
            continue;
        ASSERT(q != NULL);
        acc = (acc << 6) | (uint32_t)(q - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o;
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t qp_decode(const char *s, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;
    while (i < n) {
        if (s[i] == '=') {
            if (i + 2 < n + 1 && i + 2 <= n && s[i + 1] == '\r' && s[i + 2] == '\n') {
                i += 3;
                continue;
            }
            ASSERT(i + 2 < n + 1 && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0);
            out[o++] = (uint8_t)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 3;
        } else {
            out[o++] = (uint8_t)s[i++];
        }
    }
    return o;
}

/* Text with every CR, LF or CRLF turned into CRLF. */
static size_t normalise(const uint8_t *t, size_t n, uint8_t *out)
{
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        if (t[i] == '\r' || t[i] == '\n') {
            if (t[i] == '\r' && i + 1 < n && t[i + 1] == '\n')
                i++;
            out[o++] = '\r';
            out[o++] = '\n';
        } else {
            out[o++] = t[i];
        }
    }
    return o;
}

/* Decode one leaf part (headers + body) and compare with @p want. */
static void check_leaf(const char *part, size_t n, const uint8_t *want, size_t wn, int single)
{
    const char *sep = find(part, n, "\r\n\r\n");
    const char *body;
    size_t bn, dn;
    uint8_t *dec;
    ASSERT(sep != NULL);
    body = sep + 4;
    bn = n - (size_t)(body - part);
    dec = malloc(bn + 1);
    /* Field names only count at the start of a line (a display name may
     * contain the same words). */
    if (find(part - 2, (size_t)(sep - part) + 2, "\nContent-Transfer-Encoding: base64"))
        dn = b64_decode(body, bn, dec);
    else if (find(part - 2, (size_t)(sep - part) + 2, "\nContent-Transfer-Encoding: quoted-printable"))
        dn = qp_decode(body, bn, dec);
    else {
        memcpy(dec, body, bn);
        dn = bn;
    }
    if (single && dn >= 2 && (wn < 2 || memcmp(want + wn - 2, "\r\n", 2) != 0) &&
        memcmp(dec + dn - 2, "\r\n", 2) == 0)
        dn -= 2; /* a single-part body is ended with CRLF */
    ASSERT(dn == wn && memcmp(dec, want, wn) == 0);
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uavmail_message *m;
    field flags = take(&data, &size), subj = take(&data, &size), name = take(&data, &size);
    field hval = take(&data, &size), text = take(&data, &size), att = take(&data, &size);
    field fname = take(&data, &size);
    char *s_subj = cstr(subj), *s_name = cstr(name), *s_hval = cstr(hval), *s_fname = cstr(fname);
    unsigned rflags = flags.n && (flags.p[0] & 1) ? UAVMAIL_RENDER_8BIT : 0;
    int has_subj, has_hdr, has_text, has_att;
    size_t len = 0, i, col = 0, headers = 0, expect;
    char *out;
    uint64_t sz;

    if (uavmail_message_new(&m, NULL) != 0)
        abort();
    ASSERT(uavmail_message_set_from(m, "uav7@example.com", s_name) == 0 ||
           uavmail_message_set_from(m, "uav7@example.com", NULL) == 0);
    ASSERT(uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL) == 0);
    ASSERT(uavmail_message_add_recipient(m, UAVMAIL_BCC, "hidden@example.com", NULL) == 0);
    has_subj = uavmail_message_set_subject(m, s_subj) == 0;
    has_hdr = uavmail_message_add_header(m, "X-Fuzz", s_hval) == 0;
    has_text = uavmail_message_set_text(m, (const char *)text.p, text.n) == 0;
    has_att = uavmail_message_attach_memory(m, att.p, att.n, NULL, s_fname) == 0;

    ASSERT(uavmail_message_size(m, rflags, &sz) == 0);
    out = malloc((size_t)sz + 1);
    ASSERT(uavmail_message_render(m, rflags, out, (size_t)sz, &len) == 0);
    ASSERT(len == sz);

    for (i = 0; i < len; i++) {
        if (out[i] == '\r') {
            ASSERT(i + 1 < len && out[i + 1] == '\n');
            i++;
            col = 0;
            continue;
        }
        ASSERT(out[i] != '\n' && out[i] != '\0');
        ASSERT(rflags || (unsigned char)out[i] < 0x80);
        ASSERT(++col <= 998);
    }
    /* Header fields: each starts at a line that does not begin with WSP. */
    for (i = 0; i < len; i++) {
        if (i == 0 || (out[i - 1] == '\n')) {
            if (out[i] == '\r')
                break;
            if (out[i] != ' ' && out[i] != '\t') {
                headers++;
                ASSERT(strncmp(out + i, "Bcc:", 4) != 0);
            }
        }
    }
    /* Date From To Message-ID MIME-Version Content-Type, + Subject, X-Fuzz,
     * + Content-Transfer-Encoding when the text is the only part. */
    expect = 6 + (size_t)has_subj + (size_t)has_hdr + (has_att ? 0 : 1);
    ASSERT(headers == expect);

    {
        uint8_t *want = malloc(2 * text.n + 1);
        size_t wn = has_text ? normalise(text.p, text.n, want) : 0;
        if (!has_att) {
            const char *body = find(out, len, "\r\n\r\n");
            ASSERT(body != NULL);
            /* Re-parse from the last header line for the CTE. */
            check_leaf(out + 2, len - 2, want, wn, 1); /* the first field is Date */
        } else {
            const char *b = find(out, len, "boundary=\""), *e;
            char delim[96];
            const char *p1, *p2, *p3;
            ASSERT(b != NULL);
            b += 10;
            e = memchr(b, '"', (size_t)(out + len - b));
            ASSERT(e != NULL && e - b < 80);
            snprintf(delim, sizeof delim, "--%.*s\r\n", (int)(e - b), b);
            p1 = find(e, (size_t)(out + len - e), delim);
            ASSERT(p1 != NULL);
            p1 += strlen(delim);
            p2 = find(p1, (size_t)(out + len - p1), delim);
            ASSERT(p2 != NULL);
            check_leaf(p1, (size_t)(p2 - p1) - 2, want, wn, 0); /* CRLF before "--" */
            p2 += strlen(delim);
            snprintf(delim, sizeof delim, "--%.*s--\r\n", (int)(e - b), b);
            p3 = find(p2, (size_t)(out + len - p2), delim);
            ASSERT(p3 != NULL);
            check_leaf(p2, (size_t)(p3 - p2), att.p, att.n, 0);
        }
        free(want);
    }
    free(out);
    free(s_subj);
    free(s_name);
    free(s_hval);
    free(s_fname);
    uavmail_message_free(m);
    return 0;
}
