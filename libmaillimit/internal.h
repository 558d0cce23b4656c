/* SPDX-License-Identifier: MIT */
/* Internal declarations of libmaillimit. Never installed. */
#ifndef MAILLIMIT_INTERNAL_H
#define MAILLIMIT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maillimit.h"

#define MAILLIMIT__HIDDEN __attribute__((visibility("hidden")))

/* Internal level for system-user aliases (never a counted level). */
enum { MAILLIMIT__LEVEL_SYSUSER = 5, MAILLIMIT__LEVELS = 6 };

/* ---- versioned public structs (structs.c) ---------------------------------------------- */

enum maillimit__struct_kind {
    MAILLIMIT__VERDICT, MAILLIMIT__STATUS, MAILLIMIT__HISTORY_ROW, MAILLIMIT__EPISODE,
    MAILLIMIT__TOP_ROW, MAILLIMIT__SUMMARY, MAILLIMIT__EVENT, MAILLIMIT__ENTITY,
    MAILLIMIT__REQUEST, MAILLIMIT__STRUCT_KINDS
};
/* Size of version `version` of a public struct; 0 if this library does not know it. */
MAILLIMIT__HIDDEN size_t maillimit__struct_size(int kind, uint32_t version);
/* Size of the version a caller's struct carries (its first field); 0 if NULL or unknown. */
MAILLIMIT__HIDDEN size_t maillimit__struct_check(int kind, const void *caller);
/* Copy `full` (the library's own version, filled) into a caller's struct whose version was
 * checked: only that version's bytes, the caller's version kept. */
MAILLIMIT__HIDDEN void maillimit__struct_out(int kind, void *caller, const void *full);

/* ---- names (names.c) ------------------------------------------------------------------- */

/* Validate a name for a level and write its lower-cased form to buf (MAILLIMIT_NAME_MAX + 1
 * bytes). Returns its length, or MAILLIMIT_EINVAL; *why gets a static explanation. */
MAILLIMIT__HIDDEN int maillimit__name_norm(int level, const char *name, char *buf,
                                           const char **why);
MAILLIMIT__HIDDEN uint64_t maillimit__name_hash(int level, const char *name, size_t len);
/* maillimit__name_norm() and, when it succeeds and hash is not NULL, *hash =
 * maillimit__name_hash(hash_level, buf, length), in one pass over the name. */
MAILLIMIT__HIDDEN int maillimit__name_key(int level, const char *name, char *buf,
                                          const char **why, int hash_level, uint64_t *hash);

/* ---- window counters (ring.c) ----------------------------------------------------------
 * One counter (an entity's, or one lane of the server's) holds both windows: a running total
 * per window packed in one word, 60 minute slots and 24 hour slots. See ring.c. */
enum { MAILLIMIT__HOUR_SLOTS = 60, MAILLIMIT__DAY_SLOTS = 24 };

struct maillimit__ring {
    _Atomic uint64_t totals;                           /* hour (low 32) | day (high 32) */
    _Atomic uint32_t head;                             /* newest minute + 1 swept */
    _Atomic uint32_t dhead;                            /* newest hour + 1 swept */
    _Atomic uint32_t minute[MAILLIMIT__HOUR_SLOTS];    /* lap 7 | rolled 1 | count 24 */
    _Atomic uint64_t hour[MAILLIMIT__DAY_SLOTS];       /* (hour + 1) << 32 | count */
};

/* Period (minute for HOUR, hour for DAY) of a time. */
static inline uint32_t maillimit__period(int window, int64_t now)
{
    return (uint32_t)(window == MAILLIMIT_WINDOW_HOUR ? now / 60 : now / 3600);
}

static inline int64_t maillimit__hour_total(uint64_t totals)
{
    return (int64_t)(totals & 0xffffffffu);
}

static inline int64_t maillimit__day_total(uint64_t totals)
{
    return (int64_t)(totals >> 32);
}

MAILLIMIT__HIDDEN struct maillimit__ring *maillimit__ring_new(void);
/* Bring the ring up to minute p (expire and roll what left); returns the minute to count in
 * (p, or a later one if the ring has already seen later time). */
