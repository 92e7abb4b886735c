#include <string.h>

#include "base64.h"
#include "platform.h"
#include "tls.h"
#include "sasl.h"

static const struct {
    const char *name;
    unsigned bit;
} mechs[] = {
    {"PLAIN", UAVMAIL__MECH_PLAIN},
    {"LOGIN", UAVMAIL__MECH_LOGIN},
#if UAVMAIL_WITH_OAUTH2
    {"XOAUTH2", UAVMAIL__MECH_XOAUTH2},
    {"OAUTHBEARER", UAVMAIL__MECH_OAUTHBEARER},
#endif
#if UAVMAIL_WITH_SCRAM
    {"SCRAM-SHA-256", UAVMAIL__MECH_SCRAM_SHA256},
#endif
}; /* a mechanism compiled out (opts.h) is not recognised in the server's list */

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
     * Gmail and Microsoft 365 both accept.  SCRAM never sends the password
     * and proves the server knows it too.  Over verified TLS, PLAIN and
     * LOGIN are equally strong; PLAIN with an initial response takes one
     * round trip, LOGIN three. */
    static const unsigned order[] = {UAVMAIL__MECH_XOAUTH2, UAVMAIL__MECH_OAUTHBEARER,
                                     UAVMAIL__MECH_SCRAM_SHA256, UAVMAIL__MECH_PLAIN,
                                     UAVMAIL__MECH_LOGIN};
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(order); i++)
        if (offered & usable & order[i])
            return order[i];
    return 0;
}

#if UAVMAIL_WITH_OAUTH2
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
#endif /* UAVMAIL_WITH_OAUTH2 */

