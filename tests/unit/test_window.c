/* SPDX-License-Identifier: MIT */
/* Windows: the sliding hour (60 one-minute slots), the sliding day (24 one-hour slots),
 * retry_after and reset_after, status fields, time going backwards, limit changes.
 * Times are explicit: T = 2026-01-01 10:00:00 UTC (a multiple of 3600). */
#include <criterion/criterion.h>

#include <stdint.h>

#include <maillimit.h>

#include "fixture.h"

/* The fixture: acme with acme.example {a, b, c}. No limits. */
static maillimit *fixture(void)
{
    return fixture_from("subscription acme\n"
                        "domain acme.example subscription=acme\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n"
                        "mailbox c@acme.example\n");
}

static maillimit_status st(maillimit *ml, int level, const char *name, int window, int64_t now)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    OK(maillimit_status_get(ml, level, name, window, now, &s));
    return s;
}

#define EXPECT_ALLOW(v, count_)                                                               \
    do {                                                                                      \
        const maillimit_verdict vv_ = (v);                                                    \
        EQ((vv_).decision, MAILLIMIT_ALLOW);                                                  \
        EQ((vv_).reason, MAILLIMIT_REASON_NONE);                                              \
        EQ((vv_).count, count_);                                                              \
        EQ((vv_).retry_after, 0);                                                             \
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
    } while (0)

#define EXPECT_STATUS(s, sending_, blocked_, count_, limit_, remaining_, retry_, reset_)      \
    do {                                                                                      \
        EQ((s).sending, sending_);                                                            \
        EQ((s).blocked_by, blocked_);                                                         \
        EQ((s).count, count_);                                                                \
        EQ((s).limit, limit_);                                                                \
        EQ((s).remaining, remaining_);                                                        \
        EQ((s).retry_after, retry_);                                                          \
        EQ((s).reset_after, reset_);                                                          \
    } while (0)

/* ---- the hour --------------------------------------------------------------------------- */

Test(window, unit_counted_until_end_of_its_minute_plus_hour)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 30)), 0);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 59, 59)).count, 1);
    maillimit_verdict v = dec(ml, MBX, "a@acme.example", 1, AT(10, 59, 59));
    EXPECT_DENY(v, MBX, HOUR, 1, 1, 1);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 0, 0)).count, 0);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(11, 0, 0)).count, 0);
    EQ(st(ml, SRV, NULL, HOUR, AT(11, 0, 0)).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(11, 0, 0)), 0);
    maillimit_free(ml);
}

Test(window, late_second_of_a_minute_leaves_at_minute_start)
{
    maillimit *ml = fixture();
    /* 10:00:59 is still minute 10:00: it leaves at 11:00:00, not 11:00:59. */
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 59));
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 59, 59)).count, 1);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 0, 0)).count, 0);
    maillimit_free(ml);
}

Test(window, minutes_leave_one_by_one)
{
    maillimit *ml = fixture();
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 10));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 1, 20));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 2, 30));
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 30, 0)).count, 3);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 59, 59)).count, 3);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 0, 0)).count, 2);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 0, 59)).count, 2);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 1, 0)).count, 1);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(11, 1, 0)).count, 1);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 1, 59)).count, 1);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 2, 0)).count, 0);
    EQ(st(ml, SUB, "acme", HOUR, AT(11, 2, 0)).count, 0);
    /* The day still holds them all. */
    EQ(st(ml, MBX, "a@acme.example", DAY, AT(11, 2, 0)).count, 3);
    maillimit_free(ml);
}

