/* SPDX-License-Identifier: MIT */
/* Stress: many threads deciding on one handle, compared with exact or serial results.
 *
 *  (a) 4 threads hammer one mailbox with limit L at a fixed `now`: exactly L accepted,
 *      as in a serial run; (a2) 256 small limits, each reached by all threads at once.
 *  (b) 4 threads over 64 mailboxes of one domain with a domain limit D: exactly D
 *      accepted; then the same with mailbox limits too (then at most D, counts consistent).
 *  (c) 4 threads mixing decide, reserve, commit and release on 23 senders of two
 *      subscriptions, with limits at every level and both windows, at times crossing a
 *      minute boundary (T0+55 .. T0+66). Every count must equal a serial replay of the
 *      operations that ended up counted, and no counter may exceed its limit.
 *  (d) 3 deciders racing to create the same implicit mailboxes and sending from a domain
 *      that a 4th thread keeps moving between two subscriptions while it also adds and
 *      removes thousands of other mailboxes (table growth) and changes limits.
 *
 * STRESS_SCALE (default 1) multiplies the number of rounds. Exit status 0 on success; one
 * summary line on stdout; each failed check on stderr.
 */
#define _POSIX_C_SOURCE 200809L /* barriers, clock_gettime */

#define STRESS_NAME "stress_decide"
#include "stress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC, a multiple of 3600 */
#define THREADS 4


/* ---- (a) and (b): plain hammering ------------------------------------------------------ */

struct hammer {
    maillimit *ml;
    pthread_barrier_t *start;
    char (*senders)[64];
    int nsenders;
    int attempts;
    int offset, stride, repeat; /* attempt i uses sender ((i / repeat) * stride + offset) */
    int64_t now;
    int64_t accepted, denied;
};

static void *hammer_main(void *p)
{
    struct hammer *h = p;
    pthread_barrier_wait(h->start);
    for (int i = 0; i < h->attempts; i++) {
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        const char *sender =
            h->senders[((i / h->repeat) * h->stride + h->offset) % h->nsenders];
        int rc = maillimit_decide(h->ml, MBX, sender, 1, h->now, &v);
        if (rc != 0) {
            fail("decide(%s): %d", sender, rc);
            continue;
        }
        if (v.decision == MAILLIMIT_ALLOW) {
            h->accepted++;
            if (v.reason != MAILLIMIT_REASON_NONE)
                fail("allowed with reason %d", v.reason);
        } else {
            h->denied++;
            if (v.reason != MAILLIMIT_REASON_LIMIT || v.token != 0)
                fail("denied with reason %d token %llu", v.reason,
                     (unsigned long long)v.token);
        }
    }
    return NULL;
}

/* Runs `threads` hammer threads (1 = serial) and returns the total accepted. With
 * `contested`, every thread walks the senders in the same order, `repeat` attempts each, so
 * all threads reach each sender's limit together; else they interleave over the senders. */
static int64_t hammer(maillimit *ml, char (*senders)[64], int nsenders, int attempts_each,
                      int threads, int64_t now, int64_t *denied, int contested, int repeat)
{
    pthread_t th[THREADS];
    struct hammer h[THREADS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        h[t] = (struct hammer){ml,      &start, senders, nsenders, attempts_each,
                               contested ? 0 : t,
                               contested ? 1 : THREADS,
                               repeat,  now,    0,       0};
        if (pthread_create(&th[t], NULL, hammer_main, &h[t]) != 0) {
            fail("pthread_create");
            exit(2);
        }
    }
    int64_t acc = 0, den = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        acc += h[t].accepted;
        den += h[t].denied;
    }
    pthread_barrier_destroy(&start);
    if (denied)
        *denied = den;
    return acc;
}

static maillimit *new_handle(void)
{
    maillimit *ml = NULL;
    if (maillimit_new(&ml) != 0 || !ml) {
        fprintf(stderr, "stress_decide: maillimit_new failed\n");
        exit(2);
    }
    return ml;
}

