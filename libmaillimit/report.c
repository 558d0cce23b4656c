/* SPDX-License-Identifier: MIT */
/* Reports: hourly history, episodes, top lists, summaries and events (the readers; what
 * deciders write for them is in stats.c).
 *
 * Where the figures live:
 *   sent     the rings' hour slots (24 hours) — the same units the limits count;
 *   denied, exempt   per-entity live blocks, 24 hour slots each, written by deciders;
 *   older hours      harvested into per-entity history arrays by maillimit_tick() and the
 *                    readers (under the report lock), kept for the retention period;
 *   episodes the open one in the live block (lock-free: see maillimit__episode_deny());
 *            closed ones in the history arrays.
 * Deciders push episode edges into a bounded lock-free queue; the report lock's holder
 * drains it into history and the event queue. Deciders never take a lock: when the queue is
 * full (nobody has called a reader or maillimit_tick() for a while) an edge is dropped and
 * counted in maillimit_events_dropped().
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define HCOUNT 0xffffffffull

/* ---- under the report lock -------------------------------------------------------------- */

static void event_push(maillimit *ml, int type, struct maillimit__entity *e, int64_t time,
                       int64_t limit, int64_t denied, int window)
{
    if (!ml->events && !(ml->events = calloc(MAILLIMIT__EVENTS, sizeof *ml->events))) {
        ml->ev_dropped++;
        return;
    }
    if (ml->ev_count == MAILLIMIT__EVENTS) {
        ml->ev_head = (ml->ev_head + 1) % MAILLIMIT__EVENTS;
        ml->ev_count--;
        ml->ev_dropped++;
    }
    struct maillimit__event_rec *r = &ml->events[(ml->ev_head + ml->ev_count) % MAILLIMIT__EVENTS];
    *r = (struct maillimit__event_rec){e, time, limit, denied, ++ml->ev_seq, type, window};
    ml->ev_count++;
}

static struct maillimit__hist *hist_of(struct maillimit__entity *e, uint32_t hour)
{
    if (!e->hist && (e->hist = calloc(1, sizeof *e->hist)))
        e->hist->harvested = hour >= MAILLIMIT__DAY_SLOTS - 1 ? hour - (MAILLIMIT__DAY_SLOTS - 1)
                                                               : 0;
    return e->hist;
}

static int hist_add(struct maillimit__hist *h, const struct maillimit__hrec *r)
{
    if (h->n == h->cap) {
        uint32_t cap = h->cap ? h->cap * 2 : 8;
        struct maillimit__hrec *p = realloc(h->rec, cap * sizeof *p);
        if (!p)
            return MAILLIMIT_ENOMEM;
        h->rec = p;
        h->cap = cap;
    }
    h->rec[h->n++] = *r;
    return 0;
}

static int ep_add(struct maillimit__hist *h, const struct maillimit__epi *ep)
{
    if (h->nep == h->capep) {
        uint32_t cap = h->capep ? h->capep * 2 : 4;
        struct maillimit__epi *p = realloc(h->ep, cap * sizeof *p);
        if (!p)
            return MAILLIMIT_ENOMEM;
        h->ep = p;
        h->capep = cap;
    }
    h->ep[h->nep++] = *ep;
    return 0;
}

static int open_add(maillimit *ml, struct maillimit__entity *e)
{
    for (size_t i = 0; i < ml->nopen; i++)
        if (ml->open[i] == e)
            return 0;
    if (ml->nopen == ml->capopen) {
        size_t cap = ml->capopen ? ml->capopen * 2 : 16;
        struct maillimit__entity **p = realloc(ml->open, cap * sizeof *p);
        if (!p)
            return MAILLIMIT_ENOMEM;
        ml->open = p;
        ml->capopen = cap;
    }
    ml->open[ml->nopen++] = e;
    return 0;
}

static void close_episode(maillimit *ml, struct maillimit__entity *e, int64_t start,
                          int64_t end, int64_t limit, int64_t denied, int window)
{
    struct maillimit__hist *h = hist_of(e, (uint32_t)(end / 3600));
    struct maillimit__epi ep = {start, end, limit, denied, window, 0};
    if (h)
        ep_add(h, &ep);
    event_push(ml, MAILLIMIT_EVENT_BACK_TO_NORMAL, e, end, limit, denied, window);
}

