/* SPDX-License-Identifier: MIT */
/* Stress: reports read while threads decide.
 *
 * (a) 3 decider threads send from 32 mailboxes, 4 domains (script mail), 2 subscriptions
 *     and an unknown sender, with limits at mailbox, domain and subscription level, exempt
 *     mailboxes, and some reserve + commit / release, while simulated time runs through
 *     HOURS clock hours minute by minute (the deciders meet at a barrier at each minute's
 *     end, so no decision is made in an hour after a reader has seen a later hour). A
 *     reader thread meanwhile calls maillimit_tick, history, top, summary and episodes
 *     readers and drains events, in a loop, at the current simulated time. At the end
 *     (after hourly ticks for 26 more hours), exactly:
 *      - server history: sent = units allowed and counted (not exempt, not released, the
 *        unknown sender's included), denied = units denied, exempt = units sent exempt;
 *      - per subscription, history, top (scoped to it) and summary agree with the tally
 *        (on a mismatch the hours are printed side by side);
 *      - server summary: sent = attributed units, unattributed = the unknown sender's;
 *      - top subscriptions add up to the attributed units; the plan (= s0) too;
 *      - event seq numbers run 1, 2, 3... with gaps only as counted by events_dropped;
 *        with no drop, LIMIT_REACHED = BACK_TO_NORMAL = the episodes listed, none ongoing.
 * (b) A burst of episode starts (one denial each of 1500 mailboxes) while another thread
 *     keeps the report lock busy with top calls over many active mailboxes: every edge
 *     is delivered as the header promises ("at most 4096 waiting; when full the oldest is
 *     dropped and counted"), in order, with the BACK_TO_NORMAL of each, and every episode
 *     is listed. STRESS_REPORT_BURST=N makes the burst N episodes, N <= 16384 (the
 *     library's edge queue: beyond it, deciders drop edges while the reader holds the
 *     lock, as the header says, and the exact expectations below no longer apply).
 * (c) Episodes that end by themselves and start again (1000 mailboxes, denied at T0+1,
 *     allowed at T0+3600, denied at T0+3601) during long reader calls: all 2000 episodes
 *     listed with exact times, 4000 events, no gap.
 *
 * STRESS_SCALE (a number, default 1; e.g. 0.1 under TSan) scales the decisions per minute
 * of (a) and the busy mailboxes of (b) and (c). Exit status 0 on success; a summary line
 * per phase on stdout; each failed check on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* barriers, clock_gettime */

#define STRESS_NAME "stress_report"
#include "stress.h"

#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC, a multiple of 3600 */
#define DECIDERS 3
#define HOURS 6
#define MINUTES (HOURS * 60)
#define NSUB 2
#define NDOM 4 /* d0, d1 in s0; d2, d3 in s1 */
#define MBX_PER_DOM 8

/* ---- the senders ------------------------------------------------------------------------ */

struct sender {
    int level;
    char name[64];
    int sub;    /* subscription index, -1 for the unknown sender */
    int exempt; /* 1: exempt mailbox */
};

#define NSENDERS (NDOM * MBX_PER_DOM + NDOM + NSUB + 1)
static struct sender senders[NSENDERS];

static void build(maillimit *ml)
{
    char buf[64];
    must(maillimit_plan_add(ml, "p"), "plan_add");
    for (int s = 0; s < NSUB; s++) {
        snprintf(buf, sizeof buf, "s%d", s);
        must(maillimit_subscription_add(ml, buf, s == 0 ? "p" : NULL), "subscription_add");
    }
    int n = 0;
    for (int d = 0; d < NDOM; d++) {
        char dom[32], sub[8];
        snprintf(dom, sizeof dom, "d%d.example", d);
        snprintf(sub, sizeof sub, "s%d", d / 2);
        must(maillimit_domain_add(ml, dom, sub), "domain_add");
        for (int m = 0; m < MBX_PER_DOM; m++) {
            struct sender *x = &senders[n++];
            x->level = MBX;
            snprintf(x->name, sizeof x->name, "m%d@%s", m, dom);
            x->sub = d / 2;
            x->exempt = m == MBX_PER_DOM - 1;
            must(maillimit_mailbox_add(ml, x->name), "mailbox_add");
            if (x->exempt)
                must(maillimit_flag_set(ml, MBX, x->name, MAILLIMIT_FLAG_EXEMPT, 1), "flag");
        }
        struct sender *x = &senders[n++];
        *x = (struct sender){DOM, "", d / 2, 0};
        snprintf(x->name, sizeof x->name, "%s", dom);
    }
    for (int s = 0; s < NSUB; s++) {
        struct sender *x = &senders[n++];
        *x = (struct sender){SUB, "", s, 0};
        snprintf(x->name, sizeof x->name, "s%d", s);
    }
    senders[n++] = (struct sender){MBX, "u@unknown.example", -1, 0};
    if (n != NSENDERS)
        fail("sender table: %d of %d", n, NSENDERS);
    /* Limits at every level, so that episodes start and end all the time. */
    must(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, 1000), "limit");
    must(maillimit_limit_set(ml, SRV, NULL, MBX, DAY, 8000), "limit");
    must(maillimit_limit_set(ml, DOM, "d0.example", DOM, HOUR, 6000), "limit");
    must(maillimit_limit_set(ml, SUB, "s1", SUB, HOUR, 20000), "limit");
    must(maillimit_limit_set(ml, PLN, "p", DOM, HOUR, 9000), "limit");
}

