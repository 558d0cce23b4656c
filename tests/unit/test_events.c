/* SPDX-License-Identifier: MIT */
/* Events: one LIMIT_REACHED per episode start and one BACK_TO_NORMAL per end, with exact
 * times, limits, denied counts and names; seq 1, 2, 3... in queue order; the bounded queue
 * (4096 waiting, the oldest dropped and counted). Hand-computed from include/maillimit.h
 * ("Reports and events"). T = 2026-01-01 10:00:00 UTC (a multiple of 3600). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <maillimit.h>

#include "fixture.h"

#define H 3600LL
#define LR MAILLIMIT_EVENT_LIMIT_REACHED
#define BTN MAILLIMIT_EVENT_BACK_TO_NORMAL

/* acme: acme.example {a, b}, shop.example {s}; beta: beta.example {x}. No limits. */
static maillimit *fixture(void)
{
    return fixture_from("subscription acme\n"
                        "subscription beta\n"
                        "domain acme.example subscription=acme\n"
                        "domain shop.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n"
                        "mailbox s@shop.example\n"
                        "mailbox x@beta.example\n");
}

static void expect_decision(maillimit *ml, int level, const char *sender, int64_t cost,
                            int64_t now, int decision)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, level, sender, cost, now, &v));
    cr_assert(v.decision == decision, "%s cost %lld at T%+lld: got %s, expected %s", sender,
              (long long)cost, (long long)(now - T), v.decision ? "DENY" : "ALLOW",
              decision ? "DENY" : "ALLOW");
}
#define ALLOW(ml, level, sender, cost, now)                                                   \
    expect_decision(ml, level, sender, cost, now, MAILLIMIT_ALLOW)
#define DENY(ml, level, sender, cost, now)                                                    \
    expect_decision(ml, level, sender, cost, now, MAILLIMIT_DENY)

static void expect_event_(maillimit *ml, int64_t now, uint64_t seq, int type, int level,
                          const char *name, int window, int64_t time, int64_t limit,
                          int64_t denied, int line)
{
    maillimit_event ev;
    memset(&ev, 0x5a, sizeof ev);
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    int rc = maillimit_events_next(ml, now, &ev);
    cr_assert(rc == 0, "line %d: events_next at T%+lld: %d (expected event seq %llu \"%s\")",
              line, (long long)(now - T), rc, (unsigned long long)seq, name);
    EQ(ev.version, MAILLIMIT_EVENT_VERSION);
    cr_assert(ev.seq == seq && ev.type == type && ev.level == level &&
                  strcmp(ev.name, name) == 0 && ev.window == window && ev.time == time &&
                  ev.limit == limit && ev.denied == denied,
              "line %d: got {seq %llu type %d level %d \"%s\" window %d time T%+lld limit %lld "
              "denied %lld}, expected {seq %llu type %d level %d \"%s\" window %d time T%+lld "
              "limit %lld denied %lld}",
              line, (unsigned long long)ev.seq, ev.type, ev.level, ev.name, ev.window,
              (long long)(ev.time - T), (long long)ev.limit, (long long)ev.denied,
              (unsigned long long)seq, type, level, name, window, (long long)(time - T),
              (long long)limit, (long long)denied);
}
#define EXPECT_EVENT(ml, now, seq, type, level, name, window, time, limit, denied)            \
    expect_event_(ml, now, seq, type, level, name, window, time, limit, denied, __LINE__)

static void expect_none_(maillimit *ml, int64_t now, int line)
{
    maillimit_event ev;
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    int rc = maillimit_events_next(ml, now, &ev);
    cr_assert(rc == MAILLIMIT_EDONE,
              "line %d: events_next at T%+lld: got %d (seq %llu type %d \"%s\" at T%+lld), "
              "expected EDONE",
              line, (long long)(now - T), rc, (unsigned long long)ev.seq, ev.type, ev.name,
              (long long)(ev.time - T));
}
#define EXPECT_NONE(ml, now) expect_none_(ml, now, __LINE__)

