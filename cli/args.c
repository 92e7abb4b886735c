#include <stdio.h>
#include <string.h>

#include "args.h"

void cli_init(cli_parser *p, int argc, char **argv, int first)
{
    p->argc = argc;
    p->argv = argv;
    p->i = first;
    p->err[0] = '\0';
}

int cli_next(cli_parser *p, const cli_opt *t, int *id, const char **arg)
{
    const char *a, *eq, *name;
    size_t nlen;
    if (p->i >= p->argc)
        return 0;
    a = p->argv[p->i++];
    if (a[0] != '-' || a[1] == '\0') {
        snprintf(p->err, sizeof p->err, "unexpected argument \"%s\"", a);
        return -1;
    }
    name = a[1] == '-' ? a + 2 : a + 1;
    eq = strchr(name, '=');
    nlen = eq ? (size_t)(eq - name) : strlen(name);
    for (; t->name != NULL; t++) {
        if (strlen(t->name) != nlen || strncmp(t->name, name, nlen) != 0)
            continue;
        if (a[1] != '-' && nlen != 1)
            continue; /* single dash only for one-letter options */
        *id = t->id;
        *arg = NULL;
        if (!t->has_arg) {
            if (eq != NULL) {
                snprintf(p->err, sizeof p->err, "option --%s takes no value", t->name);
                return -1;
            }
            return 1;
        }
        if (eq != NULL) {
            *arg = eq + 1;
        } else if (p->i < p->argc) {
            *arg = p->argv[p->i++];
        } else {
            snprintf(p->err, sizeof p->err, "option --%s needs a value", t->name);
            return -1;
        }
        return 1;
    }
    snprintf(p->err, sizeof p->err, "unknown option \"%s\"", a);
    return -1;
}
