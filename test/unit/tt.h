/*
 * Tiny test harness: each test is a function; CHECK records failures with
 * file:line and keeps going; main() runs the table and returns non-zero on
 * any failure (meson reads the exit status).
 */
#ifndef UAVMAIL_TT_H
#define UAVMAIL_TT_H

#include <stdio.h>
#include <string.h>

static int tt_failures;
static const char *tt_current;

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            tt_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] check failed: %s\n", __FILE__, __LINE__, tt_current, \
                    #cond);                                                                  \
        }                                                                                    \
    } while (0)

#define CHECK_INT(a, b)                                                                      \
    do {                                                                                     \
        long long tt_a = (long long)(a), tt_b = (long long)(b);                              \
        if (tt_a != tt_b) {                                                                  \
            tt_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s == %lld, expected %lld\n", __FILE__, __LINE__,   \
                    tt_current, #a, tt_a, tt_b);                                             \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                      \
    do {                                                                                     \
        const char *tt_a = (a), *tt_b = (b);                                                 \
        if (tt_a == NULL || strcmp(tt_a, tt_b) != 0) {                                       \
            tt_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s:\n  got      \"%s\"\n  expected \"%s\"\n",       \
                    __FILE__, __LINE__, tt_current, #a, tt_a ? tt_a : "(null)", tt_b);        \
        }                                                                                    \
    } while (0)

#define CHECK_MEM(a, alen, b, blen)                                                          \
    do {                                                                                     \
        size_t tt_al = (alen), tt_bl = (blen);                                               \
        if (tt_al != tt_bl || memcmp((a), (b), tt_al) != 0) {                                \
            tt_failures++;                                                                   \
            fprintf(stderr, "%s:%d: [%s] %s differs:\n  got      ", __FILE__, __LINE__,      \
                    tt_current, #a);                                                         \
            tt_dump((const char *)(a), tt_al);                                               \
            fprintf(stderr, "\n  expected ");                                                \
            tt_dump((const char *)(b), tt_bl);                                               \
            fprintf(stderr, "\n");                                                           \
        }                                                                                    \
    } while (0)

static inline void tt_dump(const char *p, size_t n)
{
    size_t i;
    fputc('"', stderr);
    for (i = 0; i < n && i < 2000; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r')
            fputs("\\r", stderr);
        else if (c == '\n')
            fputs("\\n", stderr);
        else if (c < 0x20 || c >= 0x7F)
            fprintf(stderr, "\\x%02X", c);
        else
            fputc(c, stderr);
    }
    fputc('"', stderr);
}

typedef struct tt_test {
    const char *name;
    void (*fn)(void);
} tt_test;

#define TT(fn) {#fn, fn}

static inline int tt_run(const tt_test *tests, size_t n, int argc, char **argv)
{
    size_t i;
    int ran = 0;
    for (i = 0; i < n; i++) {
        int before = tt_failures;
        if (argc > 1 && strstr(tests[i].name, argv[1]) == NULL)
            continue;
        tt_current = tests[i].name;
        tests[i].fn();
        ran++;
        printf("%s %s\n", tt_failures == before ? "ok  " : "FAIL", tests[i].name);
    }
    printf("%d tests, %d failed checks\n", ran, tt_failures);
    return tt_failures ? 1 : 0;
}

#define TT_MAIN(table)                                                                       \
    int main(int argc, char **argv)                                                          \
    {                                                                                        \
        return tt_run(table, sizeof(table) / sizeof(table[0]), argc, argv);                  \
    }

#endif
