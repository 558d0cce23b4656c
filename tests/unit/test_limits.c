/* SPDX-License-Identifier: MIT */
/* Limits, flags and server settings: every cell of the inheritance table of SPEC §2,
 * illegal (level, target) pairs, special values, flags, the master switch and the unit. */
#include <criterion/criterion.h>

#include <stdint.h>

#include <maillimit.h>

#include "fixture.h"

/* The fixture: plan basic; acme (in basic) with acme.example {a}; beta (no plan) with
 * beta.example {c}. */
static maillimit *fixture(void)
{
    return fixture_from("plan basic\n"
                        "subscription acme plan=basic\n"
                        "subscription beta\n"
                        "domain acme.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "mailbox a@acme.example\n"
                        "mailbox c@beta.example\n");
}

static int64_t get(maillimit *ml, int level, const char *name, int window)
{
    int64_t v = 12345;
    OK(maillimit_limit_effective(ml, level, name, window, &v));
    return v;
}

static int64_t value(maillimit *ml, int level, const char *name, int target, int window)
{
    int64_t v = 12345;
    OK(maillimit_limit_configured(ml, level, name, target, window, &v));
    return v;
}

static int flag(maillimit *ml, int level, const char *name, int f)
{
    int v = 123;
    OK(maillimit_flag_effective(ml, level, name, f, &v));
    return v;
}

static int flag_val(maillimit *ml, int level, const char *name, int f)
{
    int v = 123;
    OK(maillimit_flag_configured(ml, level, name, f, &v));
    return v;
}

/* Effective hourly limits of all counters in the fixture, in one line per check. */
#define EXPECT_ALL(window, srv, acme, beta, acmedom, betadom, a, c)                           \
    do {                                                                                      \
        EQ(get(ml, SRV, NULL, window), srv);                                                  \
        EQ(get(ml, SUB, "acme", window), acme);                                               \
        EQ(get(ml, SUB, "beta", window), beta);                                               \
        EQ(get(ml, DOM, "acme.example", window), acmedom);                                    \
        EQ(get(ml, DOM, "beta.example", window), betadom);                                    \
        EQ(get(ml, MBX, "a@acme.example", window), a);                                        \
        EQ(get(ml, MBX, "c@beta.example", window), c);                                        \
    } while (0)

#define U MAILLIMIT_UNLIMITED
#define D MAILLIMIT_DEFAULT

Test(limits, defaults_unlimited_and_values_default)
{
    maillimit *ml = fixture();
    EXPECT_ALL(HOUR, U, U, U, U, U, U, U);
    EXPECT_ALL(DAY, U, U, U, U, U, U, U);
    for (int w = HOUR; w <= DAY; w++) {
        EQ(value(ml, SRV, NULL, SRV, w), U);
        EQ(value(ml, SRV, NULL, SUB, w), U);
        EQ(value(ml, SRV, NULL, DOM, w), U);
        EQ(value(ml, SRV, NULL, MBX, w), U);
        EQ(value(ml, PLN, "basic", SUB, w), D);
        EQ(value(ml, PLN, "basic", DOM, w), D);
        EQ(value(ml, PLN, "basic", MBX, w), D);
        EQ(value(ml, SUB, "acme", SUB, w), D);
        EQ(value(ml, SUB, "acme", DOM, w), D);
        EQ(value(ml, SUB, "acme", MBX, w), D);
        EQ(value(ml, DOM, "acme.example", DOM, w), D);
        EQ(value(ml, DOM, "acme.example", MBX, w), D);
        EQ(value(ml, MBX, "a@acme.example", MBX, w), D);
    }
    maillimit_free(ml);
}

/* ---- row "server" ----------------------------------------------------------------------- */

Test(limits, server_sets_server_total)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SRV, HOUR, 1000));
    EXPECT_ALL(HOUR, 1000, U, U, U, U, U, U);
    EXPECT_ALL(DAY, U, U, U, U, U, U, U);
    EQ(value(ml, SRV, NULL, SRV, HOUR), 1000);
    maillimit_free(ml);
}

