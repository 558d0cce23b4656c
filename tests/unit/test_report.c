/* SPDX-License-Identifier: MIT */
/* Reports: hourly history (sent / denied / exempt per clock hour, parents include children,
 * plans, [from, to), retention, ticks), episodes (start, lazy exact end, scoping, order,
 * reset and limit changes), top-K (ranking, ties, capacity, scope, levels) and summaries.
 * Every expectation is hand-computed from include/maillimit.h ("Reports and events") and
 * SPEC.md §3, §5. Times are explicit: T = 2026-01-01 10:00:00 UTC (a multiple of 3600). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <maillimit.h>

#include "fixture.h"

#define H 3600LL
#define SENT MAILLIMIT_METRIC_SENT
#define DENIED MAILLIMIT_METRIC_DENIED

/* Start of clock hour hh. */
#define HR(h) AT(h, 0, 0)

/* A range that holds every hour any test uses. */
#define ALL_FROM (T - 48 * H)
#define ALL_TO (T + 96 * H)

/* ---- helpers ------------------------------------------------------------------------------ */

/* The history fixture: plan gold with acme and beta; other (no plan).
 * acme: acme.example {a, b, news (exempt)}, shop.example {s}; system user acme_web.
 * beta: beta.example {x}.  other: other.example {o}.  No limits. */
static maillimit *fixture(void)
{
    return fixture_from("plan gold\n"
                        "subscription acme plan=gold\n"
                        "subscription beta plan=gold\n"
                        "subscription other\n"
                        "domain acme.example subscription=acme\n"
                        "domain shop.example subscription=acme\n"
                        "domain beta.example subscription=beta\n"
                        "domain other.example subscription=other\n"
                        "mailbox a@acme.example\n"
                        "mailbox b@acme.example\n"
                        "mailbox news@acme.example exempt=yes\n"
                        "mailbox s@shop.example\n"
                        "mailbox x@beta.example\n"
                        "mailbox o@other.example\n"
                        "sysuser acme_web subscription=acme\n");
}

static void allow(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v = dec(ml, level, sender, cost, now);
    cr_assert(v.decision == MAILLIMIT_ALLOW, "%s cost %lld at T%+lld: expected ALLOW", sender,
              (long long)cost, (long long)(now - T));
}

static void deny(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v = dec(ml, level, sender, cost, now);
    cr_assert(v.decision == MAILLIMIT_DENY, "%s cost %lld at T%+lld: expected DENY", sender,
              (long long)cost, (long long)(now - T));
}

/* ---- history helpers ---- */

struct hrow {
    int64_t hour, sent, denied, exempt;
};

#define MAXROWS 128

/* Read a whole history into rows[]; returns the row count. */
static size_t read_history(maillimit *ml, int level, const char *name, int64_t from, int64_t to,
                           int64_t now, struct hrow *rows)
{
    maillimit_history *it = NULL;
    int rc = maillimit_history_open(ml, level, name, from, to, now, &it);
    cr_assert(rc == 0, "history_open(%d, %s): %d", level, name ? name : "(server)", rc);
    cr_assert(it != NULL);
    size_t n = 0;
    for (;;) {
        maillimit_history_row r;
        memset(&r, 0x5a, sizeof r);
        maillimit_history_row_init(&r, MAILLIMIT_HISTORY_ROW_VERSION);
        rc = maillimit_history_next(it, &r);
        if (rc == MAILLIMIT_EDONE)
            break;
        cr_assert(rc == 0, "history_next: %d", rc);
        cr_assert(n < MAXROWS);
        EQ(r.version, MAILLIMIT_HISTORY_ROW_VERSION);
        EQ(r.reserved_, 0);
        rows[n++] = (struct hrow){r.hour_start, r.sent, r.denied, r.exempt};
    }
    /* The end stays the end. */
    maillimit_history_row r;
    maillimit_history_row_init(&r, MAILLIMIT_HISTORY_ROW_VERSION);
    EQ(maillimit_history_next(it, &r), MAILLIMIT_EDONE);
    maillimit_history_close(it);
    return n;
}

static void expect_history_(maillimit *ml, int level, const char *name, int64_t from,
                            int64_t to, int64_t now, const struct hrow *exp, size_t nexp,
                            int line)
{
    struct hrow got[MAXROWS];
    size_t n = read_history(ml, level, name, from, to, now, got);
    const char *who = name ? name : "(server)";
    for (size_t i = 0; i < n && i < nexp; i++)
        cr_assert(got[i].hour == exp[i].hour && got[i].sent == exp[i].sent &&
                      got[i].denied == exp[i].denied && got[i].exempt == exp[i].exempt,
                  "line %d: history of %s row %zu: got {T%+lld: sent %lld denied %lld "
                  "exempt %lld}, expected {T%+lld: sent %lld denied %lld exempt %lld}",
                  line, who, i, (long long)(got[i].hour - T), (long long)got[i].sent,
                  (long long)got[i].denied, (long long)got[i].exempt,
                  (long long)(exp[i].hour - T), (long long)exp[i].sent,
                  (long long)exp[i].denied, (long long)exp[i].exempt);
    cr_assert(n == nexp, "line %d: history of %s: got %zu rows, expected %zu%s%lld", line, who,
              n, nexp, n > nexp ? "; first extra row at T" : "",
              n > nexp ? (long long)(got[nexp].hour - T) : 0LL);
}
#define EXPECT_HISTORY(ml, level, name, from, to, now, ...)                                   \
    do {                                                                                      \
        const struct hrow exp_[] = {__VA_ARGS__};                                             \
        expect_history_(ml, level, name, from, to, now, exp_, sizeof exp_ / sizeof exp_[0],   \
                        __LINE__);                                                            \
    } while (0)
#define EXPECT_NO_HISTORY(ml, level, name, from, to, now)                                     \
    expect_history_(ml, level, name, from, to, now, NULL, 0, __LINE__)

/* ---- episode helpers ---- */

struct erow {
    int level;
    const char *name;
    int window, ongoing;
    int64_t started, ended, limit, denied;
};

static size_t read_episodes(maillimit *ml, int level, const char *name, int64_t from,
                            int64_t to, int64_t now, maillimit_episode *eps, size_t cap)
{
    maillimit_episodes *it = NULL;
    int rc = maillimit_episodes_open(ml, level, name, from, to, now, &it);
    cr_assert(rc == 0, "episodes_open(%d, %s): %d", level, name ? name : "(server)", rc);
    cr_assert(it != NULL);
    size_t n = 0;
    for (;;) {
        maillimit_episode e;
        memset(&e, 0x5a, sizeof e);
        maillimit_episode_init(&e, MAILLIMIT_EPISODE_VERSION);
        rc = maillimit_episodes_next(it, &e);
        if (rc == MAILLIMIT_EDONE)
            break;
        cr_assert(rc == 0, "episodes_next: %d", rc);
        cr_assert(n < cap);
        EQ(e.version, MAILLIMIT_EPISODE_VERSION);
        eps[n++] = e;
    }
    maillimit_episode e;
    maillimit_episode_init(&e, MAILLIMIT_EPISODE_VERSION);
    EQ(maillimit_episodes_next(it, &e), MAILLIMIT_EDONE);
    maillimit_episodes_close(it);
    return n;
}

static void expect_episodes_(maillimit *ml, int level, const char *name, int64_t from,
                             int64_t to, int64_t now, const struct erow *exp, size_t nexp,
                             int line)
{
    maillimit_episode got[64];
    maillimit_episode_init(&got[0], MAILLIMIT_EPISODE_VERSION);
    size_t n = read_episodes(ml, level, name, from, to, now, got, 64);
    const char *who = name ? name : "(server)";
    for (size_t i = 0; i < n && i < nexp; i++) {
        const maillimit_episode *g = &got[i];
        const struct erow *e = &exp[i];
        cr_assert(g->level == e->level && strcmp(g->name, e->name) == 0 &&
                      g->window == e->window && g->ongoing == e->ongoing &&
                      g->started == e->started && g->ended == e->ended &&
                      g->limit == e->limit && g->denied == e->denied,
                  "line %d: episodes of %s #%zu: got {level %d \"%s\" window %d ongoing %d "
                  "started T%+lld ended %s%lld limit %lld denied %lld}, expected {level %d "
                  "\"%s\" window %d ongoing %d started T%+lld ended %s%lld limit %lld "
                  "denied %lld}",
                  line, who, i, g->level, g->name, g->window, g->ongoing,
                  (long long)(g->started - T), g->ended < 0 ? "" : "T+",
                  (long long)(g->ended < 0 ? g->ended : g->ended - T), (long long)g->limit,
                  (long long)g->denied, e->level, e->name, e->window, e->ongoing,
                  (long long)(e->started - T), e->ended < 0 ? "" : "T+",
                  (long long)(e->ended < 0 ? e->ended : e->ended - T), (long long)e->limit,
                  (long long)e->denied);
    }
    cr_assert(n == nexp, "line %d: episodes of %s: got %zu, expected %zu%s%s", line, who, n,
              nexp, n > nexp ? "; first extra: " : "", n > nexp ? got[nexp].name : "");
}
#define EXPECT_EPISODES(ml, level, name, from, to, now, ...)                                  \
    do {                                                                                      \
        const struct erow exp_[] = {__VA_ARGS__};                                             \
        expect_episodes_(ml, level, name, from, to, now, exp_, sizeof exp_ / sizeof exp_[0],  \
                         __LINE__);                                                           \
    } while (0)
