/* SPDX-License-Identifier: MIT */
/* bench_report: the cost of reports (history, episodes, events) on the SPEC §8 hierarchy.
 *
 * (a) Decisions/s on 1M mailboxes / 100k domains / 20k subscriptions, Zipf senders, one
 *     thread, in the same run: blocks without any maillimit_tick() alternating with blocks
 *     that call maillimit_tick() inline every simulated minute (the bookkeeping on the
 *     decision path cannot be switched off, so "without" means "without ticks"); then one
 *     decider thread with a second thread ticking every simulated minute.
 * (b) maillimit_top() top-10 over the 1M mailboxes after that traffic: time per call
 *     (by sent, by denied; also domains, and one subscription's mailboxes), and a summary.
 * (c) History memory (run first, on a fresh heap): 1M configured mailboxes of which 10k
 *     send (5 attempts per hour each against a limit of 4, so 1 denial and 1 episode per
 *     hour) for 24 simulated hours with a tick every simulated minute; heap (mallinfo2) and
 *     RSS growth after hour 1 and after hour 24.
 *
 *   bench_report            full size
 *   bench_report --quick    a small hierarchy (a smoke run for ctest)
 *   options: --mailboxes N --senders N --seconds S --zipf S --per-second N
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_NAME "bench_report"
#include "bench_common.h"

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
#define HAVE_MALLINFO2 1
#endif

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC */

/* Bytes the allocator has handed out and not got back. */
static double heap_bytes(void)
{
#ifdef HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.uordblks + (double)mi.hblkhd;
#else
    return (double)rss_bytes(); /* no allocator statistics: RSS instead */
#endif
}


/* ---- (a) decisions with and without ticks ---------------------------------------------- */

struct run {
    maillimit *ml;
    char **names;
    const uint32_t *seq;
    size_t nseq;
    size_t per_sec;           /* decisions per simulated second */
    int64_t t0;               /* simulated start */
    size_t pos;               /* position in seq */
    _Atomic int64_t clock;    /* simulated now, for a ticker thread */
    atomic_int stop;
    size_t ticks;
    double tick_secs;
};

/* ops decisions from r->t0; tick inline every simulated minute if `tick`. Returns seconds. */
static double decide_block(struct run *r, size_t ops, int tick)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    int64_t last_minute = r->t0 / 60;
    double t = now_s();
    for (size_t i = 0; i < ops; i++) {
        int64_t now = r->t0 + (int64_t)(i / r->per_sec);
        if (tick && now / 60 != last_minute) {
            double tt = now_s();
            check(maillimit_tick(r->ml, now), "tick");
            r->tick_secs += now_s() - tt;
            r->ticks++;
            last_minute = now / 60;
        }
        if ((i & 1023) == 0)
            atomic_store_explicit(&r->clock, now, memory_order_relaxed);
        const char *s = r->names[r->seq[r->pos++ % r->nseq]];
        maillimit_decide(r->ml, MAILLIMIT_LEVEL_MAILBOX, s, 1, now, &v);
    }
    double secs = now_s() - t;
    r->t0 += (int64_t)(ops / r->per_sec) + 1;
    return secs;
}

