/* SPDX-License-Identifier: MIT */
/* The admin protocol (msgpack-RPC): the pre-scan, request decoding and the methods. */
#define _POSIX_C_SOURCE 200809L

/* Built only when unit_tests links libmaillimit_server (maillimit_server_static defines
 * MAILLIMIT_HAVE_SERVER for its users); otherwise this file is empty. */
#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

static maillimit *ml;
static maillimit__admin_host host;
static msgpack_unpacked res;
static char *res_buf; /* strings in res point into it: kept until the next call */
static int reloads;

static int fake_reload(void *ctx, char *err, size_t errlen)
{
    (void)ctx;
    reloads++;
    if (reloads > 1) {
        snprintf(err, errlen, "x.conf:3: something");
        return MAILLIMIT_EFORMAT;
    }
    return 0;
}

static void setup(void)
{
    cr_assert_eq(maillimit_new(&ml), 0);
    host.ml = ml;
    host.reload = fake_reload;
    host.snapshot = NULL;
    host.stats = NULL;
    host.ctx = NULL;
    reloads = 0;
    msgpack_unpacked_init(&res);
}

static void teardown(void)
{
    msgpack_unpacked_destroy(&res);
    free(res_buf);
    res_buf = NULL;
    maillimit_free(ml);
}

TestSuite(admin, .init = setup, .fini = teardown);

/* ---- building requests ------------------------------------------------------------------- */

/* Params in a tiny format: "s:text" string, "i:123" integer, "n" nil, "t"/"f" booleans. */
static msgpack_sbuffer build(uint32_t msgid, const char *method, int n, const char **params)
{
    msgpack_sbuffer b;
    msgpack_packer pk;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, msgid);
    msgpack_pack_str_with_body(&pk, method, strlen(method));
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        const char *p = params[i];
        if (p[0] == 's')
            msgpack_pack_str_with_body(&pk, p + 2, strlen(p + 2));
        else if (p[0] == 'i')
            msgpack_pack_int64(&pk, strtoll(p + 2, NULL, 10));
        else if (p[0] == 't')
            msgpack_pack_true(&pk);
        else if (p[0] == 'f')
            msgpack_pack_false(&pk);
        else
            msgpack_pack_nil(&pk);
    }
    return b;
}

/* Call a method; returns the error object or NULL; *result the result. */
static const msgpack_object *call(const char *method, const msgpack_object **result, ...)
{
    const char *params[16];
    int n = 0;
    va_list ap;
    va_start(ap, result);
    for (const char *p; (p = va_arg(ap, const char *)) && n < 16;)
        params[n++] = p;
    va_end(ap);
    msgpack_sbuffer b = build(77, method, n, params);
    size_t used;
    char *reply;
    size_t rl;
    int rc = maillimit__admin_handle(&host, b.data, b.size, &used, &reply, &rl);
    cr_assert_eq(rc, 0, "%s: rc %d", method, rc);
    cr_assert_eq(used, b.size);
    msgpack_sbuffer_destroy(&b);
    msgpack_unpacked_destroy(&res);
    msgpack_unpacked_init(&res);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&res, reply, rl, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, rl);
    free(res_buf);
    res_buf = reply;
    const msgpack_object *o = &res.data;
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.size, 4);
    cr_assert_eq(o->via.array.ptr[0].via.u64, 1);
    cr_assert_eq(o->via.array.ptr[1].via.u64, 77);
    *result = &o->via.array.ptr[3];
    return o->via.array.ptr[2].type == MSGPACK_OBJECT_NIL ? NULL : &o->via.array.ptr[2];
}
#define CALL(m, r, ...) call(m, r, ##__VA_ARGS__, (const char *)NULL)

static const msgpack_object *field(const msgpack_object *m, const char *k)
{
    cr_assert_eq(m->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->via.str.size == strlen(k) && memcmp(key->via.str.ptr, k, strlen(k)) == 0)
            return &m->via.map.ptr[i].val;
    }
    cr_assert_fail("no field %s", k);
    return NULL;
}

static int64_t ival(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (int64_t)o->via.u64;
}