MAILLIMIT__HIDDEN uint32_t maillimit__ring_advance(struct maillimit__ring *r, uint32_t p);
/* maillimit__ring_advance() when the ring has already been brought to minute p or later
 * (once per counter per minute it has not): the decision path's form. */
static inline uint32_t maillimit__ring_at(struct maillimit__ring *r, uint32_t p)
{
    /* acquire: pairs with the acq_rel head CAS in maillimit__ring_advance() */
    uint32_t h = atomic_load_explicit(&r->head, memory_order_acquire);
    return h >= p + 1 ? h - 1 : maillimit__ring_advance(r, p);
}
/* 1 if `units` more keep the totals within their capacity (2^31 units per day). */
static inline int maillimit__ring_units_ok(const struct maillimit__ring *r, int64_t units)
{
    /* The day total (which holds the hour total) stays at most 2^31, far below 2^32: the
     * slack absorbs concurrent requests that passed this check at the same time. */
    uint64_t t = atomic_load_explicit(&((struct maillimit__ring *)r)->totals,
                                      memory_order_relaxed);
    return (t >> 32) + (uint64_t)units <= (UINT64_C(1) << 31);
}
/* Add units to minute p's slot (the totals are the caller's). 0, or MAILLIMIT_ERANGE when
 * the slot would exceed 16777215 units; then nothing was added. */
MAILLIMIT__HIDDEN int maillimit__ring_slot_add(struct maillimit__ring *r, uint32_t p,
                                               int64_t units);
/* The minute slot word (ring.c): lap 7 | rolled 1 | count 24. */
#define MAILLIMIT__M_COUNT 0x00ffffffu
#define MAILLIMIT__M_ROLLED 0x01000000u
#define MAILLIMIT__M_LAP_SHIFT 25
/* maillimit__ring_slot_add() for the decision path: its common case inline (the slot holds
 * minute p, not rolled, with room for the units: one CAS), else the full protocol. */
static inline int maillimit__ring_slot_add_at(struct maillimit__ring *r, uint32_t p,
                                              int64_t units)
{
    _Atomic uint32_t *w = &r->minute[p % MAILLIMIT__HOUR_SLOTS];
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    /* acq_rel: as the CAS of maillimit__ring_slot_add() (orders against sweeps and subs of
     * this word) */
    if ((v >> MAILLIMIT__M_LAP_SHIFT) == (p / MAILLIMIT__HOUR_SLOTS) % 128u &&
        !(v & MAILLIMIT__M_ROLLED) &&
        (v & MAILLIMIT__M_COUNT) + (uint64_t)units <= MAILLIMIT__M_COUNT &&
        atomic_compare_exchange_strong_explicit(w, &v, v + (uint32_t)units,
                                                memory_order_acq_rel, memory_order_relaxed))
        return 0;
    return maillimit__ring_slot_add(r, p, units);
}
/* Take units of minute p back from its slot (or its hour's slot) and the totals, as far as
 * they are still in their windows. */
MAILLIMIT__HIDDEN void maillimit__ring_slot_sub(struct maillimit__ring *r, uint32_t p,
                                                int64_t units);
/* Readers over one ring or several (the server's lanes), at time now (or the latest time
 * a ring has seen, if later). Slot counts, not the running total: exact when quiet. */
MAILLIMIT__HIDDEN int64_t maillimit__ring_count(struct maillimit__ring *const *rs, int nr,
                                                int window, int64_t now);
/* Smallest s >= 1 such that count(now + s) + cost <= limit, or -1 (cost > limit); the
 * current count goes to *count_out (may be NULL). */
MAILLIMIT__HIDDEN int64_t maillimit__ring_retry(struct maillimit__ring *const *rs, int nr,
                                                int window, int64_t now, int64_t cost,
                                                int64_t limit, int64_t *count_out);
/* Seconds until the window's count is back to 0 (0 if it is 0). */
MAILLIMIT__HIDDEN int64_t maillimit__ring_reset_after(struct maillimit__ring *const *rs,
                                                      int nr, int window, int64_t now);
/* Forget every slot of the ring (reset). */
MAILLIMIT__HIDDEN void maillimit__ring_clear(struct maillimit__ring *r);