Test(window, decisions_follow_the_sliding_minutes)
{
    maillimit *ml = fixture();
    set(ml, MBX, "b@acme.example", MBX, HOUR, 3);
    dec(ml, MBX, "b@acme.example", 1, AT(10, 0, 10));
    dec(ml, MBX, "b@acme.example", 1, AT(10, 1, 20));
    dec(ml, MBX, "b@acme.example", 1, AT(10, 2, 30));
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(10, 59, 59)), MBX, HOUR, 3, 3, 1);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(11, 0, 0)), 2);
    /* now 10:01, 10:02, 11:00: the next to leave is 10:01 at 11:01:00 */
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(11, 0, 1)), MBX, HOUR, 3, 3, 59);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(11, 1, 0)), 2);
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(11, 1, 1)), MBX, HOUR, 3, 3, 59);
    /* cost 2 needs 10:02 and 11:00 to leave: 12:00:00 - 11:01:01 = 3539 */
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 2, AT(11, 1, 1)), MBX, HOUR, 3, 3, 3539);
    maillimit_free(ml);
}

Test(window, retry_after_exact_values)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 20, 10));
    /* One unit: 10:00 leaves at 11:00:00 → 1800. */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, AT(10, 30, 0)), MBX, HOUR, 2, 2, 1800);
    /* Two units: both must leave, 10:20 at 11:20:00 → 3000. */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 2, AT(10, 30, 0)), MBX, HOUR, 2, 2, 3000);
    /* Cost above the limit: never. */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 3, AT(10, 30, 0)), MBX, HOUR, 2, 2, -1);
    /* Limit 0: never. */
    set(ml, MBX, "b@acme.example", MBX, HOUR, 0);
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(10, 30, 0)), MBX, HOUR, 0, 0, -1);
    /* And at the predicted instants it fits. */
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(11, 0, 0)), 1);
    maillimit_free(ml);
}

Test(window, retry_after_for_cost_2_at_the_predicted_instant)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 20, 10));
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 2, AT(10, 30, 0)), MBX, HOUR, 2, 2, 3000);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 2, AT(11, 19, 59)), MBX, HOUR, 1, 2, 1);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 2, AT(11, 20, 0)), 0);
    maillimit_free(ml);
}

/* ---- the day ---------------------------------------------------------------------------- */

Test(window, day_window_is_24_hour_slots)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, DAY, 1);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 15, 0)), 0);
    /* Hour slot 10:00-10:59 stays until 09:59:59 next day. */
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 15, 0)).count, 0);
    EQ(st(ml, MBX, "a@acme.example", DAY, AT(11, 15, 0)).count, 1);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86399).count, 1);
    EQ(st(ml, DOM, "acme.example", DAY, T + 86399).count, 1);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, T + 86399), MBX, DAY, 1, 1, 1);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400).count, 0);
    EQ(st(ml, SRV, NULL, DAY, T + 86400).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, T + 86400), 0);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400).count, 1);
    maillimit_free(ml);
}

Test(window, day_limit_retry_after)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, DAY, 2);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 15, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(14, 40, 0));
    /* At 20:00: hour 10 leaves at 10:00 next day → 14 h. */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, AT(20, 0, 0)), MBX, DAY, 2, 2, 50400);
    /* Two units: hour 14 leaves at 14:00 next day → 18 h. */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 2, AT(20, 0, 0)), MBX, DAY, 2, 2, 64800);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 3, AT(20, 0, 0)), MBX, DAY, 2, 2, -1);
    maillimit_status s = st(ml, MBX, "a@acme.example", DAY, AT(20, 0, 0));
    EXPECT_STATUS(s, 0, MBX, 2, 2, 0, 50400, 64800);
    maillimit_free(ml);
}

/* ---- status ----------------------------------------------------------------------------- */

