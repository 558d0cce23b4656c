/* SPDX-License-Identifier: MIT */
/* Snapshots: the whole state of a handle in one crash-safe, checksummed msgpack file. This
 * header holds what the writer (snapshot_write.c) and the reader (snapshot_read.c) share: the
 * format's constants and record kinds, and the helpers of their error messages.
 *
 * The format is documented for other tools in docs/snapshot-format.md. In short:
 *
 *   header   8 bytes magic "\x89MLSNAP\n", uint32 format version (big-endian), uint32 0
 *   body     a stream of msgpack objects: a head map (server settings and counter, stats,
 *            record counts), then one array per plan, subscription, domain, mailbox and
 *            system user, in that order (every parent before its children); from version 2
 *            a reports head (retention, count) and the report objects (see below)
 *   trailer  uint32 CRC-32C (big-endian) of every byte before it
 *
 * A counter is stored by meaning, not by the layout of ring.c: the newest minute it has been
 * brought to, the units of each live minute of the hour window and the units of each live
 * hour of the day window, as (period, count) pairs (struct maillimit__counter). Only ring.c
 * knows how it stores those (maillimit__ring_export(), maillimit__ring_import()); it is the
 * one place to change when the ring changes.
 *
 * Report data (version 2): after the records, a "reports" map (retention, count) and one
 * array per chunk of an entity's report data: its harvested history (hours and closed
 * episodes, read under the report lock, never the decide path's) and its live block (denied,
 * exempt and reset hour slots as (hour, count) pairs, and the open episode, read under its
 * spin flag as readers do). The server's per-lane blocks are merged into its own. Queued
 * events are not saved.
 */
#ifndef MAILLIMIT_SNAPSHOT_INTERNAL_H
#define MAILLIMIT_SNAPSHOT_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

#define SNAP_MAGIC "\x89MLSNAP\n"
#define COUNT_MAX ((INT64_C(1) << 40) - 1) /* largest count of one period in the format */
enum {
    SNAP_VERSION = 3,     /* the format this library writes; it reads 1..SNAP_VERSION */
    HEADER_SIZE = 16,
    TRAILER_SIZE = 4,
    RECORD_MAX = 4096,    /* largest encoded object (a record is at most ~1.6 KiB) */
    NM = MAILLIMIT__HOUR_SLOTS,
    NH = MAILLIMIT__DAY_SLOTS,
    REP_HOURS = 48,       /* history hours per report object (keeps it under RECORD_MAX) */
    REP_EPISODES = 24,    /* closed episodes per report object */
    LEVEL_UNATTRIBUTED = -1 /* a report's level for the unattributed pseudo-entity */
};

/* Record kinds, in file order. */
enum { K_PLAN, K_SUBSCRIPTION, K_DOMAIN, K_MAILBOX, K_SYSUSER, KINDS };

static const struct kind {
    const char *key;          /* in the head's "records" map */
    const char *what;         /* in messages */
    int level;                /* entity level */
    int norm_level;           /* level whose name rules apply */
    int fields;               /* array length of a record */
    int first_target;         /* limits: targets first_target..MAILBOX; 0: none */
    int flags;                /* 2: [sendmail, exempt]; 1: [exempt]; 0: none */
    int counted;              /* has a counter */
} kinds[KINDS] = {
    [K_PLAN] = {"plans", "plan", MAILLIMIT_LEVEL_PLAN, MAILLIMIT_LEVEL_PLAN, 3,
                MAILLIMIT_LEVEL_SUBSCRIPTION, 2, 0},
    [K_SUBSCRIPTION] = {"subscriptions", "subscription", MAILLIMIT_LEVEL_SUBSCRIPTION,
                        MAILLIMIT_LEVEL_SUBSCRIPTION, 5, MAILLIMIT_LEVEL_SUBSCRIPTION, 2, 1},
    [K_DOMAIN] = {"domains", "domain", MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_DOMAIN, 5,
                  MAILLIMIT_LEVEL_DOMAIN, 1, 1},
    [K_MAILBOX] = {"mailboxes", "mailbox", MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_MAILBOX, 5,
                   MAILLIMIT_LEVEL_MAILBOX, 1, 1},
    [K_SYSUSER] = {"sysusers", "system user", MAILLIMIT__LEVEL_SYSUSER, MAILLIMIT_LEVEL_PLAN, 2,
                   0, 0, 0},
};

static inline int kind_of_level(int level)
{
    for (int k = 0; k < KINDS; k++)
        if (kinds[k].level == level)
            return k;
    return -1;
}

/* ---- errors ------------------------------------------------------------------------------ */

struct errbuf {
    const char *src;          /* the path, or "<memory>" */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static inline int fail(const struct errbuf *eb,
                                                             int rc, const char *fmt, ...)
{
    if (eb->err && eb->errlen) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        maillimit__errf(eb->err, eb->errlen, "%s: %s", eb->src, msg);
    }
    return rc;
}

static inline void ok_msg(char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
}

#endif /* MAILLIMIT_SNAPSHOT_INTERNAL_H */
