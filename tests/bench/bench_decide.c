/* SPDX-License-Identifier: MIT */
/* bench_decide: decisions per second on the SPEC §8 hierarchy.
 *
 * Builds 20k subscriptions, 100k domains (5 per subscription) and 1M mailboxes (10 per
 * domain), measures the resident memory that costs, then runs Zipf-distributed mailbox
 * senders on one thread and on two threads, and a hot set of 1000 mailboxes. Time advances
 * one second every 65536 decisions so windows rotate as they would in service.
 *
 *   bench_decide            full size
 *   bench_decide --quick    a small hierarchy (a smoke run for ctest)
 *   options: --mailboxes N --seconds S --zipf S --threads N
 *   --cpu-time   rates from each thread's CPU time instead of the wall clock (a shared,
 *                loaded machine: other processes' time slices do not count; cache misses
 *                they cause still do). Two-thread rates then assume the threads ran at once.
 *   --batch N    also run the library through maillimit_decide_many(), N requests a call
 *                (at most 256), on the same name sequences, and print it beside the rest.
 *   --hot-calls N  only build, lift the limits and make N decisions on the hot set, then
 *                exit: for instruction counts (valgrind --tool=callgrind: the difference of
 *                two N, divided by their difference, is the cost of one decision).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_decide"
#include "bench_common.h"

static int cpu_time; /* --cpu-time */
static size_t batch;  /* --batch N: the library through maillimit_decide_many(), N at a time */

/* A thread's clock: the wall clock, or with --cpu-time the thread's CPU time. */
static double thread_s(void)
{
    if (!cpu_time)
        return now_s();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
    maillimit *ml;
    char **names;
    const uint32_t *seq;
    size_t nseq;
    size_t ops;
    int64_t t0;
    size_t allowed;
    double secs;
    size_t batch;   /* 0: maillimit_decide(); else maillimit_decide_many() this many at once */
};

enum { BATCH_MAX = 256 };

/* The same decisions as run(), through maillimit_decide_many(): requests i..i+n-1 in one
 * call, a batch ending where the time advances. */
static void run_batch(struct job *j)
{
    maillimit_request rq[BATCH_MAX];
    maillimit_verdict v[BATCH_MAX];
    for (size_t k = 0; k < BATCH_MAX; k++) {
        maillimit_request_init(&rq[k], MAILLIMIT_REQUEST_VERSION);
        maillimit_verdict_init(&v[k], MAILLIMIT_VERDICT_VERSION);
    }
    size_t allowed = 0;
    double t = thread_s();
    for (size_t i = 0; i < j->ops;) {
        size_t n = j->batch, edge = ((i >> 16) + 1) << 16;
        if (n > j->ops - i)
            n = j->ops - i;
        if (n > edge - i)
            n = edge - i;
        for (size_t k = 0; k < n; k++)
            rq[k].sender = j->names[j->seq[(i + k) % j->nseq]];
        int64_t now = j->t0 + (int64_t)(i >> 16);
        size_t done = 0;
        check(maillimit_decide_many(j->ml, rq, n, now, v, &done), "decide_many");
        for (size_t k = 0; k < n; k++)
            allowed += v[k].decision == MAILLIMIT_ALLOW;
        i += n;
    }
    j->secs = thread_s() - t;
    j->allowed = allowed;
}

static void *run(void *arg)
{
    struct job *j = arg;
    if (j->batch) {
        run_batch(j);
        return NULL;
    }
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    size_t allowed = 0;
    double t = thread_s();
    for (size_t i = 0; i < j->ops; i++) {
        const char *s = j->names[j->seq[i % j->nseq]];
        int64_t now = j->t0 + (int64_t)(i >> 16);
        if (maillimit_decide(j->ml, MAILLIMIT_LEVEL_MAILBOX, s, 1, now, &v) == 0 &&
            v.decision == MAILLIMIT_ALLOW)
            allowed++;
    }
    j->secs = thread_s() - t;
    j->allowed = allowed;
    return NULL;
}

static double last_allowed_share;

