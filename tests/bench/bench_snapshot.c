/* SPDX-License-Identifier: MIT */
/* bench_snapshot: save and load of the SPEC §8 hierarchy with counters, and what a save (or
 * a load) costs a thread that keeps deciding meanwhile.
 *
 * Builds 20k subscriptions, 100k domains (5 per subscription) and 1M mailboxes (10 per
 * domain), then decides N times (default 4M) for random mailboxes at explicit times spread
 * over the 3 hours before T0, so that nearly every mailbox, domain and subscription holds
 * minute and hour slots. Then measures:
 *   - save to memory and to a file (with its fsyncs), load from memory and from the file into
 *     a fresh handle (best of 3), the snapshot's size; a reload must save the same bytes;
 *   - per-decision latency (clock_gettime around each call) on a thread deciding without
 *     pause: alone, during a save to memory, during a save to the file, and during a load
 *     into the same handle; max, p99 and p99.9 of the decisions made in each phase;
 *   - how long a configuration call waits while a save lists the entities.
 *
 *   bench_snapshot                       full size
 *   bench_snapshot --quick               a small hierarchy (a smoke run for ctest)
 *   options: --mailboxes N --decisions N --path FILE (default /tmp/bench_snapshot.snap)
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maillimit.h"

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) /* this thread's CPU time: less sensitive to a busy machine */
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void check(int rc, const char *what, const char *err)
{
    if (rc) {
        fprintf(stderr, "bench_snapshot: %s: %s%s%s\n", what, maillimit_strerror(rc),
                err ? ": " : "", err ? err : "");
        exit(1);
    }
}

/* ---- the decider ------------------------------------------------------------------------ */

struct decider {
    maillimit *ml;
    char **names;
    size_t n;
    _Atomic int phase;     /* 0 idle, 1 record, 2 stop */
    _Atomic int seen;      /* the phase the decider last acted on */
    _Atomic int running;
    int64_t *lat;          /* nanoseconds per recorded decision */
    size_t nlat, cap;
    int64_t now;
};

static void *decide_loop(void *arg)
{
    struct decider *d = arg;
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    uint64_t s = 0x2545f4914f6cdd1dull;
    size_t i = 0;
    atomic_store(&d->running, 1);
    for (;;) {
        int ph = atomic_load(&d->phase);
        atomic_store(&d->seen, ph);
        if (ph == 2)
            break;
        const char *name = d->names[rng(&s) % d->n];
        int64_t t = d->now + (int64_t)(i++ >> 16); /* one second per 65536 decisions */
        int64_t a = now_ns();
        maillimit_decide(d->ml, MAILLIMIT_LEVEL_MAILBOX, name, 1, t, &v);
        int64_t b = now_ns();
        if (ph == 1 && d->nlat < d->cap)
            d->lat[d->nlat++] = b - a;
    }
    return NULL;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, struct decider *d, double secs)
{
    if (!d->nlat) {
        printf("  %-28s no decisions recorded\n", what);
        return;
    }
    qsort(d->lat, d->nlat, sizeof *d->lat, cmp64);
    int64_t p99 = d->lat[d->nlat * 99 / 100], p999 = d->lat[d->nlat * 999 / 1000];
    printf("  %-28s %9zu decisions in %.3f s (%.2f M/s): p99 %6.2f us, p99.9 %7.2f us, "
           "max %8.2f us\n",
           what, d->nlat, secs, (double)d->nlat / secs / 1e6, p99 / 1e3, p999 / 1e3,
           d->lat[d->nlat - 1] / 1e3);
}

/* Record decisions while fn runs (or for `secs` seconds if fn is NULL). */
static void during(struct decider *d, const char *what, void (*fn)(void *), void *arg,
                   double secs)
{
    d->nlat = 0;
    atomic_store(&d->phase, 1);
    while (atomic_load(&d->seen) != 1)
        ;
    double t = now_s();
    if (fn)
        fn(arg);
    else
        while (now_s() - t < secs)
            sleep_us(1000);
    t = now_s() - t;
    atomic_store(&d->phase, 0);
    while (atomic_load(&d->seen) != 0) /* the decider is done with the samples */
        ;
    report(what, d, t);
}

/* ---- saves and loads -------------------------------------------------------------------- */

struct job {
    maillimit *ml;
    const char *path;
    void *buf;
    size_t len;
    double secs, cpu;
};

static void job_save_mem(void *arg)
{
    struct job *j = arg;
    char err[256];
    double t = now_s(), c = cpu_s();
    check(maillimit_snapshot_save_mem(j->ml, &j->buf, &j->len, err, sizeof err), "save_mem",
          err);
    j->secs = now_s() - t;
    j->cpu = cpu_s() - c;
}

static void job_save_file(void *arg)
{
    struct job *j = arg;
    char err[256];
    double t = now_s(), c = cpu_s();
    check(maillimit_snapshot_save(j->ml, j->path, err, sizeof err), "save", err);
    j->secs = now_s() - t;
    j->cpu = cpu_s() - c;
}