/* A counter by meaning, independent of how ring.c stores it (snapshots store this). */
struct maillimit__counter {
    int64_t latest;           /* newest minute the counter was brought to; -1: never */
    int nmin, nhour;
    uint32_t min_p[MAILLIMIT__HOUR_SLOTS]; /* live minutes of the hour window, ascending ... */
    uint64_t min_c[MAILLIMIT__HOUR_SLOTS]; /* ... and their units (>= 1) */
    uint32_t hour_p[MAILLIMIT__DAY_SLOTS]; /* live hours of the day window, ascending ... */
    uint64_t hour_c[MAILLIMIT__DAY_SLOTS]; /* ... and their units, those of their minutes
                                              included */
};
/* Read a counter summed over rings (the server's lanes, or one entity ring), at the newest
 * minute any of them has seen. */
MAILLIMIT__HIDDEN void maillimit__ring_export(struct maillimit__ring *const *rs, int nr,
                                              struct maillimit__counter *out);
/* Set r, a ring no other thread can see, to share k of nr of a validated counter (the
 * server's lanes split every count evenly; an entity ring is share 0 of 1). Returns 0, or
 * MAILLIMIT_ERANGE if the share exceeds what a ring can hold (r is then unchanged). */
MAILLIMIT__HIDDEN int maillimit__ring_import(struct maillimit__ring *r,
                                             const struct maillimit__counter *c, int k, int nr);
/* A new ring holding a validated counter: 0, MAILLIMIT_ERANGE (checked first; nothing is
 * allocated) or MAILLIMIT_ENOMEM. */
MAILLIMIT__HIDDEN int maillimit__ring_import_new(const struct maillimit__counter *c,
                                                 struct maillimit__ring **out);
/* Replace the contents of r, a ring deciders may be using, by those of src, a ring no other
 * thread can see (made by maillimit__ring_import()); see ring.c. */
MAILLIMIT__HIDDEN void maillimit__ring_replace(struct maillimit__ring *r,
                                               const struct maillimit__ring *src);

/* ---- checksums (crc32c.c) ----------------------------------------------------------------- */

/* CRC-32C (Castagnoli) of n bytes, as snapshot files carry it. */
MAILLIMIT__HIDDEN uint32_t maillimit__crc32c(const void *data, size_t n);

/* ---- entities and the name table (hierarchy.c, table.c) ------------------------------- */

/* Limit targets an entity may carry, indexed by target level - SUBSCRIPTION. The server's
 * own total is kept in maillimit.server_total. */
enum { MAILLIMIT__TARGETS = 3 };

/* Field order: what a decision reads first. The first 32 bytes (parent, ring, hint, flags,
 * level, limits_set) are all a decision's walk reads of an entity without limits of its own
 * (one line, unless the entity straddles two); the limits follow; report and configuration
 * fields come after, then the length and the name (compared once, in the name table, which
 * prefetches their line with the first). */
struct maillimit__entity {
    _Atomic(struct maillimit__entity *) parent; /* mailbox→domain→subscription→plan; sysuser→sub */
    _Atomic(struct maillimit__ring *) ring;     /* NULL until it first counts */
    struct maillimit__entity *hint;             /* grandparent when placed: a prefetch hint,
                                                   never trusted (moves do not update it) */
    _Atomic int8_t flag[2];                     /* as set: 0, 1 or MAILLIMIT_DEFAULT */
    _Atomic uint8_t dead;                       /* removed; kept until the handle is freed */
    _Atomic uint8_t implicit;                   /* mailbox created by its first decision */
    uint8_t level;
    _Atomic uint8_t limits_set;                 /* 1 once a limit of it was set to a value
                                                   other than DEFAULT (see maillimit__limit_store) */
    _Atomic uint8_t active;                     /* on the list of entities with traffic */
    uint8_t reserved_;
    _Atomic int64_t limit[MAILLIMIT__TARGETS][2]; /* as set; MAILLIMIT_DEFAULT = inherit */
    uint64_t hash;
    _Atomic(struct maillimit__live *) live;     /* denied/exempt per hour, episode; lazy */
    struct maillimit__entity *all_next;         /* live entities (ml->all), or a retired list */
    struct maillimit__entity *all_prev;         /* ml->all is doubly linked (writer only) */
    struct maillimit__hist *hist;               /* harvested history (report lock) */
    struct maillimit__entity *active_next;      /* list of entities with traffic */
    /* children index (configuration lock): first child, siblings; removals and moves walk
     * a subtree, not every entity */
    struct maillimit__entity *child, *sib_next, *sib_prev;
    uint16_t len;
    char name[];                                /* lower case, NUL-terminated */
};

