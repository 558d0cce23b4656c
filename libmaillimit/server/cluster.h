/* SPDX-License-Identifier: MIT */
/* Several relays, one set of limits: counters shared through Redis (cluster_redis,
 * docs/cluster.md). Never installed; only the server layer uses it.
 *
 * A decision with cluster_redis set is first taken by the local library as a reservation
 * (maillimit_reserve): its reason precedence, flags and implicit mailboxes are the core's.
 * A local refusal is final (the cluster-wide count is never below this relay's own). A local
 * ALLOW whose chain has a limit is then checked and charged in Redis by one atomic script per
 * hash tag (the subscription's chain; the server total, when it has a limit, on its own key),
 * and the reservation is committed (Redis allowed) or released (Redis refused). When Redis is
 * not connected, does not answer within the timeout or answers nonsense, the local
 * reservation is committed: the relay decides alone, and what it admitted is added to the
 * shared counters once Redis is back.
 */
#ifndef MAILLIMIT_CLUSTER_H
#define MAILLIMIT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "maillimit.h"

typedef struct maillimit__cluster maillimit__cluster;
typedef struct maillimit__cluster_req maillimit__cluster_req;

/* The final verdict of a decision that waited for Redis (called on the loop, never from
 * inside maillimit__cluster_decide()). */
typedef void (*maillimit__cluster_done)(void *ud, const maillimit_verdict *v);

/* maillimit__cluster_decide() returns this when the verdict comes later through done. */
enum { MAILLIMIT__CLUSTER_PENDING = 1 };

/* What one script reply says (maillimit__cluster_reply_parse). */
typedef struct maillimit__cluster_result {
    int allowed;          /* 1 allowed (and charged), 0 refused */
    int index;            /* refused: the refusing key (0-based, bottom-up) */
    int window;           /* refused: MAILLIMIT_WINDOW_* */
    int64_t limit, count; /* refused: of the refusing counter (count before the request) */
    int64_t retry_after;  /* refused: seconds, or -1 never */
    int64_t own;          /* the first key's hourly count before the request */
} maillimit__cluster_result;

/* The Lua script (check and charge, charge only, read); its text for EVAL and SCRIPT LOAD. */
extern const char maillimit__cluster_script[];

/* Parse a script reply given as its integers (a Redis array of nint integers, already
 * checked to be integers by the caller): 0, or MAILLIMIT_EFORMAT for anything else (wrong
 * length, a value out of range). nkeys: how many keys the request named. */
__attribute__((visibility("hidden"))) int maillimit__cluster_reply_parse(
    const long long *v, size_t nint, int nkeys, maillimit__cluster_result *out);

/* hiredis's reply objects with a bound on array sizes (64 elements), for every reader that
 * reads Redis for cluster_redis (redisReaderCreateWithFunctions, or a context's reader). */
struct redisReplyObjectFunctions;
extern __attribute__((visibility("hidden"))) struct redisReplyObjectFunctions
    maillimit__cluster_reply_fns;

/* Check a script reply as hiredis delivers it (a redisReply *): an array of 7 integers that
 * maillimit__cluster_reply_parse() accepts. 0, or MAILLIMIT_EFORMAT (NULL, an error reply,
 * another type, wrong elements). */
__attribute__((visibility("hidden"))) int maillimit__cluster_reply(
    const void *reply, int nkeys, maillimit__cluster_result *out);

/* Redis key of a counter into buf (size bytes): PREFIX{s:SUB}:m:ADDR, :d:DOMAIN, :s, or
 * PREFIX{server} for level SERVER. Returns its length, or 0 if it does not fit. */
__attribute__((visibility("hidden"))) size_t maillimit__cluster_key(
    char *buf, size_t size, const char *prefix, int level, const char *subscription,
    const char *name);

#endif
