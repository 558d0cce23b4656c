/* SPDX-License-Identifier: MIT */
/* bench_bindings (C part): maillimit_decide() calls per second through the shared library,
 * the baseline for the Python and PHP bindings' per-call overhead (bench_bindings.sh runs
 * all three on the same workload in one run).
 *
 * Workload, identical in bench_bindings.py and bench_bindings.php: one subscription, one
 * domain, 100 registered mailboxes with default (unlimited) limits; the senders cycle
 * through the 100 addresses, `now` starts at 2024-01-01 10:00:00 UTC and advances one
 * second every 1000 calls, cost 1. Every call is an ALLOW that counts mailbox, domain,
 * subscription and server.
 *
 *   bench_bindings [CALLS]     default 5000000
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "maillimit.h"

enum { MAILBOXES = 100, START = 1704103200 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_bindings: %s: %s\n", what, maillimit_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 5000000;
    static char names[MAILBOXES][32];
    maillimit *ml = NULL;
    check(maillimit_new(&ml), "maillimit_new");
    check(maillimit_subscription_add(ml, "bench", NULL), "subscription_add");
    check(maillimit_domain_add(ml, "bench.example", "bench"), "domain_add");
    for (int i = 0; i < MAILBOXES; i++) {
        snprintf(names[i], sizeof names[i], "user%d@bench.example", i);
        check(maillimit_mailbox_add(ml, names[i]), "mailbox_add");
    }
    long allowed = 0;
    double t0 = now_s();
    for (long i = 0; i < calls; i++) {
        maillimit_verdict v;
        /* as the bindings do, once per call */
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        check(maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, names[i % MAILBOXES], 1,
                               START + i / 1000, &v), "decide");
        allowed += v.decision == MAILLIMIT_ALLOW;
    }
    double s = now_s() - t0;
    if (allowed != calls) {
        fprintf(stderr, "bench_bindings: %ld of %ld allowed\n", allowed, calls);
        return 1;
    }
    printf("C       maillimit_decide          %9ld calls %7.3f s %12.0f calls/s %8.1f ns/call\n",
           calls, s, calls / s, s / calls * 1e9);
    maillimit_free(ml);
    return 0;
}