/* ---- the deciders ----------------------------------------------------------------------- */

struct tally {
    int64_t sent[NSUB], denied[NSUB], exempt[NSUB]; /* attributed units */
    int64_t unknown_sent, unknown_denied;
    int64_t decisions;
};

static maillimit *ml;
static pthread_barrier_t minute_barrier;
static _Atomic int64_t sim_minute; /* the minute the deciders are in (0..MINUTES) */
static atomic_int deciders_done;
static int per_minute;

struct decider {
    int id;
    struct tally t;
};

static void *decider_main(void *p)
{
    struct decider *d = p;
    uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(d->id + 1);
    for (int m = 0; m < MINUTES; m++) {
        for (int i = 0; i < per_minute; i++) {
            const struct sender *x = &senders[xorshift(&rng) % NSENDERS];
            int64_t cost = 1 + (int64_t)(xorshift(&rng) % 3);
            int64_t now = T0 + (int64_t)m * 60 + (int64_t)((i * 7 + d->id * 13) % 60);
            int reserve = xorshift(&rng) % 8 == 0;
            maillimit_verdict v;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            int rc = reserve ? maillimit_reserve(ml, x->level, x->name, cost, now, &v)
                             : maillimit_decide(ml, x->level, x->name, cost, now, &v);
            if (rc) {
                fail("decide %s: %d", x->name, rc);
                continue;
            }
            d->t.decisions++;
            int counted = v.decision == MAILLIMIT_ALLOW;
            if (counted && reserve && v.reason != MAILLIMIT_REASON_EXEMPT) {
                if (xorshift(&rng) % 2) {
                    must(maillimit_release(ml, v.token), "release");
                    counted = 0;
                } else {
                    must(maillimit_commit(ml, v.token), "commit");
                }
            }
            if (x->sub < 0) {
                if (v.reason != MAILLIMIT_REASON_UNKNOWN && v.decision == MAILLIMIT_ALLOW)
                    fail("unknown sender: reason %d", v.reason);
                if (counted)
                    d->t.unknown_sent += cost;
                else if (v.decision == MAILLIMIT_DENY)
                    d->t.unknown_denied += cost;
                continue;
            }
            if (v.decision == MAILLIMIT_DENY)
                d->t.denied[x->sub] += cost;
            else if (v.reason == MAILLIMIT_REASON_EXEMPT)
                d->t.exempt[x->sub] += cost;
            else if (counted)
                d->t.sent[x->sub] += cost;
            if ((v.reason == MAILLIMIT_REASON_EXEMPT) != x->exempt)
                fail("%s: reason %d, exempt %d", x->name, v.reason, x->exempt);
        }
        int rc = pthread_barrier_wait(&minute_barrier);
        if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_store(&sim_minute, m + 1);
    }
    atomic_fetch_add(&deciders_done, 1);
    return NULL;
}

/* ---- the reader ------------------------------------------------------------------------- */

struct reader {
    int64_t loops;
    uint64_t last_seq, delivered, reached, back;
};

