/* SPDX-License-Identifier: MIT */
/* Fuzz target: what maillimitd accepts from Redis (cluster_redis). The input's first byte
 * chooses how many keys the request named (1..3); the rest is the bytes Redis sent, parsed
 * by hiredis's reader with maillimitd's reply objects (arrays bounded), and every reply is
 * checked by
 * maillimit__cluster_reply(). An accepted reply must be self-consistent. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "cluster.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int nkeys = 1 + data[0] % 3;
    redisReader *rd = redisReaderCreateWithFunctions(&maillimit__cluster_reply_fns);
    if (!rd)
        return 0;
    if (redisReaderFeed(rd, (const char *)data + 1, size - 1) == REDIS_OK) {
        for (int i = 0; i < 64; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || !reply)
                break;
            maillimit__cluster_result r;
            if (maillimit__cluster_reply(reply, nkeys, &r) == 0) {
                if (r.allowed != 0 && r.allowed != 1)
                    abort();
                if (!r.allowed && (r.index < 0 || r.index >= nkeys || r.retry_after == 0 ||
                                   r.retry_after < -1 || (r.window != 0 && r.window != 1)))
                    abort();
            }
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
    return 0;
}