/* Set a limit of entity e as set (target index t = target level - SUBSCRIPTION, window w).
 * limits_set is raised first: a decision that reads limits_set 0 skips e's limits, as it
 * would have read them before this store (every limit is an independent relaxed word). */
static inline void maillimit__limit_store(struct maillimit__entity *e, int t, int w,
                                          int64_t value)
{
    if (value != MAILLIMIT_DEFAULT)
        atomic_store_explicit(&e->limits_set, 1, memory_order_relaxed);
    atomic_store_explicit(&e->limit[t][w], value, memory_order_relaxed);
}

/* Open-addressing hash table of live entities keyed by (level, name). One writer at a time
 * (the configuration lock); readers are lock-free. A grown table replaces the old one with
 * one atomic store; old tables are kept until the handle is freed, so a reader never sees
 * freed memory. Removal writes a tombstone.
 *
 * A slot word is 0 (empty), the tombstone, or an entity's address. An address that fits in
 * 48 bits (every user-space address of x86-64 and AArch64 Linux) is stored tagged: bit 63 set
 * and 15 bits of the name's hash in bits 48..62, so a probe passes over the slots of other
 * names without loading their entities. Other addresses are stored as they are (bit 63 clear
 * in user space). */
struct maillimit__table {
    size_t mask;                       /* capacity - 1 (capacity a power of two) */
    size_t used;                       /* live + tombstones (writer only) */
    size_t live;                       /* writer only */
    struct maillimit__table *retired;  /* older tables (writer only) */
    size_t mapped;                     /* bytes mapped for slot (table.c), or 0: calloc */
    _Atomic uintptr_t *slot;           /* mask + 1 words */
};

#if UINTPTR_MAX == UINT64_MAX
#define MAILLIMIT__SLOT_TAGGED (UINT64_C(1) << 63)
#define MAILLIMIT__SLOT_ADDR ((UINT64_C(1) << 48) - 1)
/* The tag bits of a slot word for a name's hash. */
static inline uintptr_t maillimit__slot_tag(uint64_t hash)
{
    return (uintptr_t)(MAILLIMIT__SLOT_TAGGED | (hash >> 49) << 48);
}
static inline struct maillimit__entity *maillimit__slot_entity(uintptr_t v)
{
    return (struct maillimit__entity *)(v & MAILLIMIT__SLOT_TAGGED ? v & MAILLIMIT__SLOT_ADDR
                                                                  : v);
}
/* 0 if slot word v (an entity's) cannot hold a name with this tag. */
static inline int maillimit__slot_may_be(uintptr_t v, uintptr_t tag)
{
    return !(v & MAILLIMIT__SLOT_TAGGED) || (v & ~(uintptr_t)MAILLIMIT__SLOT_ADDR) == tag;
}
#else
static inline uintptr_t maillimit__slot_tag(uint64_t hash)
{
    (void)hash;
    return 0;
}
static inline struct maillimit__entity *maillimit__slot_entity(uintptr_t v)
{
    return (struct maillimit__entity *)v;
}
static inline int maillimit__slot_may_be(uintptr_t v, uintptr_t tag)
{
    (void)v;
    (void)tag;
    return 1;
}
#endif

MAILLIMIT__HIDDEN struct maillimit__entity *maillimit__table_find(struct maillimit *ml,
                                                                  int level, const char *name,
                                                                  size_t len, uint64_t hash);
/* Writer side (configuration lock held). */
MAILLIMIT__HIDDEN struct maillimit__table *maillimit__table_new(size_t capacity);
MAILLIMIT__HIDDEN int maillimit__table_insert(struct maillimit *ml, struct maillimit__entity *e);
MAILLIMIT__HIDDEN void maillimit__table_remove(struct maillimit *ml, struct maillimit__entity *e);
MAILLIMIT__HIDDEN void maillimit__table_free(struct maillimit__table *t);