static void *ticker_main(void *p)
{
    struct run *r = p;
    int64_t last_minute = 0;
    while (!atomic_load(&r->stop)) {
        int64_t now = atomic_load_explicit(&r->clock, memory_order_relaxed);
        if (now / 60 != last_minute) {
            double tt = now_s();
            check(maillimit_tick(r->ml, now), "tick");
            r->tick_secs += now_s() - tt;
            r->ticks++;
            last_minute = now / 60;
        } else {
            struct timespec ts = {0, 100000}; /* 0.1 ms */
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

/* ---- (b) top ---------------------------------------------------------------------------- */

static double time_top(maillimit *ml, int level, int metric, int scope_level,
                       const char *scope, int64_t from, int64_t to, int64_t now, int reps,
                       maillimit_top_row *rows, size_t *n)
{
    double t = now_s();
    for (int i = 0; i < reps; i++) {
        *n = 10;
        check(maillimit_top(ml, level, metric, from, to, scope_level, scope, now, rows, n),
              "top");
    }
    return (now_s() - t) / reps;
}

int main(int argc, char **argv)
{
    size_t nmb = 1000000, nsenders = 10000, per_sec = 1024;
    double zipf_s = 0.99, seconds = 1.0;
    int quick = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = 1;
        else if (!strcmp(argv[i], "--mailboxes") && i + 1 < argc)
            nmb = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--senders") && i + 1 < argc)
            nsenders = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--per-second") && i + 1 < argc)
            per_sec = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--zipf") && i + 1 < argc)
            zipf_s = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_report [--quick] [--mailboxes N] [--senders N] "
                            "[--seconds S] [--zipf S] [--per-second N]\n");
            return 2;
        }
    }
    if (quick) {
        nmb = 20000;
        nsenders = 500;
        seconds = 0.05;
    }
    if (nmb < 10 || per_sec < 1 || nsenders < 1 || nsenders > nmb) {
        fprintf(stderr, "bench_report: bad sizes\n");
        return 2;
    }

    /* ---- (c) first, on a fresh heap ---- */
    char **names = make_names(nmb);
    uint32_t *perm = malloc(nmb * sizeof *perm);
    for (size_t i = 0; i < nmb; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = nmb - 1; i > 0; i--) {
        size_t k = rng() % (i + 1);
        uint32_t x = perm[i];
        perm[i] = perm[k];
        perm[k] = x;
    }
    double build_secs;
    {
        /* The senders: a random sample of nsenders mailboxes. */
        const uint32_t *who = perm;
        long rss0 = rss_bytes();
        double heap0 = heap_bytes();
        maillimit *ml = build_hierarchy(nmb, &build_secs);
        check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                                  MAILLIMIT_WINDOW_HOUR, 4), "limit");
        long rss1 = rss_bytes();
        double heap1 = heap_bytes();
        long rss_h1 = 0;
        double heap_h1 = 0;
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        size_t decisions = 0, denied = 0, drained = 0, open_episodes = 0;
        double tc = now_s(), tick_max = 0, drain_secs = 0;
        for (int m = 0; m < 24 * 60; m++) {
            int64_t minute = T0 + (int64_t)m * 60;
            /* sender i tries at the minutes m with m % 12 == i % 12: 5 per hour */
            for (size_t i = (size_t)(m % 12); i < nsenders; i += 12) {
                check(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, names[who[i]], 1,
                                       minute + (int64_t)(i % 60), &v),
                      "decide");
                decisions++;
                denied += v.decision == MAILLIMIT_DENY;
            }
            double tt = now_s();
            check(maillimit_tick(ml, minute + 59), "tick");
            tt = now_s() - tt;
            if (tt > tick_max)
                tick_max = tt;
            if (m == 59) {
                rss_h1 = rss_bytes();
                heap_h1 = heap_bytes();
            }
            if (m == 12 * 60 + 55) {
                /* Pull the waiting events once, as a daemon would (timed: every
                 * maillimit_events_next() call looks at the open episodes). */
                maillimit_episodes *eps = NULL;
                check(maillimit_episodes_open(ml, MAILLIMIT_LEVEL_SERVER, NULL, minute + 59,
                                              minute + 60, minute + 59, &eps),
                      "episodes_open");
                maillimit_episode ep;
                maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
                while (maillimit_episodes_next(eps, &ep) == 0)
                    open_episodes += ep.ongoing;
                maillimit_episodes_close(eps);
                maillimit_event ev;
                maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
                double td = now_s();
                while (maillimit_events_next(ml, minute + 59, &ev) == 0) {
                    drained++;
                    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
                }
                drain_secs = now_s() - td;
            }
        }
        tc = now_s() - tc;
        long rss24 = rss_bytes();
        double heap24 = heap_bytes();
        printf("(c) history memory: %zu configured mailboxes (built in %.2f s: %.1f MB heap, "
               "%.1f MB RSS), %zu senders, 24 simulated hours, %zu decisions (%zu denied), "
               "1440 ticks (slowest %.1f ms), %.2f s\n",
               nmb, build_secs, (heap1 - heap0) / 1e6, (double)(rss1 - rss0) / 1e6, nsenders,
               decisions, denied, 1e3 * tick_max, tc);
        printf("    heap growth: after hour 1 %.2f MB, after hour 24 %.2f MB, hours 2..24 %.2f MB "
               "(%.0f bytes per sending mailbox-hour, ancestors' rows included)\n",
               (heap_h1 - heap1) / 1e6, (heap24 - heap1) / 1e6, (heap24 - heap_h1) / 1e6,
               (heap24 - heap_h1) / (double)(nsenders * 23));
        printf("    RSS growth:  after hour 1 %.2f MB, after hour 24 %.2f MB\n",
               (double)(rss_h1 - rss1) / 1e6, (double)(rss24 - rss1) / 1e6);
        uint64_t dropped = 0;
        check(maillimit_events_dropped(ml, &dropped), "events_dropped");
        printf("    events: %zu pulled at 22:55 in %.1f ms (%.1f us per maillimit_events_next, "
               "%zu episodes open); %llu dropped over the day (pulled only once)\n",
               drained, 1e3 * drain_secs, drained ? 1e6 * drain_secs / (double)drained : 0.0,
               open_episodes, (unsigned long long)dropped);
        maillimit_free(ml);
    }

    /* ---- (a) ---- */
    maillimit *ml = build_hierarchy(nmb, &build_secs);
    printf("hierarchy: %zu mailboxes, %zu domains, %zu subscriptions (built in %.2f s)\n", nmb,
           nmb / 10, nmb / 50, build_secs);

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
    free(cdf);

    struct run r = {.ml = ml, .names = names, .seq = seq, .nseq = nseq, .per_sec = per_sec,
                    .t0 = T0};
    atomic_init(&r.clock, T0);
    atomic_init(&r.stop, 0);
    /* calibrate on a warm-up block (no ticks), then alternate */
    size_t ops = quick ? 20000 : 1000000;
    double w = decide_block(&r, ops, 0);
    ops = (size_t)((double)ops / w * seconds);
    if (ops < 1000)
        ops = 1000;
    const int64_t range_from = T0;
    double t_no = 0, t_yes = 0;
    for (int k = 0; k < 3; k++) {
        t_no += decide_block(&r, ops, 0);
        t_yes += decide_block(&r, ops, 1);
    }
    double rate_no = 3.0 * (double)ops / t_no, rate_yes = 3.0 * (double)ops / t_yes;
    size_t inline_ticks = r.ticks;
    double inline_tick_secs = r.tick_secs;
    printf("(a) decide zipf(%.2f), 1 thread, %zu decisions per simulated second:\n", zipf_s,
           per_sec);
    printf("    no ticks:                          %.2f M/s\n", rate_no / 1e6);
    printf("    tick inline every simulated minute: %.2f M/s (%.1f%%; %zu ticks, %.3f ms each)\n",
           rate_yes / 1e6, 100.0 * (rate_yes / rate_no - 1.0), inline_ticks,
           inline_ticks ? 1e3 * inline_tick_secs / (double)inline_ticks : 0.0);

    /* one decider, one ticker thread */
    r.ticks = 0;
    r.tick_secs = 0;
    atomic_store(&r.clock, r.t0);
    pthread_t tt;
    pthread_create(&tt, NULL, ticker_main, &r);
    double t_thr = decide_block(&r, 3 * ops, 0);
    atomic_store(&r.stop, 1);
    pthread_join(tt, NULL);
    double t_no2 = decide_block(&r, 3 * ops, 0);
    printf("    ticker thread every simulated minute: %.2f M/s vs %.2f M/s alone right after "
           "(%.1f%%; %zu ticks, %.3f ms each)\n",
           3.0 * (double)ops / t_thr / 1e6, 3.0 * (double)ops / t_no2 / 1e6,
           100.0 * (t_no2 / t_thr - 1.0), r.ticks,
           r.ticks ? 1e3 * r.tick_secs / (double)r.ticks : 0.0);
    const int64_t range_to = r.t0 + 3600;
    printf("    simulated span: %.1f hours\n", (double)(r.t0 - T0) / 3600.0);

    /* ---- (b) ---- */
    check(maillimit_tick(ml, r.t0), "tick");
    maillimit_top_row rows[10];
    maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
    size_t n = 0;
    int reps = quick ? 2 : 5;
    int64_t now = r.t0;
    double tt_sent = time_top(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_METRIC_SENT,
                              MAILLIMIT_LEVEL_SERVER, NULL, range_from, range_to, now, reps,
                              rows, &n);
    printf("(b) top-10 mailboxes by sent over %zu mailboxes: %.1f ms per call (%zu rows; #1 %s "
           "sent %lld denied %lld)\n",
           nmb, 1e3 * tt_sent, n, n ? rows[0].name : "-", n ? (long long)rows[0].sent : 0LL,
           n ? (long long)rows[0].denied : 0LL);
    double tt_denied = time_top(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_METRIC_DENIED,
                                MAILLIMIT_LEVEL_SERVER, NULL, range_from, range_to, now, reps,
                                rows, &n);
    printf("    top-10 mailboxes by denied: %.1f ms per call (#1 %s denied %lld)\n",
           1e3 * tt_denied, n ? rows[0].name : "-", n ? (long long)rows[0].denied : 0LL);
    double tt_dom = time_top(ml, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_METRIC_SENT,
                             MAILLIMIT_LEVEL_SERVER, NULL, range_from, range_to, now, reps,
                             rows, &n);
    printf("    top-10 domains by sent: %.1f ms per call\n", 1e3 * tt_dom);
    double tt_scoped = time_top(ml, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_METRIC_SENT,
                                MAILLIMIT_LEVEL_SUBSCRIPTION, "sub0", range_from, range_to, now,
                                reps * 20, rows, &n);
    printf("    top-10 mailboxes of one subscription: %.3f ms per call\n", 1e3 * tt_scoped);
    maillimit_summary sm;
    maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
    double ts = now_s();
    check(maillimit_summary_get(ml, MAILLIMIT_LEVEL_SERVER, NULL, range_from, range_to, now,
                                &sm),
          "summary");
    ts = now_s() - ts;
    printf("    summary (server): %.1f ms: sent %lld denied %lld limited entities %lld\n",
           1e3 * ts, (long long)sm.sent, (long long)sm.denied, (long long)sm.limited_entities);
    uint64_t dropped = 0;
    check(maillimit_events_dropped(ml, &dropped), "events_dropped");
    printf("    events dropped (nobody pulled them): %llu\n", (unsigned long long)dropped);
    maillimit_free(ml);
    free(seq);

    for (size_t m = 0; m < nmb; m++)
        free(names[m]);
    free(names);
    free(perm);
    return 0;
}