static uint64_t dropped(maillimit *ml)
{
    uint64_t d = 12345;
    OK(maillimit_events_dropped(ml, &d));
    return d;
}

/* ---------------------------------------------------------------------------------------- */

Test(events, empty_queue_is_edone)
{
    maillimit *ml = fixture();
    EXPECT_NONE(ml, T);
    EQ(dropped(ml), 0);
    /* Traffic without any limit, exempt mail and disabled mail make no events. */
    ALLOW(ml, MBX, "a@acme.example", 5, AT(10, 1, 0));
    set(ml, MBX, "b@acme.example", MBX, HOUR, 0);
    OK(maillimit_flag_set(ml, MBX, "b@acme.example", MAILLIMIT_FLAG_EXEMPT, 1));
    ALLOW(ml, MBX, "b@acme.example", 1, AT(10, 2, 0));
    set(ml, MBX, "s@shop.example", MBX, HOUR, 0);
    OK(maillimit_enabled_set(ml, 0));
    ALLOW(ml, MBX, "s@shop.example", 1, AT(10, 3, 0));
    OK(maillimit_tick(ml, AT(10, 4, 0)));
    EXPECT_NONE(ml, AT(10, 5, 0));
    EXPECT_NONE(ml, AT(12, 0, 0));
    EQ(dropped(ml), 0);
    maillimit_free(ml);
}

Test(events, one_limit_reached_per_episode_and_one_back_to_normal)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    /* Ten denials in one episode, with readers and ticks in between: one edge. */
    for (int i = 0; i < 10; i++) {
        DENY(ml, MBX, "a@acme.example", 1, AT(10, 20 + i, 0));
        if (i == 3)
            OK(maillimit_tick(ml, AT(10, 23, 30)));
        if (i == 5)
            EXPECT_EVENT(ml, AT(10, 25, 30), 1, LR, MBX, "a@acme.example", HOUR, AT(10, 20, 0),
                         2, 0);
    }
    EXPECT_NONE(ml, AT(10, 30, 0));
    EXPECT_NONE(ml, AT(10, 59, 59));
    /* Back to normal when the 10:00:30 unit leaves, exactly 11:00:00. */
    EXPECT_EVENT(ml, AT(11, 0, 0), 2, BTN, MBX, "a@acme.example", HOUR, AT(11, 0, 0), 2, 10);
    EXPECT_NONE(ml, AT(11, 0, 0));
    /* A second episode: 11:00:00 allowed (with the 10:10 unit, 2), 11:05 denied thrice. */
    ALLOW(ml, MBX, "a@acme.example", 1, AT(11, 0, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    DENY(ml, MBX, "a@acme.example", 2, AT(11, 6, 0));
    EXPECT_EVENT(ml, AT(11, 6, 30), 3, LR, MBX, "a@acme.example", HOUR, AT(11, 5, 0), 2, 0);
    DENY(ml, MBX, "a@acme.example", 1, AT(11, 7, 0));
    EXPECT_NONE(ml, AT(11, 9, 59));
    /* Noticed by a tick, pulled later: the edge keeps its own time. */
    OK(maillimit_tick(ml, AT(11, 10, 0)));
    EXPECT_EVENT(ml, AT(11, 30, 0), 4, BTN, MBX, "a@acme.example", HOUR, AT(11, 10, 0), 2, 4);
    EXPECT_NONE(ml, AT(12, 0, 0));
    EQ(dropped(ml), 0);
    maillimit_free(ml);
}

Test(events, edges_noticed_late_keep_their_times_and_order)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 20, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 25, 0));
    /* No reader or tick until 13:00; a second episode in between. */
    ALLOW(ml, MBX, "a@acme.example", 1, AT(11, 0, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    EXPECT_EVENT(ml, AT(13, 0, 0), 1, LR, MBX, "a@acme.example", HOUR, AT(10, 20, 0), 2, 0);
    EXPECT_EVENT(ml, AT(13, 0, 0), 2, BTN, MBX, "a@acme.example", HOUR, AT(11, 0, 0), 2, 2);
    EXPECT_EVENT(ml, AT(13, 0, 0), 3, LR, MBX, "a@acme.example", HOUR, AT(11, 5, 0), 2, 0);
    EXPECT_EVENT(ml, AT(13, 0, 0), 4, BTN, MBX, "a@acme.example", HOUR, AT(11, 10, 0), 2, 1);
    EXPECT_NONE(ml, AT(13, 0, 0));
    maillimit_free(ml);
}

Test(events, seq_runs_across_entities_and_levels)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    set(ml, DOM, "shop.example", DOM, HOUR, 1);
    set(ml, SRV, NULL, SRV, HOUR, 5);
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));  /* server 1 */
    ALLOW(ml, MBX, "s@shop.example", 1, AT(10, 1, 0));  /* server 2 */
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 2, 0));   /* a: until 11:00 */
    EXPECT_EVENT(ml, AT(10, 2, 30), 1, LR, MBX, "a@acme.example", HOUR, AT(10, 2, 0), 1, 0);
    DENY(ml, MBX, "s@shop.example", 1, AT(10, 3, 0));   /* shop.example: until 11:01 */
    ALLOW(ml, MBX, "x@beta.example", 3, AT(10, 4, 0));  /* server 5 */
    DENY(ml, MBX, "x@beta.example", 1, AT(10, 5, 0));   /* the server */
    EXPECT_EVENT(ml, AT(10, 6, 0), 2, LR, DOM, "shop.example", HOUR, AT(10, 3, 0), 1, 0);
    EXPECT_EVENT(ml, AT(10, 6, 0), 3, LR, SRV, "", HOUR, AT(10, 5, 0), 5, 0);
    EXPECT_NONE(ml, AT(10, 6, 0));
    /* The server total is lifted: back to normal at the next tick. */
    set(ml, SRV, NULL, SRV, HOUR, MAILLIMIT_UNLIMITED);
    OK(maillimit_tick(ml, AT(10, 30, 0)));
    EXPECT_EVENT(ml, AT(10, 31, 0), 4, BTN, SRV, "", HOUR, AT(10, 30, 0), 5, 1);
    EXPECT_NONE(ml, AT(10, 59, 59));
    EXPECT_EVENT(ml, AT(11, 0, 0), 5, BTN, MBX, "a@acme.example", HOUR, AT(11, 0, 0), 1, 1);
    EXPECT_NONE(ml, AT(11, 0, 59));
    EXPECT_EVENT(ml, AT(11, 1, 0), 6, BTN, DOM, "shop.example", HOUR, AT(11, 1, 0), 1, 1);
    EXPECT_NONE(ml, AT(12, 0, 0));
    maillimit_free(ml);
}