#define EXPECT_NO_EPISODES(ml, level, name, from, to, now)                                    \
    expect_episodes_(ml, level, name, from, to, now, NULL, 0, __LINE__)

/* ---- top helpers ---- */

struct trow {
    int level;
    const char *name;
    int64_t sent, denied, exempt;
};

static void expect_top_(maillimit *ml, int level, int metric, int64_t from, int64_t to,
                        int scope_level, const char *scope_name, int64_t now, size_t k,
                        const struct trow *exp, size_t nexp, int line)
{
    maillimit_top_row rows[64];
    cr_assert(k <= 63);
    memset(rows, 0x5a, sizeof rows);
    maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
    size_t n = k;
    int rc = maillimit_top(ml, level, metric, from, to, scope_level, scope_name, now, rows, &n);
    cr_assert(rc == 0, "line %d: top: %d", line, rc);
    for (size_t i = 0; i < n && i < nexp; i++) {
        const maillimit_top_row *g = &rows[i];
        const struct trow *e = &exp[i];
        EQ(g->version, MAILLIMIT_TOP_ROW_VERSION);
        cr_assert(g->level == e->level && strcmp(g->name, e->name) == 0 &&
                      g->sent == e->sent && g->denied == e->denied && g->exempt == e->exempt,
                  "line %d: top row %zu: got {%d \"%s\" sent %lld denied %lld exempt %lld}, "
                  "expected {%d \"%s\" sent %lld denied %lld exempt %lld}",
                  line, i, g->level, g->name, (long long)g->sent, (long long)g->denied,
                  (long long)g->exempt, e->level, e->name, (long long)e->sent,
                  (long long)e->denied, (long long)e->exempt);
    }
    cr_assert(n == nexp, "line %d: top: got %zu rows, expected %zu", line, n, nexp);
    /* Nothing written past the rows reported (row 0 holds what its _init wrote). */
    maillimit_top_row untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    if (n == 0)
        maillimit_top_row_init(&untouched, MAILLIMIT_TOP_ROW_VERSION);
    cr_assert(memcmp(&rows[n], &untouched, sizeof untouched) == 0,
              "line %d: top wrote past row %zu", line, n);
}
#define EXPECT_TOP(ml, level, metric, from, to, scope_level, scope_name, now, k, ...)         \
    do {                                                                                      \
        const struct trow exp_[] = {__VA_ARGS__};                                             \
        expect_top_(ml, level, metric, from, to, scope_level, scope_name, now, k, exp_,       \
                    sizeof exp_ / sizeof exp_[0], __LINE__);                                  \
    } while (0)
#define EXPECT_NO_TOP(ml, level, metric, from, to, scope_level, scope_name, now)              \
    expect_top_(ml, level, metric, from, to, scope_level, scope_name, now, 10, NULL, 0,        \
                __LINE__)

/* ---- summary helper ---- */

static maillimit_summary summary(maillimit *ml, int scope_level, const char *scope_name,
                                 int64_t from, int64_t to, int64_t now)
{
    maillimit_summary s;
    memset(&s, 0x5a, sizeof s);
    maillimit_summary_init(&s, MAILLIMIT_SUMMARY_VERSION);
    int rc = maillimit_summary_get(ml, scope_level, scope_name, from, to, now, &s);
    cr_assert(rc == 0, "summary_get(%d, %s): %d", scope_level,
              scope_name ? scope_name : "(server)", rc);
    EQ(s.version, MAILLIMIT_SUMMARY_VERSION);
    EQ(s.reserved_, 0);
    return s;
}

#define EXPECT_SUMMARY(s, sent_, denied_, exempt_, unattributed_, limited_)                   \
    do {                                                                                      \
        const maillimit_summary ss_ = (s);                                                    \
        EQ(ss_.sent, sent_);                                                                  \
        EQ(ss_.denied, denied_);                                                              \
        EQ(ss_.exempt, exempt_);                                                              \
        EQ(ss_.unattributed, unattributed_);                                                  \
        EQ(ss_.limited_entities, limited_);                                                   \
    } while (0)

/* ======================================================================================== */
/* History                                                                                   */
/* ======================================================================================== */

Test(report, history_sent_per_clock_hour_across_the_boundary)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "a@acme.example", 2, AT(10, 59, 59));
    allow(ml, MBX, "a@acme.example", 4, AT(11, 0, 0));
    /* Read inside 11:00 without any tick: the open hour is reported as it stands. */
    const int64_t now = AT(11, 30, 0);
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, now,
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now,
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now,
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now,
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now,
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    /* Nothing from b, nor from the other subscription. */
    EXPECT_NO_HISTORY(ml, MBX, "b@acme.example", ALL_FROM, ALL_TO, now);
    EXPECT_NO_HISTORY(ml, DOM, "shop.example", ALL_FROM, ALL_TO, now);
    EXPECT_NO_HISTORY(ml, SUB, "other", ALL_FROM, ALL_TO, now);
    /* After ticks the closed hours are the same figures. */
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(13, 30, 0),
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(13, 30, 0),
                   {HR(10), 5, 0, 0}, {HR(11), 4, 0, 0});
    maillimit_free(ml);
}

Test(report, history_reads_and_ticks_do_not_double_count)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(10, 1, 0));
    OK(maillimit_tick(ml, AT(10, 2, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 3, 0), {HR(10), 1, 0, 0});
    allow(ml, MBX, "a@acme.example", 2, AT(10, 4, 0));
    OK(maillimit_tick(ml, AT(10, 5, 0)));
    OK(maillimit_tick(ml, AT(10, 5, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 6, 0), {HR(10), 3, 0, 0});
    OK(maillimit_tick(ml, AT(11, 0, 0)));
    OK(maillimit_tick(ml, AT(11, 0, 1)));
    allow(ml, MBX, "a@acme.example", 4, AT(11, 0, 2));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(12, 0, 0),
                   {HR(10), 3, 0, 0}, {HR(11), 4, 0, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(12, 30, 0),
                   {HR(10), 3, 0, 0}, {HR(11), 4, 0, 0});
    maillimit_free(ml);
}

Test(report, history_denied_and_exempt_per_hour)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    allow(ml, MBX, "a@acme.example", 2, AT(10, 10, 0));
    deny(ml, MBX, "a@acme.example", 3, AT(10, 20, 0));      /* denied counts units: 3 */
    allow(ml, MBX, "news@acme.example", 5, AT(10, 30, 0));  /* exempt */
    deny(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));       /* 10:10 units still in */
    allow(ml, MBX, "news@acme.example", 1, AT(11, 6, 0));
    const int64_t now = AT(11, 30, 0);
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, now,
                   {HR(10), 2, 3, 0}, {HR(11), 0, 1, 0});
    EXPECT_HISTORY(ml, MBX, "news@acme.example", ALL_FROM, ALL_TO, now,
                   {HR(10), 0, 0, 5}, {HR(11), 0, 0, 1});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now,
                   {HR(10), 2, 3, 5}, {HR(11), 0, 1, 1});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now,
                   {HR(10), 2, 3, 5}, {HR(11), 0, 1, 1});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now,
                   {HR(10), 2, 3, 5}, {HR(11), 0, 1, 1});
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now,
                   {HR(10), 2, 3, 5}, {HR(11), 0, 1, 1});
    /* The same after the hours are closed by ticks. */
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(13, 0, 0),
                   {HR(10), 2, 3, 5}, {HR(11), 0, 1, 1});
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(13, 0, 0),
                   {HR(10), 2, 3, 0}, {HR(11), 0, 1, 0});
    maillimit_free(ml);
}

