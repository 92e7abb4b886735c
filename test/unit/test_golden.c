/* Encoder golden files (test/data/golden): base64, MIME base64 lines,
 * quoted-printable, RFC 2047 words, RFC 2231 parameters. */
#include <stdio.h>
#include <stdlib.h>

#include "base64.h"
#include "mime.h"
#include "tt.h"

static const char *dir;

/* Decode the escapes of a golden line in place; returns the length. */
static size_t unescape(char *s)
{
    char *o = s, *p = s;
    while (*p) {
        if (*p == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 'r': *o++ = '\r'; p++; break;
            case 'n': *o++ = '\n'; p++; break;
            case 't': *o++ = '\t'; p++; break;
            case 'x': {
                unsigned v;
                sscanf(p + 1, "%2x", &v);
                *o++ = (char)v;
                p += 3;
                break;
            }
            default: *o++ = *p++; break;
            }
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return (size_t)(o - s);
}

typedef size_t (*encoder)(char *out, size_t cap, const char *in, size_t n);

static void run_file(const char *name, encoder enc)
{
    char path[512], line[8192], in[8192];
    size_t in_len = 0;
    int have_in = 0, records = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "r");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#')
            continue;
        if (line[0] == '<') {
            memcpy(in, line + (n > 1 ? 2 : 1), n > 1 ? n - 1 : 1);
            in_len = unescape(in);
            have_in = 1;
        } else if (line[0] == '>' && have_in) {
            static char want[8192], got[16384];
            size_t wl, gl;
            memcpy(want, line + (n > 1 ? 2 : 1), n > 1 ? n - 1 : 1);
            wl = unescape(want);
            gl = enc(got, sizeof got, in, in_len);
            tt_current = name;
            CHECK_MEM(got, gl, want, wl);
            have_in = 0;
            records++;
        }
    }
    fclose(f);
    CHECK(records > 0);
}

static size_t enc_b64(char *out, size_t cap, const char *in, size_t n)
{
    (void)cap;
    return uavmail__b64_encode(out, (const unsigned char *)in, n);
}

static size_t enc_b64_lines(char *out, size_t cap, const char *in, size_t n)
{
    (void)cap;
    return uavmail__b64_encode_lines(out, (const unsigned char *)in, n);
}

static size_t enc_qp(char *out, size_t cap, const char *in, size_t n)
{
    size_t w;
    unsigned st = 0;
    uavmail__qp_encode(out, cap, &w, in, n, 1, &st);
    return w;
}

static size_t enc_2047(char *out, size_t cap, const char *in, size_t n)
{
    (void)n;
    return uavmail__hdr_encode_words(out, cap, in, 9);
}

static size_t enc_2231(char *out, size_t cap, const char *in, size_t n)
{
    (void)n;
    return uavmail__mime_param(out, cap, "filename", in);
}

static void golden_base64(void) { run_file("base64.txt", enc_b64); }
static void golden_base64_lines(void) { run_file("base64-lines.txt", enc_b64_lines); }
static void golden_qp(void) { run_file("qp.txt", enc_qp); }
static void golden_rfc2047(void) { run_file("rfc2047.txt", enc_2047); }
static void golden_rfc2231(void) { run_file("rfc2231.txt", enc_2231); }

static const tt_test tests[] = {
    TT(golden_base64), TT(golden_base64_lines), TT(golden_qp), TT(golden_rfc2047),
    TT(golden_rfc2231),
};

int main(int argc, char **argv)
{
    dir = getenv("UAVMAIL_GOLDEN_DIR");
    if (dir == NULL)
        dir = "test/data/golden";
    return tt_run(tests, sizeof tests / sizeof tests[0], argc > 1 ? 0 : argc, argv);
}
