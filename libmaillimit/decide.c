/* SPDX-License-Identifier: MIT */
/* Decisions: decide, reserve/commit/release, reset, status.
 *
 * A decision gathers the counters it touches (sender, its counted ancestors, the server)
 * and then, without any lock:
 *   phase 1  for each counter and window: bring the window up to now, fetch-add the cost to
 *            its running total and, where a limit applies, check the result. The first
 *            failing check rolls every total back (fetch-sub) and the request is denied.
 *            Order: bottom-up (sender first), so the usual denial touches only the sender.
 *   phase 2  all checks passed: add the cost to each window's current slot, so it leaves the
 *            window when that minute (or hour) does.
 * A total never holds fewer units than its live slots plus in-flight requests, so a check
 * never admits more than the limit; a concurrent reader may see a request's units in one
 * counter before its rollback, which can only make another request's check fail.
 *
 * Cache lines a mailbox decision touches (docs/design.md, "One decision"): the name table's
 * slot; the first line of the mailbox, its domain and its subscription entity (parent, ring,
 * hint, flags, level, limits_set: their first 32 bytes) and the mailbox's name line; two lines
 * of each of the three rings (totals, current minute). The plan's entity and the server lane
 * are shared and stay cached. Limit words are read only for entities that set a limit.
 *
 * maillimit_decide_many() makes the same decision for each of its requests, in order, after
 * looking up the senders of up to 16 of them in stages that overlap their misses ("batches",
 * below), and charges an unlimited server lane once for those 16 (struct defer).
 *
 * The server counter is split into lanes while the server total is unlimited: each thread
 * counts in the lane of its stack, so the server's line is not shared between threads.
 * When a server limit is set, every decision counts in lane 0 and checks lane 0's total plus
 * the other lanes' totals, which only shrink from then on (units counted in other lanes by
 * decisions that started before the limit was set are included as soon as they land).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define TOKEN_DECIDED (UINT64_C(1) << 63) /* tokens of maillimit_decide(): already final */
#define TOKEN_BUSY MAILLIMIT__RES_BUSY

struct counter {
    struct maillimit__entity *e;   /* entity; ml->server for the server */
    struct maillimit__ring *r;     /* ring counted in (a lane for the server) */
    int64_t limit[2];              /* effective; -1 unlimited (or not checked) */
    uint32_t minute;               /* minute counted in */
    uint64_t before;               /* packed totals before this request */
};

struct request {
    struct counter c[4];
    int n;                         /* counters: sender first, server last */
    int nx;                        /* of which phase 1 and 2 charge: n, or n - 1 when the
                                    * server lane is charged by a batch's chunk (struct defer) */
    int server_exact;              /* the server total is limited: lane 0, checked */
};

/* A chunk of maillimit_decide_many() charges the server lane once (only while the server total
 * is unlimited, so nothing in the chunk checks it): at the first request that counts in the
 * lane, the costs of that request and of every later one of the chunk are reserved in the lane
 * (totals, then the current minute's slot, with the same capacity checks as one request); each
 * allowed request then takes its cost from the reservation instead of two atomic
 * read-modify-writes of its own, and what the chunk did not use (denied, exempt or undecided
 * requests) is given back at its end, as maillimit_release() gives back a reservation. A
 * reservation that does not fit (capacity) leaves every request of the chunk charging the lane
 * itself, as maillimit_decide() does, so ERANGE falls on the same request. */
struct defer {
    struct maillimit__ring *r;     /* the lane reserved in; NULL: not yet (or not possible) */
    int failed;                    /* a reservation did not fit: no more tries in this chunk */
    uint32_t minute;               /* minute the reservation is counted in */
    int64_t reserved, used;        /* units reserved, units taken by allowed requests */
    int64_t rest;                  /* costs of the requests not decided yet, this one included */
};

static unsigned lane_of_thread(void)
{
    /* Thread stacks are distinct multi-megabyte mappings: 8 MiB granules tell threads apart
     * without thread-local state. */
    char probe;
    uintptr_t a = (uintptr_t)&probe;
    return (unsigned)((a >> 23) % MAILLIMIT__LANES);
}

static int is_server(const maillimit *ml, const struct counter *c)
{
    return c->e == ml->server;
}

/* Append the server's counter, with the server totals as its limits: lane 0 while one is set
 * (every decision then counts and checks there), else the thread's own lane. */
static void add_server(maillimit *ml, struct request *rq)
{
    struct counter *c = &rq->c[rq->n++];
    c->e = ml->server;
    c->limit[0] = atomic_load_explicit(&ml->server_total[0], memory_order_relaxed);
    c->limit[1] = atomic_load_explicit(&ml->server_total[1], memory_order_relaxed);
    rq->server_exact = c->limit[0] >= 0 || c->limit[1] >= 0;
    c->r = ml->lane[rq->server_exact ? 0 : lane_of_thread()];
}

/* Append the counted chain above (and including) e: e, domain, subscription, server. */
static int chain(maillimit *ml, struct maillimit__entity *e, struct request *rq, int with_rings,
                 int64_t now)
{
    rq->n = 0;
    for (struct maillimit__entity *x = e; x && x->level >= MAILLIMIT_LEVEL_SUBSCRIPTION;
         x = maillimit__parent(x)) {
        struct counter *c = &rq->c[rq->n++];
        c->e = x;
        c->r = NULL;
        if (with_rings) {
            if (!(c->r = maillimit__entity_ring(ml, x)))
                return MAILLIMIT_ENOMEM;
            /* The rings' lines load while we chase the next parent: the ring header and
             * the current minute's slot are the two lines phase 1 and 2 touch. */
            __builtin_prefetch(c->r, 1);
            __builtin_prefetch(&c->r->minute[(now / 60) % MAILLIMIT__HOUR_SLOTS], 1);
        }
        if (rq->n == 3)
            break;
    }
    add_server(ml, rq);
    return 0;
}