/* A denial by a parent's limit is denied traffic of the sender and of every counted level. */
Test(report, history_denied_by_a_parent_limit_shows_at_every_level)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", DOM, HOUR, 1);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    deny(ml, MBX, "b@acme.example", 2, AT(10, 1, 0));
    const int64_t now = AT(10, 30, 0);
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, now, {HR(10), 1, 0, 0});
    EXPECT_HISTORY(ml, MBX, "b@acme.example", ALL_FROM, ALL_TO, now, {HR(10), 0, 2, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now, {HR(10), 1, 2, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now, {HR(10), 1, 2, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now, {HR(10), 1, 2, 0});
    maillimit_free(ml);
}

Test(report, history_of_a_parent_includes_its_children_and_its_own_mail)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 2, AT(10, 10, 0));
    allow(ml, MBX, "b@acme.example", 3, AT(10, 10, 0));
    allow(ml, DOM, "acme.example", 4, AT(10, 20, 0));     /* script mail of the domain */
    allow(ml, MBX, "s@shop.example", 1, AT(10, 25, 0));
    allow(ml, SUB, "acme", 5, AT(10, 30, 0));             /* subscription-level mail */
    allow(ml, SUB, "acme_web", 6, AT(10, 40, 0));         /* its system user */
    allow(ml, MBX, "x@beta.example", 7, AT(10, 50, 0));
    allow(ml, MBX, "o@other.example", 8, AT(10, 55, 0));
    const int64_t now = AT(10, 59, 0);
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, now, {HR(10), 2, 0, 0});
    EXPECT_HISTORY(ml, MBX, "b@acme.example", ALL_FROM, ALL_TO, now, {HR(10), 3, 0, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now, {HR(10), 9, 0, 0});
    EXPECT_HISTORY(ml, DOM, "shop.example", ALL_FROM, ALL_TO, now, {HR(10), 1, 0, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now, {HR(10), 21, 0, 0});
    EXPECT_HISTORY(ml, SUB, "beta", ALL_FROM, ALL_TO, now, {HR(10), 7, 0, 0});
    EXPECT_HISTORY(ml, SUB, "other", ALL_FROM, ALL_TO, now, {HR(10), 8, 0, 0});
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now, {HR(10), 28, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now, {HR(10), 36, 0, 0});
    maillimit_free(ml);
}

Test(report, history_of_a_plan_is_the_sum_of_its_subscriptions)
{
    maillimit *ml = fixture();
    OK(maillimit_plan_add(ml, "empty"));
    allow(ml, MBX, "a@acme.example", 2, AT(10, 10, 0));
    allow(ml, MBX, "x@beta.example", 3, AT(10, 20, 0));
    allow(ml, MBX, "o@other.example", 7, AT(10, 30, 0));  /* not in gold */
    allow(ml, MBX, "x@beta.example", 1, AT(11, 10, 0));
    allow(ml, MBX, "o@other.example", 9, AT(12, 10, 0));  /* not in gold */
    const int64_t now = AT(12, 30, 0);
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now, {HR(10), 5, 0, 0}, {HR(11), 1, 0, 0});
    EXPECT_NO_HISTORY(ml, PLN, "empty", ALL_FROM, ALL_TO, now);
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, AT(13, 0, 0), {HR(10), 5, 0, 0},
                   {HR(11), 1, 0, 0});
    maillimit_free(ml);
}

Test(report, history_only_hours_with_traffic_oldest_first)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    OK(maillimit_tick(ml, AT(11, 0, 0)));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    allow(ml, MBX, "a@acme.example", 2, AT(12, 59, 59));
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    OK(maillimit_tick(ml, AT(14, 0, 0)));
    OK(maillimit_tick(ml, AT(15, 0, 0)));
    allow(ml, MBX, "a@acme.example", 3, AT(15, 30, 0));
    /* Harvested hours and the open hour, in order, no empty hours in between. */
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(15, 40, 0),
                   {HR(10), 1, 0, 0}, {HR(12), 2, 0, 0}, {HR(15), 3, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(15, 40, 0),
                   {HR(10), 1, 0, 0}, {HR(12), 2, 0, 0}, {HR(15), 3, 0, 0});
    /* A fresh handle has no history at all. */
    maillimit *fresh = fixture();
    EXPECT_NO_HISTORY(fresh, SRV, NULL, ALL_FROM, ALL_TO, AT(15, 40, 0));
    EXPECT_NO_HISTORY(fresh, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(15, 40, 0));
    maillimit_free(fresh);
    maillimit_free(ml);
}

Test(report, history_range_is_hours_starting_in_from_to)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    allow(ml, MBX, "a@acme.example", 2, AT(11, 0, 0));
    allow(ml, MBX, "a@acme.example", 4, AT(12, 0, 0));
    const int64_t now = AT(12, 30, 0);
    const char *a = "a@acme.example";
    EXPECT_HISTORY(ml, MBX, a, HR(10), HR(12), now, {HR(10), 1, 0, 0}, {HR(11), 2, 0, 0});
    /* from one second after 10:00: the 10:00 hour does not start in the range */
    EXPECT_HISTORY(ml, MBX, a, HR(10) + 1, HR(12), now, {HR(11), 2, 0, 0});
    /* to exactly 12:00 excludes the hour starting at 12:00; one second more includes it */
    EXPECT_HISTORY(ml, MBX, a, HR(11), HR(12) + 1, now, {HR(11), 2, 0, 0}, {HR(12), 4, 0, 0});
    EXPECT_HISTORY(ml, MBX, a, HR(10), HR(11), now, {HR(10), 1, 0, 0});
    EXPECT_HISTORY(ml, MBX, a, HR(9) + 1, HR(10) + 1, now, {HR(10), 1, 0, 0});
    EXPECT_NO_HISTORY(ml, MBX, a, HR(11), HR(11), now);
    EXPECT_NO_HISTORY(ml, MBX, a, HR(10) + 1, HR(11), now);
    EXPECT_NO_HISTORY(ml, MBX, a, HR(13), HR(20), now);
    EXPECT_NO_HISTORY(ml, MBX, a, ALL_FROM, HR(10), now);
    /* The same bounds once the hours are harvested. */
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_HISTORY(ml, SRV, NULL, HR(10) + 1, HR(12) + 1, AT(13, 0, 0), {HR(11), 2, 0, 0},
                   {HR(12), 4, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, HR(10), HR(12), AT(13, 0, 0), {HR(10), 1, 0, 0},
                   {HR(11), 2, 0, 0});
    maillimit_free(ml);
}

Test(report, history_retention_forgets_hours_older_than_it)
{
    maillimit *ml = fixture();
    int64_t r = 0;
    OK(maillimit_retention_get(ml, &r));
    EQ(r, 744);
    /* 1..5 units at 10:01, 11:01, ... 14:01, a tick every half hour. */
    for (int h = 0; h < 5; h++) {
        allow(ml, MBX, "a@acme.example", h + 1, HR(10 + h) + 60);
        OK(maillimit_tick(ml, HR(10 + h) + 1800));
    }
    OK(maillimit_tick(ml, AT(15, 0, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(15, 0, 0),
                   {HR(10), 1, 0, 0}, {HR(11), 2, 0, 0}, {HR(12), 3, 0, 0}, {HR(13), 4, 0, 0},
                   {HR(14), 5, 0, 0});
    OK(maillimit_retention_set(ml, 2));
    OK(maillimit_retention_get(ml, &r));
    EQ(r, 2);
    allow(ml, MBX, "a@acme.example", 6, AT(15, 1, 0));
    OK(maillimit_tick(ml, AT(15, 30, 0)));
    /* At 15:30 with 2 hours kept: 10:00..12:00 are certainly gone (older than 3 h), 14:00
     * and 15:00 certainly kept. (Whether the 13:00 hour is kept is the boundary; see the
     * header: "forget history older than the retention".) */
    const int64_t now = AT(15, 30, 0);
    EXPECT_NO_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, HR(13), now);
    EXPECT_NO_HISTORY(ml, SRV, NULL, ALL_FROM, HR(13), now);
    EXPECT_NO_HISTORY(ml, PLN, "gold", ALL_FROM, HR(13), now);
    EXPECT_HISTORY(ml, MBX, "a@acme.example", HR(14), ALL_TO, now, {HR(14), 5, 0, 0},
                   {HR(15), 6, 0, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", HR(14), ALL_TO, now, {HR(14), 5, 0, 0},
                   {HR(15), 6, 0, 0});
    /* Hours keep expiring as time goes on. */
    OK(maillimit_tick(ml, AT(16, 30, 0)));
    OK(maillimit_tick(ml, AT(17, 30, 0)));
    OK(maillimit_tick(ml, AT(18, 30, 0)));
    EXPECT_NO_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(18, 30, 0));
    EXPECT_NO_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(18, 30, 0));
    maillimit_free(ml);
}

