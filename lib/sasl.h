/*
 * SASL client mechanisms (RFC 4954 framing is in smtp.c).  Every buffer
 * that held a credential is wiped before it is released.
 */
#ifndef UAVMAIL_SASL_H
#define UAVMAIL_SASL_H

#include <stddef.h>

#include "internal.h"

/* Mechanism bits, also used for the server's advertised AUTH list. */
enum {
    UAVMAIL__MECH_PLAIN = 1u << 0,
    UAVMAIL__MECH_LOGIN = 1u << 1
};

/* Mechanism bit for an AUTH keyword (case-insensitive), 0 if unknown. */
unsigned uavmail__sasl_mech_from_name(const char *name, size_t len);
const char *uavmail__sasl_mech_name(unsigned mech);
/* Preferred mechanism among @p offered (strongest first), 0 if none. */
unsigned uavmail__sasl_choose(unsigned offered);

/* base64("authzid\0authcid\0passwd") (RFC 4616) into @p out (cap bytes).
 * Returns the length, or 0 if a field contains NUL or it does not fit. */
size_t uavmail__sasl_plain(char *out, size_t cap, const char *authzid, const char *user,
                           const char *pass, size_t pass_len);

#endif
