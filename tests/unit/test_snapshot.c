/* SPDX-License-Identifier: MIT */
/* Snapshots: a rich state survives a save and a load exactly (every value, flag, status in
 * both windows, and the decisions that follow); the encoding is deterministic; truncated,
 * corrupt, foreign, newer and invalid files are refused and leave the handle unchanged; a
 * missing file is ENOTFOUND; file errors are EIO; a hand-written file following
 * docs/snapshot-format.md loads; and a child killed at random instants while saving always
 * leaves a complete snapshot behind. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <dirent.h>
#include <msgpack.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <maillimit.h>

#include "internal.h" /* the implicit mark and system users have no public reader */
#include "fixture.h"

#define DEF MAILLIMIT_DEFAULT
#define UNL MAILLIMIT_UNLIMITED

/* ---- helpers ------------------------------------------------------------------------------ */

static uint32_t crc32c_ref(const unsigned char *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Recompute the trailer of a snapshot after editing it. */
static void reseal(unsigned char *p, size_t n)
{
    put_be32(p + n - 4, crc32c_ref(p, n - 4));
}

static maillimit *fresh(void)
{
    maillimit *ml = NULL;
    OK(maillimit_new(&ml));
    cr_assert(ml != NULL);
    return ml;
}

static void lim(maillimit *ml, int level, const char *name, int target, int window, int64_t v)
{
    OK(maillimit_limit_set(ml, level, name, target, window, v));
}

static void flag(maillimit *ml, int level, const char *name, int f, int v)
{
    OK(maillimit_flag_set(ml, level, name, f, v));
}

static void traffic(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, level, sender, cost, now, &v));
}

static const char *const plans[] = {"basic", "pro", "bare"};
static const char *const subs[] = {"acme", "beta", "gamma", "delta"};
static const char *const domains[] = {"acme.example", "shop.example", "beta.example",
                                      "gamma.example", "delta.example", "moved.example"};
static const char *const mailboxes[] = {
    "a@acme.example", "b@acme.example", "news@shop.example", "s@shop.example",
    "c@beta.example", "g@gamma.example", "d@delta.example", "j\xc3\xbcrgen@acme.example",
    "m@moved.example", "x@acme.example", "y@beta.example", "z@acme.example"};
static const char *const sysusers[] = {"acme_web", "beta_cron"};
/* names that must not exist after a round trip (removed, or never made) */
static const char *const absent_mailboxes[] = {"rm@acme.example", "never@acme.example"};
#define N(a) (sizeof(a) / sizeof(a)[0])

/* A state that uses every part of the format: server settings (unit recipients, limits on
 * every target, a server total), plans with limits and flags, subscriptions with and without
 * a plan, an exempt domain with a non-exempt mailbox, a moved domain, a removed mailbox,
 * implicit mailboxes (one made explicit), system users, a non-ASCII address, traffic over
 * several hours and minutes at every level (denials, unknown and exempt senders, the server
 * total), and an outstanding reservation. `variant` changes the traffic. */
static maillimit *rich(int variant)
{
    maillimit *ml = fresh();
    OK(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS));
    lim(ml, SRV, NULL, MBX, HOUR, 50);
    lim(ml, SRV, NULL, DOM, DAY, 400);
    lim(ml, SRV, NULL, SUB, HOUR, 300);
    lim(ml, SRV, NULL, SRV, HOUR, 1000);
    lim(ml, SRV, NULL, SRV, DAY, 5000);

    OK(maillimit_plan_add(ml, "basic"));
    OK(maillimit_plan_add(ml, "pro"));
    OK(maillimit_plan_add(ml, "bare"));
    lim(ml, PLN, "basic", MBX, HOUR, 20);
    lim(ml, PLN, "basic", DOM, HOUR, 100);
    lim(ml, PLN, "basic", SUB, DAY, 900);
    flag(ml, PLN, "basic", MAILLIMIT_FLAG_SENDMAIL, 0);
    lim(ml, PLN, "pro", MBX, DAY, UNL);
    flag(ml, PLN, "pro", MAILLIMIT_FLAG_EXEMPT, 0);

    OK(maillimit_subscription_add(ml, "acme", "basic"));
    OK(maillimit_subscription_add(ml, "beta", NULL));
    OK(maillimit_subscription_add(ml, "gamma", "pro"));
    OK(maillimit_subscription_add(ml, "delta", "basic"));
    lim(ml, SUB, "acme", SUB, HOUR, 150);
    lim(ml, SUB, "acme", MBX, DAY, 60);
    flag(ml, SUB, "acme", MAILLIMIT_FLAG_SENDMAIL, 1);
    lim(ml, SUB, "beta", DOM, HOUR, 40);
    flag(ml, SUB, "gamma", MAILLIMIT_FLAG_EXEMPT, 1);

    OK(maillimit_domain_add(ml, "acme.example", "acme"));
    OK(maillimit_domain_add(ml, "shop.example", "acme"));
    OK(maillimit_domain_add(ml, "beta.example", "beta"));
    OK(maillimit_domain_add(ml, "gamma.example", "gamma"));
    OK(maillimit_domain_add(ml, "delta.example", "delta"));
    OK(maillimit_domain_add(ml, "moved.example", "acme"));
    lim(ml, DOM, "acme.example", DOM, HOUR, 60);
    lim(ml, DOM, "acme.example", MBX, HOUR, DEF);
    flag(ml, DOM, "shop.example", MAILLIMIT_FLAG_EXEMPT, 1);
    lim(ml, DOM, "beta.example", MBX, HOUR, 5);
    lim(ml, DOM, "beta.example", DOM, DAY, 0 + 70);

    for (size_t i = 0; i < 9; i++)
        OK(maillimit_mailbox_add(ml, mailboxes[i]));
    OK(maillimit_mailbox_add(ml, "rm@acme.example"));
    lim(ml, MBX, "a@acme.example", MBX, HOUR, 8);
    lim(ml, MBX, "a@acme.example", MBX, DAY, 30);
    flag(ml, MBX, "news@shop.example", MAILLIMIT_FLAG_EXEMPT, 0);
    lim(ml, MBX, "j\xc3\xbcrgen@acme.example", MBX, HOUR, 0);
    OK(maillimit_sysuser_add(ml, "acme_web", "acme"));
    OK(maillimit_sysuser_add(ml, "beta_cron", "beta"));

    /* traffic from T - 5 h to T, denser near T */
    int64_t k = variant * 7;
    for (int64_t t = T - 5 * 3600; t <= T; t += 37 * 60 + 11 + k) {
        traffic(ml, MBX, "a@acme.example", 1 + (t / 60) % 3, t);
        traffic(ml, MBX, "b@acme.example", 2, t);
        traffic(ml, MBX, "c@beta.example", 1, t);
        traffic(ml, DOM, "acme.example", 3, t);
        traffic(ml, SUB, "acme_web", 2, t);
    }
    for (int64_t t = T - 50 * 60; t <= T; t += 97 + k) {
        traffic(ml, MBX, "a@acme.example", 1, t);  /* reaches its limit: denials */
        traffic(ml, MBX, "s@shop.example", 2, t);  /* exempt */
        traffic(ml, MBX, "news@shop.example", 1, t);
        traffic(ml, MBX, "g@gamma.example", 1, t); /* exempt through the subscription */
        traffic(ml, MBX, "d@delta.example", 1, t);
        traffic(ml, SUB, "delta", 1, t);           /* sendmail off: not allowed */
        traffic(ml, SUB, "beta", 1, t);
        traffic(ml, MBX, "x@acme.example", 1, t);  /* implicit */
        traffic(ml, MBX, "y@beta.example", 2, t);  /* implicit, limited to 5 */
        traffic(ml, MBX, "z@acme.example", 1, t);  /* implicit, then made explicit */
        traffic(ml, MBX, "m@moved.example", 1, t);
        traffic(ml, MBX, "someone@unknown.example", 4, t); /* unknown: server total only */
        traffic(ml, SUB, "nosuch", 1, t);
        traffic(ml, MBX, "rm@acme.example", 1, t);
    }
    traffic(ml, MBX, "j\xc3\xbcrgen@acme.example", 1, T);
    OK(maillimit_mailbox_add(ml, "z@acme.example"));
    OK(maillimit_domain_move(ml, "moved.example", "beta"));
    OK(maillimit_remove(ml, MBX, "rm@acme.example"));
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, SUB, "beta", 3, T, &v)); /* left outstanding */
    EQ(v.decision, MAILLIMIT_ALLOW);
    return ml;
}

static void same_status(maillimit *a, maillimit *b, int level, const char *name, int64_t now)
{
    for (int w = 0; w < 2; w++) {
        maillimit_status sa, sb;
        maillimit_status_init(&sa, MAILLIMIT_STATUS_VERSION);
        maillimit_status_init(&sb, MAILLIMIT_STATUS_VERSION);
        int ra = maillimit_status_get(a, level, name, w, now, &sa);
        int rb = maillimit_status_get(b, level, name, w, now, &sb);
        cr_assert(ra == rb, "status %s: %d vs %d", name ? name : "server", ra, rb);
        cr_assert(memcmp(&sa, &sb, sizeof sa) == 0,
                  "status of %s (window %d, now T%+lld) differs: count %lld/%lld limit "
                  "%lld/%lld sending %d/%d blocked %d/%d retry %lld/%lld reset %lld/%lld",
                  name ? name : "server", w, (long long)(now - T), (long long)sa.count,
                  (long long)sb.count, (long long)sa.limit, (long long)sb.limit, sa.sending,
                  sb.sending, sa.blocked_by, sb.blocked_by, (long long)sa.retry_after,
                  (long long)sb.retry_after, (long long)sa.reset_after,
                  (long long)sb.reset_after);
    }
}

