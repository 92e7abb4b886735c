/*
 * Small string helpers that do not depend on the C locale.
 */
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "internal.h"

size_t uavmail__strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (cap != 0) {
        size_t m = n < cap - 1 ? n : cap - 1;
        memcpy(dst, src, m);
        dst[m] = '\0';
    }
    return n;
}

int uavmail__snprintf(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
    return n;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int uavmail__ascii_ncasecmp(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int ca = lower((unsigned char)a[i]), cb = lower((unsigned char)b[i]);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
    return 0;
}

int uavmail__ascii_casecmp(const char *a, const char *b)
{
    return uavmail__ascii_ncasecmp(a, b, SIZE_MAX);
}

/* Civil date from days since 1970-01-01 (proleptic Gregorian; the
 * well-known era arithmetic), so no OS time functions are needed. */
void uavmail__civil_from_days(int64_t z, int *y, int *m, int *d)
{
    /* Only the 400-year era needs 64 bits; within it 32 bits do (and keep
     * 64-bit division helpers off small processors). */
    int64_t era;
    uint32_t doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (uint32_t)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* Copy text keeping valid UTF-8 only: control characters become spaces,
 * bytes of invalid sequences become '?'. */
void uavmail__clean_text(char *dst, size_t cap, const char *src)
{
    size_t o = 0, i = 0, n = strlen(src);
    while (i < n && o + 1 < cap) {
        unsigned char c = (unsigned char)src[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                                                       : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 1) {
            dst[o++] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
            i++;
        } else if (len && i + len <= n && uavmail__utf8_valid(src + i, len)) {
            if (o + len >= cap)
                break;
            memcpy(dst + o, src + i, len);
            o += len;
            i += len;
        } else {
            dst[o++] = '?';
            i++;
        }
    }
    dst[o] = '\0';
}


int uavmail__valid_name(const char *s, size_t max, const char *extra)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!uavmail__is_alpha((unsigned char)*s) && !uavmail__is_digit((unsigned char)*s) &&
            !strchr(extra, *s))
            return 0;
    return 1;
}