Test(limits, server_sets_subscription_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SUB, HOUR, 400));
    EXPECT_ALL(HOUR, U, 400, 400, U, U, U, U);
    EQ(value(ml, SUB, "acme", SUB, HOUR), D);
    maillimit_free(ml);
}

Test(limits, server_sets_domain_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, DOM, HOUR, 300));
    EXPECT_ALL(HOUR, U, U, U, 300, 300, U, U);
    maillimit_free(ml);
}

Test(limits, server_sets_mailbox_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    EXPECT_ALL(HOUR, U, U, U, U, U, 100, 100);
    EQ(value(ml, SRV, NULL, MBX, HOUR), 100);
    EQ(value(ml, MBX, "a@acme.example", MBX, HOUR), D);
    maillimit_free(ml);
}

/* ---- row "plan" -------------------------------------------------------------------------- */

Test(limits, plan_sets_subscription_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SUB, HOUR, 400));
    OK(maillimit_limit_set(ml, PLN, "basic", SUB, HOUR, 40));
    EXPECT_ALL(HOUR, U, 40, 400, U, U, U, U);
    maillimit_free(ml);
}

Test(limits, plan_sets_domain_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, DOM, HOUR, 300));
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, HOUR, 30));
    EXPECT_ALL(HOUR, U, U, U, 30, 300, U, U);
    maillimit_free(ml);
}

Test(limits, plan_sets_mailbox_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, PLN, "basic", MBX, HOUR, 10));
    EXPECT_ALL(HOUR, U, U, U, U, U, 10, 100);
    EQ(value(ml, PLN, "basic", MBX, HOUR), 10);
    maillimit_free(ml);
}

/* ---- row "subscription" ------------------------------------------------------------------ */

Test(limits, subscription_sets_own_value)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SUB, HOUR, 400));
    OK(maillimit_limit_set(ml, PLN, "basic", SUB, HOUR, 40));
    OK(maillimit_limit_set(ml, SUB, "acme", SUB, HOUR, 4));
    OK(maillimit_limit_set(ml, SUB, "beta", SUB, HOUR, 5));
    EXPECT_ALL(HOUR, U, 4, 5, U, U, U, U);
    maillimit_free(ml);
}

Test(limits, subscription_sets_domain_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, DOM, HOUR, 300));
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, HOUR, 30));
    OK(maillimit_limit_set(ml, SUB, "acme", DOM, HOUR, 3));
    OK(maillimit_limit_set(ml, SUB, "beta", DOM, HOUR, 33));
    EXPECT_ALL(HOUR, U, U, U, 3, 33, U, U);
    maillimit_free(ml);
}

Test(limits, subscription_sets_mailbox_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, PLN, "basic", MBX, HOUR, 10));
    OK(maillimit_limit_set(ml, SUB, "acme", MBX, HOUR, 1));
    EXPECT_ALL(HOUR, U, U, U, U, U, 1, 100);
    OK(maillimit_limit_set(ml, SUB, "beta", MBX, HOUR, 11));
    EXPECT_ALL(HOUR, U, U, U, U, U, 1, 11);
    maillimit_free(ml);
}

/* ---- row "domain" ------------------------------------------------------------------------ */

Test(limits, domain_sets_own_value)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, DOM, HOUR, 300));
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, HOUR, 30));
    OK(maillimit_limit_set(ml, SUB, "acme", DOM, HOUR, 3));
    OK(maillimit_limit_set(ml, DOM, "acme.example", DOM, HOUR, 2));
    EXPECT_ALL(HOUR, U, U, U, 2, 300, U, U);
    maillimit_free(ml);
}

Test(limits, domain_sets_mailbox_default)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, PLN, "basic", MBX, HOUR, 10));
    OK(maillimit_limit_set(ml, SUB, "acme", MBX, HOUR, 9));
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, 8));
    OK(maillimit_limit_set(ml, DOM, "beta.example", MBX, HOUR, 7));
    EXPECT_ALL(HOUR, U, U, U, U, U, 8, 7);
    maillimit_free(ml);
}

/* ---- row "mailbox" ----------------------------------------------------------------------- */

