/*
 * uavmail - replaceable network transport.
 *
 * The library talks to the network only through these operations, so an
 * RTOS / lwIP port (or a test harness) can supply its own.  The contract
 * follows mbedTLS's BIO callbacks: a call returns the number of bytes moved
 * (recv returns 0 at end of stream) or a negative enum uavmail_error value
 * (UAVMAIL_ETIMEOUT, UAVMAIL_EIO, UAVMAIL_ECONNECT, UAVMAIL_ERESOLVE).
 * Operations are called on the thread that called the library function.
 *
 * Non-blocking use (uavmail_session_start/step): the library then passes
 * timeout_ms 0, meaning "do not wait": send/recv return UAVMAIL_ETIMEOUT
 * when no byte can move now; connect_fn may return UAVMAIL_EAGAIN after
 * storing the connection in *conn, and is called again with that *conn
 * (non-NULL) once its descriptor is writable, to complete or fail.
 */
#ifndef UAVMAIL_TRANSPORT_H
#define UAVMAIL_TRANSPORT_H

#include "uavmail/common.h"

UAVMAIL_BEGIN_DECLS

/** Transport operations.  @since 0.1.0 */
typedef struct uavmail_transport {
    unsigned version; /**< UAVMAIL_TRANSPORT_VERSION */
    /** Open a stream connection to @p host:@p port; store a connection pointer in @p conn. */
    int (*connect_fn)(void **conn, const char *host, unsigned port, unsigned timeout_ms,
                      void *user_data);
    /** Send up to @p len bytes; may send fewer. */
    long (*send_fn)(void *conn, const unsigned char *buf, size_t len, unsigned timeout_ms,
                    void *user_data);
    /** Receive up to @p len bytes, waiting at most @p timeout_ms; 0 means end of stream. */
    long (*recv_fn)(void *conn, unsigned char *buf, size_t len, unsigned timeout_ms,
                    void *user_data);
    /** Close and release the connection. */
    void (*close_fn)(void *conn, void *user_data);
    /** Optional (may be NULL): write the local address as an SMTP address literal
     *  such as "[192.0.2.1]" or "[IPv6:2001:db8::1]" (used for EHLO). */
    int (*local_address_fn)(void *conn, char *buf, size_t cap, void *user_data);
    void *user_data;
    /* ---- version 2 (0.1.0) ---- */
    /** Optional (may be NULL): the descriptor an event loop polls for @p conn, or -1. */
    int (*fd_fn)(void *conn, void *user_data);
} uavmail_transport;

#define UAVMAIL_TRANSPORT_VERSION 2

UAVMAIL_END_DECLS

#endif /* UAVMAIL_TRANSPORT_H */
