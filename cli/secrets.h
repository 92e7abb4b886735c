/* Where the CLI gets a password or an OAuth2 token: never the command line. */
#ifndef UAVMAIL_CLI_SECRETS_H
#define UAVMAIL_CLI_SECRETS_H

#include <stddef.h>

enum { SECRET_NONE, SECRET_ENV, SECRET_FILE, SECRET_CMD, SECRET_LITERAL };

typedef struct secret_source {
    int kind;
    const char *value; /* variable name, file path, shell command or (config file) the secret */
    char err[300];     /* why the last fetch failed */
} secret_source;

/* Fetch the secret into @p buf; 0, or -1 with the reason in src->err. */
int secret_fetch(secret_source *src, char *buf, size_t cap, size_t *len);
/* Check a secret file's permissions (0600 or stricter): 0, or -1 + err. */
int secret_file_check(const char *path, char *err, size_t cap);

#endif
