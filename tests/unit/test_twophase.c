/* SPDX-License-Identifier: MIT */
/* Two-phase use: reserve, commit, release, and what happens to tokens that are unknown,
 * already used, or whose minute has left the window. SPEC.md §3 "Two-phase", §4.1 "Tokens". */
#include <criterion/criterion.h>

#include <stdint.h>

#include <maillimit.h>

#include "fixture.h"

/* The fixture: acme with acme.example {a, b}. No limits. */
static maillimit *fixture(void)
{
    return fixture_from("subscription acme\n"
                        "domain acme.example subscription=acme\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n");
}

static maillimit_verdict reserve(maillimit *ml, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, MBX, sender, cost, now, &v));
    return v;
}

static maillimit_verdict decide(maillimit *ml, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, MBX, sender, cost, now, &v));
    return v;
}

/* Counts of a, b, the domain, the subscription and the server in one window. */
#define EXPECT_COUNTS(window, now, a_, b_, dom_, sub_, srv_)                                  \
    do {                                                                                      \
        EQ(cnt(ml, MBX, "a@acme.example", window, now), a_);                                  \
        EQ(cnt(ml, MBX, "b@acme.example", window, now), b_);                                  \
        EQ(cnt(ml, DOM, "acme.example", window, now), dom_);                                  \
        EQ(cnt(ml, SUB, "acme", window, now), sub_);                                          \
        EQ(cnt(ml, SRV, NULL, window, now), srv_);                                            \
    } while (0)

Test(twophase, reserve_counts_immediately)
{
    maillimit *ml = fixture();
    maillimit_verdict v = reserve(ml, "a@acme.example", 2, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    EQ(v.count, 0);
    EQ(v.retry_after, 0);
    cr_assert(v.token != 0);
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    EXPECT_COUNTS(DAY, T, 2, 0, 2, 2, 2);
    /* and reserved units count against limits */
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 3));
    maillimit_verdict w = reserve(ml, "a@acme.example", 2, T);
    EQ(w.decision, MAILLIMIT_DENY);
    EQ(w.reason, MAILLIMIT_REASON_LIMIT);
    EQ(w.count, 2);
    EQ(w.token, 0);
    maillimit_free(ml);
}

Test(twophase, commit_keeps_the_count)
{
    maillimit *ml = fixture();
    maillimit_verdict v = reserve(ml, "a@acme.example", 2, T);
    OK(maillimit_commit(ml, v.token));
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    EXPECT_COUNTS(DAY, T, 2, 0, 2, 2, 2);
    /* once only; and a committed token can no longer be released */
    EQ(maillimit_commit(ml, v.token), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_release(ml, v.token), MAILLIMIT_ENOTFOUND);
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    maillimit_free(ml);
}

