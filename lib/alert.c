/*
 * Alert rules: thresholds with hysteresis and debounce, severity filters on
 * event streams, and a per-key repeat interval whose suppressed alerts are
 * counted and reported as one digest when the interval ends.  All times come
 * from the caller.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "flight.h"
#include "internal.h"
#include "uavmail/alert.h"
#include "uavmail/telemetry.h"

#define AL_MAX_RULES 64
#define AL_NAME 33
#define AL_TEXT 201

typedef struct keystate {
    char key[AL_NAME];
    int64_t repeat_us;
    int sent_any;
    int64_t last_sent;
    unsigned suppressed;
    int64_t first_suppressed;
    int last_severity, worst_severity;
    char last_text[AL_TEXT], worst_text[AL_TEXT];
} keystate;

typedef struct rule {
    char source[AL_NAME];
    int op;
    double trigger, clear;
    int64_t hold_us;
    int severity;
    char text[AL_TEXT];
    int has_text;
    keystate *ks;
    int active, pending;
    int64_t since;
} rule;

struct uavmail_alerts {
    uavmail__alloc alloc;
    uavmail_error_detail err;
    int64_t repeat_us, now; /* now: the latest time seen (earlier times count as it) */
    uavmail_alert_cb cb;
    void *user_data;
    size_t nrules, nkeys;
    rule rules[AL_MAX_RULES];
    keystate keys[AL_MAX_RULES];
};

/* Keys and sources: 1-32 letters, digits, '_', '-' or '.'. */
static int valid_key(const char *s)
{
    return uavmail__valid_name(s, AL_NAME - 1, "_-.");
}

int uavmail_alert_rule_init(uavmail_alert_rule *r, unsigned version)
{
    if (!r || version != UAVMAIL_ALERT_RULE_VERSION)
        return UAVMAIL_EINVAL;
    memset(r, 0, sizeof *r);
    r->version = version;
    r->op = UAVMAIL_ALERT_ABOVE;
    r->clear = NAN;
    r->repeat_s = -1;
    r->severity = UAVMAIL_SEV_WARNING;
    return 0;
}

int uavmail_alerts_options_init(uavmail_alerts_options *o, unsigned version)
{
    if (!o || version != UAVMAIL_ALERTS_OPTIONS_VERSION)
        return UAVMAIL_EINVAL;
    memset(o, 0, sizeof *o);
    o->version = version;
    o->repeat_s = 300;
    return 0;
}

static int64_t seconds_to_us(double s)
{
    return (int64_t)(s * 1e6 + 0.5);
}

int uavmail_alerts_new(uavmail_alerts **out, const uavmail_alerts_options *o)
{
    uavmail__alloc al;
    uavmail_alerts *a;
    if (!out)
        return UAVMAIL_EINVAL;
    *out = NULL;
    if (uavmail__flight_paired() != 0)
        return UAVMAIL_ECONFIG;
    if (!o || o->version != UAVMAIL_ALERTS_OPTIONS_VERSION || !o->cb || !isfinite(o->repeat_s) ||
        o->repeat_s < 0 || o->repeat_s > 1e7 || uavmail__alloc_init(&al, o->allocator) != 0)
        return UAVMAIL_EINVAL;
    a = uavmail__calloc(&al, 1, sizeof *a);
    if (!a)
        return UAVMAIL_ENOMEM;
    a->alloc = al;
    a->repeat_us = seconds_to_us(o->repeat_s);
    a->cb = o->cb;
    a->user_data = o->user_data;
    *out = a;
    return 0;
}

void uavmail_alerts_free(uavmail_alerts *a)
{
    if (a)
        uavmail__free(&a->alloc, a);
}

const uavmail_error_detail *uavmail_alerts_last_error(const uavmail_alerts *a)
{
    return a ? &a->err : NULL;
}