/* The floor (SPEC §8): only the work a decision cannot avoid, on the same name sequence:
 * hash the name, probe an open-addressing table of the names (comparing the name), and three
 * relaxed atomic adds on the mailbox's, its domain's and its subscription's counters. */
struct floor {
    size_t mask;
    uint64_t *slot;                 /* hash tag (high 32) | mailbox index + 1 (low 32) */
    uint32_t *dom, *sub;            /* of each mailbox */
    _Atomic uint64_t *cmb, *cdom, *csub;
    char **names;
};

static uint64_t floor_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static void floor_build(struct floor *f, char **names, size_t nmb, size_t ndom, size_t nsub)
{
    size_t cap = 1;
    while (cap < 2 * nmb)
        cap *= 2;
    f->mask = cap - 1;
    f->slot = calloc(cap, sizeof *f->slot);
    f->dom = malloc(nmb * sizeof *f->dom);
    f->sub = malloc(nmb * sizeof *f->sub);
    f->cmb = calloc(nmb, sizeof *f->cmb);
    f->cdom = calloc(ndom, sizeof *f->cdom);
    f->csub = calloc(nsub, sizeof *f->csub);
    f->names = names;
    for (size_t m = 0; m < nmb; m++) {
        f->dom[m] = (uint32_t)(m % ndom); /* as mailbox_name() places them */
        f->sub[m] = (uint32_t)(f->dom[m] % nsub);
        uint64_t h = floor_hash(names[m]);
        size_t i = h & f->mask;
        while (f->slot[i])
            i = (i + 1) & f->mask;
        f->slot[i] = (h >> 32) << 32 | (uint64_t)(m + 1);
    }
}

static void floor_free(struct floor *f)
{
    free(f->slot);
    free(f->dom);
    free(f->sub);
    free((void *)f->cmb);
    free((void *)f->cdom);
    free((void *)f->csub);
}

struct floor_job {
    struct floor *f;
    const uint32_t *seq;
    size_t nseq, ops, found;
    double secs;
};

static void *floor_run(void *arg)
{
    struct floor_job *j = arg;
    struct floor *f = j->f;
    size_t found = 0;
    double t = thread_s();
    for (size_t k = 0; k < j->ops; k++) {
        const char *s = f->names[j->seq[k % j->nseq]];
        uint64_t h = floor_hash(s);
        for (size_t i = h & f->mask;; i = (i + 1) & f->mask) {
            uint64_t v = f->slot[i];
            if (!v)
                break;
            uint32_t m = (uint32_t)v - 1;
            if (v >> 32 == h >> 32 && strcmp(f->names[m], s) == 0) {
                atomic_fetch_add_explicit(&f->cmb[m], 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&f->cdom[f->dom[m]], 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&f->csub[f->sub[m]], 1, memory_order_relaxed);
                found++;
                break;
            }
        }
    }
    j->found = found;
    j->secs = thread_s() - t;
    return NULL;
}

static double floor_rate(struct floor *f, const uint32_t *seq, size_t nseq, size_t ops,
                         int threads)
{
    pthread_t th[8];
    struct floor_job jobs[8];
    double t = now_s();
    for (int k = 0; k < threads; k++) {
        size_t part = nseq / (size_t)threads;
        jobs[k] = (struct floor_job){f, seq + part * (size_t)k, part, ops, 0, 0};
        pthread_create(&th[k], NULL, floor_run, &jobs[k]);
    }
    for (int k = 0; k < threads; k++)
        pthread_join(th[k], NULL);
    double wall = now_s() - t;
    for (int k = 0; k < threads; k++)
        if (jobs[k].found != ops)
            check(MAILLIMIT_ENOTFOUND, "floor lookup");
    if (cpu_time) { /* the slowest thread's CPU time stands for the wall clock */
        wall = 0;
        for (int k = 0; k < threads; k++)
            wall = jobs[k].secs > wall ? jobs[k].secs : wall;
    }
    return (double)ops * threads / wall;
}