static void same_values(maillimit *a, maillimit *b, int level, const char *name)
{
    for (int t = SRV; t <= MBX; t++)
        for (int w = 0; w < 2; w++) {
            int64_t va = -99, vb = -99;
            int ra = maillimit_limit_configured(a, level, name, t, w, &va);
            int rb = maillimit_limit_configured(b, level, name, t, w, &vb);
            cr_assert(ra == rb && va == vb, "limit value %s target %d window %d: %lld/%lld",
                      name ? name : "server", t, w, (long long)va, (long long)vb);
        }
    for (int w = 0; w < 2; w++) {
        int64_t va = -99, vb = -99;
        int ra = maillimit_limit_effective(a, level, name, w, &va);
        int rb = maillimit_limit_effective(b, level, name, w, &vb);
        cr_assert(ra == rb && va == vb, "limit %s window %d: %lld/%lld",
                  name ? name : "server", w, (long long)va, (long long)vb);
    }
    for (int f = 0; f < 2; f++) {
        int va = -99, vb = -99, ea = -99, eb = -99;
        int ra = maillimit_flag_configured(a, level, name, f, &va);
        int rb = maillimit_flag_configured(b, level, name, f, &vb);
        cr_assert(ra == rb && va == vb, "flag value %s flag %d", name ? name : "server", f);
        ra = maillimit_flag_effective(a, level, name, f, &ea);
        rb = maillimit_flag_effective(b, level, name, f, &eb);
        cr_assert(ra == rb && ea == eb, "flag %s flag %d", name ? name : "server", f);
    }
}

static int implicit_mark(maillimit *ml, const char *address)
{
    struct maillimit__entity *e = maillimit__lookup(ml, MBX, address);
    cr_assert(e != NULL, "%s missing", address);
    return atomic_load(&e->implicit);
}

/* Every setting, value, flag and status of the two handles is the same. */
static void same_state(maillimit *a, maillimit *b, int64_t now)
{
    int x, y;
    OK(maillimit_enabled_get(a, &x));
    OK(maillimit_enabled_get(b, &y));
    EQ(x, y);
    OK(maillimit_unit_get(a, &x));
    OK(maillimit_unit_get(b, &y));
    EQ(x, y);
    same_values(a, b, SRV, NULL);
    for (size_t i = 0; i < N(plans); i++)
        same_values(a, b, PLN, plans[i]);
    struct {
        int level;
        const char *const *names;
        size_t n;
    } sets[] = {{SUB, subs, N(subs)}, {DOM, domains, N(domains)}, {MBX, mailboxes, N(mailboxes)}};
    static const int64_t later[] = {0, 1, 59, 60, 61, 600, 3599, 3600, 7200, 86399, 86400,
                                    90000};
    for (size_t s = 0; s < N(sets); s++)
        for (size_t i = 0; i < sets[s].n; i++) {
            same_values(a, b, sets[s].level, sets[s].names[i]);
            for (size_t k = 0; k < N(later); k++)
                same_status(a, b, sets[s].level, sets[s].names[i], now + later[k]);
        }
    for (size_t k = 0; k < N(later); k++)
        same_status(a, b, SRV, NULL, now + later[k]);
    for (size_t i = 0; i < N(mailboxes); i++)
        EQ(implicit_mark(a, mailboxes[i]), implicit_mark(b, mailboxes[i]));
    for (size_t i = 0; i < N(sysusers); i++) {
        struct maillimit__entity *ua = maillimit__lookup(a, MAILLIMIT__LEVEL_SYSUSER, sysusers[i]);
        struct maillimit__entity *ub = maillimit__lookup(b, MAILLIMIT__LEVEL_SYSUSER, sysusers[i]);
        cr_assert(ua && ub, "system user %s", sysusers[i]);
        cr_assert_str_eq(atomic_load(&ua->parent)->name, atomic_load(&ub->parent)->name);
    }
    for (size_t i = 0; i < N(absent_mailboxes); i++) {
        maillimit_status s;
        maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
        EQ(maillimit_status_get(b, MBX, absent_mailboxes[i], HOUR, now, &s),
           MAILLIMIT_ENOTFOUND);
    }
}

/* The units sent per hour over the day window (history) and the server summary's sent and
 * unattributed figures are the same: they come from the counters, which are saved. (The
 * rest of the report data, saved from version 2, is compared by the report tests below.) */
static void sent_per_hour(maillimit *ml, int level, const char *name, int64_t now,
                          int64_t out[24])
{
    maillimit_history *it = NULL;
    int64_t first = (now / 3600 - 23) * 3600;
    memset(out, 0, 24 * sizeof out[0]);
    OK(maillimit_history_open(ml, level, name, first, now + 1, now, &it));
    maillimit_history_row row;
    maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
    while (maillimit_history_next(it, &row) == 0) {
        int64_t k = (row.hour_start - first) / 3600;
        cr_assert(k >= 0 && k < 24);
        out[k] = row.sent;
    }
    maillimit_history_close(it);
}

static void same_reports(maillimit *a, maillimit *b, int64_t now)
{
    struct {
        int level;
        const char *name;
    } who[] = {{SRV, NULL}, {SUB, "acme"}, {SUB, "beta"}, {DOM, "acme.example"},
               {DOM, "moved.example"}, {MBX, "a@acme.example"}, {MBX, "x@acme.example"}};
    for (size_t i = 0; i < N(who); i++) {
        int64_t ha[24], hb[24];
        sent_per_hour(a, who[i].level, who[i].name, now, ha);
        sent_per_hour(b, who[i].level, who[i].name, now, hb);
        for (int k = 0; k < 24; k++)
            cr_assert(ha[k] == hb[k], "%s: hour %d sent %lld vs %lld",
                      who[i].name ? who[i].name : "server", k, (long long)ha[k],
                      (long long)hb[k]);
    }
    maillimit_summary sa, sb;
    maillimit_summary_init(&sa, MAILLIMIT_SUMMARY_VERSION);
    maillimit_summary_init(&sb, MAILLIMIT_SUMMARY_VERSION);
    int64_t from = (now / 3600 - 23) * 3600;
    OK(maillimit_summary_get(a, SRV, NULL, from, now + 1, now, &sa));
    OK(maillimit_summary_get(b, SRV, NULL, from, now + 1, now, &sb));
    EQ(sa.sent, sb.sent);
    EQ(sa.unattributed, sb.unattributed);
    cr_assert(sa.unattributed > 0);
}

/* The same decisions on both handles give the same verdicts. */
static void same_decisions(maillimit *a, maillimit *b, int64_t now)
{
    static const struct {
        int level;
        const char *sender;
        int64_t cost;
    } reqs[] = {
        {MBX, "a@acme.example", 1},   {MBX, "b@acme.example", 5},  {MBX, "b@acme.example", 50},
        {MBX, "c@beta.example", 2},   {MBX, "y@beta.example", 1},  {MBX, "x@acme.example", 3},
        {MBX, "z@acme.example", 1},   {MBX, "s@shop.example", 9},  {MBX, "news@shop.example", 1},
        {MBX, "g@gamma.example", 1},  {MBX, "d@delta.example", 1}, {MBX, "m@moved.example", 2},
        {MBX, "j\xc3\xbcrgen@acme.example", 1}, {MBX, "new@acme.example", 1},
        {MBX, "who@unknown.example", 7}, {DOM, "acme.example", 10}, {DOM, "beta.example", 30},
        {SUB, "acme", 4},             {SUB, "acme_web", 4},        {SUB, "beta_cron", 1},
        {SUB, "delta", 1},            {SUB, "nosuch", 2},          {MBX, "a@acme.example", 8},
    };
    static const int64_t at[] = {0, 0, 30, 61, 900, 3600, 3661, 7200, 86400};
    for (size_t t = 0; t < N(at); t++)
        for (size_t i = 0; i < N(reqs); i++) {
            maillimit_verdict va, vb;
            maillimit_verdict_init(&va, MAILLIMIT_VERDICT_VERSION);
            maillimit_verdict_init(&vb, MAILLIMIT_VERDICT_VERSION);
            int ra = maillimit_decide(a, reqs[i].level, reqs[i].sender, reqs[i].cost,
                                      now + at[t], &va);
            int rb = maillimit_decide(b, reqs[i].level, reqs[i].sender, reqs[i].cost,
                                      now + at[t], &vb);
            cr_assert(ra == rb, "decide %s: %d vs %d", reqs[i].sender, ra, rb);
            cr_assert(memcmp(&va, &vb, sizeof va) == 0,
                      "verdict of %s at T%+lld differs: decision %d/%d reason %d/%d level "
                      "%d/%d window %d/%d limit %lld/%lld count %lld/%lld retry %lld/%lld",
                      reqs[i].sender, (long long)(now + at[t] - T), va.decision, vb.decision,
                      va.reason, vb.reason, va.level, vb.level, va.window, vb.window,
                      (long long)va.limit, (long long)vb.limit, (long long)va.count,
                      (long long)vb.count, (long long)va.retry_after,
                      (long long)vb.retry_after);
        }
}

struct blob {
    unsigned char *p;
    size_t n;
};

static struct blob save_mem(maillimit *ml)
{
    struct blob b = {NULL, 0};
    char err[256];
    int rc = maillimit_snapshot_save_mem(ml, (void **)&b.p, &b.n, err, sizeof err);
    cr_assert(rc == 0, "save_mem: %s", err);
    cr_assert(b.p && b.n > 20);
    cr_assert_str_eq(err, "");
    return b;
}