Test(report, history_older_than_a_day_is_kept_with_hourly_ticks)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 3);
    allow(ml, MBX, "a@acme.example", 3, AT(10, 5, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    allow(ml, MBX, "news@acme.example", 2, AT(10, 15, 0));
    for (int k = 1; k <= 30; k++) {
        OK(maillimit_tick(ml, T + k * H));
        if (k == 25)
            allow(ml, MBX, "a@acme.example", 1, T + k * H + 60);
    }
    const int64_t now = T + 30 * H;
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, now, {HR(10), 3, 1, 0},
                   {T + 25 * H, 1, 0, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now, {HR(10), 3, 1, 2},
                   {T + 25 * H, 1, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now, {HR(10), 3, 1, 2},
                   {T + 25 * H, 1, 0, 0});
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now, {HR(10), 3, 1, 2},
                   {T + 25 * H, 1, 0, 0});
    /* Still there a week later with ticks every 6 hours. */
    for (int64_t t = T + 36 * H; t <= T + 198 * H; t += 6 * H)
        OK(maillimit_tick(ml, t));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, T + 300 * H, T + 198 * H,
                   {HR(10), 3, 1, 0}, {T + 25 * H, 1, 0, 0});
    maillimit_free(ml);
}

Test(report, history_unknown_senders_in_server_history_and_unattributed)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(10, 5, 0));
    allow(ml, MBX, "someone@nowhere.example", 4, AT(10, 10, 0)); /* unknown domain */
    allow(ml, SUB, "nosuchsub", 2, AT(10, 20, 0));               /* unknown subscription */
    allow(ml, DOM, "nowhere.example", 3, AT(11, 5, 0));          /* unknown domain */
    const int64_t now = AT(11, 30, 0);
    /* Counted in the server total, so in the server's history. */
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now, {HR(10), 7, 0, 0}, {HR(11), 3, 0, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now, {HR(10), 1, 0, 0});
    EXPECT_NO_HISTORY(ml, SUB, "other", ALL_FROM, ALL_TO, now);
    /* Not an implicit mailbox: its domain is unknown. */
    maillimit_history *it = NULL;
    EQ(maillimit_history_open(ml, MBX, "someone@nowhere.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_history_open(ml, DOM, "nowhere.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    /* The summary: "sent (server scope: every attributed unit)", unattributed apart. */
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(10), HR(11), now), 1, 0, 0, 6, 0);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(11), HR(12), now), 0, 0, 0, 3, 0);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, ALL_FROM, ALL_TO, now), 1, 0, 0, 9, 0);
    EXPECT_SUMMARY(summary(ml, SUB, "acme", ALL_FROM, ALL_TO, now), 1, 0, 0, 0, 0);
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    EXPECT_SUMMARY(summary(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(12, 0, 0)), 1, 0, 0, 9, 0);
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(12, 0, 0), {HR(10), 7, 0, 0},
                   {HR(11), 3, 0, 0});
    maillimit_free(ml);
}

Test(report, history_of_an_implicit_mailbox)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "new@acme.example", 2, AT(10, 5, 0));
    EXPECT_HISTORY(ml, MBX, "new@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                   {HR(10), 2, 0, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0), {HR(10), 2, 0, 0});
    maillimit_free(ml);
}

Test(report, history_disabled_switch_counts_everything_as_sent)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    OK(maillimit_enabled_set(ml, 0));
    allow(ml, MBX, "a@acme.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "a@acme.example", 1, AT(10, 6, 0));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                   {HR(10), 4, 0, 0});
    EXPECT_NO_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(10, 30, 0));
    maillimit_free(ml);
}

Test(report, history_reservations_count_when_kept_not_when_released)
{
    maillimit *ml = fixture();
    maillimit_verdict r1, r2;
    maillimit_verdict_init(&r1, MAILLIMIT_VERDICT_VERSION);
    maillimit_verdict_init(&r2, MAILLIMIT_VERDICT_VERSION);
    OK(maillimit_reserve(ml, MBX, "a@acme.example", 2, AT(10, 5, 0), &r1));
    OK(maillimit_reserve(ml, MBX, "a@acme.example", 5, AT(10, 6, 0), &r2));
    EQ(r1.decision, MAILLIMIT_ALLOW);
    EQ(r2.decision, MAILLIMIT_ALLOW);
    OK(maillimit_commit(ml, r1.token));
    OK(maillimit_release(ml, r2.token));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                   {HR(10), 2, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(10, 30, 0), {HR(10), 2, 0, 0});
    maillimit_free(ml);
}

/* reset unblocks ("forget its own window counts"); what was sent was sent. */
Test(report, history_survives_a_reset)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 3);
    allow(ml, MBX, "a@acme.example", 3, AT(10, 5, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 6, 0));
    OK(maillimit_reset(ml, MBX, "a@acme.example"));
    allow(ml, MBX, "a@acme.example", 1, AT(10, 7, 0));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                   {HR(10), 4, 1, 0});
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                   {HR(10), 4, 1, 0});
    OK(maillimit_tick(ml, AT(11, 0, 0)));
    EXPECT_HISTORY(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 0, 0),
                   {HR(10), 4, 1, 0});
    maillimit_free(ml);
}

/* Removal: the removed entity is gone; what it sent stays in its ancestors' history. */
Test(report, history_of_removed_entity_stays_in_its_ancestors)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 2, AT(10, 5, 0));
    allow(ml, MBX, "b@acme.example", 1, AT(10, 6, 0));
    OK(maillimit_remove(ml, MBX, "a@acme.example"));
    maillimit_history *it = NULL;
    EQ(maillimit_history_open(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0), &it),
       MAILLIMIT_ENOTFOUND);
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0), {HR(10), 3, 0, 0});
    OK(maillimit_tick(ml, AT(11, 0, 0)));
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(11, 0, 0), {HR(10), 3, 0, 0});
    maillimit_free(ml);
}

/* A moved domain: "units it sent stay in the old subscription; the new one counts its mail
 * from now on". */
Test(report, history_of_a_moved_domain)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 2, AT(10, 5, 0));
    OK(maillimit_domain_move(ml, "acme.example", "beta"));
    allow(ml, MBX, "a@acme.example", 3, AT(10, 40, 0));
    const int64_t now = AT(10, 50, 0);
    EXPECT_HISTORY(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now, {HR(10), 5, 0, 0});
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, now, {HR(10), 2, 0, 0});
    EXPECT_HISTORY(ml, SUB, "beta", ALL_FROM, ALL_TO, now, {HR(10), 3, 0, 0});
    EXPECT_HISTORY(ml, PLN, "gold", ALL_FROM, ALL_TO, now, {HR(10), 5, 0, 0});
    EXPECT_HISTORY(ml, SRV, NULL, ALL_FROM, ALL_TO, now, {HR(10), 5, 0, 0});
    EXPECT_TOP(ml, SUB, SENT, HR(10), HR(11), SRV, NULL, now, 10, {SUB, "beta", 3, 0, 0},
               {SUB, "acme", 2, 0, 0});
    OK(maillimit_tick(ml, AT(11, 0, 0)));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    EXPECT_HISTORY(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(12, 0, 0), {HR(10), 2, 0, 0});
    EXPECT_HISTORY(ml, SUB, "beta", ALL_FROM, ALL_TO, AT(12, 0, 0), {HR(10), 3, 0, 0});
    maillimit_free(ml);
}

Test(report, history_iterator_is_a_copy)
{
    maillimit *ml = fixture();
    allow(ml, MBX, "a@acme.example", 2, AT(10, 5, 0));
    allow(ml, MBX, "a@acme.example", 3, AT(11, 5, 0));
    maillimit_history *it = NULL;
    OK(maillimit_history_open(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 10, 0), &it));
    /* Changes after the open are not seen, and removing the entity does not break it. */
    allow(ml, MBX, "a@acme.example", 100, AT(11, 15, 0));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_remove(ml, MBX, "a@acme.example"));
    maillimit_history_row r;
    maillimit_history_row_init(&r, MAILLIMIT_HISTORY_ROW_VERSION);
    OK(maillimit_history_next(it, &r));
    EQ(r.hour_start, HR(10));
    EQ(r.sent, 2);
    OK(maillimit_history_next(it, &r));
    EQ(r.hour_start, HR(11));
    EQ(r.sent, 3);
    EQ(maillimit_history_next(it, &r), MAILLIMIT_EDONE);
    maillimit_history_close(it);
    maillimit_free(ml);
}