static void limits(const maillimit *ml, struct request *rq, int checked)
{
    for (int i = 0; i < rq->n; i++)
        for (int w = 0; w < 2; w++)
            rq->c[i].limit[w] = checked ? maillimit__effective_limit(ml, rq->c[i].e, w) : -1;
}

static uint64_t other_lanes(maillimit *ml)
{
    uint64_t sum = 0;
    for (int k = 1; k < MAILLIMIT__LANES; k++)
        sum += atomic_load_explicit(&ml->lane[k]->totals, memory_order_relaxed);
    return sum;
}

static void unwind_totals(struct request *rq, int upto, uint64_t packed)
{
    for (int k = 0; k < upto; k++)
        atomic_fetch_sub_explicit(&rq->c[k].r->totals, packed, memory_order_relaxed);
}

enum { PHASE1_OK = -1, PHASE1_RANGE = -2 };

/* Phase 1. Returns PHASE1_OK, PHASE1_RANGE, or index * 2 + window of the failed check. */
static int phase1(maillimit *ml, struct request *rq, int64_t cost, int64_t now)
{
    uint32_t p = (uint32_t)(now / 60);
    uint64_t packed = (uint64_t)cost | (uint64_t)cost << 32;
    if (rq->server_exact)
        for (int k = 1; k < MAILLIMIT__LANES; k++)
            maillimit__ring_advance(ml->lane[k], p);
    for (int i = 0; i < rq->nx; i++) {
        struct counter *c = &rq->c[i];
        c->minute = maillimit__ring_at(c->r, p);
        if (!maillimit__ring_units_ok(c->r, cost)) {
            unwind_totals(rq, i, packed);
            return PHASE1_RANGE;
        }
        /* relaxed: this fetch-add is the linearisation point of both checks; the slot words
         * carry their own ordering */
        c->before = atomic_fetch_add_explicit(&c->r->totals, packed, memory_order_relaxed);
        if (c->limit[0] < 0 && c->limit[1] < 0)
            continue;
        uint64_t after = c->before + packed;
        if (is_server(ml, c) && rq->server_exact)
            after += other_lanes(ml);
        int w = c->limit[0] >= 0 && maillimit__hour_total(after) > c->limit[0]  ? 0
                : c->limit[1] >= 0 && maillimit__day_total(after) > c->limit[1] ? 1
                                                                                 : -1;
        if (w >= 0) {
            unwind_totals(rq, i + 1, packed);
            return i * 2 + w;
        }
    }
    return PHASE1_OK;
}

/* Phase 2: minute slots. On ERANGE everything of this request is undone. */
static int phase2(struct request *rq, int64_t cost)
{
    uint64_t packed = (uint64_t)cost | (uint64_t)cost << 32;
    for (int i = 0; i < rq->nx; i++) {
        if (maillimit__ring_slot_add_at(rq->c[i].r, rq->c[i].minute, cost) == 0)
            continue;
        for (int k = 0; k < i; k++)
            maillimit__ring_slot_sub(rq->c[k].r, rq->c[k].minute, cost);
        for (int k = i; k < rq->nx; k++)
            atomic_fetch_sub_explicit(&rq->c[k].r->totals, packed, memory_order_relaxed);
        return MAILLIMIT_ERANGE;
    }
    return 0;
}

/* Rings a reader should sum for counter c: the server's lanes, or the entity's ring. */
static int64_t count_of(maillimit *ml, struct maillimit__entity *e, int w, int64_t now)
{
    struct maillimit__ring *rs[MAILLIMIT__LANES];
    int nr = maillimit__reader_rings(ml, e, rs);
    return nr ? maillimit__ring_count(rs, nr, w, now) : 0;
}

struct blocker {
    int level, window;
    int64_t retry, count, limit;
};

/* Is a better (more blocking) than b? -1 "never" beats any wait; then the longer wait; then
 * the higher level (closer to the server); then the hour window. */
static int worse(const struct blocker *a, const struct blocker *b)
{
    if (b->level < 0)
        return 1;
    if (a->retry != b->retry) {
        if (a->retry < 0)
            return 1;
        if (b->retry < 0)
            return 0;
        return a->retry > b->retry;
    }
    if (a->level != b->level)
        return a->level < b->level;
    return a->window < b->window;
}

/* The blocker among counters whose limit `cost` more units would exceed now. The running
 * totals rule out the counters that fit (a total is never below its live slots); only the
 * others are read slot by slot. */
static void find_blocker(maillimit *ml, struct request *rq, int64_t cost, int64_t now,
                         struct blocker *out)
{
    out->level = -1;
    for (int i = 0; i < rq->n; i++) {
        struct maillimit__ring *rs[MAILLIMIT__LANES];
        int nr = -1;
        for (int w = 0; w < 2; w++) {
            int64_t lim = rq->c[i].limit[w];
            if (lim < 0)
                continue;
            if (nr < 0)
                nr = maillimit__reader_rings(ml, rq->c[i].e, rs);
            int64_t total = 0;
            for (int k = 0; k < nr; k++) {
                uint64_t t = atomic_load_explicit(&rs[k]->totals, memory_order_relaxed);
                total += w == 0 ? maillimit__hour_total(t) : maillimit__day_total(t);
            }
            if (total + cost <= lim)
                continue;
            struct blocker b = {rq->c[i].e->level, w, cost > lim ? -1 : 1, 0, lim};
            if (nr)
                b.retry = maillimit__ring_retry(rs, nr, w, now, cost, lim, &b.count);
            if (b.count + cost > lim && worse(&b, out))
                *out = b;
        }
    }
}

