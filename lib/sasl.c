#include <string.h>

#include "base64.h"
#include "sasl.h"

static const struct {
    const char *name;
    unsigned bit;
} mechs[] = {
    {"PLAIN", UAVMAIL__MECH_PLAIN},
    {"LOGIN", UAVMAIL__MECH_LOGIN},
};

unsigned uavmail__sasl_mech_from_name(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(mechs); i++)
        if (strlen(mechs[i].name) == len && uavmail__ascii_ncasecmp(name, mechs[i].name, len) == 0)
            return mechs[i].bit;
    return 0;
}

const char *uavmail__sasl_mech_name(unsigned mech)
{
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(mechs); i++)
        if (mechs[i].bit == mech)
            return mechs[i].name;
    return "?";
}

unsigned uavmail__sasl_choose(unsigned offered)
{
    /* Over verified TLS, PLAIN and LOGIN are equally strong; PLAIN with an
     * initial response takes one round trip, LOGIN three. */
    if (offered & UAVMAIL__MECH_PLAIN)
        return UAVMAIL__MECH_PLAIN;
    if (offered & UAVMAIL__MECH_LOGIN)
        return UAVMAIL__MECH_LOGIN;
    return 0;
}

size_t uavmail__sasl_plain(char *out, size_t cap, const char *authzid, const char *user,
                           const char *pass, size_t pass_len)
{
    unsigned char raw[3 * 256 + 2];
    size_t zl = authzid ? strlen(authzid) : 0, ul = strlen(user), n, enc;
    if (memchr(pass, '\0', pass_len) != NULL)
        return 0; /* NUL inside a field is not representable */
    if (zl > 255 || ul > 255 || pass_len > 256)
        return 0;
    n = zl + 1 + ul + 1 + pass_len;
    if (uavmail__b64_len(n) >= cap)
        return 0;
    memcpy(raw, authzid ? authzid : "", zl);
    raw[zl] = 0;
    memcpy(raw + zl + 1, user, ul);
    raw[zl + 1 + ul] = 0;
    memcpy(raw + zl + 2 + ul, pass, pass_len);
    enc = uavmail__b64_encode(out, raw, n);
    uavmail__zeroize(raw, sizeof raw);
    return enc;
}
