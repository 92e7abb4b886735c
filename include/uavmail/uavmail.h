/*
 * uavmail - e-mail for drones, ground stations and companion computers.
 * Umbrella header: include this one.
 */
#ifndef UAVMAIL_UAVMAIL_H
#define UAVMAIL_UAVMAIL_H

#include "uavmail/common.h"
#include "uavmail/version.h"
#include "uavmail/error.h"
#include "uavmail/message.h"
#include "uavmail/transport.h"
#include "uavmail/session.h"
#include "uavmail/outbox.h"
#include "uavmail/telemetry.h"
#include "uavmail/alert.h"

#endif /* UAVMAIL_UAVMAIL_H */
