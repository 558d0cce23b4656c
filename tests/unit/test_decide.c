/* SPDX-License-Identifier: MIT */
/* Decisions: limits per level, parents blocking children, cost, reasons and their
 * precedence, implicit mailboxes, verdict fields, which denial is named, reset.
 * Every expectation is hand-computed from SPEC.md §2, §3, §4.1. */
#include <criterion/criterion.h>

#include <stdint.h>

#include <maillimit.h>

#include "fixture.h"

/* The fixture: plan basic; acme (in basic) with acme.example {a, b}, shop.example {s} and
 * system user acme_web; beta (no plan) with beta.example {c}. No limits. */
static maillimit *fixture(void)
{
    return fixture_from("plan basic\n"
                        "subscription acme plan=basic\n"
                        "subscription beta\n"
                        "domain acme.example subscription=acme\n"
                        "domain shop.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n"
                        "mailbox s@shop.example\n"
                        "mailbox c@beta.example\n"
                        "sysuser acme_web subscription=acme\n");
}

/* An ALLOW with reason NONE, naming the sender's own hourly counter. */
#define EXPECT_ALLOW(v, reason_, count_, limit_)                                              \
    do {                                                                                      \
        const maillimit_verdict vv_ = (v);                                                    \
        EQ((vv_).decision, MAILLIMIT_ALLOW);                                                  \
        EQ((vv_).reason, reason_);                                                            \
        EQ((vv_).level, -1);                                                                  \
        EQ((vv_).window, -1);                                                                 \
        EQ((vv_).count, count_);                                                              \
        EQ((vv_).limit, limit_);                                                              \
        EQ((vv_).retry_after, 0);                                                             \
        cr_assert((vv_).token != 0, "an allowed verdict carries a token");                    \
    } while (0)

#define EXPECT_DENY(v, level_, window_, count_, limit_, retry_)                               \
    do {                                                                                      \
        const maillimit_verdict vv_ = (v);                                                    \
        EQ((vv_).decision, MAILLIMIT_DENY);                                                   \
        EQ((vv_).reason, MAILLIMIT_REASON_LIMIT);                                             \
        EQ((vv_).level, level_);                                                              \
        EQ((vv_).window, window_);                                                            \
        EQ((vv_).count, count_);                                                              \
        EQ((vv_).limit, limit_);                                                              \
        EQ((vv_).retry_after, retry_);                                                        \
        EQ((vv_).token, 0);                                                                   \
    } while (0)

/* ---- one limit ---------------------------------------------------------------------------- */

Test(decide, mailbox_limit_admits_exactly_n)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 5);
    for (int i = 0; i < 5; i++) {
        maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + i);
        EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, i, 5);
    }
    /* All five are in minute T/60, which leaves the window at T+3600. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 10);
    EXPECT_DENY(v, MBX, HOUR, 5, 5, 3590);
    v = dec(ml, MBX, "a@acme.example", 1, T + 20);
    EXPECT_DENY(v, MBX, HOUR, 5, 5, 3580);
    /* Denied attempts are not counted. */
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T + 20), 5);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 20), 5);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 20), 5);
    EQ(cnt(ml, SRV, NULL, HOUR, T + 20), 5);
    /* Another mailbox of the same domain is not affected. */
    v = dec(ml, MBX, "b@acme.example", 1, T + 20);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 0, -1);
    maillimit_free(ml);
}

Test(decide, day_limit_alone_denies_with_window_day)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, DAY, 2);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T + 60), MAILLIMIT_REASON_NONE, 1, -1);
    /* Both in hour slot T/3600, which leaves the day window at T+86400. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 120);
    EXPECT_DENY(v, MBX, DAY, 2, 2, 86400 - 120);
    maillimit_free(ml);
}

/* ---- parents -------------------------------------------------------------------------- */

Test(decide, domain_at_limit_blocks_all_its_children)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, MBX, HOUR, 10);
    set(ml, DOM, "acme.example", DOM, HOUR, 3);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, 10);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 1, 10);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, 10);

    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 60);
    EXPECT_DENY(v, DOM, HOUR, 3, 3, 3540);
    v = dec(ml, MBX, "b@acme.example", 1, T + 60);
    EXPECT_DENY(v, DOM, HOUR, 3, 3, 3540);
    /* Script mail of the domain itself, and an unregistered (implicit) mailbox. */
    v = dec(ml, DOM, "acme.example", 1, T + 60);
    EXPECT_DENY(v, DOM, HOUR, 3, 3, 3540);
    v = dec(ml, MBX, "new@acme.example", 1, T + 60);
    EXPECT_DENY(v, DOM, HOUR, 3, 3, 3540);
    /* The sibling domain is not blocked. */
    EXPECT_ALLOW(dec(ml, MBX, "s@shop.example", 1, T + 60), MAILLIMIT_REASON_NONE, 0, 10);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T + 60), 2);
    EQ(cnt(ml, MBX, "b@acme.example", HOUR, T + 60), 1);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 60), 3);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 60), 4);
    maillimit_free(ml);
}