static int blob_eq(struct blob a, struct blob b)
{
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

static maillimit *loaded(struct blob b)
{
    maillimit *ml = fresh();
    char err[256] = "x";
    int rc = maillimit_snapshot_load_mem(ml, b.p, b.n, err, sizeof err);
    cr_assert(rc == 0, "load_mem: %s", err);
    cr_assert_str_eq(err, "");
    return ml;
}

/* ---- round trip --------------------------------------------------------------------------- */

Test(snapshot, round_trip_answers_exactly_as_before)
{
    maillimit *a = rich(0);
    struct blob s = save_mem(a);
    maillimit *b = loaded(s);
    same_state(a, b, T);
    same_state(a, b, T - 1800); /* a clock behind the counters reads them as the latest time */
    same_reports(a, b, T);
    same_decisions(a, b, T);
    same_state(a, b, T + 86400);
    maillimit_buffer_free(s.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, loaded_counters_reach_the_hourly_history)
{
    maillimit *a = rich(0);
    struct blob s = save_mem(a);
    maillimit *b = loaded(s);
    /* the hours before T are harvested into history as they leave the counters' window */
    for (int64_t t = T + 3600; t <= T + 30 * 3600; t += 3600) {
        OK(maillimit_tick(a, t));
        OK(maillimit_tick(b, t));
    }
    static const struct {
        int level;
        const char *name;
    } who[] = {{SRV, NULL}, {SUB, "acme"}, {DOM, "acme.example"}, {MBX, "a@acme.example"},
               {MBX, "y@beta.example"}};
    for (size_t i = 0; i < N(who); i++) {
        int64_t total = 0;
        maillimit_history *ia = NULL, *ib = NULL;
        OK(maillimit_history_open(a, who[i].level, who[i].name, T - 6 * 3600, T + 3600,
                                  T + 30 * 3600, &ia));
        OK(maillimit_history_open(b, who[i].level, who[i].name, T - 6 * 3600, T + 3600,
                                  T + 30 * 3600, &ib));
        int64_t sa[7] = {0}, sb[7] = {0};
        maillimit_history_row row;
        maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
        while (maillimit_history_next(ia, &row) == 0)
            sa[(row.hour_start - (T - 6 * 3600)) / 3600] = row.sent;
        while (maillimit_history_next(ib, &row) == 0)
            sb[(row.hour_start - (T - 6 * 3600)) / 3600] = row.sent;
        maillimit_history_close(ia);
        maillimit_history_close(ib);
        for (int k = 0; k < 7; k++) {
            cr_assert(sa[k] == sb[k], "%s: hour T%+d sent %lld vs %lld",
                      who[i].name ? who[i].name : "server", k - 6, (long long)sa[k],
                      (long long)sb[k]);
            total += sa[k];
        }
        cr_assert(total > 0, "%s sent nothing", who[i].name ? who[i].name : "server");
    }
    maillimit_buffer_free(s.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, round_trip_through_a_file)
{
    char dir[] = "/tmp/ml-snap-XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state.snap", dir);
    maillimit *a = rich(1), *b = fresh();
    char err[256] = "x";
    OK(maillimit_snapshot_save(a, path, err, sizeof err));
    cr_assert_str_eq(err, "");
    OK(maillimit_snapshot_save(a, path, err, sizeof err)); /* replaces */
    struct stat st;
    cr_assert(stat(path, &st) == 0);
    EQ(st.st_mode & 0777, 0600);
    OK(maillimit_snapshot_load(b, path, err, sizeof err));
    cr_assert_str_eq(err, "");
    same_state(a, b, T);
    same_decisions(a, b, T + 120);
    /* only the snapshot is left in the directory */
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    EQ(files, 1);
    unlink(path);
    rmdir(dir);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, encoding_is_deterministic_and_a_reload_saves_the_same_bytes)
{
    maillimit *a = rich(0);
    struct blob s1 = save_mem(a), s2 = save_mem(a);
    cr_assert(blob_eq(s1, s2));
    maillimit *b = loaded(s1);
    struct blob s3 = save_mem(b);
    cr_assert(blob_eq(s1, s3), "a loaded state saves other bytes (%zu vs %zu)", s1.n, s3.n);
    /* the trailer is the CRC-32C of everything before it, as documented */
    unsigned char check[] = "123456789";
    EQ(crc32c_ref(check, 9), 0xe3069283u);
    EQ(crc32c_ref(s1.p, s1.n - 4), (uint32_t)s1.p[s1.n - 4] << 24 | s1.p[s1.n - 3] << 16 |
                                       s1.p[s1.n - 2] << 8 | s1.p[s1.n - 1]);
    cr_assert(memcmp(s1.p, "\x89MLSNAP\n\0\0\0\3\0\0\0\0", 16) == 0);
    maillimit_buffer_free(s1.p);
    maillimit_buffer_free(s2.p);
    maillimit_buffer_free(s3.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, empty_handle_round_trip)
{
    maillimit *a = fresh();
    struct blob s = save_mem(a);
    maillimit *b = rich(0);
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0));
    struct blob s2 = save_mem(b);
    cr_assert(blob_eq(s, s2));
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    EQ(maillimit_status_get(b, MBX, "a@acme.example", HOUR, T, &st), MAILLIMIT_ENOTFOUND);
    OK(maillimit_status_get(b, SRV, NULL, DAY, T, &st));
    EQ(st.count, 0);
    EQ(st.limit, -1);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(s2.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, load_replaces_everything_and_forgets_outstanding_tokens)
{
    maillimit *a = rich(0), *b = rich(1);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(b, MBX, "c@beta.example", 1, T, &v));
    uint64_t token = v.token;
    OK(maillimit_plan_add(b, "only-in-b"));
    struct blob s = save_mem(a);
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0));
    int64_t x;
    EQ(maillimit_limit_configured(b, PLN, "only-in-b", MBX, HOUR, &x), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_release(b, token), MAILLIMIT_ENOTFOUND);
    struct blob s2 = save_mem(b);
    cr_assert(blob_eq(s, s2));
    /* the replaced entities are dead; configuration keeps working on the new ones */
    OK(maillimit_remove(b, DOM, "acme.example"));
    OK(maillimit_mailbox_add(b, "new@beta.example"));
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(s2.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, a_sender_at_its_limit_stays_at_it_after_a_restart)
{
    maillimit *a = fresh();
    OK(maillimit_subscription_add(a, "s", NULL));
    OK(maillimit_domain_add(a, "d.example", "s"));
    lim(a, DOM, "d.example", MBX, HOUR, 3);
    for (int i = 0; i < 3; i++)
        traffic(a, MBX, "u@d.example", 1, T + 10 * i);
    struct blob s = save_mem(a);
    maillimit *b = loaded(s);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(b, MBX, "u@d.example", 1, T + 100, &v));
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.level, MBX);
    EQ(v.count, 3);
    EQ(v.retry_after, 3600 - 100); /* the first unit leaves at T + 3600 */
    EQ(implicit_mark(b, "u@d.example"), 1);
    maillimit_buffer_free(s.p);
    maillimit_free(a);
    maillimit_free(b);
}

/* ---- refusals ------------------------------------------------------------------------------- */

static void refused(maillimit *ml, struct blob before, const unsigned char *p, size_t n,
                    int want, const char *want_msg)
{
    char err[256];
    memset(err, 'Z', sizeof err);
    int rc = maillimit_snapshot_load_mem(ml, p, n, err, sizeof err);
    cr_assert(rc == want, "load of %zu bytes: %d, expected %d (%s)", n, rc, want, err);
    cr_assert(memchr(err, '\0', sizeof err), "message not terminated");
    cr_assert(strncmp(err, "<memory>: ", 10) == 0, "message: %s", err);
    if (want_msg)
        cr_assert(strstr(err, want_msg), "message \"%s\" lacks \"%s\"", err, want_msg);
    struct blob after = save_mem(ml);
    cr_assert(blob_eq(before, after), "a refused load changed the handle");
    maillimit_buffer_free(after.p);
}

Test(snapshot, every_truncation_is_refused_and_changes_nothing)
{
    maillimit *a = rich(0), *b = rich(1), *ref = rich(1);
    struct blob s = save_mem(a), before = save_mem(b);
    for (size_t n = 0; n < s.n; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, s.p, n);
        refused(b, before, copy, n, MAILLIMIT_EFORMAT, NULL);
        free(copy);
    }
    same_state(b, ref, T);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(before.p);
    maillimit_free(a);
    maillimit_free(b);
    maillimit_free(ref);
}

Test(snapshot, every_flipped_byte_is_refused)
{
    maillimit *a = rich(0), *b = rich(1);
    struct blob s = save_mem(a), before = save_mem(b);
    for (size_t i = 0; i < s.n; i++) {
        s.p[i] ^= 0xff;
        refused(b, before, s.p, s.n, MAILLIMIT_EFORMAT, NULL);
        s.p[i] ^= 0xff;
        s.p[i] ^= (unsigned char)(1u << (i % 8));
        refused(b, before, s.p, s.n, MAILLIMIT_EFORMAT, NULL);
        s.p[i] ^= (unsigned char)(1u << (i % 8));
    }
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0)); /* restored: loads */
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(before.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, foreign_files_are_refused)
{
    maillimit *b = rich(0);
    struct blob before = save_mem(b);
    static const char *const foreign[] = {
        "", "hello, world\n", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "\x7f" "ELF\2\1\1\0\0\0\0\0",
        "server mailbox=100\nplan basic mailbox=50\n", "\x89MLSNAP", "\x89MLSNAP\n\0\0\0\1"};
    for (size_t i = 0; i < N(foreign); i++) {
        size_t n = i == 3 || i == 6 ? 12 : strlen(foreign[i]);
        refused(b, before, (const unsigned char *)foreign[i], n, MAILLIMIT_EFORMAT,
                i == 0 || i >= 5 ? "truncated" : "not a libmaillimit snapshot");
    }
    /* a right-looking frame around garbage */
    unsigned char junk[64];
    memcpy(junk, "\x89MLSNAP\n\0\0\0\1\0\0\0\0", 16);
    for (int i = 16; i < 60; i++)
        junk[i] = (unsigned char)(i * 37);
    reseal(junk, sizeof junk);
    refused(b, before, junk, sizeof junk, MAILLIMIT_EFORMAT, "head");
    maillimit_buffer_free(before.p);
    maillimit_free(b);
}

