/* Test hook: open an outbox over recorded / failing file-system operations. */
#ifndef UAVMAIL_OUTBOX_INT_H
#define UAVMAIL_OUTBOX_INT_H

#include "internal.h"
#include "platform.h"
#include "uavmail/outbox.h"

int uavmail__outbox_open_fs(uavmail_outbox **out, const char *dir,
                            const uavmail_outbox_options *opts, const uavmail__fs *fs);

#endif