/* Could e's own counter take one more unit in the window now? Read from the running totals,
 * which never hold fewer units than the window: "no" may be early, never "yes". An episode
 * that ends because units left the window is ended by its free_at time instead; this catches
 * resets and raised limits. */
static int fits_one(maillimit *ml, struct maillimit__entity *e, int window)
{
    int64_t limit = maillimit__effective_limit(ml, e, window);
    if (limit < 0)
        return 1;
    struct maillimit__ring *rs[MAILLIMIT__LANES];
    int nr = maillimit__reader_rings(ml, e, rs);
    int64_t total = 0;
    for (int i = 0; i < nr; i++) {
        uint64_t t = atomic_load_explicit(&rs[i]->totals, memory_order_relaxed);
        total += window == MAILLIMIT_WINDOW_HOUR ? maillimit__hour_total(t)
                                                 : maillimit__day_total(t);
    }
    return total + 1 <= limit;
}

static int64_t hour_slot(_Atomic uint64_t *slots, uint32_t h)
{
    uint64_t v = atomic_load_explicit(&slots[h % MAILLIMIT__DAY_SLOTS], memory_order_relaxed);
    return (v >> 32) == (uint64_t)h + 1 ? (int64_t)(v & HCOUNT) : 0;
}

/* Figures of hour h of an entity, read live (h within the last 24 hours of `now`). */
static void live_hour(maillimit *ml, struct maillimit__entity *e, int64_t now, uint32_t h,
                      int64_t out[3])
{
    struct maillimit__ring *rs[MAILLIMIT__LANES];
    int nr = maillimit__reader_rings(ml, e, rs);
    out[0] = out[1] = out[2] = 0;
    if (nr) {
        int64_t units[MAILLIMIT__DAY_SLOTS], first;
        maillimit__ring_hours(rs, nr, now, units, &first);
        if ((int64_t)h >= first && (int64_t)h < first + MAILLIMIT__DAY_SLOTS)
            out[0] = units[(int64_t)h - first];
    }
    struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
    if (lv) {
        out[0] += hour_slot(lv->reset, h);
        out[1] += hour_slot(lv->denied, h);
        out[2] += hour_slot(lv->exempt, h);
    }
    if (e == ml->server)
        for (int k = 0; k < MAILLIMIT__LANES; k++) {
            out[1] += hour_slot(ml->lane_live[k]->denied, h);
            out[2] += hour_slot(ml->lane_live[k]->exempt, h);
        }
}