Test(snapshot, newer_versions_are_eversion_and_bad_headers_eformat)
{
    maillimit *a = rich(0), *b = rich(1);
    struct blob s = save_mem(a), before = save_mem(b);
    put_be32(s.p + 8, 4);
    reseal(s.p, s.n);
    refused(b, before, s.p, s.n, MAILLIMIT_EVERSION, "format version 4 is newer");
    put_be32(s.p + 8, 0xffffffffu);
    reseal(s.p, s.n);
    refused(b, before, s.p, s.n, MAILLIMIT_EVERSION, "newer");
    put_be32(s.p + 8, 0);
    reseal(s.p, s.n);
    refused(b, before, s.p, s.n, MAILLIMIT_EFORMAT, "bad header");
    put_be32(s.p + 8, 3);
    put_be32(s.p + 12, 1);
    reseal(s.p, s.n);
    refused(b, before, s.p, s.n, MAILLIMIT_EFORMAT, "bad header");
    put_be32(s.p + 12, 0);
    reseal(s.p, s.n);
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0));
    /* the checksum covers the header: an unsealed version change is damage */
    put_be32(s.p + 8, 4);
    struct blob now_b = save_mem(b);
    refused(b, now_b, s.p, s.n, MAILLIMIT_EFORMAT, "checksum mismatch");
    maillimit_buffer_free(now_b.p);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(before.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, missing_and_unreadable_files)
{
    char dir[] = "/tmp/ml-snap-XXXXXX", path[96], err[256];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/none.snap", dir);
    maillimit *b = rich(0);
    struct blob before = save_mem(b);
    EQ(maillimit_snapshot_load(b, path, err, sizeof err), MAILLIMIT_ENOTFOUND);
    cr_assert(strstr(err, "none.snap: no such file"), "%s", err);
    EQ(maillimit_snapshot_load(b, dir, err, sizeof err), MAILLIMIT_EIO); /* a directory */
    cr_assert(strstr(err, "Is a directory"), "%s", err);
    struct blob after = save_mem(b);
    cr_assert(blob_eq(before, after));
    /* a save into a directory that does not exist: EIO naming the system's error */
    snprintf(path, sizeof path, "%s/no/such/dir/state.snap", dir);
    EQ(maillimit_snapshot_save(b, path, err, sizeof err), MAILLIMIT_EIO);
    cr_assert(strstr(err, "No such file or directory"), "%s", err);
    /* a save over a directory: the rename fails, the temporary file is removed */
    snprintf(path, sizeof path, "%s/sub", dir);
    cr_assert(mkdir(path, 0700) == 0);
    EQ(maillimit_snapshot_save(b, path, err, sizeof err), MAILLIMIT_EIO);
    cr_assert(strstr(err, "rename"), "%s", err);
    DIR *d = opendir(dir);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            files++;
    closedir(d);
    EQ(files, 1); /* only sub/ */
    rmdir(path);
    rmdir(dir);
    EQ(maillimit_snapshot_save(NULL, "x", NULL, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_snapshot_load(b, NULL, NULL, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_snapshot_load_mem(b, NULL, 5, NULL, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_snapshot_save_mem(b, NULL, NULL, NULL, 0), MAILLIMIT_EINVAL);
    maillimit_buffer_free(NULL);
    maillimit_buffer_free(before.p);
    maillimit_buffer_free(after.p);
    maillimit_free(b);
}

/* ---- hand-written files (docs/snapshot-format.md) ------------------------------------------ */

struct mk {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

static void mk_begin(struct mk *m)
{
    msgpack_sbuffer_init(&m->sb);
    msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_write(&m->sb, "\x89MLSNAP\n\0\0\0\1\0\0\0\0", 16);
}

static void mk_str(struct mk *m, const char *s)
{
    msgpack_pack_str(&m->pk, strlen(s));
    msgpack_pack_str_body(&m->pk, s, strlen(s));
}

static void mk_ints(struct mk *m, int n, const int64_t *v)
{
    msgpack_pack_array(&m->pk, (size_t)n);
    for (int i = 0; i < n; i++)
        msgpack_pack_int64(&m->pk, v[i]);
}

/* The head: no server limits, the server counter as given (or nil), record counts. */
static void mk_head(struct mk *m, const int64_t counts[5], void (*server_counter)(struct mk *))
{
    static const char *const rec[] = {"plans", "subscriptions", "domains", "mailboxes",
                                      "sysusers"};
    static const int64_t unl[6] = {-1, -1, -1, -1, -1, -1};
    msgpack_pack_map(&m->pk, 3);
    mk_str(m, "server");
    msgpack_pack_map(&m->pk, 6);
    mk_str(m, "enabled");
    msgpack_pack_true(&m->pk);
    mk_str(m, "unit");
    msgpack_pack_int64(&m->pk, 0);
    mk_str(m, "sendmail");
    msgpack_pack_int64(&m->pk, 1);
    mk_str(m, "limits");
    mk_ints(m, 6, unl);
    mk_str(m, "total");
    mk_ints(m, 2, unl);
    mk_str(m, "counter");
    if (server_counter)
        server_counter(m);
    else
        msgpack_pack_nil(&m->pk);
    mk_str(m, "stats");
    msgpack_pack_map(&m->pk, 3);
    mk_str(m, "exempt");
    msgpack_pack_int64(&m->pk, 0);
    mk_str(m, "unknown");
    msgpack_pack_int64(&m->pk, 0);
    mk_str(m, "unattributed");
    msgpack_pack_nil(&m->pk);
    mk_str(m, "records");
    msgpack_pack_map(&m->pk, 5);
    for (int k = 0; k < 5; k++) {
        mk_str(m, rec[k]);
        msgpack_pack_int64(&m->pk, counts[k]);
    }
}

static struct blob mk_end(struct mk *m)
{
    msgpack_sbuffer_write(&m->sb, "\0\0\0\0", 4);
    struct blob b = {(unsigned char *)m->sb.data, m->sb.size};
    reseal(b.p, b.n);
    return b;
}

static const int64_t defaults6[6] = {-2, -2, -2, -2, -2, -2};
static const int64_t noflags2[2] = {-2, -2};
static const int64_t noflag1[1] = {-2};

static void mk_sub(struct mk *m, const char *name, const char *plan)
{
    msgpack_pack_array(&m->pk, 5);
    mk_str(m, name);
    if (plan)
        mk_str(m, plan);
    else
        msgpack_pack_nil(&m->pk);
    mk_ints(m, 6, defaults6);
    mk_ints(m, 2, noflags2);
    msgpack_pack_nil(&m->pk);
}

static void mk_domain(struct mk *m, const char *name, const char *sub, const int64_t lim4[4])
{
    msgpack_pack_array(&m->pk, 5);
    mk_str(m, name);
    mk_str(m, sub);
    mk_ints(m, 4, lim4 ? lim4 : defaults6);
    mk_ints(m, 1, noflag1);
    msgpack_pack_nil(&m->pk);
}

/* counter [latest, [[m, c]...], [[h, c]...]] from flat lists */
static void mk_counter(struct mk *m, int64_t latest, int nm, const int64_t *mins, int nh,
                       const int64_t *hours)
{
    msgpack_pack_array(&m->pk, 3);
    msgpack_pack_int64(&m->pk, latest);
    msgpack_pack_array(&m->pk, (size_t)nm);
    for (int i = 0; i < nm; i++)
        mk_ints(m, 2, mins + 2 * i);
    msgpack_pack_array(&m->pk, (size_t)nh);
    for (int i = 0; i < nh; i++)
        mk_ints(m, 2, hours + 2 * i);
}

static void mk_mailbox(struct mk *m, const char *addr, int implicit,
                       void (*counter)(struct mk *))
{
    static const int64_t lim2[2] = {10, -2};
    msgpack_pack_array(&m->pk, 5);
    mk_str(m, addr);
    if (implicit)
        msgpack_pack_true(&m->pk);
    else
        msgpack_pack_false(&m->pk);
    mk_ints(m, 2, lim2);
    mk_ints(m, 1, noflag1);
    if (counter)
        counter(m);
    else
        msgpack_pack_nil(&m->pk);
}

#define MIN0 (T / 60) /* the minute of T: 10:00 */

static void counter_ok(struct mk *m)
{
    /* 3 units at 09:30, 4 at 10:00 (this hour), 5 more earlier in the 09 hour, 2 yesterday */
    int64_t mins[] = {MIN0 - 30, 3, MIN0, 4};
    int64_t hours[] = {MIN0 / 60 - 23, 2, MIN0 / 60 - 1, 8, MIN0 / 60, 4};
    mk_counter(m, MIN0, 2, mins, 3, hours);
}

Test(snapshot, a_hand_written_file_following_the_documentation_loads)
{
    struct mk m;
    mk_begin(&m);
    mk_head(&m, (const int64_t[]){0, 1, 1, 2, 1}, NULL);
    mk_sub(&m, "Acme", NULL); /* names are lower-cased like everywhere */
    mk_domain(&m, "acme.example", "acme", NULL);
    mk_mailbox(&m, "a@acme.example", 0, counter_ok);
    mk_mailbox(&m, "b@ACME.example", 1, NULL);
    msgpack_pack_array(&m.pk, 2);
    mk_str(&m, "acme_web");
    mk_str(&m, "acme");
    struct blob b = mk_end(&m);
    maillimit *ml = fresh();
    char err[256];
    int rc = maillimit_snapshot_load_mem(ml, b.p, b.n, err, sizeof err);
    cr_assert(rc == 0, "%s", err);
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    OK(maillimit_status_get(ml, MBX, "a@acme.example", HOUR, T, &s));
    EQ(s.count, 7);
    EQ(s.limit, 10);
    EQ(s.reset_after, 3600); /* the 10:00 minute leaves at 11:00 */
    OK(maillimit_status_get(ml, MBX, "a@acme.example", DAY, T, &s));
    EQ(s.count, 14);
    EQ(s.reset_after, 86400);
    OK(maillimit_status_get(ml, MBX, "a@acme.example", HOUR, T + 31 * 60, &s));
    EQ(s.count, 4);
    OK(maillimit_status_get(ml, MBX, "a@acme.example", DAY, T + 3600, &s));
    EQ(s.count, 12); /* yesterday's 2 units left */
    OK(maillimit_status_get(ml, DOM, "acme.example", HOUR, T, &s));
    EQ(s.count, 0); /* counters are stored per entity, as saved */
    EQ(implicit_mark(ml, "b@acme.example"), 1);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_decide(ml, MBX, "a@acme.example", 3, T + 5, &v));
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.count, 7);
    OK(maillimit_decide(ml, MBX, "a@acme.example", 1, T + 6, &v));
    EQ(v.decision, MAILLIMIT_DENY);
    EQ(v.retry_after, 30 * 60 - 6); /* 09:30's 3 units leave the window at 10:30 */
    OK(maillimit_decide(ml, SUB, "acme_web", 1, T, &v));
    EQ(v.decision, MAILLIMIT_ALLOW);
    EQ(v.reason, MAILLIMIT_REASON_NONE);
    free(b.p);
    maillimit_free(ml);
}

/* One invalid hand-written file per case: refused with EFORMAT (or ERANGE) naming it. */
struct bad_case {
    const char *msg;
    int rc;
    void (*body)(struct mk *);
};

static void b_dup(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 2, 0, 0}, NULL);
    mk_sub(m, "s", NULL);
    mk_domain(m, "d.example", "s", NULL);
    mk_domain(m, "D.EXAMPLE", "s", NULL);
}
static void b_no_domain(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 0, 0, 1, 0}, NULL);
    mk_mailbox(m, "a@nowhere.example", 0, NULL);
}
static void b_no_sub(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 0, 1, 0, 0}, NULL);
    mk_domain(m, "d.example", "nosuch", NULL);
}
static void b_no_plan(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    mk_sub(m, "s", "gold");
}
static void b_limit(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 1, 0, 0}, NULL);
    mk_sub(m, "s", NULL);
    mk_domain(m, "d.example", "s", (const int64_t[]){5, -3, -2, -2});
}
static void b_flag(struct mk *m)
{
    mk_head(m, (const int64_t[]){1, 0, 0, 0, 0}, NULL);
    msgpack_pack_array(&m->pk, 3);
    mk_str(m, "p");
    mk_ints(m, 6, defaults6);
    mk_ints(m, 2, (const int64_t[]){2, 0});
}
static void b_missing(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 2, 0, 0, 0}, NULL);
    mk_sub(m, "s", NULL);
}
static void b_extra(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    mk_sub(m, "s", NULL);
    mk_sub(m, "t", NULL);
}
static void b_badname(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    mk_sub(m, "two words", NULL);
}
static void b_type(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    msgpack_pack_array(&m->pk, 5);
    msgpack_pack_int64(&m->pk, 42);
    msgpack_pack_nil(&m->pk);
    mk_ints(m, 6, defaults6);
    mk_ints(m, 2, noflags2);
    msgpack_pack_nil(&m->pk);
}
static void b_shape(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    msgpack_pack_array(&m->pk, 4);
    mk_str(m, "s");
    msgpack_pack_nil(&m->pk);
    mk_ints(m, 6, defaults6);
    mk_ints(m, 2, noflags2);
}
static void b_unknown_key(struct mk *m)
{
    msgpack_pack_map(&m->pk, 1);
    mk_str(m, "history");
    msgpack_pack_nil(&m->pk);
}
static void b_counts_lie(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 0, 0, 1000000, 0}, NULL);
}
static void c_window(struct mk *m)
{
    int64_t mins[] = {MIN0 - 60, 1};
    int64_t hours[] = {MIN0 / 60 - 1, 1};
    mk_counter(m, MIN0, 1, mins, 1, hours);
}
static void c_order(struct mk *m)
{
    int64_t mins[] = {MIN0, 1, MIN0 - 1, 1};
    int64_t hours[] = {MIN0 / 60 - 1, 1, MIN0 / 60, 1};
    mk_counter(m, MIN0, 2, mins, 2, hours);
}
static void c_hour_short(struct mk *m)
{
    int64_t mins[] = {MIN0 - 1, 5};
    int64_t hours[] = {MIN0 / 60 - 1, 4};
    mk_counter(m, MIN0, 1, mins, 1, hours);
}
static void c_too_big(struct mk *m)
{
    int64_t mins[] = {MIN0, 1 << 24};
    int64_t hours[] = {MIN0 / 60, 1 << 24};
    mk_counter(m, MIN0, 1, mins, 1, hours);
}
static void c_zero(struct mk *m)
{
    int64_t mins[] = {MIN0, 0};
    int64_t hours[] = {MIN0 / 60, 0};
    mk_counter(m, MIN0, 1, mins, 1, hours);
}
static void c_server_huge(struct mk *m)
{
    int64_t hours[] = {MIN0 / 60, (int64_t)1 << 39};
    mk_counter(m, MIN0, 0, NULL, 1, hours);
}
#define MAILBOX_WITH(fn)                                                                      \
    static void b_##fn(struct mk *m)                                                          \
    {                                                                                         \
        mk_head(m, (const int64_t[]){0, 1, 1, 1, 0}, NULL);                                   \
        mk_sub(m, "s", NULL);                                                                 \
        mk_domain(m, "d.example", "s", NULL);                                                 \
        mk_mailbox(m, "a@d.example", 0, fn);                                                  \
    }
