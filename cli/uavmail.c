#define _POSIX_C_SOURCE 200809L
/*
 * uavmail - command-line front end.
 *
 * Exit codes follow sysexits.h: 0 sent, 64 usage, 65 bad input data,
 * 66 input file missing, 69 permanent failure, 75 temporary failure
 * (retry later), 78 configuration error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uavmail/uavmail.h>

#include "args.h"
#include "config.h"
#include "envelope.h"
#include "secrets.h"

#define EX_OK_ 0
#define EX_USAGE_ 64
#define EX_DATAERR_ 65
#define EX_NOINPUT_ 66
#define EX_UNAVAILABLE_ 69
#define EX_SOFTWARE_ 70
#define EX_IOERR_ 74
#define EX_TEMPFAIL_ 75
#define EX_CONFIG_ 78

#define MAX_LIST 256

static const char *prog = "uavmail";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: uavmail send --server HOST [--port N] [--security auto|tls|starttls|none]\n"
            "                    [--cafile FILE] [--capath DIR] [--user USER CREDENTIAL]\n"
            "                    --from ADDR --to ADDR [--to ADDR ...] [--cc ADDR] [--bcc ADDR]\n"
            "                    --subject TEXT (--body TEXT | --body-file FILE)\n"
            "                    [--html-file FILE] [--attach FILE[;type=T][;name=N] ...]\n"
            "                    [--inline FILE;cid=ID ...] [--header 'Name: value' ...]\n"
            "                    [--reply-to ADDR] [--helo NAME] [--timeout SECONDS] [--trace]\n"
            "                    [--output FILE.eml  (write the message instead of sending)]\n"
            "                    [--dsn success,failure,delay|never] [--tls-session-file FILE]\n"
            "                    [--client-cert FILE.pem --client-key FILE.pem]\n"
            "       uavmail send --server HOST ... (--from ADDR --to ADDR ... | -t)\n"
            "                    --message FILE.eml [--message FILE.eml ...]\n"
            "            prepared messages, all over one connection; -t takes the envelope\n"
            "            from each message's From/To/Cc/Bcc (Bcc is not transmitted)\n"
            "Addresses may be given as \"Display Name <user@example.com>\".\n"
            "       uavmail probe (--server HOST | --provider NAME) [--port N] [--security S]\n"
            "                     [--cafile FILE] [--user USER CREDENTIAL] [--json]\n"
            "            test a configuration: DNS, TCP, TLS mode, certificate, capabilities,\n"
            "            AUTH mechanisms, login (with --user); then a verdict and a fix\n"
            "       uavmail providers   (presets for --provider NAME)\n"
            "       uavmail send --queue DIR [--priority alert|normal|bulk] [--expires SECONDS]\n"
            "                    [--dedup KEY] ...   enqueue durably, then try to deliver\n"
            "       uavmail queue add|list|show ID|flush|remove ID|purge [--all] --queue DIR\n"
            "                    [--json] [--link-down] (flush takes the send options)\n"
            "       uavmail version\n"
            "\n"
            "CREDENTIAL: --password-env VAR | --password-file FILE (mode 0600) |\n"
            "            --password-cmd CMD | --oauth2-token-env VAR | --oauth2-token-cmd CMD\n"
            "            [--auth PLAIN|LOGIN|XOAUTH2|OAUTHBEARER]\n"
            "Passwords are never taken from the command line (they would show in ps).\n"
            "--trace redacts AUTH; --trace-include-secrets (INSECURE) shows it raw.\n"
            "--config FILE [--account NAME]: settings from a private (0600) file with\n"
            "[account NAME] sections and \"default = NAME\"; the command line overrides it.\n"
            "Exit codes: 0 sent, 64 usage, 65 bad input, 66 missing input file,\n"
            "69 permanent failure, 75 temporary failure (retry later), 78 configuration.\n");
}

static int exit_code_for(int err)
{
    switch (err) {
    case UAVMAIL_OK: return EX_OK_;
    case UAVMAIL_EINVAL: return EX_USAGE_;
    case UAVMAIL_EADDRESS:
    case UAVMAIL_EHEADER:
    case UAVMAIL_EENCODING:
        return EX_DATAERR_;
    case UAVMAIL_EFILE: return EX_NOINPUT_;
    case UAVMAIL_ECONFIG: return EX_CONFIG_;
    case UAVMAIL_EINTERNAL: return EX_SOFTWARE_;
    default:
        return uavmail_error_is_temporary(err) ? EX_TEMPFAIL_ : EX_UNAVAILABLE_;
    }
}

static secret_source *report_sources[2];

static void report(const char *what, int rc, const uavmail_error_detail *d)
{
    size_t i;
    for (i = 0; rc == UAVMAIL_ECALLBACK && i < 2; i++)
        if (report_sources[i] != NULL && report_sources[i]->err[0] != '\0')
            fprintf(stderr, "%s: %s\n", prog, report_sources[i]->err);
    const char *msg = uavmail_error_message(d);
    fprintf(stderr, "%s: %s: %s\n", prog, what, msg[0] ? msg : uavmail_strerror(rc));
    if (uavmail_error_smtp_code(d) != 0) {
        const char *enh = uavmail_error_enhanced_code(d);
        fprintf(stderr, "%s: server reply: %d%s%s %s\n", prog, uavmail_error_smtp_code(d),
                enh[0] ? " " : "", enh, uavmail_error_server_reply(d));
    }
    if (uavmail_error_hint(d)[0] != '\0')
        fprintf(stderr, "%s: hint: %s\n", prog, uavmail_error_hint(d));
}

/* Read a whole (small) text file; NULL with errno on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        size_t r;
        if (n == cap) {
            char *nb;
            cap = cap ? cap * 2 : 65536;
            nb = realloc(buf, cap + 1);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void trace_stderr(int dir, const char *line, size_t len, void *ud)
{
    static const char *const prefix[] = {"C: ", "S: ", "* "};
    (void)ud;
    fprintf(stderr, "%s%.*s\n", prefix[dir >= 0 && dir <= 2 ? dir : 2], (int)len, line);
}

enum {
    O_SERVER = 1, O_PORT, O_SECURITY, O_CAFILE, O_CAPATH, O_USER, O_PASSWORD_ENV, O_PASSWORD,
    O_FROM, O_TO, O_CC, O_BCC, O_SUBJECT, O_BODY, O_BODY_FILE, O_ATTACH, O_HELO, O_TIMEOUT,
    O_TRACE, O_HELP, O_OUTPUT, O_HTML_FILE, O_INLINE, O_HEADER, O_REPLY_TO, O_MESSAGE,
    O_HEADERS_ENVELOPE, O_TLS_SESSION_FILE, O_DSN, O_PASSWORD_FILE, O_PASSWORD_CMD,
    O_TOKEN_ENV, O_TOKEN_CMD, O_AUTH, O_TRACE_SECRETS, O_PROVIDER, O_JSON, O_CONFIG, O_ACCOUNT,
    O_QUEUE, O_PRIORITY, O_EXPIRES, O_DEDUP, O_ALL, O_LINK_DOWN, O_CLIENT_CERT, O_CLIENT_KEY
};

static const cli_opt send_opts[] = {
    {"server", 1, O_SERVER},     {"port", 1, O_PORT},         {"security", 1, O_SECURITY},
    {"cafile", 1, O_CAFILE},     {"capath", 1, O_CAPATH},     {"user", 1, O_USER},
    {"password-env", 1, O_PASSWORD_ENV},                      {"password", 1, O_PASSWORD},
    {"from", 1, O_FROM},         {"to", 1, O_TO},             {"cc", 1, O_CC},
    {"bcc", 1, O_BCC},           {"subject", 1, O_SUBJECT},   {"body", 1, O_BODY},
    {"body-file", 1, O_BODY_FILE}, {"attach", 1, O_ATTACH},   {"helo", 1, O_HELO},
    {"timeout", 1, O_TIMEOUT},   {"trace", 0, O_TRACE},       {"help", 0, O_HELP},
    {"h", 0, O_HELP},            {"output", 1, O_OUTPUT},     {"html-file", 1, O_HTML_FILE},
    {"inline", 1, O_INLINE},     {"header", 1, O_HEADER},     {"reply-to", 1, O_REPLY_TO},
    {"message", 1, O_MESSAGE},   {"t", 0, O_HEADERS_ENVELOPE},
    {"tls-session-file", 1, O_TLS_SESSION_FILE},               {"dsn", 1, O_DSN},
    {"password-file", 1, O_PASSWORD_FILE}, {"password-cmd", 1, O_PASSWORD_CMD},
    {"oauth2-token-env", 1, O_TOKEN_ENV},  {"oauth2-token-cmd", 1, O_TOKEN_CMD},
    {"auth", 1, O_AUTH},         {"trace-include-secrets", 0, O_TRACE_SECRETS},
    {"provider", 1, O_PROVIDER}, {"json", 0, O_JSON},
    {"config", 1, O_CONFIG},     {"account", 1, O_ACCOUNT},
    {"queue", 1, O_QUEUE},       {"priority", 1, O_PRIORITY}, {"expires", 1, O_EXPIRES},
    {"dedup", 1, O_DEDUP},       {"all", 0, O_ALL},           {"link-down", 0, O_LINK_DOWN},
    {"client-cert", 1, O_CLIENT_CERT},                        {"client-key", 1, O_CLIENT_KEY},
    {NULL, 0, 0},
};

typedef struct send_args {
    secret_source password, token;
    const char *auth, *password_env, *provider;
    int probe, json;
    const char *queue, *dedup;
    int priority, all, link_down, queue_cmd;
    unsigned expires_s;
    const char *positional[8];
    size_t npositional;
    int trace_secrets;
    const char *client_cert, *client_key;
    const char *server, *cafile, *capath, *user, *from, *subject, *body,
        *body_file, *helo, *output;
    unsigned port;
    int security;
    unsigned timeout_s;
    int trace;
    const char *rcpt[MAX_LIST];
    int rcpt_kind[MAX_LIST];
    size_t nrcpt;
    const char *attach[MAX_LIST]; /* FILE[;type=T][;name=N] or FILE;cid=ID when inline */
    int attach_inline[MAX_LIST];
    size_t nattach;
    const char *header[MAX_LIST];
    size_t nheader;
    const char *html_file, *reply_to, *tls_session_file;
    const char *message[MAX_LIST];
    size_t nmessage;
    int headers_envelope;
    unsigned dsn;
} send_args;