Test(limits, mailbox_sets_own_value)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, 8));
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 6));
    EXPECT_ALL(HOUR, U, U, U, U, U, 6, 100);
    OK(maillimit_limit_set(ml, MBX, "c@beta.example", MBX, HOUR, 0));
    EXPECT_ALL(HOUR, U, U, U, U, U, 6, 0);
    maillimit_free(ml);
}

/* ---- nearer wins, DEFAULT falls back ---------------------------------------------------- */

Test(limits, nearest_non_default_wins_mailbox_target)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, PLN, "basic", MBX, HOUR, 50));
    OK(maillimit_limit_set(ml, SUB, "acme", MBX, HOUR, 40));
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, 30));
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 20));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 20);
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, D));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 30);
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, D));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 40);
    OK(maillimit_limit_set(ml, SUB, "acme", MBX, HOUR, D));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 50);
    OK(maillimit_limit_set(ml, PLN, "basic", MBX, HOUR, D));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 100);
    /* None of that touched the other targets. */
    EXPECT_ALL(HOUR, U, U, U, U, U, 100, 100);
    maillimit_free(ml);
}

Test(limits, nearest_non_default_wins_domain_target)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, DOM, HOUR, 300));
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, HOUR, 200));
    OK(maillimit_limit_set(ml, SUB, "acme", DOM, HOUR, 150));
    OK(maillimit_limit_set(ml, DOM, "acme.example", DOM, HOUR, 120));
    EQ(get(ml, DOM, "acme.example", HOUR), 120);
    OK(maillimit_limit_set(ml, DOM, "acme.example", DOM, HOUR, D));
    EQ(get(ml, DOM, "acme.example", HOUR), 150);
    OK(maillimit_limit_set(ml, SUB, "acme", DOM, HOUR, D));
    EQ(get(ml, DOM, "acme.example", HOUR), 200);
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, HOUR, D));
    EQ(get(ml, DOM, "acme.example", HOUR), 300);
    maillimit_free(ml);
}

Test(limits, nearest_non_default_wins_subscription_target)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SUB, HOUR, 1000));
    OK(maillimit_limit_set(ml, PLN, "basic", SUB, HOUR, 400));
    OK(maillimit_limit_set(ml, SUB, "acme", SUB, HOUR, 250));
    EQ(get(ml, SUB, "acme", HOUR), 250);
    OK(maillimit_limit_set(ml, SUB, "acme", SUB, HOUR, D));
    EQ(get(ml, SUB, "acme", HOUR), 400);
    OK(maillimit_limit_set(ml, PLN, "basic", SUB, HOUR, D));
    EQ(get(ml, SUB, "acme", HOUR), 1000);
    maillimit_free(ml);
}

Test(limits, unlimited_and_zero_are_values_not_defaults)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, U));
    EQ(get(ml, MBX, "a@acme.example", HOUR), U);
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, 0));
    EQ(get(ml, MBX, "a@acme.example", HOUR), 0);
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, U));
    EQ(get(ml, MBX, "a@acme.example", HOUR), U);
    EQ(value(ml, MBX, "a@acme.example", MBX, HOUR), U);
    EQ(value(ml, DOM, "acme.example", MBX, HOUR), 0);
    /* Large values are fine. */
    OK(maillimit_limit_set(ml, SRV, NULL, SRV, HOUR, INT64_C(1) << 40));
    EQ(get(ml, SRV, NULL, HOUR), INT64_C(1) << 40);
    maillimit_free(ml);
}

/* ---- what may not be set ---------------------------------------------------------------- */