MAILBOX_WITH(c_window)
MAILBOX_WITH(c_order)
MAILBOX_WITH(c_hour_short)
MAILBOX_WITH(c_too_big)
MAILBOX_WITH(c_zero)
static void b_server_huge(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 0, 0, 0, 0}, c_server_huge);
}
static void b_forged_length(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    msgpack_sbuffer_write(&m->sb, "\xdd\xff\xff\xff\xff\xc0", 6); /* 4G items, 1 given */
}
static void b_deep(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    for (int i = 0; i < 40; i++)
        msgpack_pack_array(&m->pk, 1);
    msgpack_pack_nil(&m->pk);
}
static void b_reserved_byte(struct mk *m)
{
    mk_head(m, (const int64_t[]){0, 1, 0, 0, 0}, NULL);
    msgpack_sbuffer_write(&m->sb, "\x95\xc1\xc0\xc0\xc0\xc0", 6);
}

Test(snapshot, invalid_fields_are_refused_with_a_clear_message)
{
    static const struct bad_case cases[] = {
        {"domain 2 \"d.example\": appears twice", MAILLIMIT_EFORMAT, b_dup},
        {"mailbox 1 \"a@nowhere.example\": domain \"nowhere.example\" is not in the snapshot",
         MAILLIMIT_EFORMAT, b_no_domain},
        {"subscription \"nosuch\" is not in the snapshot", MAILLIMIT_EFORMAT, b_no_sub},
        {"plan \"gold\" is not in the snapshot", MAILLIMIT_EFORMAT, b_no_plan},
        {"domain 1 \"d.example\": limit is out of range", MAILLIMIT_EFORMAT, b_limit},
        {"plan 1 \"p\": flag is out of range", MAILLIMIT_EFORMAT, b_flag},
        {"subscription 2: missing (the body ends early)", MAILLIMIT_EFORMAT, b_missing},
        {"unexpected data after the last record", MAILLIMIT_EFORMAT, b_extra},
        {"subscription 1: name: name contains a space", MAILLIMIT_EFORMAT, b_badname},
        {"subscription 1: name is not a string", MAILLIMIT_EFORMAT, b_type},
        {"subscription 1: the record has 4 items, expected 5", MAILLIMIT_EFORMAT, b_shape},
        {"head: the head has an unknown key", MAILLIMIT_EFORMAT, b_unknown_key},
        {"records cannot fit", MAILLIMIT_EFORMAT, b_counts_lie},
        {"counter minutes is out of range", MAILLIMIT_EFORMAT, b_c_window},
        {"counter minutes periods are not in ascending order", MAILLIMIT_EFORMAT, b_c_order},
        {"counter hour", MAILLIMIT_EFORMAT, b_c_hour_short},
        {"counter exceeds what this library can hold", MAILLIMIT_ERANGE, b_c_too_big},
        {"counter minutes is out of range", MAILLIMIT_EFORMAT, b_c_zero},
        {"the server counter exceeds", MAILLIMIT_ERANGE, b_server_huge},
        {"subscription 1: truncated msgpack", MAILLIMIT_EFORMAT, b_forged_length},
        {"subscription 1: nested too deeply", MAILLIMIT_EFORMAT, b_deep},
        {"subscription 1: malformed msgpack", MAILLIMIT_EFORMAT, b_reserved_byte},
    };
    maillimit *b = rich(0);
    struct blob before = save_mem(b);
    for (size_t i = 0; i < N(cases); i++) {
        struct mk m;
        mk_begin(&m);
        cases[i].body(&m);
        struct blob f = mk_end(&m);
        refused(b, before, f.p, f.n, cases[i].rc, cases[i].msg);
        free(f.p);
    }
    maillimit_buffer_free(before.p);
    maillimit_free(b);
}