static int str_eq(const msgpack_object *o, const char *s)
{
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* The error's message (the test fails if there is none). */
static const char *msg(const msgpack_object *e)
{
    static char buf[512];
    cr_assert_not_null(e, "an error was expected");
    const msgpack_object *m = field(e, "message");
    snprintf(buf, sizeof buf, "%.*s", (int)m->via.str.size, m->via.str.ptr);
    return buf;
}

/* ---- the pre-scan -------------------------------------------------------------------------- */

Test(admin, scan_finds_complete_messages)
{
    const char *p[] = { "s:domain", "s:x.example" };
    msgpack_sbuffer b = build(1, "status", 2, p);
    size_t len;
    cr_assert_eq(maillimit__msgpack_scan(b.data, b.size, 65536, &len), 0);
    cr_assert_eq(len, b.size);
    for (size_t cut = 0; cut < b.size; cut++) {
        cr_assert_eq(maillimit__msgpack_scan(b.data, cut, 65536, &len), 0);
        cr_assert_eq(len, 0, "cut %zu", cut);
    }
    msgpack_sbuffer_destroy(&b);
}

Test(admin, scan_refuses_hostile_sizes_and_depth)
{
    size_t len;
    /* array32 announcing 4 billion elements in a 5-byte message */
    const char huge[] = "\xdd\xff\xff\xff\xff";
    cr_assert_eq(maillimit__msgpack_scan(huge, 5, 65536, &len), MAILLIMIT_EFORMAT);
    /* map16 of 40000 pairs cannot fit in 65536 bytes */
    const char bigmap[] = "\xde\x9c\x40";
    cr_assert_eq(maillimit__msgpack_scan(bigmap, 3, 65536, &len), MAILLIMIT_EFORMAT);
    /* str32 longer than the bound */
    const char bigstr[] = "\xdb\x00\x10\x00\x00";
    cr_assert_eq(maillimit__msgpack_scan(bigstr, 5, 65536, &len), MAILLIMIT_EFORMAT);
    /* 0xc1 is never used */
    cr_assert_eq(maillimit__msgpack_scan("\xc1", 1, 65536, &len), MAILLIMIT_EFORMAT);
    /* 33 nested arrays */
    char deep[40];
    memset(deep, '\x91', 33);
    deep[33] = '\x01';
    cr_assert_eq(maillimit__msgpack_scan(deep, 34, 65536, &len), MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit__msgpack_scan(deep + 1, 33, 65536, &len), 0);
    cr_assert_eq(len, 33);
    /* more than the bound without an end */
    char *junk = malloc(70000);
    memset(junk, '\x91', 20);
    junk[20] = '\xdb';
    memcpy(junk + 21, "\x00\x00\xff\xf0", 4); /* 20 + 5 + 65520 > 65536 */
    cr_assert_eq(maillimit__msgpack_scan(junk, 25, 65536, &len), MAILLIMIT_EFORMAT);
    free(junk);
    /* every fixed-size type */
    const char scalars[] = "\xdc\x00\x11\xc0\xc2\xc3\xcc\x01\xcd\x01\x02\xce\x01\x02\x03\x04"
                           "\xcf\x01\x02\x03\x04\x05\x06\x07\x08\xd0\x01\xd1\x01\x02"
                           "\xca\x01\x02\x03\x04\xcb\x01\x02\x03\x04\x05\x06\x07\x08"
                           "\xd4\x01\x01\xd5\x01\x01\x02\xc4\x02" "ab" "\xc7\x01\x05x\xe0\x7f";
    cr_assert_eq(maillimit__msgpack_scan(scalars, sizeof scalars - 1, 65536, &len), 0);
    cr_assert_eq(len, sizeof scalars - 1);
}

/* ---- decoding ------------------------------------------------------------------------------- */

static int decode_bytes(const char *data, size_t len, maillimit__admin_req *req,
                        const char **problem)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, data, len, &off), MSGPACK_UNPACK_SUCCESS);
    int rc = maillimit__admin_decode(&u.data, req, problem);
    msgpack_unpacked_destroy(&u);
    return rc;
}

