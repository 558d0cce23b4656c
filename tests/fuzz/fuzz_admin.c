/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the admin protocol (maillimit__msgpack_scan, maillimit__admin_handle).
 *
 * The input is a byte stream from one admin client, handled message by message on a handle
 * with a small hierarchy. Invariants (abort on violation):
 * - the pre-scan and the handler agree on where a message ends;
 * - a handled request gets exactly one response: [1, msgid, error, result] with error nil or
 *   a map {code, message}, and a notification none;
 * - errors are 0, EFORMAT or ENOMEM, and an error consumes nothing.
 */
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "maillimit.h"
#include "srv_internal.h"

static const char conf[] = "server mailbox=3\nplan basic\nsubscription acme plan=basic\n"
                           "domain acme.example subscription=acme\n"
                           "mailbox ceo@acme.example mailbox=1\nsysuser web subscription=acme\n";

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_admin: %s\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    maillimit *ml = NULL;
    if (maillimit_new(&ml) != 0)
        return 0;
    if (maillimit_config_load_mem(ml, conf, sizeof conf - 1, NULL, 0) != 0) {
        maillimit_free(ml);
        return 0;
    }
    maillimit__admin_host host = { ml, NULL, NULL, NULL, NULL, NULL, NULL };
    const char *d = (const char *)data;
    size_t off = 0;
    for (int round = 0; off < size && round < 1000; round++) {
        size_t msglen = 0, used = 0, rl = 0;
        int src = maillimit__msgpack_scan(d + off, size - off, MAILLIMIT__ADMIN_MSG_MAX, &msglen);
        char *reply = NULL;
        int rc = maillimit__admin_handle(&host, d + off, size - off, &used, &reply, &rl);
        check(rc == 0 || rc == MAILLIMIT_EFORMAT || rc == MAILLIMIT_ENOMEM, "error code");
        if (rc != 0) {
            check(used == 0 && reply == NULL, "an error consumed bytes or replied");
            break;
        }
        check(src == 0, "the scan refused what the handler accepted");
        check(used == msglen, "scan and handler disagree on the length");
        if (used == 0) {
            check(reply == NULL, "a reply to an incomplete message");
            break;
        }
        if (reply) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t o = 0;
            check(msgpack_unpack_next(&u, reply, rl, &o) == MSGPACK_UNPACK_SUCCESS && o == rl,
                  "the reply is not one msgpack object");
            const msgpack_object *r = &u.data;
            check(r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size == 4, "reply shape");
            check(r->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                      r->via.array.ptr[0].via.u64 == 1, "reply type");
            const msgpack_object *e = &r->via.array.ptr[2];
            check(e->type == MSGPACK_OBJECT_NIL ||
                      (e->type == MSGPACK_OBJECT_MAP && e->via.map.size == 2 &&
                       r->via.array.ptr[3].type == MSGPACK_OBJECT_NIL),
                  "error shape");
            msgpack_unpacked_destroy(&u);
            free(reply);
        }
        off += used;
    }
    maillimit_free(ml);
    return 0;
}