/* ---- report data (format version 2) ------------------------------------------------------- */

/* rich(0), then 30 simulated hours of traffic with denials (closed episodes), ticks, and a
 * last burst that leaves episodes open; events read so far are consumed. */
static maillimit *with_reports(void)
{
    maillimit *ml = rich(0);
    OK(maillimit_retention_set(ml, 200));
    for (int64_t h = 1; h <= 30; h++) {
        int64_t t0 = T + h * 3600;
        for (int64_t t = t0; t < t0 + 3600; t += 300) {
            traffic(ml, MBX, "a@acme.example", 2, t); /* limit 8 an hour: denials */
            traffic(ml, MBX, "y@beta.example", 1 + h % 2, t);
            traffic(ml, MBX, "s@shop.example", 1, t); /* exempt */
            traffic(ml, MBX, "someone@unknown.example", 1, t);
            if (h % 5 == 0)
                traffic(ml, DOM, "acme.example", 7, t); /* domain limit 60 an hour */
        }
        OK(maillimit_tick(ml, t0 + 3599));
    }
    int64_t end = T + 31 * 3600;
    traffic(ml, MBX, "a@acme.example", 9, end - 60);            /* ongoing episode */
    traffic(ml, MBX, "j\xc3\xbcrgen@acme.example", 1, end - 30); /* limit 0: never ends */
    OK(maillimit_tick(ml, end - 10));
    maillimit_event ev;
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    while (maillimit_events_next(ml, end - 10, &ev) == 0)
        ;
    return ml;
}

static void same_history(maillimit *a, maillimit *b, int level, const char *name, int64_t now)
{
    maillimit_history *ia = NULL, *ib = NULL;
    OK(maillimit_history_open(a, level, name, 0, now + 1, now, &ia));
    OK(maillimit_history_open(b, level, name, 0, now + 1, now, &ib));
    maillimit_history_row ra, rb;
    maillimit_history_row_init(&ra, MAILLIMIT_HISTORY_ROW_VERSION);
    maillimit_history_row_init(&rb, MAILLIMIT_HISTORY_ROW_VERSION);
    int rows = 0, old = 0;
    for (;;) {
        int ca = maillimit_history_next(ia, &ra), cb = maillimit_history_next(ib, &rb);
        EQ(ca, cb);
        if (ca)
            break;
        rows++;
        old += ra.hour_start < now - 24 * 3600;
        cr_assert(memcmp(&ra, &rb, sizeof ra) == 0,
                  "%s: hour %lld: sent %lld/%lld denied %lld/%lld exempt %lld/%lld",
                  name ? name : "server", (long long)ra.hour_start, (long long)ra.sent,
                  (long long)rb.sent, (long long)ra.denied, (long long)rb.denied,
                  (long long)ra.exempt, (long long)rb.exempt);
    }
    cr_assert(rows > 0 && old > 0, "%s: %d rows, %d older than a day", name ? name : "server",
              rows, old);
    maillimit_history_close(ia);
    maillimit_history_close(ib);
}

static int same_episodes(maillimit *a, maillimit *b, int64_t now)
{
    maillimit_episodes *ia = NULL, *ib = NULL;
    OK(maillimit_episodes_open(a, SRV, NULL, 0, now + 1, now, &ia));
    OK(maillimit_episodes_open(b, SRV, NULL, 0, now + 1, now, &ib));
    maillimit_episode ea, eb;
    maillimit_episode_init(&ea, MAILLIMIT_EPISODE_VERSION);
    maillimit_episode_init(&eb, MAILLIMIT_EPISODE_VERSION);
    int n = 0, ongoing = 0;
    for (;;) {
        int ca = maillimit_episodes_next(ia, &ea), cb = maillimit_episodes_next(ib, &eb);
        EQ(ca, cb);
        if (ca)
            break;
        n++;
        ongoing += ea.ongoing;
        cr_assert(memcmp(&ea, &eb, sizeof ea) == 0, "episode %d (%s, started %lld) differs", n,
                  ea.name, (long long)ea.started);
    }
    maillimit_episodes_close(ia);
    maillimit_episodes_close(ib);
    cr_assert(n > 2, "only %d episodes", n);
    return ongoing;
}

static void same_summaries_and_tops(maillimit *a, maillimit *b, int64_t now)
{
    static const struct {
        int level;
        const char *name;
    } scope[] = {{SRV, NULL}, {SUB, "acme"}, {DOM, "acme.example"}, {DOM, "beta.example"}};
    static const int64_t spans[] = {3600, 86400, 40 * 3600, 400 * 3600};
    for (size_t i = 0; i < N(scope); i++)
        for (size_t j = 0; j < N(spans); j++) {
            maillimit_summary sa, sb;
            maillimit_summary_init(&sa, MAILLIMIT_SUMMARY_VERSION);
            maillimit_summary_init(&sb, MAILLIMIT_SUMMARY_VERSION);
            OK(maillimit_summary_get(a, scope[i].level, scope[i].name, now - spans[j], now + 1,
                                     now, &sa));
            OK(maillimit_summary_get(b, scope[i].level, scope[i].name, now - spans[j], now + 1,
                                     now, &sb));
            cr_assert(memcmp(&sa, &sb, sizeof sa) == 0,
                      "summary %s/%lld: sent %lld/%lld denied %lld/%lld exempt %lld/%lld "
                      "limited %lld/%lld",
                      scope[i].name ? scope[i].name : "server", (long long)spans[j],
                      (long long)sa.sent, (long long)sb.sent, (long long)sa.denied,
                      (long long)sb.denied, (long long)sa.exempt, (long long)sb.exempt,
                      (long long)sa.limited_entities, (long long)sb.limited_entities);
        }
    for (int metric = MAILLIMIT_METRIC_SENT; metric <= MAILLIMIT_METRIC_DENIED; metric++)
        for (int level = SUB; level <= MBX; level++) {
            maillimit_top_row ta[8], tb[8];
            maillimit_top_row_init(&ta[0], MAILLIMIT_TOP_ROW_VERSION);
            maillimit_top_row_init(&tb[0], MAILLIMIT_TOP_ROW_VERSION);
            size_t na = 8, nb = 8;
            OK(maillimit_top(a, level, metric, now - 40 * 3600, now + 1, SRV, NULL, now, ta,
                             &na));
            OK(maillimit_top(b, level, metric, now - 40 * 3600, now + 1, SRV, NULL, now, tb,
                             &nb));
            EQ(na, nb);
            cr_assert(na > 0);
            cr_assert(memcmp(ta, tb, na * sizeof ta[0]) == 0, "top %d/%d differs", metric,
                      level);
        }
}

/* The events both handles produce from now on (sequence numbers aside: not saved). */
static int same_events(maillimit *a, maillimit *b, int64_t now)
{
    maillimit_event ea, eb;
    maillimit_event_init(&ea, MAILLIMIT_EVENT_VERSION);
    maillimit_event_init(&eb, MAILLIMIT_EVENT_VERSION);
    int n = 0;
    for (;;) {
        int ca = maillimit_events_next(a, now, &ea), cb = maillimit_events_next(b, now, &eb);
        EQ(ca, cb);
        if (ca)
            return n;
        n++;
        ea.seq = eb.seq = 0;
        cr_assert(memcmp(&ea, &eb, sizeof ea) == 0, "event %d (%s) differs", n, ea.name);
    }
}

Test(snapshot, reports_survive_a_round_trip_exactly)
{
    maillimit *a = with_reports();
    struct blob s = save_mem(a);
    maillimit *b = loaded(s);
    int64_t r;
    OK(maillimit_retention_get(b, &r));
    EQ(r, 200);
    int64_t now = T + 31 * 3600 - 5;
    static const struct {
        int level;
        const char *name;
    } who[] = {{SRV, NULL},
               {SUB, "acme"},
               {SUB, "beta"},
               {DOM, "acme.example"},
               {DOM, "shop.example"},
               {MBX, "a@acme.example"},
               {MBX, "y@beta.example"},
               {MBX, "s@shop.example"}};
    for (size_t i = 0; i < N(who); i++)
        same_history(a, b, who[i].level, who[i].name, now);
    cr_assert(same_episodes(a, b, now) >= 2, "the open episodes were not ongoing");
    same_summaries_and_tops(a, b, now);
    EQ(same_events(a, b, now), 0);
    /* a reload saves the same bytes */
    struct blob s2 = save_mem(b);
    cr_assert(blob_eq(s, s2), "a loaded state saves other bytes (%zu vs %zu)", s.n, s2.n);
    /* time goes on: the open episodes end alike, hours are harvested alike */
    int64_t later = now + 3 * 3600;
    OK(maillimit_tick(a, later));
    OK(maillimit_tick(b, later));
    cr_assert(same_events(a, b, later) > 0, "the loaded open episode never ended");
    for (size_t i = 0; i < N(who); i++)
        same_history(a, b, who[i].level, who[i].name, later);
    same_episodes(a, b, later);
    same_summaries_and_tops(a, b, later);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(s2.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, reports_replace_those_of_the_loading_handle)
{
    maillimit *a = rich(1), *b = with_reports();
    struct blob s = save_mem(a);
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0));
    struct blob s2 = save_mem(b);
    cr_assert(blob_eq(s, s2), "the loading handle kept report data of its own");
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(s2.p);
    maillimit_free(a);
    maillimit_free(b);
}