/* "--config FILE [--account NAME]": the file's settings go first, so the
 * command line overrides them.  Returns 0 and the combined arguments. */
static config_args config;
static char *combined[CONFIG_MAX_ARGS * 2 + 4];

static int with_config(int *argc, char ***argv)
{
    const char *path = NULL, *account = NULL;
    char err[400];
    int i, n = 0;
    for (i = 2; i + 1 < *argc; i++) {
        if (strcmp((*argv)[i], "--config") == 0)
            path = (*argv)[i + 1];
        else if (strcmp((*argv)[i], "--account") == 0)
            account = (*argv)[i + 1];
    }
    if (path == NULL) {
        if (account != NULL) {
            fprintf(stderr, "%s: --account needs --config FILE\n", prog);
            return EX_USAGE_;
        }
        return 0;
    }
    if (config_load(path, account, &config, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --config: %s\n", prog, err);
        return EX_CONFIG_;
    }
    if (*argc + config.argc >= (int)(sizeof combined / sizeof combined[0])) {
        fprintf(stderr, "%s: too many arguments\n", prog);
        return EX_USAGE_;
    }
    combined[n++] = (*argv)[0];
    combined[n++] = (*argv)[1];
    for (i = 0; i < config.argc; i++)
        combined[n++] = config.argv[i];
    for (i = 2; i < *argc; i++)
        combined[n++] = (*argv)[i];
    *argc = n;
    *argv = combined;
    return 0;
}

/* A "password" line of the configuration file, unless the command line
 * gives another source. */
static void config_password(send_args *a)
{
    if (config.password != NULL && a->password.kind == SECRET_NONE &&
        a->token.kind == SECRET_NONE) {
        a->password.kind = SECRET_LITERAL;
        a->password.value = config.password;
    }
}

static int password_cb(char *buf, size_t cap, size_t *len, void *ud)
{
    send_args *a = ud;
    return secret_fetch(&a->password, buf, cap, len);
}

static int token_cb(char *buf, size_t cap, size_t *len, int refresh, void *ud)
{
    send_args *a = ud;
    if (refresh && a->trace)
        fprintf(stderr, "* fetching a fresh OAuth2 token\n");
    return secret_fetch(&a->token, buf, cap, len); /* a command is simply run again */
}

static int set_source(secret_source *src, int kind, const char *value, const char *what)
{
    if (src->kind != SECRET_NONE) {
        fprintf(stderr, "%s: give one %s source only\n", prog, what);
        return -1;
    }
    src->kind = kind;
    src->value = value;
    return 0;
}

static int parse_dsn(const char *arg, unsigned *out)
{
    char buf[64], *tok, *save = NULL;
    *out = 0;
    if (strlen(arg) >= sizeof buf)
        return -1;
    strcpy(buf, arg);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "success") == 0)
            *out |= UAVMAIL_DSN_SUCCESS;
        else if (strcmp(tok, "failure") == 0)
            *out |= UAVMAIL_DSN_FAILURE;
        else if (strcmp(tok, "delay") == 0)
            *out |= UAVMAIL_DSN_DELAY;
        else if (strcmp(tok, "never") == 0)
            *out |= UAVMAIL_DSN_NEVER;
        else
            return -1;
    }
    return (*out & UAVMAIL_DSN_NEVER) && *out != UAVMAIL_DSN_NEVER ? -1 : 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v > max || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s%s%s%s\n(try \"uavmail send --help\")\n", prog, what,
            arg ? " \"" : "", arg ? arg : "", arg ? "\"" : "");
    return EX_USAGE_;
}