Test(events, subscription_episode_edges)
{
    maillimit *ml = fixture();
    set(ml, SUB, "beta", SUB, DAY, 2);
    ALLOW(ml, SUB, "beta", 2, AT(10, 0, 0));
    DENY(ml, MBX, "x@beta.example", 1, AT(10, 30, 0));
    EXPECT_EVENT(ml, AT(10, 31, 0), 1, LR, SUB, "beta", DAY, AT(10, 30, 0), 2, 0);
    for (int k = 1; k <= 23; k++)
        OK(maillimit_tick(ml, T + k * H));
    EXPECT_NONE(ml, T + 24 * H - 1);
    EXPECT_EVENT(ml, T + 24 * H, 2, BTN, SUB, "beta", DAY, T + 24 * H, 2, 1);
    maillimit_free(ml);
}

Test(events, reset_gives_back_to_normal_at_the_tick_that_notices_it)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 11, 0));
    OK(maillimit_reset(ml, MBX, "a@acme.example"));
    OK(maillimit_tick(ml, AT(10, 30, 0)));
    EXPECT_EVENT(ml, AT(10, 31, 0), 1, LR, MBX, "a@acme.example", HOUR, AT(10, 10, 0), 1, 0);
    EXPECT_EVENT(ml, AT(10, 31, 0), 2, BTN, MBX, "a@acme.example", HOUR, AT(10, 30, 0), 1, 2);
    EXPECT_NONE(ml, AT(12, 0, 0));
    maillimit_free(ml);
}

