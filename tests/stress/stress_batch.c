/* SPDX-License-Identifier: MIT */
/* Stress: threads deciding in batches (maillimit_decide_many) on one handle, compared with a
 * serial run of the same requests through maillimit_decide() on a twin handle.
 *
 *  (a) No limits: 4 threads send batches of 1..40 requests from registered mailboxes, new
 *      addresses of known domains (the threads race to make the same implicit mailboxes),
 *      unknown senders, domains and subscriptions (by name and by system user), at times
 *      crossing a minute boundary. Every counter (hour and day) and the server summary must
 *      equal the serial run's: without limits the totals do not depend on the order.
 *  (b) A domain limit D over 64 mailboxes of that domain and a mailbox limit L: 4 threads
 *      batch over all of them at one time. Exactly D units are accepted, as in the serial
 *      run; every mailbox at most L; the domain's count is D and the mailboxes' sum is D.
 *  (c) A mailbox limit L on each of 32 mailboxes, no shared limit: every mailbox accepts
 *      exactly L, as in the serial run.
 *
 * STRESS_SCALE (default 1) multiplies the number of rounds. Exit status 0 on success; one
 * summary line on stdout; each failed check on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* barriers */

#define STRESS_NAME "stress_batch"
#include "stress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC, a multiple of 3600 */
#define THREADS 4
#define MAXN 40


static maillimit *load(const char *text)
{
    maillimit *ml = NULL;
    must(maillimit_new(&ml), "new");
    char err[256] = "";
    int rc = maillimit_config_load_mem(ml, text, strlen(text), err, sizeof err);
    if (rc)
        fail("config: %s", err);
    return ml;
}

/* ---- the senders ------------------------------------------------------------------------ */

struct sender {
    int level;
    char name[64];
};

enum { NREG = 24, NNEW = 24, NSENDERS = NREG + NNEW + 8 };
static struct sender senders[NSENDERS];

static void make_senders(void)
{
    int k = 0;
    for (int i = 0; i < NREG; i++, k++) {
        senders[k].level = MBX;
        snprintf(senders[k].name, sizeof senders[k].name, "m%d@d%d.example", i, i % 4);
    }
    for (int i = 0; i < NNEW; i++, k++) {
        senders[k].level = MBX;
        snprintf(senders[k].name, sizeof senders[k].name, "new%d@d%d.example", i, i % 4);
    }
    static const struct {
        int level;
        const char *name;
    } other[8] = {{MBX, "x@unknown.example"}, {DOM, "d0.example"}, {DOM, "d3.example"},
                  {DOM, "nowhere.example"},   {SUB, "s0"},         {SUB, "s1"},
                  {SUB, "web0"},              {SUB, "nobody"}};
    for (int i = 0; i < 8; i++, k++) {
        senders[k].level = other[i].level;
        snprintf(senders[k].name, sizeof senders[k].name, "%s", other[i].name);
    }
}

static const char hierarchy[] = "subscription s0\n"
                                "subscription s1\n"
                                "domain d0.example subscription=s0\n"
                                "domain d1.example subscription=s0\n"
                                "domain d2.example subscription=s1\n"
                                "domain d3.example subscription=s1\n"
                                "sysuser web0 subscription=s0\n";

static char *hierarchy_with_mailboxes(void)
{
    size_t cap = 8192;
    char *text = malloc(cap);
    int n = snprintf(text, cap, "%s", hierarchy);
    for (int i = 0; i < NREG; i++)
        n += snprintf(text + n, cap - (size_t)n, "mailbox %s\n", senders[i].name);
    return text;
}

/* A thread's requests: rounds of batches; the serial run replays them all. */
struct plan {
    int nbatches;
    int size[4096];
    int sender[4096][MAXN];
    int cost[4096][MAXN];
    int64_t now[4096];
};

struct worker {
    maillimit *ml;
    pthread_barrier_t *start;
    const struct plan *plan;
    int64_t accepted_units;
};