static uint32_t sat32(int64_t v)
{
    return v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void harvest(maillimit *ml, struct maillimit__entity *e, int64_t now, uint32_t hour)
{
    struct maillimit__hist *h = hist_of(e, hour);
    if (!h)
        return;
    /* The previous hour stays live one hour longer: a decider that read the clock just
     * before the hour turned may still be adding to it. */
    uint32_t upto = hour ? hour - 1 : 0;
    uint32_t from = h->harvested;
    if (hour >= MAILLIMIT__DAY_SLOTS - 1 && from < hour - (MAILLIMIT__DAY_SLOTS - 1))
        from = hour - (MAILLIMIT__DAY_SLOTS - 1);
    for (uint32_t x = from; x < upto; x++) {
        int64_t f[3];
        live_hour(ml, e, now, x, f);
        if (f[0] || f[1] || f[2]) {
            struct maillimit__hrec r = {x, sat32(f[0]), sat32(f[1]), sat32(f[2])};
            if (hist_add(h, &r))
                return; /* out of memory: retried at the next call */
        }
        h->harvested = x + 1;
    }
    if (h->harvested < upto)
        h->harvested = upto;
    /* retention: keep hours > hour - retention */
    int64_t keep = (int64_t)hour - ml->retention + 1;
    uint32_t drop = 0;
    while (drop < h->n && (int64_t)h->rec[drop].hour < keep)
        drop++;
    if (drop) {
        memmove(h->rec, h->rec + drop, (h->n - drop) * sizeof *h->rec);
        h->n -= drop;
    }
    uint32_t w = 0;
    for (uint32_t i = 0; i < h->nep; i++)
        if (h->ep[i].end >= keep * 3600)
            h->ep[w++] = h->ep[i];
    h->nep = w;
}

static struct maillimit__entity *active_head(maillimit *ml)
{
    /* acquire: pairs with the release CAS in maillimit__activate() */
    return atomic_load_explicit(&ml->active, memory_order_acquire);
}

/* Bring reports up to `now`: drain edges, close ended episodes, harvest closed hours. */
/* Move queued episode edges into history and the event queue (report lock held). */
static void drain(maillimit *ml)
{
    struct maillimit__edge ed;
    while (maillimit__edge_pop(ml, &ed)) {
        if (ed.type == MAILLIMIT__EDGE_START) {
            event_push(ml, MAILLIMIT_EVENT_LIMIT_REACHED, ed.e, ed.time, ed.limit, 0,
                       ed.window);
            open_add(ml, ed.e);
        } else {
            close_episode(ml, ed.e, ed.start, ed.time, ed.limit, ed.denied, ed.window);
        }
    }
}

static void maintain(maillimit *ml, int64_t now)
{
    drain(ml);
    /* Open episodes are looked at once per second of `now` (a loop of events_next() calls at
     * the same time scans them once). */
    if (now == ml->open_scan_at)
        goto harvest;
    ml->open_scan_at = now;
    for (size_t i = 0; i < ml->nopen;) {
        struct maillimit__entity *e = ml->open[i];
        struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
        int64_t ep[4];
        int32_t window;
        maillimit__episode_read(lv, ep, &window);
        int closed = ep[0] == 0;
        if (!closed && (now >= ep[1] || fits_one(ml, e, window))) {
            int64_t start = ep[0];
            /* acq_rel: only the winner emits the end; a denial that reopened it meanwhile
             * makes this fail (its episode stays open) */
            if (atomic_compare_exchange_strong_explicit(&lv->ep_start, &start, 0,
                                                        memory_order_acq_rel,
                                                        memory_order_acquire)) {
                int64_t denied =
                    atomic_exchange_explicit(&lv->ep_denied, 0, memory_order_relaxed);
                close_episode(ml, e, ep[0], now >= ep[1] ? ep[1] : now, ep[3], denied,
                              window);
                closed = 1;
            }
        }
        if (closed)
            ml->open[i] = ml->open[--ml->nopen];
        else
            i++;
    }
harvest:;
    uint32_t hour = (uint32_t)(now / 3600);
    if (hour > ml->harvested) {
        for (struct maillimit__entity *e = active_head(ml); e; e = e->active_next)
            harvest(ml, e, now, hour);
        ml->harvested = hour;
    }
}

/* ---- for reclaim.c (report lock held) ---------------------------------------------------- */

static int being_freed(struct maillimit__entity *e)
{
    return atomic_load_explicit(&e->dead, memory_order_relaxed) == 2;
}

void maillimit__report_forget(maillimit *ml)
{
    drain(ml); /* the edges of the batch's entities become events or history first */
    /* an entity named by a queued event waits for a later batch */
    for (size_t i = 0; i < ml->ev_count; i++) {
        struct maillimit__entity *e = ml->events[(ml->ev_head + i) % MAILLIMIT__EVENTS].e;
        if (being_freed(e))
            atomic_store_explicit(&e->dead, 1, memory_order_relaxed);
    }
    for (size_t i = 0; i < ml->nopen;) {
        if (being_freed(ml->open[i]))
            ml->open[i] = ml->open[--ml->nopen];
        else
            i++;
    }
    /* The list of entities with traffic: deciders push at its head (a CAS), so the head is
     * taken off with a CAS and the others by their predecessor's link, which only the report
     * lock's holder touches. */
    struct maillimit__entity *head = active_head(ml);
    while (head && being_freed(head)) {
        /* acquire on failure: the new head's link was published by its pusher's release */
        if (atomic_compare_exchange_weak_explicit(&ml->active, &head, head->active_next,
                                                  memory_order_acquire, memory_order_acquire))
            head = head->active_next;
    }
    for (struct maillimit__entity *prev = active_head(ml); prev;) {
        struct maillimit__entity *x = prev->active_next;
        if (x && being_freed(x))
            prev->active_next = x->active_next;
        else
            prev = x;
    }
}

int maillimit__report_idle(maillimit *ml, struct maillimit__entity *e, int64_t now)
{
    (void)ml;
    if (atomic_load_explicit(&e->dead, memory_order_relaxed))
        return 0;
    int64_t minute = now / 60, hour = now / 3600;
    struct maillimit__ring *r = atomic_load_explicit(&e->ring, memory_order_acquire);
    if (r) {
        /* the last minute it counted in is 25 hours old, and nothing is in its windows */
        if ((int64_t)atomic_load_explicit(&r->head, memory_order_relaxed) > minute - 25 * 60)
            return 0;
        if (maillimit__ring_count(&r, 1, MAILLIMIT_WINDOW_DAY, now) != 0)
            return 0;
    }
    struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
    if (lv) {
        if (atomic_load_explicit(&lv->ep_start, memory_order_acquire) != 0)
            return 0;
        for (int i = 0; i < MAILLIMIT__DAY_SLOTS; i++) {
            _Atomic uint64_t *sl[3] = {&lv->denied[i], &lv->exempt[i], &lv->reset[i]};
            for (int k = 0; k < 3; k++) {
                uint64_t v = atomic_load_explicit(sl[k], memory_order_relaxed);
                if ((v & HCOUNT) && (int64_t)(v >> 32) - 1 > hour - 25)
                    return 0;
            }
        }
    }
    /* its history is past retention (harvest drops older rows) */
    return !e->hist || (e->hist->n == 0 && e->hist->nep == 0);
}

/* ---- for snapshots (report lock held unless said otherwise) ------------------------------ */

void maillimit__report_drain(maillimit *ml)
{
    drain(ml);
}

int maillimit__report_open_add(maillimit *ml, struct maillimit__entity *e)
{
    return open_add(ml, e);
}

void maillimit__report_free(maillimit *ml)
{
    struct maillimit__entity *special[2] = {ml->server, ml->unattributed};
    for (int k = 0; k < 3; k++) {
        for (struct maillimit__entity *e = k < 2 ? special[k] : ml->all; e;
             e = k < 2 ? NULL : e->all_next) {
            if (e->hist) {
                free(e->hist->rec);
                free(e->hist->ep);
                free(e->hist);
            }
            free(atomic_load_explicit(&e->live, memory_order_relaxed));
        }
    }
    free(atomic_load_explicit(&ml->edges, memory_order_relaxed));
    free(ml->events);
    free(ml->open);
}

/* ---- public: maintenance ---------------------------------------------------------------- */

void maillimit__report_maintain(maillimit *ml, int64_t now)
{
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    pthread_mutex_unlock(&ml->report_lock);
}

int maillimit_retention_set(maillimit *ml, int64_t hours)
{
    if (!ml || hours < 1 || hours > 87600)
        return MAILLIMIT_EINVAL;
    pthread_mutex_lock(&ml->report_lock);
    ml->retention = hours;
    pthread_mutex_unlock(&ml->report_lock);
    return 0;
}

int maillimit_retention_get(maillimit *ml, int64_t *out)
{
    if (!ml || !out)
        return MAILLIMIT_EINVAL;
    pthread_mutex_lock(&ml->report_lock);
    *out = ml->retention;
    pthread_mutex_unlock(&ml->report_lock);
    return 0;
}

/* ---- sums over hours ---------------------------------------------------------------------- */

/* The hour range [fh, th) of a time range [from, to), clamped to what can exist. */
static void hour_range(const maillimit *ml, int64_t from, int64_t to, int64_t now, int64_t *fh,
                       int64_t *th)
{
    int64_t hour = now / 3600;
    int64_t lo = hour - ml->retention + 1, hi = hour + 1;
    *fh = from <= 0 ? 0 : (from + 3599) / 3600; /* hours starting at or after from */
    *th = to <= 0 ? 0 : (to + 3599) / 3600;     /* hours starting before to */
    if (*fh < lo)
        *fh = lo;
    if (*th > hi)
        *th = hi;
}

/* Add entity e's figures for hours [fh, th) to acc[] (dense, acc[(h - fh) * 3 + k]) or,
 * when acc is NULL, to sum[3]. */
static void entity_hours(maillimit *ml, struct maillimit__entity *e, int64_t now, int64_t fh,
                         int64_t th, int64_t *acc, int64_t sum[3])
{
    int64_t live_from = fh;
    struct maillimit__hist *h = e->hist;
    if (h) {
        for (uint32_t i = 0; i < h->n; i++) {
            int64_t x = h->rec[i].hour;
            if (x < fh || x >= th || x >= (int64_t)h->harvested)
                continue;
            int64_t f[3] = {h->rec[i].sent, h->rec[i].denied, h->rec[i].exempt};
            for (int k = 0; k < 3; k++) {
                if (acc)
                    acc[(x - fh) * 3 + k] += f[k];
                else
                    sum[k] += f[k];
            }
        }
        if (live_from < (int64_t)h->harvested)
            live_from = h->harvested;
    }
    int64_t hour = now / 3600;
    if (live_from < hour - (MAILLIMIT__DAY_SLOTS - 1))
        live_from = hour - (MAILLIMIT__DAY_SLOTS - 1);
    for (int64_t x = live_from; x < th; x++) {
        int64_t f[3];
        live_hour(ml, e, now, (uint32_t)x, f);
        for (int k = 0; k < 3; k++) {
            if (acc)
                acc[(x - fh) * 3 + k] += f[k];
            else
                sum[k] += f[k];
        }
    }
}

/* Is e in the subtree of scope (NULL: everything)? */
static int in_scope(struct maillimit__entity *e, struct maillimit__entity *scope)
{
    if (!scope)
        return 1;
    for (struct maillimit__entity *x = e; x; x = maillimit__parent(x))
        if (x == scope)
            return 1;
    return 0;
}

/* Resolve (level, name) for a reader: SERVER (name NULL), or a live entity. */
static int reader_entity(maillimit *ml, int level, const char *name, int allow_plan,
                         struct maillimit__entity **out)
{
    if (level == MAILLIMIT_LEVEL_SERVER) {
        if (name)
            return MAILLIMIT_EINVAL;
        *out = ml->server;
        return 0;
    }
    if (level < MAILLIMIT_LEVEL_PLAN || level > MAILLIMIT_LEVEL_MAILBOX ||
        (level == MAILLIMIT_LEVEL_PLAN && !allow_plan) || !name)
        return MAILLIMIT_EINVAL;
    char buf[MAILLIMIT_NAME_MAX + 1];
    if (maillimit__name_norm(level, name, buf, NULL) < 0)
        return MAILLIMIT_EINVAL;
    *out = maillimit__lookup(ml, level, name);
    return *out ? 0 : MAILLIMIT_ENOTFOUND;
}

/* ---- history ------------------------------------------------------------------------------ */

struct maillimit_history {
    size_t i, n;
    maillimit_history_row rows[];
};

int maillimit_history_open(maillimit *ml, int level, const char *name, int64_t from, int64_t to,
                           int64_t now, maillimit_history **out)
{
    if (out)
        *out = NULL;
    if (!ml || !out || now < 0)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    int rc = reader_entity(ml, level, name, 1, &e);
    if (rc)
        return rc;
    now = maillimit__now(now);
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    int64_t fh, th;
    hour_range(ml, from, to, now, &fh, &th);
    size_t nh = th > fh ? (size_t)(th - fh) : 0;
    int64_t *acc = calloc(nh ? nh * 3 : 1, sizeof *acc);
    maillimit_history *it = NULL;
    if (acc) {
        if (level == MAILLIMIT_LEVEL_PLAN) {
            for (struct maillimit__entity *x = active_head(ml); x; x = x->active_next)
                if (x->level == MAILLIMIT_LEVEL_SUBSCRIPTION &&
                    !atomic_load_explicit(&x->dead, memory_order_relaxed) &&
                    maillimit__parent(x) == e)
                    entity_hours(ml, x, now, fh, th, acc, NULL);
        } else {
            entity_hours(ml, e, now, fh, th, acc, NULL);
        }
        size_t rows = 0;
        for (size_t k = 0; k < nh; k++)
            rows += acc[k * 3] || acc[k * 3 + 1] || acc[k * 3 + 2];
        it = malloc(sizeof *it + rows * sizeof it->rows[0]);
        if (it) {
            it->i = 0;
            it->n = 0;
            for (size_t k = 0; k < nh; k++) {
                if (!(acc[k * 3] || acc[k * 3 + 1] || acc[k * 3 + 2]))
                    continue;
                it->rows[it->n++] = (maillimit_history_row){
                    MAILLIMIT_HISTORY_ROW_VERSION, 0, (fh + (int64_t)k) * 3600, acc[k * 3],
                    acc[k * 3 + 1], acc[k * 3 + 2]};
            }
        }
    }
    pthread_mutex_unlock(&ml->report_lock);
    free(acc);
    if (!it)
        return MAILLIMIT_ENOMEM;
    *out = it;
    return 0;
}

int maillimit_history_next(maillimit_history *it, maillimit_history_row *out)
{
    if (!it || !maillimit__struct_check(MAILLIMIT__HISTORY_ROW, out))
        return MAILLIMIT_EINVAL;
    if (it->i == it->n)
        return MAILLIMIT_EDONE;
    maillimit__struct_out(MAILLIMIT__HISTORY_ROW, out, &it->rows[it->i++]);
    return 0;
}

void maillimit_history_close(maillimit_history *it)
{
    free(it);
}

/* ---- episodes ----------------------------------------------------------------------------- */

struct ep_item {
    struct maillimit__entity *e;
    struct maillimit__epi ep;
    int ongoing;
};

struct maillimit_episodes {
    size_t i, n, cap;
    maillimit *ml;
    struct ep_item *items;
};

static int ep_push(struct maillimit_episodes *it, const struct ep_item *x)
{
    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 16;
        struct ep_item *p = realloc(it->items, cap * sizeof *p);
        if (!p)
            return MAILLIMIT_ENOMEM;
        it->items = p;
        it->cap = cap;
    }
    it->items[it->n++] = *x;
    return 0;
}