Test(report, history_errors)
{
    maillimit *ml = fixture();
    maillimit_history *it = (maillimit_history *)0x1;
    const int64_t now = AT(10, 30, 0);
    EQ(maillimit_history_open(NULL, SRV, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, SRV, NULL, ALL_FROM, ALL_TO, now, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, -1, "acme", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, 5, "acme", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, 99, "acme", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, MBX, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, DOM, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, SUB, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, PLN, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_history_open(ml, MBX, "nobody@acme.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_history_open(ml, DOM, "nosuch.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_history_open(ml, SUB, "nosuch", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_history_open(ml, PLN, "nosuch", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    /* Names compare in lower case. */
    it = NULL;
    OK(maillimit_history_open(ml, MBX, "A@ACME.example", ALL_FROM, ALL_TO, now, &it));
    cr_assert(it != NULL);
    maillimit_history_row r;
    maillimit_history_row_init(&r, MAILLIMIT_HISTORY_ROW_VERSION);
    EQ(maillimit_history_next(it, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_history_next(NULL, &r), MAILLIMIT_EINVAL);
    EQ(maillimit_history_next(it, &r), MAILLIMIT_EDONE);
    maillimit_history_close(it);
    maillimit_history_close(NULL);
    maillimit_free(ml);
}

Test(report, retention_and_tick_errors)
{
    maillimit *ml = fixture();
    int64_t r = 0;
    EQ(maillimit_retention_set(NULL, 10), MAILLIMIT_EINVAL);
    EQ(maillimit_retention_set(ml, 0), MAILLIMIT_EINVAL);
    EQ(maillimit_retention_set(ml, -1), MAILLIMIT_EINVAL);
    EQ(maillimit_retention_set(ml, 87601), MAILLIMIT_EINVAL);
    OK(maillimit_retention_get(ml, &r));
    EQ(r, 744);
    OK(maillimit_retention_set(ml, 1));
    OK(maillimit_retention_get(ml, &r));
    EQ(r, 1);
    OK(maillimit_retention_set(ml, 87600));
    OK(maillimit_retention_get(ml, &r));
    EQ(r, 87600);
    EQ(maillimit_retention_get(NULL, &r), MAILLIMIT_EINVAL);
    EQ(maillimit_retention_get(ml, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_tick(NULL, T), MAILLIMIT_EINVAL);
    OK(maillimit_tick(ml, T));
    maillimit_free(ml);
}

/* ======================================================================================== */
/* Episodes                                                                                  */
/* ======================================================================================== */

#define EP_A(ongoing, started, ended, limit, denied)                                          \
    {MBX, "a@acme.example", HOUR, ongoing, started, ended, limit, denied}

/* Limit 2/hour: 10:00:30 and 10:10:00 allowed, 10:20:00 and 10:25:00 denied. */
static maillimit *episode_fixture(void)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 2);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    allow(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 20, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 25, 0));
    return ml;
}

Test(report, episode_starts_at_first_denial_and_ends_when_one_unit_fits)
{
    maillimit *ml = episode_fixture();
    /* Ongoing at 10:30; it will end at 11:00:00, when the 10:00:30 unit leaves. */
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                    EP_A(1, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 59, 59),
                    EP_A(1, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    /* At 11:00:00 exactly it is over, with no mail after. */
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(12, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    /* Seen from every ancestor too. */
    EXPECT_EPISODES(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(12, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    EXPECT_EPISODES(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(12, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(12, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    /* Not below, nor beside. */
    EXPECT_NO_EPISODES(ml, MBX, "b@acme.example", ALL_FROM, ALL_TO, AT(12, 0, 0));
    EXPECT_NO_EPISODES(ml, DOM, "shop.example", ALL_FROM, ALL_TO, AT(12, 0, 0));
    EXPECT_NO_EPISODES(ml, SUB, "beta", ALL_FROM, ALL_TO, AT(12, 0, 0));
    maillimit_free(ml);
}

Test(report, episode_end_is_exact_when_first_read_much_later)
{
    maillimit *ml = episode_fixture();
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(13, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    maillimit_free(ml);
}

Test(report, episode_end_is_exact_when_noticed_by_a_tick)
{
    maillimit *ml = episode_fixture();
    OK(maillimit_tick(ml, AT(10, 30, 0)));
    OK(maillimit_tick(ml, AT(11, 30, 0)));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 30, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    maillimit_free(ml);
}

Test(report, episode_denied_counts_units_of_every_denial_in_it)
{
    maillimit *ml = episode_fixture();
    deny(ml, MBX, "a@acme.example", 3, AT(10, 26, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 59, 59));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 6));
    maillimit_free(ml);
}

Test(report, a_later_denial_starts_a_second_episode)
{
    maillimit *ml = episode_fixture();
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 0, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2));
    /* 11:00:00: the 10:10 unit and this one; 11:05 denied until 11:10:00. */
    allow(ml, MBX, "a@acme.example", 1, AT(11, 0, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 6, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2),
                    EP_A(1, AT(11, 5, 0), AT(11, 10, 0), 2, 1));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 10, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2),
                    EP_A(0, AT(11, 5, 0), AT(11, 10, 0), 2, 1));
    maillimit_free(ml);
}

/* The same without any reader or tick in between: the first episode still ended at 11:00:00,
 * the moment one unit fitted again, so 11:05 starts a new one. */
Test(report, a_later_denial_starts_a_second_episode_without_a_reader_between)
{
    maillimit *ml = episode_fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(11, 0, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(11, 6, 0),
                    EP_A(0, AT(10, 20, 0), AT(11, 0, 0), 2, 2),
                    EP_A(1, AT(11, 5, 0), AT(11, 10, 0), 2, 1));
    maillimit_free(ml);
}

Test(report, domain_limit_episode_is_on_the_domain)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", DOM, HOUR, 2);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 30));
    allow(ml, MBX, "b@acme.example", 1, AT(10, 5, 0));
    deny(ml, MBX, "b@acme.example", 1, AT(10, 10, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 11, 0));
    const struct erow dom = {DOM, "acme.example", HOUR, 1, AT(10, 10, 0), AT(11, 0, 0), 2, 2};
    EXPECT_EPISODES(ml, DOM, "acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0), dom);
    EXPECT_EPISODES(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(10, 30, 0), dom);
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(10, 30, 0), dom);
    EXPECT_NO_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0));
    EXPECT_NO_EPISODES(ml, MBX, "b@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0));
    maillimit_free(ml);
}

Test(report, server_and_subscription_episodes)
{
    maillimit *ml = fixture();
    set(ml, SRV, NULL, SRV, HOUR, 3);
    set(ml, SUB, "beta", SUB, HOUR, 1);
    allow(ml, MBX, "x@beta.example", 1, AT(10, 0, 0));
    deny(ml, SUB, "beta", 1, AT(10, 5, 0));
    allow(ml, MBX, "a@acme.example", 2, AT(10, 6, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 7, 0));
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(10, 30, 0),
                    {SUB, "beta", HOUR, 1, AT(10, 5, 0), AT(11, 0, 0), 1, 1},
                    {SRV, "", HOUR, 1, AT(10, 7, 0), AT(11, 0, 0), 3, 1});
    /* The server's episode is not below a subscription. */
    EXPECT_NO_EPISODES(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(10, 30, 0));
    EXPECT_EPISODES(ml, SUB, "beta", ALL_FROM, ALL_TO, AT(10, 30, 0),
                    {SUB, "beta", HOUR, 1, AT(10, 5, 0), AT(11, 0, 0), 1, 1});
    maillimit_free(ml);
}

/* acme: acme.example {a, b, c} with mailbox limit 1, beta.example {x, y} with domain limit 1;
 * other: other.example {o} with mailbox limit 1. One unit each at 10:00:00 (x for beta). */
static maillimit *scoping_fixture(void)
{
    maillimit *ml = new_handle();
    OK(maillimit_subscription_add(ml, "acme", NULL));
    OK(maillimit_subscription_add(ml, "other", NULL));
    OK(maillimit_domain_add(ml, "acme.example", "acme"));
    OK(maillimit_domain_add(ml, "beta.example", "acme"));
    OK(maillimit_domain_add(ml, "other.example", "other"));
    const char *mbx[] = {"a@acme.example", "b@acme.example", "c@acme.example",
                         "x@beta.example", "y@beta.example", "o@other.example"};
    for (size_t i = 0; i < sizeof mbx / sizeof mbx[0]; i++)
        OK(maillimit_mailbox_add(ml, mbx[i]));
    set(ml, DOM, "acme.example", MBX, HOUR, 1);
    set(ml, DOM, "beta.example", DOM, HOUR, 1);
    set(ml, DOM, "other.example", MBX, HOUR, 1);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    allow(ml, MBX, "b@acme.example", 1, AT(10, 0, 0));
    allow(ml, MBX, "c@acme.example", 1, AT(10, 0, 0));
    allow(ml, MBX, "x@beta.example", 1, AT(10, 0, 0));
    allow(ml, MBX, "o@other.example", 1, AT(10, 0, 0));
    deny(ml, MBX, "b@acme.example", 1, AT(10, 10, 0));
    deny(ml, MBX, "o@other.example", 1, AT(10, 15, 0));
    deny(ml, MBX, "c@acme.example", 1, AT(10, 30, 0));
    deny(ml, MBX, "y@beta.example", 1, AT(10, 30, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 30, 0));
    return ml;
}

#define EPM(name, start, ongoing) {MBX, name, HOUR, ongoing, start, AT(11, 0, 0), 1, 1}
#define EPD(name, start, ongoing) {DOM, name, HOUR, ongoing, start, AT(11, 0, 0), 1, 1}

Test(report, episodes_scoped_to_a_subtree_in_start_order)
{
    maillimit *ml = scoping_fixture();
    const int64_t now = AT(10, 40, 0);
    /* Ties at 10:30: the higher level (domain) first, then names. */
    EXPECT_EPISODES(ml, SUB, "acme", ALL_FROM, ALL_TO, now,
                    EPM("b@acme.example", AT(10, 10, 0), 1),
                    EPD("beta.example", AT(10, 30, 0), 1),
                    EPM("a@acme.example", AT(10, 30, 0), 1),
                    EPM("c@acme.example", AT(10, 30, 0), 1));
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, now,
                    EPM("b@acme.example", AT(10, 10, 0), 1),
                    EPM("o@other.example", AT(10, 15, 0), 1),
                    EPD("beta.example", AT(10, 30, 0), 1),
                    EPM("a@acme.example", AT(10, 30, 0), 1),
                    EPM("c@acme.example", AT(10, 30, 0), 1));
    EXPECT_EPISODES(ml, DOM, "acme.example", ALL_FROM, ALL_TO, now,
                    EPM("b@acme.example", AT(10, 10, 0), 1),
                    EPM("a@acme.example", AT(10, 30, 0), 1),
                    EPM("c@acme.example", AT(10, 30, 0), 1));
    EXPECT_EPISODES(ml, DOM, "beta.example", ALL_FROM, ALL_TO, now,
                    EPD("beta.example", AT(10, 30, 0), 1));
    EXPECT_NO_EPISODES(ml, MBX, "y@beta.example", ALL_FROM, ALL_TO, now);
    EXPECT_NO_EPISODES(ml, MBX, "x@beta.example", ALL_FROM, ALL_TO, now);
    EXPECT_EPISODES(ml, SUB, "other", ALL_FROM, ALL_TO, now,
                    EPM("o@other.example", AT(10, 15, 0), 1));
    maillimit_free(ml);
}

Test(report, episodes_overlapping_the_range)
{
    maillimit *ml = scoping_fixture();
    const int64_t now = AT(11, 30, 0);
    /* [10:15, 10:20): b (10:10-11:00) and o (10:15-11:00) overlap; 10:30 starts do not. */
    EXPECT_EPISODES(ml, SRV, NULL, AT(10, 15, 0), AT(10, 20, 0), now,
                    EPM("b@acme.example", AT(10, 10, 0), 0),
                    EPM("o@other.example", AT(10, 15, 0), 0));
    EXPECT_EPISODES(ml, SRV, NULL, AT(10, 50, 0), AT(10, 55, 0), now,
                    EPM("b@acme.example", AT(10, 10, 0), 0),
                    EPM("o@other.example", AT(10, 15, 0), 0),
                    EPD("beta.example", AT(10, 30, 0), 0),
                    EPM("a@acme.example", AT(10, 30, 0), 0),
                    EPM("c@acme.example", AT(10, 30, 0), 0));
    EXPECT_EPISODES(ml, SUB, "acme", AT(10, 11, 0), AT(10, 12, 0), now,
                    EPM("b@acme.example", AT(10, 10, 0), 0));
    EXPECT_NO_EPISODES(ml, SRV, NULL, AT(9, 0, 0), AT(10, 0, 0), now);
    EXPECT_NO_EPISODES(ml, SRV, NULL, AT(11, 30, 0), AT(12, 0, 0), now);
    EXPECT_NO_EPISODES(ml, SUB, "other", AT(10, 20, 0) - 3600, AT(10, 5, 0), now);
    /* An ongoing episode overlaps any later range. */
    maillimit *ml2 = scoping_fixture();
    EXPECT_EPISODES(ml2, SUB, "other", AT(10, 50, 0), AT(20, 0, 0), AT(10, 40, 0),
                    EPM("o@other.example", AT(10, 15, 0), 1));
    maillimit_free(ml2);
    maillimit_free(ml);
}

Test(report, reset_ends_an_ongoing_episode_at_the_next_tick)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 1);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 20, 0),
                    EP_A(1, AT(10, 10, 0), AT(11, 0, 0), 1, 1));
    OK(maillimit_reset(ml, MBX, "a@acme.example"));
    OK(maillimit_tick(ml, AT(10, 30, 0)));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 40, 0),
                    EP_A(0, AT(10, 10, 0), AT(10, 30, 0), 1, 1));
    /* After the reset it may send again; a new denial is a new episode. */
    allow(ml, MBX, "a@acme.example", 1, AT(10, 41, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(10, 42, 0));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 43, 0),
                    EP_A(0, AT(10, 10, 0), AT(10, 30, 0), 1, 1),
                    EP_A(1, AT(10, 42, 0), AT(11, 41, 0), 1, 1));
    maillimit_free(ml);
}

