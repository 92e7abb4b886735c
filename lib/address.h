/*
 * Address syntax (RFC 5321 section 4.1.2 Mailbox, RFC 5322 addr-spec).
 */
#ifndef UAVMAIL_ADDRESS_H
#define UAVMAIL_ADDRESS_H

#include "internal.h"

enum {
    UAVMAIL__ADDR_UTF8 = 1 /* contains non-ASCII: needs SMTPUTF8 */
};

/* Validate a mailbox (local@domain) for use in headers and the envelope:
 * length limits (P-11), no CR/LF/NUL/space/brackets outside a quoted local
 * part (D-08), valid UTF-8.  On failure describe it in @p err naming
 * @p what ("From", "recipient", ...) and return UAVMAIL_EADDRESS.  On
 * success return 0 and set *flags (UAVMAIL__ADDR_*) if @p flags is not NULL. */
int uavmail__address_check(const char *addr, const char *what, uavmail_error_detail *err,
                           unsigned *flags);
/* Whether @p name is acceptable as the EHLO argument (P-12). */
int uavmail__helo_valid(const char *name);
/* Validate UTF-8; returns 1 if valid (overlongs, surrogates rejected). */
int uavmail__utf8_valid(const char *s, size_t len);

#endif
