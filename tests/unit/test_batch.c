/* SPDX-License-Identifier: MIT */
/* maillimit_decide_many(): a batch decides exactly as the same requests decided one by one
 * with maillimit_decide() (a twin handle from the same configuration: every verdict field by
 * field, then every counter, summary and top list), and its error paths (the call refused,
 * a bad request in the middle: the ones before it decided, the rest untouched). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <maillimit.h>

#include "fixture.h"

/* Small limits at every level and both windows, an exempt mailbox, a subscription without
 * sendmail, system users, and room for implicit mailboxes; the server's line comes first. */
#define HIERARCHY \
    "plan basic mailbox=5 mailbox.day=9 domain=12 sendmail=yes\n" \
    "subscription acme plan=basic subscription=25 subscription.day=40\n" \
    "subscription beta sendmail=no\n" \
    "subscription gamma plan=basic\n" \
    "domain acme.example subscription=acme\n" \
    "domain shop.example subscription=acme domain=8\n" \
    "domain beta.example subscription=beta\n" \
    "domain gamma.example subscription=gamma mailbox=3\n" \
    "mailbox a@acme.example\n" \
    "mailbox b@acme.example mailbox=2\n" \
    "mailbox s@shop.example\n" \
    "mailbox vip@shop.example exempt=yes\n" \
    "mailbox c@beta.example\n" \
    "mailbox g@gamma.example mailbox.day=4\n" \
    "sysuser acme_web subscription=acme\n" \
    "sysuser beta_web subscription=beta\n"

static const char config[] =
    "server mailbox=6 domain=15 subscription=30 server=200 server.day=400\n" HIERARCHY;

struct sender {
    int level;
    const char *name;
};

/* Registered senders, implicit mailboxes of known domains (some in upper case), unknown
 * domains and names, every level. */
static const struct sender senders[] = {
    {MBX, "a@acme.example"},   {MBX, "b@acme.example"},   {MBX, "s@shop.example"},
    {MBX, "vip@shop.example"}, {MBX, "c@beta.example"},   {MBX, "g@gamma.example"},
    {MBX, "new1@acme.example"}, {MBX, "NEW1@Acme.Example"}, {MBX, "new2@shop.example"},
    {MBX, "new3@gamma.example"}, {MBX, "x@unknown.example"}, {DOM, "acme.example"},
    {DOM, "shop.example"},     {DOM, "gamma.example"},    {DOM, "nowhere.example"},
    {SUB, "acme"},             {SUB, "beta"},             {SUB, "acme_web"},
    {SUB, "beta_web"},         {SUB, "nobody"},
};
enum { NSENDERS = sizeof senders / sizeof senders[0] };

