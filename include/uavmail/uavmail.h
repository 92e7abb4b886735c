/*
 * uavmail - e-mail for drones, ground stations and companion computers.
 * Umbrella header: include this one.
 */
#ifndef UAVMAIL_UAVMAIL_H
#define UAVMAIL_UAVMAIL_H

#include "common.h"
#include "version.h"
#include "error.h"
#include "message.h"
#include "transport.h"
#include "session.h"

#endif /* UAVMAIL_UAVMAIL_H */