Test(admin, decode_requests_and_notifications)
{
    maillimit__admin_req req;
    const char *problem;
    const char *p[] = { "s:x" };
    msgpack_sbuffer b = build(4000000000u, "ping", 1, p);
    cr_assert_eq(decode_bytes(b.data, b.size, &req, &problem), 0);
    cr_assert_eq(req.msgid, 4000000000u);
    cr_assert_str_eq(req.method, "ping");
    cr_assert_eq(req.notify, 0);
    msgpack_sbuffer_destroy(&b);
    /* [2, "ping", []] */
    cr_assert_eq(decode_bytes("\x93\x02\xa4ping\x90", 8, &req, &problem), 0);
    cr_assert_eq(req.notify, 1);
    /* wrong shapes */
    cr_assert_eq(decode_bytes("\x94\x01\x01\xa4ping\x90", 9, &req, &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "only requests (type 0) and notifications (type 2) are accepted");
    cr_assert_eq(decode_bytes("\x93\x00\x01\xa4ping", 8, &req, &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "a request is [0, msgid, method, params]");
    cr_assert_eq(decode_bytes("\x94\x00\xff\xa4ping\x90", 9, &req, &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "msgid must be an unsigned 32-bit integer");
    cr_assert_eq(decode_bytes("\x94\x00\x01\x01\x90", 5, &req, &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "method must be a non-empty string of at most 47 bytes");
    cr_assert_eq(decode_bytes("\x94\x00\x01\xa4ping\x80", 9, &req, &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "params must be an array");
    cr_assert_eq(decode_bytes("\xa4ping", 5, &req, &problem), MAILLIMIT_EFORMAT);
}

Test(admin, handle_refuses_non_requests_and_waits_for_more)
{
    size_t used;
    char *reply;
    size_t rl;
    cr_assert_eq(maillimit__admin_handle(&host, "\xa4ping", 5, &used, &reply, &rl),
                 MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit__admin_handle(&host, "\x94\x00\x01\xa4pi", 6, &used, &reply, &rl), 0);
    cr_assert_eq(used, 0);
    cr_assert_null(reply);
    /* a notification is executed and not answered */
    cr_assert_eq(maillimit__admin_handle(&host, "\x93\x02\xa4ping\x90", 8, &used, &reply, &rl), 0);
    cr_assert_eq(used, 8);
    cr_assert_null(reply);
    cr_assert_eq(rl, 0);
}

/* ---- methods --------------------------------------------------------------------------------- */

Test(admin, ping_version_methods)
{
    const msgpack_object *r;
    cr_assert_null(CALL("ping", &r));
    cr_assert(str_eq(r, "pong"));
    cr_assert_null(CALL("version", &r));
    cr_assert(str_eq(field(r, "library"), maillimit_version_string()));
    cr_assert_null(CALL("methods", &r));
    cr_assert_eq(r->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(r->via.array.size, 30);
    cr_assert(str_eq(&r->via.array.ptr[27], "generation"));
    cr_assert(str_eq(&r->via.array.ptr[28], "list"));
    cr_assert(str_eq(&r->via.array.ptr[29], "status.many"));
}

Test(admin, hierarchy_limits_and_status)
{
    const msgpack_object *r, *e;
    cr_assert_null(CALL("entity.add", &r, "s:plan", "s:basic"));
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:acme", "s:basic"));
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:beta"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:acme.example", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:mailbox", "s:ceo@acme.example"));
    cr_assert_null(CALL("entity.add", &r, "s:sysuser", "s:acme_web", "s:acme"));
    cr_assert_eq(r->type, MSGPACK_OBJECT_NIL);
    /* limits: set at the plan for mailboxes, read back as set and effective */
    cr_assert_null(CALL("limit.set", &r, "s:plan", "s:basic", "s:mailbox", "s:hour", "i:2"));
    cr_assert_null(CALL("limit.configured", &r, "s:mailbox", "s:ceo@acme.example", "s:mailbox",
                        "s:hour"));
    cr_assert_eq(ival(r), MAILLIMIT_DEFAULT);
    cr_assert_null(CALL("limit.effective", &r, "s:mailbox", "s:ceo@acme.example", "s:hour"));
    cr_assert_eq(ival(r), 2);
    cr_assert_null(CALL("limit.set", &r, "s:server", "n", "s:server", "s:day", "s:unlimited"));
    cr_assert_null(CALL("limit.effective", &r, "s:server", "n", "s:day"));
    cr_assert_eq(ival(r), MAILLIMIT_UNLIMITED);
    /* decide twice, then the status says not sending */
    cr_assert_null(CALL("decide", &r, "s:mailbox", "s:ceo@acme.example", "i:1", "i:1700000040"));
    cr_assert(str_eq(field(r, "decision"), "allow"));
    cr_assert_null(CALL("decide", &r, "s:mailbox", "s:ceo@acme.example", "n", "i:1700000040"));
    cr_assert_null(CALL("decide", &r, "s:mailbox", "s:ceo@acme.example", "i:1", "i:1700000040"));
    cr_assert(str_eq(field(r, "decision"), "deny"));
    cr_assert(str_eq(field(r, "reason"), "limit"));
    cr_assert(str_eq(field(r, "level"), "mailbox"));
    cr_assert(str_eq(field(r, "window"), "hour"));
    cr_assert_eq(ival(field(r, "retry_after")), 3600);
    cr_assert_null(CALL("status", &r, "s:mailbox", "s:ceo@acme.example", "s:hour", "i:1700000040"));
    cr_assert_eq(field(r, "sending")->via.boolean, false);
    cr_assert(str_eq(field(r, "blocked_by"), "mailbox"));
    cr_assert_eq(ival(field(r, "count")), 2);
    cr_assert_eq(ival(field(r, "limit")), 2);
    cr_assert_eq(ival(field(r, "remaining")), 0);
    /* reset unblocks */
    cr_assert_null(CALL("reset", &r, "s:mailbox", "s:ceo@acme.example"));
    cr_assert_null(CALL("status", &r, "s:mailbox", "s:ceo@acme.example", "s:hour", "i:1700000040"));
    cr_assert_eq(field(r, "sending")->via.boolean, true);
    cr_assert_eq(field(r, "blocked_by")->type, MSGPACK_OBJECT_NIL);
    /* move and remove */
    cr_assert_null(CALL("entity.move", &r, "s:domain", "s:acme.example", "s:beta"));
    cr_assert_null(CALL("entity.move", &r, "s:subscription", "s:acme", "n"));
    cr_assert_null(CALL("entity.remove", &r, "s:sysuser", "s:acme_web"));
    cr_assert_null(CALL("entity.remove", &r, "s:mailbox", "s:ceo@acme.example"));
    e = CALL("entity.remove", &r, "s:mailbox", "s:ceo@acme.example");
    cr_assert_not_null(e);
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert_eq(r->type, MSGPACK_OBJECT_NIL);
}

Test(admin, named_params)
{
    const msgpack_object *r;
    /* [0, 1, "entity.add", [{"level": "subscription", "name": "acme"}]] */
    msgpack_sbuffer b;
    msgpack_packer pk;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str_with_body(&pk, "entity.add", 10);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "acme", 4);
    msgpack_pack_str_with_body(&pk, "level", 5);
    msgpack_pack_str_with_body(&pk, "subscription", 12);
    size_t used, rl;
    char *reply;
    cr_assert_eq(maillimit__admin_handle(&host, b.data, b.size, &used, &reply, &rl), 0);
    cr_assert_eq(used, b.size);
    msgpack_sbuffer_destroy(&b);
    size_t off = 0;
    msgpack_unpacked_destroy(&res);
    msgpack_unpacked_init(&res);
    cr_assert_eq(msgpack_unpack_next(&res, reply, rl, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(res.data.via.array.ptr[2].type, MSGPACK_OBJECT_NIL, "no error");
    free(res_buf);
    res_buf = reply;
    cr_assert_null(CALL("limit.effective", &r, "s:subscription", "s:acme"));
    cr_assert_eq(ival(r), MAILLIMIT_UNLIMITED);
}

Test(admin, flags_enable_unit)
{
    const msgpack_object *r;
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:acme"));
    cr_assert_null(CALL("flag.set", &r, "s:subscription", "s:acme", "s:sendmail", "f"));
    cr_assert_null(CALL("flag.get", &r, "s:subscription", "s:acme", "s:sendmail"));
    cr_assert_eq(ival(field(r, "effective")), 0);
    cr_assert_eq(ival(field(r, "configured")), 0);
    cr_assert_null(CALL("flag.set", &r, "s:subscription", "s:acme", "s:sendmail", "s:default"));
    cr_assert_null(CALL("flag.get", &r, "s:subscription", "s:acme", "s:sendmail"));
    cr_assert_eq(ival(field(r, "effective")), 1);
    cr_assert_eq(ival(field(r, "configured")), MAILLIMIT_DEFAULT);
    cr_assert_null(CALL("enabled.set", &r, "f"));
    cr_assert_null(CALL("enabled.get", &r));
    cr_assert_eq(r->type, MSGPACK_OBJECT_BOOLEAN);
    cr_assert_eq(r->via.boolean, false);
    cr_assert_null(CALL("unit.set", &r, "s:recipients"));
    cr_assert_null(CALL("unit.get", &r));
    cr_assert(str_eq(r, "recipients"));
}

Test(admin, errors_carry_the_code_and_a_message)
{
    const msgpack_object *r, *e;
    e = CALL("nosuch", &r);
    cr_assert_not_null(e);
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert(str_eq(field(e, "message"), "unknown method nosuch (see \"methods\")"));
    e = CALL("status", &r, "s:galaxy", "s:x");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_EINVAL);
    cr_assert(str_eq(field(e, "message"),
                     "level: server, plan, subscription, domain, mailbox"));
    e = CALL("limit.effective", &r, "s:domain", "s:nosuch.example");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert(str_eq(field(e, "message"), "domain nosuch.example: not found"));
    e = CALL("limit.set", &r, "s:server", "n", "s:mailbox", "s:week", "i:1");
    cr_assert(str_eq(field(e, "message"), "window: hour or day"));
    e = CALL("entity.add", &r, "s:domain", "s:x.example");
    cr_assert(str_eq(field(e, "message"), "parent: a name is needed"));
    e = CALL("decide", &r, "s:domain", "i:5");
    cr_assert(str_eq(field(e, "message"), "sender: a string is needed"));
    e = CALL("decide", &r, "s:domain", "s:x.example", "i:0");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ERANGE);
    cr_assert(str_eq(field(e, "message"), "cost 0: 1..1000000"));
    e = CALL("snapshot.save", &r);
    cr_assert(str_eq(field(e, "message"), "snapshot.save: not available here"));
    cr_assert_null(CALL("config.reload", &r));
    e = CALL("config.reload", &r);
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_EFORMAT);
    cr_assert(str_eq(field(e, "message"), "x.conf:3: something"));
}

Test(admin, reports)
{
    const msgpack_object *r;
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:acme.example", "s:acme"));
    cr_assert_null(CALL("limit.set", &r, "s:domain", "s:acme.example", "s:domain", "s:hour",
                        "i:2"));
    for (int i = 0; i < 3; i++)
        cr_assert_null(CALL("decide", &r, "s:domain", "s:acme.example", "i:1", "i:1700000040"));
    cr_assert(str_eq(field(r, "decision"), "deny"));
    /* history of the domain: one hour, 2 sent, 1 denied */
    cr_assert_null(CALL("history", &r, "s:domain", "s:acme.example", "i:1", "i:1700000040"));
    cr_assert_eq(r->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(r->via.array.size, 1);
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "hour_start")), 1699999200);
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "sent")), 2);
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "denied")), 1);
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "exempt")), 0);
    /* summary of the server */
    cr_assert_null(CALL("summary", &r, "s:server", "n", "i:1", "i:1700000040"));
    cr_assert_eq(ival(field(r, "sent")), 2);
    cr_assert_eq(ival(field(r, "denied")), 1);
    cr_assert_eq(ival(field(r, "limited_entities")), 1);
    cr_assert_eq(ival(field(r, "from")), 1699999200);
    /* top domains by denied */
    cr_assert_null(CALL("top", &r, "s:domain", "s:denied", "i:1", "i:1700000040", "i:5"));
    cr_assert_eq(r->via.array.size, 1);
    cr_assert(str_eq(field(&r->via.array.ptr[0], "name"), "acme.example"));
    cr_assert(str_eq(field(&r->via.array.ptr[0], "level"), "domain"));
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "denied")), 1);
    /* episodes of everything: the domain, ongoing at that time */
    cr_assert_null(CALL("episodes", &r, "s:server", "n", "i:1", "i:1700000040"));
    cr_assert_eq(r->via.array.size, 1);
    const msgpack_object *ep = &r->via.array.ptr[0];
    cr_assert(str_eq(field(ep, "name"), "acme.example"));
    cr_assert(str_eq(field(ep, "window"), "hour"));
    cr_assert_eq(ival(field(ep, "limit")), 2);
    cr_assert_eq(ival(field(ep, "denied")), 1);
    cr_assert_eq(ival(field(ep, "started")), 1700000040);
    /* events, read at the clock's time (years after 1700000040): the limit edge, then the
     * end of the episode an hour after the first unit (1700000040 + 3600) */
    cr_assert_null(CALL("events", &r));
    cr_assert_eq(r->via.array.size, 2);
    cr_assert(str_eq(field(&r->via.array.ptr[0], "type"), "limit_reached"));
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "seq")), 1);
    cr_assert(str_eq(field(&r->via.array.ptr[1], "type"), "back_to_normal"));
    cr_assert_eq(ival(field(&r->via.array.ptr[1], "seq")), 2);
    cr_assert_eq(ival(field(&r->via.array.ptr[1], "time")), 1700000040 + 3600);
    cr_assert_eq(ival(field(&r->via.array.ptr[1], "denied")), 1);
    /* retention */
    cr_assert_null(CALL("retention", &r, "i:48"));
    cr_assert_eq(ival(r), 48);
    const msgpack_object *e = CALL("history", &r, "s:domain", "s:acme.example", "i:0");
    cr_assert(str_eq(field(e, "message"), "hours: 1..87600"));
    e = CALL("top", &r, "s:domain", "s:most");
    cr_assert(str_eq(field(e, "message"), "metric: sent or denied"));
}