Test(limits, illegal_level_target_pairs_einval)
{
    maillimit *ml = fixture();
    struct { int level; const char *name; int target; } bad[] = {
        {SRV, NULL, PLN},
        {PLN, "basic", SRV}, {PLN, "basic", PLN},
        {SUB, "acme", SRV}, {SUB, "acme", PLN},
        {DOM, "acme.example", SRV}, {DOM, "acme.example", PLN}, {DOM, "acme.example", SUB},
        {MBX, "a@acme.example", SRV}, {MBX, "a@acme.example", PLN},
        {MBX, "a@acme.example", SUB}, {MBX, "a@acme.example", DOM},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (int w = HOUR; w <= DAY; w++) {
            cr_assert(maillimit_limit_set(ml, bad[i].level, bad[i].name, bad[i].target, w, 5) ==
                          MAILLIMIT_EINVAL,
                      "limit_set level %d target %d window %d", bad[i].level, bad[i].target, w);
            cr_assert(maillimit_limit_set(ml, bad[i].level, bad[i].name, bad[i].target, w, D) ==
                          MAILLIMIT_EINVAL,
                      "limit_set DEFAULT level %d target %d", bad[i].level, bad[i].target);
        }
    }
    /* Nothing changed anywhere. */
    EXPECT_ALL(HOUR, U, U, U, U, U, U, U);
    EXPECT_ALL(DAY, U, U, U, U, U, U, U);
    maillimit_free(ml);
}

Test(limits, limit_value_of_illegal_pair_einval)
{
    maillimit *ml = fixture();
    int64_t v = 0;
    EQ(maillimit_limit_configured(ml, SRV, NULL, PLN, HOUR, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(ml, PLN, "basic", SRV, HOUR, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(ml, SUB, "acme", SRV, HOUR, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(ml, DOM, "acme.example", SUB, HOUR, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_configured(ml, MBX, "a@acme.example", DOM, DAY, &v), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

Test(limits, default_at_server_einval)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 100));
    static const int targets[] = {SRV, SUB, DOM, MBX};
    for (size_t i = 0; i < 4; i++)
        for (int w = HOUR; w <= DAY; w++)
            EQ(maillimit_limit_set(ml, SRV, NULL, targets[i], w, D), MAILLIMIT_EINVAL);
    EQ(value(ml, SRV, NULL, MBX, HOUR), 100);
    EQ(value(ml, SRV, NULL, SRV, HOUR), U);
    EXPECT_ALL(HOUR, U, U, U, U, U, 100, 100);
    maillimit_free(ml);
}

Test(limits, values_below_minus_two_einval)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 9));
    static const int64_t bad[] = {-3, -4, -1000, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        EQ(maillimit_limit_set(ml, SRV, NULL, SRV, HOUR, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, SRV, NULL, MBX, DAY, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, PLN, "basic", SUB, HOUR, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, SUB, "acme", DOM, HOUR, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, bad[i]), MAILLIMIT_EINVAL);
    }
    EQ(value(ml, MBX, "a@acme.example", MBX, HOUR), 9);
    EXPECT_ALL(HOUR, U, U, U, U, U, 9, U);
    EXPECT_ALL(DAY, U, U, U, U, U, U, U);
    maillimit_free(ml);
}

Test(limits, limit_value_as_set_vs_limit_get_effective)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, HOUR, 30));
    EQ(value(ml, MBX, "a@acme.example", MBX, HOUR), D);
    EQ(get(ml, MBX, "a@acme.example", HOUR), 30);
    EQ(value(ml, DOM, "acme.example", MBX, HOUR), 30);
    EQ(value(ml, DOM, "acme.example", DOM, HOUR), D);
    EQ(get(ml, DOM, "acme.example", HOUR), U);
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 25));
    EQ(value(ml, MBX, "a@acme.example", MBX, HOUR), 25);
    EQ(get(ml, MBX, "a@acme.example", HOUR), 25);
    /* A plan's values can be read, its limit_effective is EINVAL (no counter). */
    OK(maillimit_limit_set(ml, PLN, "basic", SUB, DAY, 777));
    EQ(value(ml, PLN, "basic", SUB, DAY), 777);
    int64_t v = 0;
    EQ(maillimit_limit_effective(ml, PLN, "basic", HOUR, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_limit_effective(ml, PLN, "basic", DAY, &v), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

Test(limits, hour_and_day_are_independent)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, SRV, NULL, SRV, DAY, 10000));
    OK(maillimit_limit_set(ml, SRV, NULL, SUB, DAY, 4000));
    OK(maillimit_limit_set(ml, PLN, "basic", DOM, DAY, 3000));
    OK(maillimit_limit_set(ml, DOM, "acme.example", MBX, DAY, 2000));
    OK(maillimit_limit_set(ml, MBX, "c@beta.example", MBX, DAY, 1000));
    EXPECT_ALL(HOUR, U, U, U, U, U, U, U);
    EXPECT_ALL(DAY, 10000, 4000, 4000, 3000, U, 2000, 1000);
    OK(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 10));
    OK(maillimit_limit_set(ml, SUB, "beta", SUB, HOUR, 20));
    EXPECT_ALL(HOUR, U, U, 20, U, U, 10, 10);
    EXPECT_ALL(DAY, 10000, 4000, 4000, 3000, U, 2000, 1000);
    EQ(value(ml, MBX, "c@beta.example", MBX, HOUR), D);
    EQ(value(ml, MBX, "c@beta.example", MBX, DAY), 1000);
    maillimit_free(ml);
}

