/* SPDX-License-Identifier: MIT */
#define _POSIX_C_SOURCE 200809L
/* maillimit_config_apply(): the file becomes the whole configuration, counters stay. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "maillimit.h"

#define T 1767261600LL /* 2026-01-01 10:00:00 UTC */
#define MBX MAILLIMIT_LEVEL_MAILBOX
#define DOM MAILLIMIT_LEVEL_DOMAIN
#define SUB MAILLIMIT_LEVEL_SUBSCRIPTION
#define PLN MAILLIMIT_LEVEL_PLAN
#define SRV MAILLIMIT_LEVEL_SERVER
#define HOUR MAILLIMIT_WINDOW_HOUR
#define DAY MAILLIMIT_WINDOW_DAY

static const char first[] = "enable no\n"
                            "unit recipients\n"
                            "server mailbox=100 server=5000\n"
                            "plan basic mailbox=50 sendmail=no\n"
                            "plan gold mailbox=500\n"
                            "subscription acme plan=basic subscription=900\n"
                            "subscription old plan=gold\n"
                            "domain acme.example subscription=acme domain=300 exempt=no\n"
                            "domain gone.example subscription=old\n"
                            "mailbox ceo@acme.example mailbox=20 mailbox.day=200\n"
                            "mailbox bye@acme.example\n"
                            "sysuser acme_web subscription=acme\n"
                            "sysuser old_web subscription=old\n";

/* acme leaves its plan, old/gold/gone/bye/old_web go, values not repeated return to default. */
static const char second[] = "server mailbox=100\n"
                             "plan basic mailbox=50\n"
                             "subscription acme subscription=900\n"
                             "domain acme.example subscription=acme\n"
                             "mailbox ceo@acme.example mailbox=20\n"
                             "sysuser acme_web subscription=acme\n";

static maillimit *loaded(void)
{
    maillimit *ml = NULL;
    char err[256];
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(maillimit_config_apply_mem(ml, first, strlen(first), err, sizeof err), 0,
                 "%s", err);
    return ml;
}

static int64_t value(maillimit *ml, int level, const char *name, int target, int window)
{
    int64_t v = -100;
    cr_assert_eq(maillimit_limit_configured(ml, level, name, target, window, &v), 0);
    return v;
}

static int64_t count(maillimit *ml, int level, const char *name, int window, int64_t now)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, level, name, window, now, &s), 0);
    return s.count;
}

static void send(maillimit *ml, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, MBX, sender, cost, now, &v), 0);
    cr_assert_eq(v.decision, MAILLIMIT_ALLOW);
}

Test(config_apply, second_file_replaces_the_first_and_keeps_counters)
{
    maillimit *ml = loaded();
    send(ml, "ceo@acme.example", 3, T + 60);
    send(ml, "bye@acme.example", 2, T + 120);
    send(ml, "someone@acme.example", 4, T + 180); /* implicit mailbox */
    char err[256];
    cr_assert_eq(maillimit_config_apply_mem(ml, second, strlen(second), err, sizeof err), 0,
                 "%s", err);

    /* what stays keeps its counts; the removed mailbox's units stay in its ancestors */
    cr_assert_eq(count(ml, MBX, "ceo@acme.example", HOUR, T + 300), 3);
    cr_assert_eq(count(ml, MBX, "someone@acme.example", HOUR, T + 300), 4);
    cr_assert_eq(count(ml, DOM, "acme.example", HOUR, T + 300), 9);
    cr_assert_eq(count(ml, SUB, "acme", DAY, T + 300), 9);
    cr_assert_eq(count(ml, SRV, NULL, HOUR, T + 300), 9);

    /* what the file no longer defines is gone */
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(ml, MBX, "bye@acme.example", MBX, HOUR, &v),
                 MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_limit_configured(ml, SUB, "old", SUB, HOUR, &v), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_limit_configured(ml, DOM, "gone.example", DOM, HOUR, &v),
                 MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_limit_configured(ml, PLN, "gold", MBX, HOUR, &v), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_sysuser_remove(ml, "old_web"), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(maillimit_sysuser_add(ml, "acme_web", "acme"), 0); /* still there, same place */

    /* values the file no longer sets are back to their defaults */
    cr_assert_eq(value(ml, MBX, "ceo@acme.example", MBX, DAY), MAILLIMIT_DEFAULT);
    cr_assert_eq(value(ml, MBX, "ceo@acme.example", MBX, HOUR), 20);
    cr_assert_eq(value(ml, DOM, "acme.example", DOM, HOUR), MAILLIMIT_DEFAULT);
    cr_assert_eq(value(ml, SRV, NULL, SRV, HOUR), MAILLIMIT_UNLIMITED);
    cr_assert_eq(value(ml, SRV, NULL, MBX, HOUR), 100);
    int f = -5;
    cr_assert_eq(maillimit_flag_configured(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, &f), 0);
    cr_assert_eq(f, MAILLIMIT_DEFAULT);
    cr_assert_eq(maillimit_flag_configured(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT, &f), 0);
    cr_assert_eq(f, MAILLIMIT_DEFAULT);
    cr_assert_eq(maillimit_enabled_get(ml, &f), 0);
    cr_assert_eq(f, 1);
    cr_assert_eq(maillimit_unit_get(ml, &f), 0);
    cr_assert_eq(f, MAILLIMIT_UNIT_MESSAGES);

    /* acme has left plan basic: its mailboxes inherit the server's 100, not the plan's 50 */
    int64_t lim = 0;
    cr_assert_eq(maillimit_limit_effective(ml, MBX, "someone@acme.example", HOUR, &lim), 0);
    cr_assert_eq(lim, 100);
    maillimit_free(ml);
}

