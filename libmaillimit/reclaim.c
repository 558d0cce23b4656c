/* SPDX-License-Identifier: MIT */
/* Safe reclamation: removed entities, replaced name tables and the state a snapshot load
 * replaced are freed once no reader can hold them (see the section comment in internal.h).
 *
 * Why not liburcu: a library called from arbitrary MTA threads would need urcu-bp (no
 * registration) and a dependency for what is, here, two counters per stripe and a batch; the
 * reclaimer also has to look beyond readers (queued events and reservations name entities
 * and rings), which no RCU flavour would do for us. The scheme is the classic counter-based
 * epoch (as Linux's SRCU): a reader increments the counter of the current epoch's parity in
 * its stripe and re-reads the epoch, so that it either is seen by the reclaimer or sees the
 * new epoch; the reclaimer frees a batch when the old parity's counters have all come back
 * to zero. Readers never wait; the reclaimer never waits either (maillimit_tick() looks
 * again a minute later).
 *
 * A batch also waits for what is outside the readers' view (report lock):
 *   - the active list and the open-episode list are unlinked from (report.c);
 *   - an entity named by an event still queued, or whose ring an outstanding reservation
 *     holds, stays for a later batch.
 */
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "internal.h"

void maillimit__entity_free(struct maillimit__entity *e)
{
    free(atomic_load_explicit(&e->ring, memory_order_relaxed));
    free(atomic_load_explicit(&e->live, memory_order_relaxed));
    if (e->hist) {
        free(e->hist->rec);
        free(e->hist->ep);
        free(e->hist);
    }
    free(e);
}

static int batch_drained(maillimit *ml)
{
    unsigned idx = (unsigned)(ml->batch_epoch & 1);
    for (int s = 0; s < MAILLIMIT__STRIPES; s++)
        /* acquire: pairs with the release decrement of read_leave(): the readers' accesses
         * to the batch happened before */
        if (atomic_load_explicit(&ml->stripe[s].active[idx], memory_order_acquire))
            return 0;
    return 1;
}

static int ptr_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

/* Rings held by outstanding reservations, sorted; NULL if there are none (or no memory:
 * then *all is set and every entity with a ring waits). */
static void **reserved_rings(maillimit *ml, size_t *n, int *all)
{
    *n = 0;
    *all = 0;
    struct maillimit__reservation *t =
        atomic_load_explicit(&ml->reservations, memory_order_acquire);
    if (!t)
        return NULL;
    void **v = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < MAILLIMIT__RESERVATIONS; i++) {
        /* Entries are read while threads in a later epoch reserve and release: a thread
         * releasing a reservation made before an entity's removal still reaches its ring
         * through the entry, so its rings stay while the entry names them. The rings are
         * read between two reads of the state, as a seqlock reader does: the first load
         * acquires (pairs with record()'s release store: the rings are visible), the second
         * is a read-modify-write that adds 0 (acq_rel): it is ordered after the ring loads
         * and, if a ring came from a newer record(), after that record()'s claim, so it sees
         * a changed state (Boehm, "Can seqlocks get along with programming language memory
         * models?", 2012). */
        struct maillimit__ring *ring[4];
        uint64_t st = atomic_load_explicit(&t[i].state, memory_order_acquire), again;
        for (;;) {
            /* free, or being written by a thread that only names live entities (this
             * batch's readers have drained) */
            if (st == 0 || st == MAILLIMIT__RES_BUSY)
                break;
            for (int k = 0; k < 4; k++)
                ring[k] = atomic_load_explicit(&t[i].ring[k], memory_order_relaxed);
            again = atomic_fetch_add_explicit(&t[i].state, 0, memory_order_acq_rel);
            /* the same token, reserved or finishing: these are its rings */
            if ((again | MAILLIMIT__RES_FINISHING) == (st | MAILLIMIT__RES_FINISHING))
                break;
            /* else the token finished (its release store of 0, read through this acquire,
             * ordered its last use of the rings before us) or was forgotten; look again */
            st = again;
        }
        if (st == 0 || st == MAILLIMIT__RES_BUSY)
            continue;
        for (int k = 0; k < 4 && ring[k]; k++) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 256;
                void **nv = realloc(v, cap * sizeof *v);
                if (!nv) {
                    free(v);
                    *n = 0;
                    *all = 1;
                    return NULL;
                }
                v = nv;
            }
            v[(*n)++] = ring[k];
        }
    }
    if (*n > 1)
        qsort(v, *n, sizeof *v, ptr_cmp);
    return v;
}

/* Free the batch: what readers may still see was unlinked; what events or reservations
 * still name goes back to the retired list. */
