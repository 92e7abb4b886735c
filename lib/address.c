#include <string.h>

#include "address.h"

int uavmail__utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n, k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

static int is_atext(unsigned char c)
{
    if (c >= 0x80)
        return 1; /* UTF-8 (RFC 6532), validated separately */
    if (uavmail__is_alpha(c) || uavmail__is_digit(c))
        return 1;
    return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Dot-string: atoms separated by single dots. */
static int dot_string_ok(const char *s, size_t n)
{
    size_t i;
    int prev_dot = 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (prev_dot)
                return 0;
            prev_dot = 1;
        } else if (is_atext(c)) {
            prev_dot = 0;
        } else {
            return 0;
        }
    }
    return n > 0 && !prev_dot;
}

/* Quoted-string of RFC 5321: printable ASCII (and UTF-8), quoted-pairs of
 * printable ASCII; never CR, LF, NUL or other controls (D-08). */
static int quoted_ok(const char *s, size_t n)
{
    size_t i;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        return 0;
    for (i = 1; i < n - 1; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') {
            if (++i >= n - 1)
                return 0;
            c = (unsigned char)s[i];
            if (c < 0x20 || c == 0x7F)
                return 0;
        } else if (c == '"' || c < 0x20 || c == 0x7F) {
            return 0;
        }
    }
    return 1;
}

static int label_ok(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(uavmail__is_alpha(c) || uavmail__is_digit(c) || c == '-' || c >= 0x80))
            return 0;
    }
    return 1;
}

static int ipv4_ok(const char *s, size_t n)
{
    size_t i = 0;
    int parts;
    for (parts = 0; parts < 4; parts++) {
        unsigned v = 0, digits = 0;
        while (i < n && uavmail__is_digit(s[i]) && digits < 4) {
            v = v * 10 + (unsigned)(s[i++] - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || v > 255)
            return 0;
        if (parts < 3 && (i >= n || s[i++] != '.'))
            return 0;
    }
    return i == n;
}

static int ipv6_ok(const char *s, size_t n)
{
    /* Syntax check sufficient for an address literal: hex groups, colons,
     * at most one "::", optionally ending in an IPv4 part. */
    size_t i, groups = 0;
    int dbl = 0;
    for (i = 0; i < n;) {
        size_t start = i;
        while (i < n && i - start < 5 &&
               (uavmail__is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f') ||
                (s[i] >= 'A' && s[i] <= 'F')))
            i++;
        if (i < n && s[i] == '.') /* trailing IPv4 */
            return ipv4_ok(s + start, n - start) && groups <= 6;
        if (i - start > 4)
            return 0;
        if (i - start > 0)
            groups++;
        if (i == n)
            break;
        if (s[i] != ':')
            return 0;
        if (i + 1 < n && s[i + 1] == ':') {
            if (dbl++)
                return 0;
            i += 2;
        } else {
            if (i - start == 0 && i != 0)
                return 0;
            i++;
        }
    }
    return dbl ? groups <= 7 : groups == 8;
}

static int domain_ok(const char *s, size_t n)
{
    size_t i, start = 0;
    if (n == 0 || n > UAVMAIL_DOMAIN_MAX)
        return 0;
    if (s[0] == '[') {
        if (s[n - 1] != ']')
            return 0;
        if (n > 7 && uavmail__ascii_ncasecmp(s + 1, "IPv6:", 5) == 0)
            return ipv6_ok(s + 6, n - 7);
        return ipv4_ok(s + 1, n - 2);
    }
    for (i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!label_ok(s + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

int uavmail__address_check(const char *addr, const char *what, uavmail_error_detail *err,
                           unsigned *flags)
{
    size_t n, i, at = 0, local_len;
    if (addr == NULL)
        return uavmail__err_set(err, UAVMAIL_EADDRESS, "%s address is missing", what);
    n = strlen(addr);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (c == '\r' || c == '\n')
            return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                    "%s address contains a line break (CR or LF)", what);
        if (c < 0x20 || c == 0x7F)
            return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                    "%s address contains a control character", what);
    }
    if (!uavmail__utf8_valid(addr, n))
        return uavmail__err_set(err, UAVMAIL_EADDRESS, "%s address is not valid UTF-8", what);
    /* The domain starts after the last '@' (a quoted local part may hold '@'). */
    for (i = n; i > 0; i--)
        if (addr[i - 1] == '@') {
            at = i;
            break;
        }
    if (at == 0)
        return uavmail__err_set(err, UAVMAIL_EADDRESS, "%s address \"%.100s\" has no '@'",
                                what, addr);
    local_len = at - 1;
    if (n > UAVMAIL_PATH_MAX - 2)
        return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                "%s address is longer than %d octets (RFC 5321 4.5.3.1.3)",
                                what, UAVMAIL_PATH_MAX - 2);
    if (local_len > UAVMAIL_LOCAL_PART_MAX)
        return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                "%s address: local part is longer than %d octets", what,
                                UAVMAIL_LOCAL_PART_MAX);
    if (!(dot_string_ok(addr, local_len) || quoted_ok(addr, local_len)))
        return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                "%s address \"%.100s\": invalid local part", what, addr);
    if (!domain_ok(addr + at, n - at))
        return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                "%s address \"%.100s\": invalid domain", what, addr);
#if !UAVMAIL_WITH_SMTPUTF8
    for (i = 0; i < n; i++)
        if ((unsigned char)addr[i] >= 0x80)
            return uavmail__err_set(err, UAVMAIL_EADDRESS,
                                    "%s address \"%.100s\" is not ASCII, and SMTPUTF8 is not "
                                    "compiled in (UAVMAIL_WITH_SMTPUTF8)",
                                    what, addr);
#endif
    if (flags != NULL) {
        *flags = 0;
        for (i = 0; i < n; i++)
            if ((unsigned char)addr[i] >= 0x80)
                *flags |= UAVMAIL__ADDR_UTF8;
    }
    return 0;
}

int uavmail__helo_valid(const char *name)
{
    size_t n;
    if (name == NULL)
        return 0;
    n = strlen(name);
    if (n == 0 || n > UAVMAIL_DOMAIN_MAX)
        return 0;
    if (name[0] == '[')
        return domain_ok(name, n);
    /* ASCII host name only (no UTF-8 in EHLO). */
    {
        size_t i;
        for (i = 0; i < n; i++)
            if ((unsigned char)name[i] >= 0x80)
                return 0;
    }
    return domain_ok(name, n);
}
