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
    UAVMAIL__MECH_LOGIN = 1u << 1,
    UAVMAIL__MECH_XOAUTH2 = 1u << 2,
    UAVMAIL__MECH_OAUTHBEARER = 1u << 3,
    UAVMAIL__MECH_SCRAM_SHA256 = 1u << 4
};

#define UAVMAIL__MECH_PASSWORD \
    (UAVMAIL__MECH_PLAIN | UAVMAIL__MECH_LOGIN | UAVMAIL__MECH_SCRAM_SHA256)
#define UAVMAIL__MECH_TOKEN (UAVMAIL__MECH_XOAUTH2 | UAVMAIL__MECH_OAUTHBEARER)

/* Mechanism bit for an AUTH keyword (case-insensitive), 0 if unknown. */
unsigned uavmail__sasl_mech_from_name(const char *name, size_t len);
const char *uavmail__sasl_mech_name(unsigned mech);
/* Preferred mechanism among @p offered that @p usable allows (strongest
 * first), 0 if none. */
unsigned uavmail__sasl_choose(unsigned offered, unsigned usable);

/* base64("authzid\0authcid\0passwd") (RFC 4616) into @p out (cap bytes).
 * Returns the length, or 0 if a field contains NUL or it does not fit. */
size_t uavmail__sasl_plain(char *out, size_t cap, const char *authzid, const char *user,
                           const char *pass, size_t pass_len);

/* base64 of the XOAUTH2 initial response "user=U^Aauth=Bearer T^A^A"
 * into @p out; returns the length or 0 if it does not fit. */
size_t uavmail__sasl_xoauth2(char *out, size_t cap, const char *user, const char *token,
                             size_t token_len);
/* base64 of the OAUTHBEARER initial response (RFC 7628 3.1):
 * "n,a=U,^Ahost=H^Aport=P^Aauth=Bearer T^A^A". */
size_t uavmail__sasl_oauthbearer(char *out, size_t cap, const char *user, const char *host,
                                 unsigned port, const char *token, size_t token_len);
/* From a server's base64 JSON error challenge (XOAUTH2 / OAUTHBEARER),
 * copy the "status" and "scope" values (bounded; A-14).  Returns 0, or -1
 * if the challenge is not base64 or not a JSON object. */
int uavmail__sasl_oauth_error(const char *b64, size_t len, char *status, size_t status_cap,
                              char *scope, size_t scope_cap);

/* SCRAM-SHA-256 (RFC 5802, 7677) client state between the steps. */
typedef struct uavmail__scram {
    char cnonce[40];
    char bare[600];          /* client-first-message-bare */
    unsigned char server_sig[32];
} uavmail__scram;

/* The client-first message, base64, into @p out; 0 if it does not fit. */
size_t uavmail__scram_first(uavmail__scram *s, const char *user, char *out, size_t cap);
/* From the server-first message (base64) and the password: the
 * client-final message, base64, into @p out.  0 with *why on error. */
size_t uavmail__scram_final(uavmail__scram *s, const char *server_b64, size_t len,
                            const char *pw, size_t pwlen, char *out, size_t cap,
                            const char **why);
/* Check the server-final message (base64): 0 when the server proved it
 * knows the password, -1 otherwise. */
int uavmail__scram_verify(const uavmail__scram *s, const char *b64, size_t len);

#endif
