/*
 * uavmail - common definitions shared by every public header.
 *
 * Public headers are C89-clean (they compile with -std=c89 -pedantic) and
 * C++-clean.  They never include a header of mbedTLS, libcbor or the OS.
 */
#ifndef UAVMAIL_COMMON_H
#define UAVMAIL_COMMON_H

#include <stddef.h>
#include <stdint.h>

/* Export macro: every public declaration of libuavmail carries it; the library
 * itself is built with hidden visibility, so nothing else leaves the shared
 * object (but the private interface for libuavmail-flight, UAVMAIL__SHARED in lib/). */
#if defined(UAVMAIL_STATIC)
#define UAVMAIL_EXTERN
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(UAVMAIL_BUILDING)
#define UAVMAIL_EXTERN __declspec(dllexport)
#else
#define UAVMAIL_EXTERN __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define UAVMAIL_EXTERN __attribute__((visibility("default")))
#else
#define UAVMAIL_EXTERN
#endif

/* The same for the flight library, libuavmail-flight (outbox.h, telemetry.h,
 * alert.h): a separate shared library on top of libuavmail, so on Windows its
 * declarations are exported while it is built and imported otherwise. */
#if defined(UAVMAIL_STATIC)
#define UAVMAIL_FLIGHT_EXTERN
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(UAVMAIL_FLIGHT_BUILDING)
#define UAVMAIL_FLIGHT_EXTERN __declspec(dllexport)
#else
#define UAVMAIL_FLIGHT_EXTERN __declspec(dllimport)
#endif
#else
#define UAVMAIL_FLIGHT_EXTERN UAVMAIL_EXTERN
#endif

#ifdef __cplusplus
#define UAVMAIL_BEGIN_DECLS extern "C" {
#define UAVMAIL_END_DECLS }
#else
#define UAVMAIL_BEGIN_DECLS
#define UAVMAIL_END_DECLS
#endif

UAVMAIL_BEGIN_DECLS

/**
 * Application memory allocator.  Every allocation the library makes for a
 * handle goes through the allocator given in that handle's options (NULL
 * selects the C library's malloc/realloc/free).  The library never installs
 * process-wide hooks in its dependencies.
 *
 * Functions follow the C library contract: @c realloc(NULL, n) allocates,
 * @c free(NULL) does nothing.  Each receives the @c user_data registered
 * with it as its last argument.  Calls happen on the thread that called the
 * library function.
 *
 * @since 0.1.0
 */
typedef struct uavmail_allocator {
    unsigned version; /**< UAVMAIL_ALLOCATOR_VERSION */
    void *(*malloc_fn)(size_t size, void *user_data);
    void *(*realloc_fn)(void *ptr, size_t size, void *user_data);
    void (*free_fn)(void *ptr, void *user_data);
    void *user_data;
} uavmail_allocator;

#define UAVMAIL_ALLOCATOR_VERSION 1

UAVMAIL_END_DECLS

#endif /* UAVMAIL_COMMON_H */