/* Like cli_next, but a bare word is kept as a positional argument (ids). */
static int cli_next_or_positional(cli_parser *p, const cli_opt *t, int *id, const char **arg,
                                  send_args *a)
{
    while (p->i < p->argc && p->argv[p->i][0] != '-') {
        if (!a->queue_cmd || a->npositional == 8) {
            snprintf(p->err, sizeof p->err, "unexpected argument \"%s\"", p->argv[p->i]);
            return -1;
        }
        a->positional[a->npositional++] = p->argv[p->i++];
    }
    return cli_next(p, t, id, arg);
}

static int parse_send(int argc, char **argv, send_args *a, int probe)
{
    cli_parser p;
    int id, rc;
    const char *arg;
    memset(a, 0, sizeof *a);
    a->probe = probe;
    a->priority = UAVMAIL_PRIORITY_NORMAL;
    a->queue_cmd = probe == 2;
    a->security = UAVMAIL_SECURITY_AUTO;
    cli_init(&p, argc, argv, probe == 2 ? 3 : 2);
    while ((rc = cli_next_or_positional(&p, send_opts, &id, &arg, a)) == 1) {
        switch (id) {
        case O_SERVER: a->server = arg; break;
        case O_PORT:
            if (parse_uint(arg, 65535, &a->port) != 0 || a->port == 0)
                return usage_error("invalid port", arg);
            break;
        case O_SECURITY:
            if (strcmp(arg, "auto") == 0)
                a->security = UAVMAIL_SECURITY_AUTO;
            else if (strcmp(arg, "tls") == 0)
                a->security = UAVMAIL_SECURITY_TLS;
            else if (strcmp(arg, "starttls") == 0)
                a->security = UAVMAIL_SECURITY_STARTTLS;
            else if (strcmp(arg, "none") == 0)
                a->security = UAVMAIL_SECURITY_NONE;
            else
                return usage_error("unknown security (auto, tls, starttls or none):", arg);
            break;
        case O_CAFILE: a->cafile = arg; break;
        case O_CAPATH: a->capath = arg; break;
        case O_CLIENT_CERT: a->client_cert = arg; break;
        case O_CLIENT_KEY: a->client_key = arg; break;
        case O_USER: a->user = arg; break;
        case O_PASSWORD_ENV:
            if (set_source(&a->password, SECRET_ENV, arg, "password") != 0)
                return EX_USAGE_;
            a->password_env = arg;
            break;
        case O_PASSWORD_FILE:
            if (set_source(&a->password, SECRET_FILE, arg, "password") != 0)
                return EX_USAGE_;
            break;
        case O_PASSWORD_CMD:
            if (set_source(&a->password, SECRET_CMD, arg, "password") != 0)
                return EX_USAGE_;
            break;
        case O_TOKEN_ENV:
            if (set_source(&a->token, SECRET_ENV, arg, "OAuth2 token") != 0)
                return EX_USAGE_;
            break;
        case O_TOKEN_CMD:
            if (set_source(&a->token, SECRET_CMD, arg, "OAuth2 token") != 0)
                return EX_USAGE_;
            break;
        case O_AUTH: a->auth = arg; break;
        case O_PROVIDER: a->provider = arg; break;
        case O_JSON: a->json = 1; break;
        case O_QUEUE: a->queue = arg; break;
        case O_PRIORITY:
            if (strcmp(arg, "alert") == 0)
                a->priority = UAVMAIL_PRIORITY_ALERT;
            else if (strcmp(arg, "normal") == 0)
                a->priority = UAVMAIL_PRIORITY_NORMAL;
            else if (strcmp(arg, "bulk") == 0)
                a->priority = UAVMAIL_PRIORITY_BULK;
            else
                return usage_error("priority must be alert, normal or bulk:", arg);
            break;
        case O_EXPIRES:
            if (parse_uint(arg, 365u * 86400u, &a->expires_s) != 0)
                return usage_error("invalid --expires (seconds from now)", arg);
            break;
        case O_DEDUP: a->dedup = arg; break;
        case O_ALL: a->all = 1; break;
        case O_LINK_DOWN: a->link_down = 1; break;
        case O_CONFIG:
        case O_ACCOUNT:
            break; /* read before parsing (with_config) */
        case O_TRACE_SECRETS: a->trace_secrets = 1; break;
        case O_PASSWORD:
            fprintf(stderr, "%s: passwords are never accepted on the command line (other users "
                            "can read it with ps); use --password-env VAR\n",
                    prog);
            return EX_USAGE_;
        case O_FROM: a->from = arg; break;
        case O_TO:
        case O_CC:
        case O_BCC:
            if (a->nrcpt == MAX_LIST)
                return usage_error("too many recipients (at most 256)", NULL);
            a->rcpt_kind[a->nrcpt] = id == O_TO ? UAVMAIL_TO : id == O_CC ? UAVMAIL_CC : UAVMAIL_BCC;
            a->rcpt[a->nrcpt++] = arg;
            break;
        case O_SUBJECT: a->subject = arg; break;
        case O_BODY: a->body = arg; break;
        case O_BODY_FILE: a->body_file = arg; break;
        case O_ATTACH:
        case O_INLINE:
            if (a->nattach == MAX_LIST)
                return usage_error("too many attachments (at most 256)", NULL);
            a->attach_inline[a->nattach] = id == O_INLINE;
            a->attach[a->nattach++] = arg;
            break;
        case O_HEADER:
            if (a->nheader == MAX_LIST)
                return usage_error("too many headers (at most 256)", NULL);
            a->header[a->nheader++] = arg;
            break;
        case O_HTML_FILE: a->html_file = arg; break;
        case O_MESSAGE:
            if (a->nmessage == MAX_LIST)
                return usage_error("too many messages (at most 256)", NULL);
            a->message[a->nmessage++] = arg;
            break;
        case O_HEADERS_ENVELOPE: a->headers_envelope = 1; break;
        case O_TLS_SESSION_FILE: a->tls_session_file = arg; break;
        case O_DSN:
            if (parse_dsn(arg, &a->dsn) != 0)
                return usage_error("--dsn takes never or a list of success,failure,delay:", arg);
            break;
        case O_REPLY_TO: a->reply_to = arg; break;
        case O_HELO: a->helo = arg; break;
        case O_TIMEOUT:
            if (parse_uint(arg, 86400, &a->timeout_s) != 0)
                return usage_error("invalid timeout", arg);
            break;
        case O_TRACE: a->trace = 1; break;
        case O_OUTPUT: a->output = arg; break;
        case O_HELP: usage(stdout); exit(EX_OK_);
        }
    }
    if (rc < 0)
        return usage_error(p.err, NULL);
    if (a->provider != NULL) {
        uavmail_session_options po = UAVMAIL_SESSION_OPTIONS_INIT;
        if (uavmail_provider_preset(a->provider, &po, NULL) != 0)
            return usage_error("unknown provider (see \"uavmail providers\"):", a->provider);
        if (a->server == NULL)
            a->server = po.host;
        if (a->port == 0)
            a->port = po.port;
        if (a->security == UAVMAIL_SECURITY_AUTO)
            a->security = po.security;
    }
    if (a->queue_cmd)
        return 0; /* "uavmail queue ..." checks what each subcommand needs */
    if (a->server == NULL && a->output == NULL && a->queue == NULL)
        return usage_error("--server (or --provider) is required", NULL);
    if (a->nmessage > 0 && (a->subject || a->body || a->body_file || a->html_file ||
                            a->nattach || a->nheader || a->output))
        return usage_error("--message sends prepared messages: composing options do not apply",
                           NULL);
    if (a->headers_envelope && a->nmessage == 0)
        return usage_error("-t takes the envelope from --message files", NULL);
    if (a->from == NULL && !a->headers_envelope && !probe)
        return usage_error("--from is required", NULL);
    if (a->nrcpt == 0 && !a->headers_envelope && !probe)
        return usage_error("at least one --to, --cc or --bcc is required", NULL);
    if (a->body != NULL && a->body_file != NULL)
        return usage_error("give either --body or --body-file, not both", NULL);
    if ((a->client_cert == NULL) != (a->client_key == NULL))
        return usage_error("--client-cert and --client-key go together", NULL);
    if (a->user != NULL && a->password.kind == SECRET_NONE && a->token.kind == SECRET_NONE &&
        config.password == NULL)
        return usage_error("--user needs --password-env, --password-file, --password-cmd, "
                           "--oauth2-token-env or --oauth2-token-cmd",
                           NULL);
    if ((a->password.kind != SECRET_NONE || a->token.kind != SECRET_NONE) && a->user == NULL)
        return usage_error("credentials need --user", NULL);
    if (a->password.kind == SECRET_ENV && getenv(a->password.value) == NULL) {
        fprintf(stderr, "%s: environment variable %s (from --password-env) is not set\n", prog,
                a->password.value);
        return EX_CONFIG_;
    }
    if (a->token.kind == SECRET_ENV && getenv(a->token.value) == NULL) {
        fprintf(stderr, "%s: environment variable %s (from --oauth2-token-env) is not set\n",
                prog, a->token.value);
        return EX_CONFIG_;
    }
    if (a->password.kind == SECRET_FILE) {
        char err[400];
        if (secret_file_check(a->password.value, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --password-file: %s\n", prog, err);
            return EX_CONFIG_;
        }
    }
    return 0;
}

/* Split "Display Name <addr@example.com>" into its parts (in place). */
static const char *split_mailbox(char *spec, const char **name)
{
    size_t n = strlen(spec);
    char *lt = strrchr(spec, '<'), *addr, *end;
    *name = NULL;
    if (lt == NULL || n == 0 || spec[n - 1] != '>')
        return spec;
    addr = lt + 1;
    spec[n - 1] = '\0';
    end = lt;
    while (end > spec && end[-1] == ' ')
        end--;
    *end = '\0';
    if (spec[0] == '"' && end > spec + 1 && end[-1] == '"') {
        end[-1] = '\0';
        spec++;
    }
    *name = spec[0] ? spec : NULL;
    return addr;
}

/* Peel ";key=value" options off the end of an attachment spec. */
static int attach_spec(char *spec, const char **type, const char **name, const char **cid)
{
    char *semi;
    *type = *name = *cid = NULL;
    while ((semi = strrchr(spec, ';')) != NULL) {
        char *kv = semi + 1;
        if (strncmp(kv, "type=", 5) == 0)
            *type = kv + 5;
        else if (strncmp(kv, "name=", 5) == 0)
            *name = kv + 5;
        else if (strncmp(kv, "cid=", 4) == 0)
            *cid = kv + 4;
        else
            break; /* part of the file name */
        *semi = '\0';
    }
    return 0;
}

static int add_mailbox(uavmail_message *m, int kind, const char *spec, int is_from)
{
    char buf[1024];
    const char *name, *addr;
    if (strlen(spec) >= sizeof buf)
        return uavmail_message_add_recipient(m, kind, spec, NULL); /* reports the length */
    strcpy(buf, spec);
    addr = split_mailbox(buf, &name);
    if (is_from == 1)
        return uavmail_message_set_from(m, addr, name);
    if (is_from == 2)
        return uavmail_message_set_reply_to(m, addr, name);
    return uavmail_message_add_recipient(m, kind, addr, name);
}

static int add_parts(const send_args *a, uavmail_message *m)
{
    size_t i;
    int rc = 0;
    for (i = 0; rc == 0 && i < a->nattach; i++) {
        char spec[4096];
        const char *type, *name, *cid;
        if (strlen(a->attach[i]) >= sizeof spec) {
            fprintf(stderr, "%s: attachment argument too long\n", prog);
            return UAVMAIL_EINVAL;
        }
        strcpy(spec, a->attach[i]);
        attach_spec(spec, &type, &name, &cid);
        if (a->attach_inline[i]) {
            if (cid == NULL) {
                fprintf(stderr, "%s: --inline needs FILE;cid=ID\n", prog);
                return UAVMAIL_EINVAL;
            }
            rc = uavmail_message_add_inline_file(m, spec, type, cid);
        } else {
            rc = uavmail_message_attach_file(m, spec, type, name);
        }
    }
    for (i = 0; rc == 0 && i < a->nheader; i++) {
        char h[2048];
        char *colon, *v;
        if (strlen(a->header[i]) >= sizeof h || strchr(a->header[i], ':') == NULL) {
            fprintf(stderr, "%s: --header needs 'Name: value'\n", prog);
            return UAVMAIL_EINVAL;
        }
        strcpy(h, a->header[i]);
        colon = strchr(h, ':');
        *colon = '\0';
        for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
            ;
        rc = uavmail_message_add_header(m, h, v);
    }
    return rc;
}

static int set_body_file(uavmail_message *m, const char *path, int html)
{
    size_t len = 0;
    char *body = read_file(path, &len);
    int rc;
    if (body == NULL) {
        fprintf(stderr, "%s: cannot read %s file \"%s\": %s\n", prog, html ? "HTML" : "body",
                path, strerror(errno));
        return -1;
    }
    rc = html ? uavmail_message_set_html(m, body, len) : uavmail_message_set_text(m, body, len);
    free(body);
    return rc;
}

static int build_message(const send_args *a, uavmail_message **out)
{
    uavmail_message *m;
    size_t i;
    int rc = uavmail_message_new(&m, NULL);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", prog, uavmail_strerror(rc));
        return EX_SOFTWARE_;
    }
    *out = m;
    rc = add_mailbox(m, 0, a->from, 1);
    for (i = 0; rc == 0 && i < a->nrcpt; i++)
        rc = add_mailbox(m, a->rcpt_kind[i], a->rcpt[i], 0);
    if (rc == 0 && a->reply_to != NULL)
        rc = add_mailbox(m, 0, a->reply_to, 2);
    if (rc == 0 && a->subject != NULL)
        rc = uavmail_message_set_subject(m, a->subject);
    if (rc == 0 && a->body_file != NULL && (rc = set_body_file(m, a->body_file, 0)) == -1)
        return EX_NOINPUT_;
    if (rc == 0 && a->body != NULL)
        rc = uavmail_message_set_text(m, a->body, strlen(a->body));
    if (rc == 0 && a->html_file != NULL && (rc = set_body_file(m, a->html_file, 1)) == -1)
        return EX_NOINPUT_;
    if (rc == 0)
        rc = add_parts(a, m);
    if (rc == 0 && a->dsn)
        rc = uavmail_message_set_dsn(m, a->dsn, UAVMAIL_DSN_RET_DEFAULT, NULL);
    if (rc == 0)
        rc = uavmail_message_check(m);
    if (rc != 0) {
        report("invalid message", rc, uavmail_message_last_error(m));
        return exit_code_for(rc);
    }
    return 0;
}