Test(window, status_fields_own_limit)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    maillimit_status s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 0, 0));
    EXPECT_STATUS(s, 1, -1, 0, 2, 2, 0, 0);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 10, 0));
    EXPECT_STATUS(s, 1, -1, 1, 2, 1, 0, 3000);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 20, 10));
    s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 30, 0));
    /* blocked by itself; one unit fits at 11:00:00; empty at 11:20:00 */
    EXPECT_STATUS(s, 0, MBX, 2, 2, 0, 1800, 3000);
    /* Day window of the same mailbox: count 2, unlimited; still blocked by its hourly
     * limit; empty when hour slot 10 leaves at 10:00 next day. */
    s = st(ml, MBX, "a@acme.example", DAY, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, MBX, 2, -1, -1, 1800, 84600);
    /* The domain itself is not blocked by its mailbox's limit. */
    s = st(ml, DOM, "acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 1, -1, 2, -1, -1, 0, 3000);
    /* An idle sibling: nothing counted, nothing blocking. */
    s = st(ml, MBX, "b@acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 1, -1, 0, -1, -1, 0, 0);
    /* At 11:00 one unit is left. */
    s = st(ml, MBX, "a@acme.example", HOUR, AT(11, 0, 0));
    EXPECT_STATUS(s, 1, -1, 1, 2, 1, 0, 1200);
    maillimit_free(ml);
}

Test(window, status_blocked_by_ancestor)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", DOM, HOUR, 2);
    set(ml, MBX, "b@acme.example", MBX, HOUR, 5);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 20, 10));
    maillimit_status s = st(ml, MBX, "b@acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, DOM, 0, 5, 5, 1800, 0);
    s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, DOM, 2, -1, -1, 1800, 3000);
    s = st(ml, DOM, "acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, DOM, 2, 2, 0, 1800, 3000);
    s = st(ml, SUB, "acme", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 1, -1, 2, -1, -1, 0, 3000);
    /* Server total 0: the server blocks, never. Ties of -1 go to the higher level. */
    set(ml, SRV, NULL, SRV, HOUR, 0);
    s = st(ml, MBX, "b@acme.example", HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, SRV, 0, 5, 5, -1, 0);
    s = st(ml, SRV, NULL, HOUR, AT(10, 30, 0));
    EXPECT_STATUS(s, 0, SRV, 2, 0, 0, -1, 3000);
    maillimit_free(ml);
}

Test(window, status_blocked_by_largest_retry_after)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, DOM, "acme.example", DOM, HOUR, 3);
    dec(ml, MBX, "b@acme.example", 2, AT(10, 0, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    /* mailbox: 11:10 - 10:20 = 3000; domain: 11:00 - 10:20 = 2400 → mailbox */
    maillimit_status s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 20, 0));
    EXPECT_STATUS(s, 0, MBX, 1, 1, 0, 3000, 3000);
    maillimit_free(ml);
}

Test(window, remaining_never_negative)
{
    maillimit *ml = fixture();
    dec(ml, MBX, "a@acme.example", 3, AT(10, 0, 0));
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    maillimit_status s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 0, 0));
    EXPECT_STATUS(s, 0, MBX, 3, 1, 0, 3600, 3600);
    maillimit_free(ml);
}