/* ---- reports (report.c, events.c) -------------------------------------------------------- */

/* Per entity, allocated at its first denial or exempt unit: denied and exempt units per hour
 * (hour slots like the ring's: (hour + 1) << 32 | count) and the open episode. */
struct maillimit__live {
    _Atomic uint64_t denied[MAILLIMIT__DAY_SLOTS];
    _Atomic uint64_t exempt[MAILLIMIT__DAY_SLOTS];
    _Atomic uint64_t reset[MAILLIMIT__DAY_SLOTS];  /* sent units a reset took off the rings */
    /* The open episode, lock-free (report.c): ep_start is its identity and the word that
     * changes hands: 0 none, MAILLIMIT__EP_BUSY while a denial opens a new one. */
    _Atomic int64_t ep_start;
    _Atomic int64_t ep_free_at; /* when one unit fits again; INT64_MAX: not by itself */
    _Atomic int64_t ep_denied, ep_limit;
    _Atomic int32_t ep_window;
};
enum { MAILLIMIT__EP_BUSY = -1 };

struct maillimit__hrec {       /* one hour of history; counts saturate at UINT32_MAX */
    uint32_t hour, sent, denied, exempt;
};

struct maillimit__epi {        /* one closed episode */
    int64_t start, end, limit, denied;
    int32_t window, reserved_;
};

struct maillimit__hist {       /* guarded by the report lock */
    uint32_t harvested;        /* hours before this one are in rec[] (or had no traffic) */
    uint32_t n, cap;
    uint32_t nep, capep;
    struct maillimit__hrec *rec;
    struct maillimit__epi *ep;
};

enum { MAILLIMIT__EDGE_START = 1, MAILLIMIT__EDGE_END = 2 };
struct maillimit__edge {
    struct maillimit__entity *e;
    int64_t time, start, limit, denied;
    int32_t type, window;
};
/* Bounded multi-producer queue of episode edges (deciders produce, the report lock drains):
 * cells carry sequence numbers (a bounded MPMC ring after D. Vyukov). */
enum { MAILLIMIT__EDGES = 16384, MAILLIMIT__EVENTS = 4096 };
struct maillimit__edge_cell {
    _Atomic size_t seq;
    struct maillimit__edge edge;
};
struct maillimit__edges {
    _Atomic size_t tail;
    size_t head;                               /* report lock */
    struct maillimit__edge_cell cell[MAILLIMIT__EDGES];
};
struct maillimit__event_rec {
    struct maillimit__entity *e;
    int64_t time, limit, denied;
    uint64_t seq;
    int32_t type, window;
};

/* ---- safe reclamation (reclaim.c) -----------------------------------------------------------
 * Readers that find entities without the configuration lock (decisions, status, the limit
 * and flag getters, snapshot saves) run inside a read section: they count themselves in one
 * of two counters of a stripe (chosen by thread), the one of the current epoch's parity.
 * The reclaimer (maillimit_tick(), configuration lock held) takes what was removed since its
 * last run as a batch, advances the epoch and frees the batch once the counters of the old
 * parity are all zero: every reader that could have seen the batch has left. It never waits:
 * a batch that is not free yet is looked at again at the next tick. */
enum { MAILLIMIT__STRIPES = 16 };
struct maillimit__stripe {
    _Atomic uint64_t active[2];
    char pad_[64 - 2 * sizeof(uint64_t)];
};
struct maillimit__retired {
    struct maillimit__entity *entities;      /* chained by all_next */
    struct maillimit__table *tables;         /* chained by retired */
};

/* ---- the handle -------------------------------------------------------------------------- */

enum { MAILLIMIT__LANES = 16 };              /* server-total lanes while it is unlimited */
enum { MAILLIMIT__RESERVATIONS = 16384 };    /* remembered reservations (power of two) */

/* A reservation entry's state: 0 free; a token (bit 63 clear) while reserved; the token with
 * bit 63 set while its release gives the units back (the rings stay named until the state
 * goes to 0, so the reclaimer keeps them); ~0 while record() writes the fields. The reclaimer
 * reads ring[] of entries in the two token states; ring[] is atomic for that reason. */
