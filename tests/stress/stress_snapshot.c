/* SPDX-License-Identifier: MIT */
/* Stress: snapshots taken and loaded while threads decide on the same handle.
 *
 *  (a) 3 threads decide over 200 mailboxes (limit 40 each) at a fixed `now` while the main
 *      thread saves to memory again and again. Every snapshot loads; in none does a
 *      mailbox exceed its limit; counts never go down from one snapshot to the next; after
 *      the threads stop, a last snapshot reloads to exactly the live state.
 *  (b) 3 threads decide (and create implicit mailboxes) while the main thread loads two
 *      snapshots in turn, also adding entities between loads. Then, with the threads
 *      stopped, snapshot A is loaded once more and must save back byte for byte; and 3
 *      threads deciding on that loaded state admit exactly what its limits leave (the
 *      server total, held in the loaded lanes, included): loaded totals match their slots.
 *
 * STRESS_SCALE (default 1) multiplies the rounds. Exit status 0 on success.
 */
#define _POSIX_C_SOURCE 200809L

#include <maillimit.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1767261600LL /* 2026-01-01 10:00:00 UTC */
#define THREADS 3
#define NMB 200

#define MBX MAILLIMIT_LEVEL_MAILBOX
#define DOM MAILLIMIT_LEVEL_DOMAIN
#define SUB MAILLIMIT_LEVEL_SUBSCRIPTION
#define SRV MAILLIMIT_LEVEL_SERVER
#define HOUR MAILLIMIT_WINDOW_HOUR
#define DAY MAILLIMIT_WINDOW_DAY

static _Atomic int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    if (failures++ < 30) {
        fputs("stress_snapshot: FAIL: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
}

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "stress_snapshot: %s: %s (%d)\n", what, maillimit_strerror(rc), rc);
        exit(1);
    }
}

static int64_t count_of(maillimit *ml, int level, const char *name, int64_t now)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    must(maillimit_status_get(ml, level, name, HOUR, now, &s), "status_get");
    return s.count;
}

static char names[NMB][32];

static maillimit *base(int64_t mailbox_limit, int64_t server_limit)
{
    maillimit *ml;
    must(maillimit_new(&ml), "new");
    must(maillimit_subscription_add(ml, "s1", NULL), "sub");
    must(maillimit_subscription_add(ml, "s2", NULL), "sub");
    must(maillimit_domain_add(ml, "a.example", "s1"), "domain");
    must(maillimit_domain_add(ml, "b.example", "s2"), "domain");
    for (int i = 0; i < NMB; i++) {
        snprintf(names[i], sizeof names[i], "u%d@%s.example", i, i % 2 ? "a" : "b");
        must(maillimit_mailbox_add(ml, names[i]), "mailbox");
    }
    must(maillimit_limit_set(ml, SRV, NULL, MBX, HOUR, mailbox_limit), "limit");
    if (server_limit >= 0)
        must(maillimit_limit_set(ml, SRV, NULL, SRV, HOUR, server_limit), "limit");
    return ml;
}

struct job {
    maillimit *ml;
    int id, rounds, implicit;
    int64_t now;
    _Atomic int *stop;
    long allowed;
};

static void *decider(void *arg)
{
    struct job *j = arg;
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    unsigned x = 2463534242u * (unsigned)(j->id + 1);
    char buf[48];
    for (int r = 0; r < j->rounds && !(j->stop && atomic_load(j->stop)); r++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        const char *s = names[x % NMB];
        if (j->implicit && x % 7 == 0) {
            snprintf(buf, sizeof buf, "i%u@a.example", x % 500);
            s = buf;
        }
        int rc = maillimit_decide(j->ml, MBX, s, 1, j->now, &v);
        if (rc == 0 && v.decision == MAILLIMIT_ALLOW)
            j->allowed++;
        else if (rc != 0)
            fail("decide %s: %d", s, rc);
    }
    return NULL;
}

static void run(struct job *jobs, int n, pthread_t *th)
{
    for (int i = 0; i < n; i++)
        pthread_create(&th[i], NULL, decider, &jobs[i]);
}