Test(admin, errors_name_the_object_and_the_reason)
{
    const msgpack_object *r, *e;
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:x.example", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:beta"));
    e = CALL("limit.set", &r, "s:mailbox", "s:nosuch@x.example", "s:mailbox", "s:hour", "i:5");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert_str_eq(msg(e), "mailbox nosuch@x.example: not found");
    /* the missing parent is named, not the entity being added */
    e = CALL("entity.add", &r, "s:domain", "s:y.example", "s:nosuch");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert_str_eq(msg(e), "subscription nosuch: not found");
    e = CALL("entity.add", &r, "s:mailbox", "s:joe@nosuch.example");
    cr_assert_str_eq(msg(e), "domain nosuch.example: not found");
    e = CALL("entity.add", &r, "s:subscription", "s:gamma", "s:noplan");
    cr_assert_str_eq(msg(e), "plan noplan: not found");
    e = CALL("entity.move", &r, "s:domain", "s:nosuch.example", "s:acme");
    cr_assert_str_eq(msg(e), "domain nosuch.example: not found");
    e = CALL("entity.move", &r, "s:domain", "s:x.example", "s:nosuch");
    cr_assert_str_eq(msg(e), "subscription nosuch: not found");
    e = CALL("entity.add", &r, "s:domain", "s:x.example", "s:beta");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_EEXISTS);
    cr_assert_str_eq(msg(e), "domain x.example: already exists in another subscription "
                             "(move it instead)");
    e = CALL("entity.add", &r, "s:mailbox", "s:nobody");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_EINVAL);
    cr_assert_str_eq(msg(e), "mailbox nobody: not a valid name (local@domain)");
    e = CALL("entity.remove", &r, "s:sysuser", "s:web1");
    cr_assert_str_eq(msg(e), "sysuser web1: not found");
    e = CALL("entity.move", &r, "s:mailbox", "s:a@x.example", "s:y.example");
    cr_assert_str_eq(msg(e), "mailbox a@x.example: only domains, subscriptions and system "
                             "users move");
    /* limits a level does not set, values, the server's "default" */
    e = CALL("limit.set", &r, "s:domain", "s:x.example", "s:subscription", "s:hour", "i:5");
    cr_assert_str_eq(msg(e), "domain x.example: has no subscription limit (a domain sets "
                             "domain and mailbox)");
    e = CALL("limit.set", &r, "s:domain", "s:x.example", "s:domain", "s:hour", "i:-3");
    cr_assert_str_eq(msg(e), "value -3: a number >= 0, \"unlimited\" or \"default\"");
    e = CALL("limit.set", &r, "s:domain", "s:x.example", "s:domain", "s:hour", "s:lots");
    cr_assert_str_eq(msg(e), "value: an integer is needed");
    e = CALL("limit.set", &r, "s:server", "n", "s:mailbox", "s:hour", "s:default");
    cr_assert_str_eq(msg(e), "server: \"default\" is not allowed (the server has nothing to "
                             "inherit from; use a number or \"unlimited\")");
    e = CALL("limit.set", &r, "s:server", "s:x", "s:mailbox", "s:hour", "i:1");
    cr_assert_str_eq(msg(e), "server: has no name (pass nil)");
    e = CALL("limit.effective", &r, "s:domain", "n");
    cr_assert_str_eq(msg(e), "domain: a name is needed");
    e = CALL("status", &r, "s:plan", "s:basic");
    cr_assert_str_eq(msg(e), "plan basic: a plan has no counter of its own");
    /* flags: the values the configuration file takes, and true/false */
    e = CALL("flag.set", &r, "s:domain", "s:x.example", "s:sendmail", "s:no");
    cr_assert_str_eq(msg(e), "domain x.example: has no sendmail flag (sendmail is set on the "
                             "server, plans and subscriptions)");
    e = CALL("flag.set", &r, "s:domain", "s:x.example", "s:exempt", "s:maybe");
    cr_assert_str_eq(msg(e), "value: yes, no or default (or on, off, 1, 0, true, false)");
    const char *yes[] = { "s:yes", "s:on", "s:1", "s:true", "t", "i:1" };
    const char *no[] = { "s:no", "s:off", "s:0", "s:false", "f", "i:0" };
    for (int i = 0; i < 6; i++) {
        cr_assert_null(CALL("flag.set", &r, "s:domain", "s:x.example", "s:exempt", yes[i]));
        cr_assert_null(CALL("flag.get", &r, "s:domain", "s:x.example", "s:exempt"));
        cr_assert_eq(ival(field(r, "configured")), 1, "%s", yes[i]);
        cr_assert_null(CALL("flag.set", &r, "s:domain", "s:x.example", "s:exempt", no[i]));
        cr_assert_null(CALL("flag.get", &r, "s:domain", "s:x.example", "s:exempt"));
        cr_assert_eq(ival(field(r, "configured")), 0, "%s", no[i]);
    }
    cr_assert_null(CALL("flag.set", &r, "s:domain", "s:x.example", "s:exempt", "i:-2"));
    cr_assert_null(CALL("flag.get", &r, "s:domain", "s:x.example", "s:exempt"));
    cr_assert_eq(ival(field(r, "configured")), MAILLIMIT_DEFAULT);
    e = CALL("flag.set", &r, "s:server", "n", "s:sendmail", "s:default");
    cr_assert_str_eq(msg(e), "server: \"default\" is not allowed (use yes or no)");
    e = CALL("history", &r, "s:mailbox", "s:nosuch@x.example");
    cr_assert_str_eq(msg(e), "mailbox nosuch@x.example: not found");
    e = CALL("top", &r, "s:mailbox", "s:sent", "n", "n", "n", "s:domain", "s:nosuch.example");
    cr_assert_str_eq(msg(e), "domain nosuch.example: not found");
}