#define MAILLIMIT__RES_FINISHING (UINT64_C(1) << 63)
#define MAILLIMIT__RES_BUSY UINT64_MAX

struct maillimit__reservation {
    _Atomic uint64_t state;
    int32_t n;                               /* counters counted */
    int64_t cost;
    _Atomic(struct maillimit__ring *) ring[4]; /* NULL past n */
    uint32_t minute[4];                      /* minute counted in, per counter */
};

struct maillimit {
    pthread_mutex_t lock;                    /* configuration lock (recursive) */
    _Atomic(struct maillimit__table *) table;
    struct maillimit__entity *all;           /* the live entities (writer only) */
    struct maillimit__entity *server;        /* limits for its targets; flag SENDMAIL */
    _Atomic int64_t server_total[2];         /* the server total limit per window */
    _Atomic int enabled;
    _Atomic int unit;
    struct maillimit__ring *lane[MAILLIMIT__LANES]; /* server counter; lane 0 exact */
    struct maillimit__live *lane_live[MAILLIMIT__LANES]; /* server's denied/exempt per lane */
    _Atomic(struct maillimit__reservation *) reservations;
    _Atomic uint64_t next_token;
    _Atomic uint64_t generation;             /* grows with every hierarchy change */
    /* Safe reclamation (reclaim.c): removed entities and replaced tables are freed once no
     * reader that could have seen them is still running. */
    _Atomic uint64_t epoch;
    _Atomic unsigned next_stripe;            /* handed out to threads in turn */
    void *spare;                             /* a block for the next entity made (config) */
    size_t spare_size;
    struct maillimit__retired retired;       /* waiting for the next batch (config lock) */
    struct maillimit__retired batch;         /* waiting for readers of batch_epoch */
    uint64_t batch_epoch;
    int64_t forget_scan_hour;                /* implicit mailboxes last looked at */
    struct maillimit__stripe stripe[MAILLIMIT__STRIPES];
    struct maillimit__entity *unattributed;  /* pseudo entity counting unknown senders */
    _Atomic(struct maillimit__entity *) active;   /* entities with traffic (push-only) */
    _Atomic(struct maillimit__edges *) edges;     /* lazy */
    _Atomic uint64_t edges_dropped;
    /* report lock and what it guards */
    pthread_mutex_t report_lock;
    int64_t retention;                       /* hours */
    uint32_t harvested;                      /* hours before this are harvested */
    struct maillimit__entity **open;         /* entities with an open episode */
    int64_t open_scan_at;                    /* `now` of the last look at them */
    size_t nopen, capopen;
    struct maillimit__event_rec *events;     /* ring of MAILLIMIT__EVENTS, lazy */
    size_t ev_head, ev_count;
    uint64_t ev_seq, ev_dropped;
};

/* The calling thread's stripe of ml: handed out in turn (the first 16 threads that decide on
 * a handle get a line each), remembered per thread for the handle it last used. */
static inline unsigned maillimit__stripe_of_thread(maillimit *ml)
{
    static _Thread_local maillimit *last;
    static _Thread_local unsigned stripe;
    if (last != ml) {
        last = ml;
        stripe = (unsigned)atomic_fetch_add_explicit(&ml->next_stripe, 1,
                                                     memory_order_relaxed) %
                 MAILLIMIT__STRIPES;
    }
    return stripe;
}

/* Enter a read section; returns what maillimit__read_leave() needs. */
static inline unsigned maillimit__read_enter(maillimit *ml)
{
    unsigned s = maillimit__stripe_of_thread(ml);
    for (;;) {
        /* seq_cst, with the increment and the reload: either the reclaimer's sum sees this
         * reader, or this reader sees the reclaimer's new epoch and counts itself there */
        uint64_t g = atomic_load(&ml->epoch);
        atomic_fetch_add(&ml->stripe[s].active[g & 1], 1);
        if (atomic_load(&ml->epoch) == g)
            return s << 1 | (unsigned)(g & 1);
        /* release: nothing was read under this count */
        atomic_fetch_sub_explicit(&ml->stripe[s].active[g & 1], 1, memory_order_release);
    }
}

