#include <string.h>

#include <cbor.h>

#include "qmeta.h"

/* ---- CRC32C (Castagnoli), bitwise-table ------------------------------------------ */

uint32_t uavmail__crc32c(uint32_t crc, const void *buf, size_t n)
{
    static uint32_t table[256];
    static int ready;
    const unsigned char *p = buf;
    size_t i;
    if (!ready) {
        uint32_t k;
        for (k = 0; k < 256; k++) {
            uint32_t c = k;
            int j;
            for (j = 0; j < 8; j++)
                c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[k] = c;
        }
        ready = 1; /* idempotent: racing threads compute the same table */
    }
    crc = ~crc;
    for (i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- encoding --------------------------------------------------------------------- */

/* Add key -> value to @p map, consuming @p value (NULL: out of memory). */
static int put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
    struct cbor_pair pair;
    int ok;
    pair.key = cbor_build_string(key);
    pair.value = value;
    ok = pair.key != NULL && value != NULL && cbor_map_add(map, pair);
    if (pair.key != NULL)
        cbor_decref(&pair.key);
    if (value != NULL)
        cbor_decref(&value);
    return ok ? 0 : -1;
}

/* Append @p item to @p array, consuming it. */
static int push(cbor_item_t *array, cbor_item_t *item)
{
    int ok = item != NULL && cbor_array_push(array, item);
    if (item != NULL)
        cbor_decref(&item);
    return ok;
}

static cbor_item_t *int_item(int64_t v)
{
    return v >= 0 ? cbor_build_uint64((uint64_t)v) : cbor_build_negint64((uint64_t)(-1 - v));
}

int uavmail__qmeta_encode(const uavmail__qmeta *m, const uavmail__alloc *a, unsigned char **out,
                          size_t *len)
{
    cbor_item_t *map = cbor_new_definite_map(18), *rcpts = cbor_new_definite_array(m->nrcpt);
    unsigned char *payload = NULL, *framed;
    size_t plen = 0, cap = 0, i;
    int bad = map == NULL || rcpts == NULL;
    uint32_t crc;
    for (i = 0; !bad && i < m->nrcpt; i++) {
        cbor_item_t *r = cbor_new_definite_array(4);
        bad = r == NULL || !push(r, cbor_build_string(m->rcpt[i].addr)) ||
              !push(r, int_item(m->rcpt[i].state)) || !push(r, int_item(m->rcpt[i].code)) ||
              !push(r, cbor_build_string(m->rcpt[i].reply));
        if (!bad)
            bad = !push(rcpts, r);
        else if (r != NULL)
            cbor_decref(&r);
    }
    bad = bad || put(map, "v", int_item(1)) || put(map, "id", cbor_build_string(m->id)) ||
          put(map, "pri", int_item(m->priority)) || put(map, "created", int_item(m->created)) ||
          put(map, "next", int_item(m->next_attempt)) ||
          put(map, "expires", int_item(m->expires)) || put(map, "attempts", int_item(m->attempts)) ||
          put(map, "unknown", int_item(m->unknown)) || put(map, "dead", int_item(m->dead)) ||
          put(map, "dedup", cbor_build_string(m->dedup)) ||
          put(map, "msgid", cbor_build_string(m->message_id)) ||
          put(map, "subject", cbor_build_string(m->subject)) ||
          put(map, "from", cbor_build_string(m->from)) ||
          put(map, "size", cbor_build_uint64(m->eml_size)) ||
          put(map, "crc", int_item(m->eml_crc)) ||
          put(map, "err", cbor_build_string(m->last_error));
    if (!bad) {
        bad = put(map, "rcpt", rcpts) != 0;
        rcpts = NULL; /* consumed */
    }
    if (!bad)
        plen = cbor_serialize_alloc(map, &payload, &cap);
    if (map != NULL)
        cbor_decref(&map);
    if (rcpts != NULL)
        cbor_decref(&rcpts);
    if (bad || plen == 0 || plen > UAVMAIL__QMETA_MAX) {
        free(payload); /* libcbor's own allocation */
        return UAVMAIL_ENOMEM;
    }
    framed = uavmail__malloc(a, plen + 17);
    if (framed == NULL) {
        free(payload);
        return UAVMAIL_ENOMEM;
    }
    memcpy(framed, "UAVQ\001", 5);
    framed[5] = (unsigned char)(plen >> 24);
    framed[6] = (unsigned char)(plen >> 16);
    framed[7] = (unsigned char)(plen >> 8);
    framed[8] = (unsigned char)plen;
    memcpy(framed + 9, payload, plen);
    crc = uavmail__crc32c(0, payload, plen);
    framed[9 + plen] = (unsigned char)(crc >> 24);
    framed[10 + plen] = (unsigned char)(crc >> 16);
    framed[11 + plen] = (unsigned char)(crc >> 8);
    framed[12 + plen] = (unsigned char)crc;
    memcpy(framed + 13 + plen, "QEND", 4);
    free(payload);
    *out = framed;
    *len = plen + 17;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------ */

static int get_int(cbor_item_t *v, int64_t lo, int64_t hi, int64_t *out)
{
    int64_t x;
    if (cbor_isa_uint(v))
        x = (int64_t)cbor_get_int(v);
    else if (cbor_isa_negint(v))
        x = -1 - (int64_t)cbor_get_int(v);
    else
        return -1;
    if (cbor_isa_uint(v) && cbor_get_int(v) > (uint64_t)INT64_MAX)
        return -1;
    if (x < lo || x > hi)
        return -1;
    *out = x;
    return 0;
}

static int get_str(cbor_item_t *v, char *out, size_t cap)
{
    size_t n;
    if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
        return -1;
    n = cbor_string_length(v);
    if (n >= cap || memchr(cbor_string_handle(v), '\0', n) != NULL)
        return -1;
    memcpy(out, cbor_string_handle(v), n);
    out[n] = '\0';
    return 0;
}

static int decode_rcpts(cbor_item_t *arr, const uavmail__alloc *a, uavmail__qmeta *m)
{
    size_t i, n;
    if (!cbor_isa_array(arr) || !cbor_array_is_definite(arr))
        return -1;
    n = cbor_array_size(arr);
    if (n == 0 || n > 4096)
        return -1;
    m->rcpt = uavmail__calloc(a, n, sizeof *m->rcpt);
    if (m->rcpt == NULL)
        return -1;
    m->nrcpt = n;
    for (i = 0; i < n; i++) {
        cbor_item_t *r = cbor_array_get(arr, i);
        int64_t st, code;
        int bad = r == NULL || !cbor_isa_array(r) || cbor_array_size(r) != 4;
        if (!bad) {
            cbor_item_t *f0 = cbor_array_get(r, 0), *f1 = cbor_array_get(r, 1);
            cbor_item_t *f2 = cbor_array_get(r, 2), *f3 = cbor_array_get(r, 3);
            bad = get_str(f0, m->rcpt[i].addr, sizeof m->rcpt[i].addr) ||
                  get_int(f1, 0, 2, &st) || get_int(f2, 0, 599, &code) ||
                  get_str(f3, m->rcpt[i].reply, sizeof m->rcpt[i].reply);
            cbor_decref(&f0);
            cbor_decref(&f1);
            cbor_decref(&f2);
            cbor_decref(&f3);
        }
        if (r != NULL)
            cbor_decref(&r);
        if (bad)
            return -1;
        m->rcpt[i].state = (int)st;
        m->rcpt[i].code = (int)code;
    }
    return 0;
}

static int decode_map(cbor_item_t *map, const uavmail__alloc *a, uavmail__qmeta *m)
{
    struct cbor_pair *pairs;
    size_t i, n;
    unsigned seen = 0;
    if (!cbor_isa_map(map) || !cbor_map_is_definite(map))
        return -1;
    n = cbor_map_size(map);
    pairs = cbor_map_handle(map);
    for (i = 0; i < n; i++) {
        char key[16];
        int64_t x = 0;
        cbor_item_t *v = pairs[i].value;
        int rc = 0;
        if (get_str(pairs[i].key, key, sizeof key) != 0)
            return -1;
#define K(name, bit) (strcmp(key, name) == 0 && !(seen & (1u << (bit))) && (seen |= 1u << (bit)))
        if (K("v", 0))
            rc = get_int(v, 1, 1, &x);
        else if (K("id", 1))
            rc = get_str(v, m->id, sizeof m->id);
        else if (K("pri", 2))
            rc = get_int(v, 0, 2, &x), m->priority = (int)x;
        else if (K("created", 3))
            rc = get_int(v, 0, INT64_MAX, &m->created);
        else if (K("next", 4))
            rc = get_int(v, 0, INT64_MAX, &m->next_attempt);
        else if (K("expires", 5))
            rc = get_int(v, 0, INT64_MAX, &m->expires);
        else if (K("attempts", 6))
            rc = get_int(v, 0, 1000000, &x), m->attempts = (unsigned)x;
        else if (K("unknown", 7))
            rc = get_int(v, 0, 1, &x), m->unknown = (int)x;
        else if (K("dead", 8))
            rc = get_int(v, 0, 3, &x), m->dead = (int)x;
        else if (K("dedup", 9))
            rc = get_str(v, m->dedup, sizeof m->dedup);
        else if (K("msgid", 10))
            rc = get_str(v, m->message_id, sizeof m->message_id);
        else if (K("subject", 11))
            rc = get_str(v, m->subject, sizeof m->subject);
        else if (K("from", 12))
            rc = get_str(v, m->from, sizeof m->from);
        else if (K("size", 13))
            rc = get_int(v, 0, INT64_MAX, &x), m->eml_size = (uint64_t)x;
        else if (K("crc", 14))
            rc = get_int(v, 0, 0xFFFFFFFFll, &x), m->eml_crc = (uint32_t)x;
        else if (K("err", 15))
            rc = get_str(v, m->last_error, sizeof m->last_error);
        else if (K("rcpt", 16))
            rc = decode_rcpts(v, a, m);
        else
            return -1; /* unknown or repeated key */
#undef K
        if (rc != 0)
            return -1;
    }
    return seen == 0x1FFFFu && m->id[0] != '\0' ? 0 : -1;
}

/* Walk the CBOR item headers before libcbor sees them: every declared length
 * and count must fit in the bytes that are left (libcbor 0.8 allocates a
 * declared array up front: a 9-byte header could ask for 2^64 slots), the
 * nesting is shallow (our schema is three levels; libcbor frees recursively),
 * and only definite lengths are used (our encoder writes nothing else). */
static int cbor_sane(const unsigned char *p, size_t n)
{
    enum { MAX_DEPTH = 8 };
    size_t left[MAX_DEPTH], pos = 0;
    int depth = 0;
    left[0] = 1;
    while (depth >= 0) {
        unsigned mt, ai;
        uint64_t v;
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (pos >= n)
            return -1;
        mt = p[pos] >> 5;
        ai = p[pos] & 31u;
        pos++;
        if (ai < 24) {
            v = ai;
        } else if (ai <= 27) {
            size_t k = (size_t)1 << (ai - 24);
            if (n - pos < k)
                return -1;
            for (v = 0; k > 0; k--)
                v = v << 8 | p[pos++];
        } else {
            return -1; /* indefinite length or reserved */
        }
        switch (mt) {
        case 2: case 3: /* byte and text strings */
            if (v > n - pos)
                return -1;
            pos += (size_t)v;
            break;
        case 4: case 5: /* arrays and maps: each element takes at least a byte */
            if (v > n - pos)
                return -1;
            if (v != 0) {
                if (depth + 1 == MAX_DEPTH)
                    return -1;
                left[++depth] = (size_t)v * (mt == 5 ? 2 : 1);
            }
            break;
        case 6: /* a tag: one item follows */
            if (depth + 1 == MAX_DEPTH)
                return -1;
            left[++depth] = 1;
            break;
        default: /* integers, simple values and floats: the argument was all */
            break;
        }
    }
    return pos == n ? 0 : -1;
}

int uavmail__qmeta_decode(const unsigned char *buf, size_t len, const uavmail__alloc *a,
                          uavmail__qmeta *m)
{
    size_t plen;
    uint32_t crc;
    struct cbor_load_result res;
    cbor_item_t *item;
    int rc;
    memset(m, 0, sizeof *m);
    if (len < 17 || len > UAVMAIL__QMETA_MAX + 17 || memcmp(buf, "UAVQ\001", 5) != 0)
        return -1;
    plen = (size_t)buf[5] << 24 | (size_t)buf[6] << 16 | (size_t)buf[7] << 8 | buf[8];
    if (plen != len - 17 || memcmp(buf + len - 4, "QEND", 4) != 0)
        return -1;
    crc = (uint32_t)buf[9 + plen] << 24 | (uint32_t)buf[10 + plen] << 16 |
          (uint32_t)buf[11 + plen] << 8 | buf[12 + plen];
    if (crc != uavmail__crc32c(0, buf + 9, plen))
        return -1;
    if (cbor_sane(buf + 9, plen) != 0)
        return -1;
    item = cbor_load(buf + 9, plen, &res);
    if (item == NULL || res.error.code != CBOR_ERR_NONE || res.read != plen) {
        if (item != NULL)
            cbor_decref(&item);
        return -1;
    }
    rc = decode_map(item, a, m);
    cbor_decref(&item);
    if (rc != 0)
        uavmail__qmeta_free(m, a);
    return rc;
}

void uavmail__qmeta_free(uavmail__qmeta *m, const uavmail__alloc *a)
{
    uavmail__free(a, m->rcpt);
    m->rcpt = NULL;
    m->nrcpt = 0;
}
