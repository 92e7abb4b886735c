/*
 * Private definitions of libuavmail-flight (outbox.c, qmeta.c, telemetry.c, alert.c).
 */
#ifndef UAVMAIL_FLIGHT_H
#define UAVMAIL_FLIGHT_H

#include "uavmail/error.h"
#include "uavmail/version.h"

/* The flight library calls libuavmail's private functions (UAVMAIL__SHARED), which may change
 * in any release, so it works only next to the libuavmail of its own release.  On ELF systems
 * the dynamic linker enforces that (the UAVMAIL_PRIVATE_<release> version node); Windows DLLs
 * have no symbol versions, so the constructors check it too.  0, or UAVMAIL_ECONFIG when the
 * two libraries come from different releases. */
static inline int uavmail__flight_paired(void)
{
    return uavmail_version() == (unsigned)UAVMAIL_VERSION_NUM ? 0 : UAVMAIL_ECONFIG;
}

#endif