static void part_a(int rounds)
{
    enum { L = 1000 };
    static char senders[1][64] = {"hot@a.example"};
    for (int r = 0; r < rounds; r++) {
        for (int threads = THREADS; threads >= 1; threads -= THREADS - 1) {
            maillimit *ml = new_handle();
            must(maillimit_subscription_add(ml, "a", NULL), "a: subscription_add");
            must(maillimit_domain_add(ml, "a.example", "a"), "a: domain_add");
            must(maillimit_mailbox_add(ml, "hot@a.example"), "a: mailbox_add");
            must(maillimit_limit_set(ml, MBX, "hot@a.example", MBX, HOUR, L), "a: limit_set");
            int64_t denied = 0;
            /* 4 x L attempts in total, whether by 4 threads or 1. */
            int64_t acc =
                hammer(ml, senders, 1, L * THREADS / threads, threads, T0 + 5, &denied, 0, 1);
            const char *what = threads == 1 ? "a (serial)" : "a (threads)";
            char buf[96];
            snprintf(buf, sizeof buf, "%s: accepted", what);
            CHECK_EQ(buf, acc, L);
            snprintf(buf, sizeof buf, "%s: denied", what);
            CHECK_EQ(buf, denied, 3 * L);
            snprintf(buf, sizeof buf, "%s: mailbox count", what);
            CHECK_EQ(buf, count_of(ml, MBX, "hot@a.example", HOUR, T0 + 5), L);
            snprintf(buf, sizeof buf, "%s: domain count", what);
            CHECK_EQ(buf, count_of(ml, DOM, "a.example", HOUR, T0 + 5), L);
            snprintf(buf, sizeof buf, "%s: server day count", what);
            CHECK_EQ(buf, count_of(ml, SRV, NULL, DAY, T0 + 5), L);
            maillimit_free(ml);
        }
    }
}

/* (a2) Many small limits, each contested by all threads at once: 256 mailboxes of limit 8,
 * every thread tries each mailbox 12 times in the same order. Every mailbox must end at
 * exactly 8 (only mailboxes are limited, so no denial can be blamed on a rollback). */
static void part_a2(int rounds)
{
    enum { NM2 = 256, LIM = 8, REPEAT = 12 };
    static char senders[NM2][64];
    for (int i = 0; i < NM2; i++)
        snprintf(senders[i], sizeof senders[i], "s%d@a2.example", i);
    for (int r = 0; r < rounds; r++) {
        maillimit *ml = new_handle();
        must(maillimit_subscription_add(ml, "a2", NULL), "a2: subscription_add");
        must(maillimit_domain_add(ml, "a2.example", "a2"), "a2: domain_add");
        must(maillimit_limit_set(ml, DOM, "a2.example", MBX, HOUR, LIM), "a2: limit_set");
        /* implicit mailboxes: the first decisions also race to create them */
        int64_t acc = hammer(ml, senders, NM2, NM2 * REPEAT, THREADS, T0 + 9, NULL, 1, REPEAT);
        CHECK_EQ("a2: accepted", acc, NM2 * LIM);
        for (int i = 0; i < NM2; i++) {
            char buf[96];
            snprintf(buf, sizeof buf, "a2: count of %.63s", senders[i]);
            CHECK_EQ(buf, count_of(ml, MBX, senders[i], HOUR, T0 + 9), LIM);
        }
        CHECK_EQ("a2: domain count", count_of(ml, DOM, "a2.example", HOUR, T0 + 9), NM2 * LIM);
        maillimit_free(ml);
    }
}