int uavmail_alerts_add(uavmail_alerts *a, const uavmail_alert_rule *r)
{
    rule *nr;
    keystate *ks = NULL;
    size_t i;
    if (!a)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&a->err);
    if (!r || r->version != UAVMAIL_ALERT_RULE_VERSION)
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL, "rule missing or of unknown version");
    if (!valid_key(r->key))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "alert key '%s': use 1-32 letters, digits, '_', '-' or '.'",
                                r->key ? r->key : "(null)");
    if (!valid_key(r->source))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "rule '%s': source '%s' is not a valid name", r->key,
                                r->source ? r->source : "(null)");
    if (r->op < UAVMAIL_ALERT_ABOVE || r->op > UAVMAIL_ALERT_SEVERITY || !isfinite(r->trigger) ||
        fabs(r->trigger) > 1e15 || (isfinite(r->clear) && fabs(r->clear) > 1e15))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "rule '%s': unknown comparison, or no (or an absurd) trigger value",
                                r->key);
    if (r->op == UAVMAIL_ALERT_SEVERITY && (r->trigger < 0 || r->trigger > 7))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "rule '%s': a severity rule's trigger is a severity, 0-7", r->key);
    if (isfinite(r->clear) && ((r->op == UAVMAIL_ALERT_ABOVE && r->clear > r->trigger) ||
                               (r->op == UAVMAIL_ALERT_BELOW && r->clear < r->trigger)))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "rule '%s': the clear level must be on the safe side of the "
                                "trigger (%s it)",
                                r->key, r->op == UAVMAIL_ALERT_ABOVE ? "at or below" : "at or above");
    if (!(r->hold_s >= 0 && r->hold_s <= 1e6) || !(r->repeat_s <= 1e7) || r->severity < 0 ||
        r->severity > 7 || (r->text && strlen(r->text) >= AL_TEXT))
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL,
                                "rule '%s': hold, repeat, severity (0-7) or text (200 bytes) "
                                "out of range",
                                r->key);
    if (a->nrules == AL_MAX_RULES)
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL, "more than %d rules", AL_MAX_RULES);
    for (i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].key, r->key) == 0)
            ks = &a->keys[i];
    if (!ks) {
        ks = &a->keys[a->nkeys++];
        memset(ks, 0, sizeof *ks);
        uavmail__strlcpy(ks->key, r->key, sizeof ks->key);
        ks->repeat_us = r->repeat_s >= 0 ? seconds_to_us(r->repeat_s) : a->repeat_us;
    }
    nr = &a->rules[a->nrules++];
    memset(nr, 0, sizeof *nr);
    uavmail__strlcpy(nr->source, r->source, sizeof nr->source);
    nr->op = r->op;
    nr->trigger = r->trigger;
    nr->clear = isfinite(r->clear) ? r->clear : r->trigger;
    nr->hold_us = seconds_to_us(r->hold_s);
    nr->severity = r->severity;
    nr->ks = ks;
    if (r->text) {
        uavmail__clean_text(nr->text, sizeof nr->text, r->text);
        nr->has_text = 1;
    }
    return 0;
}

/* ---- the one-line rule syntax -------------------------------------------------------- */

typedef struct lexer {
    const char *s;
    size_t i;
} lexer;

static void skip_ws(lexer *lx)
{
    while (lx->s[lx->i] == ' ' || lx->s[lx->i] == '\t')
        lx->i++;
}

/* A word of name characters; returns its length (0: none). */
static size_t word(lexer *lx, char *out, size_t cap)
{
    size_t n = 0;
    char c;
    skip_ws(lx);
    while ((c = lx->s[lx->i + n]) != '\0' &&
           (uavmail__is_alpha((unsigned char)c) || uavmail__is_digit((unsigned char)c) ||
            c == '_' || c == '-' || c == '.'))
        n++;
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, lx->s + lx->i, n);
    out[n] = '\0';
    lx->i += n;
    return n;
}

/* A decimal number, '.' as the point, whatever the locale; 0 or -1. */
static int number(lexer *lx, double *out)
{
    double v = 0, scale = 1;
    int neg = 0, digits = 0;
    skip_ws(lx);
    if (lx->s[lx->i] == '-' || lx->s[lx->i] == '+')
        neg = lx->s[lx->i++] == '-';
    while (uavmail__is_digit((unsigned char)lx->s[lx->i]) && digits < 15) {
        v = v * 10 + (lx->s[lx->i++] - '0');
        digits++;
    }
    if (lx->s[lx->i] == '.') {
        lx->i++;
        while (uavmail__is_digit((unsigned char)lx->s[lx->i]) && digits < 15) {
            scale /= 10;
            v += (lx->s[lx->i++] - '0') * scale;
            digits++;
        }
    }
    if (digits == 0 || uavmail__is_digit((unsigned char)lx->s[lx->i]))
        return -1;
    *out = neg ? -v : v;
    return 0;
}

