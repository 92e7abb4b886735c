/*
 * A microcontroller port of uavmail's sans-I/O core (SMTP engine, SASL, MIME
 * writer, encoders): what the board supplies, and the send loop that drives
 * the engine through the transport ops struct (lwIP netconn, a TLS-wrapped
 * socket, a UART modem...).  No OS headers beyond the C library.
 */
#ifndef UAVMAIL_MCU_PORT_H
#define UAVMAIL_MCU_PORT_H

#include <stddef.h>
#include <stdint.h>

#include <uavmail/uavmail.h>

/* Supplied by the board: a hardware RNG (0 or -1) and UTC seconds. */
int uavmail_port_random(void *buf, size_t n);
int64_t uavmail_port_time(void);

/* Send one message over an already secured stream (the transport runs TLS
 * itself, or the link is trusted): EHLO, AUTH PLAIN/LOGIN/XOAUTH2 when
 * @p user is set, MAIL/RCPT/DATA, QUIT.  Returns 0 when the server accepted
 * it, else a negative enum uavmail_error value; @p why gets the reason. */
int uavmail_mcu_send(const uavmail_transport *t, const char *host, const char *helo,
                     const char *user, const char *password, uavmail_message *msg,
                     char *why, size_t why_cap);

#endif