Test(report, reset_ends_an_ongoing_episode_at_the_next_reader)
{
    maillimit *ml = fixture();
    set(ml, DOM, "acme.example", DOM, HOUR, 1);
    allow(ml, MBX, "a@acme.example", 1, AT(10, 0, 0));
    deny(ml, MBX, "b@acme.example", 1, AT(10, 10, 0));
    OK(maillimit_reset(ml, DOM, "acme.example"));
    EXPECT_EPISODES(ml, SUB, "acme", ALL_FROM, ALL_TO, AT(10, 35, 0),
                    {DOM, "acme.example", HOUR, 0, AT(10, 10, 0), AT(10, 35, 0), 1, 1});
    maillimit_free(ml);
}

Test(report, limit_zero_episode_has_no_end_until_the_limit_changes)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    deny(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    deny(ml, MBX, "a@acme.example", 2, AT(10, 20, 0));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(10, 30, 0),
                    EP_A(1, AT(10, 10, 0), -1, 0, 3));
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(12, 0, 0),
                    EP_A(1, AT(10, 10, 0), -1, 0, 3));
    /* A raised limit ends it at the next tick. */
    set(ml, MBX, "a@acme.example", MBX, HOUR, 5);
    OK(maillimit_tick(ml, AT(12, 45, 0)));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(13, 0, 0),
                    EP_A(0, AT(10, 10, 0), AT(12, 45, 0), 0, 3));
    maillimit_free(ml);
}

Test(report, raised_limit_ends_an_episode_at_the_next_reader)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, HOUR, 0);
    deny(ml, MBX, "a@acme.example", 1, AT(10, 10, 0));
    set(ml, MBX, "a@acme.example", MBX, HOUR, MAILLIMIT_UNLIMITED);
    EXPECT_EPISODES(ml, SRV, NULL, ALL_FROM, ALL_TO, AT(10, 50, 0),
                    EP_A(0, AT(10, 10, 0), AT(10, 50, 0), 0, 1));
    maillimit_free(ml);
}

Test(report, day_window_episode_ends_when_the_hour_slot_leaves_the_day)
{
    maillimit *ml = fixture();
    set(ml, MBX, "a@acme.example", MBX, DAY, 2);
    allow(ml, MBX, "a@acme.example", 2, AT(10, 0, 30));
    deny(ml, MBX, "a@acme.example", 1, AT(12, 0, 0));
    const struct erow ongoing = {MBX, "a@acme.example", DAY, 1, AT(12, 0, 0), T + 24 * H, 2, 1};
    const struct erow over = {MBX, "a@acme.example", DAY, 0, AT(12, 0, 0), T + 24 * H, 2, 1};
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, AT(12, 30, 0), ongoing);
    for (int k = 3; k <= 23; k++)
        OK(maillimit_tick(ml, T + k * H));
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, T + 24 * H - 1, ongoing);
    EXPECT_EPISODES(ml, MBX, "a@acme.example", ALL_FROM, ALL_TO, T + 24 * H, over);
    maillimit_free(ml);
}