static inline void maillimit__read_leave(maillimit *ml, unsigned token)
{
    /* release: every read of the section happens before the reclaimer sees the count drop
     * (pairs with the acquire loads of the reclaimer's sum) */
    atomic_fetch_sub_explicit(&ml->stripe[token >> 1].active[token & 1], 1,
                              memory_order_release);
}

/* Take a removed entity off ml->all into the retired list (configuration lock held). */
MAILLIMIT__HIDDEN void maillimit__retire(maillimit *ml, struct maillimit__entity *e);
/* Free what no reader can see any more, start a new batch, forget idle implicit mailboxes
 * (configuration lock held; takes the report lock). now: for the implicit mailboxes. */
MAILLIMIT__HIDDEN void maillimit__reclaim(maillimit *ml, int64_t now);
/* Free an entity and everything it owns (nobody can see it). */
MAILLIMIT__HIDDEN void maillimit__entity_free(struct maillimit__entity *e);
/* Report side of a reclaim (report lock held): unlink the entities of the list (all_next)
 * whose dead mark is 2 from the report structures; entities still referenced by queued
 * events get mark 1 (kept for the next batch). */
MAILLIMIT__HIDDEN void maillimit__report_forget(maillimit *ml);
/* 1 if e may be forgotten at now: an implicit mailbox with nothing in any window, no
 * history, no open episode (report lock held). */
MAILLIMIT__HIDDEN int maillimit__report_idle(maillimit *ml, struct maillimit__entity *e,
                                            int64_t now);

/* Initialise a new entity's fields (limits and flags DEFAULT, no parent, ring or reports). */
MAILLIMIT__HIDDEN void maillimit__entity_init(struct maillimit__entity *e, int level);

/* An entity's parent as deciders and readers see it. */
static inline struct maillimit__entity *maillimit__parent(const struct maillimit__entity *e)
{
    /* acquire: pairs with the release store of set_parent() in hierarchy.c (and with the
     * table's release store that publishes a new entity with its parent) */
    return atomic_load_explicit(&((struct maillimit__entity *)e)->parent, memory_order_acquire);
}

/* The hierarchy changed (configuration lock held): maillimit_generation() grows. */
static inline void maillimit__changed(maillimit *ml)
{
    /* relaxed: a reader that sees the new number lists under the configuration lock, which
     * orders it after the change */
    atomic_fetch_add_explicit(&ml->generation, 1, memory_order_relaxed);
}

/* Allocation ahead of a change that must not fail half-way (configuration lock held): the
 * next entity made takes `block` (of `size` bytes) if it fits; maillimit__spare_take() hands
 * back an unused one. maillimit__table_reserve() grows the name table for n more entities
 * now. */
MAILLIMIT__HIDDEN void maillimit__spare_set(maillimit *ml, void *block, size_t size);
MAILLIMIT__HIDDEN void *maillimit__spare_take(maillimit *ml);
MAILLIMIT__HIDDEN int maillimit__table_reserve(maillimit *ml, size_t n);
static inline size_t maillimit__entity_size(size_t name_len)
{
    return offsetof(struct maillimit__entity, name) + name_len + 1;
}

/* Put e on p's list of children (configuration lock held; p may be NULL: nothing). */
MAILLIMIT__HIDDEN void maillimit__entity_link(struct maillimit__entity *p,
                                              struct maillimit__entity *e);

/* Configuration lock (recursive: public configuration calls may run inside). */
MAILLIMIT__HIDDEN void maillimit__config_begin(maillimit *ml);
MAILLIMIT__HIDDEN void maillimit__config_end(maillimit *ml);

/* Find a live entity by level (MAILLIMIT_LEVEL_* or MAILLIMIT__LEVEL_SYSUSER) and raw name.
 * Returns NULL if the name is invalid or the entity does not exist. */
MAILLIMIT__HIDDEN struct maillimit__entity *maillimit__lookup(maillimit *ml, int level,
                                                              const char *name);
/* Create an implicit mailbox of domain d for a normalised address. */
MAILLIMIT__HIDDEN int maillimit__implicit_mailbox(maillimit *ml, const char *addr, size_t len,
                                                  uint64_t hash,
                                                  struct maillimit__entity **out);
