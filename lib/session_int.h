/*
 * What the probe needs from a session (lib/probe.c).
 */
#ifndef UAVMAIL_SESSION_INT_H
#define UAVMAIL_SESSION_INT_H

#include "smtp.h"
#include "tls.h"

/* Connect, secure, EHLO (and AUTH if a user is configured), then QUIT. */
int uavmail__session_connect_and_quit(uavmail_session *s);
const uavmail__smtp *uavmail__session_engine(const uavmail_session *s);
const uavmail__tls_report *uavmail__session_tls_report(const uavmail_session *s);
uavmail_error_detail *uavmail__session_err(uavmail_session *s);
/* Tests: pretend the kept connection has been idle @p ms longer. */
void uavmail__session_idle_for(uavmail_session *s, uint64_t ms);

#endif