static void batch_free(maillimit *ml)
{
    struct maillimit__entity *list = ml->batch.entities;
    for (struct maillimit__entity *e = list; e; e = e->all_next)
        atomic_store_explicit(&e->dead, 2, memory_order_relaxed);
    size_t nres;
    int all_res;
    void **res = reserved_rings(ml, &nres, &all_res);
    for (struct maillimit__entity *e = list; e; e = e->all_next) {
        void *r = atomic_load_explicit(&e->ring, memory_order_relaxed);
        if (r && (all_res || (nres && bsearch(&r, res, nres, sizeof *res, ptr_cmp))))
            atomic_store_explicit(&e->dead, 1, memory_order_relaxed);
    }
    free(res);
    pthread_mutex_lock(&ml->report_lock);
    maillimit__report_forget(ml);
    pthread_mutex_unlock(&ml->report_lock);
    size_t freed = 0;
    for (struct maillimit__entity *e = list, *n; e; e = n) {
        n = e->all_next;
        if (atomic_load_explicit(&e->dead, memory_order_relaxed) == 2) {
            maillimit__entity_free(e);
            freed++;
        } else {
            e->all_next = ml->retired.entities; /* a later batch */
            ml->retired.entities = e;
        }
    }
    for (struct maillimit__table *t = ml->batch.tables, *n; t; t = n) {
        n = t->retired;
        t->retired = NULL;
        maillimit__table_free(t);
    }
    ml->batch.entities = NULL;
    ml->batch.tables = NULL;
#ifdef __GLIBC__
    /* glibc keeps freed small blocks in its arenas; after a big batch (a customer removed,
     * a snapshot load, a day of forgotten senders) give the whole free pages back */
    if (freed >= 4096)
        malloc_trim(0);
#endif
}

/* Implicit mailboxes idle past their windows and history: removed like any entity. Looked
 * at once per hour of `now`. */
static void forget_idle(maillimit *ml, int64_t now)
{
    int64_t hour = now / 3600;
    if (hour == ml->forget_scan_hour)
        return;
    ml->forget_scan_hour = hour;
    pthread_mutex_lock(&ml->report_lock);
    struct maillimit__entity *v[256];
    int n = 0, more = 1;
    while (more) {
        n = 0;
        more = 0;
        for (struct maillimit__entity *e = ml->all; e; e = e->all_next) {
            if (e->level != MAILLIMIT_LEVEL_MAILBOX ||
                !atomic_load_explicit(&e->implicit, memory_order_relaxed) ||
                !maillimit__report_idle(ml, e, now))
                continue;
            if (n == 256) {
                more = 1;
                break;
            }
            v[n++] = e;
        }
        for (int i = 0; i < n; i++) {
            /* as maillimit_remove() of a mailbox: off the table and the children index */
            maillimit__table_remove(ml, v[i]);
            atomic_store_explicit(&v[i]->dead, 1, memory_order_relaxed);
            struct maillimit__entity *p = maillimit__parent(v[i]);
            if (p) {
                if (v[i]->sib_prev)
                    v[i]->sib_prev->sib_next = v[i]->sib_next;
                else if (p->child == v[i])
                    p->child = v[i]->sib_next;
                if (v[i]->sib_next)
                    v[i]->sib_next->sib_prev = v[i]->sib_prev;
            }
            maillimit__retire(ml, v[i]);
        }
    }
    pthread_mutex_unlock(&ml->report_lock);
}

void maillimit__reclaim(maillimit *ml, int64_t now)
{
    if (now > 0)
        forget_idle(ml, now);
    for (int round = 0; round < 2; round++) {
        if ((ml->batch.entities || ml->batch.tables)) {
            if (!batch_drained(ml))
                return;
            batch_free(ml);
        }
        struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_relaxed);
        if (!ml->retired.entities && !t->retired)
            return;
        ml->batch = ml->retired;
        ml->batch.tables = t->retired;
        t->retired = NULL;
        ml->retired.entities = NULL;
        ml->retired.tables = NULL;
        /* seq_cst: the batch is unreachable for readers that see the new epoch */
        ml->batch_epoch = atomic_fetch_add(&ml->epoch, 1);
        /* a quiet handle frees at once; else at the next tick */
    }
}

/* ---- the public call ------------------------------------------------------------------ */

int maillimit_tick(maillimit *ml, int64_t now)
{
    if (!ml || now < 0)
        return MAILLIMIT_EINVAL;
    now = maillimit__now(now);
    maillimit__report_maintain(ml, now);
    /* then the memory of removed entities and of idle implicit mailboxes (their closed hours
     * are in history now); the configuration lock before the report lock, as every path
     * takes them */
    maillimit__config_begin(ml);
    maillimit__reclaim(ml, now);
    maillimit__config_end(ml);
    return 0;
}