Test(twophase, release_gives_units_back_everywhere)
{
    maillimit *ml = fixture();
    maillimit_verdict v = reserve(ml, "a@acme.example", 3, T);
    decide(ml, "b@acme.example", 1, T);
    EXPECT_COUNTS(HOUR, T, 3, 1, 4, 4, 4);
    OK(maillimit_release(ml, v.token));
    EXPECT_COUNTS(HOUR, T, 0, 1, 1, 1, 1);
    EXPECT_COUNTS(DAY, T, 0, 1, 1, 1, 1);
    /* once only; and a released token can no longer be committed */
    EQ(maillimit_release(ml, v.token), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_commit(ml, v.token), MAILLIMIT_ENOTFOUND);
    EXPECT_COUNTS(HOUR, T, 0, 1, 1, 1, 1);
    EXPECT_COUNTS(DAY, T, 0, 1, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, release_restores_capacity)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 1));
    maillimit_verdict r = reserve(ml, "a@acme.example", 1, T);
    EQ(r.decision, MAILLIMIT_ALLOW);
    maillimit_verdict v = decide(ml, "a@acme.example", 1, T + 10);
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.count, 1);
    EQ(v.retry_after, 3590);
    OK(maillimit_release(ml, r.token));
    v = decide(ml, "a@acme.example", 1, T + 20);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 0);
    EXPECT_COUNTS(HOUR, T + 20, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, token_zero_einval)
{
    maillimit *ml = fixture();
    reserve(ml, "a@acme.example", 1, T);
    EQ(maillimit_commit(ml, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_release(ml, 0), MAILLIMIT_EINVAL);
    EXPECT_COUNTS(HOUR, T, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, unknown_tokens_enotfound_and_change_nothing)
{
    maillimit *ml = fixture();
    EQ(maillimit_commit(ml, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_release(ml, 1), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_release(ml, 123456789), MAILLIMIT_ENOTFOUND);
    maillimit_verdict v = reserve(ml, "a@acme.example", 2, T);
    uint64_t t = v.token;
    cr_assert(t != 0);
    /* Tokens never issued: the next ones, one that would share a table slot with t, and
     * the all-ones word. */
    static const uint64_t delta[] = {1, 2, 16384, 32768, UINT64_C(1) << 40};
    for (size_t i = 0; i < sizeof delta / sizeof delta[0]; i++) {
        EQ(maillimit_release(ml, t + delta[i]), MAILLIMIT_ENOTFOUND);
        EQ(maillimit_commit(ml, t + delta[i]), MAILLIMIT_ENOTFOUND);
    }
    EQ(maillimit_release(ml, UINT64_MAX), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_commit(ml, UINT64_MAX), MAILLIMIT_ENOTFOUND);
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    /* and the real token still works */
    OK(maillimit_release(ml, t));
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

Test(twophase, decide_tokens_are_already_committed)
{
    maillimit *ml = fixture();
    maillimit_verdict v = decide(ml, "a@acme.example", 2, T);
    EQ(v.decision, MAILLIMIT_ALLOW);
    cr_assert(v.token != 0);
    EQ(maillimit_release(ml, v.token), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_commit(ml, v.token), MAILLIMIT_ENOTFOUND);
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    maillimit_free(ml);
}

Test(twophase, denied_reservation_has_no_token)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, DOM, "acme.example", DOM, HOUR, 1));
    maillimit_verdict r = reserve(ml, "a@acme.example", 1, T);
    EQ(r.decision, MAILLIMIT_ALLOW);
    maillimit_verdict v = reserve(ml, "b@acme.example", 1, T);
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.level, DOM);
    EQ(v.token, 0);
    EXPECT_COUNTS(HOUR, T, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, each_reservation_released_independently)
{
    maillimit *ml = fixture();
    maillimit_verdict r1 = reserve(ml, "a@acme.example", 1, T);
    maillimit_verdict r2 = reserve(ml, "a@acme.example", 2, T);
    maillimit_verdict r3 = reserve(ml, "b@acme.example", 4, T);
    cr_assert(r1.token != r2.token && r2.token != r3.token && r1.token != r3.token);
    EXPECT_COUNTS(HOUR, T, 3, 4, 7, 7, 7);
    OK(maillimit_release(ml, r2.token));
    EXPECT_COUNTS(HOUR, T, 1, 4, 5, 5, 5);
    OK(maillimit_commit(ml, r1.token));
    OK(maillimit_release(ml, r3.token));
    EXPECT_COUNTS(HOUR, T, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(DAY, T, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, release_goes_to_the_minute_it_was_counted_in)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T + 30); /* minute 10:00 */
    decide(ml, "a@acme.example", 1, T + 90);                        /* minute 10:01 */
    EXPECT_COUNTS(HOUR, T + 90, 3, 0, 3, 3, 3);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, T + 90, 1, 0, 1, 1, 1);
    /* What is left is the 10:01 unit: still there at 11:00, gone at 11:01. */
    EXPECT_COUNTS(HOUR, T + 3600, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(HOUR, T + 3660, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

Test(twophase, release_after_the_minute_left_the_window_changes_no_hour_count)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    /* An hour later the ring has moved on: minute T/60 is out of the window. */
    maillimit_verdict v = decide(ml, "a@acme.example", 1, T + 3600);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 0);
    EXPECT_COUNTS(HOUR, T + 3600, 1, 0, 1, 1, 1);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, T + 3600, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(HOUR, T + 3610, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

/* The header: release gives units back "to the minute and hour slots they were counted in
 * (nothing happens for slots that already left their window)". An hour later the hour slot
 * of T is still in the day window, so the day counts drop. */
Test(twophase, release_after_the_minute_left_gives_back_live_day_slot)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    decide(ml, "a@acme.example", 1, T + 3600);
    EXPECT_COUNTS(DAY, T + 3600, 3, 0, 3, 3, 3);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(DAY, T + 3600, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, release_a_day_later_changes_nothing)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    decide(ml, "a@acme.example", 1, T + 86400);
    EXPECT_COUNTS(DAY, T + 86400, 1, 0, 1, 1, 1);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(DAY, T + 86400, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(HOUR, T + 86400, 1, 0, 1, 1, 1);
    maillimit_free(ml);
}

Test(twophase, reserve_while_disabled_is_counted_and_releasable)
{
    maillimit *ml = fixture();
    OK(maillimit_limit_set(ml, MBX, "a@acme.example", MBX, HOUR, 0));
    OK(maillimit_enabled_set(ml, 0));
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    EQ(r.decision, MAILLIMIT_ALLOW);
    EQ(r.reason, MAILLIMIT_REASON_DISABLED);
    cr_assert(r.token != 0);
    EXPECT_COUNTS(HOUR, T, 2, 0, 2, 2, 2);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

Test(twophase, reserve_unknown_sender_counts_server_total_only)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "x@unknown.example", 3, T);
    EQ(r.decision, MAILLIMIT_ALLOW);
    EQ(r.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert(r.token != 0);
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 0, 3);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

Test(twophase, domain_and_subscription_level_reservations)
{
    maillimit *ml = fixture();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, DOM, "acme.example", 2, T, &v));
    uint64_t t1 = v.token;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, SUB, "acme", 5, T, &v));
    uint64_t t2 = v.token;
    EXPECT_COUNTS(HOUR, T, 0, 0, 2, 7, 7);
    OK(maillimit_release(ml, t1));
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 5, 5);
    OK(maillimit_release(ml, t2));
    EXPECT_COUNTS(HOUR, T, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

/* Tokens are remembered until 16384 newer reservations, which on a quiet handle can be days.
 * 128 hours later the minute slot of T holds minute T/60 + 7680 again (same slot, and the
 * same position in any cycle shorter than 128 h): the stale release must not take units
 * of that newer minute. SPEC §4.1: a release after the reserved minute left the window
 * changes nothing and returns 0. */
Test(twophase, release_of_a_token_128_hours_old_changes_nothing)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    const int64_t later = T + 128 * 3600;
    maillimit_verdict v = decide(ml, "a@acme.example", 3, later);
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 0);
    EXPECT_COUNTS(HOUR, later, 3, 0, 3, 3, 3);
    EXPECT_COUNTS(DAY, later, 3, 0, 3, 3, 3);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, later, 3, 0, 3, 3, 3);
    EXPECT_COUNTS(DAY, later, 3, 0, 3, 3, 3);
    maillimit_free(ml);
}