static void drain_events(struct reader *r, int64_t now)
{
    for (;;) {
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        int rc = maillimit_events_next(ml, now, &ev);
        if (rc == MAILLIMIT_EDONE)
            return;
        if (rc) {
            fail("events_next: %d", rc);
            return;
        }
        if (ev.seq <= r->last_seq)
            fail("event seq %llu after %llu", (unsigned long long)ev.seq,
                 (unsigned long long)r->last_seq);
        r->last_seq = ev.seq;
        r->delivered++;
        if (ev.type == MAILLIMIT_EVENT_LIMIT_REACHED)
            r->reached++;
        else if (ev.type == MAILLIMIT_EVENT_BACK_TO_NORMAL)
            r->back++;
        else
            fail("event type %d", ev.type);
        /* No edge is later than the minute the deciders are in (the reader's own `now`
         * may lag behind them: LIMIT_REACHED has the time of a denial). sim_minute is
         * stored just after the barrier, so deciders may be one minute ahead of it. */
        int64_t limit_time = T0 + (atomic_load(&sim_minute) + 2) * 60;
        if (now >= limit_time)
            limit_time = now + 1;
        if (ev.time < T0 || ev.time >= limit_time)
            fail("event time T0%+lld, deciders before T0%+lld", (long long)(ev.time - T0),
                 (long long)(limit_time - T0));
    }
}

static void *reader_main(void *p)
{
    struct reader *r = p;
    uint64_t rng = 12345;
    while (atomic_load(&deciders_done) < DECIDERS) {
        int64_t now = T0 + atomic_load(&sim_minute) * 60 + (int64_t)(xorshift(&rng) % 60);
        r->loops++;
        must(maillimit_tick(ml, now), "tick");

        /* history of the server, the plan, a subscription, a domain or a mailbox */
        static const struct {
            int level;
            const char *name;
        } targets[] = {{SRV, NULL},           {PLN, "p"},           {SUB, "s0"},
                       {SUB, "s1"},           {DOM, "d0.example"},  {DOM, "d3.example"},
                       {MBX, "m0@d0.example"}, {MBX, "m7@d1.example"}, {MBX, "m3@d2.example"}};
        int k = (int)(xorshift(&rng) % (sizeof targets / sizeof targets[0]));
        maillimit_history *h = NULL;
        int rc = maillimit_history_open(ml, targets[k].level, targets[k].name, T0 - 3600,
                                        T0 + 100 * 3600, now, &h);
        if (rc) {
            fail("history_open(%d, %s): %d", targets[k].level,
                 targets[k].name ? targets[k].name : "(server)", rc);
        } else {
            maillimit_history_row row;
            maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
            int64_t prev = 0;
            while ((rc = maillimit_history_next(h, &row)) == 0) {
                if (row.hour_start <= prev || row.hour_start % 3600 != 0)
                    fail("history hour %lld after %lld", (long long)row.hour_start,
                         (long long)prev);
                prev = row.hour_start;
                if (row.sent < 0 || row.denied < 0 || row.exempt < 0)
                    fail("negative history figures");
            }
            if (rc != MAILLIMIT_EDONE)
                fail("history_next: %d", rc);
            maillimit_history_close(h);
        }

        /* top: every level over the server; domains and mailboxes of s1; mailboxes of d0 */
        maillimit_top_row rows[5];
        maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
        size_t n = 5;
        int scope = (int)(xorshift(&rng) % 3);
        int tl = scope == 0   ? PLN + (int)(xorshift(&rng) % 4)
                 : scope == 1 ? DOM + (int)(xorshift(&rng) % 2)
                              : MBX;
        rc = maillimit_top(ml, tl, (int)(xorshift(&rng) % 2), T0, T0 + HOURS * 3600,
                           scope == 0 ? SRV : scope == 1 ? SUB : DOM,
                           scope == 0 ? NULL : scope == 1 ? "s1" : "d0.example", now, rows,
                           &n);
        if (rc)
            fail("top(%d, scope %d): %d", tl, scope, rc);
        else if (n > 5)
            fail("top wrote %zu rows into 5", n);

        /* summary */
        maillimit_summary s;
        maillimit_summary_init(&s, MAILLIMIT_SUMMARY_VERSION);
        must(maillimit_summary_get(ml, SRV, NULL, T0, now + 1, now, &s), "summary");

        /* episodes */
        maillimit_episodes *e = NULL;
        int whole = (int)(xorshift(&rng) % 2);
        rc = maillimit_episodes_open(ml, whole ? SRV : SUB, whole ? NULL : "s0", T0, now + 1,
                                     now, &e);
        if (rc == 0) {
            maillimit_episode ep;
            maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
            int64_t prev = 0;
            while ((rc = maillimit_episodes_next(e, &ep)) == 0) {
                if (ep.started < prev)
                    fail("episodes out of order");
                prev = ep.started;
            }
            if (rc != MAILLIMIT_EDONE)
                fail("episodes_next: %d", rc);
            maillimit_episodes_close(e);
        } else {
            fail("episodes_open: %d", rc);
        }

        drain_events(r, now);
    }
    return NULL;
}