Test(events, reset_noticed_by_event_next_itself)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", DOM, HOUR, 1);
    ALLOW(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    DENY(ml, MBX, "b@acme.example", 1, AT(10, 10, 0));
    EXPECT_EVENT(ml, AT(10, 11, 0), 1, LR, DOM, "acme.example", HOUR, AT(10, 10, 0), 1, 0);
    OK(maillimit_reset(ml, DOM, "acme.example"));
    EXPECT_EVENT(ml, AT(10, 20, 0), 2, BTN, DOM, "acme.example", HOUR, AT(10, 20, 0), 1, 1);
    EXPECT_NONE(ml, AT(12, 0, 0));
    maillimit_free(ml);
}

Test(events, limit_zero_never_back_to_normal_by_itself)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 20, 0));
    for (int k = 1; k <= 30; k++)
        OK(maillimit_tick(ml, T + k * H));
    DENY(ml, MBX, "a@acme.example", 1, T + 30 * H + 5);
    EXPECT_EVENT(ml, T + 30 * H + 10, 1, LR, MBX, "a@acme.example", HOUR, AT(10, 10, 0), 0, 0);
    EXPECT_NONE(ml, T + 30 * H + 10);
    /* Raised: it ends at the next tick, with every denial of the episode. */
    set(ml, MBX, "a@acme.example", MBX, HOUR, 10);
    OK(maillimit_tick(ml, T + 31 * H));
    EXPECT_EVENT(ml, T + 31 * H + 1, 2, BTN, MBX, "a@acme.example", HOUR, T + 31 * H, 0, 3);
    EXPECT_NONE(ml, T + 32 * H);
    maillimit_free(ml);
}

/* ---- the bounded queue ------------------------------------------------------------------ */

#define FLOOD 5000
#define QUEUE 4096

static maillimit *flood_fixture(void)
{
    maillimit *ml = NULL;
    OK(maillimit_new(&ml));
    OK(maillimit_subscription_add(ml, "flood", NULL));
    OK(maillimit_domain_add(ml, "flood.example", "flood"));
    set(ml, DOM, "flood.example", MBX, HOUR, 0);
    char name[64];
    for (int i = 0; i < FLOOD; i++) {
        snprintf(name, sizeof name, "m%04d@flood.example", i);
        OK(maillimit_mailbox_add(ml, name));
    }
    return ml;
}

/* After FLOOD LIMIT_REACHED (mailbox i at T + i), the newest QUEUE are delivered. */
static void expect_flood_tail(maillimit *ml, int64_t now)
{
    const int first = FLOOD - QUEUE; /* 904 dropped */
    EQ(dropped(ml), first);
    char name[64];
    for (int k = 0; k < QUEUE; k++) {
        int i = first + k;
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        int rc = maillimit_events_next(ml, now, &ev);
        cr_assert(rc == 0, "event %d of %d: %d", k, QUEUE, rc);
        snprintf(name, sizeof name, "m%04d@flood.example", i);
        cr_assert(ev.seq == (uint64_t)i + 1 && ev.type == LR && ev.level == MBX &&
                      ev.window == HOUR && ev.limit == 0 && ev.denied == 0 &&
                      ev.time == T + i && strcmp(ev.name, name) == 0,
                  "delivered event %d: got {seq %llu type %d level %d \"%s\" time T%+lld "
                  "limit %lld}, expected {seq %d LIMIT_REACHED \"%s\" time T%+d limit 0}",
                  k, (unsigned long long)ev.seq, ev.type, ev.level, ev.name,
                  (long long)(ev.time - T), (long long)ev.limit, i + 1, name, i);
    }
    EXPECT_NONE(ml, now);
    EQ(dropped(ml), first);
}