static void job_load_mem(void *arg)
{
    struct job *j = arg;
    char err[256];
    double t = now_s(), c = cpu_s();
    check(maillimit_snapshot_load_mem(j->ml, j->buf, j->len, err, sizeof err), "load_mem",
          err);
    j->secs = now_s() - t;
    j->cpu = cpu_s() - c;
}

static void job_load_file(void *arg)
{
    struct job *j = arg;
    char err[256];
    double t = now_s(), c = cpu_s();
    check(maillimit_snapshot_load(j->ml, j->path, err, sizeof err), "load", err);
    j->secs = now_s() - t;
    j->cpu = cpu_s() - c;
}

/* A configuration call in a loop during a save: its worst wait is the save's lock time. */
struct config_probe {
    maillimit *ml;
    _Atomic int stop;
    int64_t worst;
    long calls;
};

static void *config_loop(void *arg)
{
    struct config_probe *c = arg;
    while (!atomic_load(&c->stop)) {
        int64_t a = now_ns();
        maillimit_limit_set(c->ml, MAILLIMIT_LEVEL_PLAN, "standard", MAILLIMIT_LEVEL_MAILBOX,
                            MAILLIMIT_WINDOW_DAY, 5000 + c->calls % 7);
        int64_t b = now_ns();
        if (b - a > c->worst)
            c->worst = b - a;
        c->calls++;
        sleep_us(100);
    }
    return NULL;
}

static double best_cpu;

static double best_of(int n, void (*fn)(void *), struct job *j, maillimit *(*fresh)(void))
{
    double best = 1e9;
    best_cpu = 1e9;
    for (int i = 0; i < n; i++) {
        maillimit *ml = NULL;
        if (fresh) {
            ml = fresh();
            j->ml = ml;
        }
        fn(j);
        if (j->secs < best)
            best = j->secs;
        if (j->cpu < best_cpu)
            best_cpu = j->cpu;
        if (fresh)
            maillimit_free(ml);
        else if (fn == job_save_mem && i + 1 < n) {
            maillimit_buffer_free(j->buf);
            j->buf = NULL;
        }
    }
    return best;
}

static maillimit *new_handle(void)
{
    maillimit *ml;
    check(maillimit_new(&ml), "new", NULL);
    return ml;
}

