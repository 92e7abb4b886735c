#include <string.h>

#include "base64.h"
#include "sasl.h"

static const struct {
    const char *name;
    unsigned bit;
} mechs[] = {
    {"PLAIN", UAVMAIL__MECH_PLAIN},
    {"LOGIN", UAVMAIL__MECH_LOGIN},
    {"XOAUTH2", UAVMAIL__MECH_XOAUTH2},
    {"OAUTHBEARER", UAVMAIL__MECH_OAUTHBEARER},
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

unsigned uavmail__sasl_choose(unsigned offered, unsigned usable)
{
    /* Tokens before passwords (they expire and are scoped); XOAUTH2 is what
     * Gmail and Microsoft 365 both accept.  Over verified TLS, PLAIN and
     * LOGIN are equally strong; PLAIN with an initial response takes one
     * round trip, LOGIN three. */
    static const unsigned order[] = {UAVMAIL__MECH_XOAUTH2, UAVMAIL__MECH_OAUTHBEARER,
                                     UAVMAIL__MECH_PLAIN, UAVMAIL__MECH_LOGIN};
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(order); i++)
        if (offered & usable & order[i])
            return order[i];
    return 0;
}

/* Assemble raw bytes into a bounded scratch buffer, encode, wipe. */
static size_t encode_parts(char *out, size_t cap, const char *const *parts, const size_t *lens,
                           size_t n)
{
    unsigned char raw[3072];
    size_t i, len = 0, enc = 0;
    for (i = 0; i < n; i++) {
        if (lens[i] > sizeof raw - len)
            goto done;
        memcpy(raw + len, parts[i], lens[i]);
        len += lens[i];
    }
    if (uavmail__b64_len(len) < cap)
        enc = uavmail__b64_encode(out, raw, len);
done:
    uavmail__zeroize(raw, sizeof raw);
    return enc;
}

size_t uavmail__sasl_xoauth2(char *out, size_t cap, const char *user, const char *token,
                             size_t token_len)
{
    const char *parts[] = {"user=", user, "\001auth=Bearer ", token, "\001\001"};
    size_t lens[5], i;
    for (i = 0; i < 5; i++)
        lens[i] = i == 3 ? token_len : strlen(parts[i]);
    return encode_parts(out, cap, parts, lens, 5);
}

size_t uavmail__sasl_oauthbearer(char *out, size_t cap, const char *user, const char *host,
                                 unsigned port, const char *token, size_t token_len)
{
    char portbuf[16];
    const char *parts[] = {"n,a=", user, ",\001host=", host, "\001port=", portbuf,
                           "\001auth=Bearer ", token, "\001\001"};
    size_t lens[9], i;
    uavmail__snprintf(portbuf, sizeof portbuf, "%u", port);
    for (i = 0; i < 9; i++)
        lens[i] = i == 7 ? token_len : strlen(parts[i]);
    return encode_parts(out, cap, parts, lens, 9);
}

/* Copy the JSON string or number value of "key" (no nesting needed). */
static void json_field(const char *j, size_t n, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key), i, o = 0;
    out[0] = '\0';
    for (i = 0; i + kl + 2 <= n; i++) {
        if (j[i] != '"' || memcmp(j + i + 1, key, kl) != 0 || j[i + kl + 1] != '"')
            continue;
        i += kl + 2;
        while (i < n && (j[i] == ' ' || j[i] == ':'))
            i++;
        if (i < n && j[i] == '"')
            i++;
        while (i < n && j[i] != '"' && j[i] != ',' && j[i] != '}' && o + 1 < cap) {
            unsigned char c = (unsigned char)j[i++];
            out[o++] = (char)(c >= 0x20 && c < 0x7F ? c : '?');
        }
        out[o] = '\0';
        return;
    }
}

int uavmail__sasl_oauth_error(const char *b64, size_t len, char *status, size_t status_cap,
                              char *scope, size_t scope_cap)
{
    unsigned char json[3072];
    size_t n = 0;
    status[0] = scope[0] = '\0';
    /* bounded before decoding; anything larger is refused. */
    if (len > 4096 || uavmail__b64_decode(json, sizeof json, &n, b64, len) != 0)
        return -1;
    if (n < 2 || json[0] != '{')
        return -1;
    json_field((const char *)json, n, "status", status, status_cap);
    json_field((const char *)json, n, "scope", scope, scope_cap);
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
