/* uavmail configuration file: named accounts, one default. */
#ifndef UAVMAIL_CLI_CONFIG_H
#define UAVMAIL_CLI_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_ARGS 256

typedef struct config_args {
    int argc;
    char *argv[CONFIG_MAX_ARGS]; /* "--key", "value" pairs (malloc'ed) */
    char *password;              /* a "password" line, if any (wiped on free) */
} config_args;

/* Read @p path (refused unless mode 0600 or stricter) and turn the settings
 * of @p account (NULL: the file's default) into long options.  Returns 0, or
 * -1 with the reason in @p err (file and line). */
int config_load(const char *path, const char *account, config_args *out, char *err, size_t cap);
void config_free(config_args *c);

#endif