static void part_b(int rounds)
{
    enum { NB = 64, D = 2000, PER_MAILBOX = 40 };
    static char senders[NB][64];
    for (int i = 0; i < NB; i++)
        snprintf(senders[i], sizeof senders[i], "m%d@b.example", i);
    for (int r = 0; r < rounds; r++) {
        for (int with_mailbox_limits = 0; with_mailbox_limits <= 1; with_mailbox_limits++) {
            maillimit *ml = new_handle();
            must(maillimit_subscription_add(ml, "b", NULL), "b: subscription_add");
            must(maillimit_domain_add(ml, "b.example", "b"), "b: domain_add");
            for (int i = 0; i < NB; i++)
                must(maillimit_mailbox_add(ml, senders[i]), "b: mailbox_add");
            must(maillimit_limit_set(ml, DOM, "b.example", DOM, HOUR, D), "b: limit_set");
            if (with_mailbox_limits)
                must(maillimit_limit_set(ml, DOM, "b.example", MBX, HOUR, PER_MAILBOX),
                     "b: limit_set mailbox");
            int64_t acc = hammer(ml, senders, NB, D, THREADS, T0 + 7, NULL, 0, 1);
            int64_t sum = 0;
            for (int i = 0; i < NB; i++) {
                int64_t c = count_of(ml, MBX, senders[i], HOUR, T0 + 7);
                if (with_mailbox_limits && c > PER_MAILBOX)
                    fail("b: mailbox %s count %lld over its limit %d", senders[i],
                         (long long)c, PER_MAILBOX);
                sum += c;
            }
            if (!with_mailbox_limits) {
                /* Only the domain is limited: exactly D. */
                CHECK_EQ("b: accepted", acc, D);
            } else if (acc > D || acc < 1) {
                fail("b (mailbox limits): accepted %lld, expected 1..%d", (long long)acc, D);
            }
            CHECK_EQ("b: sum of mailbox counts", sum, acc);
            CHECK_EQ("b: domain count", count_of(ml, DOM, "b.example", HOUR, T0 + 7), acc);
            CHECK_EQ("b: subscription count", count_of(ml, SUB, "b", HOUR, T0 + 7), acc);
            CHECK_EQ("b: server count", count_of(ml, SRV, NULL, HOUR, T0 + 7), acc);
            maillimit_free(ml);
        }
    }
}

/* ---- (c): decide / reserve / commit / release across a minute boundary ---------------- */

enum { C_MAILBOXES = 16, C_SENDERS = 23, C_OPS = 2500, C_PENDING = 8 };

/* Senders 0..7 u%d@c1.example, 8..15 u%d@c2.example (subscription c), 16 script mail of
 * c1.example, 17 of c2.example, 18 system user c_web, 19..22 v%d@d1.example (subscription
 * d, unlimited: only the server total limits it). */
static char c_name[C_SENDERS][64];
static int c_level[C_SENDERS];

static void c_names(void)
{
    for (int i = 0; i < 8; i++) {
        snprintf(c_name[i], 64, "u%d@c1.example", i);
        snprintf(c_name[8 + i], 64, "u%d@c2.example", i);
        c_level[i] = c_level[8 + i] = MBX;
    }
    snprintf(c_name[16], 64, "c1.example");
    snprintf(c_name[17], 64, "c2.example");
    c_level[16] = c_level[17] = DOM;
    snprintf(c_name[18], 64, "c_web");
    c_level[18] = SUB;
    for (int i = 0; i < 4; i++) {
        snprintf(c_name[19 + i], 64, "v%d@d1.example", i);
        c_level[19 + i] = MBX;
    }
}

static maillimit *c_handle(int limits)
{
    maillimit *ml = new_handle();
    must(maillimit_subscription_add(ml, "c", NULL), "c: subscription_add");
    must(maillimit_subscription_add(ml, "d", NULL), "c: subscription_add d");
    must(maillimit_domain_add(ml, "c1.example", "c"), "c: domain_add");
    must(maillimit_domain_add(ml, "c2.example", "c"), "c: domain_add");
    must(maillimit_domain_add(ml, "d1.example", "d"), "c: domain_add d1");
    must(maillimit_sysuser_add(ml, "c_web", "c"), "c: sysuser_add");
    for (int i = 0; i < C_SENDERS; i++)
        if (c_level[i] == MBX)
            must(maillimit_mailbox_add(ml, c_name[i]), "c: mailbox_add");
    if (limits) {
        must(maillimit_limit_set(ml, SUB, "c", MBX, HOUR, 30), "c: mailbox limit");
        must(maillimit_limit_set(ml, DOM, "c1.example", DOM, HOUR, 150), "c: c1 limit");
        must(maillimit_limit_set(ml, DOM, "c2.example", DOM, DAY, 100), "c: c2 day limit");
        must(maillimit_limit_set(ml, SUB, "c", SUB, HOUR, 220), "c: c limit");
        must(maillimit_limit_set(ml, SRV, NULL, SRV, HOUR, 300), "c: server total");
    }
    return ml;
}

struct c_op {
    int16_t sender;
    int16_t cost;
    int32_t dt; /* now - T0 */
};