Test(window, exempt_entity_is_always_sending)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    OK(maillimit_flag_set(ml, MBX, "a@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    maillimit_status s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 0, 0));
    EQ(s.sending, 1);
    EQ(s.blocked_by, -1);
    EQ(s.count, 0);
    EQ(s.limit, 0);
    EQ(s.remaining, 0);
    EQ(s.retry_after, 0);
    maillimit_free(ml);
}

Test(window, server_status)
{
    maillimit *ml = fixture();
    dec(ml, MBX, "a@acme.example", 2, AT(10, 5, 0));
    dec(ml, MBX, "x@unknown.example", 1, AT(10, 6, 0)); /* counted in the server total only */
    maillimit_status s = st(ml, SRV, NULL, HOUR, AT(10, 10, 0));
    EXPECT_STATUS(s, 1, -1, 3, -1, -1, 0, 3360);
    set(ml, SRV, NULL, SRV, HOUR, 3);
    s = st(ml, SRV, NULL, HOUR, AT(10, 10, 0));
    /* one unit fits when 10:05 leaves (11:05) */
    EXPECT_STATUS(s, 0, SRV, 3, 3, 0, 3300, 3360);
    set(ml, SRV, NULL, SRV, DAY, 10);
    s = st(ml, SRV, NULL, DAY, AT(10, 10, 0));
    EXPECT_STATUS(s, 0, SRV, 3, 10, 7, 3300, 86400 - 600);
    maillimit_free(ml);
}

/* ---- time going backwards --------------------------------------------------------------- */

Test(window, small_backwards_step_keeps_counts_consistent)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 3);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 30, 0)), 0);
    /* NTP steps back 20 minutes. */
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 10, 0)), 1);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 10, 5)), 2);
    EQ(dec(ml, MBX, "a@acme.example", 1, AT(10, 10, 10)).decision, MAILLIMIT_DENY);
    EQ(dec(ml, MBX, "a@acme.example", 1, AT(10, 10, 10)).count, 3);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 31, 0)).count, 3);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(10, 31, 0)).count, 3);
    EQ(st(ml, SRV, NULL, HOUR, AT(10, 31, 0)).count, 3);
    EQ(st(ml, MBX, "a@acme.example", DAY, AT(10, 31, 0)).count, 3);
    /* By 11:30:00 every one of them has left, wherever it was counted. */
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 30, 0)).count, 0);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(11, 30, 0)).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(11, 30, 0)), 0);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(11, 30, 0)).count, 1);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(11, 30, 0)).count, 1);
    EQ(st(ml, MBX, "a@acme.example", DAY, AT(11, 30, 0)).count, 4);
    maillimit_free(ml);
}

Test(window, large_backwards_step_does_not_corrupt_slots)
{
    maillimit *ml = fixture();
    set(ml, MBX, "b@acme.example", MBX, HOUR, 3);
    dec(ml, MBX, "b@acme.example", 2, AT(12, 0, 0));
    /* Two hours back: the minute 10:00 maps to the same slot as 12:00. The unit must be
     * counted (it was allowed) and must not overwrite the 12:00 units. */
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(10, 0, 0)), 2);
    EQ(st(ml, MBX, "b@acme.example", HOUR, AT(12, 0, 30)).count, 3);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(12, 0, 30)).count, 3);
    EQ(st(ml, SRV, NULL, HOUR, AT(12, 0, 30)).count, 3);
    EQ(dec(ml, MBX, "b@acme.example", 1, AT(10, 0, 10)).decision, MAILLIMIT_DENY);
    EQ(dec(ml, MBX, "b@acme.example", 1, AT(12, 0, 40)).decision, MAILLIMIT_DENY);
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(12, 0, 40)), MBX, HOUR, 3, 3, 3560);
    /* After 13:00 the window is empty and works normally again. */
    EQ(st(ml, MBX, "b@acme.example", HOUR, AT(13, 0, 0)).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(13, 0, 0)), 0);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(13, 1, 0)), 1);
    EXPECT_ALLOW(dec(ml, MBX, "b@acme.example", 1, AT(13, 2, 0)), 2);
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(13, 3, 0)), MBX, HOUR, 3, 3, 3420);
    EQ(st(ml, MBX, "b@acme.example", HOUR, AT(14, 1, 0)).count, 1);
    maillimit_free(ml);
}

/* ---- limit changes ---------------------------------------------------------------------- */