/* ---- final checks ----------------------------------------------------------------------- */

/* Sums of a history; returns the number of rows. */
static int history_sums(int level, const char *name, int64_t from, int64_t to, int64_t now,
                        int64_t fig[3])
{
    fig[0] = fig[1] = fig[2] = 0;
    maillimit_history *h = NULL;
    int rc = maillimit_history_open(ml, level, name, from, to, now, &h);
    if (rc) {
        fail("history_open(%d, %s): %d", level, name ? name : "(server)", rc);
        return -1;
    }
    maillimit_history_row row;
    maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
    int rows = 0;
    while (maillimit_history_next(h, &row) == 0) {
        fig[0] += row.sent;
        fig[1] += row.denied;
        fig[2] += row.exempt;
        rows++;
    }
    maillimit_history_close(h);
    return rows;
}

/* Figures of one subscription from top (scoped to itself); 0 if not listed. */
static void top_figures(const char *sub, int64_t from, int64_t to, int64_t now, int64_t fig[3])
{
    maillimit_top_row row;
    maillimit_top_row_init(&row, MAILLIMIT_TOP_ROW_VERSION);
    size_t n = 1;
    fig[0] = fig[1] = fig[2] = 0;
    must(maillimit_top(ml, SUB, MAILLIMIT_METRIC_SENT, from, to, SUB, sub, now, &row, &n),
         "top (scoped)");
    if (n == 1) {
        fig[0] = row.sent;
        fig[1] = row.denied;
        fig[2] = row.exempt;
    }
}

/* Per hour: history rows against top over that hour alone (on a failure). */
static void dump(int level, const char *name, int64_t now)
{
    maillimit_history *h = NULL;
    if (maillimit_history_open(ml, level, name, T0 - 3600, now + 1, now, &h))
        return;
    maillimit_history_row row;
    maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
    while (maillimit_history_next(h, &row) == 0) {
        int64_t tf[3] = {0, 0, 0};
        if (level == SUB)
            top_figures(name, row.hour_start, row.hour_start + 3600, now, tf);
        fprintf(stderr,
                "  %s hour T0%+lld: history {sent %lld denied %lld exempt %lld}, top {%lld %lld "
                "%lld}\n",
                name ? name : "server", (long long)(row.hour_start - T0), (long long)row.sent,
                (long long)row.denied, (long long)row.exempt, (long long)tf[0],
                (long long)tf[1], (long long)tf[2]);
    }
    maillimit_history_close(h);
}

static void check_subscription(const char *sub, int64_t from, int64_t to, int64_t now,
                               int64_t sent, int64_t denied, int64_t exempt)
{
    int64_t hf[3], tf[3], sf[3];
    history_sums(SUB, sub, from, to, now, hf);
    top_figures(sub, from, to, now, tf);
    maillimit_summary sm;
    maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
    must(maillimit_summary_get(ml, SUB, sub, from, to, now, &sm), "summary");
    sf[0] = sm.sent;
    sf[1] = sm.denied;
    sf[2] = sm.exempt;
    const int64_t *figs[3] = {hf, tf, sf};
    const char *what[3] = {"history", "top", "summary"};
    int bad = 0;
    for (int k = 0; k < 3; k++)
        if (figs[k][0] != sent || figs[k][1] != denied || figs[k][2] != exempt) {
            fail("%s of %s: {sent %lld denied %lld exempt %lld}, expected {%lld %lld %lld}",
                 what[k], sub, (long long)figs[k][0], (long long)figs[k][1],
                 (long long)figs[k][2], (long long)sent, (long long)denied, (long long)exempt);
            bad = 1;
        }
    CHECK_EQ("summary unattributed of a subscription", sm.unattributed, 0);
    if (bad)
        dump(SUB, sub, now);
}

/* ---- main ------------------------------------------------------------------------------- */

