/* SPDX-License-Identifier: MIT */
/* Stress: memory is given back while threads decide.
 *
 *  (a) 3 decider threads decide, reserve and release over 8 domains of 32 mailboxes (and
 *      implicit mailboxes) while a churn thread removes and re-adds domains and mailboxes
 *      and a ticker thread runs maillimit_tick() (which frees what was removed) in a loop,
 *      all at one `now`. Every unit allowed and not released is in the server's count at
 *      the end, exactly: removals never lose what was sent, and no decider ever touches
 *      freed memory (ASan and TSan builds run this).
 *  (b) The same deciders while the main thread loads snapshots in turn and ticks: no crash,
 *      no leak (ASan), and after a last load the counts are the snapshot's.
 *  (c) Reservations outlive their mailboxes: threads reserve on a domain's mailboxes, the
 *      domain is removed, and the threads release their tokens while the main thread ticks
 *      (frees) in a loop. A release gives units back to the removed mailbox's ring, so the
 *      ring must stay until the release is over (the TSan and ASan builds see it if not),
 *      and every release succeeds.
 *
 * STRESS_SCALE (default 1) multiplies the rounds. Exit status 0 on success.
 */
#define _POSIX_C_SOURCE 200809L

#define STRESS_NAME "stress_reclaim"
#include "stress.h"

#include <stdatomic.h>
#include <string.h>

#define T0 1767261600LL
#define THREADS 3
#define NDOM 8
#define NMB 32

static _Atomic int stop;
static _Atomic int64_t allowed, released;
static maillimit *ml;
static int scale;

static void build(maillimit *h)
{
    char n[64];
    if (maillimit_subscription_add(h, "s", NULL))
        fail("subscription_add");
    for (int d = 0; d < NDOM; d++) {
        snprintf(n, sizeof n, "d%d.example", d);
        if (maillimit_domain_add(h, n, "s"))
            fail("domain_add");
        for (int m = 0; m < NMB; m++) {
            snprintf(n, sizeof n, "m%d@d%d.example", m, d);
            if (maillimit_mailbox_add(h, n))
                fail("mailbox_add");
        }
    }
}

static void *decider(void *arg)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull * (uintptr_t)arg + 1;
    char n[64];
    while (!atomic_load(&stop)) {
        uint64_t r = xorshift(&seed);
        int d = (int)(r % NDOM), m = (int)(r >> 8) % (NMB + 8); /* some implicit */
        snprintf(n, sizeof n, "m%d@d%d.example", m, d);
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        int reserve = (r >> 20) % 8 == 0;
        int rc = reserve ? maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, n, 1, T0, &v)
                         : maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, n, 1, T0, &v);
        if (rc) {
            fail("decide %s: %d", n, rc);
            continue;
        }
        if (v.decision == MAILLIMIT_ALLOW)
            atomic_fetch_add(&allowed, 1);
        if (reserve && v.decision == MAILLIMIT_ALLOW && v.token && (r >> 24) % 2 == 0) {
            rc = maillimit_release(ml, v.token);
            if (rc == 0)
                atomic_fetch_add(&released, 1);
            else if (rc != MAILLIMIT_ENOTFOUND)
                fail("release: %d", rc);
        }
        maillimit_status st;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        rc = maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, n, MAILLIMIT_WINDOW_HOUR, T0, &st);
        if (rc && rc != MAILLIMIT_ENOTFOUND)
            fail("status_get: %d", rc);
    }
    return NULL;
}

static void *ticker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        if (maillimit_tick(ml, T0))
            fail("tick");
    return NULL;
}

static int64_t server_count(void)
{
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    if (maillimit_status_get(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_HOUR, T0, &st))
        fail("status server");
    return st.count;
}

static void phase_a(void)
{
    if (maillimit_new(&ml))
        fail("new");
    build(ml);
    pthread_t th[THREADS + 1];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, decider, (void *)(i + 1));
    pthread_create(&th[THREADS], NULL, ticker, NULL);
    uint64_t seed = 42;
    char n[64];
    int rounds = 2000 * scale, removed = 0;
    for (int i = 0; i < rounds; i++) {
        uint64_t r = xorshift(&seed);
        int d = (int)(r % NDOM);
        if (r & 256) {
            snprintf(n, sizeof n, "d%d.example", d);
            if (maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, n) == 0)
                removed++;
            if (maillimit_domain_add(ml, n, "s"))
                fail("domain_add");
            for (int m = 0; m < NMB; m++) {
                snprintf(n, sizeof n, "m%d@d%d.example", m, d);
                if (maillimit_mailbox_add(ml, n))
                    fail("mailbox_add %s", n);
            }
        } else {
            snprintf(n, sizeof n, "m%d@d%d.example", (int)(r >> 9) % NMB, d);
            if (maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, n) == 0)
                removed++;
            int rc = maillimit_mailbox_add(ml, n);
            if (rc && rc != MAILLIMIT_ENOTFOUND)
                fail("mailbox_add %s: %d", n, rc);
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&stop, 0);
    int64_t want = atomic_load(&allowed) - atomic_load(&released), got = server_count();
    if (got != want)
        fail("(a) server count %lld, allowed - released %lld", (long long)got,
             (long long)want);
    printf("stress_reclaim (a): %lld allowed, %lld released, %d removals with reclaiming "
           "ticks: server count %lld\n", (long long)atomic_load(&allowed),
           (long long)atomic_load(&released), removed, (long long)got);
    maillimit_free(ml);
}