static int ep_cmp(const void *a, const void *b)
{
    const struct ep_item *x = a, *y = b;
    if (x->ep.start != y->ep.start)
        return x->ep.start < y->ep.start ? -1 : 1;
    if (x->e->level != y->e->level)
        return x->e->level < y->e->level ? -1 : 1;
    return strcmp(x->e->name, y->e->name);
}

/* Append the episodes of e overlapping [from, to) to it. */
static int entity_episodes(struct maillimit__entity *e, int64_t from, int64_t to, int64_t now,
                           struct maillimit_episodes *it)
{
    if (e->hist)
        for (uint32_t i = 0; i < e->hist->nep; i++) {
            const struct maillimit__epi *ep = &e->hist->ep[i];
            if (ep->start < to && ep->end >= from) {
                struct ep_item x = {e, *ep, 0};
                if (ep_push(it, &x))
                    return MAILLIMIT_ENOMEM;
            }
        }
    struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
    if (!lv)
        return 0;
    int64_t ep[4];
    int32_t window;
    maillimit__episode_read(lv, ep, &window);
    struct ep_item x = {e, {ep[0], ep[1], ep[3], ep[2], window, 0}, 1};
    if (!x.ep.start)
        return 0;
    if (now >= x.ep.end)
        x.ongoing = 0; /* ended by itself at free_at, noticed lazily */
    else if (x.ep.end == INT64_MAX)
        x.ep.end = -1;
    if (x.ep.start < to && (x.ongoing || x.ep.end >= from))
        return ep_push(it, &x);
    return 0;
}

