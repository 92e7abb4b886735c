/*
 * Writes a matrix of messages through the public API for the round-trip
 * test (test/e2e/test_mime_roundtrip.py), together with what each should
 * decode to: OUTDIR/<case>.eml, OUTDIR/<case>.json (expected subject,
 * names, bodies) and OUTDIR/<case>.<n>.bin (expected attachment bytes).
 * Every attachment source is used: memory, file, descriptor, callback.
 * It also checks uavmail_message_size() against the real rendering.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uavmail/uavmail.h>

static const char *outdir;
static int failures;

typedef struct expect {
    FILE *json;
    int natt;
    const char *name;
} expect;

static void json_str(FILE *f, const char *s, size_t n)
{
    size_t i;
    fputc('"', f);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void must(int rc, uavmail_message *m, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s (%s)\n", what, uavmail_strerror(rc),
                uavmail_error_message(uavmail_message_last_error(m)));
        exit(2);
    }
}

static void begin(expect *e, const char *name, uavmail_message **m, const char *subject,
                  const char *from_name, const char *to_name)
{
    char path[512];
    must(uavmail_message_new(m, NULL), NULL, "new");
    must(uavmail_message_set_from(*m, "uav7@example.com", from_name), *m, "from");
    must(uavmail_message_add_recipient(*m, UAVMAIL_TO, "ops@example.com", to_name), *m, "to");
    must(uavmail_message_set_subject(*m, subject), *m, "subject");
    snprintf(path, sizeof path, "%s/%s.json", outdir, name);
    e->json = fopen(path, "w");
    e->natt = 0;
    e->name = name;
    fprintf(e->json, "{\"subject\": ");
    json_str(e->json, subject, strlen(subject));
    fprintf(e->json, ", \"from_name\": ");
    json_str(e->json, from_name ? from_name : "", from_name ? strlen(from_name) : 0);
    fprintf(e->json, ", \"to_name\": ");
    json_str(e->json, to_name ? to_name : "", to_name ? strlen(to_name) : 0);
    fprintf(e->json, ", \"attachments\": [");
}

static void body(expect *e, uavmail_message *m, const char *text, size_t tlen, const char *html,
                 size_t hlen)
{
    if (text) {
        must(uavmail_message_set_text(m, text, tlen), m, "text");
    }
    if (html) {
        must(uavmail_message_set_html(m, html, hlen), m, "html");
    }
    (void)e;
}

static void expect_attachment(expect *e, const char *filename, const void *data, size_t len,
                              const char *cid)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s.%d.bin", outdir, e->name, e->natt);
    f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    fprintf(e->json, "%s{\"filename\": ", e->natt ? ", " : "");
    json_str(e->json, filename, strlen(filename));
    fprintf(e->json, ", \"data\": \"%s.%d.bin\", \"cid\": ", e->name, e->natt);
    json_str(e->json, cid ? cid : "", cid ? strlen(cid) : 0);
    fprintf(e->json, "}");
    e->natt++;
}

static void finish(expect *e, uavmail_message *m, const char *text, size_t tlen, const char *html,
                   size_t hlen, unsigned flags)
{
    char path[512];
    size_t len = 0, cap;
    uint64_t size = 0;
    char *buf;
    FILE *f;
    fprintf(e->json, "], \"text\": ");
    if (text)
        json_str(e->json, text, tlen);
    else
        fprintf(e->json, "null");
    fprintf(e->json, ", \"html\": ");
    if (html)
        json_str(e->json, html, hlen);
    else
        fprintf(e->json, "null");
    fprintf(e->json, "}\n");
    fclose(e->json);
    must(uavmail_message_size(m, flags, &size), m, "size");
    cap = (size_t)size;
    buf = malloc(cap + 1);
    must(uavmail_message_render(m, flags, buf, cap, &len), m, "render");
    if (len != cap) {
        fprintf(stderr, "%s: uavmail_message_size() said %zu, rendering gave %zu\n", e->name,
                cap, len);
        failures++;
    }
    snprintf(path, sizeof path, "%s/%s.eml", outdir, e->name);
    f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    free(buf);
    uavmail_message_free(m);
}

/* Callback source over a memory block (proves offset-driven reads). */
typedef struct blob {
    const unsigned char *p;
    size_t n;
} blob;