Test(config_apply, applying_the_same_file_twice_changes_nothing)
{
    maillimit *ml = loaded();
    send(ml, "ceo@acme.example", 5, T + 60);
    char err[256];
    cr_assert_eq(maillimit_config_apply_mem(ml, first, strlen(first), err, sizeof err), 0);
    cr_assert_eq(count(ml, MBX, "ceo@acme.example", HOUR, T + 60), 5);
    cr_assert_eq(value(ml, MBX, "ceo@acme.example", MBX, DAY), 200);
    cr_assert_eq(value(ml, SRV, NULL, SRV, HOUR), 5000);
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(ml, SUB, "old", SUB, HOUR, &v), 0);
    maillimit_free(ml);
}

Test(config_apply, a_file_with_an_error_changes_nothing)
{
    maillimit *ml = loaded();
    static const char bad[] = "server mailbox=7\n"
                              "plan basic mailbox=50\n"
                              "subscription acme plan=basic\n"
                              "domain acme.example subscription=acme domain=abc\n";
    char err[256] = "";
    cr_assert_eq(maillimit_config_apply_mem(ml, bad, strlen(bad), err, sizeof err),
                 MAILLIMIT_EFORMAT);
    cr_assert(strstr(err, "<memory>:4:") != NULL, "%s", err);
    /* nothing removed, nothing reset, nothing set */
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(ml, SUB, "old", SUB, HOUR, &v), 0);
    cr_assert_eq(maillimit_limit_configured(ml, MBX, "bye@acme.example", MBX, HOUR, &v), 0);
    cr_assert_eq(value(ml, SRV, NULL, MBX, HOUR), 100);
    cr_assert_eq(value(ml, MBX, "ceo@acme.example", MBX, DAY), 200);
    maillimit_free(ml);
}

Test(config_apply, references_must_be_in_the_file)
{
    maillimit *ml = loaded();
    /* acme.example exists in the handle but not in this file: it would be removed */
    static const char text[] = "subscription acme\n"
                               "mailbox ceo@acme.example\n";
    char err[256] = "";
    cr_assert_eq(maillimit_config_apply_mem(ml, text, strlen(text), err, sizeof err),
                 MAILLIMIT_EFORMAT);
    cr_assert(strstr(err, "<memory>:2:") != NULL, "%s", err);
    /* the additive load accepts the same text */
    cr_assert_eq(maillimit_config_load_mem(ml, text, strlen(text), err, sizeof err), 0, "%s",
                 err);
    maillimit_free(ml);
}

Test(config_apply, from_a_file_and_its_errors)
{
    maillimit *ml = loaded();
    char path[] = "/tmp/maillimit-apply-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(second, f);
    fclose(f);
    char err[256];
    cr_assert_eq(maillimit_config_apply(ml, path, err, sizeof err), 0, "%s", err);
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(ml, SUB, "old", SUB, HOUR, &v), MAILLIMIT_ENOTFOUND);
    unlink(path);
    cr_assert_eq(maillimit_config_apply(ml, path, err, sizeof err), MAILLIMIT_EIO);
    cr_assert(strstr(err, path) != NULL, "%s", err);
    cr_assert_eq(maillimit_config_apply(NULL, path, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_apply(ml, NULL, err, sizeof err), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_config_apply_mem(ml, NULL, 0, err, sizeof err), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}