static void phase_a(void)
{
    struct timespec t_start, t_end;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    must(maillimit_new(&ml), "new");
    if (!ml)
        return;
    build(ml);
    pthread_barrier_init(&minute_barrier, NULL, DECIDERS);

    struct decider d[DECIDERS];
    struct reader r;
    memset(&r, 0, sizeof r);
    pthread_t th[DECIDERS], rt;
    pthread_create(&rt, NULL, reader_main, &r);
    for (int i = 0; i < DECIDERS; i++) {
        memset(&d[i], 0, sizeof d[i]);
        d[i].id = i;
        pthread_create(&th[i], NULL, decider_main, &d[i]);
    }
    for (int i = 0; i < DECIDERS; i++)
        pthread_join(th[i], NULL);
    pthread_join(rt, NULL);
    pthread_barrier_destroy(&minute_barrier);

    struct tally t;
    memset(&t, 0, sizeof t);
    for (int i = 0; i < DECIDERS; i++) {
        for (int s = 0; s < NSUB; s++) {
            t.sent[s] += d[i].t.sent[s];
            t.denied[s] += d[i].t.denied[s];
            t.exempt[s] += d[i].t.exempt[s];
        }
        t.unknown_sent += d[i].t.unknown_sent;
        t.unknown_denied += d[i].t.unknown_denied;
        t.decisions += d[i].t.decisions;
    }
    CHECK_EQ("unknown sender denied (no server limit)", t.unknown_denied, 0);

    /* Every episode of an hourly limit is over an hour after the last unit; daily limits
     * a day after: tick hourly for 26 hours to see every end. */
    const int64_t end = T0 + HOURS * 3600;
    for (int k = 1; k <= 26; k++)
        must(maillimit_tick(ml, end + k * 3600LL), "tick");
    const int64_t now = end + 26 * 3600LL;
    drain_events(&r, now);

    /* History, summary and top agree with the tally. */
    int64_t all_sent = 0, all_denied = 0, all_exempt = 0;
    for (int s = 0; s < NSUB; s++) {
        all_sent += t.sent[s];
        all_denied += t.denied[s];
        all_exempt += t.exempt[s];
    }
    const int64_t from = T0 - 3600, to = now + 1;
    int64_t fig[3];
    int rows = history_sums(SRV, NULL, from, to, now, fig);
    CHECK_EQ("server history rows (hours)", rows, HOURS);
    if (fig[0] != all_sent + t.unknown_sent || fig[1] != all_denied || fig[2] != all_exempt) {
        fail("server history {sent %lld denied %lld exempt %lld}, expected {%lld %lld %lld}",
             (long long)fig[0], (long long)fig[1], (long long)fig[2],
             (long long)(all_sent + t.unknown_sent), (long long)all_denied,
             (long long)all_exempt);
        dump(SRV, NULL, now);
    }
    for (int s = 0; s < NSUB; s++) {
        char name[8];
        snprintf(name, sizeof name, "s%d", s);
        check_subscription(name, from, to, now, t.sent[s], t.denied[s], t.exempt[s]);
    }
    {
        maillimit_summary sm;
        maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
        must(maillimit_summary_get(ml, SRV, NULL, from, to, now, &sm), "summary");
        CHECK_EQ("summary (server) sent: attributed units", sm.sent, all_sent);
        CHECK_EQ("summary (server) denied", sm.denied, all_denied);
        CHECK_EQ("summary (server) exempt", sm.exempt, all_exempt);
        CHECK_EQ("summary (server) unattributed", sm.unattributed, t.unknown_sent);
    }
    {
        maillimit_top_row trows[NSUB + 1];
        maillimit_top_row_init(&trows[0], MAILLIMIT_TOP_ROW_VERSION);
        size_t n = NSUB + 1;
        must(maillimit_top(ml, SUB, MAILLIMIT_METRIC_SENT, from, to, SRV, NULL, now, trows, &n),
             "top");
        int64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += trows[i].sent;
        CHECK_EQ("top subscriptions rows", n, NSUB);
        CHECK_EQ("top subscriptions sent sum", sum, all_sent);
        n = 1;
        must(maillimit_top(ml, PLN, MAILLIMIT_METRIC_SENT, from, to, SRV, NULL, now, trows, &n),
             "top plans");
        CHECK_EQ("top plans rows", n, 1);
        CHECK_EQ("plan p (= s0) sent in top", n ? trows[0].sent : -1, t.sent[0]);
        rows = history_sums(PLN, "p", from, to, now, fig);
        CHECK_EQ("plan p (= s0) sent in history", fig[0], t.sent[0]);
    }

    /* Events. */
    uint64_t dropped = 0;
    must(maillimit_events_dropped(ml, &dropped), "events_dropped");
    CHECK_EQ("last seq = delivered + dropped", r.last_seq, r.delivered + dropped);
    int64_t episodes = 0, ongoing = 0;
    maillimit_episodes *ep = NULL;
    must(maillimit_episodes_open(ml, SRV, NULL, T0 - 3600, now + 1, now, &ep), "episodes");
    if (ep) {
        maillimit_episode x;
        maillimit_episode_init(&x, MAILLIMIT_EPISODE_VERSION);
        while (maillimit_episodes_next(ep, &x) == 0) {
            episodes++;
            ongoing += x.ongoing;
        }
        maillimit_episodes_close(ep);
    }
    CHECK_EQ("episodes still ongoing", ongoing, 0);
    if (dropped == 0) {
        CHECK_EQ("LIMIT_REACHED = episodes", r.reached, episodes);
        CHECK_EQ("BACK_TO_NORMAL = episodes", r.back, episodes);
    }
    if (episodes == 0)
        fail("no episode at all: the limits did not bite");

    maillimit_free(ml);
    clock_gettime(CLOCK_MONOTONIC, &t_end);
    double secs = (double)(t_end.tv_sec - t_start.tv_sec) +
                  (double)(t_end.tv_nsec - t_start.tv_nsec) / 1e9;
    printf("stress_report (a): %lld decisions (%lld units sent, %lld denied, %lld exempt, %lld "
           "unattributed), %lld reader loops, %lld episodes, %llu events (%llu dropped), "
           "%.2f s\n",
           (long long)t.decisions, (long long)all_sent, (long long)all_denied,
           (long long)all_exempt, (long long)t.unknown_sent, (long long)r.loops,
           (long long)episodes, (unsigned long long)r.delivered, (unsigned long long)dropped,
           secs);
}

