/* Minimal long-option parser (portable; no getopt_long). */
#ifndef UAVMAIL_CLI_ARGS_H
#define UAVMAIL_CLI_ARGS_H

typedef struct cli_opt {
    const char *name; /* without the leading "--"; a one-letter name also matches "-x" */
    int has_arg;
    int id;
} cli_opt;

typedef struct cli_parser {
    int argc;
    char **argv;
    int i;
    char err[256];
} cli_parser;

void cli_init(cli_parser *p, int argc, char **argv, int first);
/* 1: an option (*id, *arg set); 0: no more options; -1: error in p->err. */
int cli_next(cli_parser *p, const cli_opt *table, int *id, const char **arg);

#endif
