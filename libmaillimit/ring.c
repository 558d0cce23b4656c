/* Window counters: rings of tagged slots with a running total.
 *
 * A window (hour: 60 minute slots; day: 24 hour slots) keeps
 *   - slot[p % n]: one 64-bit word, (p + 1) << 32 | count, for period p (minute or hour);
 *   - total: the units of every live slot plus those of requests still in flight;
 *   - head: the newest period + 1 whose expiry has been started.
 *
 * Protocol (every step is one atomic operation on one word, so no lock is needed):
 *   advance  A thread at period p with head <= p claims the head with a CAS, then sweeps:
 *            every slot tagged with a period <= p - n loses its count (CAS to count 0, the
 *            winner subtracts the count from total). Sweeping every slot, not only the ones
 *            the head passed, also catches units a very late writer put into an expired slot.
 *            A thread that finds the head already later than p counts in the head's period:
 *            time that goes backwards is treated as the latest time seen.
 *   add      Decisions first add to total (and check the limit there: that fetch-add is the
 *            linearisation point that makes limits exact), then add to the slot with a CAS
 *            that checks the tag: a slot still holding an older period is taken over, and
 *            its stale count leaves the total (exactly once: only one CAS wins).
 *   sub      A release takes units back only while the slot still holds their period, with
 *            a CAS on the tagged word, so units never leave a slot that was reused.
 * A reader between claim and sweep sees a total that still holds expired units: it may deny
 * for that instant, never over-admit.
 *
 * Cache lines per window touched by a decision: the window header (total, head) and one
 * slot; 64-byte lines, so a decision touches 2 lines per window, 4 per counter, once the
 * period's sweep is done (one sweep per counter per minute reads 11 lines).
 */
#include <stdlib.h>

#include "internal.h"

#define COUNT_MASK 0xffffffffull

static inline int nslots(int window)
{
    return window == MAILLIMIT_WINDOW_HOUR ? MAILLIMIT__HOUR_SLOTS : MAILLIMIT__DAY_SLOTS;
}

static inline int64_t seconds(int window)
{
    return window == MAILLIMIT_WINDOW_HOUR ? 60 : 3600;
}

static inline _Atomic uint64_t *slots(struct maillimit__ring *r, int window)
{
    return window == MAILLIMIT_WINDOW_HOUR ? r->hour : r->day;
}

struct maillimit__ring *maillimit__ring_new(void)
{
    struct maillimit__ring *r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64);
    if (!r)
        return NULL;
    for (int w = 0; w < 2; w++) {
        atomic_init(&r->w[w].total, 0);
        atomic_init(&r->w[w].head, 0);
    }
    for (int i = 0; i < MAILLIMIT__HOUR_SLOTS; i++)
        atomic_init(&r->hour[i], 0);
    for (int i = 0; i < MAILLIMIT__DAY_SLOTS; i++)
        atomic_init(&r->day[i], 0);
    return r;
}