static int severity_from(const char *w)
{
    static const char *const names[] = {"emergency", "alert", "critical", "error",
                                        "warning", "notice", "info", "debug"};
    int i;
    if (w[0] >= '0' && w[0] <= '7' && w[1] == '\0')
        return w[0] - '0';
    for (i = 0; i < 8; i++)
        if (uavmail__ascii_casecmp(w, names[i]) == 0)
            return i;
    return -1;
}

static int syntax(uavmail_alerts *a, const lexer *lx, const char *expected)
{
    return uavmail__err_set(&a->err, UAVMAIL_EINVAL, "alert rule, column %lu: expected %s",
                            (unsigned long)lx->i + 1, expected);
}

int uavmail_alerts_parse(uavmail_alerts *a, const char *line)
{
    uavmail_alert_rule r;
    lexer lx;
    char key[AL_NAME], source[AL_NAME], kw[AL_NAME], sev[AL_NAME];
    double v;
    size_t start;
    if (!a)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&a->err);
    if (!line)
        return uavmail__err_set(&a->err, UAVMAIL_EINVAL, "no alert rule");
    lx.s = line;
    lx.i = 0;
    uavmail_alert_rule_init(&r, UAVMAIL_ALERT_RULE_VERSION);
    if (!word(&lx, key, sizeof key))
        return syntax(a, &lx, "a rule key (letters, digits, '_', '-', '.')");
    skip_ws(&lx);
    if (lx.s[lx.i] != ':')
        return syntax(a, &lx, "':' after the key");
    lx.i++;
    if (!word(&lx, source, sizeof source))
        return syntax(a, &lx, "a source name such as remaining, voltage or statustext");
    skip_ws(&lx);
    if (lx.s[lx.i] == '<' && lx.s[lx.i + 1] == '=') {
        r.op = UAVMAIL_ALERT_SEVERITY;
        lx.i += 2;
        skip_ws(&lx);
        start = lx.i;
        if (!word(&lx, sev, sizeof sev) || severity_from(sev) < 0) {
            lx.i = start;
            return syntax(a, &lx, "a severity (emergency..debug or 0-7)");
        }
        r.trigger = severity_from(sev);
    } else if (lx.s[lx.i] == '<' || lx.s[lx.i] == '>') {
        r.op = lx.s[lx.i] == '<' ? UAVMAIL_ALERT_BELOW : UAVMAIL_ALERT_ABOVE;
        lx.i++;
        if (number(&lx, &r.trigger) != 0)
            return syntax(a, &lx, "a number");
    } else {
        return syntax(a, &lx, "'<', '>' or '<='");
    }
    for (;;) {
        skip_ws(&lx);
        if (lx.s[lx.i] == '\0' || lx.s[lx.i] == '#')
            break;
        start = lx.i;
        if (!word(&lx, kw, sizeof kw))
            return syntax(a, &lx, "clear, hold, repeat, severity or text");
        if (strcmp(kw, "text") == 0) {
            skip_ws(&lx);
            r.text = lx.s + lx.i;
            if (!*r.text)
                return syntax(a, &lx, "the alert text");
            break;
        } else if (strcmp(kw, "severity") == 0) {
            skip_ws(&lx);
            start = lx.i;
            if (!word(&lx, sev, sizeof sev) || severity_from(sev) < 0) {
                lx.i = start;
                return syntax(a, &lx, "a severity (emergency..debug or 0-7)");
            }
            r.severity = severity_from(sev);
        } else if (strcmp(kw, "clear") == 0 || strcmp(kw, "hold") == 0 ||
                   strcmp(kw, "repeat") == 0) {
            if (number(&lx, &v) != 0)
                return syntax(a, &lx, "a number");
            if (kw[0] == 'c')
                r.clear = v;
            else if (kw[0] == 'h')
                r.hold_s = v;
            else
                r.repeat_s = v;
        } else {
            lx.i = start;
            return syntax(a, &lx, "clear, hold, repeat, severity or text");
        }
    }
    r.key = key;
    r.source = source;
    return uavmail_alerts_add(a, &r);
}

