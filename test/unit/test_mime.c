/* MIME writer: encoder goldens and structural invariants (D-02, D-05..D-10). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "message_int.h"
#include "mime.h"
#include "tt.h"

static char *render(uavmail_message *m, unsigned flags, size_t *len, size_t chunk)
{
    uavmail__mime_reader *r;
    size_t cap = 1 << 22, n = 0;
    char *buf = malloc(cap);
    long got;
    CHECK_INT(uavmail__mime_reader_new(&r, m, flags), 0);
    while ((got = uavmail__mime_read(r, buf + n, chunk < cap - n ? chunk : cap - n)) > 0)
        n += (size_t)got;
    CHECK_INT(got, 0);
    uavmail__mime_reader_free(r);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* No bare CR or LF, no line over 998 octets (D-01, D-05). */
static void check_lines(const char *s, size_t n)
{
    size_t i, col = 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '\r') {
            CHECK(i + 1 < n && s[i + 1] == '\n');
            i++;
            col = 0;
            continue;
        }
        CHECK(s[i] != '\n');
        CHECK(s[i] != '\0'); /* D-02 */
        col++;
        CHECK(col <= 998);
    }
}

static uavmail_message *basic(void)
{
    uavmail_message *m;
    CHECK_INT(uavmail_message_new(&m, NULL), 0);
    CHECK_INT(uavmail_message_set_from(m, "uav7@example.com", "UAV 7"), 0);
    CHECK_INT(uavmail_message_add_recipient(m, UAVMAIL_TO, "ops@example.com", NULL), 0);
    return m;
}

static void qp_goldens(void)
{
    char out[256];
    size_t w;
    unsigned st = 0;
    const char *in = "caf\xC3\xA9 = 1 \r\ntrailing \nx";
    uavmail__qp_encode(out, sizeof out, &w, in, strlen(in), 1, &st);
    CHECK_MEM(out, w, "caf=C3=A9 =3D 1=20\r\ntrailing=20\r\nx", 34);
    /* Soft line breaks keep lines within 76 columns. */
    {
        char longline[200];
        size_t i, col = 0;
        memset(longline, 'a', 150);
        longline[150] = '\0';
        st = 0;
        uavmail__qp_encode(out, sizeof out, &w, longline, 150, 1, &st);
        for (i = 0; i < w; i++) {
            if (out[i] == '\r') {
                CHECK(out[i - 1] == '=');
                CHECK(col <= 76);
                col = 0;
                i++;
            } else {
                col++;
            }
        }
    }
}

static void rfc2047_words(void)
{
    char out[512];
    size_t n = uavmail__hdr_encode_words(out, sizeof out, "Z\xC3\xBCrich", 9);
    CHECK(n > 0);
    CHECK_STR(out, "=?UTF-8?B?WsO8cmljaA==?=");
    /* A long value folds into several words, none splitting a UTF-8 sequence. */
    n = uavmail__hdr_encode_words(out, sizeof out,
                                  "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                  "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                                  "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9",
                                  9);
    CHECK(strstr(out, "\r\n ") != NULL);
    check_lines(out, n);
}

static void d07_header_injection_rejected(void)
{
    uavmail_message *m = basic();
    CHECK_INT(uavmail_message_set_subject(m, "x\r\nBcc: evil@x"), UAVMAIL_EHEADER);
    CHECK(strstr(uavmail_error_message(uavmail_message_last_error(m)), "Subject") != NULL);
    CHECK_INT(uavmail_message_set_subject(m, "ends in newline\n"), UAVMAIL_EHEADER);
    CHECK_INT(uavmail_message_set_from(m, "a@b.c", "Name\r\nTo: x@y"), UAVMAIL_EHEADER);
    CHECK_INT(uavmail_message_set_subject(m, "bad utf8 \xC3("), UAVMAIL_EENCODING);
    CHECK_INT(uavmail_message_attach_memory(m, "x", 1, "text/plain\r\nX: y", "a.txt"),
              UAVMAIL_EHEADER);
    CHECK_INT(uavmail_message_attach_memory(m, "x", 1, NULL, "a\r\n.txt"), UAVMAIL_EHEADER);
    /* The encoded-newline variant (cpython gh-121650) is encoded, not passed raw. */
    CHECK_INT(uavmail_message_set_subject(m, "=?UTF-8?Q?=0A?=Bcc: evil@example.com"), 0);
    {
        size_t n;
        char *s = render(m, 0, &n, 1000);
        CHECK(strstr(s, "\r\nBcc:") == NULL);
        CHECK(strstr(s, "Subject: =?UTF-8?B?") != NULL);
        free(s);
    }
    uavmail_message_free(m);
}