int main(int argc, char **argv)
{
    size_t nmb = 1000000, ndecisions = 4000000;
    const char *path = "/tmp/bench_snapshot.snap";
    int quick = 0, keep = 0, only_file = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--only-file"))
            only_file = keep = 1;
        else if (!strcmp(argv[i], "--mailboxes") && i + 1 < argc)
            nmb = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--decisions") && i + 1 < argc)
            ndecisions = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--path") && i + 1 < argc)
            path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_snapshot [--quick] [--mailboxes N] [--decisions N] "
                            "[--path FILE] [--keep] [--only-file]\n");
            return 2;
        }
    }
    if (quick) {
        nmb = 20000;
        ndecisions = 80000;
    }
    size_t ndom = nmb / 10 ? nmb / 10 : 1, nsub = ndom / 5 ? ndom / 5 : 1;
    char buf[128];

    maillimit *ml;
    check(maillimit_new(&ml), "new", NULL);
    check(maillimit_plan_add(ml, "standard"), "plan", NULL);
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                              MAILLIMIT_WINDOW_HOUR, 200), "limit", NULL);
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard", MAILLIMIT_LEVEL_DOMAIN,
                              MAILLIMIT_WINDOW_HOUR, 1000), "limit", NULL);
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard",
                              MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_DAY, 20000),
          "limit", NULL);
    double t = now_s();
    for (size_t s = 0; s < nsub; s++) {
        snprintf(buf, sizeof buf, "sub%zu", s);
        check(maillimit_subscription_add(ml, buf, "standard"), "subscription_add", NULL);
    }
    for (size_t d = 0; d < ndom; d++) {
        char sub[32];
        snprintf(sub, sizeof sub, "sub%zu", d % nsub);
        snprintf(buf, sizeof buf, "d%zu.example", d);
        check(maillimit_domain_add(ml, buf, sub), "domain_add", NULL);
    }
    char **names = malloc(nmb * sizeof *names);
    for (size_t m = 0; m < nmb; m++) {
        snprintf(buf, sizeof buf, "user%zu@d%zu.example", m / ndom, m % ndom);
        check(maillimit_mailbox_add(ml, buf), "mailbox_add", NULL);
        names[m] = strdup(buf);
    }
    double build = now_s() - t;

    /* traffic: uniformly random mailboxes over the 3 hours before T0 */
    t = now_s();
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    size_t allowed = 0;
    for (size_t i = 0; i < ndecisions; i++) {
        int64_t when = T0 - 3 * 3600 + (int64_t)((double)i / (double)ndecisions * 3 * 3600);
        if (maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, names[rng(&rng_state) % nmb], 1,
                             when, &v) == 0 &&
            v.decision == MAILLIMIT_ALLOW)
            allowed++;
    }
    double traffic = now_s() - t;
    printf("hierarchy: %zu mailboxes, %zu domains, %zu subscriptions (built in %.2f s); "
           "%zu decisions over 3 h (%zu allowed) in %.2f s; RSS %.0f MB\n",
           nmb, ndom, nsub, build, ndecisions, allowed, traffic, rss_bytes() / 1e6);

    /* save and load, quiet */
    struct job j = {ml, path, NULL, 0, 0, 0};
    if (only_file) { /* just write the snapshot (for profiling the loader) */
        job_save_file(&j);
        printf("saved %s in %.3f s\n", path, j.secs);
        return 0;
    }
    double save_mem = best_of(3, job_save_mem, &j, NULL), save_mem_cpu = best_cpu;
    void *snap = j.buf;
    size_t snap_len = j.len;
    double save_file = best_of(3, job_save_file, &j, NULL), save_file_cpu = best_cpu;
    j.buf = snap;
    j.len = snap_len;
    double load_mem = best_of(3, job_load_mem, &j, new_handle), load_mem_cpu = best_cpu;
    double load_file = best_of(3, job_load_file, &j, new_handle), load_file_cpu = best_cpu;
    printf("snapshot: %.1f MB (%.1f bytes per mailbox)\n", snap_len / 1e6,
           (double)snap_len / (double)nmb);
    printf("  (best of 3; wall clock, and CPU time of the calling thread)\n"
           "  save to memory   %.3f s wall, %.3f s CPU\n"
           "  save to file     %.3f s wall, %.3f s CPU (%s, with fsync)\n"
           "  load from memory %.3f s wall, %.3f s CPU (into a fresh handle)\n"
           "  load from file   %.3f s wall, %.3f s CPU\n",
           save_mem, save_mem_cpu, save_file, save_file_cpu, path, load_mem, load_mem_cpu,
           load_file, load_file_cpu);

    /* the loaded state saves the same bytes */
    maillimit *copy = new_handle();
    j.ml = copy;
    job_load_mem(&j);
    struct job j2 = {copy, path, NULL, 0, 0, 0};
    job_save_mem(&j2);
    if (j2.len != snap_len || memcmp(j2.buf, snap, snap_len) != 0) {
        fprintf(stderr, "bench_snapshot: a reloaded state saves other bytes\n");
        return 1;
    }
    maillimit_buffer_free(j2.buf);
    maillimit_free(copy);

    /* a configuration call during a save waits for the listing of the entities */
    struct config_probe cp = {ml, 0, 0, 0};
    pthread_t cth;
    pthread_create(&cth, NULL, config_loop, &cp);
    sleep_us(20000);
    j = (struct job){ml, path, NULL, 0, 0, 0};
    cp.worst = 0;
    job_save_mem(&j);
    maillimit_buffer_free(j.buf);
    atomic_store(&cp.stop, 1);
    pthread_join(cth, NULL);
    printf("  a configuration call waits at most %.1f ms during a save (the entity listing)\n",
           cp.worst / 1e6);

    /* decision latency on a thread deciding without pause */
    struct decider d = {.ml = ml, .names = names, .n = nmb, .now = T0};
    d.cap = 40000000;
    d.lat = malloc(d.cap * sizeof *d.lat);
    pthread_t th;
    pthread_create(&th, NULL, decide_loop, &d);
    while (!atomic_load(&d.running))
        sleep_us(100);
    sleep_us(quick ? 20000 : 200000);
    printf("decision latency (1 thread deciding, %s):\n", "clock_gettime around each call");
    double idle = quick ? 0.2 : 1.0;
    during(&d, "alone", NULL, NULL, idle);
    j = (struct job){ml, path, NULL, 0, 0, 0};
    during(&d, "during a save to memory", job_save_mem, &j, 0);
    printf("    (that save: %.3f s wall, %.3f s CPU)\n", j.secs, j.cpu);
    maillimit_buffer_free(j.buf);
    during(&d, "during a save to a file", job_save_file, &j, 0);
    printf("    (that save: %.3f s wall, %.3f s CPU)\n", j.secs, j.cpu);
    during(&d, "alone", NULL, NULL, idle);
    j = (struct job){ml, path, snap, snap_len, 0, 0};
    during(&d, "during a load (same handle)", job_load_mem, &j, 0);
    printf("    (that load: %.3f s wall, %.3f s CPU)\n", j.secs, j.cpu);
    during(&d, "after the load", NULL, NULL, idle);
    atomic_store(&d.phase, 2);
    pthread_join(th, NULL);

    maillimit_buffer_free(snap);
    free(d.lat);
    for (size_t m = 0; m < nmb; m++)
        free(names[m]);
    free(names);
    maillimit_free(ml);
    if (!keep)
        unlink(path);
    return 0;
}
