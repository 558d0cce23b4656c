/* SPDX-License-Identifier: MIT */
/* What the core unit tests share: the assertion macros, the level and window shorthands, the
 * reference time T and AT(), and helpers that build a handle from configuration text, decide,
 * read a count and set a limit. Each test file describes its own hierarchy as configuration
 * text and passes it to fixture_from(). */
#ifndef MAILLIMIT_TESTS_UNIT_FIXTURE_H
#define MAILLIMIT_TESTS_UNIT_FIXTURE_H

#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include <maillimit.h>

/* 2026-01-01 10:00:00 UTC, a multiple of 3600 (so also of 60). */
#define T 1767261600LL

/* hh:mm:ss of 2026-01-01 as Unix seconds (T is 10:00:00; hours past 23 run into Jan 2). */
#define AT(h, m, s) (T + ((h) - 10) * 3600LL + (m) * 60LL + (s))

#define EQ(actual, expected)                                                                  \
    do {                                                                                      \
        int64_t got_ = (int64_t)(actual);                                                     \
        int64_t exp_ = (int64_t)(expected);                                                   \
        cr_assert(got_ == exp_, "%s: got %lld, expected %lld", #actual, (long long)got_,      \
                  (long long)exp_);                                                           \
    } while (0)
#define OK(x) EQ((x), MAILLIMIT_OK)
#define STREQ(actual, expected)                                                               \
    cr_assert(strcmp((actual), (expected)) == 0, "%s: got \"%s\", expected \"%s\"", #actual,  \
              (actual), (expected))

#define SRV MAILLIMIT_LEVEL_SERVER
#define PLN MAILLIMIT_LEVEL_PLAN
#define SUB MAILLIMIT_LEVEL_SUBSCRIPTION
#define DOM MAILLIMIT_LEVEL_DOMAIN
#define MBX MAILLIMIT_LEVEL_MAILBOX
#define HOUR MAILLIMIT_WINDOW_HOUR
#define DAY MAILLIMIT_WINDOW_DAY

/* A new, empty handle. */
static inline maillimit *new_handle(void)
{
    maillimit *ml = NULL;
    OK(maillimit_new(&ml));
    cr_assert(ml != NULL);
    return ml;
}

/* A new handle with config_text loaded (maillimit_config_load_mem); a text that does not
 * load fails the test with the loader's message. */
static inline maillimit *fixture_from(const char *config_text)
{
    maillimit *ml = new_handle();
    char err[512] = "";
    int rc = maillimit_config_load_mem(ml, config_text, strlen(config_text), err, sizeof err);
    cr_assert(rc == MAILLIMIT_OK, "the fixture's configuration does not load (%d): %s", rc,
              err);
    return ml;
}

/* maillimit_decide(), which must succeed; the verdict. */
static inline maillimit_verdict dec(maillimit *ml, int level, const char *sender, int64_t cost,
                                    int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, level, sender, cost, now, &v));
    return v;
}

/* The count of an entity's own counter in one window at `now`. */
static inline int64_t cnt(maillimit *ml, int level, const char *name, int window, int64_t now)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    OK(maillimit_status_get(ml, level, name, window, now, &s));
    return s.count;
}

/* maillimit_limit_set(), which must succeed. */
static inline void set(maillimit *ml, int level, const char *name, int target, int window,
                       int64_t value)
{
    OK(maillimit_limit_set(ml, level, name, target, window, value));
}

#endif /* MAILLIMIT_TESTS_UNIT_FIXTURE_H */