Test(decide, subscription_at_limit_blocks_all_its_children)
{
    maillimit *ml = fixture();
    set(ml, SUB, "acme", SUB, HOUR, 4);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, MBX, "s@shop.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, DOM, "acme.example", 1, T), MAILLIMIT_REASON_NONE, 1, -1);
    EXPECT_ALLOW(dec(ml, SUB, "acme_web", 1, T), MAILLIMIT_REASON_NONE, 3, 4);
    maillimit_verdict v = dec(ml, MBX, "b@acme.example", 1, T + 600);
    EXPECT_DENY(v, SUB, HOUR, 4, 4, 3000);
    v = dec(ml, DOM, "shop.example", 1, T + 600);
    EXPECT_DENY(v, SUB, HOUR, 4, 4, 3000);
    v = dec(ml, SUB, "acme", 1, T + 600);
    EXPECT_DENY(v, SUB, HOUR, 4, 4, 3000);
    v = dec(ml, SUB, "ACME_WEB", 1, T + 600);
    EXPECT_DENY(v, SUB, HOUR, 4, 4, 3000);
    /* The other subscription is not blocked. */
    EXPECT_ALLOW(dec(ml, MBX, "c@beta.example", 1, T + 600), MAILLIMIT_REASON_NONE, 0, -1);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 600), 4);
    maillimit_free(ml);
}

Test(decide, parent_count_is_sum_of_children_plus_own)
{
    maillimit *ml = fixture();
    dec(ml, MBX, "a@acme.example", 1, T);
    dec(ml, MBX, "a@acme.example", 1, T + 1);
    dec(ml, MBX, "b@acme.example", 3, T + 2);
    dec(ml, DOM, "acme.example", 4, T + 3);  /* script mail at domain level */
    dec(ml, MBX, "s@shop.example", 1, T + 4);
    dec(ml, DOM, "shop.example", 2, T + 5);
    dec(ml, SUB, "acme_web", 5, T + 6);      /* system user: subscription level */
    dec(ml, SUB, "acme", 6, T + 7);
    dec(ml, MBX, "c@beta.example", 7, T + 8);
    for (int w = HOUR; w <= DAY; w++) {
        EQ(cnt(ml, MBX, "a@acme.example", w, T + 30), 2);
        EQ(cnt(ml, MBX, "b@acme.example", w, T + 30), 3);
        EQ(cnt(ml, MBX, "s@shop.example", w, T + 30), 1);
        EQ(cnt(ml, DOM, "acme.example", w, T + 30), 2 + 3 + 4);
        EQ(cnt(ml, DOM, "shop.example", w, T + 30), 1 + 2);
        EQ(cnt(ml, SUB, "acme", w, T + 30), 9 + 3 + 5 + 6);
        EQ(cnt(ml, MBX, "c@beta.example", w, T + 30), 7);
        EQ(cnt(ml, DOM, "beta.example", w, T + 30), 7);
        EQ(cnt(ml, SUB, "beta", w, T + 30), 7);
        EQ(cnt(ml, SRV, NULL, w, T + 30), 30);
    }
    maillimit_free(ml);
}

Test(decide, server_total_blocks_everyone)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, SRV, HOUR, 3);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, MBX, "c@beta.example", 1, T + 60), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, DOM, "beta.example", 1, T + 120), MAILLIMIT_REASON_NONE, 1, -1);
    maillimit_verdict v = dec(ml, MBX, "s@shop.example", 1, T + 180);
    EXPECT_DENY(v, SRV, HOUR, 3, 3, 3600 - 180);
    v = dec(ml, SUB, "beta", 1, T + 180);
    EXPECT_DENY(v, SRV, HOUR, 3, 3, 3600 - 180);
    v = dec(ml, SUB, "acme_web", 1, T + 180);
    EXPECT_DENY(v, SRV, HOUR, 3, 3, 3600 - 180);
    EQ(cnt(ml, SRV, NULL, HOUR, T + 180), 3);
    maillimit_free(ml);
}

