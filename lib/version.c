#include "internal.h"
#include "tls.h"

unsigned uavmail_version(void)
{
    return UAVMAIL_VERSION_NUM;
}

const char *uavmail_version_string(void)
{
    static char text[64];
    if (text[0] == '\0')
        uavmail__snprintf(text, sizeof text, "%s (%s)", UAVMAIL_VERSION_STRING,
                          uavmail__tls_library());
    return text;
}
