/*
 * Private definitions shared by the library's modules.
 */
#ifndef UAVMAIL_INTERNAL_H
#define UAVMAIL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "uavmail/uavmail.h"
#include "opts.h"

#if defined(__USE_MINGW_ANSI_STDIO) && __USE_MINGW_ANSI_STDIO /* meson sets it for mingw-w64 */
#define UAVMAIL__PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define UAVMAIL__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define UAVMAIL__PRINTF(f, a)
#endif

#define UAVMAIL__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The private interface between libuavmail and libuavmail-flight (the outbox,
 * telemetry and alerts, built as a second library on top of this one): the
 * internal functions marked with this (here and in message_int.h, mime.h and
 * platform.h) are exported by libuavmail under the version node
 * UAVMAIL_PRIVATE_<release> (lib/uavmail.map.in).  They are not API and may
 * change in any release: on ELF systems the dynamic linker refuses a flight
 * library next to a libuavmail of another release, and everywhere (Windows
 * DLLs have no symbol versions) its constructors refuse to work then
 * (lib/flight.h).  Everything else stays hidden. */
#if defined(UAVMAIL_STATIC)
#define UAVMAIL__SHARED
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(UAVMAIL_BUILDING) && !defined(UAVMAIL_FLIGHT_BUILDING)
#define UAVMAIL__SHARED __declspec(dllexport)
#else /* plain: the import library's stubs, or the static core in unit tests */
#define UAVMAIL__SHARED
#endif
#elif defined(__GNUC__)
#define UAVMAIL__SHARED __attribute__((visibility("default")))
#else
#define UAVMAIL__SHARED
#endif

/* ---- memory ---------------------------------------------------------- */

typedef struct uavmail__alloc {
    void *(*malloc_fn)(size_t, void *);
    void *(*realloc_fn)(void *, size_t, void *);
    void (*free_fn)(void *, void *);
    void *user_data;
} uavmail__alloc;

/* Fill @p a from an application allocator (NULL: libc). */
UAVMAIL__SHARED int uavmail__alloc_init(uavmail__alloc *a, const uavmail_allocator *app);
UAVMAIL__SHARED void *uavmail__malloc(const uavmail__alloc *a, size_t n);
UAVMAIL__SHARED void *uavmail__calloc(const uavmail__alloc *a, size_t count, size_t size);
UAVMAIL__SHARED void *uavmail__realloc(const uavmail__alloc *a, void *p, size_t n);
UAVMAIL__SHARED void uavmail__free(const uavmail__alloc *a, void *p);
/* Copy a NUL-terminated string (NULL gives NULL). */
char *uavmail__strdup(const uavmail__alloc *a, const char *s);
char *uavmail__strndup(const uavmail__alloc *a, const char *s, size_t n);
/* Wipe then free (for anything that held a secret). */
void uavmail__free_secret(const uavmail__alloc *a, void *p, size_t n);
/* Wipe memory in a way the compiler cannot drop. */
void uavmail__zeroize(void *p, size_t n);

/* Overflow-checked arithmetic: return 0 on success, -1 on overflow (FZ-07). */
static inline int uavmail__add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

/* ---- error detail ---------------------------------------------------- */

struct uavmail_error_detail {
    int code;
    int smtp_code;
    long tls_code;
    char enhanced[16];
    char message[UAVMAIL_ERROR_MESSAGE_MAX];
    char hint[UAVMAIL_ERROR_HINT_MAX];
    char reply[UAVMAIL_ERROR_REPLY_MAX];
};

UAVMAIL__SHARED void uavmail__err_clear(uavmail_error_detail *e);
/* Clear and set the code only.  Returns @p code. */
UAVMAIL__SHARED int uavmail__err_code(uavmail_error_detail *e, int code);
#if UAVMAIL_ERROR_TEXTS
/* Set code and message; keeps nothing else.  Returns @p code. */
UAVMAIL__SHARED int uavmail__err_set(uavmail_error_detail *e, int code, const char *fmt, ...) UAVMAIL__PRINTF(3, 4);
int uavmail__err_vset(uavmail_error_detail *e, int code, const char *fmt, va_list ap)
    UAVMAIL__PRINTF(3, 0);
void uavmail__err_hint(uavmail_error_detail *e, const char *fmt, ...) UAVMAIL__PRINTF(2, 3);
#else
/* Without the texts (opts.h) only the code is recorded: the format and its
 * arguments stay inside sizeof, so they are type-checked and count as used
 * but are never evaluated -- no argument may have a side effect.  The function
 * exists too (recording the code), so the private interface is the same in
 * every configuration. */
UAVMAIL__SHARED int uavmail__err_set(uavmail_error_detail *e, int code, const char *fmt, ...);
int uavmail__err_unevaluated(int, ...); /* never defined: only named inside sizeof */
#define uavmail__err_set(e, code, ...) \
    ((void)sizeof(uavmail__err_unevaluated(0, __VA_ARGS__)), uavmail__err_code((e), (code)))
#define uavmail__err_hint(e, ...) \
    ((void)sizeof(uavmail__err_unevaluated(0, __VA_ARGS__)), (void)(e))
#endif
/* Record a server reply (code, enhanced status, text) in the detail. */
void uavmail__err_reply(uavmail_error_detail *e, int smtp_code, const char *enhanced,
                        const char *text);
/* Copy @p src into @p dst (used when a sub-object failed). */
UAVMAIL__SHARED void uavmail__err_copy(uavmail_error_detail *dst, const uavmail_error_detail *src);

/* Bounded, always-terminated string helpers. */
UAVMAIL__SHARED size_t uavmail__strlcpy(char *dst, const char *src, size_t cap);
UAVMAIL__SHARED int uavmail__snprintf(char *dst, size_t cap, const char *fmt, ...) UAVMAIL__PRINTF(3, 4);

/* ASCII-only helpers independent of the C locale. */
UAVMAIL__SHARED int uavmail__ascii_casecmp(const char *a, const char *b);
int uavmail__ascii_ncasecmp(const char *a, const char *b, size_t n);
/* Copy @p src keeping valid UTF-8 only: control characters become spaces,
 * bytes of invalid sequences '?'; always terminated, cut on a character. */
UAVMAIL__SHARED void uavmail__clean_text(char *dst, size_t cap, const char *src);

/* 1 if @p s is 1..@p max bytes of ASCII letters, digits and characters of @p extra. */
UAVMAIL__SHARED int uavmail__valid_name(const char *s, size_t max, const char *extra);

/* Civil date (year, month 1-12, day 1-31) from days since 1970-01-01. */
UAVMAIL__SHARED void uavmail__civil_from_days(int64_t days, int *y, int *m, int *d);

static inline int uavmail__is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int uavmail__is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

#endif