static void sweep(struct maillimit__ring *r, int window, uint32_t p)
{
    int n = nslots(window);
    if (p < (uint32_t)n)
        return;
    uint64_t last_tag = (uint64_t)(p - (uint32_t)n) + 1; /* tags <= this are expired */
    _Atomic uint64_t *s = slots(r, window);
    for (int i = 0; i < n; i++) {
        uint64_t v = atomic_load_explicit(&s[i], memory_order_relaxed);
        while ((v >> 32) != 0 && (v >> 32) <= last_tag && (v & COUNT_MASK) != 0) {
            /* acq_rel: orders this take-over against adds/subs CASing the same word */
            if (atomic_compare_exchange_weak_explicit(&s[i], &v, v & ~COUNT_MASK,
                                                      memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                atomic_fetch_sub_explicit(&r->w[window].total, (int64_t)(v & COUNT_MASK),
                                          memory_order_relaxed);
                break;
            }
        }
    }
}

uint32_t maillimit__ring_advance(struct maillimit__ring *r, int window, uint32_t p)
{
    _Atomic uint32_t *head = &r->w[window].head;
    /* acquire: pairs with the release CAS below, so a thread that sees the new head also
     * sees the slots the claimer read (the sweep itself is ordered by the slot CASes) */
    uint32_t h = atomic_load_explicit(head, memory_order_acquire);
    for (;;) {
        if (h >= p + 1)
            return h - 1;
        /* acq_rel: pairs with the acquire load above in other advancers */
        if (atomic_compare_exchange_weak_explicit(head, &h, p + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            sweep(r, window, p);
            return p;
        }
    }
}

int maillimit__ring_slot_add(struct maillimit__ring *r, int window, uint32_t p, int64_t units)
{
    int n = nslots(window);
    _Atomic uint64_t *s = slots(r, window);
    for (;;) {
        _Atomic uint64_t *slot = &s[p % (uint32_t)n];
        uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
        for (;;) {
            uint64_t tag = v >> 32, want = (uint64_t)p + 1, nv;
            if (tag > want) {
                /* the slot already serves a later period: count there (latest time) */
                p = (uint32_t)(tag - 1);
                break;
            }
            if (tag == want) {
                if ((v & COUNT_MASK) + (uint64_t)units > COUNT_MASK)
                    return MAILLIMIT_ERANGE;
                nv = v + (uint64_t)units;
            } else {
                nv = want << 32 | (uint64_t)units;
            }
            /* acq_rel: orders against the sweep's and releases' CASes on this word */
            if (atomic_compare_exchange_weak_explicit(slot, &v, nv, memory_order_acq_rel,
                                                      memory_order_relaxed)) {
                if (tag != want && (v & COUNT_MASK))
                    atomic_fetch_sub_explicit(&r->w[window].total, (int64_t)(v & COUNT_MASK),
                                              memory_order_relaxed);
                return 0;
            }
        }
    }
}

void maillimit__ring_slot_sub(struct maillimit__ring *r, int window, uint32_t p, int64_t units)
{
    _Atomic uint64_t *slot = &slots(r, window)[p % (uint32_t)nslots(window)];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t c = v & COUNT_MASK;
        if ((v >> 32) != (uint64_t)p + 1 || c == 0)
            return; /* the period left the window, or its units were swept */
        uint64_t take = c < (uint64_t)units ? c : (uint64_t)units;
        /* acq_rel: orders against adds and the sweep on this word */
        if (atomic_compare_exchange_weak_explicit(slot, &v, v - take, memory_order_acq_rel,
                                                  memory_order_relaxed)) {
            atomic_fetch_sub_explicit(&r->w[window].total, (int64_t)take,
                                      memory_order_relaxed);
            return;
        }
    }
}

/* Units per live period of the window ending at period p (or at the latest period any of
 * the rings has seen, if later), summed over several rings (the server's lanes).
 * units[0] is the oldest live period, returned through *oldest. Returns the sum. */
static int64_t gather(struct maillimit__ring *const *rs, int nr, int window, uint32_t p,
                      int64_t units[MAILLIMIT__HOUR_SLOTS], int64_t *oldest)
{
    int n = nslots(window);
    for (int j = 0; j < nr; j++) {
        /* acquire: pairs with the head CAS in maillimit__ring_advance() */
        uint32_t h = atomic_load_explicit(&rs[j]->w[window].head, memory_order_acquire);
        if (h > p + 1)
            p = h - 1;
    }
    int64_t sum = 0;
    for (int k = 0; k < n; k++) {
        int64_t q = (int64_t)p + 1 - n + k;
        units[k] = 0;
        if (q < 0)
            continue;
        for (int j = 0; j < nr; j++) {
            _Atomic uint64_t *s = slots(rs[j], window);
            uint64_t v = atomic_load_explicit(&s[q % n], memory_order_relaxed);
            if ((v >> 32) == (uint64_t)q + 1)
                units[k] += (int64_t)(v & COUNT_MASK);
        }
        sum += units[k];
    }
    *oldest = (int64_t)p + 1 - n;
    return sum;
}

int64_t maillimit__ring_count(struct maillimit__ring *const *rs, int nr, int window,
                              int64_t now)
{
    int64_t units[MAILLIMIT__HOUR_SLOTS], oldest;
    return gather(rs, nr, window, maillimit__period(window, now), units, &oldest);
}

int64_t maillimit__ring_retry(struct maillimit__ring *const *rs, int nr, int window,
                              int64_t now, int64_t cost, int64_t limit)
{
    if (cost > limit)
        return -1;
    int n = nslots(window);
    int64_t units[MAILLIMIT__HOUR_SLOTS], oldest;
    int64_t count = gather(rs, nr, window, maillimit__period(window, now), units, &oldest);
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
    int n = nslots(window);
    int64_t units[MAILLIMIT__HOUR_SLOTS], oldest;
    gather(rs, nr, window, maillimit__period(window, now), units, &oldest);
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
    for (int w = 0; w < 2; w++) {
        _Atomic uint64_t *s = slots(r, w);
        for (int i = 0; i < nslots(w); i++) {
            uint64_t v = atomic_load_explicit(&s[i], memory_order_relaxed);
            while (v & COUNT_MASK) {
                /* acq_rel: orders against adds, subs and the sweep on this word */
                if (atomic_compare_exchange_weak_explicit(&s[i], &v, v & ~COUNT_MASK,
                                                          memory_order_acq_rel,
                                                          memory_order_relaxed)) {
                    atomic_fetch_sub_explicit(&r->w[w].total, (int64_t)(v & COUNT_MASK),
                                              memory_order_relaxed);
                    break;
                }
            }
        }
    }
}