/* Entities whose counters are compared at the end. */
static const struct sender counted[] = {
    {SRV, NULL},              {SUB, "acme"},             {SUB, "beta"},
    {SUB, "gamma"},           {DOM, "acme.example"},     {DOM, "shop.example"},
    {DOM, "beta.example"},    {DOM, "gamma.example"},    {MBX, "a@acme.example"},
    {MBX, "b@acme.example"},  {MBX, "s@shop.example"},   {MBX, "vip@shop.example"},
    {MBX, "c@beta.example"},  {MBX, "g@gamma.example"},  {MBX, "new1@acme.example"},
    {MBX, "new2@shop.example"}, {MBX, "new3@gamma.example"},
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

#define VERDICT_EQ(a, b, what)                                                                \
    do {                                                                                      \
        cr_assert_eq((a).version, (b).version, "%s: version", what);                          \
        cr_assert_eq((a).decision, (b).decision, "%s: decision %d, one by one %d", what,      \
                     (a).decision, (b).decision);                                             \
        cr_assert_eq((a).reason, (b).reason, "%s: reason", what);                             \
        cr_assert_eq((a).level, (b).level, "%s: level", what);                                \
        cr_assert_eq((a).window, (b).window, "%s: window", what);                             \
        cr_assert_eq((a).reserved_, (b).reserved_, "%s: reserved_", what);                    \
        cr_assert_eq((a).limit, (b).limit, "%s: limit", what);                                \
        cr_assert_eq((a).count, (b).count, "%s: count", what);                                \
        cr_assert_eq((a).retry_after, (b).retry_after, "%s: retry_after", what);              \
        cr_assert_eq((a).token, (b).token, "%s: token", what);                                \
    } while (0)

static void same_state(maillimit *x, maillimit *y, int64_t now)
{
    for (size_t i = 0; i < sizeof counted / sizeof counted[0]; i++)
        for (int w = HOUR; w <= DAY; w++) {
            maillimit_status s, t;
            maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
            maillimit_status_init(&t, MAILLIMIT_STATUS_VERSION);
            const char *name = counted[i].name;
            OK(maillimit_status_get(x, counted[i].level, name, w, now, &s));
            OK(maillimit_status_get(y, counted[i].level, name, w, now, &t));
            cr_assert(memcmp(&s, &t, sizeof s) == 0,
                      "%s window %d: count %lld / %lld, sending %d / %d, retry %lld / %lld",
                      name ? name : "server", w, (long long)s.count, (long long)t.count,
                      s.sending, t.sending, (long long)s.retry_after, (long long)t.retry_after);
        }
    static const int scopes[][2] = {{SRV, -1}, {SUB, 15}, {DOM, 11}};
    for (size_t k = 0; k < sizeof scopes / sizeof scopes[0]; k++) {
        const char *name = scopes[k][1] < 0 ? NULL : senders[scopes[k][1]].name;
        maillimit_summary s, t;
        maillimit_summary_init(&s, MAILLIMIT_SUMMARY_VERSION);
        maillimit_summary_init(&t, MAILLIMIT_SUMMARY_VERSION);
        OK(maillimit_summary_get(x, scopes[k][0], name, 0, now + 1, now, &s));
        OK(maillimit_summary_get(y, scopes[k][0], name, 0, now + 1, now, &t));
        cr_assert(memcmp(&s, &t, sizeof s) == 0,
                  "summary of %s: sent %lld / %lld, denied %lld / %lld, exempt %lld / %lld, "
                  "unattributed %lld / %lld, limited %lld / %lld",
                  name ? name : "server", (long long)s.sent, (long long)t.sent,
                  (long long)s.denied, (long long)t.denied, (long long)s.exempt,
                  (long long)t.exempt, (long long)s.unattributed, (long long)t.unattributed,
                  (long long)s.limited_entities, (long long)t.limited_entities);
    }
    for (int level = SUB; level <= MBX; level++) {
        maillimit_top_row a[8], b[8];
        maillimit_top_row_init(&a[0], MAILLIMIT_TOP_ROW_VERSION);
        maillimit_top_row_init(&b[0], MAILLIMIT_TOP_ROW_VERSION);
        size_t na = 8, nb = 8;
        OK(maillimit_top(x, level, MAILLIMIT_METRIC_DENIED, 0, now + 1, SRV, NULL, now, a, &na));
        OK(maillimit_top(y, level, MAILLIMIT_METRIC_DENIED, 0, now + 1, SRV, NULL, now, b, &nb));
        EQ(na, nb);
        for (size_t i = 0; i < na; i++) {
            STREQ(a[i].name, b[i].name);
            EQ(a[i].denied, b[i].denied);
            EQ(a[i].sent, b[i].sent);
            EQ(a[i].exempt, b[i].exempt);
        }
    }
}

/* The same configuration with the server total unlimited: a chunk of a batch then charges the
 * server lane once from a reservation (decide.c, struct defer), with every kind of request
 * (allowed, denied, exempt, not allowed, unknown) in the chunks. */
static const char config_unlimited_server[] =
    "server mailbox=6 domain=15 subscription=30\n" HIERARCHY;

/* Batches of 1..maxn random requests on x, the same requests one by one on y; time moves by
 * seconds, minutes and hours between batches, and goes back a little when `backwards`. */
static void twin_run(const char *cfg, size_t maxn, int backwards)
{
    enum { MAXN = 64 };
    cr_assert(maxn <= MAXN);
    rng_state = 0x9e3779b97f4a7c15ull;
    maillimit *x = fixture_from(cfg), *y = fixture_from(cfg);
    int64_t now = T;
    size_t allowed = 0, denied = 0;
    for (int round = 0; round < 400; round++) {
        maillimit_request rq[MAXN];
        maillimit_verdict vb[MAXN], vs;
        size_t n = 1 + rnd((uint32_t)maxn);
        for (size_t i = 0; i < n; i++) {
            OK(maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION));
            const struct sender *s = &senders[rnd(NSENDERS)];
            rq[i].level = s->level;
            rq[i].sender = s->name;
            rq[i].cost = 1 + rnd(3);
        }
        OK(maillimit_verdict_init(&vb[0], MAILLIMIT_VERDICT_VERSION));
        size_t done = 99;
        OK(maillimit_decide_many(x, rq, n, now, vb, &done));
        EQ(done, n);
        for (size_t i = 0; i < n; i++) {
            maillimit_verdict_init(&vs, MAILLIMIT_VERDICT_VERSION);
            OK(maillimit_decide(y, rq[i].level, rq[i].sender, rq[i].cost, now, &vs));
            char what[64];
            snprintf(what, sizeof what, "round %d request %zu", round, i);
            VERDICT_EQ(vb[i], vs, what);
            if (vs.decision == MAILLIMIT_ALLOW)
                allowed++;
            else
                denied++;
        }
        now += rnd(4) == 0 ? 300 + rnd(900) : rnd(20); /* minutes and hours go by */
        if (backwards && rnd(10) == 0)
            now -= 60 + rnd(120); /* the caller's clock stepped back */
        if (round % 50 == 49) {
            same_state(x, y, now);
            OK(maillimit_tick(x, now));
            OK(maillimit_tick(y, now));
        }
    }
    same_state(x, y, now);
    cr_assert(allowed > 100 && denied > 100, "the workload hits the limits: %zu allowed, %zu "
              "denied", allowed, denied);
    maillimit_free(x);
    maillimit_free(y);
}

