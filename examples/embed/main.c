/* SPDX-License-Identifier: MIT */
/*
 * maillimit-demo: embed libmaillimit in a program.
 *
 *   maillimit-demo [CONFIG]
 *
 * Loads CONFIG (default: the demo.conf beside this file), then "sends" mail at fixed,
 * increasing times starting 2024-01-01 10:00:00 UTC, one message every 30 seconds:
 *   - 25 messages from the mailbox ceo@acme.example (SMTP-authenticated user),
 *   - 5 messages of script mail from the website acme.example (PHP mail()),
 *   - 1 message each from the unregistered mailbox info@acme.example, the exempt mailbox
 *     news@acme.example and the system user acme_web (a cron job),
 * printing one line per verdict, then the status of the mailbox, its domain and its
 * subscription. The times are explicit, so the output is the same on every run.
 * Uses only the public API (include/maillimit.h).
 */
#include <maillimit.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MAILLIMIT_DEMO_CONF
#define MAILLIMIT_DEMO_CONF "demo.conf"
#endif

enum { DEMO_START = 1704103200, DEMO_STEP = 30 }; /* 2024-01-01 10:00:00 UTC, 30 s apart */

static const char *level_name(int level)
{
    switch (level) {
    case MAILLIMIT_LEVEL_SERVER: return "server";
    case MAILLIMIT_LEVEL_PLAN: return "plan";
    case MAILLIMIT_LEVEL_SUBSCRIPTION: return "subscription";
    case MAILLIMIT_LEVEL_DOMAIN: return "domain";
    case MAILLIMIT_LEVEL_MAILBOX: return "mailbox";
    default: return "-";
    }
}

static const char *window_name(int window)
{
    switch (window) {
    case MAILLIMIT_WINDOW_HOUR: return "hour";
    case MAILLIMIT_WINDOW_DAY: return "day";
    default: return "-";
    }
}

static const char *reason_text(int reason)
{
    switch (reason) {
    case MAILLIMIT_REASON_NONE: return "within limits";
    case MAILLIMIT_REASON_LIMIT: return "limit reached";
    case MAILLIMIT_REASON_EXEMPT: return "exempt";
    case MAILLIMIT_REASON_DISABLED: return "limits switched off";
    case MAILLIMIT_REASON_UNKNOWN: return "unknown sender";
    case MAILLIMIT_REASON_NOT_ALLOWED: return "sendmail not allowed";
    default: return "?";
    }
}

/* How a sender is attributed, as the MTA integration would see it. */
static const char *attribution(int level)
{
    switch (level) {
    case MAILLIMIT_LEVEL_MAILBOX: return "mailbox";
    case MAILLIMIT_LEVEL_DOMAIN: return "script";
    case MAILLIMIT_LEVEL_SUBSCRIPTION: return "sysuser";
    default: return "?";
    }
}

/* "unlimited" for -1, else the number. */
static const char *amount(char *buf, size_t len, int64_t v)
{
    if (v < 0)
        snprintf(buf, len, "unlimited");
    else
        snprintf(buf, len, "%" PRId64, v);
    return buf;
}

/* "never" for -1, else the seconds. */
static const char *seconds(char *buf, size_t len, int64_t v)
{
    if (v < 0)
        snprintf(buf, len, "never");
    else
        snprintf(buf, len, "%" PRId64, v);
    return buf;
}

static const char *clock_of(char *buf, size_t len, int64_t t)
{
    int64_t s = t % 86400;
    snprintf(buf, len, "%02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
    return buf;
}

static void die(const char *call, int rc, const char *detail)
{
    fprintf(stderr, "maillimit-demo: %s: %s%s%s\n", call, maillimit_strerror(rc),
            detail && *detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void send_one(maillimit *ml, int level, const char *sender, int64_t now)
{
    maillimit_verdict v;
    char t[16], lim[24], cnt[24], ra[24];
    int rc;

    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    rc = maillimit_decide(ml, level, sender, 1, now, &v);
    if (rc != 0)
        die("maillimit_decide", rc, sender);
    printf("%s  %-7s  %-19s  %-7s  %-20s  %-12s  %-6s  %5s  %9s  %11s\n",
           clock_of(t, sizeof t, now), attribution(level), sender,
           v.decision == MAILLIMIT_ALLOW ? "ALLOW" : "DENY", reason_text(v.reason),
           level_name(v.level), window_name(v.window), amount(cnt, sizeof cnt, v.count),
           amount(lim, sizeof lim, v.limit), seconds(ra, sizeof ra, v.retry_after));
}

static void show_status(maillimit *ml, int level, const char *name, int64_t now)
{
    maillimit_status s;
    char lim[24], rem[24], ra[24];
    int rc;

    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    rc = maillimit_status_get(ml, level, name, MAILLIMIT_WINDOW_HOUR, now, &s);
    if (rc != 0)
        die("maillimit_status_get", rc, name);
    printf("%-12s  %-17s  %-11s  %5" PRId64 "  %9s  %9s  %-12s  %11s  %11" PRId64 "\n",
           level_name(level), name, s.sending ? "sending" : "not sending", s.count,
           amount(lim, sizeof lim, s.limit), amount(rem, sizeof rem, s.remaining),
           level_name(s.blocked_by), seconds(ra, sizeof ra, s.retry_after), s.reset_after);
}

int main(int argc, char **argv)
{
    const char *conf = argc > 1 ? argv[1] : MAILLIMIT_DEMO_CONF;
    char err[512] = "";
    char t[16];
    maillimit *ml = NULL;
    int64_t now = DEMO_START;
    int rc, i;

    if (argc > 2 || (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
        fprintf(stderr, "usage: maillimit-demo [CONFIG]\n(default CONFIG: %s)\n",
                MAILLIMIT_DEMO_CONF);
        return argc > 2 ? 2 : 0;
    }
    rc = maillimit_new(&ml);
    if (rc != 0)
        die("maillimit_new", rc, NULL);
    rc = maillimit_config_load(ml, conf, err, sizeof err);
    if (rc != 0)
        die("maillimit_config_load", rc, err);

    printf("libmaillimit %s, configuration %s\n", maillimit_version_string(), conf);
    printf("clock starts at 2024-01-01 10:00:00 UTC (%d), one message every %d s\n\n",
           (int)DEMO_START, (int)DEMO_STEP);
    printf("%-8s  %-7s  %-19s  %-7s  %-20s  %-12s  %-6s  %5s  %9s  %11s\n", "time", "from",
           "sender", "verdict", "reason", "level", "window", "count", "limit", "retry_after");

    for (i = 0; i < 25; i++, now += DEMO_STEP)
        send_one(ml, MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", now);
    for (i = 0; i < 5; i++, now += DEMO_STEP)
        send_one(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", now);
    send_one(ml, MAILLIMIT_LEVEL_MAILBOX, "info@acme.example", now);
    now += DEMO_STEP;
    send_one(ml, MAILLIMIT_LEVEL_MAILBOX, "news@acme.example", now);
    now += DEMO_STEP;
    send_one(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme_web", now);
    now += DEMO_STEP;

    printf("\nstatus at %s, sliding hour:\n", clock_of(t, sizeof t, now));
    printf("%-12s  %-17s  %-11s  %5s  %9s  %9s  %-12s  %11s  %11s\n", "level", "name", "state",
           "count", "limit", "remaining", "blocked_by", "retry_after", "reset_after");
    show_status(ml, MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", now);
    show_status(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", now);
    show_status(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", now);

    maillimit_free(ml);
    return 0;
}
