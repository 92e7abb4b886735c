/*
 * The library's one allocator: every allocation goes through the
 * application's allocator (or libc's), never a process-global hook.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void *libc_malloc(size_t n, void *ud)
{
    (void)ud;
    return malloc(n);
}

static void *libc_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    return realloc(p, n);
}

static void libc_free(void *p, void *ud)
{
    (void)ud;
    free(p);
}

int uavmail__alloc_init(uavmail__alloc *a, const uavmail_allocator *app)
{
    if (app == NULL) {
        a->malloc_fn = libc_malloc;
        a->realloc_fn = libc_realloc;
        a->free_fn = libc_free;
        a->user_data = NULL;
        return 0;
    }
    if (app->version != UAVMAIL_ALLOCATOR_VERSION || app->malloc_fn == NULL ||
        app->realloc_fn == NULL || app->free_fn == NULL)
        return UAVMAIL_EINVAL;
    a->malloc_fn = app->malloc_fn;
    a->realloc_fn = app->realloc_fn;
    a->free_fn = app->free_fn;
    a->user_data = app->user_data;
    return 0;
}

void *uavmail__malloc(const uavmail__alloc *a, size_t n)
{
    return a->malloc_fn(n ? n : 1, a->user_data);
}

void *uavmail__calloc(const uavmail__alloc *a, size_t count, size_t size)
{
    void *p;
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    p = uavmail__malloc(a, count * size);
    if (p != NULL)
        memset(p, 0, count * size != 0 ? count * size : 1);
    return p;
}

void *uavmail__realloc(const uavmail__alloc *a, void *p, size_t n)
{
    return a->realloc_fn(p, n ? n : 1, a->user_data);
}

void uavmail__free(const uavmail__alloc *a, void *p)
{
    if (p != NULL)
        a->free_fn(p, a->user_data);
}

char *uavmail__strndup(const uavmail__alloc *a, const char *s, size_t n)
{
    char *d;
    if (s == NULL || n == SIZE_MAX)
        return NULL;
    d = uavmail__malloc(a, n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *uavmail__strdup(const uavmail__alloc *a, const char *s)
{
    return s == NULL ? NULL : uavmail__strndup(a, s, strlen(s));
}

void uavmail__zeroize(void *p, size_t n)
{
    /* A volatile function pointer keeps the compiler from proving the
     * stores dead (the technique mbedtls_platform_zeroize documents). */
    static void *(*const volatile wipe)(void *, int, size_t) = memset;
    if (p != NULL && n != 0)
        wipe(p, 0, n);
}

void uavmail__free_secret(const uavmail__alloc *a, void *p, size_t n)
{
    if (p == NULL)
        return;
    uavmail__zeroize(p, n);
    uavmail__free(a, p);
}
