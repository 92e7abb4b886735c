/* Base64 encoder/decoder vectors (RFC 4648 section 10) and MIME line layout. */
#include <stdlib.h>

#include "base64.h"
#include "tt.h"

static void rfc4648_vectors(void)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    size_t i;
    for (i = 0; i < 7; i++) {
        char buf[16];
        unsigned char dec[16];
        size_t n = uavmail__b64_encode(buf, (const unsigned char *)in[i], strlen(in[i])), dn = 99;
        CHECK_MEM(buf, n, out[i], strlen(out[i]));
        CHECK_INT(uavmail__b64_len(strlen(in[i])), strlen(out[i]));
        CHECK_INT(uavmail__b64_decode(dec, sizeof dec, &dn, out[i], strlen(out[i])), 0);
        CHECK_MEM(dec, dn, in[i], strlen(in[i]));
    }
}

static void decode_rejects_malformed(void)
{
    unsigned char out[16];
    size_t n;
    CHECK(uavmail__b64_decode(out, sizeof out, &n, "Zg=", 3) < 0);       /* length */
    CHECK(uavmail__b64_decode(out, sizeof out, &n, "Z===", 4) < 0);      /* too much padding */
    CHECK(uavmail__b64_decode(out, sizeof out, &n, "Zh==", 4) < 0);      /* non-zero pad bits */
    CHECK(uavmail__b64_decode(out, sizeof out, &n, "Zg==Zg==", 8) < 0);  /* padding inside */
    CHECK(uavmail__b64_decode(out, sizeof out, &n, "Zm 9", 4) < 0);      /* whitespace */
    CHECK(uavmail__b64_decode(out, 2, &n, "Zm9v", 4) < 0);               /* bounded */
}

static void mime_lines_layout(void)
{
    /* 57 bytes per 76-column line; every line ends with CRLF; one-shot and
     * chunked (whole lines) encodings are identical. */
    unsigned char in[1000];
    char one[2000], two[2000];
    size_t i, n1, n2, lines = 0, col = 0;
    for (i = 0; i < sizeof in; i++)
        in[i] = (unsigned char)(i * 7 + 3);
    n1 = uavmail__b64_encode_lines(one, in, sizeof in);
    CHECK_INT(n1, uavmail__b64_lines_len(sizeof in));
    n2 = uavmail__b64_encode_lines(two, in, 57 * 5);
    n2 += uavmail__b64_encode_lines(two + n2, in + 57 * 5, sizeof in - 57 * 5);
    CHECK_MEM(one, n1, two, n2);
    for (i = 0; i < n1; i++) {
        if (one[i] == '\r') {
            CHECK(one[i + 1] == '\n');
            CHECK(col <= 76);
            lines++;
            col = 0;
            i++;
        } else {
            col++;
        }
    }
    CHECK_INT(lines, (sizeof in + 56) / 57);
    CHECK_INT(uavmail__b64_lines_len(0), 0);
}

static const tt_test tests[] = {
    TT(rfc4648_vectors),
    TT(decode_rejects_malformed),
    TT(mime_lines_layout),
};

TT_MAIN(tests)