Test(batch, equals_one_by_one_decisions)
{
    twin_run(config, 40, 0);
}

/* The server lane charged once per chunk: full chunks of mostly allowed requests, then chunks
 * of all kinds, with time going back now and then. */
Test(batch, equals_one_by_one_decisions_unlimited_server)
{
    twin_run(config_unlimited_server, 40, 0);
    twin_run(config_unlimited_server, 64, 1);
}

/* Decide rq[0..n) on x with maillimit_decide_many() and on y one by one (stopping at the first
 * error, as a batch does); the same result, the same verdicts, the same counts. */
static void twin_batch(maillimit *x, maillimit *y, const maillimit_request *rq, size_t n,
                       int64_t now, int expect, size_t expect_done)
{
    maillimit_verdict vb[64], vs;
    cr_assert(n <= 64);
    OK(maillimit_verdict_init(&vb[0], MAILLIMIT_VERDICT_VERSION));
    size_t done = 99;
    EQ(maillimit_decide_many(x, rq, n, now, vb, &done), expect);
    EQ(done, expect_done);
    size_t i = 0;
    int rc = 0;
    for (; i < n; i++) {
        maillimit_verdict_init(&vs, MAILLIMIT_VERDICT_VERSION);
        rc = maillimit_decide(y, rq[i].level, rq[i].sender, rq[i].cost, now, &vs);
        if (rc)
            break;
        char what[64];
        snprintf(what, sizeof what, "request %zu", i);
        VERDICT_EQ(vb[i], vs, what);
    }
    EQ(rc, expect);
    EQ(i, expect_done);
}

static void same_counts(maillimit *x, maillimit *y, const char *const *mailboxes, int64_t now)
{
    for (int w = HOUR; w <= DAY; w++) {
        EQ(cnt(x, SRV, NULL, w, now), cnt(y, SRV, NULL, w, now));
        for (size_t k = 0; mailboxes[k]; k++)
            EQ(cnt(x, MBX, mailboxes[k], w, now), cnt(y, MBX, mailboxes[k], w, now));
    }
}

/* A capacity ERANGE mid-chunk while the server is unlimited. (1) The server lane's minute slot
 * is the one full: the chunk's reservation does not fit, the requests charge the lane one by
 * one and the first that does not fit fails; (2) another counter is full (the server's count
 * was reset, so its lane has room): the reservation fits, the requests before the failing one
 * are counted in the lane, and the rest of the reservation is given back. Either way as one
 * by one. */