/* Report per-recipient results of message @p k of the last send; returns
 * the number accepted. */
static size_t report_recipients(uavmail_session *s, size_t k)
{
    size_t i, ok = 0;
    for (i = 0; i < uavmail_session_batch_recipient_count(s, k); i++) {
        const char *addr, *reply;
        int code;
        uavmail_session_batch_recipient(s, k, i, &addr, &code, &reply);
        if (code / 100 == 2)
            ok++;
        else
            fprintf(stderr, "%s: recipient <%s> rejected: %d %s\n", prog, addr, code, reply);
    }
    return ok;
}

/* A prepared message (--message FILE) with its envelope. */
static int build_prepared(const send_args *a, const char *path, uavmail_message **out)
{
    uavmail_message *m;
    envelope env;
    char err[600];
    size_t i;
    int rc = uavmail_message_new(&m, NULL);
    if (rc != 0)
        return EX_SOFTWARE_;
    *out = m;
    rc = uavmail_message_set_prepared_file(m, path);
    if (rc == 0 && a->headers_envelope) {
        if (envelope_from_file(path, &env, err, sizeof err) != 0) {
            fprintf(stderr, "%s: -t: %s\n", prog, err);
            return EX_DATAERR_;
        }
        rc = uavmail_message_set_from(m, a->from ? a->from : env.from, NULL);
        for (i = 0; rc == 0 && i < env.nrcpt; i++)
            rc = uavmail_message_add_recipient(m, UAVMAIL_BCC, env.rcpt[i], NULL);
        envelope_free(&env);
    } else if (rc == 0) {
        rc = add_mailbox(m, 0, a->from, 1);
    }
    for (i = 0; rc == 0 && i < a->nrcpt; i++)
        rc = add_mailbox(m, UAVMAIL_BCC, a->rcpt[i], 0); /* envelope only */
    if (rc == 0 && a->dsn)
        rc = uavmail_message_set_dsn(m, a->dsn, UAVMAIL_DSN_RET_DEFAULT, NULL);
    if (rc == 0)
        rc = uavmail_message_check(m);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: ", prog, path);
        report("invalid message", rc, uavmail_message_last_error(m));
        return exit_code_for(rc);
    }
    return 0;
}

