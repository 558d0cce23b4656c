/* SPDX-License-Identifier: MIT */
/* A caller built against the version 1 layouts (v1/layout.h, frozen) runs against the library
 * being built: every struct the library fills sits in a buffer followed by guard bytes, and
 * the library must fill the version 1 fields and never touch a byte past them. A version the
 * library does not know is refused at _init and makes the filling functions write nothing.
 * Exit status 0 on success; each failure is printed. */
#include <stdio.h>
#include <string.h>

#include "v1/layout.h"

enum { GUARD = 64, EINVAL_ = -1, EDONE_ = -9, EVERSION_ = -11 };
enum { SERVER = 0, SUBSCRIPTION = 2, DOMAIN = 3, MAILBOX = 4, HOUR = 0, SENT = 0 };
static const int64_t T0 = 1704103200; /* 2024-01-01 10:00:00 UTC */

static int failures;
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "v1_caller: line %d: ", __LINE__);                               \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

/* A struct of the caller's (version 1) size, then guard bytes. */
#define GUARDED(type, var)                                                                   \
    struct {                                                                                 \
        type s;                                                                              \
        unsigned char guard[GUARD];                                                          \
    } var;                                                                                   \
    memset(&var, 0xa5, sizeof var)

static int guard_ok(const unsigned char *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] != 0xa5)
            return 0;
    return 1;
}
#define GUARD_OK(var, what) CHECK(guard_ok((var).guard, GUARD), "%s wrote past version 1", what)

static const char CONF[] = "server mailbox=2\n"
                           "subscription acme\n"
                           "domain acme.example subscription=acme\n"
                           "mailbox ceo@acme.example\n";