Test(decide, recipients_as_cost)
{
    maillimit *ml = fixture();
    OK(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS));
    set(ml, MBX, "a@acme.example", MBX, HOUR, 10);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 3, T), MAILLIMIT_REASON_NONE, 0, 10);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 3, T), MAILLIMIT_REASON_NONE, 3, 10);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 3, T), MAILLIMIT_REASON_NONE, 6, 10);
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 3, T);
    EXPECT_DENY(v, MBX, HOUR, 9, 10, 3600);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 9, 10);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_DENY(v, MBX, HOUR, 10, 10, 3600);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 10);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 10);
    maillimit_free(ml);
}

Test(decide, cost_range_and_negative_now)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    static const int64_t bad[] = {0, -1, 1000001, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EQ(maillimit_decide(ml, MBX, "a@acme.example", bad[i], T, &v), MAILLIMIT_ERANGE);
        EQ(maillimit_reserve(ml, MBX, "a@acme.example", bad[i], T, &v), MAILLIMIT_ERANGE);
        EQ(maillimit_decide(ml, DOM, "acme.example", bad[i], T, &v), MAILLIMIT_ERANGE);
        EQ(maillimit_decide(ml, SUB, "acme", bad[i], T, &v), MAILLIMIT_ERANGE);
    }
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_decide(ml, MBX, "a@acme.example", 1, -1, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_decide(ml, MBX, "a@acme.example", 1, INT64_MIN, &v), MAILLIMIT_EINVAL);
    EQ(maillimit_reserve(ml, MBX, "a@acme.example", 1, -1, &v), MAILLIMIT_EINVAL);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 0);
    /* The largest cost is fine. */
    v = dec(ml, MBX, "a@acme.example", MAILLIMIT_COST_MAX, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 0, -1);
    v = dec(ml, MBX, "a@acme.example", 1000000, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 1000000, -1);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 2000000);
    EQ(cnt(ml, SRV, NULL, DAY, T), 2000000);
    maillimit_free(ml);
}

/* The header: ERANGE for "a counter's capacity: 16777215 units in one minute, 2147483648 in
 * its daily window; nothing is counted then". */
Test(decide, per_minute_capacity_as_documented)
{
    /* A counter takes at most 16777215 units in one minute; more is ERANGE, nothing counted. */
    maillimit *ml = fixture();
    maillimit_verdict v;
    for (int64_t i = 0; i < 16; i++) {
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        int rc = maillimit_decide(ml, MBX, "a@acme.example", 1000000, T, &v);
        cr_assert(rc == 0 && v.decision == MAILLIMIT_ALLOW,
                  "decision %lld of cost 1000000 (%lld units so far): rc %d decision %d",
                  (long long)i + 1, (long long)i * 1000000, rc, v.decision);
    }
    v = dec(ml, MBX, "a@acme.example", 777215, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, INT64_C(16000000), -1);
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_decide(ml, MBX, "a@acme.example", 1, T + 59, &v), MAILLIMIT_ERANGE);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T + 59), INT64_C(16777215));
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 59), INT64_C(16777215));
    /* the next minute has room again */
    v = dec(ml, MBX, "a@acme.example", 1, T + 60);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, INT64_C(16777215), -1);
    maillimit_free(ml);
}

Test(decide, daily_capacity_as_documented)
{
    /* 128 minutes of 16777215 units (10:00 .. 12:07) plus 128 in minute 12:08 make exactly
     * 2147483648 units in the day window of each counter of the chain. */
    maillimit *ml = fixture();
    maillimit_verdict v;
    for (int64_t m = 0; m < 128; m++) {
        for (int k = 0; k < 17; k++) {
            int64_t cost = k < 16 ? 1000000 : 777215;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            int rc = maillimit_decide(ml, MBX, "a@acme.example", cost, T + m * 60, &v);
            cr_assert(rc == 0 && v.decision == MAILLIMIT_ALLOW,
                      "minute %lld decision %d: rc %d decision %d", (long long)m, k, rc,
                      v.decision);
        }
    }
    EQ(cnt(ml, MBX, "a@acme.example", DAY, T + 128 * 60), INT64_C(2147483520));
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, MBX, "a@acme.example", 128, T + 128 * 60, &v));
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(cnt(ml, MBX, "a@acme.example", DAY, T + 128 * 60), INT64_C(2147483648));
    EQ(cnt(ml, SRV, NULL, DAY, T + 128 * 60), INT64_C(2147483648));
    /* one more unit, even in a fresh minute, is beyond the daily capacity */
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    EQ(maillimit_decide(ml, MBX, "a@acme.example", 1, T + 129 * 60, &v), MAILLIMIT_ERANGE);
    EQ(cnt(ml, MBX, "a@acme.example", DAY, T + 129 * 60), INT64_C(2147483648));
    EQ(cnt(ml, DOM, "acme.example", DAY, T + 129 * 60), INT64_C(2147483648));
    maillimit_free(ml);
}