/* ---- the sender ----------------------------------------------------------------------- */

static int sender_found(maillimit *ml, int level, const char *buf, size_t len, uint64_t h,
                        struct maillimit__entity *e, struct maillimit__entity **out);

/* Resolve a sender: *out NULL means unknown (not attributable). */
static int sender_of(maillimit *ml, int level, const char *sender,
                     struct maillimit__entity **out)
{
    char buf[MAILLIMIT_NAME_MAX + 1];
    uint64_t h;
    int len = maillimit__name_key(level, sender, buf, NULL, level, &h);
    if (len < 0)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = maillimit__table_find(ml, level, buf, (size_t)len, h);
    return sender_found(ml, level, buf, (size_t)len, h, e, out);
}

/* The rest of sender_of() once the name table was asked: e is what it found for the
 * normalised name buf (len bytes, hash h), or NULL. */
static int sender_found(maillimit *ml, int level, const char *buf, size_t len, uint64_t h,
                        struct maillimit__entity *e, struct maillimit__entity **out)
{
    if (!e && level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
        struct maillimit__entity *u = maillimit__table_find(
            ml, MAILLIMIT__LEVEL_SYSUSER, buf, len, maillimit__name_hash(MAILLIMIT__LEVEL_SYSUSER, buf, len));
        e = u ? maillimit__parent(u) : NULL;
    }
    if (!e && level == MAILLIMIT_LEVEL_MAILBOX) {
        int rc = maillimit__implicit_mailbox(ml, buf, len, h, &e);
        if (rc == MAILLIMIT_ENOMEM)
            return rc;
    }
    if (e) {
        /* Start loading the parent and grandparent at once instead of one after the other
         * (the hint may be stale after a move: it is only a prefetch). */
        __builtin_prefetch(atomic_load_explicit(&e->parent, memory_order_relaxed));
        if (e->hint)
            __builtin_prefetch(e->hint);
    }
    *out = e;
    return 0;
}

static void verdict_clear(maillimit_verdict *v)
{
    v->decision = MAILLIMIT_ALLOW;
    v->reason = MAILLIMIT_REASON_NONE;
    v->level = -1;
    v->window = -1;
    v->reserved_ = 0;
    v->limit = -1;
    v->count = 0;
    v->retry_after = 0;
    v->token = 0;
}

static void deny(maillimit_verdict *v, int reason, const struct blocker *b)
{
    v->decision = MAILLIMIT_DENY;
    v->reason = reason;
    v->level = b->level;
    v->window = b->window;
    v->limit = b->limit;
    v->count = b->count;
    v->retry_after = b->retry;
}

/* ---- reservations --------------------------------------------------------------------- */

static struct maillimit__reservation *reservations(maillimit *ml)
{
    /* acquire: pairs with the acq_rel CAS that publishes the zeroed table */
    struct maillimit__reservation *t =
        atomic_load_explicit(&ml->reservations, memory_order_acquire);
    if (t)
        return t;
    struct maillimit__reservation *fresh =
        calloc(MAILLIMIT__RESERVATIONS, sizeof *fresh);
    if (!fresh)
        return NULL;
    for (int i = 0; i < MAILLIMIT__RESERVATIONS; i++)
        atomic_init(&fresh[i].state, 0);
    /* acq_rel: publishes the table (release) or reads the winner's (acquire) */
    if (atomic_compare_exchange_strong_explicit(&ml->reservations, &t, fresh,
                                                memory_order_acq_rel, memory_order_acquire))
        return fresh;
    free(fresh);
    return t;
}

/* Take an entry for exclusive writing (state BUSY). Spins only while another thread
 * holds that same entry for the few stores of record() or gives its units back. */
static uint64_t claim(struct maillimit__reservation *e)
{
    uint64_t s = atomic_load_explicit(&e->state, memory_order_relaxed);
    for (;;) {
        if (s & MAILLIMIT__RES_FINISHING) { /* busy, or finishing */
            s = atomic_load_explicit(&e->state, memory_order_relaxed);
            continue;
        }
        /* acquire: pairs with the release store that ended the previous holder's writes */
        if (atomic_compare_exchange_weak_explicit(&e->state, &s, TOKEN_BUSY,
                                                  memory_order_acquire, memory_order_relaxed))
            return s;
    }
}

static int record(maillimit *ml, const struct request *rq, int64_t cost, uint64_t *token)
{
    struct maillimit__reservation *t = reservations(ml);
    if (!t)
        return MAILLIMIT_ENOMEM;
    uint64_t tok = atomic_fetch_add_explicit(&ml->next_token, 1, memory_order_relaxed);
    tok &= ~TOKEN_DECIDED;
    if (tok == 0 || (tok | MAILLIMIT__RES_FINISHING) == MAILLIMIT__RES_BUSY)
        tok = 1; /* (its finishing state would read as busy) */
    struct maillimit__reservation *e = &t[tok & (MAILLIMIT__RESERVATIONS - 1)];
    claim(e); /* an older reservation here is forgotten: its units stay counted */
    e->n = rq->n;
    e->cost = cost;
    for (int i = 0; i < 4; i++) {
        /* relaxed: the reclaimer may read these while we write; it reads them as ours only
         * once it has seen our token (the release store below) */
        atomic_store_explicit(&e->ring[i], i < rq->n ? rq->c[i].r : NULL, memory_order_relaxed);
        if (i < rq->n)
            e->minute[i] = rq->c[i].minute;
    }
    /* release: publishes the fields above to the acquire CAS in claim()/release */
    atomic_store_explicit(&e->state, tok, memory_order_release);
    *token = tok;
    return 0;
}

