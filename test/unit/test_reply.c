/* SMTP reply reader: CONFORMANCE P-01..P-04 and P-06. */
#include "reply.h"
#include "tt.h"

static int parse_all(const char *s, int allow_lf, uavmail__reply_reader *r)
{
    size_t used;
    uavmail__reply_reader_init(r, allow_lf);
    return uavmail__reply_feed(r, s, strlen(s), &used);
}

static void p01_multiline(void)
{
    uavmail__reply_reader r;
    CHECK_INT(parse_all("250-a\r\n250-234 b\r\n250 c\r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(r.reply.code, 250);
    CHECK_INT(r.reply.nlines, 3);
    CHECK_STR(r.reply.text, "a\n234 b\nc");
    CHECK_INT(parse_all("250-a\r\n251 b\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
    CHECK_INT(parse_all("250\r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(parse_all("250 \r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(parse_all("2500 ok\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
    CHECK_INT(parse_all("25 ok\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
    CHECK_INT(parse_all("x50 ok\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
    CHECK_INT(parse_all("650 ok\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
    CHECK_INT(parse_all("150 ok\r\n", 0, &r), UAVMAIL__REPLY_BAD_CODE);
}

static void p02_unknown_codes_by_first_digit(void)
{
    uavmail__reply_reader r;
    CHECK_INT(parse_all("299 fine\r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(r.reply.code / 100, 2);
    CHECK_INT(parse_all("459 later\r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(r.reply.code / 100, 4);
    CHECK_INT(parse_all("559 never\r\n", 0, &r), UAVMAIL__REPLY_DONE);
    CHECK_INT(r.reply.code / 100, 5);
}

static void p03_bounds(void)
{
    uavmail__reply_reader r;
    static char big[UAVMAIL_REPLY_LINE_MAX + 64];
    size_t used, i;
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "250 ", 4);
    big[sizeof big - 1] = '\0';
    CHECK_INT(parse_all(big, 0, &r), UAVMAIL__REPLY_TOO_LONG);
    /* 512-octet lines (the RFC minimum) are fine. */
    memset(big, 'b', 600);
    memcpy(big, "250 ", 4);
    memcpy(big + 510, "\r\n", 3);
    CHECK_INT(parse_all(big, 0, &r), UAVMAIL__REPLY_DONE);
    /* Too many lines. */
    uavmail__reply_reader_init(&r, 0);
    for (i = 0; i < UAVMAIL_REPLY_LINES_MAX + 5; i++) {
        int rc = uavmail__reply_feed(&r, "250-x\r\n", 7, &used);
        if (rc != UAVMAIL__REPLY_MORE) {
            CHECK_INT(rc, UAVMAIL__REPLY_TOO_LONG);
            break;
        }
    }
    CHECK(i < UAVMAIL_REPLY_LINES_MAX + 5);
    /* A short reply without CRLF is incomplete, never a reply (CVE-2019-3823). */
    uavmail__reply_reader_init(&r, 0);
    CHECK_INT(uavmail__reply_feed(&r, "25", 2, &used), UAVMAIL__REPLY_MORE);
    CHECK(uavmail__reply_pending(&r));
}

static void p04_forbidden_bytes(void)
{
    uavmail__reply_reader r;
    size_t used;
    uavmail__reply_reader_init(&r, 0);
    CHECK_INT(uavmail__reply_feed(&r, "250 a\0b\r\n", 9, &used), UAVMAIL__REPLY_BAD_BYTE);
    CHECK_INT(parse_all("250 a\rb\r\n", 0, &r), UAVMAIL__REPLY_BAD_BYTE);
    CHECK_INT(parse_all("250 lf only\n", 0, &r), UAVMAIL__REPLY_BAD_BYTE);
    CHECK_INT(parse_all("250 lf only\n", 1, &r), UAVMAIL__REPLY_DONE); /* explicit policy */
}

static void split_at_every_byte(void)
{
    static const char in[] = "250-first\r\n250-SIZE 100\r\n250 last\r\n220 next\r\n";
    size_t cut;
    for (cut = 1; cut < sizeof in - 1; cut++) {
        uavmail__reply_reader r;
        size_t used, off = 0;
        int rc;
        uavmail__reply_reader_init(&r, 0);
        rc = uavmail__reply_feed(&r, in, cut, &used);
        off = used;
        if (rc != UAVMAIL__REPLY_DONE) {
            rc = uavmail__reply_feed(&r, in + cut, sizeof in - 1 - cut, &used);
            off = cut + used;
        }
        CHECK_INT(rc, UAVMAIL__REPLY_DONE);
        CHECK_STR(r.reply.text, "first\nSIZE 100\nlast");
        rc = uavmail__reply_feed(&r, in + off, sizeof in - 1 - off, &used);
        CHECK_INT(rc, UAVMAIL__REPLY_DONE);
        CHECK_INT(r.reply.code, 220);
    }
}

static void p06_enhanced_codes(void)
{
    char out[16];
    CHECK_INT(uavmail__enhanced_parse("5.7.8 bad", 9, 535, out), 6);
    CHECK_STR(out, "5.7.8");
    CHECK_INT(uavmail__enhanced_parse("5.07.1 x", 8, 550, out), 0);
    CHECK_INT(uavmail__enhanced_parse("6.1.1 x", 7, 550, out), 0);
    CHECK_INT(uavmail__enhanced_parse("5.1 x", 5, 550, out), 0);
    CHECK_INT(uavmail__enhanced_parse("4.1.1 x", 7, 550, out), 0); /* class contradicts code */
    CHECK_INT(uavmail__enhanced_parse("2.0.0", 5, 250, out), 5);
    CHECK_STR(out, "2.0.0");
}

static const tt_test tests[] = {
    TT(p01_multiline),        TT(p02_unknown_codes_by_first_digit), TT(p03_bounds),
    TT(p04_forbidden_bytes),  TT(split_at_every_byte),              TT(p06_enhanced_codes),
};

TT_MAIN(tests)