Test(limits, missing_entity_enotfound)
{
    maillimit *ml = fixture();
    int64_t v = 0;
    EQ(maillimit_limit_set(ml, PLN, "noplan", MBX, HOUR, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_set(ml, SUB, "nosub", MBX, HOUR, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_set(ml, DOM, "no.example", MBX, HOUR, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_set(ml, MBX, "zz@acme.example", MBX, HOUR, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_configured(ml, PLN, "noplan", MBX, HOUR, &v), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_configured(ml, MBX, "zz@acme.example", MBX, HOUR, &v), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_effective(ml, SUB, "nosub", HOUR, &v), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_effective(ml, DOM, "no.example", HOUR, &v), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_effective(ml, MBX, "zz@acme.example", HOUR, &v), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_effective(ml, MBX, "zz@no.example", HOUR, &v), MAILLIMIT_ENOTFOUND);
    int f = 0;
    EQ(maillimit_flag_set(ml, SUB, "nosub", MAILLIMIT_FLAG_EXEMPT, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_flag_set(ml, MBX, "zz@acme.example", MAILLIMIT_FLAG_EXEMPT, 1),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_flag_effective(ml, DOM, "no.example", MAILLIMIT_FLAG_EXEMPT, &f),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_flag_configured(ml, PLN, "noplan", MAILLIMIT_FLAG_SENDMAIL, &f),
       MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}

/* ---- flags ------------------------------------------------------------------------------- */

Test(limits, sendmail_only_at_server_plan_subscription)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, 1));
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, 1));
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, 1));
    EQ(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_SENDMAIL, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_SENDMAIL, 0),
       MAILLIMIT_EINVAL);
    EQ(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_SENDMAIL, 1), MAILLIMIT_EINVAL);
    maillimit_free(ml);
}

Test(limits, exempt_only_at_plan_subscription_domain_mailbox)
{
    maillimit *ml = fixture();
    EQ(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_EXEMPT, 1), MAILLIMIT_EINVAL);
    EQ(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_EXEMPT, 0), MAILLIMIT_EINVAL);
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT, 0));
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT, 0));
    OK(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT, 0));
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 1);
    maillimit_free(ml);
}

Test(limits, flag_values_outside_0_1_default_einval)
{
    maillimit *ml = fixture();
    static const int bad[] = {2, -1, 5, -3};
    for (size_t i = 0; i < 4; i++) {
        EQ(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, bad[i]), MAILLIMIT_EINVAL);
        EQ(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, bad[i]),
           MAILLIMIT_EINVAL);
        EQ(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, bad[i]),
           MAILLIMIT_EINVAL);
    }
    EQ(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, D), MAILLIMIT_EINVAL);
    EQ(flag_val(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag_val(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), D);
    EQ(flag_val(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), D);
    maillimit_free(ml);
}

Test(limits, flag_defaults)
{
    maillimit *ml = fixture();
    EQ(flag_val(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag_val(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL), D);
    EQ(flag(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag_val(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), D);
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag_val(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT), D);
    EQ(flag(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag_val(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT), D);
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag_val(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT), D);
    EQ(flag(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag_val(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), D);
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 0);
    maillimit_free(ml);
}

Test(limits, sendmail_inherits_nearest_explicit)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, 0));
    EQ(flag(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 0);
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, 1));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 0);
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, 0));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag_val(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag_val(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL), 1);
    OK(maillimit_flag_set(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL, 1));
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 1);
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, D));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag_val(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), D);
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, D));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL), 0);
    maillimit_free(ml);
}