static void join(int n, pthread_t *th)
{
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

static void save(maillimit *ml, void **p, size_t *n)
{
    char err[256];
    int rc = maillimit_snapshot_save_mem(ml, p, n, err, sizeof err);
    if (rc)
        fail("save_mem: %s", err);
}

static maillimit *load(const void *p, size_t n)
{
    maillimit *ml;
    char err[256];
    must(maillimit_new(&ml), "new");
    int rc = maillimit_snapshot_load_mem(ml, p, n, err, sizeof err);
    if (rc)
        fail("load_mem: %s", err);
    return ml;
}

static void part_a(int scale)
{
    maillimit *ml = base(40, -1);
    _Atomic int stop = 0;
    struct job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (struct job){ml, i, 20000 * scale, 0, T0 + 5, &stop, 0};
    run(jobs, THREADS, th);
    int64_t prev[NMB] = {0};
    int snaps = 0;
    for (int k = 0; k < 20 * scale; k++, snaps++) {
        void *p = NULL;
        size_t n = 0;
        save(ml, &p, &n);
        maillimit *got = load(p, n);
        for (int i = 0; i < NMB; i++) {
            int64_t c = count_of(got, MBX, names[i], T0 + 5);
            if (c > 40)
                fail("(a) snapshot %d: %s holds %lld > 40", k, names[i], (long long)c);
            if (c < prev[i])
                fail("(a) snapshot %d: %s went down %lld -> %lld", k, names[i],
                     (long long)prev[i], (long long)c);
            prev[i] = c;
        }
        /* (the server's counter is read first, the mailboxes' later: a snapshot taken while
         * deciders run is exact per counter, at some instant of the save, not across them) */
        maillimit_free(got);
        maillimit_buffer_free(p);
    }
    join(THREADS, th);
    long allowed = 0;
    for (int i = 0; i < THREADS; i++)
        allowed += jobs[i].allowed;
    void *p = NULL;
    size_t n = 0;
    save(ml, &p, &n);
    maillimit *got = load(p, n);
    int64_t sum = 0;
    for (int i = 0; i < NMB; i++) {
        int64_t a = count_of(ml, MBX, names[i], T0 + 5), b = count_of(got, MBX, names[i], T0 + 5);
        if (a != b)
            fail("(a) quiet snapshot: %s %lld vs %lld", names[i], (long long)a, (long long)b);
        sum += a;
    }
    if (sum != allowed || count_of(got, SRV, NULL, T0 + 5) != allowed)
        fail("(a) allowed %ld, counted %lld", allowed, (long long)sum);
    maillimit_free(got);
    maillimit_buffer_free(p);
    maillimit_free(ml);
    printf("stress_snapshot: (a) %d snapshots during %ld admitted decisions\n", snaps, allowed);
}

static void part_b(int scale)
{
    /* A: server total 3000 per hour with 1000 already counted, mailbox limit 30 */
    maillimit *a = base(30, 3000);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    for (int i = 0; i < 1000; i++)
        must(maillimit_decide(a, MBX, names[i % NMB], 1, T0 - 600 + i % 600, &v), "decide");
    must(maillimit_domain_add(a, "c.example", "s1"), "domain");
    void *pa = NULL, *pb = NULL;
    size_t na = 0, nb = 0;
    save(a, &pa, &na);
    maillimit *b = base(10, -1);
    save(b, &pb, &nb);

    maillimit *ml = base(5, -1);
    _Atomic int stop = 0;
    struct job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (struct job){ml, i, 1 << 30, 1, T0, &stop, 0};
    run(jobs, THREADS, th);
    char buf[48];
    for (int k = 0; k < 60 * scale; k++) {
        char err[256];
        int rc = maillimit_snapshot_load_mem(ml, k % 2 ? pb : pa, k % 2 ? nb : na, err,
                                             sizeof err);
        if (rc)
            fail("(b) load %d: %s", k, err);
        snprintf(buf, sizeof buf, "extra%d@a.example", k);
        must(maillimit_mailbox_add(ml, buf), "mailbox_add between loads");
        must(maillimit_limit_set(ml, DOM, "a.example", MBX, DAY, 1000 + k), "limit");
        void *p = NULL;
        size_t n = 0;
        save(ml, &p, &n); /* saves race with the deciders and the loads' aftermath */
        maillimit_free(load(p, n));
        maillimit_buffer_free(p);
    }
    atomic_store(&stop, 1);
    join(THREADS, th);

    must(maillimit_snapshot_load_mem(ml, pa, na, NULL, 0), "final load");
    void *p = NULL;
    size_t n = 0;
    save(ml, &p, &n);
    if (n != na || memcmp(p, pa, n) != 0)
        fail("(b) the state loaded last does not save back to the same bytes");
    maillimit_buffer_free(p);

    /* exactness on the loaded state: 2000 more units fit under the server total */
    int64_t before[NMB], server_before = count_of(ml, SRV, NULL, T0);
    int64_t room = 0;
    for (int i = 0; i < NMB; i++) {
        before[i] = count_of(ml, MBX, names[i], T0);
        room += 30 - before[i];
    }
    if (server_before != 1000)
        fail("(b) loaded server count %lld, expected 1000", (long long)server_before);
    for (int i = 0; i < THREADS; i++)
        jobs[i] = (struct job){ml, i + 10, 20000 * scale, 0, T0, NULL, 0};
    run(jobs, THREADS, th);
    join(THREADS, th);
    long allowed = 0;
    for (int i = 0; i < THREADS; i++)
        allowed += jobs[i].allowed;
    int64_t want = room < 2000 ? room : 2000;
    if (allowed != want)
        fail("(b) admitted %ld after the load, exactly %lld fit", allowed, (long long)want);
    int64_t server_after = count_of(ml, SRV, NULL, T0);
    if (server_after != server_before + allowed)
        fail("(b) server count %lld, expected %lld", (long long)server_after,
             (long long)(server_before + allowed));
    for (int i = 0; i < NMB; i++)
        if (count_of(ml, MBX, names[i], T0) > 30)
            fail("(b) %s over its limit after the load", names[i]);
    maillimit_buffer_free(pa);
    maillimit_buffer_free(pb);
    maillimit_free(a);
    maillimit_free(b);
    maillimit_free(ml);
    printf("stress_snapshot: (b) %d loads under deciders; then %ld admitted of %lld room\n",
           60 * scale, allowed, (long long)want);
}

int main(void)
{
    const char *e = getenv("STRESS_SCALE");
    int scale = e && atoi(e) > 0 ? atoi(e) : 1;
    part_a(scale);
    part_b(scale);
    if (failures) {
        fprintf(stderr, "stress_snapshot: %d failures\n", failures);
        return 1;
    }
    printf("stress_snapshot: ok\n");
    return 0;
}