int main(void)
{
    maillimit *ml = NULL;
    char err[256];
    if (maillimit_new(&ml) || maillimit_config_load_mem(ml, CONF, sizeof CONF - 1, err,
                                                        sizeof err)) {
        fprintf(stderr, "v1_caller: setup failed: %s\n", err);
        return 1;
    }

    /* verdicts: two allowed, the third denied by the mailbox limit of 2 */
    GUARDED(v1_verdict, v);
    CHECK(maillimit_verdict_init(&v.s, 1) == 0, "verdict_init");
    GUARD_OK(v, "verdict_init");
    CHECK(v.s.version == 1 && v.s.level == -1 && v.s.limit == -1, "verdict_init values");
    for (int i = 0; i < 3; i++)
        CHECK(maillimit_decide(ml, MAILBOX, "ceo@acme.example", 1, T0 + i, &v.s) == 0,
              "decide %d", i);
    CHECK(v.s.version == 1 && v.s.decision == 1 && v.s.level == MAILBOX && v.s.limit == 2 &&
              v.s.count == 2 && v.s.retry_after == 3598,
          "third verdict: version %u decision %d level %d limit %lld count %lld retry %lld",
          v.s.version, v.s.decision, v.s.level, (long long)v.s.limit, (long long)v.s.count,
          (long long)v.s.retry_after);
    GUARD_OK(v, "decide");

    /* a version this library does not know: refused, and nothing written */
    GUARDED(v1_verdict, future);
    CHECK(maillimit_verdict_init(&future.s, 2) == EVERSION_, "verdict_init(2)");
    CHECK(maillimit_verdict_init(&future.s, 0) == EVERSION_, "verdict_init(0)");
    CHECK(future.s.version == 0xa5a5a5a5, "verdict_init(2) wrote");
    future.s.version = 2;
    CHECK(maillimit_decide(ml, MAILBOX, "ceo@acme.example", 1, T0, &future.s) == EINVAL_,
          "decide with version 2");
    CHECK(future.s.decision == (int32_t)0xa5a5a5a5, "decide with version 2 wrote");

    GUARDED(v1_status, st);
    CHECK(maillimit_status_init(&st.s, 1) == 0, "status_init");
    CHECK(maillimit_status_get(ml, MAILBOX, "ceo@acme.example", HOUR, T0 + 3, &st.s) == 0,
          "status_get");
    CHECK(st.s.version == 1 && st.s.sending == 0 && st.s.blocked_by == MAILBOX &&
              st.s.count == 2 && st.s.limit == 2 && st.s.remaining == 0,
          "status values");
    GUARD_OK(st, "status_get");

    GUARDED(v1_history_row, row);
    CHECK(maillimit_history_row_init(&row.s, 1) == 0, "history_row_init");
    void *hit = NULL;
    CHECK(maillimit_history_open(ml, MAILBOX, "ceo@acme.example", T0 - 7200, T0 + 3600, T0 + 10,
                                 &hit) == 0, "history_open");
    CHECK(maillimit_history_next(hit, &row.s) == 0, "history_next");
    CHECK(row.s.version == 1 && row.s.hour_start == T0 && row.s.sent == 2 &&
              row.s.denied == 1 && row.s.exempt == 0,
          "history row: hour %lld sent %lld denied %lld", (long long)row.s.hour_start,
          (long long)row.s.sent, (long long)row.s.denied);
    CHECK(maillimit_history_next(hit, &row.s) == EDONE_, "history end");
    GUARD_OK(row, "history_next");
    maillimit_history_close(hit);

    GUARDED(v1_episode, ep);
    CHECK(maillimit_episode_init(&ep.s, 1) == 0, "episode_init");
    void *eit = NULL;
    CHECK(maillimit_episodes_open(ml, SERVER, NULL, T0 - 7200, T0 + 3600, T0 + 10, &eit) == 0,
          "episodes_open");
    CHECK(maillimit_episodes_next(eit, &ep.s) == 0, "episodes_next");
    CHECK(ep.s.version == 1 && ep.s.level == MAILBOX && ep.s.started == T0 + 2 &&
              ep.s.limit == 2 && ep.s.denied == 1 && strcmp(ep.s.name, "ceo@acme.example") == 0,
          "episode: level %d started %lld name %s", ep.s.level, (long long)ep.s.started,
          ep.s.name);
    GUARD_OK(ep, "episodes_next");
    maillimit_episodes_close(eit);

    /* top: the array strides by the caller's size */
    struct {
        v1_top_row rows[2];
        unsigned char guard[GUARD];
    } top;
    memset(&top, 0xa5, sizeof top);
    CHECK(maillimit_top_row_init(&top.rows[0], 1) == 0, "top_row_init");
    size_t n = 2;
    CHECK(maillimit_top(ml, DOMAIN, SENT, T0 - 3600, T0 + 3600, SERVER, NULL, T0 + 10,
                        top.rows, &n) == 0, "top");
    CHECK(n == 1 && top.rows[0].version == 1 && top.rows[0].sent == 2 &&
              strcmp(top.rows[0].name, "acme.example") == 0,
          "top rows: n %zu sent %lld", n, (long long)top.rows[0].sent);
    CHECK(top.rows[1].version == 0xa5a5a5a5, "top wrote row 1");
    GUARD_OK(top, "top");

    GUARDED(v1_summary, sm);
    CHECK(maillimit_summary_init(&sm.s, 1) == 0, "summary_init");
    CHECK(maillimit_summary_get(ml, SERVER, NULL, T0 - 3600, T0 + 3600, T0 + 10, &sm.s) == 0,
          "summary_get");
    CHECK(sm.s.version == 1 && sm.s.sent == 2 && sm.s.denied == 1 && sm.s.limited_entities == 1,
          "summary: sent %lld denied %lld limited %lld", (long long)sm.s.sent,
          (long long)sm.s.denied, (long long)sm.s.limited_entities);
    GUARD_OK(sm, "summary_get");

    GUARDED(v1_event, ev);
    CHECK(maillimit_event_init(&ev.s, 1) == 0, "event_init");
    CHECK(maillimit_events_next(ml, T0 + 10, &ev.s) == 0, "events_next");
    CHECK(ev.s.version == 1 && ev.s.type == 1 && ev.s.level == MAILBOX && ev.s.seq == 1 &&
              strcmp(ev.s.name, "ceo@acme.example") == 0,
          "event: type %d level %d seq %llu", ev.s.type, ev.s.level,
          (unsigned long long)ev.s.seq);
    GUARD_OK(ev, "events_next");

    GUARDED(v1_entity, en);
    CHECK(maillimit_entity_init(&en.s, 1) == 0, "entity_init");
    void *lit = NULL;
    CHECK(maillimit_list_open(ml, DOMAIN, SERVER, NULL, 0, &lit) == 0, "list_open");
    CHECK(maillimit_list_next(lit, &en.s) == 0, "list_next");
    CHECK(en.s.version == 1 && en.s.level == DOMAIN && strcmp(en.s.name, "acme.example") == 0 &&
              strcmp(en.s.parent, "acme") == 0,
          "entity: %s in %s", en.s.name, en.s.parent);
    GUARD_OK(en, "list_next");
    maillimit_list_close(lit);

    /* a batch: requests and verdicts stride by their version 1 size; only out[0] is
     * initialised, the others take its version; nothing is written past the third verdict */
    GUARDED(v1_request, rq0);
    CHECK(maillimit_request_init(&rq0.s, 1) == 0, "request_init");
    CHECK(rq0.s.version == 1 && rq0.s.level == MAILBOX && rq0.s.sender == NULL &&
              rq0.s.cost == 1,
          "request_init values");
    GUARD_OK(rq0, "request_init");
    v1_request rq[3];
    for (int i = 0; i < 3; i++) {
        CHECK(maillimit_request_init(&rq[i], 1) == 0, "request_init %d", i);
        rq[i].sender = "batch@acme.example";
    }
    typedef v1_verdict three_verdicts[3];
    GUARDED(three_verdicts, vs);
    CHECK(maillimit_verdict_init(&vs.s[0], 1) == 0, "verdict_init");
    size_t done = 0;
    CHECK(maillimit_decide_many(ml, rq, 3, T0 + 20, vs.s, &done) == 0 && done == 3,
          "decide_many: %zu decided", done);
    for (int i = 0; i < 3; i++)
        CHECK(vs.s[i].version == 1 && vs.s[i].decision == (i == 2) && vs.s[i].count == i &&
                  vs.s[i].limit == 2,
              "batch verdict %d: version %u decision %d count %lld limit %lld", i,
              vs.s[i].version, vs.s[i].decision, (long long)vs.s[i].count,
              (long long)vs.s[i].limit);
    GUARD_OK(vs, "decide_many");
    rq[0].version = 2;
    CHECK(maillimit_decide_many(ml, rq, 3, T0 + 20, vs.s, &done) == EINVAL_ && done == 0,
          "decide_many with request version 2");

    maillimit_free(ml);
    if (failures)
        fprintf(stderr, "v1_caller: %d failures\n", failures);
    else
        printf("v1_caller: every version 1 struct filled, nothing written past it\n");
    return failures != 0;
}