static void *worker_main(void *p)
{
    struct worker *w = p;
    const struct plan *pl = w->plan;
    pthread_barrier_wait(w->start);
    for (int b = 0; b < pl->nbatches; b++) {
        maillimit_request rq[MAXN];
        maillimit_verdict v[MAXN];
        int n = pl->size[b];
        for (int i = 0; i < n; i++) {
            maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
            rq[i].level = senders[pl->sender[b][i]].level;
            rq[i].sender = senders[pl->sender[b][i]].name;
            rq[i].cost = pl->cost[b][i];
        }
        maillimit_verdict_init(&v[0], MAILLIMIT_VERDICT_VERSION);
        size_t done = 0;
        int rc = maillimit_decide_many(w->ml, rq, (size_t)n, pl->now[b], v, &done);
        if (rc != 0 || done != (size_t)n) {
            fail("decide_many: %d, %zu of %d decided", rc, done, n);
            continue;
        }
        for (int i = 0; i < n; i++)
            if (v[i].decision == MAILLIMIT_ALLOW && v[i].reason != MAILLIMIT_REASON_EXEMPT)
                w->accepted_units += rq[i].cost;
    }
    return NULL;
}

/* Run the plans on ml with one thread each; return the accepted units. */
static int64_t run_threads(maillimit *ml, const struct plan *plans)
{
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (struct worker){ml, &start, &plans[t], 0};
        pthread_create(&th[t], NULL, worker_main, &w[t]);
    }
    int64_t units = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        units += w[t].accepted_units;
    }
    pthread_barrier_destroy(&start);
    return units;
}

/* The same requests, one maillimit_decide() each, thread after thread. */
static int64_t run_serial(maillimit *ml, const struct plan *plans)
{
    int64_t units = 0;
    for (int t = 0; t < THREADS; t++)
        for (int b = 0; b < plans[t].nbatches; b++)
            for (int i = 0; i < plans[t].size[b]; i++) {
                const struct sender *s = &senders[plans[t].sender[b][i]];
                maillimit_verdict v;
                maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
                must(maillimit_decide(ml, s->level, s->name, plans[t].cost[b][i],
                                      plans[t].now[b], &v),
                     "decide");
                if (v.decision == MAILLIMIT_ALLOW && v.reason != MAILLIMIT_REASON_EXEMPT)
                    units += plans[t].cost[b][i];
            }
    return units;
}

static void compare_counts(maillimit *a, maillimit *b, int64_t now, const char *part)
{
    char what[160];
    static const char *const subs[] = {"s0", "s1"};
    static const char *const doms[] = {"d0.example", "d1.example", "d2.example", "d3.example"};
    for (int w = HOUR; w <= DAY; w++) {
        snprintf(what, sizeof what, "%s: server window %d", part, w);
        CHECK_EQ(what, count_of(a, SRV, NULL, w, now), count_of(b, SRV, NULL, w, now));
        for (int i = 0; i < 2; i++) {
            snprintf(what, sizeof what, "%s: %s window %d", part, subs[i], w);
            CHECK_EQ(what, count_of(a, SUB, subs[i], w, now), count_of(b, SUB, subs[i], w, now));
        }
        for (int i = 0; i < 4; i++) {
            snprintf(what, sizeof what, "%s: %s window %d", part, doms[i], w);
            CHECK_EQ(what, count_of(a, DOM, doms[i], w, now), count_of(b, DOM, doms[i], w, now));
        }
        for (int i = 0; i < NREG + NNEW; i++) {
            snprintf(what, sizeof what, "%s: %s window %d", part, senders[i].name, w);
            CHECK_EQ(what, count_of(a, MBX, senders[i].name, w, now),
                     count_of(b, MBX, senders[i].name, w, now));
        }
    }
    maillimit_summary x, y;
    maillimit_summary_init(&x, MAILLIMIT_SUMMARY_VERSION);
    maillimit_summary_init(&y, MAILLIMIT_SUMMARY_VERSION);
    must(maillimit_summary_get(a, SRV, NULL, 0, now + 1, now, &x), "summary");
    must(maillimit_summary_get(b, SRV, NULL, 0, now + 1, now, &y), "summary");
    snprintf(what, sizeof what, "%s: summary sent", part);
    CHECK_EQ(what, x.sent, y.sent);
    snprintf(what, sizeof what, "%s: summary denied", part);
    CHECK_EQ(what, x.denied, y.denied);
    snprintf(what, sizeof what, "%s: summary unattributed", part);
    CHECK_EQ(what, x.unattributed, y.unattributed);
}

static struct plan plans[THREADS];