/* One walk up from the sender e, the decision's first touch of each entity: gather the
 * counted chain (e, domain, subscription; then the server) into rq, and the plan; start
 * loading the lines of the rings phase 1 and 2 will touch; return the effective EXEMPT flag.
 * The effective limits are then taken from these entities (limits_of_chain()) instead of a
 * walk per counter and window. */
static int walk(maillimit *ml, struct maillimit__entity *e, struct request *rq,
                struct maillimit__entity **plan, int64_t now)
{
    int exempt = MAILLIMIT_DEFAULT;
    size_t slot = (size_t)(now / 60) % MAILLIMIT__HOUR_SLOTS;
    rq->n = 0;
    *plan = NULL;
    for (struct maillimit__entity *x = e; x; x = maillimit__parent(x)) {
        /* acquire: pairs with the CAS that publishes a zeroed ring in maillimit__entity_ring()
         * (this pointer is the one phase 1 and 2 use, or NULL: it is made then) */
        struct maillimit__ring *r = atomic_load_explicit(&x->ring, memory_order_acquire);
        if (r) {
            __builtin_prefetch(r, 1);
            __builtin_prefetch(&r->minute[slot], 1);
        }
        if (exempt == MAILLIMIT_DEFAULT)
            exempt = atomic_load_explicit(&x->flag[MAILLIMIT_FLAG_EXEMPT], memory_order_relaxed);
        if (x->level >= MAILLIMIT_LEVEL_SUBSCRIPTION && rq->n < 3) {
            rq->c[rq->n].e = x;
            rq->c[rq->n++].r = r;
        } else if (x->level == MAILLIMIT_LEVEL_PLAN) {
            *plan = x;
        }
    }
    add_server(ml, rq);
    return exempt == 1;
}

/* The effective limits of the counters walk() gathered, from entities already loaded: start
 * from the server's values and let each entity, top-down (plan, subscription, domain,
 * mailbox), override with what it set (not DEFAULT) for the targets at or below its own level,
 * the only ones it can set. The nearest value set wins, as in maillimit__effective_limit(). */
static void limits_of_chain(const maillimit *ml, struct request *rq,
                            const struct maillimit__entity *plan)
{
    enum { T = MAILLIMIT__TARGETS };
    int64_t eff[T][2];
    for (int t = 0; t < T; t++)
        for (int w = 0; w < 2; w++)
            eff[t][w] = atomic_load_explicit(&ml->server->limit[t][w], memory_order_relaxed);
    for (int i = rq->n - 1; i >= 0; i--) {
        /* rq->c[n - 1] is the server's counter: the plan takes its turn there */
        const struct maillimit__entity *x = i == rq->n - 1 ? plan : rq->c[i].e;
        /* an entity that never set a limit has nothing to override (and its limit words,
         * on another line, are not read) */
        if (!x || !atomic_load_explicit(&x->limits_set, memory_order_relaxed))
            continue;
        int first = x == plan ? 0 : x->level - MAILLIMIT_LEVEL_SUBSCRIPTION;
        for (int t = first; t < T; t++)
            for (int w = 0; w < 2; w++) {
                int64_t v = atomic_load_explicit(&x->limit[t][w], memory_order_relaxed);
                if (v != MAILLIMIT_DEFAULT)
                    eff[t][w] = v;
            }
    }
    for (int i = 0; i < rq->n - 1; i++)
        for (int w = 0; w < 2; w++)
            rq->c[i].limit[w] = eff[rq->c[i].e->level - MAILLIMIT_LEVEL_SUBSCRIPTION][w];
}

/* ---- report bookkeeping (denials and exempt units only; allowed units are in rings) ---- */

/* Count denied (or exempt) units for the sender and every counted ancestor. Failing to
 * allocate a report block loses only these report figures, never a decision. */
static void report_units(maillimit *ml, struct request *rq, int denied, int64_t cost,
                         int64_t now)
{
    for (int i = 0; i < rq->n; i++) {
        struct maillimit__live *lv = NULL;
        if (rq->c[i].e == ml->server) {
            /* the server's figures are split by lane like its counter (no shared line) */
            unsigned k = lane_of_thread();
            lv = ml->lane_live[k];
        } else {
            lv = maillimit__entity_live(ml, rq->c[i].e);
        }
        if (lv)
            maillimit__count_hourly(lv, denied ? MAILLIMIT__STAT_DENIED : MAILLIMIT__STAT_EXEMPT,
                                    now, cost);
    }
}

/* Open or extend the episode of the entity whose limit denied the request. */
static void report_episode(maillimit *ml, struct request *rq, const struct blocker *b,
                           int64_t cost, int64_t now)
{
    for (int i = 0; i < rq->n; i++) {
        struct maillimit__entity *e = rq->c[i].e;
        if (e->level != b->level || e == ml->unattributed)
            continue;
        /* when one unit fits again: for a cost of 1, the blocker's own retry_after */
        int64_t wait = b->limit < 1 ? -1 : cost == 1 ? b->retry : 0;
        if (wait == 0) {
            struct maillimit__ring *rs[MAILLIMIT__LANES];
            int nr = maillimit__reader_rings(ml, e, rs);
            wait = nr ? maillimit__ring_retry(rs, nr, b->window, now, 1, b->limit, NULL) : 1;
        }
        maillimit__episode_deny(ml, e, b->window, b->limit, now, cost,
                                wait < 0 ? INT64_MAX : now + wait);
        return;
    }
}