/* ---- (b) a burst of episode edges while a long reader holds the report lock ------------- */

#define QUEUE 4096 /* "at most 4096 waiting" */
#define BURST_C 1000
/* Episodes started in the burst of (b): 1500 by default (3000 edges, fewer than 4096);
 * STRESS_REPORT_BURST=N for more. busy: active mailboxes that make a top call long. */
static int burst_size = 1500, busy = 20000;

static atomic_int burst_done, reader_started;

struct long_reader {
    int64_t now, loops;
};

static void *long_reader_main(void *p)
{
    struct long_reader *lr = p;
    while (!atomic_load(&burst_done)) {
        maillimit_top_row rows[10];
        maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
        size_t n = 10;
        must(maillimit_top(ml, MBX, MAILLIMIT_METRIC_SENT, T0, T0 + 3600, SRV, NULL, lr->now,
                           rows, &n),
             "top");
        lr->loops++;
        atomic_store(&reader_started, 1);
    }
    return NULL;
}

/* Start a long reader at `now`; returns when it has finished one call. */
static void long_reader_start(pthread_t *t, struct long_reader *lr, int64_t now)
{
    lr->now = now;
    lr->loops = 0;
    atomic_store(&burst_done, 0);
    atomic_store(&reader_started, 0);
    pthread_create(t, NULL, long_reader_main, lr);
    while (!atomic_load(&reader_started))
        sched_yield();
}

static void long_reader_stop(pthread_t t)
{
    atomic_store(&burst_done, 1);
    pthread_join(t, NULL);
}

static void burst_n(int count, int64_t now, int decision);

/* A handle with `busy` active mailboxes (so a top call takes long) and burst mailboxes of
 * limit 1 in burst.example, each with one unit at T0. */
static void burst_handle(void)
{
    must(maillimit_new(&ml), "new");
    if (!ml)
        exit(1);
    must(maillimit_subscription_add(ml, "s", NULL), "subscription_add");
    must(maillimit_domain_add(ml, "busy.example", "s"), "domain_add");
    must(maillimit_domain_add(ml, "burst.example", "s"), "domain_add");
    must(maillimit_limit_set(ml, DOM, "burst.example", MBX, HOUR, 1), "limit");
    char name[64];
    maillimit_verdict v;
    for (int i = 0; i < busy; i++) {
        snprintf(name, sizeof name, "b%d@busy.example", i);
        must(maillimit_mailbox_add(ml, name), "mailbox_add");
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        must(maillimit_decide(ml, MBX, name, 1, T0, &v), "decide");
    }
    for (int i = 0; i < (burst_size > BURST_C ? burst_size : BURST_C); i++) {
        snprintf(name, sizeof name, "m%04d@burst.example", i);
        must(maillimit_mailbox_add(ml, name), "mailbox_add");
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        must(maillimit_decide(ml, MBX, name, 1, T0, &v), "decide");
    }
}

