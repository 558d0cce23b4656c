/* SPDX-License-Identifier: MIT */
/* The handle's life: maillimit_new() makes an empty hierarchy with the server's defaults,
 * its lanes and its name table; maillimit_free() frees everything, whatever the other
 * modules hold (entities live and retired, rings, report blocks and history, tables). */
#define _GNU_SOURCE /* PTHREAD_MUTEX_RECURSIVE */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int maillimit_new(maillimit **out)
{
    if (!out)
        return MAILLIMIT_EINVAL;
    *out = NULL;
    /* cache-line aligned: each stripe of reader counters has a line of its own */
    size_t size = (sizeof(maillimit) + 63) / 64 * 64;
    maillimit *ml = aligned_alloc(64, size);
    if (!ml)
        return MAILLIMIT_ENOMEM;
    memset(ml, 0, size);
    atomic_init(&ml->epoch, 0);
    atomic_init(&ml->next_stripe, 0);
    for (int i = 0; i < MAILLIMIT__STRIPES; i++) {
        atomic_init(&ml->stripe[i].active[0], 0);
        atomic_init(&ml->stripe[i].active[1], 0);
    }
    ml->forget_scan_hour = -1;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int bad = pthread_mutex_init(&ml->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (bad) {
        free(ml);
        return MAILLIMIT_ENOMEM;
    }
    ml->server = calloc(1, sizeof *ml->server + 1);
    ml->unattributed = calloc(1, sizeof *ml->unattributed + 1);
    if (!ml->server || !ml->unattributed || pthread_mutex_init(&ml->report_lock, NULL)) {
        pthread_mutex_destroy(&ml->lock);
        free(ml->server);
        free(ml->unattributed);
        free(ml);
        return MAILLIMIT_ENOMEM;
    }
    maillimit__entity_init(ml->server, MAILLIMIT_LEVEL_SERVER);
    maillimit__entity_init(ml->unattributed, MAILLIMIT_LEVEL_SERVER);
    atomic_init(&ml->active, NULL);
    atomic_init(&ml->edges, NULL);
    atomic_init(&ml->edges_dropped, 0);
    ml->retention = 744;
    for (int t = 0; t < MAILLIMIT__TARGETS; t++)
        for (int w = 0; w < 2; w++)
            atomic_init(&ml->server->limit[t][w], MAILLIMIT_UNLIMITED);
    atomic_init(&ml->server->flag[MAILLIMIT_FLAG_SENDMAIL], 1);
    atomic_init(&ml->server->flag[MAILLIMIT_FLAG_EXEMPT], 0);
    atomic_init(&ml->server_total[0], MAILLIMIT_UNLIMITED);
    atomic_init(&ml->server_total[1], MAILLIMIT_UNLIMITED);
    atomic_init(&ml->enabled, 1);
    atomic_init(&ml->unit, MAILLIMIT_UNIT_MESSAGES);
    atomic_init(&ml->reservations, NULL);
    atomic_init(&ml->next_token, 1);
    atomic_init(&ml->generation, 1);
    struct maillimit__table *t = maillimit__table_new(1024);
    atomic_init(&ml->table, t);
    int ok = t != NULL;
    for (int i = 0; ok && i < MAILLIMIT__LANES; i++)
        ok = (ml->lane[i] = maillimit__ring_new()) != NULL &&
             (ml->lane_live[i] = maillimit__live_new()) != NULL;
    if (ok) {
        maillimit__activate(ml, ml->server);
        ok = maillimit__entity_ring(ml, ml->unattributed) != NULL;
    }
    if (!ok) {
        maillimit_free(ml);
        return MAILLIMIT_ENOMEM;
    }
    *out = ml;
    return 0;
}

void maillimit_free(maillimit *ml)
{
    if (!ml)
        return;
    maillimit__report_free(ml);
    for (struct maillimit__entity *e = ml->all, *n; e; e = n) {
        n = e->all_next;
        free(atomic_load_explicit(&e->ring, memory_order_relaxed));
        free(e);
    }
    struct maillimit__entity *lists[2] = {ml->retired.entities, ml->batch.entities};
    for (int k = 0; k < 2; k++)
        for (struct maillimit__entity *e = lists[k], *n; e; e = n) {
            n = e->all_next;
            maillimit__entity_free(e);
        }
    maillimit__table_free(ml->batch.tables);
    free(ml->spare);
    maillimit__table_free(atomic_load_explicit(&ml->table, memory_order_relaxed));
    for (int i = 0; i < MAILLIMIT__LANES; i++) {
        free(ml->lane[i]);
        free(ml->lane_live[i]);
    }
    free(atomic_load_explicit(&ml->reservations, memory_order_relaxed));
    pthread_mutex_destroy(&ml->lock);
    pthread_mutex_destroy(&ml->report_lock);
    free(atomic_load_explicit(&ml->unattributed->ring, memory_order_relaxed));
    free(ml->server);
    free(ml->unattributed);
    free(ml);
}