static void d10_bcc_never_in_headers(void)
{
    uavmail_message *m = basic();
    size_t n;
    char *s;
    CHECK_INT(uavmail_message_add_recipient(m, UAVMAIL_BCC, "secret@example.com", NULL), 0);
    CHECK_INT(uavmail_message_add_recipient(m, UAVMAIL_CC, "cc@example.com", NULL), 0);
    s = render(m, 0, &n, 7);
    CHECK(strstr(s, "secret@example.com") == NULL);
    CHECK(strstr(s, "\r\nCc: <cc@example.com>\r\n") != NULL);
    free(s);
    uavmail_message_free(m);
}

static void d09_filename_and_boundary(void)
{
    uavmail_message *m = basic();
    size_t n;
    char *s;
    CHECK_INT(uavmail_message_set_text(m, "see attachments", 15), 0);
    CHECK_INT(uavmail_message_attach_memory(m, "a", 1, NULL, "we\"ird;\\name.csv"), 0);
    CHECK_INT(uavmail_message_attach_memory(m, "b", 1, NULL, "Fl\xC3\xBCg Z\xC3\xBCrich.gpx"), 0);
    s = render(m, 0, &n, 100);
    check_lines(s, n);
    CHECK(strstr(s, "filename=\"we\\\"ird;\\\\name.csv\"") != NULL);
    CHECK(strstr(s, "filename*0*=UTF-8''Fl%C3%BCg%20Z%C3%BCrich.gpx") != NULL);
    CHECK(strstr(s, "Content-Type: text/csv") != NULL);
    CHECK(strstr(s, "application/gpx+xml") != NULL);
    {
        const char *b = strstr(s, "boundary=\"");
        char boundary[80];
        size_t bl = 0;
        const char *p;
        int count = 0;
        CHECK(b != NULL);
        b += 10;
        while (b[bl] != '"' && bl < sizeof boundary - 1) {
            boundary[bl] = b[bl];
            bl++;
        }
        boundary[bl] = '\0';
        CHECK(bl <= 70);
        for (p = s; (p = strstr(p, boundary)) != NULL; p++)
            count++;
        CHECK_INT(count, 1 + 3 + 1); /* parameter + 3 delimiters + close */
    }
    free(s);
    uavmail_message_free(m);
}

static void text_encodings(void)
{
    uavmail_message *m = basic();
    size_t n;
    char *s;
    char longline[1200];
    CHECK_INT(uavmail_message_set_text(m, "plain\nascii\r\n", 13), 0);
    s = render(m, 0, &n, 3);
    CHECK(strstr(s, "Content-Transfer-Encoding: 7bit\r\n\r\nplain\r\nascii\r\n") != NULL);
    free(s);
    CHECK_INT(uavmail_message_set_text(m, "Gr\xC3\xBC\xC3\x9F" "e", 7), 0);
    s = render(m, 0, &n, 3);
    CHECK(strstr(s, "quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe") != NULL); /* D-06 */
    free(s);
    s = render(m, UAVMAIL__MIME_8BIT, &n, 3);
    CHECK(strstr(s, "8bit\r\n\r\nGr\xC3\xBC\xC3\x9F" "e") != NULL);
    free(s);
    memset(longline, 'x', sizeof longline);
    CHECK_INT(uavmail_message_set_text(m, longline, sizeof longline), 0);
    s = render(m, UAVMAIL__MIME_8BIT, &n, 3);
    check_lines(s, n); /* D-05: encoded, never over 998 */
    CHECK(strstr(s, "quoted-printable") != NULL);
    free(s);
    CHECK_INT(uavmail_message_set_text(m, "nul\0byte", 8), 0);
    s = render(m, UAVMAIL__MIME_8BIT, &n, 3);
    check_lines(s, n); /* D-02 */
    CHECK(strstr(s, "nul=00byte") != NULL);
    free(s);
    uavmail_message_free(m);
}

static void date_and_message_id_fixed(void)
{
    uavmail_message *m = basic();
    size_t n1, n2;
    char *a, *b;
    CHECK_INT(uavmail_message_set_text(m, "x", 1), 0);
    a = render(m, 0, &n1, 50);
    b = render(m, 0, &n2, 4096);
    CHECK(strstr(a, "\r\nDate: ") != NULL || strncmp(a, "Date: ", 6) == 0);
    CHECK(strstr(a, "Message-ID: <") != NULL);
    CHECK(strstr(a, "@example.com>") != NULL);
    CHECK_MEM(a, n1, b, n2); /* identical renderings, whatever the read size */
    CHECK_INT(uavmail_message_set_subject(m, "late"), 0);
    free(b);
    b = render(m, 0, &n2, 4096);
    /* Date and Message-ID survive later edits (D-11: fixed once). */
    CHECK(strncmp(strstr(a, "Message-ID: "), strstr(b, "Message-ID: "), 60) == 0);
    CHECK(strncmp(strstr(a, "Date: "), strstr(b, "Date: "), 37) == 0);
    free(a);
    free(b);
    uavmail_message_free(m);
}