/* ---- decide / reserve ----------------------------------------------------------------- */

static int decide_sender(maillimit *ml, struct maillimit__entity *e, int64_t cost, int64_t now,
                         maillimit_verdict *out, int reserve, struct defer *d);

static int decide(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now,
                  maillimit_verdict *out, int reserve)
{
    if (!ml || !out || !sender || out->version != MAILLIMIT_VERDICT_VERSION ||
        (level != MAILLIMIT_LEVEL_MAILBOX && level != MAILLIMIT_LEVEL_DOMAIN &&
         level != MAILLIMIT_LEVEL_SUBSCRIPTION) ||
        now < 0)
        return MAILLIMIT_EINVAL;
    if (cost < 1 || cost > MAILLIMIT_COST_MAX)
        return MAILLIMIT_ERANGE;
    now = maillimit__now(now);
    verdict_clear(out);

    struct maillimit__entity *e = NULL;
    int rc = sender_of(ml, level, sender, &e);
    if (rc)
        return rc;
    return decide_sender(ml, e, cost, now, out, reserve, NULL);
}

/* Reserve d->rest units in lane r at minute now (struct defer): the checks and the two
 * atomic read-modify-writes one request makes in phase 1 and 2. If they fail, nothing is
 * reserved and the chunk's requests charge the lane one by one. */
static void defer_reserve(struct defer *d, struct maillimit__ring *r, int64_t now)
{
    int64_t units = d->rest;
    uint64_t packed = (uint64_t)units | (uint64_t)units << 32;
    uint32_t m = maillimit__ring_at(r, (uint32_t)(now / 60));
    d->failed = 1;
    if (!maillimit__ring_units_ok(r, units))
        return;
    /* relaxed: as in phase 1 (nothing checks an unlimited lane's total) */
    atomic_fetch_add_explicit(&r->totals, packed, memory_order_relaxed);
    if (maillimit__ring_slot_add_at(r, m, units)) {
        atomic_fetch_sub_explicit(&r->totals, packed, memory_order_relaxed);
        return;
    }
    d->failed = 0;
    d->r = r;
    d->minute = m;
    d->reserved = units;
    d->used = 0;
}

/* The end of a chunk: give back what its requests did not use of the reservation. */
static void defer_end(struct defer *d)
{
    if (d->r && d->reserved > d->used)
        maillimit__ring_slot_sub(d->r, d->minute, d->reserved - d->used);
    d->r = NULL;
}

/* The decision once the sender is resolved (e NULL: unknown); out cleared, now final. d: the
 * chunk's reservation in the server lane (a batch), or NULL. */
static int decide_sender(maillimit *ml, struct maillimit__entity *e, int64_t cost, int64_t now,
                         maillimit_verdict *out, int reserve, struct defer *d)
{
    int rc = 0;
    struct request rq;
    struct maillimit__entity *plan;
    int enabled = atomic_load_explicit(&ml->enabled, memory_order_relaxed);
    int reason = MAILLIMIT_REASON_NONE;
    if (!e) {
        /* unknown sender: the server total only, and the unattributed figures */
        reason = MAILLIMIT_REASON_UNKNOWN;
        rc = chain(ml, NULL, &rq, 1, now);
        limits(ml, &rq, enabled);
        rq.c[1] = rq.c[0];
        rq.c[0] = (struct counter){ml->unattributed, maillimit__entity_ring(ml, ml->unattributed),
                                   {-1, -1}, 0, 0};
        rq.n = 2;
    } else if (walk(ml, e, &rq, &plan, now)) {
        out->reason = MAILLIMIT_REASON_EXEMPT;
        out->limit = maillimit__effective_limit(ml, e, MAILLIMIT_WINDOW_HOUR);
        out->count = count_of(ml, e, MAILLIMIT_WINDOW_HOUR, now);
        out->token = TOKEN_DECIDED;
        report_units(ml, &rq, 0, cost, now);
        return 0;
    } else {
        for (int i = 0; i < rq.n - 1; i++)
            if (!rq.c[i].r && !(rq.c[i].r = maillimit__entity_ring(ml, rq.c[i].e)))
                return MAILLIMIT_ENOMEM;
        if (!enabled) {
            reason = MAILLIMIT_REASON_DISABLED;
        } else if (e->level == MAILLIMIT_LEVEL_SUBSCRIPTION &&
                   !maillimit__effective_flag(ml, e, MAILLIMIT_FLAG_SENDMAIL)) {
            struct blocker b = {MAILLIMIT_LEVEL_SUBSCRIPTION, -1, -1,
                                count_of(ml, e, MAILLIMIT_WINDOW_HOUR, now),
                                maillimit__effective_limit(ml, e, MAILLIMIT_WINDOW_HOUR)};
            deny(out, MAILLIMIT_REASON_NOT_ALLOWED, &b);
            report_units(ml, &rq, 1, cost, now);
            return 0;
        }
        if (enabled)
            limits_of_chain(ml, &rq, plan);
        else
            limits(ml, &rq, 0);
    }
    if (rc)
        return rc;

    /* the server's counter is last; an unlimited lane is charged from the chunk's reservation */
    rq.nx = rq.n;
    int deferred = 0;
    if (d && !rq.server_exact && !reserve) {
        if (!d->r && !d->failed)
            defer_reserve(d, rq.c[rq.n - 1].r, now);
        if (d->r && d->r == rq.c[rq.n - 1].r) {
            rq.nx--;
            deferred = 1;
        }
    }
    int failed = phase1(ml, &rq, cost, now);
    if (failed == PHASE1_RANGE)
        return MAILLIMIT_ERANGE;
    if (failed >= 0) {
        struct blocker b;
        find_blocker(ml, &rq, cost, now, &b);
        if (b.level < 0) {
            /* every counter fits again: the check raced with a rollback or a sweep */
            const struct counter *c = &rq.c[failed / 2];
            int w = failed % 2;
            struct maillimit__ring *rs[MAILLIMIT__LANES];
            int nr = maillimit__reader_rings(ml, c->e, rs);
            b = (struct blocker){c->e->level, w, 1, 0, c->limit[w]};
            if (nr)
                b.retry = maillimit__ring_retry(rs, nr, w, now, cost, c->limit[w], &b.count);
        }
        deny(out, MAILLIMIT_REASON_LIMIT, &b);
        report_units(ml, &rq, 1, cost, now);
        report_episode(ml, &rq, &b, cost, now);
        return 0;
    }
    rc = phase2(&rq, cost);
    if (rc)
        return rc;
    if (deferred)
        d->used += cost;
    out->reason = reason;
    const struct counter *own = &rq.c[reason == MAILLIMIT_REASON_UNKNOWN ? 1 : 0];
    out->limit = enabled ? own->limit[0]
                         : maillimit__effective_limit(ml, own->e, MAILLIMIT_WINDOW_HOUR);
    /* the lane's slot holds the chunk's reservation: what is not used yet is not counted */
    out->count = is_server(ml, own) ? count_of(ml, own->e, MAILLIMIT_WINDOW_HOUR, now) - cost -
                                          (deferred ? d->reserved - d->used : 0)
                                    : maillimit__hour_total(own->before);
    if (out->count < 0)
        out->count = 0;
    out->token = TOKEN_DECIDED;
    if (reserve) {
        rc = record(ml, &rq, cost, &out->token);
        if (rc) {
            for (int i = 0; i < rq.n; i++)
                maillimit__ring_slot_sub(rq.c[i].r, rq.c[i].minute, cost);
            verdict_clear(out);
            return rc;
        }
    }
    return 0;
}