/* ---- reasons ---------------------------------------------------------------------------- */

Test(decide, unknown_sender_counted_in_server_total_only)
{
    maillimit *ml = fixture();
    /* Inherited defaults do not apply to unknown senders. */
    set(ml, SRV, NULL, MBX, HOUR, 0);
    set(ml, SRV, NULL, DOM, HOUR, 0);
    set(ml, SRV, NULL, SUB, HOUR, 0);
    maillimit_verdict v = dec(ml, MBX, "x@unknown.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    EQ(v.level, -1);
    EQ(v.window, -1);
    EQ(v.retry_after, 0);
    v = dec(ml, DOM, "unknown.example", 2, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    v = dec(ml, SUB, "nosuch", 3, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 6);
    EQ(cnt(ml, SRV, NULL, DAY, T), 6);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 0);
    EQ(cnt(ml, SUB, "beta", HOUR, T), 0);
    /* No implicit mailbox for an unknown domain. */
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    EQ(maillimit_status_get(ml, MBX, "x@unknown.example", HOUR, T, &s), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_status_get(ml, DOM, "unknown.example", HOUR, T, &s), MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}

Test(decide, unknown_sender_denied_by_full_server_total)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, SRV, HOUR, 2);
    maillimit_verdict v = dec(ml, MBX, "x@unknown.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    v = dec(ml, DOM, "unknown.example", 1, T + 60);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    /* Minute T leaves at T+3600: at T+120 the first unit fits again in 3480 s. */
    v = dec(ml, MBX, "y@unknown.example", 1, T + 120);
    EXPECT_DENY(v, SRV, HOUR, 2, 2, 3480);
    v = dec(ml, SUB, "nosuch", 1, T + 120);
    EXPECT_DENY(v, SRV, HOUR, 2, 2, 3480);
    /* Known senders too. */
    v = dec(ml, MBX, "a@acme.example", 1, T + 120);
    EXPECT_DENY(v, SRV, HOUR, 2, 2, 3480);
    EQ(cnt(ml, SRV, NULL, HOUR, T + 120), 2);
    maillimit_free(ml);
}

Test(decide, exempt_mailbox_allowed_and_counted_in_no_limit)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    set(ml, SRV, NULL, SRV, HOUR, 1);
    for (int i = 0; i < 3; i++) {
        maillimit_verdict v = dec(ml, MBX, "a@acme.example", 2, T);
        EXPECT_ALLOW(v, MAILLIMIT_REASON_EXEMPT, 0, 0);
    }
    for (int w = HOUR; w <= DAY; w++) {
        EQ(cnt(ml, MBX, "a@acme.example", w, T), 0);
        EQ(cnt(ml, DOM, "acme.example", w, T), 0);
        EQ(cnt(ml, SUB, "acme", w, T), 0);
        EQ(cnt(ml, SRV, NULL, w, T), 0);
    }
    /* The server total is still free for others, then full. */
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    maillimit_verdict v = dec(ml, MBX, "b@acme.example", 1, T);
    EXPECT_DENY(v, SRV, HOUR, 1, 1, 3600);
    /* An exempt sender ignores even a full server total. */
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_EXEMPT, 0, 0);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 1);
    maillimit_free(ml);
}

Test(decide, exempt_inherited_from_domain_subscription_plan)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, MBX, HOUR, 0);
    set(ml, SRV, NULL, DOM, HOUR, 0);
    set(ml, SRV, NULL, SUB, HOUR, 0);
    OK(maillimit_flag_set(ml, DOM, "shop.example", MAILLIMIT_FLAG_EXEMPT, 1));
    maillimit_verdict v = dec(ml, MBX, "s@shop.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, DOM, "shop.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, MBX, "new@shop.example", 1, T); /* implicit mailbox of an exempt domain */
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.reason, MAILLIMIT_REASON_LIMIT);

    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT, 1));
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, SUB, "acme_web", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, SUB, "acme", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    v = dec(ml, MBX, "c@beta.example", 1, T);
    EQ(v.decision, MAILLIMIT_DENY);

    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_EXEMPT, MAILLIMIT_DEFAULT));
    OK(maillimit_flag_set(ml, SUB, "beta", MAILLIMIT_FLAG_EXEMPT, 1));
    v = dec(ml, MBX, "c@beta.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 0);
    maillimit_free(ml);
}