static void phase_b(void)
{
    maillimit *a = NULL, *b = NULL;
    if (maillimit_new(&a) || maillimit_new(&b) || maillimit_new(&ml))
        fail("new");
    build(a);
    build(b);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    for (int i = 0; i < 10; i++)
        maillimit_decide(b, MAILLIMIT_LEVEL_MAILBOX, "m1@d1.example", 1, T0, &v);
    void *sa = NULL, *sb = NULL;
    size_t la = 0, lb = 0;
    if (maillimit_snapshot_save_mem(a, &sa, &la, NULL, 0) ||
        maillimit_snapshot_save_mem(b, &sb, &lb, NULL, 0))
        fail("save");
    maillimit_free(a);
    maillimit_free(b);
    build(ml);
    pthread_t th[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, decider, (void *)(i + 7));
    int rounds = 200 * scale;
    for (int i = 0; i < rounds; i++) {
        if (maillimit_snapshot_load_mem(ml, i % 2 ? sb : sa, i % 2 ? lb : la, NULL, 0))
            fail("load");
        if (maillimit_tick(ml, T0))
            fail("tick");
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    if (maillimit_snapshot_load_mem(ml, sb, lb, NULL, 0) || maillimit_tick(ml, T0))
        fail("last load");
    if (server_count() != 10)
        fail("(b) after the last load the server count is %lld, not 10",
             (long long)server_count());
    printf("stress_reclaim (b): %d snapshot loads with ticks while deciding\n", rounds);
    maillimit_buffer_free(sa);
    maillimit_buffer_free(sb);
    maillimit_free(ml);
}

#define HOLD 64 /* mailboxes per thread in (c) */

static pthread_barrier_t gate;

/* One round of (c), on both sides: added | reserved | removed | released. */
static void *releaser(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint64_t held[HOLD];
    char n[64];
    for (int i = 0, rounds = 100 * scale; i < rounds; i++) {
        pthread_barrier_wait(&gate);
        for (int m = 0; m < HOLD; m++) {
            snprintf(n, sizeof n, "t%dm%d@gone.example", (int)id, m);
            maillimit_verdict v;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            if (maillimit_reserve(ml, MAILLIMIT_LEVEL_MAILBOX, n, 1, T0, &v) ||
                v.decision != MAILLIMIT_ALLOW)
                fail("(c) reserve %s", n);
            held[m] = v.token;
        }
        pthread_barrier_wait(&gate);
        pthread_barrier_wait(&gate);
        for (int m = 0; m < HOLD; m++)
            if (maillimit_release(ml, held[m]))
                fail("(c) release of a removed mailbox's reservation");
        pthread_barrier_wait(&gate);
    }
    return NULL;
}

static void phase_c(void)
{
    char n[64];
    if (maillimit_new(&ml) || maillimit_subscription_add(ml, "s", NULL))
        fail("new");
    pthread_barrier_init(&gate, NULL, THREADS + 1);
    pthread_t th[THREADS];
    for (uintptr_t t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, releaser, (void *)t);
    int rounds = 100 * scale;
    for (int i = 0; i < rounds; i++) {
        if (maillimit_domain_add(ml, "gone.example", "s"))
            fail("domain_add");
        for (int t = 0; t < THREADS; t++)
            for (int m = 0; m < HOLD; m++) {
                snprintf(n, sizeof n, "t%dm%d@gone.example", t, m);
                if (maillimit_mailbox_add(ml, n))
                    fail("mailbox_add");
            }
        pthread_barrier_wait(&gate); /* added: the threads reserve */
        pthread_barrier_wait(&gate); /* reserved */
        /* the removed entities become a batch; the ticks below free what they can */
        if (maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "gone.example") ||
            maillimit_tick(ml, T0))
            fail("(c) remove");
        pthread_barrier_wait(&gate); /* removed: the threads release */
        for (int k = 0; k < 200; k++)
            if (maillimit_tick(ml, T0))
                fail("tick");
        pthread_barrier_wait(&gate); /* released */
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    if (server_count() != 0)
        fail("(c) every reservation was released, yet the server count is %lld",
             (long long)server_count());
    printf("stress_reclaim (c): %d rounds of %d releases on removed mailboxes while freeing\n",
           rounds, THREADS * HOLD);
    pthread_barrier_destroy(&gate);
    maillimit_free(ml);
}

int main(void)
{
    scale = stress_scale();
    phase_a();
    phase_b();
    phase_c();
    if (failures) {
        fprintf(stderr, "stress_reclaim: FAILED\n");
        return 1;
    }
    printf("stress_reclaim: ok\n");
    return 0;
}