/* ---- evaluation ---------------------------------------------------------------------- */

static void fmt_value(char *buf, size_t cap, double v)
{
    double a = fabs(v);
    long long ip;
    int frac;
    if (!isfinite(v)) {
        uavmail__strlcpy(buf, "?", cap);
        return;
    }
    if (a >= 1e15) {
        uavmail__snprintf(buf, cap, "%.0f", v);
        return;
    }
    ip = (long long)(a * 100 + 0.5);
    frac = (int)(ip % 100);
    ip /= 100;
    if (frac == 0)
        uavmail__snprintf(buf, cap, "%s%lld", v < 0 && ip ? "-" : "", ip);
    else if (frac % 10 == 0)
        uavmail__snprintf(buf, cap, "%s%lld.%d", v < 0 ? "-" : "", ip, frac / 10);
    else
        uavmail__snprintf(buf, cap, "%s%lld.%02d", v < 0 ? "-" : "", ip, frac);
}

/* Rule text with "{value}" replaced. */
static void render_raw(const rule *r, double v, char *out, size_t cap);

/* Rule text with "{value}" replaced, valid UTF-8 within @p cap. */
static void render_text(const rule *r, double v, char *out, size_t cap)
{
    char raw[AL_TEXT + 64];
    render_raw(r, v, raw, sizeof raw);
    uavmail__clean_text(out, cap, raw);
}

static void render_raw(const rule *r, double v, char *out, size_t cap)
{
    char val[48];
    const char *p, *hit;
    size_t o = 0;
    fmt_value(val, sizeof val, v);
    if (!r->has_text) {
        char trig[48];
        fmt_value(trig, sizeof trig, r->trigger);
        uavmail__snprintf(out, cap, "%s: %s is %s (%s %s)", r->ks->key, r->source, val,
                          r->op == UAVMAIL_ALERT_ABOVE ? "above" : "below", trig);
        return;
    }
    for (p = r->text; (hit = strstr(p, "{value}")) != NULL; p = hit + 7) {
        size_t n = (size_t)(hit - p), vl = strlen(val);
        if (o + n + vl >= cap)
            break;
        memcpy(out + o, p, n);
        memcpy(out + o + n, val, vl);
        o += n + vl;
    }
    uavmail__strlcpy(out + o, p, cap - o);
}

static int deliver(uavmail_alerts *a, keystate *ks, const char *text, int severity, double value,
                   int64_t t, int digest)
{
    uavmail_alert al;
    al.key = ks->key;
    al.text = text;
    al.severity = severity;
    al.value = value;
    al.time_us = t;
    al.suppressed = ks->suppressed;
    al.digest = digest;
    ks->sent_any = 1;
    ks->last_sent = t;
    ks->suppressed = 0;
    return a->cb(&al, a->user_data) ? uavmail__err_set(&a->err, UAVMAIL_ECALLBACK,
                                                       "the alert callback asked to stop")
                                    : 0;
}

static int fire(uavmail_alerts *a, keystate *ks, const char *text, int severity, double value,
                int64_t t)
{
    if (ks->sent_any && t - ks->last_sent < ks->repeat_us) {
        if (ks->suppressed++ == 0) {
            ks->first_suppressed = t;
            ks->worst_severity = 8;
        }
        ks->last_severity = severity;
        uavmail__clean_text(ks->last_text, sizeof ks->last_text, text);
        if (severity < ks->worst_severity) { /* the digest must not hide the worst one */
            ks->worst_severity = severity;
            uavmail__clean_text(ks->worst_text, sizeof ks->worst_text, text);
        }
        return 0;
    }
    return deliver(a, ks, text, severity, value, t, 0);
}