Test(decide, explicit_not_exempt_under_exempt_parent_is_limited)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, DOM, "acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    OK(maillimit_flag_set(ml, MBX, "b@acme.example", MAILLIMIT_FLAG_EXEMPT, 0));
    set(ml, SRV, NULL, MBX, HOUR, 1);
    maillimit_verdict v = dec(ml, MBX, "b@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 0, 1);
    v = dec(ml, MBX, "b@acme.example", 1, T);
    EXPECT_DENY(v, MBX, HOUR, 1, 1, 3600);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_EXEMPT, 0, 1);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_EXEMPT, 0, 1);
    EQ(cnt(ml, MBX, "b@acme.example", HOUR, T), 1);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 0);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 1);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 1);
    maillimit_free(ml);
}

Test(decide, disabled_allows_and_counts_everywhere_past_limits)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, DOM, "acme.example", DOM, HOUR, 1);
    set(ml, SRV, NULL, SRV, DAY, 2);
    OK(maillimit_enabled_set(ml, 0));
    for (int i = 0; i < 3; i++) {
        maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T);
        EXPECT_ALLOW(v, MAILLIMIT_REASON_DISABLED, i, 1);
    }
    for (int w = HOUR; w <= DAY; w++) {
        EQ(cnt(ml, MBX, "a@acme.example", w, T), 3);
        EQ(cnt(ml, DOM, "acme.example", w, T), 3);
        EQ(cnt(ml, SUB, "acme", w, T), 3);
        EQ(cnt(ml, SRV, NULL, w, T), 3);
    }
    OK(maillimit_enabled_set(ml, 1));
    /* Mailbox and domain both deny with 3599 s: the tie goes to the higher level (domain);
     * the server's day total (3 of 2) denies with T+86400-(T+1) = 86399: the largest. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 1);
    EXPECT_DENY(v, SRV, DAY, 3, 2, 86399);
    set(ml, SRV, NULL, SRV, DAY, MAILLIMIT_UNLIMITED);
    v = dec(ml, MBX, "a@acme.example", 1, T + 1);
    EXPECT_DENY(v, DOM, HOUR, 3, 1, 3599);
    maillimit_free(ml);
}

Test(decide, exempt_takes_precedence_over_disabled)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    OK(maillimit_enabled_set(ml, 0));
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_EXEMPT, 0, -1);
    v = dec(ml, MBX, "b@acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_DISABLED, 0, -1);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 0);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T), 1);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 1);
    /* Unknown still comes first. */
    v = dec(ml, MBX, "x@unknown.example", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 2);
    maillimit_free(ml);
}

Test(decide, sendmail_off_denies_subscription_level_senders_only)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, 0));
    static const char *const subs[] = {"acme", "acme_web", "beta"};
    for (int i = 0; i < 3; i++) {
        maillimit_verdict v = dec(ml, SUB, subs[i], 1, T);
        EQ(v.decision, MAILLIMIT_DENY);
        EQ(v.reason, MAILLIMIT_REASON_NOT_ALLOWED);
        EQ(v.level, SUB);
        EQ(v.window, -1);
        EQ(v.retry_after, -1);
        EQ(v.token, 0);
    }
    EQ(cnt(ml, SUB, "acme", HOUR, T), 0);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    /* Mailbox and domain senders are unaffected. */
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    EXPECT_ALLOW(dec(ml, DOM, "acme.example", 1, T), MAILLIMIT_REASON_NONE, 1, -1);
    EXPECT_ALLOW(dec(ml, MBX, "c@beta.example", 1, T), MAILLIMIT_REASON_NONE, 0, -1);
    /* Plan on (acme inherits it), beta still off. */
    OK(maillimit_flag_set(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, 1));
    EXPECT_ALLOW(dec(ml, SUB, "acme", 1, T), MAILLIMIT_REASON_NONE, 2, -1);
    EXPECT_ALLOW(dec(ml, SUB, "acme_web", 1, T), MAILLIMIT_REASON_NONE, 3, -1);
    EQ(dec(ml, SUB, "beta", 1, T).reason, MAILLIMIT_REASON_NOT_ALLOWED);
    /* Subscription explicitly off under a plan that is on. */
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, 0));
    EQ(dec(ml, SUB, "acme_web", 1, T).reason, MAILLIMIT_REASON_NOT_ALLOWED);
    OK(maillimit_flag_set(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL, 1));
    EXPECT_ALLOW(dec(ml, SUB, "beta", 1, T), MAILLIMIT_REASON_NONE, 1, -1);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 4);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 6);
    maillimit_free(ml);
}

