/*
 * FZ-07 (the CVE-2018-16839 lesson): lengths that come from the user or
 * the server never overflow a size computation.  SIZE_MAX-adjacent lengths
 * given to the AUTH builders and the MIME builders end in a clean error
 * without reading past the real data (the ASan build checks that), and
 * attachments larger than size_t on a 32-bit system are sized in 64 bits.
 * Runs in every build, the i686 one included (scripts/cross.sh).
 */
#include <string.h>

#include "base64.h"
#include "message_int.h"
#include "sasl.h"
#include "tt.h"

static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 2, SIZE_MAX / 2 + 1,
                              SIZE_MAX / 3 * 2};

static void test_auth_plain_lengths(void)
{
    char out[1024];
    const char pass[4] = {'s', 'k', 'y', '!'}; /* no terminator: any over-read shows */
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(huge); i++)
        CHECK_INT(uavmail__sasl_plain(out, sizeof out, NULL, "pilot", pass, huge[i]), 0);
    CHECK_INT(uavmail__sasl_plain(out, sizeof out, NULL, "pilot", pass, 257), 0);
    CHECK_INT(uavmail__sasl_plain(out, sizeof out, NULL, "pilot", pass, 4), 16);
    CHECK_MEM(out, 16, "AHBpbG90AHNreSE=", 16);
    /* the output capacity is checked too, just below the encoded size */
    CHECK_INT(uavmail__sasl_plain(out, 16, NULL, "pilot", pass, 4), 0);
}

static void test_token_lengths(void)
{
    char out[1024];
    const char token[3] = {'a', 'b', 'c'};
    size_t i;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(huge); i++) {
        CHECK_INT(uavmail__sasl_xoauth2(out, sizeof out, "pilot", token, huge[i]), 0);
        CHECK_INT(uavmail__sasl_oauthbearer(out, sizeof out, "pilot", "mx.example.net", 587,
                                            token, huge[i]),
                  0);
    }
    CHECK(uavmail__sasl_xoauth2(out, sizeof out, "pilot", token, 3) > 0);
}

static void test_base64_lengths(void)
{
    size_t i;
    /* Either the exact length or SIZE_MAX ("not representable"), never a wrapped value. */
    for (i = 0; i < UAVMAIL__ARRAY_LEN(huge); i++) {
        size_t n = huge[i], groups = n / 3 + (n % 3 != 0);
        if (groups > SIZE_MAX / 4)
            CHECK(uavmail__b64_len(n) == SIZE_MAX);
        else
            CHECK(uavmail__b64_len(n) == groups * 4);
        CHECK(uavmail__b64_lines_len(n) == SIZE_MAX || uavmail__b64_lines_len(n) > groups * 4);
    }
    CHECK(uavmail__b64_len(SIZE_MAX) == SIZE_MAX);
    CHECK(uavmail__b64_len(SIZE_MAX / 4 * 3 + 3) == SIZE_MAX);
    CHECK(uavmail__b64_lines_len(SIZE_MAX - 1) == SIZE_MAX);
    CHECK(uavmail__b64_len(57) == 76);
    CHECK(uavmail__b64_lines_len(57) == 78);
    CHECK(uavmail__b64_lines_len(58) == 78 + 6);
}

static void test_alloc_arithmetic(void)
{
    uavmail__alloc a;
    size_t sum = 0;
    uavmail__alloc_init(&a, NULL);
    CHECK(uavmail__calloc(&a, SIZE_MAX / 2 + 1, 2) == NULL);
    CHECK(uavmail__calloc(&a, 3, SIZE_MAX / 3 + 1) == NULL);
    CHECK(uavmail__strndup(&a, "abc", SIZE_MAX) == NULL);
    CHECK_INT(uavmail__add(SIZE_MAX - 1, 2, &sum), -1);
    CHECK_INT(uavmail__add(SIZE_MAX - 2, 2, &sum), 0);
    CHECK(sum == SIZE_MAX);
}