/* A hierarchy for the listing tests: plan basic; subscriptions acme (in basic) and beta;
 * domains a.example, b.example (acme), c.example (beta); mailboxes; a system user. */
static void make_hierarchy(void)
{
    const msgpack_object *r;
    cr_assert_null(CALL("entity.add", &r, "s:plan", "s:basic"));
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:acme", "s:basic"));
    cr_assert_null(CALL("entity.add", &r, "s:subscription", "s:beta"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:b.example", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:a.example", "s:acme"));
    cr_assert_null(CALL("entity.add", &r, "s:domain", "s:c.example", "s:beta"));
    cr_assert_null(CALL("entity.add", &r, "s:mailbox", "s:zed@a.example"));
    cr_assert_null(CALL("entity.add", &r, "s:mailbox", "s:ann@a.example"));
    cr_assert_null(CALL("entity.add", &r, "s:mailbox", "s:bob@b.example"));
    cr_assert_null(CALL("entity.add", &r, "s:mailbox", "s:cy@c.example"));
    cr_assert_null(CALL("entity.add", &r, "s:sysuser", "s:acme_web", "s:acme"));
}

static const msgpack_object *row(const msgpack_object *r, uint32_t i)
{
    const msgpack_object *ents = field(r, "entities");
    cr_assert_eq(ents->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_lt(i, ents->via.array.size);
    return &ents->via.array.ptr[i];
}

Test(admin, list_levels_scopes_and_pages)
{
    const msgpack_object *r, *e;
    cr_assert_null(CALL("generation", &r));
    int64_t g0 = ival(r);
    make_hierarchy();
    cr_assert_null(CALL("generation", &r));
    cr_assert_eq(ival(r), g0 + 11); /* 11 entities added */
    /* every mailbox, sorted by name, placement included, no details */
    cr_assert_null(CALL("list", &r, "s:mailbox"));
    cr_assert_eq(ival(field(r, "generation")), g0 + 11);
    cr_assert_eq(ival(field(r, "total")), 4);
    cr_assert_eq(field(r, "entities")->via.array.size, 4);
    const char *names[] = { "ann@a.example", "bob@b.example", "cy@c.example", "zed@a.example" };
    const char *parents[] = { "a.example", "b.example", "c.example", "a.example" };
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert(str_eq(field(row(r, i), "level"), "mailbox"));
        cr_assert(str_eq(field(row(r, i), "name"), names[i]), "%u", i);
        cr_assert(str_eq(field(row(r, i), "parent"), parents[i]), "%u", i);
        cr_assert_eq(field(row(r, i), "implicit")->via.boolean, false);
        cr_assert_eq(row(r, i)->via.map.size, 4); /* no details asked */
    }
    /* within a subscription, a domain, a plan */
    cr_assert_null(CALL("list", &r, "s:mailbox", "s:subscription", "s:acme"));
    cr_assert_eq(ival(field(r, "total")), 3);
    cr_assert(str_eq(field(row(r, 2), "name"), "zed@a.example"));
    cr_assert_null(CALL("list", &r, "s:mailbox", "s:domain", "s:a.example"));
    cr_assert_eq(ival(field(r, "total")), 2);
    cr_assert_null(CALL("list", &r, "s:domain", "s:plan", "s:basic"));
    cr_assert_eq(ival(field(r, "total")), 2);
    cr_assert(str_eq(field(row(r, 0), "name"), "a.example"));
    cr_assert(str_eq(field(row(r, 0), "parent"), "acme"));
    cr_assert_null(CALL("list", &r, "s:subscription"));
    cr_assert(str_eq(field(row(r, 0), "parent"), "basic"));
    cr_assert(str_eq(field(row(r, 1), "parent"), ""));
    cr_assert_null(CALL("list", &r, "s:sysuser"));
    cr_assert_eq(ival(field(r, "total")), 1);
    cr_assert(str_eq(field(row(r, 0), "level"), "sysuser"));
    cr_assert(str_eq(field(row(r, 0), "parent"), "acme"));
    /* pages: offset 1, count 2 of 4; past the end: an empty page, the total still there */
    cr_assert_null(CALL("list", &r, "s:mailbox", "n", "n", "n", "i:1", "i:2"));
    cr_assert_eq(ival(field(r, "total")), 4);
    cr_assert_eq(field(r, "entities")->via.array.size, 2);
    cr_assert(str_eq(field(row(r, 0), "name"), "bob@b.example"));
    cr_assert(str_eq(field(row(r, 1), "name"), "cy@c.example"));
    cr_assert_null(CALL("list", &r, "s:mailbox", "n", "n", "n", "i:9", "i:2"));
    cr_assert_eq(ival(field(r, "total")), 4);
    cr_assert_eq(field(r, "entities")->via.array.size, 0);
    /* implicit mailboxes only when asked */
    cr_assert_null(CALL("decide", &r, "s:mailbox", "s:new@a.example", "i:1", "i:1700000040"));
    cr_assert_null(CALL("list", &r, "s:mailbox", "s:domain", "s:a.example"));
    cr_assert_eq(ival(field(r, "total")), 2);
    cr_assert_null(CALL("list", &r, "s:mailbox", "s:domain", "s:a.example", "t"));
    cr_assert_eq(ival(field(r, "total")), 3);
    cr_assert(str_eq(field(row(r, 1), "name"), "new@a.example"));
    cr_assert_eq(field(row(r, 1), "implicit")->via.boolean, true);
    /* errors */
    e = CALL("list", &r, "s:server");
    cr_assert_str_eq(msg(e), "level: plan, subscription, domain, mailbox or sysuser");
    e = CALL("list", &r, "s:mailbox", "s:domain", "s:nosuch.example");
    cr_assert_eq(ival(field(e, "code")), MAILLIMIT_ENOTFOUND);
    cr_assert_str_eq(msg(e), "domain nosuch.example: not found");
    e = CALL("list", &r, "s:mailbox", "s:domain");
    cr_assert_str_eq(msg(e), "scope_name: a name is needed");
    e = CALL("list", &r, "s:mailbox", "n", "n", "n", "i:-1");
    cr_assert_str_eq(msg(e), "offset: 0 or more");
    e = CALL("list", &r, "s:mailbox", "n", "n", "n", "n", "i:100001");
    cr_assert_str_eq(msg(e), "count: 0..100000");
}