Test(batch, capacity_mid_chunk_with_unlimited_server)
{
    static const char cfg[] = "subscription s\ndomain acme.example subscription=s\n"
                              "mailbox big@acme.example\n"
                              "domain other.example subscription=s\n"
                              "mailbox o1@other.example\nmailbox o2@other.example\n"
                              "subscription f\ndomain fill.example subscription=f\n"
                              "mailbox fill@fill.example\n";
    static const char *const mailboxes[] = {"big@acme.example", "fill@fill.example",
                                            "o1@other.example", "o2@other.example", NULL};
    const int64_t M = MAILLIMIT_COST_MAX; /* 16 * M < 16777215 < 17 * M */
    maillimit_request rq[20];
    for (int i = 0; i < 20; i++) {
        maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
        rq[i].sender = i % 2 ? "o1@other.example" : "o2@other.example";
        rq[i].cost = M;
    }
    /* (1) 10 M already in the lane (from another subscription): the 7th request of the batch
     * would take the lane's minute past its capacity */
    maillimit *x = fixture_from(cfg), *y = fixture_from(cfg);
    for (int k = 0; k < 10; k++) {
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        OK(maillimit_decide(x, MBX, "fill@fill.example", M, T, &v));
        OK(maillimit_decide(y, MBX, "fill@fill.example", M, T, &v));
    }
    twin_batch(x, y, rq, 20, T + 5, MAILLIMIT_ERANGE, 6);
    same_counts(x, y, mailboxes, T + 5);
    EQ(cnt(x, SRV, NULL, HOUR, T + 5), 16 * M);
    /* the next minute has room again: a whole chunk of 16 fits, the 17th request does not
     * (in the lane, the domain and the subscription) */
    twin_batch(x, y, rq, 20, T + 60, MAILLIMIT_ERANGE, 16);
    same_counts(x, y, mailboxes, T + 60);
    maillimit_free(x);
    maillimit_free(y);

    /* (2) big@ has 10 M in this minute, the lane none (the server's count was reset) */
    x = fixture_from(cfg);
    y = fixture_from(cfg);
    for (int k = 0; k < 10; k++) {
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        OK(maillimit_decide(x, MBX, "big@acme.example", M, T, &v));
        OK(maillimit_decide(y, MBX, "big@acme.example", M, T, &v));
    }
    OK(maillimit_reset(x, SRV, NULL));
    OK(maillimit_reset(y, SRV, NULL));
    OK(maillimit_reset(x, SUB, "s"));
    OK(maillimit_reset(y, SUB, "s"));
    OK(maillimit_reset(x, DOM, "acme.example"));
    OK(maillimit_reset(y, DOM, "acme.example"));
    for (int i = 0; i < 20; i++)
        rq[i].sender = i < 3 ? "o1@other.example" : "big@acme.example";
    /* 3 to o1, then big@ takes 6 more and fails at the 10th request */
    twin_batch(x, y, rq, 20, T + 5, MAILLIMIT_ERANGE, 9);
    same_counts(x, y, mailboxes, T + 5);
    EQ(cnt(x, SRV, NULL, HOUR, T + 5), 9 * M);
    EQ(cnt(x, MBX, "big@acme.example", HOUR, T + 5), 16 * M);
    /* a clean chunk after the failure: the lane counts exactly what was allowed */
    for (int i = 0; i < 20; i++) {
        rq[i].sender = "o2@other.example";
        rq[i].cost = 1 + i;
    }
    twin_batch(x, y, rq, 20, T + 7, 0, 20);
    same_counts(x, y, mailboxes, T + 7);
    EQ(cnt(x, SRV, NULL, HOUR, T + 7), 9 * M + 210);
    maillimit_free(x);
    maillimit_free(y);
}

/* More requests than one internal chunk, the same address again and again: the first makes
 * the implicit mailbox, the others find it; the limit of 5 an hour denies from the sixth. */
