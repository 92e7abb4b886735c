#include <stdint.h>
#include <string.h>

#include "base64.h"

static const char enc[64] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t uavmail__b64_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 != 0);
    if (groups > SIZE_MAX / 4)
        return SIZE_MAX;
    return groups * 4;
}

#ifndef UAVMAIL_BASE64_SMALL
#include "base64_pairs.h"

/* Two table loads per 3 bytes instead of four: the speed flight logs need. */
static inline void enc3(char *o, const unsigned char *i)
{
    uint32_t v = ((uint32_t)i[0] << 16) | ((uint32_t)i[1] << 8) | i[2];
    memcpy(o, &b64_pairs[v >> 18][2 * ((v >> 12) & 63)], 2);
    memcpy(o + 2, &b64_pairs[(v >> 6) & 63][2 * (v & 63)], 2);
}
#else
static inline void enc3(char *o, const unsigned char *i)
{
    uint32_t v = ((uint32_t)i[0] << 16) | ((uint32_t)i[1] << 8) | i[2];
    o[0] = enc[v >> 18];
    o[1] = enc[(v >> 12) & 63];
    o[2] = enc[(v >> 6) & 63];
    o[3] = enc[v & 63];
}
#endif

static size_t enc_tail(char *o, const unsigned char *i, size_t rest)
{
    if (rest == 0)
        return 0;
    o[0] = enc[i[0] >> 2];
    if (rest == 1) {
        o[1] = enc[(i[0] & 3) << 4];
        o[2] = '=';
    } else {
        o[1] = enc[((i[0] & 3) << 4) | (i[1] >> 4)];
        o[2] = enc[(i[1] & 15) << 2];
    }
    o[3] = '=';
    return 4;
}

size_t uavmail__b64_encode(char *out, const unsigned char *in, size_t n)
{
    char *o = out;
    while (n >= 3) {
        enc3(o, in);
        o += 4;
        in += 3;
        n -= 3;
    }
    o += enc_tail(o, in, n);
    return (size_t)(o - out);
}

size_t uavmail__b64_lines_len(size_t n)
{
    size_t lines = n / UAVMAIL_B64_LINE_BYTES + (n % UAVMAIL_B64_LINE_BYTES != 0);
    size_t chars = uavmail__b64_len(n);
    if (chars == SIZE_MAX || lines > (SIZE_MAX - chars) / 2)
        return SIZE_MAX;
    return chars + 2 * lines;
}

size_t uavmail__b64_encode_lines(char *out, const unsigned char *in, size_t n)
{
    char *o = out;
    while (n >= UAVMAIL_B64_LINE_BYTES) {
        int g;
        /* 19 groups of 3 bytes make one 76-column line. */
        for (g = 0; g < 19; g++)
            enc3(o + 4 * g, in + 3 * g);
        o[76] = '\r';
        o[77] = '\n';
        o += 78;
        in += UAVMAIL_B64_LINE_BYTES;
        n -= UAVMAIL_B64_LINE_BYTES;
    }
    if (n != 0) {
        o += uavmail__b64_encode(o, in, n);
        *o++ = '\r';
        *o++ = '\n';
    }
    return (size_t)(o - out);
}

static int dec(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int uavmail__b64_decode(unsigned char *out, size_t cap, size_t *out_len, const char *in,
                        size_t n)
{
    size_t i, o = 0;
    if (n % 4 != 0)
        return -1;
    for (i = 0; i < n; i += 4) {
        int a = dec((unsigned char)in[i]), b = dec((unsigned char)in[i + 1]);
        int c = dec((unsigned char)in[i + 2]), d = dec((unsigned char)in[i + 3]);
        int last = i + 4 == n;
        size_t bytes = 3;
        if (a < 0 || b < 0)
            return -1;
        if (c < 0 || d < 0) {
            /* Padding is only allowed in the last group: "xx==" or "xxx=". */
            if (!last || in[i + 3] != '=')
                return -1;
            if (c < 0) {
                if (in[i + 2] != '=' || (b & 15) != 0)
                    return -1;
                bytes = 1;
            } else {
                if ((c & 3) != 0)
                    return -1;
                bytes = 2;
            }
        }
        if (cap - o < bytes || o > cap)
            return -1;
        out[o++] = (unsigned char)((a << 2) | (b >> 4));
        if (bytes > 1)
            out[o++] = (unsigned char)(((b & 15) << 4) | (c >> 2));
        if (bytes > 2)
            out[o++] = (unsigned char)(((c & 3) << 6) | d);
    }
    *out_len = o;
    return 0;
}
