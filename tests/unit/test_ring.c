/* SPDX-License-Identifier: MIT */
/* The window ring against a reference model: every unit accepted at minute m is counted in
 * the hourly window while m > p - 60 and in the daily window while m / 60 > p / 60 - 24. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "internal.h"

struct event {
    uint32_t minute;
    int64_t units;
    int live;
};

struct model {
    struct event ev[4096];
    int n;
    uint32_t latest; /* newest minute seen (time never goes back for the ring) */
};

static int64_t model_count(const struct model *m, int window, uint32_t p)
{
    int64_t sum = 0;
    for (int i = 0; i < m->n; i++) {
        const struct event *e = &m->ev[i];
        if (!e->live || e->minute > p)
            continue;
        if (window == MAILLIMIT_WINDOW_HOUR ? e->minute + 60 > p : e->minute / 60 + 24 > p / 60)
            sum += e->units;
    }
    return sum;
}

static uint64_t rnd_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

/* Count as a decision does: advance, totals, slot. */
static uint32_t ring_add(struct maillimit__ring *r, uint32_t p, int64_t units)
{
    uint32_t q = maillimit__ring_advance(r, p);
    atomic_fetch_add(&r->totals, (uint64_t)units | (uint64_t)units << 32);
    cr_assert_eq(maillimit__ring_slot_add(r, q, units), 0);
    return q;
}

static void check_against(struct maillimit__ring *r, const struct model *m, uint32_t p)
{
    struct maillimit__ring *rs[1] = {r};
    int64_t now = (int64_t)p * 60 + 7;
    uint32_t q = p > m->latest ? p : m->latest;
    int64_t h = model_count(m, MAILLIMIT_WINDOW_HOUR, q);
    int64_t d = model_count(m, MAILLIMIT_WINDOW_DAY, q);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_HOUR, now), h,
                 "hour count at minute %u", p);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_DAY, now), d,
                 "day count at minute %u", p);
    /* after an advance to p, the running totals equal the slots exactly */
    maillimit__ring_advance(r, p);
    uint64_t t = atomic_load(&r->totals);
    cr_assert_eq(maillimit__hour_total(t), h, "hour total at minute %u", p);
    cr_assert_eq(maillimit__day_total(t), d, "day total at minute %u", p);
}

static void run_model(uint32_t start, int steps, int max_gap, int back_prob)
{
    struct maillimit__ring *r = maillimit__ring_new();
    struct model *m = calloc(1, sizeof *m);
    uint32_t p = start;
    m->latest = 0;
    for (int s = 0; s < steps && m->n < 4000; s++) {
        uint64_t x = rnd();
        if (back_prob && x % 100 < (uint64_t)back_prob && p > 30)
            p -= (uint32_t)(x >> 8) % 30; /* NTP step backwards */
        else
            p += (uint32_t)((x >> 8) % (uint64_t)(max_gap + 1));
        int op = (int)((x >> 40) % 10);
        if (op < 7) {
            int64_t units = 1 + (int64_t)((x >> 20) % 5);
            uint32_t q = ring_add(r, p, units);
            if (q > m->latest)
                m->latest = q;
            m->ev[m->n++] = (struct event){q, units, 1};
        } else if (op < 9 && m->n) {
            struct event *e = &m->ev[(x >> 24) % (uint64_t)m->n];
            if (e->live) {
                maillimit__ring_slot_sub(r, e->minute, e->units);
                e->live = 0;
            }
        }
        check_against(r, m, p);
        if (p > m->latest)
            m->latest = p; /* check_against advanced the ring to p */
    }
    free(m);
    free(r);
}

Test(ring, matches_model_steady_traffic)
{
    run_model(29454360, 3000, 3, 0);
}

Test(ring, matches_model_across_hours_and_days)
{
    run_model(29454360, 2000, 90, 0);
}

Test(ring, matches_model_with_time_going_backwards)
{
    run_model(29454360, 2000, 20, 10);
}

Test(ring, long_idle_gap_does_not_resurrect_old_units)
{
    /* 128 hours later the laps wrap around: the old minute must not come back */
    struct maillimit__ring *r = maillimit__ring_new();
    struct maillimit__ring *rs[1] = {r};
    uint32_t p = 29454360; /* a minute at the start of an hour */
    ring_add(r, p + 5, 3);
    int64_t later = ((int64_t)p + 5 + 128 * 60) * 60;
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_HOUR, later), 0);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_DAY, later), 0);
    ring_add(r, p + 5 + 128 * 60, 2);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_HOUR, later), 2);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_DAY, later), 2);
    uint64_t t = atomic_load(&r->totals);
    cr_assert_eq(maillimit__hour_total(t), 2);
    cr_assert_eq(maillimit__day_total(t), 2);
    free(r);
}

Test(ring, minute_slot_capacity_is_erange)
{
    struct maillimit__ring *r = maillimit__ring_new();
    uint32_t p = maillimit__ring_advance(r, 1000);
    cr_assert_eq(maillimit__ring_slot_add(r, p, 16777215), 0);
    cr_assert_eq(maillimit__ring_slot_add(r, p, 1), MAILLIMIT_ERANGE);
    free(r);
}

Test(ring, clear_forgets_both_windows)
{
    struct maillimit__ring *r = maillimit__ring_new();
    struct maillimit__ring *rs[1] = {r};
    uint32_t p = 29454360;
    ring_add(r, p, 4);       /* hour h */
    ring_add(r, p + 70, 5);  /* hour h+1: rolls hour h into its hour slot */
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_DAY, (p + 70) * 60LL), 9);
    maillimit__ring_clear(r);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_DAY, (p + 70) * 60LL), 0);
    cr_assert_eq(maillimit__ring_count(rs, 1, MAILLIMIT_WINDOW_HOUR, (p + 70) * 60LL), 0);
    cr_assert_eq(atomic_load(&r->totals), 0);
    free(r);
}