Test(admin, list_with_limits_flags_and_status_in_one_call)
{
    const msgpack_object *r, *x;
    make_hierarchy();
    cr_assert_null(CALL("limit.set", &r, "s:plan", "s:basic", "s:mailbox", "s:hour", "i:2"));
    cr_assert_null(CALL("limit.set", &r, "s:mailbox", "s:zed@a.example", "s:mailbox", "s:hour",
                        "i:5"));
    cr_assert_null(CALL("limit.set", &r, "s:mailbox", "s:zed@a.example", "s:mailbox", "s:day",
                        "s:unlimited"));
    cr_assert_null(CALL("flag.set", &r, "s:mailbox", "s:bob@b.example", "s:exempt", "t"));
    /* ann sends 2 at 10:00:40 (her plan's limit): blocked by her own mailbox limit */
    for (int i = 0; i < 2; i++)
        cr_assert_null(CALL("decide", &r, "s:mailbox", "s:ann@a.example", "i:1",
                            "i:1700000040"));
    /* a page of the acme mailboxes with details, at a given time */
    cr_assert_null(CALL("list", &r, "s:mailbox", "s:subscription", "s:acme", "n", "n", "n", "t",
                        "s:hour", "i:1700000100"));
    cr_assert_eq(ival(field(r, "total")), 3);
    const msgpack_object *ann = row(r, 0), *bob = row(r, 1), *zed = row(r, 2);
    cr_assert_eq(ann->via.map.size, 7);
    x = field(field(ann, "limits"), "mailbox");
    cr_assert_eq(ival(field(x, "hour")), MAILLIMIT_DEFAULT);
    cr_assert_eq(ival(field(x, "day")), MAILLIMIT_DEFAULT);
    cr_assert_eq(field(ann, "limits")->via.map.size, 1); /* a mailbox sets only its own */
    x = field(ann, "status");
    cr_assert_eq(field(x, "sending")->via.boolean, false);
    cr_assert(str_eq(field(x, "blocked_by"), "mailbox"));
    cr_assert_eq(ival(field(x, "count")), 2);
    cr_assert_eq(ival(field(x, "limit")), 2);
    cr_assert_eq(ival(field(x, "remaining")), 0);
    cr_assert_eq(ival(field(x, "retry_after")), 3540); /* minute 10:00 leaves at 11:00 */
    cr_assert_eq(field(field(ann, "flags"), "exempt")->via.i64, MAILLIMIT_DEFAULT);
    cr_assert_eq(field(field(ann, "flags"), "exempt")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(field(ann, "flags")->via.map.size, 1);
    cr_assert_eq(ival(field(field(bob, "flags"), "exempt")), 1);
    cr_assert_eq(field(field(bob, "status"), "sending")->via.boolean, true);
    cr_assert_eq(ival(field(field(bob, "status"), "count")), 0);
    x = field(field(zed, "limits"), "mailbox");
    cr_assert_eq(ival(field(x, "hour")), 5);
    cr_assert_eq(ival(field(x, "day")), MAILLIMIT_UNLIMITED);
    cr_assert_eq(ival(field(field(zed, "status"), "limit")), 5);
    /* a domain sets domain and mailbox limits; a subscription three; a plan has no status */
    cr_assert_null(CALL("list", &r, "s:domain", "n", "n", "n", "n", "i:1", "t"));
    cr_assert_eq(field(r, "entities")->via.array.size, 1);
    cr_assert_eq(field(row(r, 0), "limits")->via.map.size, 2);
    cr_assert(str_eq(&field(row(r, 0), "limits")->via.map.ptr[0].key, "domain"));
    cr_assert(str_eq(&field(row(r, 0), "limits")->via.map.ptr[1].key, "mailbox"));
    cr_assert_null(CALL("list", &r, "s:subscription", "n", "n", "n", "n", "n", "t", "s:hour",
                        "i:1700000100"));
    cr_assert_eq(field(row(r, 0), "limits")->via.map.size, 3);
    cr_assert_eq(field(row(r, 0), "flags")->via.map.size, 2);
    cr_assert_eq(ival(field(field(row(r, 0), "flags"), "sendmail")), MAILLIMIT_DEFAULT);
    cr_assert_eq(ival(field(field(row(r, 0), "status"), "count")), 2);
    cr_assert_null(CALL("list", &r, "s:plan", "n", "n", "n", "n", "n", "t"));
    cr_assert_eq(row(r, 0)->via.map.size, 6);
    cr_assert_eq(ival(field(field(field(row(r, 0), "limits"), "mailbox"), "hour")), 2);
    cr_assert_null(CALL("list", &r, "s:sysuser", "n", "n", "n", "n", "n", "t"));
    cr_assert_eq(row(r, 0)->via.map.size, 6);
    cr_assert_eq(field(row(r, 0), "limits")->via.map.size, 0);
}

Test(admin, status_of_many_entities_in_one_call)
{
    const msgpack_object *r, *e;
    make_hierarchy();
    cr_assert_null(CALL("limit.set", &r, "s:plan", "s:basic", "s:mailbox", "s:hour", "i:2"));
    for (int i = 0; i < 3; i++)
        cr_assert_null(CALL("decide", &r, "s:mailbox", "s:ann@a.example", "i:1",
                            "i:1700000040"));
    /* [[mailbox, ann@a.example], [domain, a.example], [server, nil]] */
    msgpack_sbuffer b;
    msgpack_packer pk;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 9);
    msgpack_pack_str_with_body(&pk, "status.many", 11);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_str_with_body(&pk, "mailbox", 7);
    msgpack_pack_str_with_body(&pk, "ann@a.example", 13);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_str_with_body(&pk, "domain", 6);
    msgpack_pack_str_with_body(&pk, "a.example", 9);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_str_with_body(&pk, "server", 6);
    msgpack_pack_str_with_body(&pk, "hour", 4);
    msgpack_pack_int64(&pk, 1700000100);
    size_t used, rl;
    char *reply;
    cr_assert_eq(maillimit__admin_handle(&host, b.data, b.size, &used, &reply, &rl), 0);
    msgpack_sbuffer_destroy(&b);
    msgpack_unpacked_destroy(&res);
    msgpack_unpacked_init(&res);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&res, reply, rl, &off), MSGPACK_UNPACK_SUCCESS);
    free(res_buf);
    res_buf = reply;
    cr_assert_eq(res.data.via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    r = &res.data.via.array.ptr[3];
    cr_assert_eq(r->via.array.size, 3);
    cr_assert_eq(ival(field(&r->via.array.ptr[0], "count")), 2);
    cr_assert_eq(field(&r->via.array.ptr[0], "sending")->via.boolean, false);
    cr_assert_eq(ival(field(&r->via.array.ptr[1], "count")), 2);
    cr_assert_eq(ival(field(&r->via.array.ptr[1], "limit")), MAILLIMIT_UNLIMITED);
    cr_assert_eq(ival(field(&r->via.array.ptr[2], "count")), 2);
    /* one bad item: the whole call fails and names it */
    e = CALL("status.many", &r, "s:mailbox");
    cr_assert_str_eq(msg(e), "items: an array of [level, name] pairs");
}

Test(admin, stats_without_a_server)
{
    const msgpack_object *r;
    cr_assert_null(CALL("stats", &r));
    cr_assert_eq(ival(field(r, "requests")), 0);
}

#else
typedef int maillimit_test_no_server_layer;
#endif /* MAILLIMIT_HAVE_SERVER */