/* A version-2 file of a state: its version-3 save with the head's "stats" map as version 2
 * wrote it ("exempt" and "unknown", always 0, before "unattributed"). */
static struct blob as_version2(struct blob v3)
{
    static const unsigned char key[] = "\xa5stats\x81";
    static const unsigned char old[] = "\xa5stats\x83\xa6" "exempt\x00\xa7unknown\x00";
    size_t at = 0;
    for (size_t i = 16; i + sizeof key - 1 <= v3.n && !at; i++)
        if (memcmp(v3.p + i, key, sizeof key - 1) == 0)
            at = i; /* the first one: the head comes before every name */
    cr_assert(at > 16);
    size_t grow = (sizeof old - 1) - (sizeof key - 1);
    struct blob v2 = {malloc(v3.n + grow), v3.n + grow};
    memcpy(v2.p, v3.p, at);
    memcpy(v2.p + at, old, sizeof old - 1);
    memcpy(v2.p + at + sizeof old - 1, v3.p + at + sizeof key - 1, v3.n - at - (sizeof key - 1));
    put_be32(v2.p + 8, 2);
    reseal(v2.p, v2.n);
    return v2;
}

Test(snapshot, a_version_2_file_still_loads)
{
    maillimit *a = rich(0), *b = rich(1);
    struct blob s = save_mem(a), v2 = as_version2(s);
    char err[256];
    int rc = maillimit_snapshot_load_mem(b, v2.p, v2.n, err, sizeof err);
    cr_assert(rc == 0, "%s", err);
    struct blob again = save_mem(b);
    cr_assert(blob_eq(s, again), "a version-2 file loads another state than its version 3");
    /* version 3 has no "exempt" or "unknown": a version-3 file with them is refused */
    struct blob bad = {malloc(v2.n), v2.n};
    memcpy(bad.p, v2.p, v2.n);
    put_be32(bad.p + 8, 3);
    reseal(bad.p, bad.n);
    refused(b, again, bad.p, bad.n, MAILLIMIT_EFORMAT, "stats");
    free(bad.p);
    free(v2.p);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(again.p);
    maillimit_free(a);
    maillimit_free(b);
}

/* A version-1 file of a state: its version-2 form without the reports section. */
static struct blob as_version1(struct blob v3)
{
    struct blob v2 = as_version2(v3);
    static const unsigned char key[] = "\x82\xa9retention";
    size_t at = 0;
    for (size_t i = 16; i + sizeof key - 1 <= v2.n; i++)
        if (memcmp(v2.p + i, key, sizeof key - 1) == 0)
            at = i; /* the last one: names cannot hold that byte sequence before it */
    cr_assert(at > 16);
    struct blob v1 = {malloc(at + 4), at + 4};
    memcpy(v1.p, v2.p, at);
    put_be32(v1.p + 8, 1);
    reseal(v1.p, v1.n);
    free(v2.p);
    return v1;
}

Test(snapshot, a_version_1_file_still_loads_with_empty_reports)
{
    maillimit *a = with_reports(), *b = with_reports();
    OK(maillimit_retention_set(b, 300));
    struct blob s = save_mem(a), v1 = as_version1(s);
    char err[256];
    int rc = maillimit_snapshot_load_mem(b, v1.p, v1.n, err, sizeof err);
    cr_assert(rc == 0, "%s", err);
    int64_t now = T + 31 * 3600 - 5;
    same_state(a, b, now);
    int64_t r;
    OK(maillimit_retention_get(b, &r));
    EQ(r, 300); /* not in version 1: kept */
    /* no episodes, no denied or exempt figures; what was sent in the counters' day is there */
    maillimit_episodes *it = NULL;
    maillimit_episode ep;
    maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
    OK(maillimit_episodes_open(b, SRV, NULL, 0, now + 1, now, &it));
    EQ(maillimit_episodes_next(it, &ep), MAILLIMIT_EDONE);
    maillimit_episodes_close(it);
    maillimit_summary sa, sb;
    maillimit_summary_init(&sa, MAILLIMIT_SUMMARY_VERSION);
    maillimit_summary_init(&sb, MAILLIMIT_SUMMARY_VERSION);
    OK(maillimit_summary_get(a, SRV, NULL, now - 86400 + 3600, now + 1, now, &sa));
    OK(maillimit_summary_get(b, SRV, NULL, now - 86400 + 3600, now + 1, now, &sb));
    EQ(sb.sent, sa.sent);
    EQ(sb.denied, 0);
    EQ(sb.exempt, 0);
    EQ(sb.limited_entities, 0);
    cr_assert(sa.denied > 0 && sa.exempt > 0);
    /* and it saves as version 3 */
    struct blob s2 = save_mem(b);
    EQ(s2.p[11], 3);
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(s2.p);
    free(v1.p);
    maillimit_free(a);
    maillimit_free(b);
}

Test(snapshot, truncated_or_flipped_report_data_is_refused)
{
    /* the whole-file tests above run on rich(0), whose reports are small: here a state with
     * long history, many episodes and open ones, over its reports section only */
    maillimit *a = with_reports(), *b = rich(1);
    struct blob s = save_mem(a), before = save_mem(b), v1 = as_version1(s);
    size_t from = v1.n - 4;
    cr_assert(s.n - from > 1000);
    for (size_t n = from; n < s.n; n++) {
        unsigned char *copy = malloc(n);
        memcpy(copy, s.p, n);
        refused(b, before, copy, n, MAILLIMIT_EFORMAT, NULL);
        free(copy);
    }
    for (size_t i = from; i < s.n; i += 3) {
        s.p[i] ^= (unsigned char)(1u << (i % 8));
        refused(b, before, s.p, s.n, MAILLIMIT_EFORMAT, NULL);
        s.p[i] ^= (unsigned char)(1u << (i % 8));
    }
    OK(maillimit_snapshot_load_mem(b, s.p, s.n, NULL, 0));
    maillimit_buffer_free(s.p);
    maillimit_buffer_free(before.p);
    free(v1.p);
    maillimit_free(a);
    maillimit_free(b);
}

/* Hand-written version-2 bodies: a subscription "s" and a domain "d.example", then the
 * reports head and what a case writes. */
static void mk_v2(struct mk *m, int64_t retention, int64_t nreports)
{
    m->sb.data[11] = 2;
    mk_head(m, (const int64_t[]){0, 1, 1, 0, 0}, NULL);
    mk_sub(m, "s", NULL);
    mk_domain(m, "d.example", "s", (const int64_t[]){-2, 0, -2, -2}); /* blocked a day */
    msgpack_pack_map(&m->pk, 2);
    mk_str(m, "retention");
    msgpack_pack_int64(&m->pk, retention);
    mk_str(m, "reports");
    msgpack_pack_int64(&m->pk, nreports);
}

/* [level, name, harvested, hours, episodes, live] with flat lists */
static void mk_report(struct mk *m, int level, const char *name, int64_t harvested, int nh,
                      const int64_t *hours, int ne, const int64_t *eps, int live)
{
    msgpack_pack_array(&m->pk, 6);
    msgpack_pack_int64(&m->pk, level);
    if (name)
        mk_str(m, name);
    else
        msgpack_pack_nil(&m->pk);
    if (harvested >= 0)
        msgpack_pack_int64(&m->pk, harvested);
    else
        msgpack_pack_nil(&m->pk);
    msgpack_pack_array(&m->pk, (size_t)nh);
    for (int i = 0; i < nh; i++)
        mk_ints(m, 4, hours + 4 * i);
    msgpack_pack_array(&m->pk, (size_t)ne);
    for (int i = 0; i < ne; i++)
        mk_ints(m, 5, eps + 5 * i);
    if (!live) {
        msgpack_pack_nil(&m->pk);
        return;
    }
    /* live: denied at hours H0-1 and H0 (+ live - 1: 24 makes them share a slot), open ep */
    int64_t h0 = T / 3600;
    msgpack_pack_array(&m->pk, 4);
    msgpack_pack_array(&m->pk, 2);
    mk_ints(m, 2, (const int64_t[]){h0 - 1, 3});
    mk_ints(m, 2, (const int64_t[]){h0 + live - 1, 4});
    msgpack_pack_array(&m->pk, 0);
    msgpack_pack_array(&m->pk, 0);
    mk_ints(m, 5, (const int64_t[]){T - 60, T + 600, 4, 10, live == 2 ? 2 : 1});
}

#define H0 (T / 3600)
static const int64_t hours_ok[] = {H0 - 40, 5, 1, 0, H0 - 30, 0, 0, 2};
static const int64_t eps_ok[] = {T - 40 * 3600, T - 39 * 3600, 10, 3, 0};