/* The public decision: a verdict of the library's own version, copied out in the caller's
 * (structs.c) when the decision succeeds, inside one read section. */
static int decide_public(maillimit *ml, int level, const char *sender, int64_t cost,
                         int64_t now, maillimit_verdict *out, int reserve)
{
    if (!ml || !maillimit__struct_check(MAILLIMIT__VERDICT, out))
        return MAILLIMIT_EINVAL;
    maillimit_verdict v = { .version = MAILLIMIT_VERDICT_VERSION };
    unsigned rs = maillimit__read_enter(ml);
    int rc = decide(ml, level, sender, cost, now, &v, reserve);
    maillimit__read_leave(ml, rs);
    if (rc == 0)
        maillimit__struct_out(MAILLIMIT__VERDICT, out, &v);
    return rc;
}

int maillimit_decide(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now,
                     maillimit_verdict *out)
{
    return decide_public(ml, level, sender, cost, now, out, 0);
}

int maillimit_reserve(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now,
                      maillimit_verdict *out)
{
    return decide_public(ml, level, sender, cost, now, out, 1);
}

/* ---- batches ---------------------------------------------------------------------------
 * maillimit_decide_many() takes the requests BATCH at a time. A chunk's lookups go in stages,
 * each starting the loads the next one needs for every request before waiting for any:
 *   A  validate and normalise every name, hash it, prefetch its first table slot;
 *   B  read the slots, prefetch the entities they point to (first line and name line);
 *   C  find each entity (the name compared), prefetch its parent, grandparent hint and ring;
 *   D  prefetch the parent's and grandparent's rings;
 *   E  decide each request in order, exactly as decide() does from its resolved sender, except
 *      that an unlimited server lane is charged from the chunk's reservation (struct defer),
 *      whose rest is given back when the chunk ends.
 * The stages only read and prefetch: what a request changes happens in E, in order. A name
 * the table did not have in C is looked up again in E (an earlier request of the chunk may
 * have made its implicit mailbox), then resolved as sender_of() does. One read section
 * covers a chunk. */
enum { BATCH = 16 };

struct pending {
    int level;
    int len;
    int64_t cost;
    uint64_t hash;
    struct maillimit__entity *e;
    char buf[MAILLIMIT_NAME_MAX + 1];
};

static void prefetch_ring(const struct maillimit__entity *x, size_t slot)
{
    struct maillimit__ring *r =
        atomic_load_explicit(&((struct maillimit__entity *)x)->ring, memory_order_relaxed);
    if (r) {
        __builtin_prefetch(r, 1);
        __builtin_prefetch(&r->minute[slot], 1);
    }
}

/* Decide n <= BATCH requests (req: rstride apart, each of version rversion) into out
 * (ostride apart, written with version oversion). *done: how many were decided. */
