/* SPDX-License-Identifier: MIT */
/* What the hot path writes for reports, and the lock-free structures readers take it from:
 * denied, exempt and reset units per hour in each entity's live block, the open episode of
 * an entity (lock-free), and the bounded queue of episode edges (deciders produce, the
 * report lock's holder consumes with maillimit__edge_pop()). Also the rings a reader sums
 * for an entity. Deciders never take a lock here and never wait.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HCOUNT 0xffffffffull

static inline uint64_t u64min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- on the decision path ------------------------------------------------------------- */

void maillimit__count_hourly(struct maillimit__live *lv, int which, int64_t now, int64_t units)
{
    uint32_t h = (uint32_t)(now / 3600);
    _Atomic uint64_t *slots = which == MAILLIMIT__STAT_DENIED   ? lv->denied
                              : which == MAILLIMIT__STAT_EXEMPT ? lv->exempt
                                                                : lv->reset;
    for (;;) {
        _Atomic uint64_t *slot = &slots[h % MAILLIMIT__DAY_SLOTS];
        uint64_t want = (uint64_t)h + 1;
        uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
        for (;;) {
            uint64_t tag = v >> 32, nv;
            if (tag > want) {
                h = (uint32_t)(tag - 1); /* time went back: count in the latest hour */
                break;
            }
            nv = tag == want ? (v & ~HCOUNT) | u64min((v & HCOUNT) + (uint64_t)units, HCOUNT)
                             : want << 32 | (uint64_t)units;
            /* relaxed: report counters carry no other data; the report lock's holder reads
             * them after the fact */
            if (atomic_compare_exchange_weak_explicit(slot, &v, nv, memory_order_relaxed,
                                                      memory_order_relaxed))
                return;
        }
    }
}

/* relaxed atomics on the episode fields: ep_start's acquire/release orders them */
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

