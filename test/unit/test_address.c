/* Address syntax: D-08 (envelope injection) and P-11 (length limits). */
#include "address.h"
#include "tt.h"

static int ok(const char *a)
{
    uavmail_error_detail e;
    return uavmail__address_check(a, "test", &e, NULL) == 0;
}

static void valid_addresses(void)
{
    CHECK(ok("pilot@example.com"));
    CHECK(ok("first.last+tag@sub.example.co.uk"));
    CHECK(ok("\"quoted local\"@example.com"));
    CHECK(ok("user@[192.0.2.1]"));
    CHECK(ok("user@[IPv6:2001:db8::1]"));
    CHECK(ok("j\xC3\xBCrgen@example.de"));
}

static void d08_injection_rejected(void)
{
    uavmail_error_detail e;
    CHECK(!ok("sender@example.com\r\nDATA"));          /* curl test2110 */
    CHECK(!ok("\"a\r\nRCPT TO:<x>\"@example.com"));    /* MimeKit 2026 advisory */
    CHECK(!ok("a b@example.com"));
    CHECK(!ok("<a@example.com>"));
    CHECK(!ok("a@exa mple.com"));
    CHECK(!ok("a@example.com>"));
    CHECK_INT(uavmail__address_check("x@y.z\n", "To", &e, NULL), UAVMAIL_EADDRESS);
    CHECK(strstr(e.message, "To") != NULL);
    CHECK(strstr(e.message, "line break") != NULL);
}

static void malformed(void)
{
    CHECK(!ok("no-at-sign"));
    CHECK(!ok("@example.com"));
    CHECK(!ok("a@"));
    CHECK(!ok("a..b@example.com"));
    CHECK(!ok(".a@example.com"));
    CHECK(!ok("a@-example.com"));
    CHECK(!ok("a@example..com"));
    CHECK(!ok("a@[300.1.1.1]"));
    CHECK(!ok("\xff@example.com")); /* invalid UTF-8 */
}

static void p11_lengths(void)
{
    char local[80], addr[400];
    memset(local, 'a', 65);
    local[65] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    CHECK(!ok(addr)); /* local part 65 > 64 */
    local[64] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    CHECK(ok(addr));
    /* Domain over 255 octets. */
    {
        size_t i, n = 0;
        n += (size_t)snprintf(addr, sizeof addr, "a@");
        for (i = 0; i < 5; i++)
            n += (size_t)snprintf(addr + n, sizeof addr - n, "%.60s.", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        snprintf(addr + n, sizeof addr - n, "com");
        CHECK(!ok(addr));
    }
}

static void p12_helo(void)
{
    CHECK(uavmail__helo_valid("uav7.example.com"));
    CHECK(uavmail__helo_valid("[192.0.2.1]"));
    CHECK(uavmail__helo_valid("[IPv6:::1]"));
    CHECK(!uavmail__helo_valid(""));
    CHECK(!uavmail__helo_valid("bad name"));
    CHECK(!uavmail__helo_valid("x\r\nMAIL FROM:<a@b>"));
}

static const tt_test tests[] = {
    TT(valid_addresses), TT(d08_injection_rejected), TT(malformed), TT(p11_lengths), TT(p12_helo),
};

TT_MAIN(tests)