int maillimit_episodes_open(maillimit *ml, int level, const char *name, int64_t from,
                            int64_t to, int64_t now, maillimit_episodes **out)
{
    if (out)
        *out = NULL;
    if (!ml || !out || now < 0)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *scope = NULL;
    int rc = reader_entity(ml, level, name, 0, &scope);
    if (rc)
        return rc;
    if (scope == ml->server)
        scope = NULL;
    now = maillimit__now(now);
    struct maillimit_episodes *it = calloc(1, sizeof *it);
    if (!it)
        return MAILLIMIT_ENOMEM;
    it->ml = ml;
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    for (struct maillimit__entity *e = active_head(ml); e && !rc; e = e->active_next)
        if (e != ml->unattributed && in_scope(e, scope))
            rc = entity_episodes(e, from, to, now, it);
    pthread_mutex_unlock(&ml->report_lock);
    if (rc) {
        maillimit_episodes_close(it);
        return rc;
    }
    if (it->n)
        qsort(it->items, it->n, sizeof *it->items, ep_cmp);
    *out = it;
    return 0;
}

static void copy_name(char *dst, const struct maillimit__entity *e)
{
    size_t n = e->len < MAILLIMIT_NAME_BUFFER - 1 ? e->len : MAILLIMIT_NAME_BUFFER - 1;
    memcpy(dst, e->name, n);
    dst[n] = '\0';
}

