/*
 * The configuration file, so nothing secret sits on a command line:
 *
 *     # ~/.config/uavmail/config  (mode 0600)
 *     default = fleet
 *
 *     [account fleet]
 *     provider = gmail
 *     user = uav7@example.com
 *     password-cmd = pass show mail/uav7
 *     from = UAV 7 <uav7@example.com>
 *
 * Keys are the long options of "uavmail send" ("password" is also accepted
 * here, since the file is private).  Settings outside any section apply to
 * every account; options on the command line override the file.
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "secrets.h"

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int add(config_args *c, const char *key, const char *value)
{
    size_t n = strlen(key);
    char *opt = malloc(n + 3);
    if (c->argc + 2 > CONFIG_MAX_ARGS || opt == NULL) {
        free(opt);
        return -1;
    }
    opt[0] = opt[1] = '-';
    memcpy(opt + 2, key, n + 1);
    c->argv[c->argc++] = opt;
    c->argv[c->argc++] = strdup(value);
    return c->argv[c->argc - 1] ? 0 : -1;
}

/* Flags without a value in the file ("trace = yes"). */
static int is_flag(const char *key)
{
    return strcmp(key, "trace") == 0 || strcmp(key, "t") == 0;
}

int config_load(const char *path, const char *account, config_args *out, char *err, size_t cap)
{
    FILE *f;
    char line[2048], def[128] = "", want[128];
    int lineno = 0, pass;
    memset(out, 0, sizeof *out);
    if (secret_file_check(path, err, cap) != 0)
        return -1;
    /* Two passes: find the default account, then collect its settings. */
    for (pass = 0; pass < 2; pass++) {
        char section[128] = "";
        int found = 0;
        f = fopen(path, "r");
        if (f == NULL) {
            snprintf(err, cap, "cannot read \"%s\"", path);
            return -1;
        }
        if (pass == 1) {
            snprintf(want, sizeof want, "%s", account ? account : def);
            if (want[0] == '\0') {
                fclose(f);
                snprintf(err, cap, "%s: no account given and no \"default = NAME\"", path);
                return -1;
            }
        }
        lineno = 0;
        while (fgets(line, sizeof line, f)) {
            char *l = trim(line), *eq, *key, *value;
            lineno++;
            if (*l == '\0' || *l == '#')
                continue;
            if (*l == '[') {
                char *end = strchr(l, ']');
                if (end == NULL || strncmp(l, "[account ", 9) != 0) {
                    fclose(f);
                    snprintf(err, cap, "%s:%d: expected [account NAME]", path, lineno);
                    return -1;
                }
                *end = '\0';
                snprintf(section, sizeof section, "%s", trim(l + 9));
                if (pass == 1 && strcmp(section, want) == 0)
                    found = 1;
                continue;
            }
            eq = strchr(l, '=');
            if (eq == NULL) {
                fclose(f);
                snprintf(err, cap, "%s:%d: expected key = value", path, lineno);
                return -1;
            }
            *eq = '\0';
            key = trim(l);
            value = trim(eq + 1);
            if (pass == 0) {
                if (section[0] == '\0' && strcmp(key, "default") == 0)
                    snprintf(def, sizeof def, "%s", value);
                continue;
            }
            if (strcmp(key, "default") == 0 || (section[0] && strcmp(section, want) != 0))
                continue;
            if (strcmp(key, "password") == 0) {
                free(out->password);
                out->password = strdup(value);
                continue;
            }
            if (is_flag(key)) {
                if (strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
                    strcmp(value, "1") == 0) {
                    char *opt = malloc(strlen(key) + 3);
                    if (opt == NULL || out->argc + 1 > CONFIG_MAX_ARGS) {
                        free(opt);
                        fclose(f);
                        snprintf(err, cap, "%s: too many settings", path);
                        return -1;
                    }
                    sprintf(opt, "--%s", key);
                    out->argv[out->argc++] = opt;
                }
                continue;
            }
            if (add(out, key, value) != 0) {
                fclose(f);
                snprintf(err, cap, "%s: too many settings", path);
                return -1;
            }
        }
        fclose(f);
        if (pass == 1 && !found) {
            snprintf(err, cap, "%s: no [account %s]", path, want);
            config_free(out);
            return -1;
        }
    }
    return 0;
}

void config_free(config_args *c)
{
    int i;
    for (i = 0; i < c->argc; i++)
        free(c->argv[i]);
    if (c->password != NULL) {
        volatile char *p = c->password;
        while (*p)
            *p++ = 0;
        free(c->password);
    }
    memset(c, 0, sizeof *c);
}