static int digest(uavmail_alerts *a, keystate *ks, int64_t t)
{
    char text[2 * AL_TEXT + 128];
    int64_t sec = ks->first_suppressed / 1000000, sod = ((sec % 86400) + 86400) % 86400;
    int n = uavmail__snprintf(text, sizeof text, "%u more '%s' alert%s since %02d:%02d:%02dZ",
                              ks->suppressed, ks->key, ks->suppressed == 1 ? "" : "s",
                              (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60));
    if (n > 0 && ks->worst_severity < ks->last_severity)
        uavmail__snprintf(text + n, sizeof text - (size_t)n, "; worst: %s; last: %s",
                          ks->worst_text, ks->last_text);
    else if (n > 0)
        uavmail__snprintf(text + n, sizeof text - (size_t)n, "; last: %s", ks->last_text);
    return deliver(a, ks, text, ks->worst_severity, NAN, t, 1);
}

int uavmail_alerts_tick(uavmail_alerts *a, int64_t t)
{
    size_t i;
    if (!a)
        return UAVMAIL_EINVAL;
    t = a->now = t > a->now ? t : a->now;
    for (i = 0; i < a->nkeys; i++) {
        keystate *ks = &a->keys[i];
        if (ks->suppressed && t - ks->last_sent >= ks->repeat_us && digest(a, ks, t) != 0)
            return UAVMAIL_ECALLBACK;
    }
    return 0;
}

int uavmail_alerts_flush(uavmail_alerts *a, int64_t t)
{
    size_t i;
    if (!a)
        return UAVMAIL_EINVAL;
    for (i = 0; i < a->nkeys; i++)
        if (a->keys[i].suppressed && digest(a, &a->keys[i], t) != 0)
            return UAVMAIL_ECALLBACK;
    return 0;
}

int uavmail_alerts_value(uavmail_alerts *a, const char *source, double v, int64_t t)
{
    size_t i;
    int rc;
    if (!a || !source)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&a->err);
    t = a->now = t > a->now ? t : a->now;
    if (!isfinite(v))
        return uavmail_alerts_tick(a, t);
    for (i = 0; i < a->nrules; i++) {
        rule *r = &a->rules[i];
        int cond, cleared;
        if (r->op == UAVMAIL_ALERT_SEVERITY || strcmp(r->source, source) != 0)
            continue;
        cond = r->op == UAVMAIL_ALERT_ABOVE ? v > r->trigger : v < r->trigger;
        cleared = r->op == UAVMAIL_ALERT_ABOVE ? v <= r->clear : v >= r->clear;
        if (r->active) {
            if (cleared)
                r->active = r->pending = 0;
            continue;
        }
        if (!cond) {
            r->pending = 0;
            continue;
        }
        if (!r->pending) {
            r->pending = 1;
            r->since = t;
        }
        if (t - r->since >= r->hold_us) {
            char text[AL_TEXT + 64];
            r->active = 1;
            r->pending = 0;
            render_text(r, v, text, sizeof text);
            if (fire(a, r->ks, text, r->severity, v, t) != 0)
                return UAVMAIL_ECALLBACK;
        }
    }
    (void)rc;
    return uavmail_alerts_tick(a, t); /* digests of the other keys whose interval ended */
}

int uavmail_alerts_event(uavmail_alerts *a, const char *source, int severity, const char *text,
                         int64_t t)
{
    size_t i;
    int rc;
    if (!a || !source || !text || severity < 0 || severity > 7)
        return UAVMAIL_EINVAL;
    uavmail__err_clear(&a->err);
    t = a->now = t > a->now ? t : a->now;
    for (i = 0; i < a->nrules; i++) {
        rule *r = &a->rules[i];
        char raw[2 * AL_TEXT + 8], buf[AL_TEXT];
        if (r->op != UAVMAIL_ALERT_SEVERITY || strcmp(r->source, source) != 0 ||
            severity > (int)r->trigger)
            continue;
        if (r->has_text) /* "rule text: event text" */
            uavmail__snprintf(raw, sizeof raw, "%s: %s", r->text, text);
        else
            uavmail__strlcpy(raw, text, sizeof raw);
        uavmail__clean_text(buf, sizeof buf, raw); /* radio text: no CR/LF, valid UTF-8 */
        if (fire(a, r->ks, buf, severity, NAN, t) != 0)
            return UAVMAIL_ECALLBACK;
    }
    (void)rc;
    return uavmail_alerts_tick(a, t);
}
