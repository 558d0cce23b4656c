/* SPDX-License-Identifier: MIT */
/* Shared by the benchmarks: clocks, memory readings, a small PRNG, and the SPEC §8
 * hierarchy (subscriptions in plan "standard", 5 domains each, 10 mailboxes per domain).
 * Include after defining _POSIX_C_SOURCE. */
#ifndef MAILLIMIT_BENCH_COMMON_H
#define MAILLIMIT_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maillimit.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Exit with a message if a call failed. BENCH_NAME names the program. */
static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, maillimit_strerror(rc));
        exit(1);
    }
}

/* The address of mailbox m of nmb (names[m] of make_names()). */
static void mailbox_name(char *buf, size_t n, size_t m, size_t nmb)
{
    size_t ndom = nmb / 10 ? nmb / 10 : 1;
    snprintf(buf, n, "user%zu@d%zu.example", m / ndom, m % ndom);
}

static char **make_names(size_t nmb)
{
    char buf[128];
    char **names = malloc(nmb * sizeof *names);
    for (size_t m = 0; m < nmb; m++) {
        mailbox_name(buf, sizeof buf, m, nmb);
        names[m] = strdup(buf);
    }
    return names;
}

/* The hierarchy's limits: mailbox 200/h (server default), domain 1000/h and subscription
 * 20000/day (plan "standard"). */
static void set_hierarchy_limits(maillimit *ml)
{
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                              MAILLIMIT_WINDOW_HOUR, 200), "limit");
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard", MAILLIMIT_LEVEL_DOMAIN,
                              MAILLIMIT_WINDOW_HOUR, 1000), "limit");
    check(maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "standard",
                              MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_DAY, 20000),
          "limit");
}

/* Build the hierarchy with set_hierarchy_limits()'s limits; *secs gets the time the adds
 * took. */
static maillimit *build_hierarchy(size_t nmb, double *secs)
{
    size_t ndom = nmb / 10 ? nmb / 10 : 1, nsub = ndom / 5 ? ndom / 5 : 1;
    char buf[128];
    maillimit *ml;
    check(maillimit_new(&ml), "new");
    check(maillimit_plan_add(ml, "standard"), "plan");
    set_hierarchy_limits(ml);
    double t = now_s();
    for (size_t s = 0; s < nsub; s++) {
        snprintf(buf, sizeof buf, "sub%zu", s);
        check(maillimit_subscription_add(ml, buf, "standard"), "subscription_add");
    }
    for (size_t d = 0; d < ndom; d++) {
        char sub[32];
        snprintf(sub, sizeof sub, "sub%zu", d % nsub);
        snprintf(buf, sizeof buf, "d%zu.example", d);
        check(maillimit_domain_add(ml, buf, sub), "domain_add");
    }
    for (size_t m = 0; m < nmb; m++) {
        mailbox_name(buf, sizeof buf, m, nmb);
        check(maillimit_mailbox_add(ml, buf), "mailbox_add");
    }
    *secs = now_s() - t;
    return ml;
}

#endif