static void options_from_args(send_args *a, uavmail_session_options *o_out)
{
    uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
    o.host = a->server;
    o.port = a->port;
    o.security = a->security;
    o.cafile = a->cafile;
    o.capath = a->capath;
    o.client_cert = a->client_cert;
    o.client_key = a->client_key;
    o.username = a->user;
    o.password_cb = a->password.kind != SECRET_NONE ? password_cb : NULL;
    o.password_user_data = a;
    o.token_cb = a->token.kind != SECRET_NONE ? token_cb : NULL;
    o.token_user_data = a;
    o.auth_mechanism = a->auth;
    o.trace_auth_raw = a->trace_secrets;
    o.helo_name = a->helo;
    o.command_timeout_ms = a->timeout_s * 1000u;
    o.connect_timeout_ms = a->timeout_s * 1000u;
    o.tls_session_file = a->tls_session_file;
    if (a->trace)
        o.trace_cb = trace_stderr;
    *o_out = o;
}

static int session_from_args(send_args *a, uavmail_session **s)
{
    uavmail_session_options o;
    int rc;
    options_from_args(a, &o);
    rc = uavmail_session_new(s, &o);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", prog,
                rc == UAVMAIL_ECONFIG
                    ? "configuration refused: security \"none\" is only for a loopback relay "
                      "without a password"
                    : uavmail_strerror(rc));
    return rc;
}