int maillimit_episodes_next(maillimit_episodes *it, maillimit_episode *out)
{
    if (!it || !maillimit__struct_check(MAILLIMIT__EPISODE, out))
        return MAILLIMIT_EINVAL;
    if (it->i == it->n)
        return MAILLIMIT_EDONE;
    const struct ep_item *x = &it->items[it->i++];
    maillimit_episode ep = { .version = MAILLIMIT_EPISODE_VERSION };
    ep.level = x->e->level;
    ep.window = x->ep.window;
    ep.ongoing = x->ongoing;
    ep.started = x->ep.start;
    ep.ended = x->ep.end;
    ep.limit = x->ep.limit;
    ep.denied = x->ep.denied;
    copy_name(ep.name, x->e);
    maillimit__struct_out(MAILLIMIT__EPISODE, out, &ep);
    return 0;
}

void maillimit_episodes_close(maillimit_episodes *it)
{
    if (!it)
        return;
    free(it->items);
    free(it);
}

/* ---- top and summary ---------------------------------------------------------------------- */

struct top_item {
    struct maillimit__entity *e;
    int64_t f[3];
};

static int top_better(const struct top_item *a, const struct top_item *b, int metric)
{
    int other = metric == MAILLIMIT_METRIC_SENT ? 1 : 0;
    if (a->f[metric] != b->f[metric])
        return a->f[metric] > b->f[metric];
    if (a->f[other] != b->f[other])
        return a->f[other] > b->f[other];
    return strcmp(a->e->name, b->e->name) < 0;
}

