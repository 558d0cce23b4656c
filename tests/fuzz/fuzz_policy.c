/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the policy protocol (maillimit__policy_parse and maillimit_policy_request).
 *
 * The input is a byte stream from one client: every request in it is handled in turn, as the
 * server does, on a handle with a small hierarchy (so that attribution, counting, denials and
 * the message table are all reached). Invariants (abort on violation):
 * - the parser and maillimit_policy_request() agree: same bytes consumed, same error;
 * - a complete request ends with "\n\n" (or "\n\r\n") and is at most 16384 bytes;
 * - an error comes with a static problem text, and nothing was consumed;
 * - a reply starts with "action=", ends with "\n\n", has no other newline or NUL, and is at
 *   most MAILLIMIT_POLICY_REPLY_MAX bytes; DUNNO unless the result is DENY;
 * - an incomplete input never becomes an error by being cut shorter (prefixes of a valid
 *   request are "incomplete", not garbage).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

static const char conf[] = "server mailbox=3 domain=5 subscription=8\n"
                           "subscription acme\n"
                           "domain acme.example subscription=acme\n"
                           "mailbox ceo@acme.example mailbox=1\n"
                           "sysuser web subscription=acme\n";

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_policy: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    maillimit *ml = NULL;
    maillimit_policy *p = NULL;
    if (maillimit_new(&ml) != 0)
        return 0;
    if (maillimit_config_load_mem(ml, conf, sizeof conf - 1, NULL, 0) != 0 ||
        maillimit_policy_new(&p, ml) != 0) {
        maillimit_free(ml);
        return 0;
    }
    /* the first byte picks settings, so that the corpus reaches every branch */
    if (size > 0) {
        uint8_t b = data[0];
        if (b & 1)
            maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS);
        if (b & 2)
            maillimit_policy_action_set(p, (b >> 2) % 3, 0, NULL);
        if (b & 32)
            maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_EXEMPT, "192.0.2.0/24");
    }
    const char *d = size ? (const char *)data + 1 : (const char *)data;
    if (size)
        size--;
    size_t off = 0;
    int64_t now = 1700000040;
    char reply[MAILLIMIT_POLICY_REPLY_MAX];
    for (int round = 0; off <= size && round < 10000; round++) {
        maillimit__policy_req r;
        size_t used_parse = 0, used = 0, rl = sizeof reply;
        const char *problem = NULL;
        int prc = maillimit__policy_parse(d + off, size - off, &r, &used_parse, &problem);
        maillimit_policy_outcome o;
        maillimit_policy_outcome_init(&o, MAILLIMIT_POLICY_OUTCOME_VERSION);
        int rc = maillimit_policy_request(p, d + off, size - off, now, &used, reply, &rl, &o);
        check(rc == prc, "parser and request disagree on the result");
        if (rc != 0) {
            check(rc == MAILLIMIT_EFORMAT, "unexpected error code");
            check(o.problem != NULL && problem != NULL, "an error without a problem text");
            check(used == 0 && rl == 0, "an error consumed bytes or replied");
            break;
        }
        check(used == used_parse, "parser and request disagree on the length");
        if (used == 0) {
            check(rl == 0, "a reply to an incomplete request");
            break;
        }
        check(used <= MAILLIMIT_POLICY_REQUEST_MAX, "a request over the bound");
        check(used >= 1 && d[off + used - 1] == '\n', "a request not ending in a newline");
        check(rl >= 9 && rl <= MAILLIMIT_POLICY_REPLY_MAX, "reply length");
        check(memcmp(reply, "action=", 7) == 0, "reply does not start with action=");
        check(reply[rl - 1] == '\n' && reply[rl - 2] == '\n', "reply not ended by an empty line");
        check(memchr(reply, '\n', rl - 2) == NULL, "a newline inside the reply");
        check(memchr(reply, '\0', rl) == NULL, "a NUL in the reply");
        if (o.result != MAILLIMIT_POLICY_DENY)
            check(rl == 14 && memcmp(reply, "action=DUNNO\n\n", 14) == 0, "not DUNNO");
        /* every prefix of this request is incomplete, never garbage */
        if (used < 4096) {
            for (size_t cut = used - 1; cut > 0; cut -= cut > 64 ? 61 : 1) {
                size_t u2;
                const char *pr2;
                int rc2 = maillimit__policy_parse(d + off, cut, &r, &u2, &pr2);
                check(rc2 == 0 && u2 == 0, "a prefix of a valid request is not incomplete");
            }
        }
        off += used;
        now += 7;
    }
    maillimit_policy_free(p);
    maillimit_free(ml);
    return 0;
}