/* Worse of two exit codes: a temporary failure beats success, a permanent
 * one beats both. */
static int worse(int a, int b)
{
    if (a == EX_OK_)
        return b;
    if (b == EX_OK_ || a == b)
        return a;
    return a == EX_TEMPFAIL_ ? b : a;
}

/* Report the outcome @p rc of message @p k of the last send. */
static int report_sent(uavmail_session *s, size_t k, int rc, const char *label,
                       const uavmail_error_detail *detail)
{
    if (rc == 0 || rc == UAVMAIL_ERECIPIENTS) {
        size_t ok = report_recipients(s, k);
        printf("%s: %s accepted for %zu of %zu recipient(s)\n", prog, label ? label : "message",
               ok, uavmail_session_batch_recipient_count(s, k));
    } else {
        if (label)
            fprintf(stderr, "%s: %s:\n", prog, label);
        report("sending failed", rc, detail);
    }
    return rc;
}

/* Send one message and say QUIT in the same round trip. */
static int send_one(uavmail_session *s, uavmail_message *m)
{
    int rc = uavmail_session_send_final(s, m);
    return report_sent(s, 0, rc, NULL, uavmail_session_last_error(s));
}

/* Send the prepared messages (--message) as one batch over one connection:
 * each goes right behind the previous one when the server offers
 * PIPELINING and CHUNKING, and QUIT behind the last.  A message that cannot
 * be built is reported and left out.  Returns the worst exit code. */
static int send_prepared(const send_args *a, uavmail_session *s)
{
    uavmail_message **msgs = calloc(a->nmessage, sizeof *msgs);
    const char **labels = calloc(a->nmessage, sizeof *labels);
    int *res = calloc(a->nmessage, sizeof *res);
    size_t i, n = 0;
    int ex = EX_OK_;
    if (msgs == NULL || labels == NULL || res == NULL) {
        fprintf(stderr, "%s: out of memory\n", prog);
        ex = EX_SOFTWARE_;
    }
    for (i = 0; ex != EX_SOFTWARE_ && i < a->nmessage; i++) {
        uavmail_message *m = NULL;
        int r = build_prepared(a, a->message[i], &m);
        if (r != 0) {
            uavmail_message_free(m);
            ex = worse(ex, r);
            continue;
        }
        msgs[n] = m;
        labels[n++] = a->message[i];
    }
    if (n > 0) {
        (void)uavmail_session_send_batch(s, msgs, n, res, 1);
        for (i = 0; i < n; i++)
            ex = worse(ex, exit_code_for(report_sent(s, i, res[i], labels[i],
                                                     uavmail_session_batch_error(s, i))));
    }
    for (i = 0; i < n; i++)
        uavmail_message_free(msgs[i]);
    free(msgs);
    free(labels);
    free(res);
    return ex;
}