Test(report, episodes_errors)
{
    maillimit *ml = episode_fixture();
    maillimit_episodes *it = (maillimit_episodes *)0x1;
    const int64_t now = AT(10, 30, 0);
    EQ(maillimit_episodes_open(NULL, SRV, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, SRV, NULL, ALL_FROM, ALL_TO, now, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, PLN, "gold", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, -1, "acme", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, 5, "acme", ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, MBX, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, SUB, NULL, ALL_FROM, ALL_TO, now, &it), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_open(ml, MBX, "nobody@acme.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_episodes_open(ml, DOM, "nosuch.example", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    EQ(maillimit_episodes_open(ml, SUB, "nosuch", ALL_FROM, ALL_TO, now, &it),
       MAILLIMIT_ENOTFOUND);
    it = NULL;
    OK(maillimit_episodes_open(ml, SRV, NULL, ALL_FROM, ALL_TO, now, &it));
    cr_assert(it != NULL);
    maillimit_episode e;
    maillimit_episode_init(&e, MAILLIMIT_EPISODE_VERSION);
    EQ(maillimit_episodes_next(it, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_episodes_next(NULL, &e), MAILLIMIT_EINVAL);
    OK(maillimit_episodes_next(it, &e));
    STREQ(e.name, "a@acme.example");
    EQ(maillimit_episodes_next(it, &e), MAILLIMIT_EDONE);
    maillimit_episodes_close(it);
    maillimit_episodes_close(NULL);
    maillimit_free(ml);
}

/* ======================================================================================== */
/* Top and summary                                                                           */
/* ======================================================================================== */

/* Plans gold {s1, s2}, silver {s3}, idle {s4}, empty {}.
 * s1: d1.example {a, b, c}, d2.example {a, b (exempt)}; s2: d3.example {a, b};
 * s3: d4.example {a}; s4: d5.example {a}. Mailbox limit 3 on b@d1, c@d1, b@d3.
 * 10:05: a@d1 5, b@d1 3, c@d1 3, a@d2 3, b@d2 2 (exempt), a@d3 7, b@d3 3, a@d4 1.
 * 10:06: b@d1 denied 2x1, c@d1 denied 4x1, b@d3 denied 2x1 (episodes 10:06-11:05).
 * 10:40: an unknown sender, 4.  11:10: a@d4 50. */
static maillimit *top_fixture(void)
{
    maillimit *ml = new_handle();
    OK(maillimit_plan_add(ml, "gold"));
    OK(maillimit_plan_add(ml, "silver"));
    OK(maillimit_plan_add(ml, "idle"));
    OK(maillimit_plan_add(ml, "empty"));
    OK(maillimit_subscription_add(ml, "s1", "gold"));
    OK(maillimit_subscription_add(ml, "s2", "gold"));
    OK(maillimit_subscription_add(ml, "s3", "silver"));
    OK(maillimit_subscription_add(ml, "s4", "idle"));
    OK(maillimit_domain_add(ml, "d1.example", "s1"));
    OK(maillimit_domain_add(ml, "d2.example", "s1"));
    OK(maillimit_domain_add(ml, "d3.example", "s2"));
    OK(maillimit_domain_add(ml, "d4.example", "s3"));
    OK(maillimit_domain_add(ml, "d5.example", "s4"));
    const char *mbx[] = {"a@d1.example", "b@d1.example", "c@d1.example", "a@d2.example",
                         "b@d2.example", "a@d3.example", "b@d3.example", "a@d4.example",
                         "a@d5.example"};
    for (size_t i = 0; i < sizeof mbx / sizeof mbx[0]; i++)
        OK(maillimit_mailbox_add(ml, mbx[i]));
    OK(maillimit_flag_set(ml, MBX, "b@d2.example", MAILLIMIT_FLAG_EXEMPT, 1));
    set(ml, MBX, "b@d1.example", MBX, HOUR, 3);
    set(ml, MBX, "c@d1.example", MBX, HOUR, 3);
    set(ml, MBX, "b@d3.example", MBX, HOUR, 3);
    allow(ml, MBX, "a@d1.example", 5, AT(10, 5, 0));
    allow(ml, MBX, "b@d1.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "c@d1.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "a@d2.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "b@d2.example", 2, AT(10, 5, 0));
    allow(ml, MBX, "a@d3.example", 7, AT(10, 5, 0));
    allow(ml, MBX, "b@d3.example", 3, AT(10, 5, 0));
    allow(ml, MBX, "a@d4.example", 1, AT(10, 5, 0));
    for (int i = 0; i < 2; i++)
        deny(ml, MBX, "b@d1.example", 1, AT(10, 6, i));
    for (int i = 0; i < 4; i++)
        deny(ml, MBX, "c@d1.example", 1, AT(10, 6, i));
    for (int i = 0; i < 2; i++)
        deny(ml, MBX, "b@d3.example", 1, AT(10, 6, i));
    allow(ml, MBX, "x@unknown.example", 4, AT(10, 40, 0));
    allow(ml, MBX, "a@d4.example", 50, AT(11, 10, 0));
    return ml;
}

#define TM(name, s, d, e) {MBX, name, s, d, e}
#define TD(name, s, d, e) {DOM, name, s, d, e}
#define TS(name, s, d, e) {SUB, name, s, d, e}
#define TP(name, s, d, e) {PLN, name, s, d, e}

Test(report, top_mailboxes_by_sent_with_ties)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    /* sent desc; ties on sent 3: denied desc (c 4, b@d1 2, b@d3 2, a@d2 0), then name. */
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, now, 20,
               TM("a@d3.example", 7, 0, 0), TM("a@d1.example", 5, 0, 0),
               TM("c@d1.example", 3, 4, 0), TM("b@d1.example", 3, 2, 0),
               TM("b@d3.example", 3, 2, 0), TM("a@d2.example", 3, 0, 0),
               TM("a@d4.example", 1, 0, 0), TM("b@d2.example", 0, 0, 2));
    maillimit_free(ml);
}

Test(report, top_mailboxes_by_denied_with_ties)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), SRV, NULL, now, 20,
               TM("c@d1.example", 3, 4, 0), TM("b@d1.example", 3, 2, 0),
               TM("b@d3.example", 3, 2, 0), TM("a@d3.example", 7, 0, 0),
               TM("a@d1.example", 5, 0, 0), TM("a@d2.example", 3, 0, 0),
               TM("a@d4.example", 1, 0, 0), TM("b@d2.example", 0, 0, 2));
    maillimit_free(ml);
}

Test(report, top_capacity_smaller_than_the_entities)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, now, 3, TM("a@d3.example", 7, 0, 0),
               TM("a@d1.example", 5, 0, 0), TM("c@d1.example", 3, 4, 0));
    /* The cut falls inside a tie: the tie rule decides who is in. */
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, now, 4, TM("a@d3.example", 7, 0, 0),
               TM("a@d1.example", 5, 0, 0), TM("c@d1.example", 3, 4, 0),
               TM("b@d1.example", 3, 2, 0));
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), SRV, NULL, now, 2, TM("c@d1.example", 3, 4, 0),
               TM("b@d1.example", 3, 2, 0));
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), SRV, NULL, now, 1, TM("c@d1.example", 3, 4, 0));
    /* Exactly as many rows as entities. */
    EXPECT_TOP(ml, DOM, SENT, HR(10), HR(11), SRV, NULL, now, 4, TD("d1.example", 11, 6, 0),
               TD("d3.example", 10, 2, 0), TD("d2.example", 3, 0, 2), TD("d4.example", 1, 0, 0));
    maillimit_free(ml);
}

Test(report, top_capacity_zero_writes_nothing)
{
    maillimit *ml = top_fixture();
    maillimit_top_row row;
    memset(&row, 0x5a, sizeof row);
    size_t n = 0;
    OK(maillimit_top(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, AT(11, 30, 0), &row, &n));
    EQ(n, 0);
    EQ(row.version, 0x5a5a5a5a);
    maillimit_free(ml);
}

Test(report, top_other_levels)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    EXPECT_TOP(ml, DOM, SENT, HR(10), HR(11), SRV, NULL, now, 10, TD("d1.example", 11, 6, 0),
               TD("d3.example", 10, 2, 0), TD("d2.example", 3, 0, 2), TD("d4.example", 1, 0, 0));
    EXPECT_TOP(ml, DOM, DENIED, HR(10), HR(11), SRV, NULL, now, 10, TD("d1.example", 11, 6, 0),
               TD("d3.example", 10, 2, 0), TD("d2.example", 3, 0, 2), TD("d4.example", 1, 0, 0));
    EXPECT_TOP(ml, SUB, SENT, HR(10), HR(11), SRV, NULL, now, 10, TS("s1", 14, 6, 2),
               TS("s2", 10, 2, 0), TS("s3", 1, 0, 0));
    EXPECT_TOP(ml, SUB, DENIED, HR(10), HR(11), SRV, NULL, now, 10, TS("s1", 14, 6, 2),
               TS("s2", 10, 2, 0), TS("s3", 1, 0, 0));
    /* Plans sum their subscriptions; idle (no traffic) and empty are left out. */
    EXPECT_TOP(ml, PLN, SENT, HR(10), HR(11), SRV, NULL, now, 10, TP("gold", 24, 8, 2),
               TP("silver", 1, 0, 0));
    EXPECT_TOP(ml, PLN, DENIED, HR(10), HR(11), SRV, NULL, now, 10, TP("gold", 24, 8, 2),
               TP("silver", 1, 0, 0));
    maillimit_free(ml);
}