/* Keep the best k items in best[0..*n), ordered best first (insertion: k is small). */
static void top_offer(struct top_item *best, size_t *n, size_t k, const struct top_item *x,
                      int metric)
{
    if (k == 0 || (*n == k && !top_better(x, &best[k - 1], metric)))
        return;
    size_t i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && top_better(x, &best[i - 1], metric)) {
        best[i] = best[i - 1];
        i--;
    }
    best[i] = *x;
}

int maillimit_top(maillimit *ml, int level, int metric, int64_t from, int64_t to,
                  int scope_level, const char *scope_name, int64_t now, maillimit_top_row *rows,
                  size_t *n)
{
    if (!ml || !n || (!rows && *n) || now < 0 || level < MAILLIMIT_LEVEL_PLAN ||
        level > MAILLIMIT_LEVEL_MAILBOX ||
        (metric != MAILLIMIT_METRIC_SENT && metric != MAILLIMIT_METRIC_DENIED) ||
        (scope_level != MAILLIMIT_LEVEL_SERVER && scope_level != MAILLIMIT_LEVEL_SUBSCRIPTION &&
         scope_level != MAILLIMIT_LEVEL_DOMAIN) ||
        (level == MAILLIMIT_LEVEL_PLAN && scope_level != MAILLIMIT_LEVEL_SERVER) ||
        level < scope_level)
        return MAILLIMIT_EINVAL;
    size_t stride = *n ? maillimit__struct_check(MAILLIMIT__TOP_ROW, rows) : 0;
    if (*n && !stride)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *scope = NULL;
    int rc = reader_entity(ml, scope_level, scope_name, 0, &scope);
    if (rc)
        return rc;
    if (scope == ml->server)
        scope = NULL;
    now = maillimit__now(now);
    size_t k = *n;
    struct top_item *best = calloc(k ? k : 1, sizeof *best);
    if (!best)
        return MAILLIMIT_ENOMEM;
    size_t got = 0;
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    int64_t fh, th;
    hour_range(ml, from, to, now, &fh, &th);
    if (level == MAILLIMIT_LEVEL_PLAN) {
        /* plans: sum their subscriptions, one plan at a time */
        for (struct maillimit__entity *p = ml->all; p; p = p->all_next) {
            if (p->level != MAILLIMIT_LEVEL_PLAN ||
                atomic_load_explicit(&p->dead, memory_order_relaxed))
                continue;
            struct top_item x = {p, {0, 0, 0}};
            for (struct maillimit__entity *e = active_head(ml); e; e = e->active_next)
                if (e->level == MAILLIMIT_LEVEL_SUBSCRIPTION && maillimit__parent(e) == p &&
                    !atomic_load_explicit(&e->dead, memory_order_relaxed))
                    entity_hours(ml, e, now, fh, th, NULL, x.f);
            if (x.f[0] || x.f[1] || x.f[2])
                top_offer(best, &got, k, &x, metric);
        }
    } else {
        for (struct maillimit__entity *e = active_head(ml); e; e = e->active_next) {
            if (e->level != level || atomic_load_explicit(&e->dead, memory_order_relaxed) ||
                e == ml->unattributed || !in_scope(e, scope))
                continue;
            struct top_item x = {e, {0, 0, 0}};
            entity_hours(ml, e, now, fh, th, NULL, x.f);
            if (x.f[0] || x.f[1] || x.f[2])
                top_offer(best, &got, k, &x, metric);
        }
    }
    for (size_t i = 0; i < got; i++) {
        /* rows[0]'s version is every row's: the caller's array strides by its size */
        maillimit_top_row row = { .version = MAILLIMIT_TOP_ROW_VERSION };
        row.level = best[i].e->level;
        row.sent = best[i].f[0];
        row.denied = best[i].f[1];
        row.exempt = best[i].f[2];
        copy_name(row.name, best[i].e);
        void *dst = (char *)rows + i * stride;
        memcpy(dst, &rows->version, sizeof rows->version);
        maillimit__struct_out(MAILLIMIT__TOP_ROW, dst, &row);
    }
    pthread_mutex_unlock(&ml->report_lock);
    free(best);
    *n = got;
    return 0;
}