Test(twophase, release_of_a_token_25_hours_old_changes_nothing)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    const int64_t later = T + 25 * 3600;
    decide(ml, "a@acme.example", 3, later);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, later, 3, 0, 3, 3, 3);
    EXPECT_COUNTS(DAY, later, 3, 0, 3, 3, 3);
    maillimit_free(ml);
}

Test(twophase, now_zero_reads_the_clock)
{
    maillimit *ml = fixture();
    maillimit_verdict r;
    maillimit_verdict_init(&r, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, MBX, "a@acme.example", 2, 0, &r));
    EQ(r.decision, MAILLIMIT_ALLOW);
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, 0), 2);
    OK(maillimit_release(ml, r.token));
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, 0), 0);
    EQ(cnt(ml, SRV, NULL, DAY, 0), 0);
    maillimit_free(ml);
}

Test(twophase, release_after_its_hour_closed)
{
    maillimit *ml = fixture();
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T + 3570); /* 10:59:30 */
    decide(ml, "a@acme.example", 1, T + 3610);                        /* 11:00:10 */
    EXPECT_COUNTS(HOUR, T + 3610, 3, 0, 3, 3, 3);
    EXPECT_COUNTS(DAY, T + 3610, 3, 0, 3, 3, 3);
    OK(maillimit_release(ml, r.token));
    EXPECT_COUNTS(HOUR, T + 3610, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(DAY, T + 3610, 1, 0, 1, 1, 1);
    /* What is left is the 11:00 unit: in the day window until 11:00 tomorrow. */
    EXPECT_COUNTS(DAY, T + 86400, 1, 0, 1, 1, 1);
    EXPECT_COUNTS(DAY, T + 86400 + 3600, 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

/* A release gives the units back to the counters they were counted in, even if the domain
 * has moved to another subscription since. */
Test(twophase, release_after_domain_move_goes_to_the_old_subscription)
{
    maillimit *ml = fixture();
    OK(maillimit_subscription_add(ml, "beta", NULL));
    maillimit_verdict r = reserve(ml, "a@acme.example", 2, T);
    decide(ml, "a@acme.example", 1, T + 1);
    OK(maillimit_domain_move(ml, "acme.example", "beta"));
    decide(ml, "a@acme.example", 4, T + 2);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 2), 3);
    EQ(cnt(ml, SUB, "beta", HOUR, T + 2), 4);
    OK(maillimit_release(ml, r.token));
    EQ(cnt(ml, MBX, "a@acme.example", HOUR, T + 2), 5);
    EQ(cnt(ml, DOM, "acme.example", HOUR, T + 2), 5);
    EQ(cnt(ml, SUB, "acme", HOUR, T + 2), 1);
    EQ(cnt(ml, SUB, "beta", HOUR, T + 2), 4);
    EQ(cnt(ml, SRV, NULL, HOUR, T + 2), 5);
    maillimit_free(ml);
}