static void missing_attachment_named(void)
{
    uavmail_message *m = basic();
    CHECK_INT(uavmail_message_attach_file(m, "/nonexistent/flight.ulg", NULL, NULL), 0);
    CHECK_INT(uavmail_message_check(m), UAVMAIL_EFILE);
    CHECK(strstr(uavmail_error_message(uavmail_message_last_error(m)), "/nonexistent/flight.ulg") !=
          NULL);
    uavmail_message_free(m);
}

static void guess_types(void)
{
    CHECK_STR(uavmail__mime_guess_type("log.ulg"), "application/octet-stream");
    CHECK_STR(uavmail__mime_guess_type("track.KML"), "application/vnd.google-earth.kml+xml");
    CHECK_STR(uavmail__mime_guess_type("t.geojson"), "application/geo+json");
    CHECK_STR(uavmail__mime_guess_type("s.cbor"), "application/cbor");
    CHECK_STR(uavmail__mime_guess_type("p.jpg"), "image/jpeg");
    CHECK_STR(uavmail__mime_guess_type("noext"), "application/octet-stream");
}

/* A read callback that hands out at most 7 bytes at a time (short reads). */
static size_t short_reads_size;

static long short_reads(void *buf, size_t len, uint64_t offset, void *ud)
{
    const unsigned char *src = ud;
    size_t n = len < 7 ? len : 7;
    if (n > short_reads_size - (size_t)offset)
        n = short_reads_size - (size_t)offset;
    memcpy(buf, src + (size_t)offset, n);
    return (long)n;
}

/* Attachment bytes are read into the tail of the output buffer and encoded
 * in place: the result must equal a separate encoding whatever the buffer
 * size (78 bytes, one line, up to much more than one read) and the size of
 * the content (empty, partial lines, many lines), for every source. */
static void attachment_encoded_in_place(void)
{
    static const size_t sizes[] = {0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 4561, 20000, 70001};
    static const size_t chunks[] = {78, 79, 155, 156, 1000, 4095, 4096, 4097, 5000, 16384,
                                    1 << 22};
    size_t i, j, k;
    unsigned char *data = malloc(70001);
    char *expect = malloc(100000);
    for (i = 0; i < 70001; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t elen = uavmail__b64_encode_lines(expect, data, sizes[i]);
        for (j = 0; j < sizeof chunks / sizeof chunks[0]; j++)
            for (k = 0; k < 2; k++) {
                uavmail_message *m = basic();
                size_t n;
                char *out;
                if (k == 0)
                    CHECK_INT(uavmail_message_attach_memory(m, data, sizes[i], NULL, "a.bin"), 0);
                short_reads_size = sizes[i];
                if (k == 1)
                    CHECK_INT(uavmail_message_attach_callback(m, short_reads, (int64_t)sizes[i],
                                                              NULL, "a.bin", data),
                              0);
                out = render(m, 0, &n, chunks[j]);
                check_lines(out, n);
                /* The encoded content sits between the part's blank line and
                 * the closing delimiter. */
                {
                    const char *body = strstr(strstr(out, "filename=\"a.bin\""), "\r\n\r\n") + 4;
                    const char *end = strstr(body, "\r\n--");
                    size_t got = (size_t)(end - body) + (elen ? 2 : 0);
                    CHECK_MEM(body, got, expect, elen);
                }
                free(out);
                uavmail_message_free(m);
            }
    }
    free(expect);
    free(data);
}

/* The longest items the message API accepts fit the MIME writer's buffer:
 * a Subject of UAVMAIL_SUBJECT_MAX bytes needing encoded words, and an
 * attachment name of 255 bytes of 4-byte characters (both filename forms). */
static void longest_items_fit(void)
{
    uavmail_message *m = basic();
    char subject[2049], name[256];
    size_t n, i;
    char *out;
    for (i = 0; i + 2 <= 2048; i += 2)
        memcpy(subject + i, "\xC3\xA9", 2);
    subject[2048] = '\0';
    for (i = 0; i + 4 <= 252; i += 4)
        memcpy(name + i, "\xF0\x9F\x9B\xA9", 4);
    memcpy(name + 252, "abc", 4);
    CHECK_INT(uavmail_message_set_subject(m, subject), 0);
    CHECK_INT(uavmail_message_attach_memory(m, "x", 1, NULL, name), 0);
    out = render(m, 0, &n, 4096);
    check_lines(out, n);
    CHECK(strstr(out, "Subject: =?UTF-8?B?") != NULL);
    CHECK(strstr(out, "filename*4*=") != NULL);
    CHECK(strstr(out, "\r\n\r\neA==\r\n") != NULL);
    free(out);
    uavmail_message_free(m);
}

static const tt_test tests[] = {
    TT(qp_goldens),
    TT(rfc2047_words),
    TT(d07_header_injection_rejected),
    TT(d10_bcc_never_in_headers),
    TT(d09_filename_and_boundary),
    TT(text_encodings),
    TT(date_and_message_id_fixed),
    TT(missing_attachment_named),
    TT(guess_types),
    TT(attachment_encoded_in_place),
    TT(longest_items_fit),
};

TT_MAIN(tests)