size_t uavmail__sasl_plain(char *out, size_t cap, const char *authzid, const char *user,
                           const char *pass, size_t pass_len)
{
    unsigned char raw[3 * 256 + 2];
    size_t zl = authzid ? strlen(authzid) : 0, ul = strlen(user), n, enc;
    if (zl > 255 || ul > 255 || pass_len > 256)
        return 0; /* checked first: pass_len bounds the read below (FZ-07) */
    if (memchr(pass, '\0', pass_len) != NULL)
        return 0; /* NUL inside a field is not representable */
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

/* ---- SCRAM-SHA-256 -------------------------------------------------------------------- */

#if UAVMAIL_WITH_SCRAM

size_t uavmail__scram_first(uavmail__scram *s, const char *user, char *out, size_t cap)
{
    unsigned char rnd[24];
    char msg[700];
    size_t n = 0, i;
    if (uavmail__plat_random(rnd, sizeof rnd) != 0)
        return 0;
    uavmail__b64_encode(s->cnonce, rnd, sizeof rnd);
    s->cnonce[32] = '\0';
    /* saslname: "=" and "," are escaped (RFC 5802 5.1). */
    n = (size_t)uavmail__snprintf(s->bare, sizeof s->bare, "n=");
    for (i = 0; user[i] && n + 4 < sizeof s->bare; i++) {
        if (user[i] == '=')
            n += (size_t)uavmail__snprintf(s->bare + n, sizeof s->bare - n, "=3D");
        else if (user[i] == ',')
            n += (size_t)uavmail__snprintf(s->bare + n, sizeof s->bare - n, "=2C");
        else
            s->bare[n++] = user[i];
    }
    s->bare[n] = '\0';
    if (user[i] != '\0' || n + 40 >= sizeof s->bare)
        return 0;
    uavmail__snprintf(s->bare + n, sizeof s->bare - n, ",r=%s", s->cnonce);
    n = (size_t)uavmail__snprintf(msg, sizeof msg, "n,,%s", s->bare);
    if (uavmail__b64_len(n) >= cap)
        return 0;
    return uavmail__b64_encode(out, (const unsigned char *)msg, n);
}

/* The value of attribute @p a ("r", "s", "i") in a SCRAM message. */
static const char *attr(const char *msg, char a, size_t *len)
{
    const char *p = msg;
    while (p != NULL && *p) {
        if (p[0] == a && p[1] == '=') {
            const char *end = strchr(p, ',');
            *len = end ? (size_t)(end - p - 2) : strlen(p + 2);
            return p + 2;
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    return NULL;
}

size_t uavmail__scram_final(uavmail__scram *s, const char *server_b64, size_t len,
                            const char *pw, size_t pwlen, char *out, size_t cap,
                            const char **why)
{
    char first[1024], final_wo[600], auth[2400];
    unsigned char salt[128], salted[32], ckey[32], skey[32], stored[32], csig[32];
    unsigned char proof[32];
    size_t n = 0, rlen, slen, ilen, saltlen, alen, i, enc = 0;
    const char *r, *sv, *iv;
    unsigned long iter = 0;
    *why = "malformed server challenge";
    if (len > 1000 || uavmail__b64_decode((unsigned char *)first, sizeof first - 1, &n,
                                          server_b64, len) != 0)
        return 0;
    first[n] = '\0';
    if (memchr(first, '\0', n) != NULL || attr(first, 'm', &ilen) != NULL)
        return 0; /* NUL, or a mandatory extension we do not know */
    r = attr(first, 'r', &rlen);
    sv = attr(first, 's', &slen);
    iv = attr(first, 'i', &ilen);
    if (r == NULL || sv == NULL || iv == NULL || rlen <= strlen(s->cnonce) ||
        memcmp(r, s->cnonce, strlen(s->cnonce)) != 0) {
        *why = "server nonce does not extend ours";
        return 0;
    }
    for (i = 0; i < ilen && i < 8; i++) {
        if (iv[i] < '0' || iv[i] > '9')
            return 0;
        iter = iter * 10 + (unsigned long)(iv[i] - '0');
    }
    if (i != ilen || iter == 0 || iter > 1000000) {
        *why = "unacceptable iteration count";
        return 0;
    }
    if (uavmail__b64_decode(salt, sizeof salt, &saltlen, sv, slen) != 0)
        return 0;
    uavmail__snprintf(final_wo, sizeof final_wo, "c=biws,r=%.*s", (int)rlen, r);
    alen = (size_t)uavmail__snprintf(auth, sizeof auth, "%s,%s,%s", s->bare, first, final_wo);
    *why = "SCRAM computation failed";
    if (alen < sizeof auth &&
        uavmail__crypto_pbkdf2_sha256(pw, pwlen, salt, saltlen, (unsigned)iter, salted) == 0 &&
        uavmail__crypto_hmac_sha256(salted, 32, "Client Key", 10, ckey) == 0 &&
        uavmail__crypto_sha256(ckey, 32, stored) == 0 &&
        uavmail__crypto_hmac_sha256(stored, 32, auth, alen, csig) == 0 &&
        uavmail__crypto_hmac_sha256(salted, 32, "Server Key", 10, skey) == 0 &&
        uavmail__crypto_hmac_sha256(skey, 32, auth, alen, s->server_sig) == 0) {
        char msg[800], p64[48];
        size_t m;
        for (i = 0; i < 32; i++)
            proof[i] = ckey[i] ^ csig[i];
        uavmail__b64_encode(p64, proof, 32);
        p64[44] = '\0';
        m = (size_t)uavmail__snprintf(msg, sizeof msg, "%s,p=%s", final_wo, p64);
        if (m < sizeof msg && uavmail__b64_len(m) < cap)
            enc = uavmail__b64_encode(out, (const unsigned char *)msg, m);
        uavmail__zeroize(msg, sizeof msg);
        uavmail__zeroize(p64, sizeof p64);
    }
    uavmail__zeroize(salted, sizeof salted);
    uavmail__zeroize(ckey, sizeof ckey);
    uavmail__zeroize(skey, sizeof skey);
    uavmail__zeroize(stored, sizeof stored);
    uavmail__zeroize(csig, sizeof csig);
    uavmail__zeroize(proof, sizeof proof);
    if (enc != 0)
        *why = NULL;
    return enc;
}

int uavmail__scram_verify(const uavmail__scram *s, const char *b64, size_t len)
{
    char msg[256], sig[48];
    size_t n = 0, vlen;
    const char *v;
    uavmail__b64_encode(sig, s->server_sig, 32);
    sig[44] = '\0';
    if (len > 300 || uavmail__b64_decode((unsigned char *)msg, sizeof msg - 1, &n, b64, len) != 0)
        return -1;
    msg[n] = '\0';
    v = attr(msg, 'v', &vlen);
    return v != NULL && vlen == 44 && memcmp(v, sig, 44) == 0 ? 0 : -1;
}
#endif /* UAVMAIL_WITH_SCRAM */