Test(decide, not_allowed_precedence)
{
    maillimit *ml = fixture();
    OK(maillimit_flag_set(ml, SRV, NULL, MAILLIMIT_FLAG_SENDMAIL, 0));
    /* NOT_ALLOWED comes before LIMIT. */
    set(ml, SUB, "beta", SUB, HOUR, 0);
    maillimit_verdict v = dec(ml, SUB, "beta", 1, T);
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.reason, MAILLIMIT_REASON_NOT_ALLOWED);
    EQ(v.level, SUB);
    EQ(v.window, -1);
    EQ(v.retry_after, -1);
    /* UNKNOWN comes before NOT_ALLOWED. */
    v = dec(ml, SUB, "nosuch", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_UNKNOWN);
    /* EXEMPT comes before NOT_ALLOWED. */
    OK(maillimit_flag_set(ml, SUB, "acme", MAILLIMIT_FLAG_EXEMPT, 1));
    v = dec(ml, SUB, "acme", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_EXEMPT);
    /* DISABLED comes before NOT_ALLOWED. */
    OK(maillimit_enabled_set(ml, 0));
    v = dec(ml, SUB, "beta", 1, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_DISABLED);
    EQ(cnt(ml, SUB, "beta", HOUR, T), 1);
    /* With sendmail on, beta's limit 0 denies: LIMIT, never (-1). */
    OK(maillimit_enabled_set(ml, 1));
    OK(maillimit_flag_set(ml, SUB, "beta", MAILLIMIT_FLAG_SENDMAIL, 1));
    v = dec(ml, SUB, "beta", 1, T);
    EXPECT_DENY(v, SUB, HOUR, 1, 0, -1);
    maillimit_free(ml);
}

Test(decide, subscription_level_mail_ignores_mailbox_and_domain_limits)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, MBX, HOUR, 0);
    set(ml, SRV, NULL, DOM, HOUR, 0);
    set(ml, SUB, "acme", SUB, HOUR, 2);
    EXPECT_ALLOW(dec(ml, SUB, "acme", 1, T), MAILLIMIT_REASON_NONE, 0, 2);
    EXPECT_ALLOW(dec(ml, SUB, "acme_web", 1, T), MAILLIMIT_REASON_NONE, 1, 2);
    maillimit_verdict v = dec(ml, SUB, "acme", 1, T + 30);
    EXPECT_DENY(v, SUB, HOUR, 2, 2, 3570);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T), 0);
    /* Domain-level mail ignores the mailbox limit. */
    set(ml, SRV, NULL, DOM, HOUR, 5);
    set(ml, SUB, "acme", SUB, HOUR, MAILLIMIT_UNLIMITED);
    EXPECT_ALLOW(dec(ml, DOM, "shop.example", 1, T), MAILLIMIT_REASON_NONE, 0, 5);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 3);
    maillimit_free(ml);
}

/* ---- implicit mailboxes ----------------------------------------------------------------- */

