/* Envelope from a prepared message's header (sendmail -t). */
#ifndef UAVMAIL_CLI_ENVELOPE_H
#define UAVMAIL_CLI_ENVELOPE_H

#include <stddef.h>

#define ENVELOPE_MAX 256

typedef struct envelope {
    char from[512];
    char *rcpt[ENVELOPE_MAX]; /* malloc'ed */
    size_t nrcpt;
} envelope;

/* Read the header of the message file at @p path: From gives the sender,
 * To, Cc and Bcc the recipients.  Returns 0, or -1 with errno / a message
 * in @p err. */
int envelope_from_file(const char *path, envelope *env, char *err, size_t err_cap);
void envelope_free(envelope *env);

#endif