static void max_store(_Atomic int64_t *a, int64_t v)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (cur < v && !atomic_compare_exchange_weak_explicit(a, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

/* A copy of the open episode for readers (report lock held): start 0 if none. Readers may
 * wait for a denial that is opening an episode (a few instructions); deciders never wait. */
void maillimit__episode_read(struct maillimit__live *lv, int64_t ep[4], int32_t *window)
{
    for (;;) {
        /* acquire: pairs with the release store that ends maillimit__episode_deny()'s
         * opening, so the fields below are at least the opener's */
        int64_t s = atomic_load_explicit(&lv->ep_start, memory_order_acquire);
        if (s == MAILLIMIT__EP_BUSY) {
            sched_yield();
            continue;
        }
        ep[0] = s;
        ep[1] = LD(lv->ep_free_at);
        ep[2] = LD(lv->ep_denied);
        ep[3] = LD(lv->ep_limit);
        *window = LD(lv->ep_window);
        /* acquire: the fields were read before this load (a changed start means retry) */
        if (atomic_load_explicit(&lv->ep_start, memory_order_acquire) == s)
            return;
    }
}


static struct maillimit__edges *edges_of(maillimit *ml)
{
    /* acquire: pairs with the acq_rel CAS that publishes the initialised queue */
    struct maillimit__edges *q = atomic_load_explicit(&ml->edges, memory_order_acquire);
    if (q)
        return q;
    struct maillimit__edges *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return NULL;
    atomic_init(&fresh->tail, 0);
    for (size_t i = 0; i < MAILLIMIT__EDGES; i++)
        atomic_init(&fresh->cell[i].seq, i);
    /* acq_rel: publishes the queue (release) or reads the winner's (acquire) */
    if (atomic_compare_exchange_strong_explicit(&ml->edges, &q, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    free(fresh);
    return q;
}

static void push_edge(maillimit *ml, const struct maillimit__edge *ed)
{
    struct maillimit__edges *q = edges_of(ml);
    if (!q) {
        atomic_fetch_add_explicit(&ml->edges_dropped, 1, memory_order_relaxed);
        return;
    }
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    struct maillimit__edge_cell *cell;
    for (;;) {
        cell = &q->cell[pos % MAILLIMIT__EDGES];
        /* acquire: pairs with the consumer's release store that freed this cell */
        size_t seq = atomic_load_explicit(&cell->seq, memory_order_acquire);
        intptr_t dif = (intptr_t)seq - (intptr_t)pos;
        if (dif == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (dif < 0) {
            /* Full: no reader or tick has drained it for a while. A decider never waits
             * for one: the edge is dropped and counted. */
            atomic_fetch_add_explicit(&ml->edges_dropped, 1, memory_order_relaxed);
            return;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
    cell->edge = *ed;
    /* release: publishes the edge to the consumer's acquire load in pop_edge() */
    atomic_store_explicit(&cell->seq, pos + 1, memory_order_release);
}

/* The open episode of an entity, without a lock. ep_start is the episode's identity: a
 * denial that finds the episode still running (now < ep_free_at, or an opening in progress)
 * adds its units and raises ep_free_at; one that finds none, or one that has ended by itself,
 * takes ep_start to MAILLIMIT__EP_BUSY with a CAS, reads the old episode (its end edge),
 * writes the new one's fields and publishes its start with a release store. The report lock's
 * holder closes an episode with a CAS from its start to 0. Denials racing with an edge may be
 * counted in the episode on the other side of it (a unit or two at the boundary); no unit is
 * lost and no edge is emitted twice (only the CAS winner emits it). */
void maillimit__episode_deny(maillimit *ml, struct maillimit__entity *e, int window,
                             int64_t limit, int64_t now, int64_t cost, int64_t free_at)
{
    struct maillimit__live *lv = maillimit__entity_live(ml, e);
    if (!lv)
        return;
    /* acquire: pairs with the release store of an opening (the fields are the opener's) */
    int64_t s = atomic_load_explicit(&lv->ep_start, memory_order_acquire);
    for (;;) {
        if (s == MAILLIMIT__EP_BUSY || (s != 0 && now < LD(lv->ep_free_at))) {
            atomic_fetch_add_explicit(&lv->ep_denied, cost, memory_order_relaxed);
            max_store(&lv->ep_free_at, free_at);
            return;
        }
        /* acq_rel: on success, acquire the old episode's fields (released by its opener);
         * on failure, s is reloaded with acquire and the loop looks again */
        if (atomic_compare_exchange_weak_explicit(&lv->ep_start, &s, MAILLIMIT__EP_BUSY,
                                                  memory_order_acq_rel, memory_order_acquire))
            break;
    }
    struct maillimit__edge end = {e, LD(lv->ep_free_at), s, LD(lv->ep_limit),
                                  atomic_exchange_explicit(&lv->ep_denied, cost,
                                                           memory_order_relaxed),
                                  MAILLIMIT__EDGE_END, LD(lv->ep_window)};
    ST(lv->ep_limit, limit);
    ST(lv->ep_window, window);
    ST(lv->ep_free_at, free_at); /* the old end is at most now < free_at */
    /* release: publishes the fields above with the start (pairs with the acquire loads) */
    atomic_store_explicit(&lv->ep_start, now, memory_order_release);
    if (s != 0)
        push_edge(ml, &end);
    struct maillimit__edge start = {e, now, now, limit, 0, MAILLIMIT__EDGE_START, window};
    push_edge(ml, &start);
}

/* ---- for the report lock's holder --------------------------------------------------------- */

int maillimit__edge_pop(maillimit *ml, struct maillimit__edge *out)
{
    struct maillimit__edges *q = atomic_load_explicit(&ml->edges, memory_order_acquire);
    if (!q)
        return 0;
    struct maillimit__edge_cell *cell = &q->cell[q->head % MAILLIMIT__EDGES];
    /* acquire: pairs with the producer's release store of the filled cell */
    if (atomic_load_explicit(&cell->seq, memory_order_acquire) != q->head + 1)
        return 0;
    *out = cell->edge;
    /* release: hands the cell back to producers (their acquire load in push_edge()) */
    atomic_store_explicit(&cell->seq, q->head + MAILLIMIT__EDGES, memory_order_release);
    q->head++;
    return 1;
}

int maillimit__reader_rings(maillimit *ml, struct maillimit__entity *e,
                            struct maillimit__ring **rs)
{
    if (e == ml->server) {
        memcpy(rs, ml->lane, sizeof ml->lane);
        return MAILLIMIT__LANES;
    }
    rs[0] = atomic_load_explicit(&e->ring, memory_order_acquire);
    return rs[0] ? 1 : 0;
}

/* ---- for snapshot.c ---------------------------------------------------------------------- */

void maillimit__live_episode(struct maillimit__live *lv, int64_t ep[4], int32_t *window)
{
    maillimit__episode_read(lv, ep, window);
}

void maillimit__live_set(struct maillimit__live *dst, const struct maillimit__live *src)
{
    for (int i = 0; i < MAILLIMIT__DAY_SLOTS; i++) {
        /* relaxed: report counters carry no other data (as in maillimit__count_hourly()) */
        atomic_store_explicit(&dst->denied[i],
                              src ? atomic_load_explicit(&src->denied[i], memory_order_relaxed)
                                  : 0,
                              memory_order_relaxed);
        atomic_store_explicit(&dst->exempt[i],
                              src ? atomic_load_explicit(&src->exempt[i], memory_order_relaxed)
                                  : 0,
                              memory_order_relaxed);
        atomic_store_explicit(&dst->reset[i],
                              src ? atomic_load_explicit(&src->reset[i], memory_order_relaxed)
                                  : 0,
                              memory_order_relaxed);
    }
    /* take the episode over as an opening denial does (a loader may wait; deciders don't) */
    int64_t s = atomic_load_explicit(&dst->ep_start, memory_order_relaxed);
    for (;;) {
        if (s == MAILLIMIT__EP_BUSY) {
            sched_yield();
            s = atomic_load_explicit(&dst->ep_start, memory_order_relaxed);
            continue;
        }
        /* acquire: orders the stores below after the takeover */
        if (atomic_compare_exchange_weak_explicit(&dst->ep_start, &s, MAILLIMIT__EP_BUSY,
                                                  memory_order_acquire, memory_order_relaxed))
            break;
    }
    ST(dst->ep_free_at, src ? LD(src->ep_free_at) : 0);
    ST(dst->ep_denied, src ? LD(src->ep_denied) : 0);
    ST(dst->ep_limit, src ? LD(src->ep_limit) : 0);
    ST(dst->ep_window, src ? LD(src->ep_window) : 0);
    /* release: publishes the fields with the start (pairs with the acquire loads) */
    atomic_store_explicit(&dst->ep_start, src ? LD(src->ep_start) : 0, memory_order_release);
}