Test(events, overflow_keeps_the_newest_4096_with_a_tick_after_each)
{
    maillimit *ml = flood_fixture();
    char name[64];
    for (int i = 0; i < FLOOD; i++) {
        snprintf(name, sizeof name, "m%04d@flood.example", i);
        DENY(ml, MBX, name, 1, T + i);
        OK(maillimit_tick(ml, T + i));
    }
    expect_flood_tail(ml, T + FLOOD);
    /* The queue goes on after the drop: the next edge is seq 5001. */
    DENY(ml, MBX, "m0000@flood.example", 1, T + FLOOD + 1); /* same episode: no edge */
    set(ml, MBX, "m0001@flood.example", MBX, HOUR, 5);
    EXPECT_EVENT(ml, T + FLOOD + 2, FLOOD + 1, BTN, MBX, "m0001@flood.example", HOUR,
                 T + FLOOD + 2, 0, 1);
    EXPECT_NONE(ml, T + FLOOD + 2);
    EQ(dropped(ml), FLOOD - QUEUE);
    maillimit_free(ml);
}

Test(events, overflow_keeps_the_newest_4096_without_ticks)
{
    maillimit *ml = flood_fixture();
    char name[64];
    for (int i = 0; i < FLOOD; i++) {
        snprintf(name, sizeof name, "m%04d@flood.example", i);
        DENY(ml, MBX, name, 1, T + i);
    }
    expect_flood_tail(ml, T + FLOOD);
    maillimit_free(ml);
}

Test(events, overflow_counts_every_drop)
{
    maillimit *ml = flood_fixture();
    char name[64];
    /* 4096 fit exactly: nothing dropped. */
    for (int i = 0; i < QUEUE; i++) {
        snprintf(name, sizeof name, "m%04d@flood.example", i);
        DENY(ml, MBX, name, 1, T + i);
        OK(maillimit_tick(ml, T + i));
    }
    EQ(dropped(ml), 0);
    /* One more drops the oldest (seq 1). */
    DENY(ml, MBX, "m4096@flood.example", 1, T + QUEUE);
    OK(maillimit_tick(ml, T + QUEUE));
    EQ(dropped(ml), 1);
    EXPECT_EVENT(ml, T + QUEUE, 2, LR, MBX, "m0001@flood.example", HOUR, T + 1, 0, 0);
    /* Now there is room for one: no further drop. */
    DENY(ml, MBX, "m4097@flood.example", 1, T + QUEUE + 1);
    OK(maillimit_tick(ml, T + QUEUE + 1));
    EQ(dropped(ml), 1);
    for (int i = 2; i <= QUEUE + 1; i++) {
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        OK(maillimit_events_next(ml, T + QUEUE + 2, &ev));
        EQ(ev.seq, (uint64_t)i + 1);
    }
    EXPECT_NONE(ml, T + QUEUE + 2);
    maillimit_free(ml);
}

/* ---- errors ----------------------------------------------------------------------------- */

Test(events, errors)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    DENY(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    maillimit_event ev;
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    EQ(maillimit_events_next(NULL, AT(10, 1, 0), &ev), MAILLIMIT_EINVAL);
    EQ(maillimit_events_next(ml, AT(10, 1, 0), NULL), MAILLIMIT_EINVAL);
    memset(&ev, 0, sizeof ev);
    EQ(maillimit_events_next(ml, AT(10, 1, 0), &ev), MAILLIMIT_EINVAL);
    ev.version = MAILLIMIT_EVENT_VERSION + 1;
    EQ(maillimit_events_next(ml, AT(10, 1, 0), &ev), MAILLIMIT_EINVAL);
    /* The failed calls took nothing from the queue. */
    EXPECT_EVENT(ml, AT(10, 1, 0), 1, LR, MBX, "a@acme.example", HOUR, AT(10, 0, 0), 0, 0);
    EXPECT_NONE(ml, AT(10, 1, 0));
    uint64_t d;
    EQ(maillimit_events_dropped(NULL, &d), MAILLIMIT_EINVAL);
    EQ(maillimit_events_dropped(ml, NULL), MAILLIMIT_EINVAL);
    /* init sets the version. */
    memset(&ev, 0x5a, sizeof ev);
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    EQ(ev.version, MAILLIMIT_EVENT_VERSION);
    maillimit_free(ml);
}