static double rate_batch(maillimit *ml, char **names, const uint32_t *seq, size_t nseq,
                         size_t ops, int threads, int64_t t0, size_t nbatch);

static double rate(maillimit *ml, char **names, const uint32_t *seq, size_t nseq, size_t ops,
                   int threads, int64_t t0)
{
    return rate_batch(ml, names, seq, nseq, ops, threads, t0, 0);
}

/* Lift the limits build_hierarchy() set. */
static void lift_limits(maillimit *ml)
{
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                              MAILLIMIT_WINDOW_HOUR, MAILLIMIT_UNLIMITED), "limit");
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard", MAILLIMIT_LEVEL_DOMAIN,
                              MAILLIMIT_WINDOW_HOUR, MAILLIMIT_UNLIMITED), "limit");
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard",
                              MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_DAY,
                              MAILLIMIT_UNLIMITED), "limit");
}

/* --hot-calls: n allowed decisions over 1000 mailboxes spread over the hierarchy. */
static void hot_calls_only(maillimit *ml, char **names, size_t nmb, size_t n)
{
    size_t set = nmb < 1000 ? nmb : 1000, step = nmb / set;
    lift_limits(ml);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    size_t allowed = 0;
    int64_t t0 = 1767261600;
    for (size_t i = 0; i < n; i++) {
        const char *s = names[(i * 7919 % set) * step];
        if (maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, s, 1, t0 + (int64_t)(i >> 16), &v) ==
                0 &&
            v.decision == MAILLIMIT_ALLOW)
            allowed++;
    }
    printf("hot calls: %zu decisions, %zu allowed\n", n, allowed);
}

/* Run `threads` threads for `ops` decisions each over disjoint parts of seq. */
static double rate_batch(maillimit *ml, char **names, const uint32_t *seq, size_t nseq,
                         size_t ops, int threads, int64_t t0, size_t nbatch)
{
    pthread_t th[8];
    struct job jobs[8];
    double t = now_s();
    for (int k = 0; k < threads; k++) {
        size_t part = nseq / (size_t)threads;
        jobs[k] = (struct job){ml, names, seq + part * (size_t)k, part, ops, t0, 0, 0, nbatch};
        pthread_create(&th[k], NULL, run, &jobs[k]);
    }
    for (int k = 0; k < threads; k++)
        pthread_join(th[k], NULL);
    double wall = now_s() - t;
    size_t allowed = 0;
    for (int k = 0; k < threads; k++)
        allowed += jobs[k].allowed;
    last_allowed_share = (double)allowed / ((double)ops * threads);
    if (cpu_time) { /* the slowest thread's CPU time stands for the wall clock */
        wall = 0;
        for (int k = 0; k < threads; k++)
            wall = jobs[k].secs > wall ? jobs[k].secs : wall;
    }
    return (double)ops * threads / wall;
}

