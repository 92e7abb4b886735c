/*
 * Small string helpers that do not depend on the C locale.
 */
#include <stdio.h>
#include <string.h>

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