Test(batch, implicit_mailbox_made_once_and_found_by_later_requests)
{
    maillimit *ml = fixture_from(config);
    maillimit_request rq[50];
    maillimit_verdict v[50];
    for (int i = 0; i < 50; i++) {
        maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
        rq[i].sender = i % 2 ? "later@acme.example" : "LATER@acme.example";
    }
    maillimit_verdict_init(&v[0], MAILLIMIT_VERDICT_VERSION);
    size_t done = 0;
    OK(maillimit_decide_many(ml, rq, 50, T, v, &done));
    EQ(done, 50);
    for (int i = 0; i < 50; i++) {
        EQ(v[i].version, MAILLIMIT_VERDICT_VERSION);
        EQ(v[i].decision, i < 5 ? MAILLIMIT_ALLOW : MAILLIMIT_DENY);
        EQ(v[i].count, i < 5 ? i : 5);
    }
    EQ(cnt(ml, MBX, "later@acme.example", HOUR, T), 5);
    maillimit_free(ml);
}

/* n = 0 decides nothing and needs no arrays. */
Test(batch, empty_batch)
{
    maillimit *ml = fixture_from(config);
    size_t done = 7;
    OK(maillimit_decide_many(ml, NULL, 0, T, NULL, &done));
    EQ(done, 0);
    OK(maillimit_decide_many(ml, NULL, 0, T, NULL, NULL));
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    maillimit_free(ml);
}

/* Refusals of the call itself: nothing decided, nothing written. */
Test(batch, call_refused)
{
    maillimit *ml = fixture_from(config);
    maillimit_request rq[2];
    maillimit_verdict v[2];
    for (int i = 0; i < 2; i++) {
        maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
        rq[i].sender = "a@acme.example";
        maillimit_verdict_init(&v[i], MAILLIMIT_VERDICT_VERSION);
        v[i].count = 77;
    }
    size_t done = 9;
    EQ(maillimit_decide_many(NULL, rq, 2, T, v, &done), MAILLIMIT_EINVAL);
    EQ(done, 0);
    EQ(maillimit_decide_many(NULL, NULL, 0, T, NULL, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_decide_many(ml, NULL, 2, T, v, &done), MAILLIMIT_EINVAL);
    EQ(maillimit_decide_many(ml, rq, 2, T, NULL, &done), MAILLIMIT_EINVAL);
    EQ(maillimit_decide_many(ml, rq, 2, -1, v, &done), MAILLIMIT_EINVAL);
    v[0].version = 0;
    EQ(maillimit_decide_many(ml, rq, 2, T, v, &done), MAILLIMIT_EINVAL);
    v[0].version = MAILLIMIT_VERDICT_VERSION + 1;
    EQ(maillimit_decide_many(ml, rq, 2, T, v, &done), MAILLIMIT_EINVAL);
    v[0].version = MAILLIMIT_VERDICT_VERSION;
    rq[0].version = 0;
    EQ(maillimit_decide_many(ml, rq, 2, T, v, &done), MAILLIMIT_EINVAL);
    rq[0].version = MAILLIMIT_REQUEST_VERSION + 1;
    EQ(maillimit_decide_many(ml, rq, 2, T, v, &done), MAILLIMIT_EINVAL);
    EQ(done, 0);
    EQ(v[0].count, 77);
    EQ(v[1].count, 77);
    EQ(cnt(ml, SRV, NULL, HOUR, T), 0);
    maillimit_free(ml);
}

/* A bad request at index k: requests 0..k-1 decided and counted, k and later untouched. */
static void bad_at(int k, void (*spoil)(maillimit_request *), int expect)
{
    enum { N = 37 };
    maillimit *ml = fixture_from(config);
    maillimit_request rq[N];
    maillimit_verdict v[N];
    const char *names[] = {"a@acme.example", "s@shop.example", "g@gamma.example",
                           "c@beta.example"};
    for (int i = 0; i < N; i++) {
        maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
        rq[i].sender = names[i % 4];
        v[i].version = 0xdead; /* only v[0]'s version counts */
        v[i].count = 77;
    }
    maillimit_verdict_init(&v[0], MAILLIMIT_VERDICT_VERSION);
    v[0].count = 77;
    spoil(&rq[k]);
    size_t done = 99;
    EQ(maillimit_decide_many(ml, rq, N, T, v, &done), expect);
    EQ(done, k);
    for (int i = 0; i < N; i++) {
        if (i < k) {
            EQ(v[i].version, MAILLIMIT_VERDICT_VERSION);
            cr_assert(v[i].count != 77, "request %d was decided", i);
        } else {
            EQ(v[i].count, 77);
            if (i > 0)
                EQ(v[i].version, 0xdead);
        }
    }
    /* as many units as decided requests that were allowed */
    int64_t allowed = 0;
    for (int i = 0; i < k; i++)
        allowed += v[i].decision == MAILLIMIT_ALLOW;
    EQ(cnt(ml, SRV, NULL, HOUR, T), allowed);
    maillimit_free(ml);
}

static void bad_level(maillimit_request *r)
{
    r->level = MAILLIMIT_LEVEL_PLAN;
}
static void bad_level_high(maillimit_request *r)
{
    r->level = 9;
}
static void no_sender(maillimit_request *r)
{
    r->sender = NULL;
}
static void bad_name(maillimit_request *r)
{
    r->sender = "no at sign";
}
static void bad_address(maillimit_request *r)
{
    r->sender = "a@b@acme.example";
}
static void zero_cost(maillimit_request *r)
{
    r->cost = 0;
}
static void big_cost(maillimit_request *r)
{
    r->cost = MAILLIMIT_COST_MAX + 1;
}
static void bad_version(maillimit_request *r)
{
    r->version = MAILLIMIT_REQUEST_VERSION + 1;
}

Test(batch, bad_request_mid_batch)
{
    static const int at[] = {0, 1, 15, 16, 17, 36};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        bad_at(at[i], bad_level, MAILLIMIT_EINVAL);
        bad_at(at[i], bad_level_high, MAILLIMIT_EINVAL);
        bad_at(at[i], no_sender, MAILLIMIT_EINVAL);
        bad_at(at[i], bad_name, MAILLIMIT_EINVAL);
        bad_at(at[i], bad_address, MAILLIMIT_EINVAL);
        bad_at(at[i], zero_cost, MAILLIMIT_ERANGE);
        bad_at(at[i], big_cost, MAILLIMIT_ERANGE);
        if (at[i] > 0)
            bad_at(at[i], bad_version, MAILLIMIT_EINVAL);
    }
}

