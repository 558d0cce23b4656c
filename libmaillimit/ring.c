/* SPDX-License-Identifier: MIT */
/* Window counters: one ring of minute slots and one of hour slots, with running totals.
 *
 * Layout of a ring (448 bytes, 64-byte aligned):
 *   totals      one 64-bit word: hour total (low 32 bits) | day total (high 32 bits). A total
 *               holds the units of its window's live slots plus those of requests in flight.
 *               Decisions fetch-add both halves at once and check them: that single atomic
 *               operation is the linearisation point that makes limits exact.
 *   head, dhead the newest minute + 1 (hour + 1) whose expiry has been started.
 *   minute[60]  32-bit words: lap (7 bits: minute / 60 mod 128) | rolled (1) | count (24).
 *               Slot i holds the minute m with m % 60 == i; the lap tells which one.
 *   hour[24]    64-bit words: (hour + 1) << 32 | count, for closed clock hours.
 *
 * Every unit of the day window is in exactly one place: an unrolled minute slot (its minute's
 * hour is still open, or was not rolled yet) or the hour slot of its hour. When the ring
 * advances into a new hour, minutes of closed hours are rolled: their counts are added to
 * their hour slot and the minute word is marked rolled. So a decision writes one minute slot
 * per counter, and the day window costs no slot write at all.
 *
 * Protocol (each step one atomic operation on one word; no locks):
 *   advance  A thread at minute p with head <= p claims the head (CAS) and sweeps the minute
 *            slots: counts of minutes <= p - 60 leave the hour total; minutes of closed hours
 *            are rolled; then, if the hour changed, it claims dhead and expires hour slots of
 *            hours <= hour(p) - 24 from the day total. Each slot change is a CAS, and only the
 *            thread whose CAS wins moves that slot's units, so units move exactly once even
 *            when several threads sweep. A thread that finds the head later than p counts in
 *            the head's minute: time that goes backwards is treated as the latest time seen.
 *            A sweep tells a slot's minute from its lap against the head as it is once the
 *            slot is loaded: a thread at a later minute may have moved the head on and filled
 *            the slot meanwhile, and that minute is newer than the one the sweep began at.
 *   add      After the totals, the decision adds to the minute slot with a CAS that checks
 *            the lap: a slot still holding an older minute is taken over, its units leaving
 *            the hour total (and rolled into their hour) by the thread that took it over.
 *   sub      A release takes units back only from the slot that still holds their minute
 *            (or, once rolled, their hour), so units never leave a slot that was reused.
 * A check racing with a sweep may see expired units still in a total: it may deny for that
 * instant, never over-admit.
 *
 * Cache lines a decision touches per counter: the first line (totals and heads) and the line
 * of the current minute's slot; a sweep (once per counter per minute) reads the 4 lines of
 * minute slots, and once per hour the 3 lines of hour slots.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define M_COUNT MAILLIMIT__M_COUNT
#define M_ROLLED MAILLIMIT__M_ROLLED
#define M_LAP_SHIFT MAILLIMIT__M_LAP_SHIFT
#define M_LAPS 128u
#define H_COUNT 0xffffffffull
#define DAY_UNIT (UINT64_C(1) << 32)

enum { NM = MAILLIMIT__HOUR_SLOTS, NH = MAILLIMIT__DAY_SLOTS };

static inline uint32_t lap_of(uint32_t minute)
{
    return (minute / NM) % M_LAPS;
}

/* The absolute minute held by minute-slot word v at index i, given the ring's latest minute
 * p (slots never hold a minute later than the head). */
static inline uint32_t minute_of(uint32_t v, uint32_t i, uint32_t p)
{
    uint32_t lap = p / NM;
    uint32_t full = lap - ((lap - (v >> M_LAP_SHIFT)) % M_LAPS);
    uint32_t m = full * NM + i;
    if (m > p)
        m -= M_LAPS * NM;
    return m;
}

