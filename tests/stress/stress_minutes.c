/* SPDX-License-Identifier: MIT */
/* Stress: threads at neighbouring minutes meeting on fresh counters.
 *
 * Two threads decide once for each of 4000 mailboxes that have never counted, one at minute
 * M, the other at minute M + 1, meeting at every mailbox (a spin barrier) so that they reach
 * its counter at the same instant: the thread at M may claim the counter's head and sweep its
 * minute slots while the thread at M + 1 has already moved the head on and counted in the
 * next minute's slot. No unit may be lost: each mailbox counts exactly 2 in its hour and day
 * windows, its domain 2 per mailbox, and the server all. Rounds vary where the minute
 * boundary lies within its hour (every 4th round: an hour boundary).
 *
 * STRESS_SCALE (default 1) multiplies the number of rounds. Exit status 0 on success; one
 * summary line on stdout; each failed check on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* barriers */

#define STRESS_NAME "stress_minutes"
#include "stress.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC, a multiple of 3600 */
#define THREADS 2
#define NMBX 4000

static char names[NMBX][32];
static _Atomic unsigned arrived; /* the spin barrier: threads that reached mailbox i, summed */

struct worker {
    maillimit *ml;
    pthread_barrier_t *start;
    int64_t now;
    int errors;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < NMBX; i++) {
        /* meet the other thread at mailbox i */
        atomic_fetch_add(&arrived, 1);
        for (unsigned spins = 0;
             atomic_load(&arrived) < (unsigned)THREADS * (unsigned)(i + 1); spins++)
            if (spins > 64)
                sched_yield(); /* the other thread may be off the CPU (loaded machine, TSan) */
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        if (maillimit_decide(w->ml, MAILLIMIT_LEVEL_MAILBOX, names[i], 1, w->now, &v) != 0 ||
            v.decision != MAILLIMIT_ALLOW)
            w->errors++;
    }
    return NULL;
}

static void check(const char *what, int round, int64_t got, int64_t want)
{
    if (got != want)
        fail("round %d: %s: %lld, expected %lld", round, what, (long long)got, (long long)want);
}

int main(void)
{
    int rounds = 20 * stress_scale();
    const char conf[] = "subscription s\ndomain d.example subscription=s\n";
    for (int i = 0; i < NMBX; i++)
        snprintf(names[i], sizeof names[i], "m%d@d.example", i);
    for (int round = 0; round < rounds; round++) {
        maillimit *ml = NULL;
        char err[256] = "";
        if (maillimit_new(&ml) ||
            maillimit_config_load_mem(ml, conf, sizeof conf - 1, err, sizeof err)) {
            fprintf(stderr, "stress_minutes: setup: %s\n", err);
            return 1;
        }
        /* the last second of a minute and the first of the next; every 4th round the
         * boundary is an hour's */
        int64_t m1 = T0 + 60 * (round % 4 == 3 ? 60 : 1 + 7 * (round % 8));
        atomic_store(&arrived, 0);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        pthread_t th[THREADS];
        struct worker w[THREADS];
        for (int t = 0; t < THREADS; t++) {
            w[t] = (struct worker){ml, &start, t % 2 ? m1 : m1 - 1, 0};
            pthread_create(&th[t], NULL, worker_main, &w[t]);
        }
        for (int t = 0; t < THREADS; t++) {
            pthread_join(th[t], NULL);
            check("decisions not allowed", round, w[t].errors, 0);
        }
        pthread_barrier_destroy(&start);
        int64_t at = m1 + 1;
        for (int i = 0; i < NMBX; i++)
            for (int win = 0; win < 2; win++)
                check(names[i], round, count_of(ml, MBX, names[i], win, at),
                      THREADS);
        for (int win = 0; win < 2; win++) {
            check("d.example", round, count_of(ml, DOM, "d.example", win, at),
                  (int64_t)THREADS * NMBX);
            check("server", round, count_of(ml, SRV, NULL, win, at),
                  (int64_t)THREADS * NMBX);
        }
        maillimit_free(ml);
    }
    printf("stress_minutes: %d rounds of %d threads over %d fresh counters, %d failures\n",
           rounds, THREADS, NMBX, failures);
    return failures != 0;
}