/* A counter's capacity mid-batch: the request that would overflow a minute slot fails with
 * ERANGE like maillimit_decide(); the ones before it are counted. */
Test(batch, capacity_mid_batch)
{
    maillimit *ml = fixture_from("subscription s\ndomain acme.example subscription=s\n"
                                  "mailbox big@acme.example\n");
    maillimit_request rq[20];
    maillimit_verdict v[20];
    for (int i = 0; i < 20; i++) {
        maillimit_request_init(&rq[i], MAILLIMIT_REQUEST_VERSION);
        rq[i].sender = "big@acme.example";
        rq[i].cost = MAILLIMIT_COST_MAX;
    }
    maillimit_verdict_init(&v[0], MAILLIMIT_VERDICT_VERSION);
    size_t done = 0;
    /* 16 * 1000000 < 16777215 < 17 * 1000000 */
    EQ(maillimit_decide_many(ml, rq, 20, T, v, &done), MAILLIMIT_ERANGE);
    EQ(done, 16);
    EQ(cnt(ml, MBX, "big@acme.example", HOUR, T), 16 * (int64_t)MAILLIMIT_COST_MAX);
    maillimit_free(ml);
}

Test(batch, request_init)
{
    maillimit_request r;
    memset(&r, 0xa5, sizeof r);
    OK(maillimit_request_init(&r, MAILLIMIT_REQUEST_VERSION));
    EQ(r.version, MAILLIMIT_REQUEST_VERSION);
    EQ(r.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_null(r.sender);
    EQ(r.cost, 1);
    EQ(maillimit_request_init(NULL, MAILLIMIT_REQUEST_VERSION), MAILLIMIT_EINVAL);
    memset(&r, 0xa5, sizeof r);
    EQ(maillimit_request_init(&r, 0), MAILLIMIT_EVERSION);
    EQ(maillimit_request_init(&r, MAILLIMIT_REQUEST_VERSION + 1), MAILLIMIT_EVERSION);
    EQ(r.version, 0xa5a5a5a5u);
}
