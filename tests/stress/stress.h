/* SPDX-License-Identifier: MIT */
/* What the stress programs share: failure reporting from any thread, checks, status counts,
 * a small random generator, STRESS_SCALE. A program defines STRESS_NAME (its name, for the
 * messages) before including this header; its exit status is `failures != 0`. */
#ifndef MAILLIMIT_TEST_STRESS_H
#define MAILLIMIT_TEST_STRESS_H

#include <maillimit.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef STRESS_NAME
#error "define STRESS_NAME before including stress.h"
#endif

#define MBX MAILLIMIT_LEVEL_MAILBOX
#define DOM MAILLIMIT_LEVEL_DOMAIN
#define SUB MAILLIMIT_LEVEL_SUBSCRIPTION
#define PLN MAILLIMIT_LEVEL_PLAN
#define SRV MAILLIMIT_LEVEL_SERVER
#define HOUR MAILLIMIT_WINDOW_HOUR
#define DAY MAILLIMIT_WINDOW_DAY

static int failures;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

/* Count a failure; print the first 50 on stderr. Safe from any thread. */
static inline void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void fail(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&fail_lock);
    if (failures < 50) {
        fputs(STRESS_NAME ": FAIL: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    failures++;
    pthread_mutex_unlock(&fail_lock);
}

#define CHECK_EQ(what, got, exp)                                                              \
    do {                                                                                      \
        long long g_ = (long long)(got), e_ = (long long)(exp);                               \
        if (g_ != e_)                                                                         \
            fail("%s: got %lld, expected %lld", what, g_, e_);                                \
    } while (0)

static inline void must(int rc, const char *what)
{
    if (rc != 0)
        fail("%s: %s (%d)", what, maillimit_strerror(rc), rc);
}

/* An entity's own count in a window (-1, and a failure, if it cannot be read). */
static inline int64_t count_of(maillimit *ml, int level, const char *name, int window,
                               int64_t now)
{
    maillimit_status s;
    maillimit_status_init(&s, MAILLIMIT_STATUS_VERSION);
    int rc = maillimit_status_get(ml, level, name, window, now, &s);
    if (rc != 0) {
        fail("status_get(%d, %s): %d", level, name ? name : "(server)", rc);
        return -1;
    }
    return s.count;
}

static inline uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* STRESS_SCALE as a whole multiplier of rounds: 1..1000, default 1. */
static inline int stress_scale(void)
{
    const char *e = getenv("STRESS_SCALE");
    int s = e ? atoi(e) : 1;
    return s < 1 ? 1 : s > 1000 ? 1000 : s;
}

#endif
