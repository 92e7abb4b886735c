/*
 * The password callback of the test programs: the credential comes from the
 * environment variable named by the user data (never from the command line).
 */
#ifndef UAVMAIL_TEST_ENV_PASSWORD_H
#define UAVMAIL_TEST_ENV_PASSWORD_H

#include <stdlib.h>
#include <string.h>

static int password(char *buf, size_t cap, size_t *len, void *ud)
{
    const char *v = getenv((const char *)ud);
    if (v == NULL || strlen(v) > cap)
        return -1;
    *len = strlen(v);
    memcpy(buf, v, *len);
    return 0;
}

#endif