struct maillimit__ring *maillimit__ring_new(void)
{
    struct maillimit__ring *r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64);
    if (!r)
        return NULL;
    atomic_init(&r->totals, 0);
    atomic_init(&r->head, 0);
    atomic_init(&r->dhead, 0);
    for (int i = 0; i < NM; i++)
        atomic_init(&r->minute[i], 0);
    for (int i = 0; i < NH; i++)
        atomic_init(&r->hour[i], 0);
    return r;
}

static inline void totals_sub(struct maillimit__ring *r, uint64_t packed)
{
    if (packed)
        atomic_fetch_sub_explicit(&r->totals, packed, memory_order_relaxed);
}

/* Put c units of hour h into its hour slot (their day-total units are already counted). */
static void hour_add(struct maillimit__ring *r, uint32_t h, uint64_t c)
{
    if (!c)
        return;
    _Atomic uint64_t *slot = &r->hour[h % NH];
    uint64_t want = (uint64_t)h + 1;
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t tag = v >> 32, nv;
        if (tag > want) {
            /* the slot serves a later hour: hour h left the day window, so do its units */
            totals_sub(r, c << 32);
            return;
        }
        nv = tag == want ? v + c : (want << 32 | c);
        /* acq_rel: orders against the other CASes on this hour slot */
        if (atomic_compare_exchange_weak_explicit(slot, &v, nv, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (tag != want)
                totals_sub(r, (v & H_COUNT) << 32); /* an expired hour taken over */
            return;
        }
    }
}

/* Take up to c units of hour h out of its hour slot and the day total. */
static void hour_sub(struct maillimit__ring *r, uint32_t h, uint64_t c)
{
    _Atomic uint64_t *slot = &r->hour[h % NH];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t have = v & H_COUNT;
        if ((v >> 32) != (uint64_t)h + 1 || have == 0)
            return;
        uint64_t take = have < c ? have : c;
        /* acq_rel: orders against the other CASes on this hour slot */
        if (atomic_compare_exchange_weak_explicit(slot, &v, v - take, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            totals_sub(r, take << 32);
            return;
        }
    }
}

/* Move a minute word's units out as the slot is taken over or swept at latest minute p:
 * units whose minute left the hour window leave the hour total; unrolled units go to their
 * hour slot (or leave the day total if that hour left the day window too). */
static void retire_units(struct maillimit__ring *r, uint32_t v, uint32_t m, uint32_t p,
                         int expired)
{
    uint64_t c = v & M_COUNT;
    if (!c)
        return;
    if (expired)
        totals_sub(r, c);
    if (!(v & M_ROLLED)) {
        if (m / NM + NH <= p / NM)
            totals_sub(r, c << 32);
        else
            hour_add(r, m / NM, c);
    }
}

/* Sweep the minute slots for minute p; ref is the latest minute a slot could hold when the
 * sweep began. A thread at a later minute may move the head on and count in a later slot
 * while this sweep runs: a slot's minute is therefore read against the head as it is after
 * the slot was loaded (never an older reference), or a minute newer than ref would be taken
 * for one a whole lap cycle older, found expired and its units lost. */