/* ---- the outbox ------------------------------------------------------------------------ */

static void print_outcome(const char *id, int outcome, int code, const char *reply, void *ud)
{
    static const char *const names[] = {"delivered", "bounced", "expired", "dropped"};
    (void)ud;
    printf("%s: %s %s", prog, names[outcome >= 0 && outcome <= 3 ? outcome : 0], id);
    if (code != 0 && outcome != UAVMAIL_OUTCOME_DELIVERED)
        printf(" (%d %s)", code, reply);
    printf("\n");
}

static int open_outbox(const send_args *a, uavmail_outbox **q)
{
    uavmail_outbox_options qo = UAVMAIL_OUTBOX_OPTIONS_INIT;
    int rc;
    qo.outcome_cb = print_outcome;
    rc = uavmail_outbox_open(q, a->queue, &qo);
    if (rc != 0)
        fprintf(stderr, "%s: cannot open the outbox \"%s\": %s\n", prog, a->queue,
                uavmail_strerror(rc));
    return rc;
}

/* Exit status of an enqueue: the outbox not writable (disk full, read-only,
 * I/O error) is EX_IOERR, a full outbox is temporary. */
static int enqueue_status(int rc)
{
    return rc == UAVMAIL_EFILE ? EX_IOERR_ : rc == UAVMAIL_EFULL ? EX_TEMPFAIL_ : exit_code_for(rc);
}

static int enqueue_message(const send_args *a, uavmail_outbox *q, uavmail_message *m)
{
    char id[40];
    int64_t expires = a->expires_s ? (int64_t)time(NULL) + a->expires_s : 0;
    int rc = uavmail_outbox_enqueue(q, m, a->priority, expires, a->dedup, id);
    if (rc != 0) {
        report("cannot queue the message", rc, uavmail_outbox_last_error(q));
        return rc;
    }
    printf("%s: queued %s\n", prog, id);
    fflush(stdout); /* the acknowledgement is visible at once, even if we die next */
    return 0;
}

static int flush_outbox(send_args *a, uavmail_outbox *q)
{
    uavmail_session_options o;
    size_t sent = 0;
    int rc;
    options_from_args(a, &o);
    uavmail_outbox_set_link(q, !a->link_down);
    rc = uavmail_outbox_flush(q, &o, &sent);
    if (rc != 0)
        report("flush stopped", rc, uavmail_outbox_last_error(q));
    printf("%s: %zu message(s) finished\n", prog, sent);
    return rc;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

typedef struct list_ctx {
    int json, count;
    const char *only;
} list_ctx;

static int print_entry(const uavmail_outbox_entry *e, void *ud)
{
    static const char *const states[] = {"queued", "bounced", "expired", "dropped"};
    static const char *const prios[] = {"alert", "normal", "bulk"};
    list_ctx *c = ud;
    if (c->only != NULL && strcmp(c->only, e->id) != 0)
        return 0;
    if (c->json) {
        printf("%s{\"id\": \"%s\", \"state\": \"%s\", \"priority\": \"%s\", "
               "\"attempts\": %u, \"outcome_unknown\": %s, \"created\": %lld, "
               "\"next_attempt\": %lld, \"expires\": %lld, \"size\": %llu, "
               "\"recipients\": %zu, \"delivered\": %zu, \"failed\": %zu, \"message_id\": ",
               c->count ? ", " : "", e->id, states[e->state & 3], prios[e->priority % 3],
               e->attempts, e->outcome_unknown ? "true" : "false", (long long)e->created,
               (long long)e->next_attempt, (long long)e->expires, (unsigned long long)e->size,
               e->recipients, e->delivered, e->failed);
        json_str(e->message_id);
        printf(", \"subject\": ");
        json_str(e->subject);
        printf(", \"last_error\": ");
        json_str(e->last_error);
        printf("}");
    } else {
        long long wait = (long long)(e->next_attempt - (int64_t)time(NULL));
        printf("%-22s %-8s %-6s tries %-3u %s rcpt %zu/%zu/%zu  %s\n", e->id, states[e->state & 3],
               prios[e->priority % 3], e->attempts,
               e->state ? "          " : wait > 0 ? "next in " : "due now   ", e->delivered,
               e->failed, e->recipients, e->subject);
        if (e->state == 0 && wait > 0)
            printf("%47s%llds\n", "", wait);
        if (e->outcome_unknown)
            printf("    outcome of the last attempt unknown: it will be sent again "
                   "(same Message-ID %s)\n",
                   e->message_id);
        if (e->last_error[0])
            printf("    last error: %s\n", e->last_error);
    }
    c->count++;
    return 0;
}

static int cmd_queue(int argc, char **argv)
{
    send_args a;
    uavmail_outbox *q = NULL;
    uavmail_message *m = NULL;
    const char *sub = argc > 2 ? argv[2] : "";
    int rc = with_config(&argc, &argv);
    if (rc != 0)
        return rc;
    rc = parse_send(argc, argv, &a, 2);
    if (rc != 0)
        return rc;
    config_password(&a);
    if (a.queue == NULL)
        return usage_error("uavmail queue needs --queue DIR", NULL);
    if (open_outbox(&a, &q) != 0)
        return EX_CONFIG_;
    if (strcmp(sub, "add") == 0) {
        rc = build_message(&a, &m);
        if (rc == 0)
            rc = enqueue_status(enqueue_message(&a, q, m));
        uavmail_message_free(m);
    } else if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0) {
        list_ctx c = {a.json, 0, NULL};
        if (strcmp(sub, "show") == 0) {
            if (a.npositional != 1) {
                uavmail_outbox_close(q);
                return usage_error("uavmail queue show --queue DIR ID", NULL);
            }
            c.only = a.positional[0];
        }
        if (c.json)
            printf("[");
        uavmail_outbox_list(q, print_entry, &c);
        if (c.json)
            printf("]\n");
        rc = c.only != NULL && c.count == 0 ? EX_DATAERR_ : EX_OK_;
        if (rc != 0)
            fprintf(stderr, "%s: no entry %s\n", prog, c.only);
    } else if (strcmp(sub, "flush") == 0) {
        if (a.server == NULL) {
            uavmail_outbox_close(q);
            return usage_error("uavmail queue flush needs --server (or --provider)", NULL);
        }
        rc = exit_code_for(flush_outbox(&a, q));
    } else if (strcmp(sub, "remove") == 0) {
        size_t i;
        for (i = 0; i < a.npositional; i++) { /* each ID, whatever the others do */
            int r = uavmail_outbox_remove(q, a.positional[i]);
            if (r != 0) {
                report("cannot remove an entry", r, uavmail_outbox_last_error(q));
                if (rc == 0)
                    rc = r == UAVMAIL_EINVAL ? EX_DATAERR_ : exit_code_for(r);
            }
        }
    } else if (strcmp(sub, "purge") == 0) {
        rc = uavmail_outbox_purge(q, a.all);
        if (rc != 0)
            report("cannot purge", rc, uavmail_outbox_last_error(q));
        rc = exit_code_for(rc);
    } else {
        uavmail_outbox_close(q);
        return usage_error("uavmail queue add|list|show|flush|remove|purge --queue DIR", NULL);
    }
    uavmail_outbox_close(q);
    return rc;
}