struct c_thread {
    maillimit *ml;
    pthread_barrier_t *start;
    uint64_t seed;
    int64_t final_units[C_SENDERS]; /* units that stay counted */
    struct c_op *log;               /* operations whose units stay counted */
    int nlog;
    int64_t allowed, denied, reserved, committed, released;
};

struct c_pending {
    uint64_t token;
    struct c_op op;
};

static void c_keep(struct c_thread *c, struct c_op op)
{
    c->final_units[op.sender] += op.cost;
    c->log[c->nlog++] = op;
}

static void c_resolve(struct c_thread *c, struct c_pending *p, int how)
{
    /* how: 0 commit, 1 release, 2 leave it reserved (stays counted) */
    if (how == 2) {
        c_keep(c, p->op);
        return;
    }
    int rc = how == 0 ? maillimit_commit(c->ml, p->token) : maillimit_release(c->ml, p->token);
    if (rc != 0) {
        fail("c: %s of a fresh token: %d", how == 0 ? "commit" : "release", rc);
        c_keep(c, p->op); /* whatever happened, the units did not come back */
        return;
    }
    if (how == 0) {
        c->committed++;
        c_keep(c, p->op);
    } else {
        c->released++;
    }
    /* Using it again must be refused and change nothing. */
    if ((xorshift(&c->seed) & 7) == 0) {
        int again = (xorshift(&c->seed) & 1) ? maillimit_commit(c->ml, p->token)
                                             : maillimit_release(c->ml, p->token);
        if (again != MAILLIMIT_ENOTFOUND)
            fail("c: second use of a token returned %d, expected ENOTFOUND", again);
    }
}

static void *c_main(void *p)
{
    struct c_thread *c = p;
    struct c_pending pend[C_PENDING];
    int npend = 0;
    pthread_barrier_wait(c->start);
    for (int i = 0; i < C_OPS; i++) {
        uint64_t r = xorshift(&c->seed);
        struct c_op op;
        op.sender = (int16_t)(r % C_SENDERS);
        op.cost = (int16_t)(1 + (r >> 8) % 3);
        /* Time runs from T0+55 to T0+65 over the run, with a second of jitter, so the
         * threads cross the minute boundary at T0+60 at different moments. */
        op.dt = 55 + (int32_t)((int64_t)i * 11 / C_OPS) + (int32_t)((r >> 16) & 1);
        int kind = (int)((r >> 20) & 3);
        if (kind == 3 && npend > 0) {
            c_resolve(c, &pend[0], (int)((r >> 24) & 1));
            memmove(&pend[0], &pend[1], (size_t)(npend - 1) * sizeof pend[0]);
            npend--;
            continue;
        }
        if (kind == 2 && npend == C_PENDING) {
            c_resolve(c, &pend[0], (int)((r >> 24) & 1));
            memmove(&pend[0], &pend[1], (size_t)(npend - 1) * sizeof pend[0]);
            npend--;
        }
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        int rc = kind == 2 ? maillimit_reserve(c->ml, c_level[op.sender], c_name[op.sender],
                                               op.cost, T0 + op.dt, &v)
                           : maillimit_decide(c->ml, c_level[op.sender], c_name[op.sender],
                                              op.cost, T0 + op.dt, &v);
        if (rc != 0) {
            fail("c: decide/reserve(%s): %d", c_name[op.sender], rc);
            continue;
        }
        if (v.decision != MAILLIMIT_ALLOW) {
            c->denied++;
            if (v.reason != MAILLIMIT_REASON_LIMIT)
                fail("c: denied with reason %d", v.reason);
            continue;
        }
        c->allowed++;
        if (v.token == 0)
            fail("c: allowed without a token");
        if (kind == 2) {
            c->reserved++;
            pend[npend].token = v.token;
            pend[npend].op = op;
            npend++;
        } else {
            c_keep(c, op);
        }
    }
    for (int k = 0; k < npend; k++)
        c_resolve(c, &pend[k], k % 3);
    return NULL;
}

static int c_cmp(const void *a, const void *b)
{
    const struct c_op *x = a, *y = b;
    return (x->dt > y->dt) - (x->dt < y->dt);
}

struct c_expect {
    const char *what;
    int level;
    const char *name;
    int64_t count;
    int64_t limit; /* -1: none */
};