static void phase_b(void)
{
    const int B = burst_size;
    struct timespec t_start, t_end;
    clock_gettime(CLOCK_MONOTONIC, &t_start);
    burst_handle();
    /* The burst: B episodes start (one denial each), in this order, while a reader holds
     * the report lock most of the time. */
    pthread_t rt;
    struct long_reader lr;
    long_reader_start(&rt, &lr, T0 + 2);
    burst_n(B, T0 + 1, MAILLIMIT_DENY);
    long_reader_stop(rt);
    int64_t loops = lr.loops;

    /* "at most 4096 waiting; when full the oldest is dropped and counted". The edges, in
     * queue order: B LIMIT_REACHED in burst order, then (pulled at 11:00, when the 10:00
     * units leave) B BACK_TO_NORMAL. The newest 4096 are delivered, seq numbered from 1 with
     * the dropped ones first. */
    const int64_t drop_lr = B > QUEUE ? B - QUEUE : 0;
    const int64_t drop_all = 2 * B > QUEUE ? 2 * B - QUEUE : 0;
    const int64_t want_lr = B - (drop_all < B ? drop_all : B);
    const int64_t want_back = B < QUEUE ? B : QUEUE;
    uint64_t dropped = 0;
    must(maillimit_events_dropped(ml, &dropped), "events_dropped");
    CHECK_EQ("(b) events dropped after the burst", dropped, drop_lr);
    int64_t reached = 0, back = 0, bad = 0;
    uint64_t expect_seq = (uint64_t)drop_all + 1;
    char *seen = calloc((size_t)B, 1);
    for (;;) {
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        int rc = maillimit_events_next(ml, T0 + 3600, &ev);
        if (rc)
            break;
        if (ev.seq != expect_seq && bad++ < 3)
            fail("(b) event seq %llu, expected %llu", (unsigned long long)ev.seq,
                 (unsigned long long)expect_seq);
        expect_seq = ev.seq + 1;
        int i = atoi(ev.name + 1);
        if (ev.type == MAILLIMIT_EVENT_LIMIT_REACHED) {
            if (i != (int)(drop_all + reached) && bad++ < 3)
                fail("(b) LIMIT_REACHED #%lld is %s", (long long)reached, ev.name);
            reached++;
        } else {
            if (i >= 0 && i < B && seen) {
                if (seen[i] && bad++ < 3)
                    fail("(b) two BACK_TO_NORMAL for %s", ev.name);
                seen[i] = 1;
            }
            if ((ev.time != T0 + 3600 || ev.denied != 1) && bad++ < 3)
                fail("(b) BACK_TO_NORMAL %s at T0%+lld denied %lld", ev.name,
                     (long long)(ev.time - T0), (long long)ev.denied);
            back++;
        }
    }
    free(seen);
    CHECK_EQ("(b) LIMIT_REACHED delivered", reached, want_lr);
    CHECK_EQ("(b) BACK_TO_NORMAL delivered", back, want_back);
    must(maillimit_events_dropped(ml, &dropped), "events_dropped");
    CHECK_EQ("(b) events dropped in all", dropped, drop_all);
    /* Every episode is in the report, over at 11:00:00. */
    int listed = 0, right = 0;
    maillimit_episodes *ep = NULL;
    must(maillimit_episodes_open(ml, DOM, "burst.example", T0, T0 + 7200, T0 + 7200, &ep),
         "episodes_open");
    if (ep) {
        maillimit_episode x;
        maillimit_episode_init(&x, MAILLIMIT_EPISODE_VERSION);
        while (maillimit_episodes_next(ep, &x) == 0) {
            listed++;
            right += x.ongoing == 0 && x.started == T0 + 1 && x.ended == T0 + 3600 &&
                     x.denied == 1 && x.limit == 1;
        }
        maillimit_episodes_close(ep);
    }
    CHECK_EQ("(b) episodes listed", listed, B);
    CHECK_EQ("(b) episodes listed with the right figures", right, B);
    maillimit_free(ml);
    clock_gettime(CLOCK_MONOTONIC, &t_end);
    double secs = (double)(t_end.tv_sec - t_start.tv_sec) +
                  (double)(t_end.tv_nsec - t_start.tv_nsec) / 1e9;
    printf("stress_report (b): %d episode starts during %lld long reader calls over %d "
           "mailboxes: %lld LIMIT_REACHED, %lld BACK_TO_NORMAL delivered, %llu dropped, "
           "%.2f s\n",
           B, (long long)loops, busy, (long long)reached, (long long)back,
           (unsigned long long)dropped, secs);
}

/* (c) The same with episodes that end and start again during the long reader: BURST_C
 * episodes start at T0+1 (ending at T0+3600 by themselves), the mailboxes send again at
 * T0+3600 and are denied again at T0+3601. The reader's `now` is T0+3601 throughout (a
 * reader may be ahead of deciders, never behind them: readers judge "one unit fits" at their
 * own `now`). Whoever notices the first episodes' ends (the reader, or the second denial),
 * every episode must stay in the report and every edge must be delivered: 4 x 1000 events
 * (pulled at T0+7200, when the second episodes are over too), fewer than 4096. */