static long blob_read(void *buf, size_t cap, uint64_t off, void *ud)
{
    blob *b = ud;
    size_t k;
    if (off >= b->n)
        return 0;
    k = b->n - (size_t)off < cap ? b->n - (size_t)off : cap;
    if (k > 1000)
        k = 1000; /* short reads must be fine */
    memcpy(buf, b->p + off, k);
    return (long)k;
}

static const char *write_tmp(const char *name, const void *data, size_t len)
{
    static char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/src-%s", outdir, name);
    f = fopen(path, "wb");
    fwrite(data, 1, len, f);
    fclose(f);
    return path;
}

int main(int argc, char **argv)
{
    static unsigned char allbytes[256 * 8];
    static blob b_all, b_empty;
    static char longline[5000], longname[260];
    uavmail_message *m;
    expect e;
    size_t i;
    int fd_all, fd_empty;
    static const char *text1 = "Flight UAV-7 landed.\n.\nBattery 15.1 V\r\nEnd";
    static const char *html1 = "<html><body><p>Flight <b>UAV-7</b> landed.</p></body></html>";
    static const char *html2 = "<p>Preview:</p><img src=\"cid:preview@uav7\">";
    static const char *utf8_text =
        "Pilot J\xC3\xBCrgen \xC3\x98ster, \xE6\x9D\xB1\xE4\xBA\xAC \xE2\x9C\x88\n"
        "H\xC3\xB6he 120 m, Z\xC3\xBCrich\n";
    static const char *utf8_html = "<p>H\xC3\xB6henprofil \xE2\x80\x93 Z\xC3\xBCrich</p>";

    if (argc != 2) {
        fprintf(stderr, "usage: mime_matrix OUTDIR\n");
        return 2;
    }
    outdir = argv[1];
    for (i = 0; i < sizeof allbytes; i++)
        allbytes[i] = (unsigned char)i;
    b_all.p = allbytes;
    b_all.n = sizeof allbytes;
    b_empty.p = allbytes;
    b_empty.n = 0;

    begin(&e, "text_only", &m, "Flight report", NULL, NULL);
    body(&e, m, text1, strlen(text1), NULL, 0);
    finish(&e, m, text1, strlen(text1), NULL, 0, 0);

    begin(&e, "text_html", &m, "Flight report", "UAV 7", "Operations");
    body(&e, m, text1, strlen(text1), html1, strlen(html1));
    finish(&e, m, text1, strlen(text1), html1, strlen(html1), 0);

    begin(&e, "html_inline", &m, "Alert with preview", NULL, NULL);
    body(&e, m, NULL, 0, html2, strlen(html2));
    must(uavmail_message_add_inline_memory(m, allbytes, 700, "image/png", "preview@uav7"), m,
         "inline");
    expect_attachment(&e, "preview@uav7", allbytes, 700, "preview@uav7");
    finish(&e, m, NULL, 0, html2, strlen(html2), 0);

    begin(&e, "many_attachments", &m, "Logs", NULL, NULL);
    body(&e, m, "see attached", 12, NULL, 0);
    for (i = 0; i < 25; i++) {
        char name[32];
        size_t n = (i * 137) % 3000;
        snprintf(name, sizeof name, "log-%02zu.bin", i);
        must(uavmail_message_attach_memory(m, allbytes + (i % 7), n > 2000 ? 2000 : n, NULL, name),
             m, "attach");
        expect_attachment(&e, name, allbytes + (i % 7), n > 2000 ? 2000 : n, NULL);
    }
    finish(&e, m, "see attached", 12, NULL, 0, 0);

    for (i = 0; i < 2; i++) {
        static const char *const subj =
            "Flugbericht \xE2\x80\x93 Z\xC3\xBCrich \xE2\x9C\x88 14:03Z, Dauer 18 min, "
            "Strecke 6,2 km, H\xC3\xB6he max. 120 m";
        static const char *const fname = "Flug \xC3\xBC" "ber Z\xC3\xBCrich \xE2\x80\x93 H\xC3\xB6henprofil.csv";
        begin(&e, i ? "non_ascii_8bit" : "non_ascii", &m, subj,
              "Pilot J\xC3\xBCrgen \xC3\x98ster", "\xC3\x89quipe d'op\xC3\xA9rations");
        body(&e, m, utf8_text, strlen(utf8_text), utf8_html, strlen(utf8_html));
        must(uavmail_message_add_header(m, "X-Location", "Z\xC3\xBCrich Flugplatz"), m, "hdr");
        must(uavmail_message_attach_memory(m, "a;b\r\n", 5, "text/csv", fname), m, "attach");
        expect_attachment(&e, fname, "a;b\r\n", 5, NULL);
        finish(&e, m, utf8_text, strlen(utf8_text), utf8_html, strlen(utf8_html),
               i ? UAVMAIL_RENDER_8BIT : 0);
    }

    /* Every source, empty and with every byte value. */
    fd_all = open(write_tmp("all.bin", allbytes, sizeof allbytes), O_RDONLY);
    fd_empty = open(write_tmp("empty.bin", "", 0), O_RDONLY);
    begin(&e, "sources", &m, "Every source", NULL, NULL);
    body(&e, m, "x", 1, NULL, 0);
    must(uavmail_message_attach_memory(m, allbytes, sizeof allbytes, NULL, "mem.bin"), m, "m");
    expect_attachment(&e, "mem.bin", allbytes, sizeof allbytes, NULL);
    must(uavmail_message_attach_memory(m, NULL, 0, NULL, "mem-empty.bin"), m, "m0");
    expect_attachment(&e, "mem-empty.bin", "", 0, NULL);
    must(uavmail_message_attach_file(m, write_tmp("file.bin", allbytes, sizeof allbytes), NULL,
                                     "file.bin"),
         m, "f");
    expect_attachment(&e, "file.bin", allbytes, sizeof allbytes, NULL);
    must(uavmail_message_attach_file(m, write_tmp("file0.bin", "", 0), NULL, "file-empty.bin"), m,
         "f0");
    expect_attachment(&e, "file-empty.bin", "", 0, NULL);
    must(uavmail_message_attach_fd(m, fd_all, NULL, "fd.bin"), m, "fd");
    expect_attachment(&e, "fd.bin", allbytes, sizeof allbytes, NULL);
    must(uavmail_message_attach_fd(m, fd_empty, NULL, "fd-empty.bin"), m, "fd0");
    expect_attachment(&e, "fd-empty.bin", "", 0, NULL);
    must(uavmail_message_attach_callback(m, blob_read, (int64_t)sizeof allbytes, NULL, "cb.bin",
                                         &b_all),
         m, "cb");
    expect_attachment(&e, "cb.bin", allbytes, sizeof allbytes, NULL);
    must(uavmail_message_attach_callback(m, blob_read, 0, NULL, "cb-empty.bin", &b_empty), m,
         "cb0");
    expect_attachment(&e, "cb-empty.bin", "", 0, NULL);
    finish(&e, m, "x", 1, NULL, 0, 0);
    close(fd_all);
    close(fd_empty);

    /* Long lines and a long non-ASCII file name (RFC 2231 continuations). */
    memset(longline, 'L', sizeof longline - 1);
    longline[sizeof longline - 1] = '\0';
    longname[0] = '\0';
    while (strlen(longname) + 8 < 240)
        strcat(longname, "Fl\xC3\xBCge-");
    strcat(longname, ".csv");
    begin(&e, "long_lines", &m, "Long", NULL, NULL);
    body(&e, m, longline, strlen(longline), longline, strlen(longline));
    must(uavmail_message_attach_memory(m, "1", 1, NULL, longname), m, "long name");
    expect_attachment(&e, longname, "1", 1, NULL);
    finish(&e, m, longline, strlen(longline), longline, strlen(longline), 0);

    return failures ? 1 : 0;
}