Test(limits, exempt_inherits_and_explicit_zero_wins)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT, 1));
    EQ(flag(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag(ml, MBX, "c@beta.example", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag_val(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), D);

    /* A child explicitly 0 under an exempt parent is not exempt, nor are its children. */
    OK(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT, 0));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 0);
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT), 0);

    /* Subscription-level value overrides the plan. */
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT, 0));
    OK(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT, D));
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, D));
    EQ(flag(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT), 0);
    EQ(flag(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT), 0);
    OK(maillimit_flag_set(ml, SUB, "beta", MAILLIMIT_FLAG_EXEMPT, 1));
    EQ(flag(ml, DOM, "beta.example", MAILLIMIT_FLAG_EXEMPT), 1);
    EQ(flag(ml, MBX, "c@beta.example", MAILLIMIT_FLAG_EXEMPT), 1);
    maillimit_free(ml);
}

Test(limits, flags_follow_plan_changes)
{
    maillimit *ml = fixture();
    OK(maillimit_plan_add(ml, "free"));
    OK(maillimit_flag_set(ml, PLN, "free", MAILLIMIT_FLAG_SENDMAIL, 0));
    OK(maillimit_flag_set(ml, PLN, "free", MAILLIMIT_FLAG_EXEMPT, 1));
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 1);
    EQ(flag(ml, MBX, "c@beta.example", MAILLIMIT_FLAG_EXEMPT), 0);
    OK(maillimit_subscription_plan_set(ml, "beta", "free"));
    EQ(flag(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL), 0);
    EQ(flag(ml, MBX, "c@beta.example", MAILLIMIT_FLAG_EXEMPT), 1);
    maillimit_free(ml);
}

/* ---- server settings --------------------------------------------------------------------- */

Test(limits, master_switch)
{
    maillimit *ml = fixture();
    int on = 123;
    OK(maillimit_enabled_get(ml, &on));
    EQ(on, 1);
    OK(maillimit_enabled_set(ml, 0));
    OK(maillimit_enabled_get(ml, &on));
    EQ(on, 0);
    OK(maillimit_enabled_set(ml, 1));
    OK(maillimit_enabled_get(ml, &on));
    EQ(on, 1);
    maillimit_free(ml);
}

Test(limits, unit_setting)
{
    maillimit *ml = fixture();
    int unit = 123;
    OK(maillimit_unit_get(ml, &unit));
    EQ(unit, MAILLIMIT_UNIT_MESSAGES);
    OK(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS));
    OK(maillimit_unit_get(ml, &unit));
    EQ(unit, MAILLIMIT_UNIT_RECIPIENTS);
    EQ(maillimit_unit_set(ml, 2), MAILLIMIT_EINVAL);
    EQ(maillimit_unit_set(ml, -1), MAILLIMIT_EINVAL);
    OK(maillimit_unit_get(ml, &unit));
    EQ(unit, MAILLIMIT_UNIT_RECIPIENTS);
    OK(maillimit_unit_set(ml, MAILLIMIT_UNIT_MESSAGES));
    OK(maillimit_unit_get(ml, &unit));
    EQ(unit, MAILLIMIT_UNIT_MESSAGES);
    maillimit_free(ml);
}

Test(limits, new_handle_defaults)
{
    maillimit *ml = NULL;
    OK(maillimit_new(&ml));
    int64_t v = 0;
    int i = 0;
    OK(maillimit_limit_effective(ml, SRV, NULL, HOUR, &v));
    EQ(v, U);
    OK(maillimit_limit_effective(ml, SRV, NULL, DAY, &v));
    EQ(v, U);
    OK(maillimit_enabled_get(ml, &i));
    EQ(i, 1);
    OK(maillimit_flag_effective(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, &i));
    EQ(i, 1);
    OK(maillimit_unit_get(ml, &i));
    EQ(i, MAILLIMIT_UNIT_MESSAGES);
    EQ(maillimit_limit_effective(ml, SUB, "acme", HOUR, &v), MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}
