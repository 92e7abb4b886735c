/* Preloaded by the flight-pair test: a libuavmail that says it is another release. */
#include "uavmail/uavmail.h"

unsigned uavmail_version(void)
{
    return (unsigned)UAVMAIL_VERSION_NUM + 1u;
}
