/* The same sender with libcurl's SMTP support, for the size comparison in
 * README "Footprint".  curl_send HOST PORT USER FROM TO */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static const char msg[] = "From: <uav7@example.test>\r\nTo: <ops@example.test>\r\n"
                          "Subject: UAV alert\r\n\r\nBattery low, returning home.\r\n";

static size_t body(char *buf, size_t size, size_t n, void *ud)
{
    size_t *off = ud, left = sizeof msg - 1 - *off, cap = size * n;
    if (cap > left)
        cap = left;
    memcpy(buf, msg + *off, cap);
    *off += cap;
    return cap;
}

int main(int argc, char **argv)
{
    char url[300];
    size_t off = 0;
    struct curl_slist *rcpt;
    CURL *c;
    CURLcode rc;
    if (argc != 6)
        return 2;
    snprintf(url, sizeof url, "smtp://%s:%s", argv[1], argv[2]);
    c = curl_easy_init();
    if (c == NULL)
        return 3;
    rcpt = curl_slist_append(NULL, argv[5]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(c, CURLOPT_USERNAME, argv[3]);
    curl_easy_setopt(c, CURLOPT_PASSWORD, getenv("SMTP_PASSWORD"));
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, argv[4]);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, body);
    curl_easy_setopt(c, CURLOPT_READDATA, &off);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    rc = curl_easy_perform(c);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : 1;
}
