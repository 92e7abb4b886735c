#define _DEFAULT_SOURCE
/*
 * A small RFC 5322 address-list reader for "uavmail send -t": it splits a
 * list at top-level commas (not inside quotes, comments or angle
 * brackets), takes <addr-spec> when present, and skips group names.
 * Syntax is then checked by the library itself.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "envelope.h"

static void trim(char *s)
{
    size_t n = strlen(s), i = 0;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (isspace((unsigned char)s[i]))
        i++;
    memmove(s, s + i, n - i + 1);
}

/* One element of a list: "Name <a@b>", "a@b (comment)", "group: a@b". */
static int element_address(const char *el, char *out, size_t cap)
{
    const char *lt = NULL, *gt = NULL, *p;
    int q = 0, c = 0;
    size_t o = 0;
    for (p = el; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (*p == '"' && c == 0)
            q = !q;
        else if (!q && *p == '(')
            c++;
        else if (!q && *p == ')' && c > 0)
            c--;
        else if (!q && c == 0 && *p == '<')
            lt = p;
        else if (!q && c == 0 && *p == '>' && lt)
            gt = p;
    }
    if (lt && gt && gt > lt) {
        if ((size_t)(gt - lt - 1) >= cap)
            return -1;
        memcpy(out, lt + 1, (size_t)(gt - lt - 1));
        out[gt - lt - 1] = '\0';
        trim(out);
        return out[0] ? 0 : -1;
    }
    /* Bare addr-spec: drop comments, keep quoted local parts. */
    q = c = 0;
    for (p = el; *p && o + 1 < cap; p++) {
        if (*p == '"' && c == 0)
            q = !q;
        if (!q && *p == '(') {
            c++;
            continue;
        }
        if (!q && *p == ')' && c > 0) {
            c--;
            continue;
        }
        if (c == 0)
            out[o++] = *p;
    }
    out[o] = '\0';
    trim(out);
    return out[0] ? 0 : -1;
}

/* Split an unfolded field body into addresses. */
static int add_list(envelope *env, char *body, int is_from)
{
    char *p = body, *start = body;
    int q = 0, c = 0, angle = 0;
    for (;; p++) {
        int end = *p == '\0';
        if (!end) {
            if (*p == '\\' && p[1]) {
                p++;
                continue;
            }
            if (*p == '"' && c == 0)
                q = !q;
            else if (!q && *p == '(')
                c++;
            else if (!q && *p == ')' && c > 0)
                c--;
            else if (!q && c == 0 && *p == '<')
                angle = 1;
            else if (!q && c == 0 && *p == '>')
                angle = 0;
        }
        if (end || (!q && c == 0 && !angle && (*p == ',' || *p == ';' || *p == ':'))) {
            char saved = *p, addr[512];
            *p = '\0';
            /* A ':' ends a group's display name; it is not an address. */
            if (saved != ':' && element_address(start, addr, sizeof addr) == 0) {
                if (is_from) {
                    if (env->from[0] == '\0')
                        snprintf(env->from, sizeof env->from, "%s", addr);
                } else if (env->nrcpt < ENVELOPE_MAX) {
                    env->rcpt[env->nrcpt] = strdup(addr);
                    if (env->rcpt[env->nrcpt] == NULL)
                        return -1;
                    env->nrcpt++;
                }
            }
            *p = saved;
            if (end)
                break;
            start = p + 1;
        }
    }
    return 0;
}

static int handle_field(envelope *env, char *field)
{
    char *colon = strchr(field, ':');
    size_t n;
    if (colon == NULL)
        return 0;
    n = (size_t)(colon - field);
    if (n == 4 && strncasecmp(field, "From", 4) == 0)
        return add_list(env, colon + 1, 1);
    if ((n == 2 && (strncasecmp(field, "To", 2) == 0 || strncasecmp(field, "Cc", 2) == 0)) ||
        (n == 3 && strncasecmp(field, "Bcc", 3) == 0))
        return add_list(env, colon + 1, 0);
    return 0;
}

int envelope_from_file(const char *path, envelope *env, char *err, size_t err_cap)
{
    FILE *f = fopen(path, "rb");
    char line[4096], field[65536];
    size_t flen = 0;
    memset(env, 0, sizeof *env);
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open \"%s\": %s", path, strerror(errno));
        return -1;
    }
    field[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0 && (line[0] == ' ' || line[0] == '\t')) { /* folded continuation */
            if (flen + n + 1 < sizeof field) {
                memcpy(field + flen, line, n + 1);
                flen += n;
            }
            continue;
        }
        if (flen > 0 && handle_field(env, field) != 0)
            break;
        if (n == 0)
            break; /* end of the header */
        snprintf(field, sizeof field, "%s", line);
        flen = strlen(field);
    }
    fclose(f);
    if (env->from[0] == '\0' || env->nrcpt == 0) {
        snprintf(err, err_cap, "\"%s\" has no %s header", path,
                 env->from[0] == '\0' ? "From" : "To, Cc or Bcc");
        envelope_free(env);
        return -1;
    }
    return 0;
}

void envelope_free(envelope *env)
{
    size_t i;
    for (i = 0; i < env->nrcpt; i++)
        free(env->rcpt[i]);
    env->nrcpt = 0;
}