static void burst_n(int count, int64_t now, int decision)
{
    char name[64];
    for (int i = 0; i < count; i++) {
        snprintf(name, sizeof name, "m%04d@burst.example", i);
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        must(maillimit_decide(ml, MBX, name, 1, now, &v), "decide");
        if (v.decision != decision)
            fail("burst %s at T0%+lld: decision %d", name, (long long)(now - T0), v.decision);
    }
}

static void phase_c(void)
{
    burst_handle();
    pthread_t rt;
    struct long_reader lr;
    long_reader_start(&rt, &lr, T0 + 3601);
    burst_n(BURST_C, T0 + 1, MAILLIMIT_DENY);
    burst_n(BURST_C, T0 + 3600, MAILLIMIT_ALLOW);
    burst_n(BURST_C, T0 + 3601, MAILLIMIT_DENY);
    long_reader_stop(rt);
    int listed = 0, first = 0, second = 0;
    maillimit_episodes *ep = NULL;
    must(maillimit_episodes_open(ml, DOM, "burst.example", T0, T0 + 3 * 3600, T0 + 3700, &ep),
         "episodes_open");
    if (ep) {
        maillimit_episode x;
        maillimit_episode_init(&x, MAILLIMIT_EPISODE_VERSION);
        while (maillimit_episodes_next(ep, &x) == 0) {
            listed++;
            first += x.started == T0 + 1 && x.ended == T0 + 3600 && !x.ongoing &&
                     x.denied == 1;
            second += x.started == T0 + 3601 && x.ended == T0 + 7200 && x.ongoing &&
                      x.denied == 1;
        }
        maillimit_episodes_close(ep);
    }
    CHECK_EQ("(c) episodes listed", listed, 2 * BURST_C);
    CHECK_EQ("(c) first episodes (T0+1 .. T0+3600)", first, BURST_C);
    CHECK_EQ("(c) second episodes (T0+3601 .. ongoing)", second, BURST_C);
    uint64_t dropped = 0;
    must(maillimit_events_dropped(ml, &dropped), "events_dropped");
    CHECK_EQ("(c) events dropped", dropped, 0);
    int64_t back = 0, back2 = 0, reached = 0, seq_gaps = 0;
    uint64_t last = 0;
    for (;;) {
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        if (maillimit_events_next(ml, T0 + 7200, &ev))
            break;
        seq_gaps += ev.seq != last + 1;
        last = ev.seq;
        back += ev.type == MAILLIMIT_EVENT_BACK_TO_NORMAL && ev.time == T0 + 3600;
        back2 += ev.type == MAILLIMIT_EVENT_BACK_TO_NORMAL && ev.time == T0 + 7200;
        reached += ev.type == MAILLIMIT_EVENT_LIMIT_REACHED;
    }
    CHECK_EQ("(c) BACK_TO_NORMAL at T0+3600", back, BURST_C);
    CHECK_EQ("(c) BACK_TO_NORMAL at T0+7200", back2, BURST_C);
    CHECK_EQ("(c) LIMIT_REACHED", reached, 2 * BURST_C);
    CHECK_EQ("(c) gaps in seq", seq_gaps, 0);
    CHECK_EQ("(c) last seq", last, 4 * BURST_C);
    maillimit_free(ml);
    printf("stress_report (c): %d + %d episodes during %lld long reader calls: %d listed, "
           "%lld BACK_TO_NORMAL, %lld LIMIT_REACHED, %llu dropped\n",
           BURST_C, BURST_C, (long long)lr.loops, listed, (long long)(back + back2),
           (long long)reached,
           (unsigned long long)dropped);
}

int main(void)
{
    const char *e = getenv("STRESS_SCALE");
    double scale = e ? atof(e) : 1.0;
    if (!(scale > 0))
        scale = 1.0;
    per_minute = (int)(1000 * scale);
    if (per_minute < 1)
        per_minute = 1;
    const char *bs = getenv("STRESS_REPORT_BURST");
    if (bs && atoi(bs) > 0)
        burst_size = atoi(bs) > 16384 ? 16384 : atoi(bs);
    busy = (int)(20000 * (scale < 1 ? scale : 1));
    if (busy < 2000)
        busy = 2000;
    if (bs && busy < 5 * burst_size)
        busy = 5 * burst_size;
    phase_a();
    phase_b();
    phase_c();
    printf("stress_report: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