static void part_c(int rounds, int64_t *accepted_total)
{
    c_names();
    const int64_t tf = T0 + 70; /* every op was at T0+55..T0+66: all in both windows */
    for (int round = 0; round < rounds; round++) {
        maillimit *ml = c_handle(1);
        pthread_t th[THREADS];
        struct c_thread ct[THREADS];
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        for (int t = 0; t < THREADS; t++) {
            memset(&ct[t], 0, sizeof ct[t]);
            ct[t].ml = ml;
            ct[t].start = &start;
            ct[t].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(round * THREADS + t + 1);
            ct[t].log = calloc(C_OPS + C_PENDING, sizeof *ct[t].log);
            if (!ct[t].log || pthread_create(&th[t], NULL, c_main, &ct[t]) != 0) {
                fail("c: thread setup");
                exit(2);
            }
        }
        int64_t units[C_SENDERS] = {0};
        int nall = 0;
        for (int t = 0; t < THREADS; t++) {
            pthread_join(th[t], NULL);
            for (int s = 0; s < C_SENDERS; s++)
                units[s] += ct[t].final_units[s];
            nall += ct[t].nlog;
        }
        pthread_barrier_destroy(&start);

        /* Expected counts from the units that stay counted. */
        int64_t c1 = units[16], c2 = units[17], d = 0, all = 0;
        for (int i = 0; i < 8; i++) {
            c1 += units[i];
            c2 += units[8 + i];
        }
        for (int i = 19; i < 23; i++)
            d += units[i];
        int64_t csub = c1 + c2 + units[18];
        all = csub + d;
        *accepted_total += all;

        /* The serial replay: the same counted operations, in time order, on a fresh
         * handle without limits. */
        struct c_op *ops = calloc((size_t)nall + 1, sizeof *ops);
        int n = 0;
        for (int t = 0; t < THREADS; t++) {
            memcpy(ops + n, ct[t].log, (size_t)ct[t].nlog * sizeof *ops);
            n += ct[t].nlog;
        }
        qsort(ops, (size_t)n, sizeof *ops, c_cmp);
        maillimit *serial = c_handle(0);
        for (int k = 0; k < n; k++) {
            maillimit_verdict v;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            must(maillimit_decide(serial, c_level[ops[k].sender], c_name[ops[k].sender],
                                  ops[k].cost, T0 + ops[k].dt, &v),
                 "c: serial decide");
            if (v.decision != MAILLIMIT_ALLOW)
                fail("c: serial replay denied");
        }

        struct c_expect ex[C_SENDERS + 8];
        int ne = 0;
        for (int i = 0; i < 16; i++)
            ex[ne++] = (struct c_expect){"mailbox", MBX, c_name[i], units[i], 30};
        for (int i = 19; i < 23; i++)
            ex[ne++] = (struct c_expect){"mailbox of d", MBX, c_name[i], units[i], -1};
        ex[ne++] = (struct c_expect){"domain c1", DOM, "c1.example", c1, 150};
        ex[ne++] = (struct c_expect){"domain c2", DOM, "c2.example", c2, 100};
        ex[ne++] = (struct c_expect){"domain d1", DOM, "d1.example", d, -1};
        ex[ne++] = (struct c_expect){"subscription c", SUB, "c", csub, 220};
        ex[ne++] = (struct c_expect){"subscription d", SUB, "d", d, -1};
        ex[ne++] = (struct c_expect){"server", SRV, NULL, all, 300};
        for (int k = 0; k < ne; k++) {
            for (int w = HOUR; w <= DAY; w++) {
                char buf[128];
                int64_t got = count_of(ml, ex[k].level, ex[k].name, w, tf);
                int64_t ser = count_of(serial, ex[k].level, ex[k].name, w, tf);
                snprintf(buf, sizeof buf, "c round %d: %s %s %s count", round, ex[k].what,
                         ex[k].name ? ex[k].name : "", w == HOUR ? "hour" : "day");
                CHECK_EQ(buf, got, ex[k].count);
                snprintf(buf, sizeof buf, "c round %d: %s %s %s serial replay", round,
                         ex[k].what, ex[k].name ? ex[k].name : "", w == HOUR ? "hour" : "day");
                CHECK_EQ(buf, ser, got);
                if (ex[k].limit >= 0 && got > ex[k].limit)
                    fail("c round %d: %s %s count %lld over its limit %lld", round, ex[k].what,
                         ex[k].name ? ex[k].name : "", (long long)got,
                         (long long)ex[k].limit);
            }
        }
        /* The limits were reached (the load is far above them), so they were tested. */
        if (csub < 150)
            fail("c round %d: subscription c only reached %lld", round, (long long)csub);
        free(ops);
        maillimit_free(serial);
        for (int t = 0; t < THREADS; t++)
            free(ct[t].log);
        maillimit_free(ml);
    }
}