static int cmd_send(int argc, char **argv)
{
    send_args a;
    uavmail_session *s = NULL;
    uavmail_message *m = NULL;
    int rc = with_config(&argc, &argv), ex = EX_OK_;
    if (rc != 0)
        return rc;
    rc = parse_send(argc, argv, &a, 0);
    if (rc != 0)
        return rc;
    config_password(&a);
    if (a.queue != NULL) {
        /* Enqueue, then try to deliver: exit 0 once it is safely on disk. */
        uavmail_outbox *q = NULL;
        if (a.nmessage != 0)
            return usage_error("--queue takes a composed message, not --message", NULL);
        rc = build_message(&a, &m);
        if (rc == 0 && open_outbox(&a, &q) != 0)
            rc = EX_CONFIG_;
        if (rc == 0)
            rc = enqueue_status(enqueue_message(&a, q, m));
        if (rc == 0 && a.server != NULL)
            flush_outbox(&a, q);
        uavmail_outbox_close(q);
        uavmail_message_free(m);
        return rc;
    }
    if (a.nmessage == 0) {
        rc = build_message(&a, &m);
        if (rc == 0 && a.output != NULL) {
            rc = uavmail_message_write_file(m, a.output);
            if (rc != 0)
                report("cannot write message", rc, uavmail_message_last_error(m));
            rc = exit_code_for(rc);
        }
        if (rc != 0 || a.output != NULL) {
            uavmail_message_free(m);
            return rc;
        }
    }
    report_sources[0] = &a.password;
    report_sources[1] = &a.token;
    rc = session_from_args(&a, &s);
    if (rc != 0) {
        uavmail_message_free(m);
        return exit_code_for(rc);
    }
    if (a.nmessage == 0) {
        ex = exit_code_for(send_one(s, m));
        uavmail_message_free(m);
    } else {
        ex = send_prepared(&a, s);
    }
    if (uavmail_session_quit(s) != 0 && a.trace)
        fprintf(stderr, "%s: note: QUIT was not answered cleanly\n", prog);
    uavmail_session_free(s);
    return ex;
}

static int cmd_probe(int argc, char **argv)
{
    send_args a;
    uavmail_session_options o;
    uavmail_probe_report *r = NULL;
    int rc = with_config(&argc, &argv), verdict;
    if (rc != 0)
        return rc;
    rc = parse_send(argc, argv, &a, 1);
    if (rc != 0)
        return rc;
    config_password(&a);
    if (a.server == NULL)
        return usage_error("--server (or --provider) is required", NULL);
    options_from_args(&a, &o);
    report_sources[0] = &a.password;
    report_sources[1] = &a.token;
    rc = uavmail_probe(&r, &o, a.user != NULL);
    if (rc != 0) {
        fprintf(stderr, "%s: probe failed: %s\n", prog, uavmail_strerror(rc));
        return exit_code_for(rc);
    }
    fputs(a.json ? uavmail_probe_json(r) : uavmail_probe_text(r), stdout);
    if (a.json)
        fputc('\n', stdout);
    verdict = uavmail_probe_verdict(r);
    uavmail_probe_free(r);
    return exit_code_for(verdict);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE_;
    }
    if (strcmp(argv[1], "send") == 0)
        return cmd_send(argc, argv);
    if (strcmp(argv[1], "probe") == 0)
        return cmd_probe(argc, argv);
    if (strcmp(argv[1], "queue") == 0)
        return cmd_queue(argc, argv);
    if (strcmp(argv[1], "providers") == 0) {
        size_t i;
        const char *name;
        for (i = 0; (name = uavmail_provider_name(i)) != NULL; i++) {
            uavmail_session_options o = UAVMAIL_SESSION_OPTIONS_INIT;
            const char *notes;
            uavmail_provider_preset(name, &o, &notes);
            printf("%-14s %s port %u %s\n               %s\n", name, o.host, o.port,
                   o.security == UAVMAIL_SECURITY_TLS ? "tls" : "starttls", notes);
        }
        return EX_OK_;
    }
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("uavmail %s\n", uavmail_version_string());
        return EX_OK_;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EX_OK_;
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n", prog, argv[1]);
    usage(stderr);
    return EX_USAGE_;
}