static void test_mime_builder_lengths(void)
{
    uavmail_message *m = NULL;
    const char data[3] = {'a', 'b', 'c'};
    size_t i;
    uint64_t size = 0;
    CHECK_INT(uavmail_message_new(&m, NULL), 0);
    if (m == NULL)
        return;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(huge); i++) {
        CHECK_INT(uavmail_message_set_text(m, data, huge[i]), UAVMAIL_ETOOBIG);
        CHECK_INT(uavmail_message_set_html(m, data, huge[i]), UAVMAIL_ETOOBIG);
        CHECK_INT(uavmail_message_attach_memory(m, data, huge[i], "text/plain", "a.txt"),
                  UAVMAIL_ETOOBIG);
        CHECK_INT(uavmail_message_add_inline_memory(m, data, huge[i], "image/png", "c1@x"),
                  UAVMAIL_ETOOBIG);
    }
    CHECK(strstr(uavmail_error_message(uavmail_message_last_error(m)), "impossible") != NULL);
    /* nothing half-added: the message still renders as if untouched */
    uavmail_message_set_from(m, "uav7@example.net", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    CHECK_INT(uavmail_message_set_text(m, data, 3), 0);
    CHECK_INT(uavmail_message_size(m, 0, &size), 0);
    uavmail_message_free(m);
}

static long never_read(void *buf, size_t cap, uint64_t offset, void *ud)
{
    (void)buf, (void)cap, (void)offset, (void)ud;
    return -1;
}

static int sized(int64_t att, uint64_t *size)
{
    uavmail_message *m = NULL;
    int rc = uavmail_message_new(&m, NULL);
    if (rc != 0)
        return rc;
    uavmail_message_set_from(m, "uav7@example.net", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    uavmail_message_set_text(m, "log\n", 4);
    uavmail_message_attach_callback(m, never_read, att, "application/octet-stream", "f.bin", NULL);
    uavmail__message_freeze_at(m, 1800000000); /* same Date and Message-ID for both sizes */
    rc = uavmail_message_size(m, 0, size);
    uavmail_message_free(m);
    return rc;
}

/* Base64 with CRLF every 76 characters, computed in 64 bits here. */
static uint64_t b64_lines(uint64_t n)
{
    return (n + 2) / 3 * 4 + (n + 56) / 57 * 2;
}

static void test_attachment_over_4gib(void)
{
    /* A flight log over 4 GiB on a 32-bit companion computer: SIZE and BDAT
     * lengths come from this computation, so a truncated size_t would send a
     * wrong byte count. */
    const int64_t small = 57, big = ((int64_t)1 << 32) + 57;
    uint64_t s_small = 0, s_big = 0;
    CHECK_INT(sized(small, &s_small), 0);
    CHECK_INT(sized(big, &s_big), 0);
    CHECK(s_big - s_small == b64_lines((uint64_t)big) - b64_lines((uint64_t)small));
    CHECK(s_big > ((uint64_t)1 << 32));
}

static void test_total_not_representable(void)
{
    uavmail_message *m = NULL;
    uint64_t size = 0;
    CHECK_INT(uavmail_message_new(&m, NULL), 0);
    if (m == NULL)
        return;
    uavmail_message_set_from(m, "uav7@example.net", NULL);
    uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.net", NULL);
    uavmail_message_attach_callback(m, never_read, INT64_MAX, NULL, "a.bin", NULL);
    CHECK_INT(uavmail_message_size(m, 0, &size), 0); /* one fits in 64 bits */
    uavmail_message_attach_callback(m, never_read, INT64_MAX, NULL, "b.bin", NULL);
    CHECK_INT(uavmail_message_size(m, 0, &size), UAVMAIL_ETOOBIG); /* two do not */
    uavmail_message_free(m);
}

static const tt_test tests[] = {
    TT(test_auth_plain_lengths),   TT(test_token_lengths),
    TT(test_base64_lengths),       TT(test_alloc_arithmetic),
    TT(test_mime_builder_lengths), TT(test_attachment_over_4gib),
    TT(test_total_not_representable),
};

TT_MAIN(tests)