/* ---- (d): implicit mailboxes, moves and table growth while deciding ------------------- */

enum { D_IMPLICIT = 512, D_DECIDERS = 3, D_ROUNDS_PER_THREAD = 3, D_CHURN = 3000 };

struct d_thread {
    maillimit *ml;
    pthread_barrier_t *start;
    int64_t sent_implicit[D_IMPLICIT];
    int64_t sent_mover;
};

static void *d_decider(void *p)
{
    struct d_thread *d = p;
    char addr[64];
    pthread_barrier_wait(d->start);
    for (int r = 0; r < D_ROUNDS_PER_THREAD; r++) {
        for (int i = 0; i < D_IMPLICIT; i++) {
            maillimit_verdict v;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            snprintf(addr, sizeof addr, "imp%d@stable.example", i);
            int rc = maillimit_decide(d->ml, MBX, addr, 1, T0 + 30, &v);
            if (rc != 0 || v.decision != MAILLIMIT_ALLOW || v.reason != MAILLIMIT_REASON_NONE)
                fail("d: decide(%s): rc %d decision %d reason %d", addr, rc, v.decision,
                     v.reason);
            else
                d->sent_implicit[i]++;
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            rc = maillimit_decide(d->ml, MBX, "x@mv.example", 2, T0 + 30, &v);
            if (rc != 0 || v.decision != MAILLIMIT_ALLOW || v.reason != MAILLIMIT_REASON_NONE)
                fail("d: decide(x@mv.example): rc %d decision %d reason %d", rc, v.decision,
                     v.reason);
            else
                d->sent_mover += 2;
        }
    }
    return NULL;
}

struct d_churn {
    maillimit *ml;
    pthread_barrier_t *start;
};

static void *d_churner(void *p)
{
    struct d_churn *c = p;
    char addr[64];
    pthread_barrier_wait(c->start);
    for (int i = 0; i < D_CHURN; i++) {
        snprintf(addr, sizeof addr, "churn%d@churn.example", i);
        must(maillimit_mailbox_add(c->ml, addr), "d: churn mailbox_add");
        if (i % 16 == 0)
            must(maillimit_domain_move(c->ml, "mv.example", (i / 16) % 2 ? "m2" : "m1"),
                 "d: domain_move");
        if (i % 64 == 0)
            must(maillimit_limit_set(c->ml, MBX, "churn0@churn.example", MBX, HOUR,
                                     (i / 64) % 2 ? MAILLIMIT_UNLIMITED : 1000),
                 "d: limit_set");
    }
    for (int i = 0; i < D_CHURN; i += 2) {
        snprintf(addr, sizeof addr, "churn%d@churn.example", i);
        must(maillimit_remove(c->ml, MBX, addr), "d: churn remove");
    }
    return NULL;
}