int maillimit_summary_get(maillimit *ml, int scope_level, const char *scope_name, int64_t from,
                          int64_t to, int64_t now, maillimit_summary *out)
{
    if (!ml || !maillimit__struct_check(MAILLIMIT__SUMMARY, out) || now < 0 ||
        (scope_level != MAILLIMIT_LEVEL_SERVER && scope_level != MAILLIMIT_LEVEL_SUBSCRIPTION &&
         scope_level != MAILLIMIT_LEVEL_DOMAIN))
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *scope = NULL;
    int rc = reader_entity(ml, scope_level, scope_name, 0, &scope);
    if (rc)
        return rc;
    now = maillimit__now(now);
    struct maillimit_episodes eps = {0};
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    int64_t fh, th, f[3] = {0, 0, 0}, u[3] = {0, 0, 0};
    hour_range(ml, from, to, now, &fh, &th);
    entity_hours(ml, scope, now, fh, th, NULL, f);
    if (scope == ml->server)
        entity_hours(ml, ml->unattributed, now, fh, th, NULL, u);
    int64_t limited = 0;
    for (struct maillimit__entity *e = active_head(ml); e && !rc; e = e->active_next) {
        if (e == ml->unattributed || !in_scope(e, scope == ml->server ? NULL : scope))
            continue;
        eps.n = 0;
        rc = entity_episodes(e, from, to, now, &eps);
        limited += eps.n > 0;
    }
    pthread_mutex_unlock(&ml->report_lock);
    free(eps.items);
    if (rc)
        return rc;
    maillimit_summary sm = { .version = MAILLIMIT_SUMMARY_VERSION };
    sm.sent = f[0] - u[0]; /* the server's own counter holds unattributed units too */
    sm.denied = f[1];
    sm.exempt = f[2];
    sm.unattributed = u[0];
    sm.limited_entities = limited;
    maillimit__struct_out(MAILLIMIT__SUMMARY, out, &sm);
    return 0;
}

/* ---- events ------------------------------------------------------------------------------- */

int maillimit_events_next(maillimit *ml, int64_t now, maillimit_event *out)
{
    if (!ml || !maillimit__struct_check(MAILLIMIT__EVENT, out) || now < 0)
        return MAILLIMIT_EINVAL;
    now = maillimit__now(now);
    pthread_mutex_lock(&ml->report_lock);
    maintain(ml, now);
    int rc = MAILLIMIT_EDONE;
    if (ml->ev_count) {
        const struct maillimit__event_rec *r = &ml->events[ml->ev_head];
        ml->ev_head = (ml->ev_head + 1) % MAILLIMIT__EVENTS;
        ml->ev_count--;
        maillimit_event ev = { .version = MAILLIMIT_EVENT_VERSION };
        ev.type = r->type;
        ev.level = r->e->level;
        ev.window = r->window;
        ev.time = r->time;
        ev.limit = r->limit;
        ev.denied = r->denied;
        ev.seq = r->seq;
        copy_name(ev.name, r->e);
        maillimit__struct_out(MAILLIMIT__EVENT, out, &ev);
        rc = 0;
    }
    pthread_mutex_unlock(&ml->report_lock);
    return rc;
}

int maillimit_events_dropped(maillimit *ml, uint64_t *out)
{
    if (!ml || !out)
        return MAILLIMIT_EINVAL;
    pthread_mutex_lock(&ml->report_lock);
    drain(ml); /* queued edges become events first: the count is of events lost */
    *out = ml->ev_dropped + atomic_load_explicit(&ml->edges_dropped, memory_order_relaxed);
    pthread_mutex_unlock(&ml->report_lock);
    return 0;
}