Test(decide, implicit_mailbox_limited_with_inherited_default)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", MBX, HOUR, 2);
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    int64_t lim = 0;
    EQ(maillimit_status_get(ml, MBX, "new@acme.example", HOUR, T, &s), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_limit_effective(ml, MBX, "new@acme.example", HOUR, &lim), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_reset(ml, MBX, "new@acme.example"), MAILLIMIT_ENOTFOUND);

    EXPECT_ALLOW(dec(ml, MBX, "New@Acme.Example", 1, T), MAILLIMIT_REASON_NONE, 0, 2);
    EXPECT_ALLOW(dec(ml, MBX, "new@acme.example", 1, T + 60), MAILLIMIT_REASON_NONE, 1, 2);
    maillimit_verdict v = dec(ml, MBX, "NEW@acme.example", 1, T + 120);
    EXPECT_DENY(v, MBX, HOUR, 2, 2, 3600 - 120);

    /* It exists now: status, limits, reset. */
    EQ(cnt(ml, MBX, "new@acme.example", HOUR, T + 120), 2);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 120), 2);
    OK(maillimit_limit_effective(ml, MBX, "new@acme.example", HOUR, &lim));
    EQ(lim, 2);
    OK(maillimit_limit_set(ml, MBX, "new@acme.example", MBX, HOUR, 5));
    EXPECT_ALLOW(dec(ml, MBX, "new@acme.example", 1, T + 120), MAILLIMIT_REASON_NONE, 2, 5);
    /* Registering it keeps its counters. */
    OK(maillimit_mailbox_add(ml, "new@acme.example"));
    EQ(cnt(ml, MBX, "new@acme.example", HOUR, T + 120), 3);
    OK(maillimit_reset(ml, MBX, "new@acme.example"));
    EQ(cnt(ml, MBX, "new@acme.example", HOUR, T + 120), 0);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 120), 3);
    maillimit_free(ml);
}

/* ---- verdict fields ---------------------------------------------------------------------- */

Test(decide, allowed_verdict_names_senders_own_hourly_counter)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 7);
    set(ml, MBX, "a@acme.example", MBX, DAY, 70);
    set(ml, DOM, "acme.example", DOM, HOUR, 9);
    set(ml, SUB, "acme", SUB, HOUR, 11);
    maillimit_verdict v1 = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v1, MAILLIMIT_REASON_NONE, 0, 7);
    maillimit_verdict v2 = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_ALLOW(v2, MAILLIMIT_REASON_NONE, 1, 7);
    maillimit_verdict v = dec(ml, DOM, "acme.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 2, 9);
    v = dec(ml, SUB, "acme", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 3, 11);
    v = dec(ml, SUB, "acme_web", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 4, 11);
    v = dec(ml, MBX, "c@beta.example", 1, T);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 0, -1);
    /* The hourly count, not the daily one: a unit from an hour ago is only in the day. */
    v = dec(ml, MBX, "a@acme.example", 1, T + 3600);
    EXPECT_ALLOW(v, MAILLIMIT_REASON_NONE, 0, 7);
    maillimit_free(ml);
}

/* ---- which denial is named ------------------------------------------------------------ */

Test(decide, equal_retry_after_names_higher_level)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, DOM, "acme.example", DOM, HOUR, 3);
    dec(ml, MBX, "a@acme.example", 1, T);
    dec(ml, MBX, "b@acme.example", 2, T + 600);
    /* Mailbox: its unit leaves at T+3600 → 2400. Domain (3 of 3): one unit must leave, the
     * first is a's at T+3600 → 2400. Tie: the domain. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 1200);
    EXPECT_DENY(v, DOM, HOUR, 3, 3, 2400);
    maillimit_free(ml);
}

Test(decide, larger_retry_after_wins_even_at_lower_level)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, DOM, "acme.example", DOM, HOUR, 3);
    dec(ml, MBX, "b@acme.example", 2, T);
    dec(ml, MBX, "a@acme.example", 1, T + 600);
    /* Mailbox: a's unit leaves at T+4200 → 3000. Domain: b's two leave at T+3600 → 2400. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 1200);
    EXPECT_DENY(v, MBX, HOUR, 1, 1, 3000);
    maillimit_free(ml);
}

Test(decide, never_beats_any_number_of_seconds)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    set(ml, DOM, "acme.example", DOM, HOUR, 1);
    dec(ml, MBX, "b@acme.example", 1, T);
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 60);
    EXPECT_DENY(v, MBX, HOUR, 0, 0, -1);
    /* A cost above a limit is never too. */
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    set(ml, DOM, "acme.example", DOM, HOUR, 4);
    v = dec(ml, MBX, "a@acme.example", 3, T + 60);
    EXPECT_DENY(v, MBX, HOUR, 0, 2, -1);
    maillimit_free(ml);
}

Test(decide, all_never_names_highest_level)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    set(ml, SUB, "acme", SUB, HOUR, 0);
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_DENY(v, SUB, HOUR, 0, 0, -1);
    set(ml, DOM, "acme.example", DOM, HOUR, 0);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_DENY(v, SUB, HOUR, 0, 0, -1);
    set(ml, SRV, NULL, SRV, HOUR, 0);
    v = dec(ml, MBX, "a@acme.example", 1, T);
    EXPECT_DENY(v, SRV, HOUR, 0, 0, -1);
    maillimit_free(ml);
}