static void part_d(int rounds)
{
    char addr[64];
    for (int round = 0; round < rounds; round++) {
        maillimit *ml = new_handle();
        must(maillimit_subscription_add(ml, "st", NULL), "d: subscription_add");
        must(maillimit_subscription_add(ml, "m1", NULL), "d: subscription_add m1");
        must(maillimit_subscription_add(ml, "m2", NULL), "d: subscription_add m2");
        must(maillimit_domain_add(ml, "stable.example", "st"), "d: domain_add");
        must(maillimit_domain_add(ml, "churn.example", "st"), "d: domain_add churn");
        must(maillimit_domain_add(ml, "mv.example", "m1"), "d: domain_add mv");
        must(maillimit_mailbox_add(ml, "x@mv.example"), "d: mailbox_add mover");

        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, D_DECIDERS + 1);
        pthread_t th[D_DECIDERS + 1];
        struct d_thread dt[D_DECIDERS];
        struct d_churn churn = {ml, &start};
        for (int t = 0; t < D_DECIDERS; t++) {
            memset(&dt[t], 0, sizeof dt[t]);
            dt[t].ml = ml;
            dt[t].start = &start;
            if (pthread_create(&th[t], NULL, d_decider, &dt[t]) != 0)
                exit(2);
        }
        if (pthread_create(&th[D_DECIDERS], NULL, d_churner, &churn) != 0)
            exit(2);
        for (int t = 0; t <= D_DECIDERS; t++)
            pthread_join(th[t], NULL);
        pthread_barrier_destroy(&start);

        int64_t implicit_total = 0, mover = 0;
        for (int i = 0; i < D_IMPLICIT; i++) {
            int64_t sent = 0;
            for (int t = 0; t < D_DECIDERS; t++)
                sent += dt[t].sent_implicit[i];
            implicit_total += sent;
            snprintf(addr, sizeof addr, "imp%d@stable.example", i);
            CHECK_EQ("d: implicit mailbox count", count_of(ml, MBX, addr, HOUR, T0 + 31), sent);
            CHECK_EQ("d: implicit mailbox count (expected)", sent,
                     D_DECIDERS * D_ROUNDS_PER_THREAD);
        }
        for (int t = 0; t < D_DECIDERS; t++)
            mover += dt[t].sent_mover;
        /* An implicit mailbox found by another decider while it is being created must
         * already have its parent: its units belong to the domain and subscription too. */
        CHECK_EQ("d: stable domain", count_of(ml, DOM, "stable.example", HOUR, T0 + 31),
                 implicit_total);
        CHECK_EQ("d: subscription st", count_of(ml, SUB, "st", HOUR, T0 + 31), implicit_total);
        CHECK_EQ("d: moved mailbox", count_of(ml, MBX, "x@mv.example", HOUR, T0 + 31), mover);
        CHECK_EQ("d: moved domain", count_of(ml, DOM, "mv.example", HOUR, T0 + 31), mover);
        /* Each unit of the moving domain went to exactly one of the two subscriptions. */
        CHECK_EQ("d: m1 + m2", count_of(ml, SUB, "m1", HOUR, T0 + 31) +
                                   count_of(ml, SUB, "m2", HOUR, T0 + 31),
                 mover);
        CHECK_EQ("d: server", count_of(ml, SRV, NULL, HOUR, T0 + 31), implicit_total + mover);
        /* The churned table is intact: odd ones are there, even ones are gone. */
        for (int i = 0; i < D_CHURN; i += 97) {
            maillimit_status s;
            maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
            snprintf(addr, sizeof addr, "churn%d@churn.example", i);
            int rc = maillimit_status_get(ml, MBX, addr, HOUR, T0 + 31, &s);
            CHECK_EQ("d: churned mailbox lookup", rc, i % 2 ? 0 : MAILLIMIT_ENOTFOUND);
        }
        maillimit_free(ml);
    }
}

static double elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(void)
{
    struct timespec t0;
    double part[5];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int scale = stress_scale();
    int64_t c_accepted = 0;
    part_a(5 * scale);
    part[0] = elapsed(&t0);
    part_a2(5 * scale);
    part[1] = elapsed(&t0);
    part_b(5 * scale);
    part[2] = elapsed(&t0);
    part_c(6 * scale, &c_accepted);
    part[3] = elapsed(&t0);
    part_d(3 * scale);
    part[4] = elapsed(&t0);
    double secs = part[4];
    fprintf(stderr, "stress_decide: times a %.2f a2 %.2f b %.2f c %.2f d %.2f s\n", part[0],
            part[1] - part[0], part[2] - part[1], part[3] - part[2], part[4] - part[3]);
    if (failures) {
        printf("stress_decide: FAILED %d checks (scale %d, %.2f s)\n", failures, scale, secs);
        return 1;
    }
    printf("stress_decide: OK (scale %d: a %d, a2 %d, b %d rounds exact; c %d rounds, %lld "
           "units replayed; d %d rounds; %.2f s)\n",
           scale, 5 * scale, 5 * scale, 5 * scale, 6 * scale, (long long)c_accepted, 3 * scale,
           secs);
    return 0;
}