static void r_ok(struct mk *m)
{
    mk_v2(m, 100, 3);
    mk_report(m, DOM, "D.example", H0 - 20, 2, hours_ok, 1, eps_ok, 1);
    mk_report(m, SRV, NULL, H0 - 20, 2, hours_ok, 0, NULL, 0);
    mk_report(m, -1, NULL, H0 - 20, 0, NULL, 0, NULL, 0);
}
static void r_retention(struct mk *m)
{
    mk_v2(m, 0, 0);
}
static void r_count_lies(struct mk *m)
{
    mk_v2(m, 10, 1000);
}
static void r_no_entity(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "other.example", H0, 0, NULL, 0, NULL, 1);
}
static void r_plan(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, PLN, "p", H0, 0, NULL, 0, NULL, 1);
}
static void r_twice(struct mk *m)
{
    mk_v2(m, 10, 3);
    mk_report(m, SUB, "s", H0, 0, NULL, 0, NULL, 1);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 0, NULL, 1);
    mk_report(m, SUB, "s", H0, 0, NULL, 0, NULL, 0);
}
static void r_order(struct mk *m)
{
    static const int64_t h[] = {H0 - 30, 5, 1, 0, H0 - 40, 0, 0, 2};
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 2, h, 0, NULL, 0);
}
static void r_after_mark(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0 - 35, 2, hours_ok, 0, NULL, 0);
}
static void r_count(struct mk *m)
{
    static const int64_t h[] = {H0 - 30, 1LL << 32, 1, 0};
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 1, h, 0, NULL, 0);
}
static void r_ep_end(struct mk *m)
{
    static const int64_t e[] = {T, T - 1, 10, 3, 0};
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 1, e, 0);
}
static void r_ep_window(struct mk *m)
{
    static const int64_t e[] = {T - 10, T, 10, 3, 2};
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 1, e, 0);
}
static void r_slot(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 0, NULL, 24);
}
static void r_open_window(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 0, NULL, 2);
}
static void r_empty(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", -1, 0, NULL, 0, NULL, 0);
}
static void r_no_mark(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, DOM, "d.example", -1, 2, hours_ok, 0, NULL, 1);
}
static void r_missing(struct mk *m)
{
    mk_v2(m, 10, 2);
    mk_report(m, DOM, "d.example", H0, 0, NULL, 0, NULL, 1);
}
static void r_server_name(struct mk *m)
{
    mk_v2(m, 10, 1);
    mk_report(m, SRV, "s", H0, 0, NULL, 0, NULL, 1);
}

Test(snapshot, a_hand_written_version_2_file_loads)
{
    struct mk m;
    mk_begin(&m);
    r_ok(&m);
    struct blob f = mk_end(&m);
    maillimit *b = fresh();
    char err[256];
    int rc = maillimit_snapshot_load_mem(b, f.p, f.n, err, sizeof err);
    cr_assert(rc == 0, "%s", err);
    int64_t r;
    OK(maillimit_retention_get(b, &r));
    EQ(r, 100);
    int64_t now = T + 10;
    maillimit_history *it = NULL;
    maillimit_history_row row;
    maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
    OK(maillimit_history_open(b, DOM, "d.example", 0, now + 1, now, &it));
    OK(maillimit_history_next(it, &row));
    EQ(row.hour_start, (H0 - 40) * 3600);
    EQ(row.sent, 5);
    EQ(row.denied, 1);
    OK(maillimit_history_next(it, &row));
    EQ(row.hour_start, (H0 - 30) * 3600);
    EQ(row.exempt, 2);
    OK(maillimit_history_next(it, &row));
    EQ(row.hour_start, (H0 - 1) * 3600);
    EQ(row.denied, 3);
    OK(maillimit_history_next(it, &row));
    EQ(row.hour_start, H0 * 3600);
    EQ(row.denied, 4);
    EQ(maillimit_history_next(it, &row), MAILLIMIT_EDONE);
    maillimit_history_close(it);
    maillimit_episodes *ei = NULL;
    maillimit_episode ep;
    maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
    OK(maillimit_episodes_open(b, SRV, NULL, 0, now + 1, now, &ei));
    OK(maillimit_episodes_next(ei, &ep));
    EQ(ep.started, T - 40 * 3600);
    EQ(ep.ended, T - 39 * 3600);
    EQ(ep.ongoing, 0);
    OK(maillimit_episodes_next(ei, &ep));
    EQ(ep.started, T - 60);
    EQ(ep.ongoing, 1);
    EQ(ep.window, DAY);
    EQ(ep.denied, 4);
    EQ(maillimit_episodes_next(ei, &ep), MAILLIMIT_EDONE);
    maillimit_episodes_close(ei);
    /* the open episode is on the open list: it ends at its free_at time with an event */
    maillimit_event ev;
    maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
    OK(maillimit_events_next(b, T + 700, &ev));
    EQ(ev.type, MAILLIMIT_EVENT_BACK_TO_NORMAL);
    EQ(ev.time, T + 600);
    cr_assert_str_eq(ev.name, "d.example");
    free(f.p);
    maillimit_free(b);
}

Test(snapshot, invalid_report_fields_are_refused_with_a_clear_message)
{
    static const struct bad_case cases[] = {
        {"reports: retention is out of range", MAILLIMIT_EFORMAT, r_retention},
        {"reports: 1000 reports cannot fit", MAILLIMIT_EFORMAT, r_count_lies},
        {"report 1 \"other.example\": no such domain in the snapshot", MAILLIMIT_EFORMAT,
         r_no_entity},
        {"report 1: level is out of range", MAILLIMIT_EFORMAT, r_plan},
        {"report 3 \"s\": appears twice", MAILLIMIT_EFORMAT, r_twice},
        {"report 1 \"d.example\": history hours are not in ascending order", MAILLIMIT_EFORMAT,
         r_order},
        {"report 1 \"d.example\": history hour is out of range", MAILLIMIT_EFORMAT,
         r_after_mark},
        {"report 1 \"d.example\": history count is out of range", MAILLIMIT_EFORMAT, r_count},
        {"report 1 \"d.example\": episode end is before its start", MAILLIMIT_EFORMAT,
         r_ep_end},
        {"report 1 \"d.example\": episode window is out of range", MAILLIMIT_EFORMAT,
         r_ep_window},
        {"report 1 \"d.example\": live denied hours share a slot", MAILLIMIT_EFORMAT, r_slot},
        {"report 1 \"d.example\": open episode window is out of range", MAILLIMIT_EFORMAT,
         r_open_window},
        {"report 1 \"d.example\": the report has neither history nor live figures",
         MAILLIMIT_EFORMAT, r_empty},
        {"report 1 \"d.example\": history needs a harvested mark", MAILLIMIT_EFORMAT,
         r_no_mark},
        {"report 2: missing (the body ends early)", MAILLIMIT_EFORMAT, r_missing},
        {"report 1: name must be nil", MAILLIMIT_EFORMAT, r_server_name},
    };
    maillimit *b = with_reports();
    struct blob before = save_mem(b);
    for (size_t i = 0; i < N(cases); i++) {
        struct mk m;
        mk_begin(&m);
        cases[i].body(&m);
        struct blob f = mk_end(&m);
        refused(b, before, f.p, f.n, cases[i].rc, cases[i].msg);
        free(f.p);
    }
    maillimit_buffer_free(before.p);
    maillimit_free(b);
}

/* ---- crash safety ------------------------------------------------------------------------- */

static maillimit *sized(int variant, int bulk)
{
    maillimit *ml = rich(variant);
    char buf[64];
    for (int i = 0; i < bulk; i++) {
        snprintf(buf, sizeof buf, "bulk%d@acme.example", i);
        OK(maillimit_mailbox_add(ml, buf));
        if (i % 3 == variant)
            traffic(ml, MBX, buf, 1, T - 60 * (i % 90));
    }
    return ml;
}

Test(snapshot, a_save_killed_at_any_instant_leaves_a_complete_snapshot, .timeout = 120)
{
    char dir[] = "/tmp/ml-snap-XXXXXX", path[64];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/state.snap", dir);
    maillimit *st[2] = {sized(0, 400), sized(1, 400)};
    struct blob want[2] = {save_mem(st[0]), save_mem(st[1])};
    cr_assert(!blob_eq(want[0], want[1]));
    char err[256];
    OK(maillimit_snapshot_save(st[0], path, err, sizeof err));

    /* measure one save, to spread the kills over a few saves */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    OK(maillimit_snapshot_save(st[0], path, err, sizeof err));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long one_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    long span = one_us * 4 + 200;

    srand(12345);
    int seen[2] = {0, 0}, iterations = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int it = 0; it < 200; it++) {
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0) {
            for (int k = 1;; k++)
                if (maillimit_snapshot_save(st[k % 2], path, NULL, 0))
                    _exit(3);
        }
        usleep((useconds_t)(rand() % span));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "the saving child failed (status %d)", status);
        maillimit *got = fresh();
        int rc = maillimit_snapshot_load(got, path, err, sizeof err);
        cr_assert(rc == 0, "iteration %d: %s", it, err);
        struct blob g = save_mem(got);
        int which = blob_eq(g, want[0]) ? 0 : blob_eq(g, want[1]) ? 1 : -1;
        cr_assert(which >= 0, "iteration %d: the snapshot is neither state", it);
        seen[which]++;
        maillimit_buffer_free(g.p);
        maillimit_free(got);
        iterations++;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (t1.tv_sec - t0.tv_sec > 60)
            break;
    }
    cr_assert(seen[1] > 0, "no save ever completed before a kill (%d iterations)", iterations);
    cr_log_info("crash test: %d kills, one save %ld us, state 0 %d times, state 1 %d times",
                iterations, one_us, seen[0], seen[1]);
    /* killed saves leave their temporary files: nothing else */
    DIR *d = opendir(dir);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        cr_assert(strcmp(e->d_name, "state.snap") == 0 ||
                      strncmp(e->d_name, "state.snap.tmp.", 15) == 0,
                  "unexpected file %s", e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
    for (int i = 0; i < 2; i++) {
        maillimit_buffer_free(want[i].p);
        maillimit_free(st[i]);
    }
}