int main(int argc, char **argv)
{
    size_t nmb = 1000000;
    double zipf_s = 0.99, seconds = 2.0;
    int quick = 0;
    size_t hot_calls = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--cpu-time"))
            cpu_time = 1;
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--hot-calls") && i + 1 < argc)
            hot_calls = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--mailboxes") && i + 1 < argc)
            nmb = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--zipf") && i + 1 < argc)
            zipf_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_decide [--quick] [--mailboxes N] [--zipf S] "
                            "[--seconds S] [--cpu-time] [--hot-calls N] [--batch N]\n");
            return 2;
        }
    }
    if (batch > BATCH_MAX) {
        fprintf(stderr, "bench_decide: --batch is at most %d\n", BATCH_MAX);
        return 2;
    }
    if (quick) {
        nmb = 20000;
        seconds = 0.05;
    }
    size_t ndom = nmb / 10 ? nmb / 10 : 1, nsub = ndom / 5 ? ndom / 5 : 1;

    long rss0 = rss_bytes();
    double build;
    maillimit *ml = build_hierarchy(nmb, &build);
    long rss1 = rss_bytes();

    /* Names for the decision phase (not part of the library's memory). */
    char **names = make_names(nmb);
    if (hot_calls) {
        hot_calls_only(ml, names, nmb, hot_calls);
        for (size_t m = 0; m < nmb; m++)
            free(names[m]);
        free(names);
        maillimit_free(ml);
        return 0;
    }
    /* Zipf ranks mapped to a random permutation of the mailboxes. */
    uint32_t *perm = malloc(nmb * sizeof *perm);
    for (size_t i = 0; i < nmb; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = nmb - 1; i > 0; i--) {
        size_t k = rng() % (i + 1);
        uint32_t x = perm[i];
        perm[i] = perm[k];
        perm[k] = x;
    }
    double *cdf = malloc(nmb * sizeof *cdf);
    double acc = 0;
    for (size_t i = 0; i < nmb; i++)
        cdf[i] = (acc += 1.0 / pow((double)(i + 1), zipf_s));
    size_t nseq = quick ? 1u << 16 : 1u << 23;
    uint32_t *seq = malloc(nseq * sizeof *seq);
    for (size_t i = 0; i < nseq; i++) {
        double u = (double)(rng() >> 11) / 9007199254740992.0 * acc;
        size_t lo = 0, hi = nmb - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (cdf[mid] < u)
                lo = mid + 1;
            else
                hi = mid;
        }
        seq[i] = perm[lo];
    }
    uint32_t *hot = malloc(nseq * sizeof *hot);
    for (size_t i = 0; i < nseq; i++)
        hot[i] = perm[rng() % (nmb < 1000 ? nmb : 1000)];

    int64_t t0 = 1767261600; /* 2026-01-01 10:00:00 UTC */
    /* calibrate the op count to ~`seconds` on one thread */
    size_t ops = quick ? 20000 : 1000000;
    double r1w = rate(ml, names, seq, nseq, ops, 1, t0);
    ops = (size_t)(r1w * seconds);
    if (ops < 1000)
        ops = 1000;
    double r1 = rate(ml, names, seq, nseq, ops, 1, t0 + 3600);
    double share1 = last_allowed_share;
    double r2 = rate(ml, names, seq, nseq, ops, 2, t0 + 7200);
    double rh1 = rate(ml, names, hot, nseq, ops, 1, t0 + 10800);
    double rh2 = rate(ml, names, hot, nseq, ops, 2, t0 + 14400);
    /* the same hot set with every limit lifted: the allow path only */
    lift_limits(ml);
    double ra1 = rate(ml, names, hot, nseq, ops, 1, t0 + 18000);
    double ra2 = rate(ml, names, hot, nseq, ops, 2, t0 + 21600);
    double rz1 = rate(ml, names, seq, nseq, ops, 1, t0 + 25200);
    double rz2 = rate(ml, names, seq, nseq, ops, 2, t0 + 28800);
    /* --batch: the same runs through maillimit_decide_many(), two days later (every window
     * of the runs above has expired), with the limits set again */
    double b1 = 0, b2 = 0, bh1 = 0, ba1 = 0, bz1 = 0, bshare1 = 0;
    if (batch) {
        int64_t tb = t0 + 2 * 86400;
        set_hierarchy_limits(ml);
        b1 = rate_batch(ml, names, seq, nseq, ops, 1, tb + 3600, batch);
        bshare1 = last_allowed_share;
        b2 = rate_batch(ml, names, seq, nseq, ops, 2, tb + 7200, batch);
        bh1 = rate_batch(ml, names, hot, nseq, ops, 1, tb + 10800, batch);
        lift_limits(ml);
        ba1 = rate_batch(ml, names, hot, nseq, ops, 1, tb + 18000, batch);
        bz1 = rate_batch(ml, names, seq, nseq, ops, 1, tb + 25200, batch);
    }
    long rss2 = rss_bytes();
    struct floor fl;
    floor_build(&fl, names, nmb, ndom, nsub);
    double fz1 = floor_rate(&fl, seq, nseq, ops, 1);
    double fh1 = floor_rate(&fl, hot, nseq, ops, 1);
    double fz2 = floor_rate(&fl, seq, nseq, ops, 2);
    floor_free(&fl);

    printf("hierarchy: %zu mailboxes, %zu domains, %zu subscriptions (built in %.2f s)\n", nmb,
           ndom, nsub, build);
    printf("memory: %.1f MB after build (%.0f bytes per configured mailbox, all included)\n",
           (double)(rss1 - rss0) / 1e6, (double)(rss1 - rss0) / (double)nmb);
    printf("decide zipf(%.2f) 1 thread:  %.2f M/s (%.0f%% allowed)\n", zipf_s, r1 / 1e6,
           share1 * 100);
    printf("decide zipf(%.2f) 2 threads: %.2f M/s (%.2fx)\n", zipf_s, r2 / 1e6, r2 / r1);
    printf("decide hot set (1000, mostly denied) 1 thread:  %.2f M/s\n", rh1 / 1e6);
    printf("decide hot set (1000, mostly denied) 2 threads: %.2f M/s (%.2fx)\n", rh2 / 1e6,
           rh2 / rh1);
    printf("decide hot set (1000, no limits) 1 thread:  %.2f M/s\n", ra1 / 1e6);
    printf("decide hot set (1000, no limits) 2 threads: %.2f M/s (%.2fx)\n", ra2 / 1e6,
           ra2 / ra1);
    printf("decide zipf(%.2f), no limits, 1 thread:  %.2f M/s\n", zipf_s, rz1 / 1e6);
    printf("decide zipf(%.2f), no limits, 2 threads: %.2f M/s (%.2fx)\n", zipf_s, rz2 / 1e6,
           rz2 / rz1);
    printf("memory after traffic: %.1f MB library+bench data\n", (double)(rss2 - rss0) / 1e6);
    printf("floor (hash, probe, 3 relaxed adds) zipf 1 thread: %.2f M/s; 2 threads: %.2f M/s; "
           "hot set 1 thread: %.2f M/s\n", fz1 / 1e6, fz2 / 1e6, fh1 / 1e6);
    printf("library / floor: zipf with limits %.2f, zipf without limits %.2f, hot set without "
           "limits %.2f (target >= 0.5)\n", r1 / fz1, rz1 / fz1, ra1 / fh1);

    if (batch) {
        printf("batch %zu: decide_many zipf(%.2f) 1 thread:  %.2f M/s (%.0f%% allowed; "
               "%.2fx single calls)\n", batch, zipf_s, b1 / 1e6, bshare1 * 100, b1 / r1);
        printf("batch %zu: decide_many zipf(%.2f) 2 threads: %.2f M/s (%.2fx)\n", batch, zipf_s,
               b2 / 1e6, b2 / b1);
        printf("batch %zu: decide_many hot set (1000, mostly denied) 1 thread:  %.2f M/s "
               "(%.2fx)\n", batch, bh1 / 1e6, bh1 / rh1);
        printf("batch %zu: decide_many hot set (1000, no limits) 1 thread:  %.2f M/s (%.2fx)\n",
               batch, ba1 / 1e6, ba1 / ra1);
        printf("batch %zu: decide_many zipf(%.2f), no limits, 1 thread:  %.2f M/s (%.2fx)\n",
               batch, zipf_s, bz1 / 1e6, bz1 / rz1);
        printf("batch %zu: library / floor: zipf with limits %.2f, zipf without limits %.2f, "
               "hot set without limits %.2f (target >= 0.5)\n", batch, b1 / fz1, bz1 / fz1,
               ba1 / fh1);
    }

    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    int64_t tend = (batch ? t0 + 2 * 86400 : t0) + 28800 + (int64_t)(ops >> 16) + 1;
    check(maillimit_status_get(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_WINDOW_DAY, tend,
                               &st),
          "status");
    printf("server day count: %lld\n", (long long)st.count);

    for (size_t m = 0; m < nmb; m++)
        free(names[m]);
    free(names);
    free(perm);
    free(cdf);
    free(seq);
    free(hot);
    maillimit_free(ml);
    return 0;
}