/* Get or make the entity's ring. NULL on ENOMEM. */
MAILLIMIT__HIDDEN struct maillimit__ring *maillimit__entity_ring(maillimit *ml,
                                                                  struct maillimit__entity *e);
MAILLIMIT__HIDDEN struct maillimit__live *maillimit__live_new(void);
/* Get or make the entity's live report block. NULL on ENOMEM. */
MAILLIMIT__HIDDEN struct maillimit__live *maillimit__entity_live(maillimit *ml,
                                                                 struct maillimit__entity *e);
/* Put e on the list of entities with traffic (once). */
MAILLIMIT__HIDDEN void maillimit__activate(maillimit *ml, struct maillimit__entity *e);

/* The open episode as readers see it (stats.c; readers may wait a few instructions for an
 * opening, deciders never do). */
MAILLIMIT__HIDDEN void maillimit__episode_read(struct maillimit__live *lv, int64_t ep[4],
                                               int32_t *window);
/* Take the oldest queued episode edge (report lock held): 1, or 0 if none. */
MAILLIMIT__HIDDEN int maillimit__edge_pop(maillimit *ml, struct maillimit__edge *out);
/* Drain edges, notice ended episodes, harvest closed hours (takes the report lock). */
MAILLIMIT__HIDDEN void maillimit__report_maintain(maillimit *ml, int64_t now);

/* Report bookkeeping on the decision path (stats.c). */
enum { MAILLIMIT__STAT_DENIED, MAILLIMIT__STAT_EXEMPT, MAILLIMIT__STAT_RESET };
MAILLIMIT__HIDDEN void maillimit__count_hourly(struct maillimit__live *lv, int which,
                                               int64_t now, int64_t units);
MAILLIMIT__HIDDEN void maillimit__episode_deny(maillimit *ml, struct maillimit__entity *e,
                                               int window, int64_t limit, int64_t now,
                                               int64_t cost, int64_t free_at);
/* Per-hour units of the daily window of rings at now: units[k] is hour first + k. */
MAILLIMIT__HIDDEN void maillimit__ring_hours(struct maillimit__ring *const *rs, int nr,
                                             int64_t now, int64_t units[24], int64_t *first);
/* The rings a reader sums for an entity (the server's lanes, else its ring). */
MAILLIMIT__HIDDEN int maillimit__reader_rings(maillimit *ml, struct maillimit__entity *e,
                                              struct maillimit__ring **rs);
MAILLIMIT__HIDDEN void maillimit__report_free(maillimit *ml);
/* For snapshots (snapshot_write.c, snapshot_read.c), report lock held: move queued edges
 * into history; put e on the list of entities with an open episode. */
MAILLIMIT__HIDDEN void maillimit__report_drain(maillimit *ml);
MAILLIMIT__HIDDEN int maillimit__report_open_add(maillimit *ml, struct maillimit__entity *e);
/* Read a live block's open episode (start, free_at, denied, limit) under its spin flag. */
MAILLIMIT__HIDDEN void maillimit__live_episode(struct maillimit__live *lv, int64_t ep[4],
                                               int32_t *window);
/* Overwrite dst's hour slots and episode with src's (NULL: clear); src is private. */
MAILLIMIT__HIDDEN void maillimit__live_set(struct maillimit__live *dst,
                                           const struct maillimit__live *src);
/* Effective limit of entity e's own counter (level = e->level) in a window. */
MAILLIMIT__HIDDEN int64_t maillimit__effective_limit(const maillimit *ml,
                                                     const struct maillimit__entity *e,
                                                     int window);
/* Effective flag (0/1) walking up from e (NULL e: the server). */
MAILLIMIT__HIDDEN int maillimit__effective_flag(const maillimit *ml,
                                                const struct maillimit__entity *e, int flag);

static inline int maillimit__valid_window(int w)
{
    return w == MAILLIMIT_WINDOW_HOUR || w == MAILLIMIT_WINDOW_DAY;
}

/* Current time if now == 0, else now (callers have rejected now < 0). */
MAILLIMIT__HIDDEN int64_t maillimit__now(int64_t now);

/* Copy a message into a caller buffer (NULL/0 allowed). */
MAILLIMIT__HIDDEN void maillimit__errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* MAILLIMIT_INTERNAL_H */
