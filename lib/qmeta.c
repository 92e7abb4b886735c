#include <string.h>

#include <cbor.h>

#include "qmeta.h"

/* ---- CRC32C (Castagnoli) ------------------------------------------------------------- */

/* table[k] = CRC32C register after shifting in byte k (reflected polynomial
 * 0x82F63B78); a constant, so threads share it without synchronisation. */
static const uint32_t crc32c_table[256] = {
    0x00000000u, 0xF26B8303u, 0xE13B70F7u, 0x1350F3F4u, 0xC79A971Fu, 0x35F1141Cu,
    0x26A1E7E8u, 0xD4CA64EBu, 0x8AD958CFu, 0x78B2DBCCu, 0x6BE22838u, 0x9989AB3Bu,
    0x4D43CFD0u, 0xBF284CD3u, 0xAC78BF27u, 0x5E133C24u, 0x105EC76Fu, 0xE235446Cu,
    0xF165B798u, 0x030E349Bu, 0xD7C45070u, 0x25AFD373u, 0x36FF2087u, 0xC494A384u,
    0x9A879FA0u, 0x68EC1CA3u, 0x7BBCEF57u, 0x89D76C54u, 0x5D1D08BFu, 0xAF768BBCu,
    0xBC267848u, 0x4E4DFB4Bu, 0x20BD8EDEu, 0xD2D60DDDu, 0xC186FE29u, 0x33ED7D2Au,
    0xE72719C1u, 0x154C9AC2u, 0x061C6936u, 0xF477EA35u, 0xAA64D611u, 0x580F5512u,
    0x4B5FA6E6u, 0xB93425E5u, 0x6DFE410Eu, 0x9F95C20Du, 0x8CC531F9u, 0x7EAEB2FAu,
    0x30E349B1u, 0xC288CAB2u, 0xD1D83946u, 0x23B3BA45u, 0xF779DEAEu, 0x05125DADu,
    0x1642AE59u, 0xE4292D5Au, 0xBA3A117Eu, 0x4851927Du, 0x5B016189u, 0xA96AE28Au,
    0x7DA08661u, 0x8FCB0562u, 0x9C9BF696u, 0x6EF07595u, 0x417B1DBCu, 0xB3109EBFu,
    0xA0406D4Bu, 0x522BEE48u, 0x86E18AA3u, 0x748A09A0u, 0x67DAFA54u, 0x95B17957u,
    0xCBA24573u, 0x39C9C670u, 0x2A993584u, 0xD8F2B687u, 0x0C38D26Cu, 0xFE53516Fu,
    0xED03A29Bu, 0x1F682198u, 0x5125DAD3u, 0xA34E59D0u, 0xB01EAA24u, 0x42752927u,
    0x96BF4DCCu, 0x64D4CECFu, 0x77843D3Bu, 0x85EFBE38u, 0xDBFC821Cu, 0x2997011Fu,
    0x3AC7F2EBu, 0xC8AC71E8u, 0x1C661503u, 0xEE0D9600u, 0xFD5D65F4u, 0x0F36E6F7u,
    0x61C69362u, 0x93AD1061u, 0x80FDE395u, 0x72966096u, 0xA65C047Du, 0x5437877Eu,
    0x4767748Au, 0xB50CF789u, 0xEB1FCBADu, 0x197448AEu, 0x0A24BB5Au, 0xF84F3859u,
    0x2C855CB2u, 0xDEEEDFB1u, 0xCDBE2C45u, 0x3FD5AF46u, 0x7198540Du, 0x83F3D70Eu,
    0x90A324FAu, 0x62C8A7F9u, 0xB602C312u, 0x44694011u, 0x5739B3E5u, 0xA55230E6u,
    0xFB410CC2u, 0x092A8FC1u, 0x1A7A7C35u, 0xE811FF36u, 0x3CDB9BDDu, 0xCEB018DEu,
    0xDDE0EB2Au, 0x2F8B6829u, 0x82F63B78u, 0x709DB87Bu, 0x63CD4B8Fu, 0x91A6C88Cu,
    0x456CAC67u, 0xB7072F64u, 0xA457DC90u, 0x563C5F93u, 0x082F63B7u, 0xFA44E0B4u,
    0xE9141340u, 0x1B7F9043u, 0xCFB5F4A8u, 0x3DDE77ABu, 0x2E8E845Fu, 0xDCE5075Cu,
    0x92A8FC17u, 0x60C37F14u, 0x73938CE0u, 0x81F80FE3u, 0x55326B08u, 0xA759E80Bu,
    0xB4091BFFu, 0x466298FCu, 0x1871A4D8u, 0xEA1A27DBu, 0xF94AD42Fu, 0x0B21572Cu,
    0xDFEB33C7u, 0x2D80B0C4u, 0x3ED04330u, 0xCCBBC033u, 0xA24BB5A6u, 0x502036A5u,
    0x4370C551u, 0xB11B4652u, 0x65D122B9u, 0x97BAA1BAu, 0x84EA524Eu, 0x7681D14Du,
    0x2892ED69u, 0xDAF96E6Au, 0xC9A99D9Eu, 0x3BC21E9Du, 0xEF087A76u, 0x1D63F975u,
    0x0E330A81u, 0xFC588982u, 0xB21572C9u, 0x407EF1CAu, 0x532E023Eu, 0xA145813Du,
    0x758FE5D6u, 0x87E466D5u, 0x94B49521u, 0x66DF1622u, 0x38CC2A06u, 0xCAA7A905u,
    0xD9F75AF1u, 0x2B9CD9F2u, 0xFF56BD19u, 0x0D3D3E1Au, 0x1E6DCDEEu, 0xEC064EEDu,
    0xC38D26C4u, 0x31E6A5C7u, 0x22B65633u, 0xD0DDD530u, 0x0417B1DBu, 0xF67C32D8u,
    0xE52CC12Cu, 0x1747422Fu, 0x49547E0Bu, 0xBB3FFD08u, 0xA86F0EFCu, 0x5A048DFFu,
    0x8ECEE914u, 0x7CA56A17u, 0x6FF599E3u, 0x9D9E1AE0u, 0xD3D3E1ABu, 0x21B862A8u,
    0x32E8915Cu, 0xC083125Fu, 0x144976B4u, 0xE622F5B7u, 0xF5720643u, 0x07198540u,
    0x590AB964u, 0xAB613A67u, 0xB831C993u, 0x4A5A4A90u, 0x9E902E7Bu, 0x6CFBAD78u,
    0x7FAB5E8Cu, 0x8DC0DD8Fu, 0xE330A81Au, 0x115B2B19u, 0x020BD8EDu, 0xF0605BEEu,
    0x24AA3F05u, 0xD6C1BC06u, 0xC5914FF2u, 0x37FACCF1u, 0x69E9F0D5u, 0x9B8273D6u,
    0x88D28022u, 0x7AB90321u, 0xAE7367CAu, 0x5C18E4C9u, 0x4F48173Du, 0xBD23943Eu,
    0xF36E6F75u, 0x0105EC76u, 0x12551F82u, 0xE03E9C81u, 0x34F4F86Au, 0xC69F7B69u,
    0xD5CF889Du, 0x27A40B9Eu, 0x79B737BAu, 0x8BDCB4B9u, 0x988C474Du, 0x6AE7C44Eu,
    0xBE2DA0A5u, 0x4C4623A6u, 0x5F16D052u, 0xAD7D5351u,
};

uint32_t uavmail__crc32c(uint32_t crc, const void *buf, size_t n)
{
    const unsigned char *p = buf;
    size_t i;
    crc = ~crc;
    for (i = 0; i < n; i++)
        crc = crc32c_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
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
    if (n == 0 || n > UAVMAIL__QMETA_MAX_RCPT)
        return -1;
    m->rcpt = uavmail__calloc(a, n, sizeof *m->rcpt);
    if (m->rcpt == NULL)
        return -2; /* out of memory: not the file's fault */
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
            return rc == -2 ? -2 : -1;
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
        return res.error.code == CBOR_ERR_MEMERROR ? -2 : -1;
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
