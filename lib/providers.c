/*
 * Submission settings of common providers, so a ground station's settings
 * dialog (or the CLI's --provider) only asks for the account.
 */
#include <string.h>

#include "internal.h"

typedef struct provider {
    const char *name;
    const char *host;
    unsigned port;
    int security;
    const char *notes;
} provider;

static const provider providers[] = {
    {"gmail", "smtp.gmail.com", 465, UAVMAIL_SECURITY_TLS,
     "user name: the full Gmail address; password: an app password (two-factor sign-in "
     "required) or an OAuth2 token with scope https://mail.google.com/ (XOAUTH2)"},
    {"office365", "smtp.office365.com", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name: the mailbox address; Microsoft 365 disables passwords (5.7.139) by default: "
     "use an OAuth2 token (XOAUTH2) with scope https://outlook.office.com/SMTP.Send"},
    {"outlook", "smtp-mail.outlook.com", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name: the Outlook.com address; an OAuth2 token (XOAUTH2) is required for most "
     "accounts"},
    {"yahoo", "smtp.mail.yahoo.com", 465, UAVMAIL_SECURITY_TLS,
     "user name: the Yahoo address; password: an app password"},
    {"icloud", "smtp.mail.me.com", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name: the iCloud address; password: an app-specific password"},
    {"fastmail", "smtp.fastmail.com", 465, UAVMAIL_SECURITY_TLS,
     "user name: the Fastmail address; password: an app password"},
    {"zoho", "smtp.zoho.com", 465, UAVMAIL_SECURITY_TLS,
     "user name: the Zoho address; password: an app-specific password with two-factor sign-in"},
    {"sendgrid", "smtp.sendgrid.net", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name: the literal word \"apikey\"; password: the API key; the From address must be a "
     "verified sender"},
    {"mailgun", "smtp.mailgun.org", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name and password: the domain's SMTP credentials (postmaster@YOUR-DOMAIN)"},
    {"mailgun-eu", "smtp.eu.mailgun.org", 587, UAVMAIL_SECURITY_STARTTLS,
     "as mailgun, for domains in the EU region"},
    {"ses-us-east-1", "email-smtp.us-east-1.amazonaws.com", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name and password: SES SMTP credentials (not the AWS access keys)"},
    {"ses-eu-west-1", "email-smtp.eu-west-1.amazonaws.com", 587, UAVMAIL_SECURITY_STARTTLS,
     "user name and password: SES SMTP credentials (not the AWS access keys)"},
};

const char *uavmail_provider_name(size_t index)
{
    return index < UAVMAIL__ARRAY_LEN(providers) ? providers[index].name : NULL;
}

int uavmail_provider_preset(const char *name, uavmail_session_options *opts, const char **notes)
{
    size_t i;
    if (name == NULL || opts == NULL || opts->version < 1)
        return UAVMAIL_EINVAL;
    for (i = 0; i < UAVMAIL__ARRAY_LEN(providers); i++) {
        if (uavmail__ascii_casecmp(name, providers[i].name) != 0)
            continue;
        opts->host = providers[i].host;
        opts->port = providers[i].port;
        opts->security = providers[i].security;
        if (notes != NULL)
            *notes = providers[i].notes;
        return 0;
    }
    return UAVMAIL_EINVAL;
}