static int decide_chunk(maillimit *ml, const char *req, size_t rstride, uint32_t rversion,
                        size_t n, int64_t now, char *out, size_t ostride, uint32_t oversion,
                        size_t *done)
{
    struct pending p[BATCH];
    struct defer d = {0};
    size_t slot = (size_t)(now / 60) % MAILLIMIT__HOUR_SLOTS;
    int err = 0;
    size_t m = 0;
    /* acquire: as in maillimit__table_find() (this table is only prefetched from) */
    struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_acquire);
    for (; m < n; m++) { /* A */
        maillimit_request r = {.version = MAILLIMIT_REQUEST_VERSION,
                               .level = MAILLIMIT_LEVEL_MAILBOX, .cost = 1};
        const char *src = req + m * rstride;
        uint32_t version;
        memcpy(&version, src, sizeof version);
        if (version != rversion) {
            err = MAILLIMIT_EINVAL;
            break;
        }
        memcpy(&r, src, rstride); /* the caller's version's bytes; later fields as initialised */
        if (!r.sender || (r.level != MAILLIMIT_LEVEL_MAILBOX && r.level != MAILLIMIT_LEVEL_DOMAIN &&
                          r.level != MAILLIMIT_LEVEL_SUBSCRIPTION)) {
            err = MAILLIMIT_EINVAL;
            break;
        }
        if (r.cost < 1 || r.cost > MAILLIMIT_COST_MAX) {
            err = MAILLIMIT_ERANGE;
            break;
        }
        struct pending *q = &p[m];
        q->level = r.level;
        q->cost = r.cost;
        q->len = maillimit__name_key(r.level, r.sender, q->buf, NULL, r.level, &q->hash);
        if (q->len < 0) {
            err = MAILLIMIT_EINVAL;
            break;
        }
        __builtin_prefetch(&t->slot[q->hash & t->mask]);
        d.rest += q->cost;
    }
    for (size_t i = 0; i < m; i++) { /* B */
        uintptr_t v = atomic_load_explicit(&t->slot[p[i].hash & t->mask], memory_order_relaxed);
        if (v && maillimit__slot_may_be(v, maillimit__slot_tag(p[i].hash))) {
            struct maillimit__entity *e = maillimit__slot_entity(v);
            __builtin_prefetch(e);
            __builtin_prefetch(&e->len);
        }
    }
    for (size_t i = 0; i < m; i++) { /* C */
        struct maillimit__entity *e = maillimit__table_find(ml, p[i].level, p[i].buf,
                                                            (size_t)p[i].len, p[i].hash);
        p[i].e = e;
        if (e) {
            __builtin_prefetch(atomic_load_explicit(&e->parent, memory_order_relaxed));
            if (e->hint)
                __builtin_prefetch(e->hint);
            prefetch_ring(e, slot);
        }
    }
    for (size_t i = 0; i < m; i++) { /* D */
        struct maillimit__entity *e = p[i].e;
        if (!e)
            continue;
        struct maillimit__entity *up = atomic_load_explicit(&e->parent, memory_order_relaxed);
        if (up)
            prefetch_ring(up, slot);
        if (e->hint)
            prefetch_ring(e->hint, slot);
    }
    for (size_t i = 0; i < m; i++) { /* E */
        struct pending *q = &p[i];
        struct maillimit__entity *e = q->e;
        int rc = 0;
        if (!e)
            rc = sender_found(ml, q->level, q->buf, (size_t)q->len, q->hash,
                              maillimit__table_find(ml, q->level, q->buf, (size_t)q->len,
                                                    q->hash),
                              &e);
        maillimit_verdict v = {.version = MAILLIMIT_VERDICT_VERSION};
        verdict_clear(&v);
        if (!rc)
            rc = decide_sender(ml, e, q->cost, now, &v, 0, &d);
        d.rest -= q->cost;
        if (rc) {
            defer_end(&d);
            *done = i;
            return rc;
        }
        char *dst = out + i * ostride;
        memcpy(dst, &oversion, sizeof oversion);
        maillimit__struct_out(MAILLIMIT__VERDICT, dst, &v);
    }
    defer_end(&d);
    *done = m;
    return err;
}

int maillimit_decide_many(maillimit *ml, const maillimit_request *req, size_t n, int64_t now,
                          maillimit_verdict *out, size_t *done)
{
    if (done)
        *done = 0;
    if (!ml || now < 0)
        return MAILLIMIT_EINVAL;
    if (n == 0)
        return 0;
    size_t rstride = maillimit__struct_check(MAILLIMIT__REQUEST, req);
    size_t ostride = maillimit__struct_check(MAILLIMIT__VERDICT, out);
    if (!rstride || !ostride)
        return MAILLIMIT_EINVAL;
    now = maillimit__now(now);
    for (size_t i = 0; i < n; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH, got = 0;
        unsigned rs = maillimit__read_enter(ml);
        int rc = decide_chunk(ml, (const char *)req + i * rstride, rstride, req->version, k,
                              now, (char *)out + i * ostride, ostride, out->version, &got);
        maillimit__read_leave(ml, rs);
        if (done)
            *done = i + got;
        if (rc)
            return rc;
    }
    return 0;
}

static int finish(maillimit *ml, uint64_t token, int give_back)
{
    if (!ml || token == 0)
        return MAILLIMIT_EINVAL;
    if (token & TOKEN_DECIDED)
        return MAILLIMIT_ENOTFOUND;
    struct maillimit__reservation *t =
        atomic_load_explicit(&ml->reservations, memory_order_acquire);
    if (!t)
        return MAILLIMIT_ENOTFOUND;
    struct maillimit__reservation *e = &t[token & (MAILLIMIT__RESERVATIONS - 1)];
    uint64_t s = token;
    /* acquire: pairs with the release store in record(), making its fields visible. The
     * entry stays in the finishing state while the units go back: the rings may belong to
     * removed entities, which the reclaimer keeps while an entry names them (reclaim.c). */
    if (!atomic_compare_exchange_strong_explicit(&e->state, &s,
                                                 token | MAILLIMIT__RES_FINISHING,
                                                 memory_order_acquire, memory_order_relaxed))
        return MAILLIMIT_ENOTFOUND;
    if (give_back)
        for (int i = 0; i < e->n; i++)
            maillimit__ring_slot_sub(atomic_load_explicit(&e->ring[i], memory_order_relaxed),
                                     e->minute[i], e->cost);
    /* release: ends our use of the entry and of its rings (pairs with claim()'s acquire and
     * with the reclaimer's) */
    atomic_store_explicit(&e->state, 0, memory_order_release);
    return 0;
}