static void make_plans(uint64_t *rng, int nbatches, int first, int nsenders, int costs,
                       int64_t t_from, int64_t t_span)
{
    for (int t = 0; t < THREADS; t++) {
        struct plan *pl = &plans[t];
        pl->nbatches = nbatches;
        for (int b = 0; b < nbatches; b++) {
            pl->size[b] = 1 + (int)(xorshift(rng) % MAXN);
            pl->now[b] = t_from + (t_span ? (int64_t)b * t_span / nbatches : 0);
            for (int i = 0; i < pl->size[b]; i++) {
                pl->sender[b][i] = first + (int)(xorshift(rng) % (uint64_t)nsenders);
                pl->cost[b][i] = costs > 1 ? 1 + (int)(xorshift(rng) % (uint64_t)costs) : 1;
            }
        }
    }
}

int main(void)
{
    int scale = stress_scale();
    uint64_t rng = 0x2545f4914f6cdd1dull;
    make_senders();

    /* (a) */
    for (int round = 0; round < 3 * scale; round++) {
        char *text = hierarchy_with_mailboxes();
        maillimit *a = load(text), *b = load(text);
        free(text);
        make_plans(&rng, 60, 0, NSENDERS, 3, T0 + 30 + round * 600, 60);
        run_threads(a, plans);
        run_serial(b, plans);
        compare_counts(a, b, T0 + 30 + round * 600 + 61, "(a)");
        maillimit_free(a);
        maillimit_free(b);
    }

    /* (b) */
    for (int round = 0; round < 3 * scale; round++) {
        const int D = 500, L = 60; /* 12 mailboxes of d0: 12 * L > D */
        char *text = hierarchy_with_mailboxes();
        maillimit *a = load(text), *b = load(text);
        free(text);
        for (int k = 0; k < 2; k++) {
            maillimit *ml = k ? b : a;
            must(maillimit_limit_set(ml, DOM, "d0.example", DOM, HOUR, D), "limit");
            must(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, L), "limit");
        }
        /* the registered mailboxes of d0 (i % 4 == 0) and the new addresses of d0 */
        make_plans(&rng, 40, 0, NREG + NNEW, 1, T0 + 100, 0);
        for (int t = 0; t < THREADS; t++)
            for (int k = 0; k < plans[t].nbatches; k++)
                for (int i = 0; i < plans[t].size[k]; i++)
                    plans[t].sender[k][i] -= plans[t].sender[k][i] % 4;
        int64_t got = 0;
        for (int t = 0; t < THREADS; t++)
            for (int k = 0; k < plans[t].nbatches; k++)
                got += plans[t].size[k];
        int64_t ua = run_threads(a, plans), ub = run_serial(b, plans);
        int64_t want = got < D ? got : D;
        CHECK_EQ("(b) accepted units, batches", ua, want);
        CHECK_EQ("(b) accepted units, serial", ub, want);
        CHECK_EQ("(b) domain count", count_of(a, DOM, "d0.example", HOUR, T0 + 100), want);
        int64_t sum = 0;
        for (int i = 0; i < NREG + NNEW; i += 4) {
            int64_t c = count_of(a, MBX, senders[i].name, HOUR, T0 + 100);
            if (c > L)
                fail("(b) %s counted %lld > %d", senders[i].name, (long long)c, L);
            sum += c;
        }
        CHECK_EQ("(b) sum of the mailboxes", sum, want);
        maillimit_free(a);
        maillimit_free(b);
    }

    /* (c) */
    for (int round = 0; round < 3 * scale; round++) {
        const int L = 20;
        char *text = hierarchy_with_mailboxes();
        maillimit *a = load(text), *b = load(text);
        free(text);
        must(maillimit_limit_set(a, SRV, NULL, MBX, HOUR, L), "limit");
        must(maillimit_limit_set(b, SRV, NULL, MBX, HOUR, L), "limit");
        make_plans(&rng, 50, 0, NREG, 1, T0 + 200, 0);
        int64_t ua = run_threads(a, plans), ub = run_serial(b, plans);
        CHECK_EQ("(c) accepted units, batches against serial", ua, ub);
        for (int i = 0; i < NREG; i++) {
            char what[96];
            snprintf(what, sizeof what, "(c) %s", senders[i].name);
            CHECK_EQ(what, count_of(a, MBX, senders[i].name, HOUR, T0 + 200),
                     count_of(b, MBX, senders[i].name, HOUR, T0 + 200));
        }
        maillimit_free(a);
        maillimit_free(b);
    }

    printf("stress_batch: %d rounds of each part, %d failures\n", 3 * scale, failures);
    return failures ? 1 : 0;
}
