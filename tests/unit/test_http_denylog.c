/* SPDX-License-Identifier: MIT */
/* log_denials episode (libmaillimit/server/denylog.c): which refusals get a line, and the
 * summaries, at explicit monotonic times. */
#define _GNU_SOURCE

#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillimit.h"
#include "http.h"

static maillimit__denylog *d;
static char lines[16][200];
static int nlines;

static void emit(void *ud, int level, const char *name, uint64_t n, uint64_t secs)
{
    (void)ud;
    if (nlines < 16)
        snprintf(lines[nlines], sizeof lines[0], "%d %s %llu %llu", level, name ? name : "-",
                 (unsigned long long)n, (unsigned long long)secs);
    nlines++;
}

static void setup(void)
{
    cr_assert_eq(maillimit__denylog_new(&d), 0);
    nlines = 0;
}

static void teardown(void)
{
    maillimit__denylog_free(d);
}

TestSuite(http_denylog, .init = setup, .fini = teardown);

#define MB MAILLIMIT_LEVEL_MAILBOX
#define T0 1000000u /* ms on the loop's clock */

Test(http_denylog, first_refusal_logged_then_a_summary_a_minute)
{
    /* joe is refused at T0 with retry_after 600 s: blocked until T0 + 600 s */
    cr_assert_eq(maillimit__denylog_hit(d, MB, "joe@example.com", T0, 600), 1);
    for (int i = 1; i <= 1234; i++) {
        /* later refusals give the same end of the window (in whole seconds) */
        unsigned t = T0 + 1000 + (unsigned)i;
        cr_assert_eq(maillimit__denylog_hit(d, MB, "joe@example.com", t,
                                            (T0 + 600000 - t) / 1000), 0);
    }
    /* the first counted refusal was at T0 + 1.001 s: its minute ends at T0 + 61.001 s */
    maillimit__denylog_flush(d, T0 + 61000, emit, NULL);
    cr_assert_eq(nlines, 0);
    maillimit__denylog_flush(d, T0 + 61001, emit, NULL);
    cr_assert_eq(nlines, 1);
    cr_assert_str_eq(lines[0], "4 joe@example.com 1234 60");
    /* nothing more counted: no line; still followed until the retry time */
    maillimit__denylog_flush(d, T0 + 200000, emit, NULL);
    cr_assert_eq(nlines, 1);
    cr_assert_eq(maillimit__denylog_size(d), 1);
    /* a refusal at T0 + 300 s, still inside the episode: counted, a summary 60 s later */
    cr_assert_eq(maillimit__denylog_hit(d, MB, "joe@example.com", T0 + 300000, 300), 0);
    maillimit__denylog_flush(d, T0 + 359999, emit, NULL);
    cr_assert_eq(nlines, 1);
    maillimit__denylog_flush(d, T0 + 360500, emit, NULL);
    cr_assert_eq(nlines, 2);
    cr_assert_str_eq(lines[1], "4 joe@example.com 1 60");
    /* that refusal moved the retry time to T0 + 600 s (unchanged); then it is forgotten */
    maillimit__denylog_flush(d, T0 + 599999, emit, NULL);
    cr_assert_eq(maillimit__denylog_size(d), 1);
    maillimit__denylog_flush(d, T0 + 600000, emit, NULL);
    cr_assert_eq(maillimit__denylog_size(d), 0);
    cr_assert_eq(nlines, 2);
    /* a new episode: a full line again */
    cr_assert_eq(maillimit__denylog_hit(d, MB, "joe@example.com", T0 + 700000, 60), 1);
}

Test(http_denylog, a_later_retry_time_extends_the_episode)
{
    cr_assert_eq(maillimit__denylog_hit(d, MB, "a@x.example", T0, 10), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "a@x.example", T0 + 5000, 100), 0);
    /* T0 + 10 s would have ended the first retry time; the second runs to T0 + 105 s */
    cr_assert_eq(maillimit__denylog_hit(d, MB, "a@x.example", T0 + 20000, 85), 0);
    /* after it, with refusals still counted: the new episode's first refusal is logged */
    cr_assert_eq(maillimit__denylog_hit(d, MB, "a@x.example", T0 + 105000, 50), 1);
    maillimit__denylog_flush(d, T0 + 65000, emit, NULL);
    cr_assert_eq(nlines, 1);
    cr_assert_str_eq(lines[0], "4 a@x.example 2 60");
}

Test(http_denylog, senders_are_told_apart_by_level_and_name)
{
    cr_assert_eq(maillimit__denylog_hit(d, MB, "a@x.example", T0, 60), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "b@x.example", T0, 60), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_DOMAIN, "x.example", T0, 60), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_SUBSCRIPTION, "x.example", T0, 60), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_DOMAIN, "x.example", T0 + 1, 60), 0);
    cr_assert_eq(maillimit__denylog_size(d), 4);
}

Test(http_denylog, never_is_forgotten_after_an_hour_without_refusals)
{
    /* script mail switched off: retry_after -1 */
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", T0, -1), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", T0 + 1000, -1),
                 0);
    maillimit__denylog_flush(d, T0 + 61000, emit, NULL);
    cr_assert_str_eq(lines[0], "2 acme 1 60");
    maillimit__denylog_flush(d, T0 + 1000 + 3599999, emit, NULL);
    cr_assert_eq(maillimit__denylog_size(d), 1);
    maillimit__denylog_flush(d, T0 + 1000 + 3600000, emit, NULL);
    cr_assert_eq(maillimit__denylog_size(d), 0);
    cr_assert_eq(maillimit__denylog_hit(d, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", T0 + 5000000, -1),
                 1);
}

Test(http_denylog, a_full_table_sums_up_the_others)
{
    char name[64];
    for (int i = 0; i < MAILLIMIT__DENYLOG_MAX; i++) {
        snprintf(name, sizeof name, "s%d@x.example", i);
        cr_assert_eq(maillimit__denylog_hit(d, MB, name, T0, 3600), 1);
    }
    cr_assert_eq(maillimit__denylog_hit(d, MB, "late@x.example", T0 + 10, 3600), 0);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "later@x.example", T0 + 20, 3600), 0);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "s5@x.example", T0 + 30, 3599), 0);
    maillimit__denylog_flush(d, T0 + 60010, emit, NULL);
    cr_assert_eq(nlines, 1);
    cr_assert_str_eq(lines[0], "-1 - 2 60");
    maillimit__denylog_flush(d, T0 + 60030, emit, NULL);
    cr_assert_eq(nlines, 2);
    cr_assert_str_eq(lines[1], "4 s5@x.example 1 60");
    /* all forgotten once their hour is over; the index is rebuilt and still finds names */
    maillimit__denylog_flush(d, T0 + 3600000, emit, NULL);
    cr_assert_eq(maillimit__denylog_size(d), 0);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "s5@x.example", T0 + 3600001, 60), 1);
    cr_assert_eq(maillimit__denylog_hit(d, MB, "s5@x.example", T0 + 3600002, 60), 0);
}

#endif