int maillimit_commit(maillimit *ml, uint64_t token)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    unsigned rs = maillimit__read_enter(ml);
    int rc = finish(ml, token, 0);
    maillimit__read_leave(ml, rs);
    return rc;
}

int maillimit_release(maillimit *ml, uint64_t token)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    unsigned rs = maillimit__read_enter(ml);
    int rc = finish(ml, token, 1);
    maillimit__read_leave(ml, rs);
    return rc;
}

/* ---- reset and status ----------------------------------------------------------------- */

/* Resolve an entity with a counter: server (name NULL), subscription, domain, mailbox. */
static int counted_entity(maillimit *ml, int level, const char *name,
                          struct maillimit__entity **out)
{
    if (!ml || level < MAILLIMIT_LEVEL_SERVER || level > MAILLIMIT_LEVEL_MAILBOX ||
        level == MAILLIMIT_LEVEL_PLAN)
        return MAILLIMIT_EINVAL;
    if (level == MAILLIMIT_LEVEL_SERVER) {
        if (name)
            return MAILLIMIT_EINVAL;
        *out = ml->server;
        return 0;
    }
    char buf[MAILLIMIT_NAME_MAX + 1];
    int len = maillimit__name_norm(level, name, buf, NULL);
    if (len < 0)
        return MAILLIMIT_EINVAL;
    *out = maillimit__table_find(ml, level, buf, (size_t)len,
                                 maillimit__name_hash(level, buf, (size_t)len));
    return *out ? 0 : MAILLIMIT_ENOTFOUND;
}

static int reset(maillimit *ml, int level, const char *name);

int maillimit_reset(maillimit *ml, int level, const char *name)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    unsigned rs = maillimit__read_enter(ml);
    int rc = reset(ml, level, name);
    maillimit__read_leave(ml, rs);
    return rc;
}

static int reset(maillimit *ml, int level, const char *name)
{
    struct maillimit__entity *e = NULL;
    int rc = counted_entity(ml, level, name, &e);
    if (rc)
        return rc;
    struct maillimit__ring *rs[MAILLIMIT__LANES];
    int nr = maillimit__reader_rings(ml, e, rs);
    if (!nr)
        return 0;
    /* What was sent stays in the reports: the hours' units move to the report block. */
    struct maillimit__live *lv = maillimit__entity_live(ml, e);
    int64_t units[MAILLIMIT__DAY_SLOTS], first;
    maillimit__ring_hours(rs, nr, 0, units, &first); /* at the latest time the rings saw */
    for (int i = 0; i < nr; i++)
        maillimit__ring_clear(rs[i]);
    for (int k = 0; lv && k < MAILLIMIT__DAY_SLOTS; k++)
        if (units[k])
            maillimit__count_hourly(lv, MAILLIMIT__STAT_RESET, (first + k) * 3600, units[k]);
    return 0;
}

static int status_get(maillimit *ml, int level, const char *name, int window, int64_t now,
                      maillimit_status *out);

int maillimit_status_get(maillimit *ml, int level, const char *name, int window, int64_t now,
                         maillimit_status *out)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    if (!maillimit__struct_check(MAILLIMIT__STATUS, out))
        return MAILLIMIT_EINVAL;
    maillimit_status st = { .version = MAILLIMIT_STATUS_VERSION };
    unsigned rs = maillimit__read_enter(ml);
    int rc = status_get(ml, level, name, window, now, &st);
    maillimit__read_leave(ml, rs);
    if (rc == 0)
        maillimit__struct_out(MAILLIMIT__STATUS, out, &st);
    return rc;
}

static int status_get(maillimit *ml, int level, const char *name, int window, int64_t now,
                      maillimit_status *out)
{
    if (!out || out->version != MAILLIMIT_STATUS_VERSION || !maillimit__valid_window(window) ||
        now < 0)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    int rc = counted_entity(ml, level, name, &e);
    if (rc)
        return rc;
    now = maillimit__now(now);
    struct maillimit__ring *rs[MAILLIMIT__LANES];
    int nr = maillimit__reader_rings(ml, e, rs);
    out->count = nr ? maillimit__ring_count(rs, nr, window, now) : 0;
    out->limit = maillimit__effective_limit(ml, e, window);
    out->remaining = out->limit < 0 ? -1 : (out->limit > out->count ? out->limit - out->count : 0);
    out->reset_after = nr ? maillimit__ring_reset_after(rs, nr, window, now) : 0;
    out->sending = 1;
    out->blocked_by = -1;
    out->retry_after = 0;
    out->reserved_ = 0;
    if (e != ml->server && maillimit__effective_flag(ml, e, MAILLIMIT_FLAG_EXEMPT))
        return 0;
    if (!atomic_load_explicit(&ml->enabled, memory_order_relaxed))
        return 0;
    struct request rq;
    chain(ml, e == ml->server ? NULL : e, &rq, 0, now);
    limits(ml, &rq, 1);
    struct blocker b;
    find_blocker(ml, &rq, 1, now, &b);
    if (b.level >= 0) {
        out->sending = 0;
        out->blocked_by = b.level;
        out->retry_after = b.retry;
    }
    return 0;
}
