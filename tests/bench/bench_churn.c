/* SPDX-License-Identifier: MIT */
/* Management at scale: what a control panel's daily work costs on a big hierarchy.
 *
 *   bench_churn [--quick]
 *
 * For the SPEC §8 hierarchy at 10k, 100k and 1M mailboxes (--quick: 10k and 100k):
 *   - removing one mailbox (the mean of 200 random ones, each added back afterwards);
 *   - removing a domain with 1000 mailboxes (and adding it back);
 *   - a day of churn: 1000 mailboxes added, sent from and removed, then maillimit_tick()
 *     (which frees what was removed); RSS growth after 1, 10 and 30 simulated days;
 * and then, on the 100k hierarchy (1M without --quick):
 *   - the spray: 200k one-off senders at one known domain (2M without --quick), their
 *     implicit mailboxes forgotten once their windows and history (retention 1 hour) are
 *     empty: RSS before, at the peak and after;
 *   - 20 snapshot loads of the same state, each followed by a tick: RSS growth.
 * Targets (SPEC §8): one mailbox <= 20 us and a 1000-mailbox domain <= 5 ms at 1M; a year of
 * churn <= 5 MB; the spray back within 10 % of the baseline; 20 loads <= 10 %.
 */
#define _POSIX_C_SOURCE 200809L
#define BENCH_NAME "bench_churn"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <maillimit.h>

#include "bench_common.h"

#define T0 INT64_C(1767261600)

static void big_domain(maillimit *ml, int add)
{
    char buf[64];
    if (!add) {
        check(maillimit_remove(ml, MAILLIMIT_LEVEL_DOMAIN, "big.example"), "remove domain");
        return;
    }
    check(maillimit_domain_add(ml, "big.example", "sub0"), "domain_add");
    for (int i = 0; i < 1000; i++) {
        snprintf(buf, sizeof buf, "u%d@big.example", i);
        check(maillimit_mailbox_add(ml, buf), "mailbox_add");
    }
}

static void run(size_t nmb)
{
    double build;
    maillimit *ml = build_hierarchy(nmb, &build);
    char **names = make_names(nmb);

    /* one mailbox: remove, then add back (not timed) */
    enum { ONE = 200 };
    double removing = 0;
    for (int i = 0; i < ONE; i++) {
        size_t m = (size_t)(rng() % nmb);
        double t = now_s();
        check(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, names[m]), "remove mailbox");
        removing += now_s() - t;
        check(maillimit_mailbox_add(ml, names[m]), "mailbox_add");
    }

    /* a domain of 1000 mailboxes */
    big_domain(ml, 1);
    double t = now_s();
    big_domain(ml, 0);
    double dom = now_s() - t;

    /* days of churn */
    long rss0 = rss_bytes();
    long rss_day[31] = {0};
    char buf[64];
    maillimit_verdict v;
    double churn = now_s();
    for (int day = 1; day <= 30; day++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(buf, sizeof buf, "c%d-%d@d%d.example", day, i, i % 100);
            check(maillimit_mailbox_add(ml, buf), "mailbox_add");
            maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
            check(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, buf, 1,
                                   T0 + (int64_t)day * 86400 + i, &v), "decide");
        }
        for (int i = 0; i < 1000; i++) {
            snprintf(buf, sizeof buf, "c%d-%d@d%d.example", day, i, i % 100);
            check(maillimit_remove(ml, MAILLIMIT_LEVEL_MAILBOX, buf), "remove");
        }
        check(maillimit_tick(ml, T0 + (int64_t)day * 86400 + 3600), "tick");
        rss_day[day] = rss_bytes();
    }
    churn = now_s() - churn;

    printf("%8zu mailboxes: remove one mailbox %7.2f us (mean of %d), a domain of 1000 "
           "mailboxes %7.2f ms; 30 days of 1000 mailboxes replaced: %.2f s, RSS +%.1f MB "
           "after 1 day, +%.1f MB after 10, +%.1f MB after 30\n",
           nmb, removing / ONE * 1e6, ONE, dom * 1e3, churn, (rss_day[1] - rss0) / 1e6,
           (rss_day[10] - rss0) / 1e6, (rss_day[30] - rss0) / 1e6);
    fflush(stdout);
    for (size_t m = 0; m < nmb; m++)
        free(names[m]);
    free(names);
    maillimit_free(ml);
}

static void spray(size_t nmb, size_t senders)
{
    double build;
    maillimit *ml = build_hierarchy(nmb, &build);
    check(maillimit_retention_set(ml, 1), "retention");
    check(maillimit_tick(ml, T0), "tick");
    long base = rss_bytes();
    char buf[64];
    maillimit_verdict v;
    for (size_t i = 0; i < senders; i++) {
        snprintf(buf, sizeof buf, "once%zu@d0.example", i);
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        check(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, buf, 1, T0 + (int64_t)(i % 3000), &v),
              "decide");
    }
    long peak = rss_bytes();
    double t = now_s();
    for (int h = 1; h <= 27; h++)
        check(maillimit_tick(ml, T0 + (int64_t)h * 3600), "tick");
    t = now_s() - t;
    long after = rss_bytes();
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    int gone = maillimit_status_get(ml, MAILLIMIT_LEVEL_MAILBOX, "once0@d0.example",
                                    MAILLIMIT_WINDOW_HOUR, T0 + 27 * 3600, &st) ==
               MAILLIMIT_ENOTFOUND;
    printf("spray: %zu one-off senders on the %zu-mailbox hierarchy: RSS %.1f MB before, "
           "%.1f MB at the peak, %.1f MB after 27 hourly ticks (%+.1f %% of the baseline; "
           "forgotten: %s; ticks %.2f s)\n",
           senders, nmb, base / 1e6, peak / 1e6, after / 1e6, 100.0 * (after - base) / base,
           gone ? "yes" : "NO", t);
    maillimit_free(ml);
}

static void loads(size_t nmb)
{
    double build;
    maillimit *ml = build_hierarchy(nmb, &build);
    void *snap = NULL;
    size_t len = 0;
    check(maillimit_snapshot_save_mem(ml, &snap, &len, NULL, 0), "save");
    check(maillimit_tick(ml, T0), "tick");
    long base = rss_bytes();
    double t = now_s();
    for (int i = 0; i < 20; i++) {
        check(maillimit_snapshot_load_mem(ml, snap, len, NULL, 0), "load");
        check(maillimit_tick(ml, T0), "tick");
    }
    t = now_s() - t;
    long after = rss_bytes();
    printf("loads: 20 snapshot loads of the %zu-mailbox state (%.1f MB), each with a tick: "
           "RSS %.1f MB -> %.1f MB (%+.1f %%), %.2f s per load\n",
           nmb, len / 1e6, base / 1e6, after / 1e6, 100.0 * (after - base) / base, t / 20);
    maillimit_buffer_free(snap);
    maillimit_free(ml);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    run(10000);
    run(100000);
    if (!quick)
        run(1000000);
    spray(quick ? 100000 : 1000000, quick ? 200000 : 2000000);
    loads(quick ? 100000 : 1000000);
    return 0;
}