static void sweep_minutes(struct maillimit__ring *r, uint32_t ref, uint32_t p)
{
    uint32_t hour = p / NM;
    for (uint32_t i = 0; i < NM; i++) {
        /* acquire: a slot written by a thread at a later minute comes with the head that
         * thread published before writing it (its head CAS is sequenced before its slot CAS) */
        uint32_t v = atomic_load_explicit(&r->minute[i], memory_order_acquire);
        for (;;) {
            if (!(v & M_COUNT))
                break;
            uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
            uint32_t now_ref = h && h - 1 > ref ? h - 1 : ref;
            uint32_t m = minute_of(v, i, now_ref);
            int expired = m + NM <= p;
            int closed = m / NM < hour && !(v & M_ROLLED);
            if (!expired && !closed)
                break;
            uint32_t nv = expired ? (v & ~M_COUNT) | M_ROLLED : v | M_ROLLED;
            /* acq_rel: orders against adds, subs and other sweeps of this word; acquire on
             * failure, as for the load above */
            if (atomic_compare_exchange_weak_explicit(&r->minute[i], &v, nv,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                if (expired) {
                    retire_units(r, v, m, p, 1);
                } else {
                    hour_add(r, m / NM, v & M_COUNT);
                }
                break;
            }
        }
    }
}

static void sweep_hours(struct maillimit__ring *r, uint32_t hour)
{
    if (hour < NH)
        return;
    uint64_t last = (uint64_t)(hour - NH) + 1; /* tags <= last are expired */
    for (int i = 0; i < NH; i++) {
        uint64_t v = atomic_load_explicit(&r->hour[i], memory_order_relaxed);
        while ((v >> 32) != 0 && (v >> 32) <= last && (v & H_COUNT) != 0) {
            /* acq_rel: orders against the other CASes on this hour slot */
            if (atomic_compare_exchange_weak_explicit(&r->hour[i], &v, v & ~H_COUNT,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                totals_sub(r, (v & H_COUNT) << 32);
                break;
            }
        }
    }
}

uint32_t maillimit__ring_advance(struct maillimit__ring *r, uint32_t p)
{
    /* acquire: pairs with the acq_rel head CAS below in other threads */
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    for (;;) {
        if (h >= p + 1)
            return h - 1;
        if (h && p >= h - 1 + NM) {
            /* Idle for an hour or more: every slot holds a minute <= h - 1 and all have
             * expired. Sweep them before publishing the new head, reading laps relative to
             * h - 1, so a lap that wrapped (128 hours) is never mistaken for a new minute. */
            sweep_minutes(r, h - 1, p);
        }
        /* acq_rel: pairs with the acquire load above */
        if (atomic_compare_exchange_weak_explicit(&r->head, &h, p + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    /* Slots now hold minutes within 2 hours before p, or p itself: laps are unambiguous. */
    sweep_minutes(r, p, p);
    uint32_t hour = p / NM;
    uint32_t dh = atomic_load_explicit(&r->dhead, memory_order_acquire);
    while (dh < hour + 1) {
        /* acq_rel: one thread sweeps the hour slots per new hour */
        if (atomic_compare_exchange_weak_explicit(&r->dhead, &dh, hour + 1,
                                                  memory_order_acq_rel, memory_order_acquire)) {
            sweep_hours(r, hour);
            break;
        }
    }
    return p;
}

int maillimit__ring_slot_add(struct maillimit__ring *r, uint32_t p, int64_t units)
{
    for (;;) {
        uint32_t i = p % NM;
        /* acquire: a slot holding a later minute comes with the head published before it
         * (read below to tell which minute the slot holds) */
        uint32_t v = atomic_load_explicit(&r->minute[i], memory_order_acquire);
        for (;;) {
            uint32_t nv;
            int same = (v >> M_LAP_SHIFT) == lap_of(p);
            uint32_t m = same ? p : 0;
            if (!same && (v & M_COUNT)) {
                /* what minute does the slot hold? If later than p, count there */
                uint32_t latest = atomic_load_explicit(&r->head, memory_order_acquire);
                latest = latest ? latest - 1 : 0;
                m = minute_of(v, i, latest > p ? latest : p);
                if (m > p) {
                    p = m;
                    break;
                }
            }
            if (same) {
                if ((v & M_COUNT) + (uint64_t)units > M_COUNT)
                    return MAILLIMIT_ERANGE;
                nv = v + (uint32_t)units;
            } else {
                if ((uint64_t)units > M_COUNT)
                    return MAILLIMIT_ERANGE;
                nv = lap_of(p) << M_LAP_SHIFT | (uint32_t)units;
            }
            /* acq_rel: orders against sweeps and subs of this word; acquire on failure, as
             * for the load above */
            if (atomic_compare_exchange_weak_explicit(&r->minute[i], &v, nv,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                if (same && (v & M_ROLLED))
                    hour_add(r, p / NM, (uint64_t)units); /* a late add to a rolled minute */
                if (!same)
                    retire_units(r, v, m, p, 1);
                return 0;
            }
        }
    }
}

void maillimit__ring_slot_sub(struct maillimit__ring *r, uint32_t p, int64_t units)
{
    uint32_t i = p % NM;
    /* acquire: pairs with the head CAS in maillimit__ring_advance() */
    uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint32_t v = atomic_load_explicit(&r->minute[i], memory_order_relaxed);
    /* a minute an hour or more before the ring's latest one is not in its slot any more,
     * whatever the lap says (laps repeat every 128 hours) */
    if (head && p + NM <= head - 1)
        v = 0;
    for (;;) {
        uint32_t have = v & M_COUNT;
        if ((v >> M_LAP_SHIFT) != lap_of(p) || have == 0)
            break;
        uint32_t take = have < (uint64_t)units ? have : (uint32_t)units;
        /* acq_rel: orders against adds and sweeps of this word */
        if (atomic_compare_exchange_weak_explicit(&r->minute[i], &v, v - take,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            if (v & M_ROLLED) {
                totals_sub(r, take);
                hour_sub(r, p / NM, take);
            } else {
                totals_sub(r, take + ((uint64_t)take << 32));
            }
            return;
        }
    }
    /* the minute left the hour window: its units may still be in their hour slot */
    hour_sub(r, p / NM, (uint64_t)units);
}

/* ---- readers ------------------------------------------------------------------------- */

/* Units per live period of a window, summed over rings (the server's lanes), at period p
 * of that window or at the latest period a ring has seen, if later. units[0] is the oldest
 * live period, returned through *oldest. Returns the sum. */
static int64_t gather(struct maillimit__ring *const *rs, int nr, int window, int64_t now,
                      int64_t units[NM], int64_t *oldest)
{
    uint32_t p = (uint32_t)(now / 60), ref[MAILLIMIT__LANES];
    for (int j = 0; j < nr; j++) {
        /* acquire: pairs with the head CAS in maillimit__ring_advance() */
        uint32_t h = atomic_load_explicit(&rs[j]->head, memory_order_acquire);
        ref[j] = h ? h - 1 : 0; /* no slot of ring j holds a later minute */
        if (h > p + 1)
            p = h - 1;
    }
    int n = window == MAILLIMIT_WINDOW_HOUR ? NM : NH;
    int64_t first = window == MAILLIMIT_WINDOW_HOUR ? (int64_t)p - NM + 1
                                                    : (int64_t)(p / NM) - NH + 1;
    memset(units, 0, (size_t)n * sizeof *units);
    int64_t sum = 0;
    for (int j = 0; j < nr; j++) {
        for (uint32_t i = 0; i < NM; i++) {
            uint32_t v = atomic_load_explicit(&rs[j]->minute[i], memory_order_relaxed);
            if (!(v & M_COUNT))
                continue;
            int64_t m = minute_of(v, i, ref[j]);
            if (m > (int64_t)p)
                continue;
            if (window == MAILLIMIT_WINDOW_HOUR) {
                if (m >= first) {
                    units[m - first] += v & M_COUNT;
                    sum += v & M_COUNT;
                }
            } else if (!(v & M_ROLLED) && m / NM >= first) {
                units[m / NM - first] += v & M_COUNT;
                sum += v & M_COUNT;
            }
        }
        if (window == MAILLIMIT_WINDOW_DAY) {
            for (int i = 0; i < NH; i++) {
                uint64_t v = atomic_load_explicit(&rs[j]->hour[i], memory_order_relaxed);
                int64_t h = (int64_t)(v >> 32) - 1;
                if (h >= first && h < first + NH) {
                    units[h - first] += (int64_t)(v & H_COUNT);
                    sum += (int64_t)(v & H_COUNT);
                }
            }
        }
    }
    *oldest = first;
    return sum;
}

static inline int64_t seconds(int window)
{
    return window == MAILLIMIT_WINDOW_HOUR ? 60 : 3600;
}

int64_t maillimit__ring_count(struct maillimit__ring *const *rs, int nr, int window,
                              int64_t now)
{
    int64_t units[NM], oldest;
    return gather(rs, nr, window, now, units, &oldest);
}

int64_t maillimit__ring_retry(struct maillimit__ring *const *rs, int nr, int window,
                              int64_t now, int64_t cost, int64_t limit, int64_t *count_out)
{
    int n = window == MAILLIMIT_WINDOW_HOUR ? NM : NH;
    int64_t units[NM], oldest;
    int64_t count = gather(rs, nr, window, now, units, &oldest);
    if (count_out)
        *count_out = count;
    if (cost > limit)
        return -1;
    int64_t need = count + cost - limit; /* units that must leave the window */
    if (need <= 0)
        return 1;
    int64_t freed = 0;
    for (int k = 0; k < n; k++) {
        freed += units[k];
        if (freed >= need) {
            /* period oldest + k leaves the window at the start of period oldest + k + n */
            int64_t wait = (oldest + k + n) * seconds(window) - now;
            return wait >= 1 ? wait : 1;
        }
    }
    return -1; /* not reached: need <= count whenever cost <= limit */
}

int64_t maillimit__ring_reset_after(struct maillimit__ring *const *rs, int nr, int window,
                                    int64_t now)
{
    int n = window == MAILLIMIT_WINDOW_HOUR ? NM : NH;
    int64_t units[NM], oldest;
    gather(rs, nr, window, now, units, &oldest);
    for (int k = n - 1; k >= 0; k--) {
        if (units[k]) {
            int64_t wait = (oldest + k + n) * seconds(window) - now;
            return wait >= 1 ? wait : 1;
        }
    }
    return 0;
}

void maillimit__ring_clear(struct maillimit__ring *r)
{
    for (uint32_t i = 0; i < NM; i++) {
        uint32_t v = atomic_load_explicit(&r->minute[i], memory_order_relaxed);
        while (v & M_COUNT) {
            /* acq_rel: orders against adds, subs and sweeps of this word */
            if (atomic_compare_exchange_weak_explicit(&r->minute[i], &v, v & ~M_COUNT,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                uint64_t c = v & M_COUNT;
                totals_sub(r, (v & M_ROLLED) ? c : c + (c << 32));
                break;
            }
        }
    }
    for (int i = 0; i < NH; i++) {
        uint64_t v = atomic_load_explicit(&r->hour[i], memory_order_relaxed);
        while (v & H_COUNT) {
            /* acq_rel: orders against the other CASes on this hour slot */
            if (atomic_compare_exchange_weak_explicit(&r->hour[i], &v, v & ~H_COUNT,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                totals_sub(r, (v & H_COUNT) << 32);
                break;
            }
        }
    }
}

void maillimit__ring_hours(struct maillimit__ring *const *rs, int nr, int64_t now,
                           int64_t units[NH], int64_t *first)
{
    int64_t all[NM];
    gather(rs, nr, MAILLIMIT_WINDOW_DAY, now, all, first);
    for (int k = 0; k < NH; k++)
        units[k] = all[k];
}

/* ---- counters by meaning (snapshots) --------------------------------------------------------
 *
 * Snapshots store a counter by meaning (struct maillimit__counter), not by this file's layout;
 * the code below is the only place that converts between the two, the one place to change
 * when the ring changes. Units of the day window live in unrolled minute slots or in hour
 * slots; a rolled minute's units are mirrored in its hour's slot. Invariant used by
 * ring_replace(): hour total = the counts of all minute words, day total = counts of unrolled
 * minute words + hour words (plus, in both, the units of decisions between their two phases).
 */
#define DAY_MAX (UINT64_C(1) << 31) /* a ring's day total (maillimit__ring_units_ok) */

/* Read a counter summed over rings (the server's lanes, or one entity ring): what the
 * readers above would count at the newest minute any of the rings has seen. */
void maillimit__ring_export(struct maillimit__ring *const *rs, int nr,
                            struct maillimit__counter *out)
{
    uint32_t ref[MAILLIMIT__LANES];
    int64_t latest = -1;
    for (int j = 0; j < nr; j++) {
        /* acquire: pairs with the head CAS in maillimit__ring_advance() */
        uint32_t h = atomic_load_explicit(&rs[j]->head, memory_order_acquire);
        ref[j] = h;
        if ((int64_t)h - 1 > latest)
            latest = (int64_t)h - 1;
    }
    out->latest = latest;
    out->nmin = out->nhour = 0;
    if (latest < 0)
        return;
    int64_t first_m = latest - NM + 1, hour = latest / NM, first_h = hour - NH + 1;
    uint64_t mins[NM] = {0}, hours[NH] = {0}, of_hour[NH] = {0};
    for (int j = 0; j < nr; j++) {
        if (!ref[j])
            continue; /* never advanced: holds nothing */
        for (uint32_t i = 0; i < NM; i++) {
            uint32_t v = atomic_load_explicit(&rs[j]->minute[i], memory_order_relaxed);
            if (!(v & M_COUNT))
                continue;
            int64_t m = minute_of(v, i, ref[j] - 1);
            if (m > (int64_t)ref[j] - 1 || m > latest)
                continue;
            if (m >= first_m)
                mins[m - first_m] += v & M_COUNT;
            if (!(v & M_ROLLED) && m / NM >= first_h)
                hours[m / NM - first_h] += v & M_COUNT;
        }
        for (int i = 0; i < NH; i++) {
            uint64_t v = atomic_load_explicit(&rs[j]->hour[i], memory_order_relaxed);
            int64_t h = (int64_t)(v >> 32) - 1;
            if (h >= first_h && h <= hour)
                hours[h - first_h] += v & H_COUNT;
        }
    }
    for (int k = 0; k < NM; k++) {
        if (!mins[k] || first_m + k < 0)
            continue;
        out->min_p[out->nmin] = (uint32_t)(first_m + k);
        out->min_c[out->nmin++] = mins[k];
        of_hour[(first_m + k) / NM - first_h] += mins[k];
    }
    for (int k = 0; k < NH; k++) {
        /* An hour holds at least its minutes; a save racing with a roll may read a minute
         * as rolled before its units reach the hour slot. */
        if (hours[k] < of_hour[k])
            hours[k] = of_hour[k];
        if (!hours[k] || first_h + k < 0)
            continue;
        out->hour_p[out->nhour] = (uint32_t)(first_h + k);
        out->hour_c[out->nhour++] = hours[k];
    }
}

/* The words of one ring holding share k of nr (the server's lanes split every count evenly;
 * an entity ring is share 0 of 1). The counter has been validated (see get_counter() in
 * snapshot_read.c). Returns 0, or MAILLIMIT_ERANGE if a share exceeds what a ring can hold. */
struct ring_words {
    uint64_t totals;
    uint32_t head, dhead;
    uint32_t minute[NM];
    uint64_t hour[NH];
};

static uint64_t share(uint64_t c, int k, int nr)
{
    return c / (uint64_t)nr + ((uint64_t)k < c % (uint64_t)nr);
}

static int ring_words(const struct maillimit__counter *c, int k, int nr, struct ring_words *w)
{
    memset(w, 0, sizeof *w);
    if (c->latest < 0)
        return 0;
    uint32_t latest = (uint32_t)c->latest, hour = latest / NM;
    uint64_t hour_total = 0, day_total = 0, cur_minutes = 0;
    for (int i = 0; i < c->nmin; i++) {
        uint32_t m = c->min_p[i];
        if (m / NM == hour)
            cur_minutes += c->min_c[i];
        uint64_t s = share(c->min_c[i], k, nr);
        if (!s)
            continue;
        if (s > M_COUNT)
            return MAILLIMIT_ERANGE;
        int rolled = m / NM < hour; /* minutes of closed hours are rolled into their hour */
        w->minute[m % NM] = (m / NM % M_LAPS) << M_LAP_SHIFT | (rolled ? M_ROLLED : 0) |
                            (uint32_t)s;
        hour_total += s;
        if (!rolled)
            day_total += s;
    }
    for (int i = 0; i < c->nhour; i++) {
        uint32_t h = c->hour_p[i];
        /* the open hour's minutes carry their own day units; its slot holds the rest */
        uint64_t s = share(h == hour ? c->hour_c[i] - cur_minutes : c->hour_c[i], k, nr);
        if (!s)
            continue;
        if (s > H_COUNT)
            return MAILLIMIT_ERANGE;
        w->hour[h % NH] = ((uint64_t)h + 1) << 32 | s;
        day_total += s;
    }
    if (day_total > DAY_MAX || hour_total > DAY_MAX)
        return MAILLIMIT_ERANGE;
    w->totals = hour_total | day_total << 32;
    w->head = latest + 1;
    w->dhead = hour + 1;
    return 0;
}

/* Fill a ring that no other thread can see. */
static void ring_fill(struct maillimit__ring *r, const struct ring_words *w)
{
    atomic_store_explicit(&r->totals, w->totals, memory_order_relaxed);
    atomic_store_explicit(&r->head, w->head, memory_order_relaxed);
    atomic_store_explicit(&r->dhead, w->dhead, memory_order_relaxed);
    for (int i = 0; i < NM; i++)
        atomic_store_explicit(&r->minute[i], w->minute[i], memory_order_relaxed);
    for (int i = 0; i < NH; i++)
        atomic_store_explicit(&r->hour[i], w->hour[i], memory_order_relaxed);
}

int maillimit__ring_import(struct maillimit__ring *r, const struct maillimit__counter *c,
                           int k, int nr)
{
    struct ring_words w;
    int rc = ring_words(c, k, nr, &w);
    if (rc == 0)
        ring_fill(r, &w);
    return rc;
}

int maillimit__ring_import_new(const struct maillimit__counter *c, struct maillimit__ring **out)
{
    struct ring_words w;
    *out = NULL;
    /* the range is checked first: a counter that cannot be held allocates nothing */
    if (ring_words(c, 0, 1, &w))
        return MAILLIMIT_ERANGE;
    struct maillimit__ring *r = maillimit__ring_new();
    if (!r)
        return MAILLIMIT_ENOMEM;
    ring_fill(r, &w);
    *out = r;
    return 0;
}

static uint64_t minute_units(uint32_t v)
{
    uint64_t c = v & M_COUNT;
    return (v & M_ROLLED) ? c : c | c << 32;
}

/* Replace the contents of a ring that deciders are using (a server lane). Each word is
 * exchanged, and the totals move by the difference, new units added before old ones are
 * taken away, so a total never drops below its slots plus the requests in flight: a check
 * racing with this may deny, never over-admit. */
static void ring_replace(struct maillimit__ring *r, const struct ring_words *w)
{
    /* release: pairs with the acquire loads of the heads above */
    atomic_store_explicit(&r->head, w->head, memory_order_release);
    atomic_store_explicit(&r->dhead, w->dhead, memory_order_release);
    for (int i = 0; i < NM; i++) {
        atomic_fetch_add_explicit(&r->totals, minute_units(w->minute[i]), memory_order_relaxed);
        /* acq_rel: orders against the CASes of adds, subs and sweeps on this word */
        uint32_t old = atomic_exchange_explicit(&r->minute[i], w->minute[i],
                                                memory_order_acq_rel);
        atomic_fetch_sub_explicit(&r->totals, minute_units(old), memory_order_relaxed);
    }
    for (int i = 0; i < NH; i++) {
        atomic_fetch_add_explicit(&r->totals, (w->hour[i] & H_COUNT) << 32,
                                  memory_order_relaxed);
        /* acq_rel: orders against the CASes of the hour slot above */
        uint64_t old = atomic_exchange_explicit(&r->hour[i], w->hour[i], memory_order_acq_rel);
        atomic_fetch_sub_explicit(&r->totals, (old & H_COUNT) << 32, memory_order_relaxed);
    }
}

void maillimit__ring_replace(struct maillimit__ring *r, const struct maillimit__ring *src)
{
    struct maillimit__ring *s = (struct maillimit__ring *)src;
    struct ring_words w;
    /* relaxed: src is private to the caller's thread */
    w.totals = atomic_load_explicit(&s->totals, memory_order_relaxed);
    w.head = atomic_load_explicit(&s->head, memory_order_relaxed);
    w.dhead = atomic_load_explicit(&s->dhead, memory_order_relaxed);
    for (int i = 0; i < NM; i++)
        w.minute[i] = atomic_load_explicit(&s->minute[i], memory_order_relaxed);
    for (int i = 0; i < NH; i++)
        w.hour[i] = atomic_load_explicit(&s->hour[i], memory_order_relaxed);
    ring_replace(r, &w);
}