Test(decide, both_windows_deny_larger_retry_window_named)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    set(ml, MBX, "a@acme.example", MBX, DAY, 3);
    dec(ml, MBX, "a@acme.example", 1, T - 3600); /* 09:00:00 */
    dec(ml, MBX, "a@acme.example", 1, T);        /* 10:00:00, hour count 0 before */
    dec(ml, MBX, "a@acme.example", 1, T + 30);
    /* Hour: 2 of 2, minute 10:00 leaves at 11:00 → 1800. Day: 3 of 3, the 09:00 unit
     * leaves at 09:00 next day = T+82800 → 81000. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 1800);
    EXPECT_DENY(v, MBX, DAY, 3, 3, 81000);
    maillimit_free(ml);
}

Test(decide, both_windows_equal_retry_names_hour)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, MBX, "a@acme.example", MBX, DAY, 2);
    dec(ml, MBX, "a@acme.example", 1, T - 82800); /* yesterday 11:00:00 */
    dec(ml, MBX, "a@acme.example", 1, T);         /* today 10:00:00 */
    /* Hour: minute 10:00 leaves at 11:00 → 1800. Day: yesterday's hour 11 leaves at
     * 11:00 today → 1800. Tie: hour. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, T + 1800);
    EXPECT_DENY(v, MBX, HOUR, 1, 1, 1800);
    /* Both never (cost above both limits): hour. */
    v = dec(ml, MBX, "a@acme.example", 3, T + 1800);
    EXPECT_DENY(v, MBX, HOUR, 1, 1, -1);
    maillimit_free(ml);
}

Test(decide, hour_never_beats_day_seconds)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, MBX, "a@acme.example", MBX, DAY, 2);
    dec(ml, MBX, "a@acme.example", 1, T - 7200); /* 08:00 */
    dec(ml, MBX, "a@acme.example", 1, T - 3600); /* 09:00 */
    /* Cost 2 at 10:00: hour 0 + 2 > 1 forever → -1; day 2 + 2 > 2 until both leave
     * (the 09:00 one at T+82800). -1 wins. */
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 2, T);
    EXPECT_DENY(v, MBX, HOUR, 0, 1, -1);
    maillimit_free(ml);
}

/* ---- reset ------------------------------------------------------------------------------- */

Test(decide, reset_clears_own_counters_only)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    dec(ml, MBX, "a@acme.example", 1, T);
    dec(ml, MBX, "a@acme.example", 1, T);
    dec(ml, MBX, "b@acme.example", 1, T);
    EQ(dec(ml, MBX, "a@acme.example", 1, T).decision, MAILLIMIT_DENY);

    OK(maillimit_reset(ml, MBX, "A@acme.example"));
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 0);
    EQ(cnt(ml, MBX, "a@acme.example", DAY, T), 0);
    EQ(cnt(ml, MBX, "b@acme.example", HOUR, T), 1);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T), 3);
    EQ(cnt(ml, SUB, "acme", DAY, T), 3);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 3);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T), MAILLIMIT_REASON_NONE, 0, 2);

    OK(maillimit_reset(ml, DOM, "acme.example"));
    EQ(cnt(ml, DOM, "acme.example", HOUR, T), 0);
    EQ(cnt(ml, DOM, "acme.example", DAY, T), 0);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 1);
    EQ(cnt(ml, MBX, "b@acme.example", HOUR, T), 1);
    EQ(cnt(ml, SUB, "acme", HOUR, T), 4);

    OK(maillimit_reset(ml, SUB, "acme"));
    EQ(cnt(ml, SUB, "acme", HOUR, T), 0);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 4);

    OK(maillimit_reset(ml, SRV, NULL));
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    EQ(cnt(ml, SRV, NULL, DAY, T), 0);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T), 1);

    /* Counting resumes from zero. */
    dec(ml, MBX, "b@acme.example", 1, T + 60);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 60), 1);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 60), 1);
    EQ(cnt(ml, SRV, NULL, HOUR, T + 60), 1);
    EQ(cnt(ml, MBX, "b@acme.example", HOUR, T + 60), 2);

    EQ(maillimit_reset(ml, PLN, "basic"), MAILLIMIT_EINVAL);
    EQ(maillimit_reset(ml, MBX, "zz@acme.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_reset(ml, DOM, "no.example"), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_reset(ml, SUB, "nosub"), MAILLIMIT_ENOTFOUND);
    maillimit_free(ml);
}