Test(window, limit_change_takes_effect_without_resetting_counts)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 5);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, AT(10, 1, 0)), MBX, HOUR, 3, 2, 3540);
    maillimit_status s = st(ml, MBX, "a@acme.example", HOUR, AT(10, 1, 0));
    EXPECT_STATUS(s, 0, MBX, 3, 2, 0, 3540, 3540);
    set(ml, MBX, "a@acme.example", MBX, HOUR, 4);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 1, 0)), 3);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, AT(10, 1, 0)), MBX, HOUR, 4, 4, 3540);
    /* An inherited change too: the domain now caps at 4 for the whole domain. */
    set(ml, MBX, "a@acme.example", MBX, HOUR, MAILLIMIT_UNLIMITED);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, AT(10, 1, 0)), 4);
    set(ml, SUB, "acme", DOM, HOUR, 5);
    EXPECT_DENY(dec(ml, MBX, "b@acme.example", 1, AT(10, 2, 0)), DOM, HOUR, 5, 5, 3480);
    EQ(st(ml, MBX, "a@acme.example", HOUR, AT(10, 2, 0)).count, 5);
    EQ(st(ml, DOM, "acme.example", HOUR, AT(10, 2, 0)).count, 5);
    maillimit_free(ml);
}

/* ---- long idle gaps --------------------------------------------------------------------- */

static void idle_gap_case(int64_t gap)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    set(ml, MBX, "a@acme.example", MBX, DAY, 3);
    dec(ml, MBX, "a@acme.example", 2, AT(10, 0, 30));
    const int64_t later = AT(10, 0, 30) + gap;
    /* Nothing sent since: after a day or more the old units are gone from both windows. */
    EQ(st(ml, MBX, "a@acme.example", HOUR, later).count, 0);
    EQ(st(ml, MBX, "a@acme.example", DAY, later).count, 0);
    EQ(st(ml, SRV, NULL, HOUR, later).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, later), 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 1, later), 1);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, later), MBX, HOUR, 2, 2, 3600 - 30);
    EQ(st(ml, MBX, "a@acme.example", HOUR, later).count, 2);
    EQ(st(ml, MBX, "a@acme.example", DAY, later).count, 2);
    EQ(st(ml, DOM, "acme.example", DAY, later).count, 2);
    maillimit_free(ml);
}

Test(window, idle_gaps_of_days_and_weeks)
{
    idle_gap_case(86400);           /* same minute of the next day */
    idle_gap_case(128 * 3600);      /* 128 hours */
    idle_gap_case(256 * 3600);      /* 256 hours */
    idle_gap_case(7 * 86400 + 60);  /* a week and a minute */
    idle_gap_case(365 * 86400LL);   /* a year */
}

/* Units of a closed hour (10:xx, seen from 11:30) and of the open hour are both in the day
 * window, each leaving 24 h after the start of its hour. */
Test(window, day_retry_and_reset_across_closed_hours)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, DAY, 3);
    dec(ml, MBX, "a@acme.example", 1, AT(10, 15, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(10, 45, 0));
    dec(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    /* hour 10 (2 units) leaves at 10:00 tomorrow = 22 h 30 min after 11:30 */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 1, AT(11, 30, 0)), MBX, DAY, 3, 3, 81000);
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 2, AT(11, 30, 0)), MBX, DAY, 3, 3, 81000);
    /* all three: hour 11 leaves at 11:00 tomorrow */
    EXPECT_DENY(dec(ml, MBX, "a@acme.example", 3, AT(11, 30, 0)), MBX, DAY, 3, 3, 84600);
    maillimit_status s = st(ml, MBX, "a@acme.example", DAY, AT(11, 30, 0));
    EXPECT_STATUS(s, 0, MBX, 3, 3, 0, 81000, 84600);
    s = st(ml, MBX, "a@acme.example", HOUR, AT(11, 30, 0));
    EXPECT_STATUS(s, 0, MBX, 2, -1, -1, 81000, 2100); /* 10:45 and 11:05; 11:05 leaves 12:05 */
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400 - 1).count, 3);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400).count, 1);
    EQ(st(ml, DOM, "acme.example", DAY, T + 86400).count, 1);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400 + 3600).count, 0);
    EXPECT_ALLOW(dec(ml, MBX, "a@acme.example", 2, T + 86400), 0);
    EQ(st(ml, MBX, "a@acme.example", DAY, T + 86400).count, 3);
    maillimit_free(ml);
}