Test(report, top_range)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    /* Both hours: a@d4 has 51. */
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(12), SRV, NULL, now, 3, TM("a@d4.example", 51, 0, 0),
               TM("a@d3.example", 7, 0, 0), TM("a@d1.example", 5, 0, 0));
    /* Only 11:00 (from inside 10:00 excludes that hour). */
    EXPECT_TOP(ml, MBX, SENT, HR(10) + 1, HR(12), SRV, NULL, now, 10,
               TM("a@d4.example", 50, 0, 0));
    EXPECT_TOP(ml, PLN, SENT, HR(11), HR(12), SRV, NULL, now, 10, TP("silver", 50, 0, 0));
    EXPECT_NO_TOP(ml, MBX, SENT, HR(12), HR(13), SRV, NULL, now);
    EXPECT_NO_TOP(ml, MBX, DENIED, HR(9), HR(10), SRV, NULL, now);
    /* The same after the hours are harvested. */
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(12), SRV, NULL, AT(13, 0, 0), 3,
               TM("a@d4.example", 51, 0, 0), TM("a@d3.example", 7, 0, 0),
               TM("a@d1.example", 5, 0, 0));
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), SRV, NULL, AT(13, 0, 0), 2,
               TM("c@d1.example", 3, 4, 0), TM("b@d1.example", 3, 2, 0));
    maillimit_free(ml);
}

Test(report, top_scoped_to_a_subscription_or_a_domain)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), SUB, "s1", now, 10, TM("a@d1.example", 5, 0, 0),
               TM("c@d1.example", 3, 4, 0), TM("b@d1.example", 3, 2, 0),
               TM("a@d2.example", 3, 0, 0), TM("b@d2.example", 0, 0, 2));
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), DOM, "d1.example", now, 10,
               TM("c@d1.example", 3, 4, 0), TM("b@d1.example", 3, 2, 0),
               TM("a@d1.example", 5, 0, 0));
    EXPECT_TOP(ml, DOM, SENT, HR(10), HR(11), SUB, "s1", now, 10, TD("d1.example", 11, 6, 0),
               TD("d2.example", 3, 0, 2));
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), DOM, "d3.example", now, 1,
               TM("a@d3.example", 7, 0, 0));
    EXPECT_TOP(ml, SUB, SENT, HR(10), HR(11), SUB, "s2", now, 10, TS("s2", 10, 2, 0));
    EXPECT_NO_TOP(ml, MBX, SENT, HR(10), HR(11), SUB, "s4", now);
    EXPECT_NO_TOP(ml, MBX, SENT, HR(10), HR(11), DOM, "d5.example", now);
    maillimit_free(ml);
}

Test(report, top_names_tie_bytewise)
{
    maillimit *ml = new_handle();
    OK(maillimit_subscription_add(ml, "s", NULL));
    OK(maillimit_domain_add(ml, "d.example", "s"));
    /* 'z' is 0x7a, "\xc3\xa9" (é) sorts after it bytewise; '0' before letters. */
    const char *names[] = {"\xc3\xa9@d.example", "z@d.example", "0@d.example", "b@d.example"};
    for (size_t i = 0; i < 4; i++) {
        OK(maillimit_mailbox_add(ml, names[i]));
        allow(ml, MBX, names[i], 1, AT(10, 1, 0));
    }
    EXPECT_TOP(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, AT(10, 30, 0), 10,
               TM("0@d.example", 1, 0, 0), TM("b@d.example", 1, 0, 0),
               TM("z@d.example", 1, 0, 0), TM("\xc3\xa9@d.example", 1, 0, 0));
    EXPECT_TOP(ml, MBX, DENIED, HR(10), HR(11), DOM, "d.example", AT(10, 30, 0), 2,
               TM("0@d.example", 1, 0, 0), TM("b@d.example", 1, 0, 0));
    maillimit_free(ml);
}

Test(report, top_errors)
{
    maillimit *ml = top_fixture();
    maillimit_top_row rows[4];
    maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
    size_t n;
    const int64_t now = AT(11, 30, 0);
#define TOPRC(...) (n = 4, maillimit_top(__VA_ARGS__))
    EQ(TOPRC(NULL, MBX, SENT, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, now, NULL, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), SRV, NULL, now, rows, NULL), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, SRV, SENT, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, -1, SENT, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, 5, SENT, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, -1, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, 2, HR(10), HR(11), SRV, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), PLN, "gold", now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), MBX, "a@d1.example", now, rows, &n),
       MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), -1, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), 7, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), SUB, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), DOM, NULL, now, rows, &n), MAILLIMIT_EINVAL);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), SUB, "nosuch", now, rows, &n), MAILLIMIT_ENOTFOUND);
    EQ(TOPRC(ml, MBX, SENT, HR(10), HR(11), DOM, "nosuch.example", now, rows, &n),
       MAILLIMIT_ENOTFOUND);
#undef TOPRC
    maillimit_free(ml);
}

Test(report, summary_server_and_scopes)
{
    maillimit *ml = top_fixture();
    const int64_t now = AT(11, 30, 0);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(10), HR(11), now), 25, 8, 2, 4, 3);
    EXPECT_SUMMARY(summary(ml, SUB, "s1", HR(10), HR(11), now), 14, 6, 2, 0, 2);
    EXPECT_SUMMARY(summary(ml, SUB, "s2", HR(10), HR(11), now), 10, 2, 0, 0, 1);
    EXPECT_SUMMARY(summary(ml, DOM, "d3.example", HR(10), HR(11), now), 10, 2, 0, 0, 1);
    EXPECT_SUMMARY(summary(ml, DOM, "d2.example", HR(10), HR(11), now), 3, 0, 2, 0, 0);
    EXPECT_SUMMARY(summary(ml, SUB, "s4", HR(10), HR(11), now), 0, 0, 0, 0, 0);
    /* 11:00: a@d4's 50; the episodes (10:06-11:05) overlap this hour too. */
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(11), HR(12), now), 50, 0, 0, 0, 3);
    EXPECT_SUMMARY(summary(ml, SUB, "s3", HR(11), HR(12), now), 50, 0, 0, 0, 0);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(10), HR(12), now), 75, 8, 2, 4, 3);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(12), HR(13), AT(12, 30, 0)), 0, 0, 0, 0, 0);
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(9), HR(10), now), 0, 0, 0, 0, 0);
    /* After harvesting, the same. */
    OK(maillimit_tick(ml, AT(12, 0, 0)));
    OK(maillimit_tick(ml, AT(13, 0, 0)));
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(10), HR(11), AT(13, 0, 0)), 25, 8, 2, 4, 3);
    EXPECT_SUMMARY(summary(ml, SUB, "s1", HR(10), HR(11), AT(13, 0, 0)), 14, 6, 2, 0, 2);
    maillimit_free(ml);
}

/* limited_entities counts entities, not episodes. */
Test(report, summary_counts_limited_entities_once)
{
    maillimit *ml = episode_fixture();
    allow(ml, MBX, "a@acme.example", 1, AT(11, 0, 0));
    deny(ml, MBX, "a@acme.example", 1, AT(11, 5, 0));
    EXPECT_SUMMARY(summary(ml, SRV, NULL, HR(10), HR(12), AT(11, 30, 0)), 3, 3, 0, 0, 1);
    EXPECT_SUMMARY(summary(ml, SUB, "acme", HR(10), HR(12), AT(11, 30, 0)), 3, 3, 0, 0, 1);
    EXPECT_SUMMARY(summary(ml, SUB, "beta", HR(10), HR(12), AT(11, 30, 0)), 0, 0, 0, 0, 0);
    maillimit_free(ml);
}

Test(report, summary_errors)
{
    maillimit *ml = top_fixture();
    maillimit_summary s;
    const int64_t now = AT(11, 30, 0);
    maillimit_summary_init(&s, MAILLIMIT_SUMMARY_VERSION);
    EQ(maillimit_summary_get(NULL, SRV, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, SRV, NULL, HR(10), HR(11), now, NULL), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, PLN, "gold", HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, MBX, "a@d1.example", HR(10), HR(11), now, &s),
       MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, -1, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, 9, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, SUB, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, DOM, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    EQ(maillimit_summary_get(ml, SUB, "nosuch", HR(10), HR(11), now, &s), MAILLIMIT_ENOTFOUND);
    EQ(maillimit_summary_get(ml, DOM, "nosuch.example", HR(10), HR(11), now, &s),
       MAILLIMIT_ENOTFOUND);
    /* Not initialised by maillimit_summary_init(). */
    memset(&s, 0, sizeof s);
    EQ(maillimit_summary_get(ml, SRV, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    s.version = MAILLIMIT_SUMMARY_VERSION + 1;
    EQ(maillimit_summary_get(ml, SRV, NULL, HR(10), HR(11), now, &s), MAILLIMIT_EINVAL);
    /* init sets the version and clears the rest. */
    memset(&s, 0x5a, sizeof s);
    maillimit_summary_init(&s, MAILLIMIT_SUMMARY_VERSION);
    EQ(s.version, MAILLIMIT_SUMMARY_VERSION);
    EQ(s.reserved_, 0);
    EQ(s.sent, 0);
    EQ(s.denied, 0);
    EQ(s.exempt, 0);
    EQ(s.unattributed, 0);
    EQ(s.limited_entities, 0);
    maillimit_free(ml);
}
