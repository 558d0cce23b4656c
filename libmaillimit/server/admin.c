/* SPDX-License-Identifier: MIT */
/* The admin protocol: msgpack-RPC over a stream (maillimitd's admin_listen sockets).
 *
 * Framing (the msgpack-RPC specification): a request is [0, msgid, method, params], a
 * notification [2, method, params] (executed, never answered), a response
 * [1, msgid, error, result]. `error` is nil on success, else a map
 * {"code": MAILLIMIT_E* (int), "message": text}; `result` is nil on error.
 *
 * Params are an array, positional in the order listed below; or an array holding one map,
 * whose keys are the names below (control panels prefer names). Levels are the strings
 * "server", "plan", "subscription", "domain", "mailbox", "sysuser" (or their numbers);
 * windows "hour"/"day" (or 0/1); limit values integers or "unlimited"/"default"; flags
 * "sendmail"/"exempt"; flag values 0/1, booleans or "default". The server's name is nil
 * (or omitted). Methods:
 *
 *   ping                                         -> "pong"
 *   version                                      -> {library, number}
 *   stats                                        -> {requests, allow, deny, ...}
 *   methods                                      -> [names]
 *   entity.add    (level, name, parent)          -> nil   parent: plan of a subscription
 *                                                         (optional), subscription of a
 *                                                         domain or system user
 *   entity.remove (level, name)                  -> nil
 *   entity.move   (level, name, parent)          -> nil   domain -> subscription;
 *                                                         subscription -> plan or nil
 *   limit.set     (level, name, target, window, value) -> nil
 *   limit.effective (level, name, window)        -> effective limit (-1 unlimited)
 *   limit.configured (level, name, target, window) -> value as set (-2 default)
 *   flag.set      (level, name, flag, value)     -> nil
 *   flag.get      (level, name, flag)            -> {effective, configured}
 *   enabled.set   (on)                           -> nil
 *   enabled.get                                  -> bool
 *   unit.set      (unit "messages"|"recipients") -> nil
 *   unit.get                                     -> "messages" | "recipients"
 *   status        (level, name, window, now)     -> {sending, blocked_by, count, limit,
 *                                                    remaining, retry_after, reset_after}
 *   reset         (level, name)                  -> nil
 *   decide        (level, sender, cost, now)     -> {decision, reason, level, window, limit,
 *                                                    count, retry_after, token}
 *                                                   (counts for real!)
 *   config.reload                                -> nil
 *   snapshot.save                                -> nil
 *   history  (level, name, hours, now)           -> [{hour_start, sent, denied, exempt}]
 *   episodes (level, name, hours, now)           -> [{level, name, window, ongoing, started,
 *                                                     ended, limit, denied}]  (the subtree)
 *   summary  (level, name, hours, now)           -> {from, to, sent, denied, exempt,
 *                                                    unattributed, limited_entities}
 *   top      (level, metric, hours, now, k, scope_level, scope_name)
 *                                                -> [{level, name, sent, denied, exempt}]
 *   events   (since)                             -> [{seq, type, level, name, window, time,
 *                                                     limit, denied}] with seq > since
 *   retention (hours)                            -> hours of history kept (sets it if given)
 *   generation                                   -> a number that grows whenever the
 *                                                   hierarchy changes (not limits or flags)
 *   list (level, scope_level, scope_name, implicit, offset, count, details, window, now)
 *        -> {generation, total, entities: [{level, name, parent, implicit}]}
 *        level: plan, subscription, domain, mailbox or sysuser, in bytewise order of the
 *        names; scope (default the server): a plan, subscription or domain's subtree;
 *        implicit: true to list implicit mailboxes too; a page: `count` (default and at
 *        most 100000) entities from `offset`; `total` counts them all. With details
 *        true, each entity also has
 *          limits {TARGET: {hour, day}}  the values as set (-2 default) of the limits the
 *                                        level sets (README table; none for a sysuser)
 *          flags  {sendmail, exempt}     as set (0, 1, -2 default), those the level has
 *          status {...as status...}      its own counter in `window` at `now` (not for
 *                                        plans and system users)
 *        (a value or status of an entity removed while the page was read is nil)
 *   status.many (items, window, now)             -> [status...] for items [[level, name]...]
 *                                                   all or nothing: one error names the
 *                                                   first entity that failed
 *
 * Errors name the object and the reason, without the method: "mailbox joe@x.example: not
 * found", "subscription acme: not found" (the missing parent of an added domain), "value:
 * ...", "domain x.example: has no subscription limit (a domain sets domain and mailbox)".
 * Flag values are also accepted as the configuration file spells them (yes/no/on/off/1/0)
 * and "true"/"false"; names may be bin (bytes that are not UTF-8) as well as str.
 *
 * Report ranges: the last `hours` hours (default 24) up to `now` (default the clock), the
 * current hour included; with named params, "from" and "to" (Unix seconds) may replace them.
 *
 * Bounds: a request is at most MAILLIMIT__ADMIN_MSG_MAX bytes, nested at most 32 deep; a
 * pre-scan (maillimit__msgpack_scan) checks both before msgpack-c allocates anything, so a
 * hostile length header cannot make it allocate more than a small multiple of the bytes
 * actually allowed. Anything that is not a request closes the connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpscan.h"
#include "srv_internal.h"

enum { SCAN_DEPTH = 32, SYSUSER = 100, LIST_PAGE_MAX = 100000 };

/* ---- the pre-scan ------------------------------------------------------------------------- */

int maillimit__msgpack_scan(const char *data, size_t len, size_t max, size_t *msglen)
{
    *msglen = 0;
    switch (maillimit__mp_measure((const unsigned char *)data, len, max, SCAN_DEPTH, msglen)) {
    case MAILLIMIT__MP_OK:
        return 0;
    case MAILLIMIT__MP_TRUNCATED:
        *msglen = 0; /* incomplete: wait for more */
        return 0;
    default:
        *msglen = 0;
        return MAILLIMIT_EFORMAT;
    }
}

/* ---- argument access ---------------------------------------------------------------------- */

typedef struct args {
    const msgpack_object *pos; /* positional array, or NULL */
    uint32_t npos;
    const msgpack_object_map *named; /* or NULL */
} args;

static const msgpack_object *arg(const args *a, uint32_t i, const char *key)
{
    if (a->named) {
        size_t kl = strlen(key);
        for (uint32_t j = 0; j < a->named->size; j++) {
            const msgpack_object *k = &a->named->ptr[j].key;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
                memcmp(k->via.str.ptr, key, kl) == 0)
                return &a->named->ptr[j].val;
        }
        return NULL;
    }
    return i < a->npos ? &a->pos[i] : NULL;
}

typedef struct call {
    char err[400];
    int code;
} call;

static int fail(call *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(call *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    c->code = code;
    return code;
}

static int str_is(const msgpack_object *o, const char *lit)
{
    size_t n = strlen(lit);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, lit, n) == 0;
}

/* An integer argument (required unless dflt_ok). */
static int get_int(call *c, const msgpack_object *o, const char *what, int64_t *out)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return fail(c, MAILLIMIT_EINVAL, "%s: an integer is needed", what);
}

static int get_level(call *c, const msgpack_object *o, int *out, int sysuser_ok)
{
    static const char *const names[] = { "server", "plan", "subscription", "domain", "mailbox" };
    for (int i = 0; i < 5; i++)
        if (str_is(o, names[i])) {
            *out = i;
            return 0;
        }
    if (sysuser_ok && str_is(o, "sysuser")) {
        *out = SYSUSER;
        return 0;
    }
    int64_t v = -1;
    if (o && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) && get_int(c, o, "level", &v) == 0 &&
        v >= 0 && v <= 4) {
        *out = (int)v;
        return 0;
    }
    return fail(c, MAILLIMIT_EINVAL, "level: server, plan, subscription, domain, mailbox%s",
                sysuser_ok ? " or sysuser" : "");
}

static int get_window(call *c, const msgpack_object *o, int *out)
{
    if (!o || o->type == MSGPACK_OBJECT_NIL || str_is(o, "hour")) {
        *out = MAILLIMIT_WINDOW_HOUR;
        return 0;
    }
    if (str_is(o, "day")) {
        *out = MAILLIMIT_WINDOW_DAY;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= 1) {
        *out = (int)o->via.u64;
        return 0;
    }
    return fail(c, MAILLIMIT_EINVAL, "window: hour or day");
}

/* A NUL-terminated copy of a string argument into buf; nil/absent gives NULL if allowed. */
static int get_name(call *c, const msgpack_object *o, const char *what, char *buf, size_t size,
                    const char **out, int nil_ok)
{
    if (!o || o->type == MSGPACK_OBJECT_NIL) {
        if (nil_ok) {
            *out = NULL;
            return 0;
        }
        return fail(c, MAILLIMIT_EINVAL, "%s: a name is needed", what);
    }
    /* names are bytes: a str, or a bin for names that are not UTF-8 */
    if (o->type != MSGPACK_OBJECT_STR && o->type != MSGPACK_OBJECT_BIN)
        return fail(c, MAILLIMIT_EINVAL, "%s: a string is needed", what);
    const char *p = o->type == MSGPACK_OBJECT_STR ? o->via.str.ptr : o->via.bin.ptr;
    uint32_t n = o->type == MSGPACK_OBJECT_STR ? o->via.str.size : o->via.bin.size;
    if (n >= size || memchr(p, '\0', n))
        return fail(c, MAILLIMIT_EINVAL, "%s: too long or contains a NUL byte", what);
    memcpy(buf, p, n);
    buf[n] = '\0';
    *out = buf;
    return 0;
}

static int get_value(call *c, const msgpack_object *o, const char *what, int64_t *out)
{
    if (str_is(o, "unlimited")) {
        *out = MAILLIMIT_UNLIMITED;
        return 0;
    }
    if (str_is(o, "default")) {
        *out = MAILLIMIT_DEFAULT;
        return 0;
    }
    return get_int(c, o, what, out);
}

/* A flag value, as the configuration file spells it (yes/on/1, no/off/0, default) or as
 * msgpack (a boolean, the integers 0, 1 and -2). */
static int get_flagvalue(call *c, const msgpack_object *o, const char *what, int *out)
{
    static const char *const yes[] = { "yes", "on", "1", "true" }, *const no[] = { "no", "off",
                                                                                   "0", "false" };
    if (o && o->type == MSGPACK_OBJECT_BOOLEAN) {
        *out = o->via.boolean ? 1 : 0;
        return 0;
    }
    if (str_is(o, "default")) {
        *out = MAILLIMIT_DEFAULT;
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        if (str_is(o, yes[i]) || str_is(o, no[i])) {
            *out = str_is(o, yes[i]);
            return 0;
        }
    }
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= 1) {
        *out = (int)o->via.u64;
        return 0;
    }
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == MAILLIMIT_DEFAULT) {
        *out = MAILLIMIT_DEFAULT;
        return 0;
    }
    return fail(c, MAILLIMIT_EINVAL, "%s: yes, no or default (or on, off, 1, 0, true, false)",
                what);
}

/* The core's result code for a call that names no entity: "what: reason". */
static int core(call *c, int rc, const char *what)
{
    if (rc == 0)
        return 0;
    return fail(c, rc, "%s: %s", what, maillimit_strerror(rc));
}

static const char *level_word(int l)
{
    static const char *const names[] = { "server", "plan", "subscription", "domain", "mailbox" };
    return l == SYSUSER ? "sysuser" : l >= 0 && l <= 4 ? names[l] : "?";
}

/* The core's result code for a call on one entity; the message names it and the reason:
 * "mailbox joe@example.com: not found", "server: invalid argument". */
static int core_on(call *c, int rc, int level, const char *name)
{
    if (rc == 0)
        return 0;
    if (!name)
        return fail(c, rc, "%s: %s", level_word(level), maillimit_strerror(rc));
    return fail(c, rc, "%s %s: %s", level_word(level), name, maillimit_strerror(rc));
}

/* Does the entity exist? (Every level may set the mailbox limit: a cheap lookup.) */
static int exists(maillimit *ml, int level, const char *name)
{
    int64_t v;
    return maillimit_limit_configured(ml, level, name, MAILLIMIT_LEVEL_MAILBOX,
                                 MAILLIMIT_WINDOW_HOUR, &v) == 0;
}

/* The server has no name; every other entity has one. */
static int check_entity(call *c, int level, const char *name)
{
    if (level == MAILLIMIT_LEVEL_SERVER && name)
        return fail(c, MAILLIMIT_EINVAL, "server: has no name (pass nil)");
    if (level != MAILLIMIT_LEVEL_SERVER && !name)
        return fail(c, MAILLIMIT_EINVAL, "%s: a name is needed", level_word(level));
    return 0;
}

/* Which limits each level sets (README, "How limits are inherited"). */
static int limit_settable(int level, int target)
{
    if (level == MAILLIMIT_LEVEL_SERVER)
        return target != MAILLIMIT_LEVEL_PLAN;
    if (target == MAILLIMIT_LEVEL_SERVER || target == MAILLIMIT_LEVEL_PLAN)
        return 0;
    return level <= MAILLIMIT_LEVEL_SUBSCRIPTION || target >= level;
}

static const char *settable_text(int level)
{
    switch (level) {
    case MAILLIMIT_LEVEL_SERVER: return "the server sets server, subscription, domain and mailbox";
    case MAILLIMIT_LEVEL_PLAN: return "a plan sets subscription, domain and mailbox";
    case MAILLIMIT_LEVEL_SUBSCRIPTION: return "a subscription sets subscription, domain and mailbox";
    case MAILLIMIT_LEVEL_DOMAIN: return "a domain sets domain and mailbox";
    default: return "a mailbox sets mailbox";
    }
}

static int flag_applies(int level, int flag)
{
    return flag == MAILLIMIT_FLAG_SENDMAIL ? level <= MAILLIMIT_LEVEL_SUBSCRIPTION
                                           : level >= MAILLIMIT_LEVEL_PLAN;
}

/* ---- packing helpers --------------------------------------------------------------------- */

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pk_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
    pk_str(pk, k);
    msgpack_pack_int64(pk, v);
}

static const char *level_name(int l)
{
    static const char *const names[] = { "server", "plan", "subscription", "domain", "mailbox" };
    return l >= 0 && l <= 4 ? names[l] : NULL;
}

static void pk_kv_level(msgpack_packer *pk, const char *k, int l)
{
    pk_str(pk, k);
    if (level_name(l))
        pk_str(pk, level_name(l));
    else
        msgpack_pack_nil(pk);
}

/* The status map, with room for `extra` more pairs packed by the caller. */
static void pk_status_n(msgpack_packer *pk, const maillimit_status *st, size_t extra)
{
    msgpack_pack_map(pk, 7 + extra);
    pk_str(pk, "sending");
    if (st->sending)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    pk_kv_level(pk, "blocked_by", st->blocked_by);
    pk_kv_int(pk, "count", st->count);
    pk_kv_int(pk, "limit", st->limit);
    pk_kv_int(pk, "remaining", st->remaining);
    pk_kv_int(pk, "retry_after", st->retry_after);
    pk_kv_int(pk, "reset_after", st->reset_after);
}

static void pk_status(msgpack_packer *pk, const maillimit_status *st)
{
    pk_status_n(pk, st, 0);
}

/* ---- reports ------------------------------------------------------------------------------ */

static const char *window_name(int w)
{
    return w == MAILLIMIT_WINDOW_DAY ? "day" : w == MAILLIMIT_WINDOW_HOUR ? "hour" : NULL;
}

void maillimit__admin_pack_array(void *packer, size_t n)
{
    msgpack_pack_array(packer, n);
}

void maillimit__admin_pack_event(void *packer, const maillimit_event *ev)
{
    msgpack_packer *pk = packer;
    msgpack_pack_map(pk, 8);
    pk_kv_int(pk, "seq", (int64_t)ev->seq);
    pk_str(pk, "type");
    pk_str(pk, ev->type == MAILLIMIT_EVENT_LIMIT_REACHED ? "limit_reached" : "back_to_normal");
    pk_kv_level(pk, "level", ev->level);
    pk_str(pk, "name");
    pk_str(pk, ev->name);
    pk_str(pk, "window");
    pk_str(pk, window_name(ev->window) ? window_name(ev->window) : "?");
    pk_kv_int(pk, "time", ev->time);
    pk_kv_int(pk, "limit", ev->limit);
    pk_kv_int(pk, "denied", ev->denied);
}

/* The time range of a report: [from, to) from "from"/"to", else the last `hours` hours
 * (default 24) up to now, the current hour included. */
static int get_range(call *c, const args *a, uint32_t hours_idx, int64_t *from, int64_t *to,
                     int64_t *now)
{
    int rc;
    int64_t hours = 24, n = 0;
    const msgpack_object *ho = arg(a, hours_idx, "hours"), *no = arg(a, hours_idx + 1, "now");
    const msgpack_object *fo = a->named ? arg(a, 0, "from") : NULL;
    const msgpack_object *to_ = a->named ? arg(a, 0, "to") : NULL;
    if (ho && ho->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, ho, "hours", &hours)))
        return rc;
    if (no && no->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, no, "now", &n)))
        return rc;
    if (hours < 1 || hours > 87600)
        return fail(c, MAILLIMIT_EINVAL, "hours: 1..87600");
    if (n == 0)
        n = (int64_t)time(NULL);
    *now = n;
    *to = n + 1;
    *from = (n / 3600 - hours + 1) * 3600;
    if (fo && (rc = get_int(c, fo, "from", from)))
        return rc;
    if (to_ && (rc = get_int(c, to_, "to", to)))
        return rc;
    return 0;
}

static int reports(const maillimit__admin_host *h, const char *m, const args *a, call *c,
                   msgpack_packer *pk)
{
    maillimit *ml = h->ml;
    char nb[MAILLIMIT_NAME_MAX + 8], sb[MAILLIMIT_NAME_MAX + 8];
    const char *name = NULL, *sname = NULL;
    int level = MAILLIMIT_LEVEL_SERVER, rc;
    int64_t from, to, now;
    if (strcmp(m, "top") == 0) {
        /* top (level, metric, hours, now, k, scope_level, scope_name) */
        int metric = MAILLIMIT_METRIC_SENT, slevel = MAILLIMIT_LEVEL_SERVER;
        int64_t k = 10;
        const msgpack_object *mo = arg(a, 1, "metric"), *ko = arg(a, 4, "k");
        const msgpack_object *slo = arg(a, 5, "scope_level");
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)))
            return rc;
        if (str_is(mo, "denied"))
            metric = MAILLIMIT_METRIC_DENIED;
        else if (mo && mo->type != MSGPACK_OBJECT_NIL && !str_is(mo, "sent"))
            return fail(c, MAILLIMIT_EINVAL, "metric: sent or denied");
        if ((rc = get_range(c, a, 2, &from, &to, &now)))
            return rc;
        if (ko && ko->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, ko, "k", &k)))
            return rc;
        if (k < 1 || k > 1000)
            return fail(c, MAILLIMIT_EINVAL, "k: 1..1000");
        if (slo && slo->type != MSGPACK_OBJECT_NIL &&
            (rc = get_level(c, slo, &slevel, 0)))
            return rc;
        if ((rc = get_name(c, arg(a, 6, "scope_name"), "scope_name", sb, sizeof sb, &sname, 1)))
            return rc;
        maillimit_top_row *rows = calloc((size_t)k, sizeof *rows);
        if (!rows)
            return fail(c, MAILLIMIT_ENOMEM, "top: out of memory");
        maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
        size_t n = (size_t)k;
        rc = maillimit_top(ml, level, metric, from, to, slevel, sname, now, rows, &n);
        if (rc) {
            free(rows);
            return rc == MAILLIMIT_ENOTFOUND ? core_on(c, rc, slevel, sname) : core(c, rc, m);
        }
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++) {
            msgpack_pack_map(pk, 5);
            pk_kv_level(pk, "level", rows[i].level);
            pk_str(pk, "name");
            pk_str(pk, rows[i].name);
            pk_kv_int(pk, "sent", rows[i].sent);
            pk_kv_int(pk, "denied", rows[i].denied);
            pk_kv_int(pk, "exempt", rows[i].exempt);
        }
        free(rows);
        return 0;
    }
    /* history, episodes, summary (level, name, hours, now) */
    const msgpack_object *lo = arg(a, 0, "level");
    if (lo && lo->type != MSGPACK_OBJECT_NIL && (rc = get_level(c, lo, &level, 0)))
        return rc;
    if ((rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name,
                       level == MAILLIMIT_LEVEL_SERVER)) ||
        (rc = get_range(c, a, 2, &from, &to, &now)))
        return rc;
    if (strcmp(m, "summary") == 0) {
        maillimit_summary sm;
        maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
        if ((rc = core_on(c, maillimit_summary_get(ml, level, name, from, to, now, &sm), level,
                          name)))
            return rc;
        msgpack_pack_map(pk, 7);
        pk_kv_int(pk, "from", from);
        pk_kv_int(pk, "to", to);
        pk_kv_int(pk, "sent", sm.sent);
        pk_kv_int(pk, "denied", sm.denied);
        pk_kv_int(pk, "exempt", sm.exempt);
        pk_kv_int(pk, "unattributed", sm.unattributed);
        pk_kv_int(pk, "limited_entities", sm.limited_entities);
        return 0;
    }
    /* iterators: count first into a temporary buffer (the array header needs the length) */
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    size_t n = 0;
    if (m[0] == 'h') {
        maillimit_history *it = NULL;
        if ((rc = core_on(c, maillimit_history_open(ml, level, name, from, to, now, &it), level,
                          name))) {
            msgpack_sbuffer_destroy(&items);
            return rc;
        }
        maillimit_history_row row;
        maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
        while (n < 100000 && maillimit_history_next(it, &row) == 0) {
            msgpack_pack_map(&ipk, 4);
            pk_kv_int(&ipk, "hour_start", row.hour_start);
            pk_kv_int(&ipk, "sent", row.sent);
            pk_kv_int(&ipk, "denied", row.denied);
            pk_kv_int(&ipk, "exempt", row.exempt);
            n++;
        }
        maillimit_history_close(it);
    } else {
        maillimit_episodes *it = NULL;
        if ((rc = core_on(c, maillimit_episodes_open(ml, level, name, from, to, now, &it),
                          level, name))) {
            msgpack_sbuffer_destroy(&items);
            return rc;
        }
        maillimit_episode ep;
        maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
        while (n < 100000 && maillimit_episodes_next(it, &ep) == 0) {
            msgpack_pack_map(&ipk, 8);
            pk_kv_level(&ipk, "level", ep.level);
            pk_str(&ipk, "name");
            pk_str(&ipk, ep.name);
            pk_str(&ipk, "window");
            pk_str(&ipk, window_name(ep.window) ? window_name(ep.window) : "?");
            pk_str(&ipk, "ongoing");
            if (ep.ongoing)
                msgpack_pack_true(&ipk);
            else
                msgpack_pack_false(&ipk);
            pk_kv_int(&ipk, "started", ep.started);
            pk_kv_int(&ipk, "ended", ep.ended);
            pk_kv_int(&ipk, "limit", ep.limit);
            pk_kv_int(&ipk, "denied", ep.denied);
            n++;
        }
        maillimit_episodes_close(it);
    }
    msgpack_pack_array(pk, n);
    if (items.size)
        pk->callback(pk->data, items.data, items.size); /* the items, packed already */
    msgpack_sbuffer_destroy(&items);
    return 0;
}

/* ---- listing ------------------------------------------------------------------------------ */

/* The limits an entity of `level` sets, as set (maps of {hour, day}), and its flags. */
static void pk_limits_flags(maillimit *ml, msgpack_packer *pk, int level, const char *name)
{
    int first = level == MAILLIMIT_LEVEL_SUBSCRIPTION || level == MAILLIMIT_LEVEL_PLAN
                    ? MAILLIMIT_LEVEL_SUBSCRIPTION
                    : level;
    pk_str(pk, "limits");
    msgpack_pack_map(pk, (size_t)(MAILLIMIT_LEVEL_MAILBOX - first + 1));
    for (int t = first; t <= MAILLIMIT_LEVEL_MAILBOX; t++) {
        pk_str(pk, level_word(t));
        msgpack_pack_map(pk, 2);
        for (int w = MAILLIMIT_WINDOW_HOUR; w <= MAILLIMIT_WINDOW_DAY; w++) {
            int64_t v = MAILLIMIT_DEFAULT;
            pk_str(pk, window_name(w));
            if (maillimit_limit_configured(ml, level, name, t, w, &v) == 0)
                msgpack_pack_int64(pk, v);
            else
                msgpack_pack_nil(pk); /* removed since the listing was taken */
        }
    }
    int sendmail = flag_applies(level, MAILLIMIT_FLAG_SENDMAIL);
    pk_str(pk, "flags");
    msgpack_pack_map(pk, sendmail ? 2 : 1);
    for (int f = sendmail ? MAILLIMIT_FLAG_SENDMAIL : MAILLIMIT_FLAG_EXEMPT;
         f <= MAILLIMIT_FLAG_EXEMPT; f++) {
        int v = MAILLIMIT_DEFAULT;
        pk_str(pk, f == MAILLIMIT_FLAG_SENDMAIL ? "sendmail" : "exempt");
        if (maillimit_flag_configured(ml, level, name, f, &v) == 0)
            msgpack_pack_int64(pk, v);
        else
            msgpack_pack_nil(pk);
    }
}

/* list (level, scope_level, scope_name, implicit, offset, count, details, window, now)
 *   -> {generation, total, entities: [{level, name, parent, implicit[, limits, flags,
 *       status]}]} */
static int list_method(const maillimit__admin_host *h, const args *a, call *c,
                       msgpack_packer *pk)
{
    maillimit *ml = h->ml;
    char sb[MAILLIMIT_NAME_MAX + 8];
    const char *sname = NULL;
    int level, slevel = MAILLIMIT_LEVEL_SERVER, window = MAILLIMIT_WINDOW_HOUR, rc;
    int64_t offset = 0, count = LIST_PAGE_MAX, now = 0;
    int implicit = 0, details = 0;
    const msgpack_object *o;
    if ((rc = get_level(c, arg(a, 0, "level"), &level, 1)))
        return rc;
    if (level == MAILLIMIT_LEVEL_SERVER)
        return fail(c, MAILLIMIT_EINVAL, "level: plan, subscription, domain, mailbox or sysuser");
    if ((o = arg(a, 1, "scope_level")) && o->type != MSGPACK_OBJECT_NIL &&
        (rc = get_level(c, o, &slevel, 0)))
        return rc;
    if ((rc = get_name(c, arg(a, 2, "scope_name"), "scope_name", sb, sizeof sb, &sname, 1)))
        return rc;
    if ((o = arg(a, 3, "implicit")) && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return fail(c, MAILLIMIT_EINVAL, "implicit: true or false");
        implicit = o->via.boolean;
    }
    if ((o = arg(a, 4, "offset")) && o->type != MSGPACK_OBJECT_NIL &&
        (rc = get_int(c, o, "offset", &offset)))
        return rc;
    if ((o = arg(a, 5, "count")) && o->type != MSGPACK_OBJECT_NIL &&
        (rc = get_int(c, o, "count", &count)))
        return rc;
    if (offset < 0)
        return fail(c, MAILLIMIT_EINVAL, "offset: 0 or more");
    if (count < 0 || count > LIST_PAGE_MAX)
        return fail(c, MAILLIMIT_EINVAL, "count: 0..%d", (int)LIST_PAGE_MAX);
    if ((o = arg(a, 6, "details")) && o->type != MSGPACK_OBJECT_NIL) {
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return fail(c, MAILLIMIT_EINVAL, "details: true or false");
        details = o->via.boolean;
    }
    if ((rc = get_window(c, arg(a, 7, "window"), &window)))
        return rc;
    if ((o = arg(a, 8, "now")) && o->type != MSGPACK_OBJECT_NIL &&
        (rc = get_int(c, o, "now", &now)))
        return rc;
    if (slevel == MAILLIMIT_LEVEL_SERVER && sname)
        return fail(c, MAILLIMIT_EINVAL, "scope_name: none with a server scope");
    if (slevel == MAILLIMIT_LEVEL_MAILBOX)
        return fail(c, MAILLIMIT_EINVAL, "scope_level: server, plan, subscription or domain");
    if (slevel != MAILLIMIT_LEVEL_SERVER && !sname)
        return fail(c, MAILLIMIT_EINVAL, "scope_name: a name is needed");
    int clevel = level == SYSUSER ? MAILLIMIT_LIST_SYSUSER : level;
    uint64_t gen = 0;
    maillimit_list *it = NULL;
    /* the generation first: a change during the listing shows as a newer one next time */
    maillimit_generation(ml, &gen);
    rc = maillimit_list_open(ml, clevel, slevel, sname, implicit, &it);
    if (rc)
        return rc == MAILLIMIT_ENOTFOUND ? core_on(c, rc, slevel, sname) : core(c, rc, "list");
    size_t total = 0;
    maillimit_list_count(it, &total);
    maillimit_entity e;
    maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
    for (int64_t i = 0; i < offset && maillimit_list_next(it, &e) == 0; i++)
        ;
    size_t n = total > (size_t)offset ? total - (size_t)offset : 0;
    if (n > (size_t)count)
        n = (size_t)count;
    msgpack_pack_map(pk, 3);
    pk_kv_int(pk, "generation", (int64_t)gen);
    pk_kv_int(pk, "total", (int64_t)total);
    pk_str(pk, "entities");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        if (maillimit_list_next(it, &e) != 0)
            break; /* cannot happen: n <= what is left */
        int counter = level != SYSUSER && level != MAILLIMIT_LEVEL_PLAN;
        msgpack_pack_map(pk, details ? (counter ? 7 : 6) : 4);
        pk_str(pk, "level");
        pk_str(pk, level_word(level));
        pk_str(pk, "name");
        pk_str(pk, e.name);
        pk_str(pk, "parent");
        pk_str(pk, e.parent);
        pk_str(pk, "implicit");
        if (e.implicit)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        if (!details)
            continue;
        if (level == SYSUSER) {
            /* a system user is an alias: no limits, flags or counter of its own */
            pk_str(pk, "limits");
            msgpack_pack_map(pk, 0);
            pk_str(pk, "flags");
            msgpack_pack_map(pk, 0);
            continue;
        }
        pk_limits_flags(ml, pk, level, e.name);
        if (!counter)
            continue;
        maillimit_status st;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        pk_str(pk, "status");
        if (maillimit_status_get(ml, level, e.name, window, now, &st) == 0)
            pk_status(pk, &st);
        else
            msgpack_pack_nil(pk); /* removed since the listing was taken */
    }
    maillimit_list_close(it);
    return 0;
}

/* status.many (items, window, now) -> [status...]: items are [level, name] pairs (or maps
 * {level, name}); all or nothing: the first entity that fails is the error. */
static int status_many(const maillimit__admin_host *h, const args *a, call *c,
                       msgpack_packer *pk)
{
    int window, rc;
    int64_t now = 0;
    const msgpack_object *items = arg(a, 0, "items"), *o;
    if (!items || items->type != MSGPACK_OBJECT_ARRAY)
        return fail(c, MAILLIMIT_EINVAL, "items: an array of [level, name] pairs");
    if ((rc = get_window(c, arg(a, 1, "window"), &window)))
        return rc;
    if ((o = arg(a, 2, "now")) && o->type != MSGPACK_OBJECT_NIL &&
        (rc = get_int(c, o, "now", &now)))
        return rc;
    uint32_t n = items->via.array.size;
    maillimit_status *st = calloc(n ? n : 1, sizeof *st);
    if (!st)
        return fail(c, MAILLIMIT_ENOMEM, "status.many: out of memory");
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *it = &items->via.array.ptr[i];
        args ia = { NULL, 0, NULL };
        if (it->type == MSGPACK_OBJECT_ARRAY) {
            ia.pos = it->via.array.ptr;
            ia.npos = it->via.array.size;
        } else if (it->type == MSGPACK_OBJECT_MAP) {
            ia.named = &it->via.map;
        } else {
            free(st);
            return fail(c, MAILLIMIT_EINVAL, "items[%u]: a [level, name] pair", i);
        }
        char nb[MAILLIMIT_NAME_MAX + 8];
        const char *name = NULL;
        int level;
        if ((rc = get_level(c, arg(&ia, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(&ia, 1, "name"), "name", nb, sizeof nb, &name, 1)) ||
            (rc = check_entity(c, level, name))) {
            free(st);
            return rc;
        }
        if (level == MAILLIMIT_LEVEL_PLAN) {
            free(st);
            return fail(c, MAILLIMIT_EINVAL, "plan %s: a plan has no counter of its own", name);
        }
        maillimit_status_init(&st[i], MAILLIMIT_STATUS_VERSION);
        if ((rc = core_on(c, maillimit_status_get(h->ml, level, name, window, now, &st[i]),
                          level, name))) {
            free(st);
            return rc;
        }
    }
    msgpack_pack_array(pk, n);
    for (uint32_t i = 0; i < n; i++)
        pk_status(pk, &st[i]);
    free(st);
    return 0;
}

/* ---- methods ------------------------------------------------------------------------------ */

static const char *const method_names[] = {
    "ping", "version", "stats", "methods", "entity.add", "entity.remove", "entity.move",
    "limit.set", "limit.effective", "limit.configured", "flag.set", "flag.get",
    "enabled.set", "enabled.get",
    "unit.set", "unit.get", "status", "reset", "decide", "config.reload", "snapshot.save",
    "history", "episodes", "top", "summary", "events", "retention", "generation", "list",
    "status.many",
};
enum { NMETHODS = sizeof method_names / sizeof method_names[0] };

/* Run one method: 0 and the result packed into pk, or an error in c. */
static int dispatch(const maillimit__admin_host *h, const char *m, const args *a, call *c,
                    msgpack_packer *pk)
{
    maillimit *ml = h->ml;
    char nb[MAILLIMIT_NAME_MAX + 8], pb[MAILLIMIT_NAME_MAX + 8];
    const char *name = NULL, *parent = NULL;
    int level, rc;

    if (strcmp(m, "ping") == 0) {
        pk_str(pk, "pong");
        return 0;
    }
    if (strcmp(m, "version") == 0) {
        msgpack_pack_map(pk, 2);
        pk_str(pk, "library");
        pk_str(pk, maillimit_version_string());
        pk_kv_int(pk, "number", maillimit_version_number());
        return 0;
    }
    if (strcmp(m, "methods") == 0) {
        msgpack_pack_array(pk, NMETHODS);
        for (int i = 0; i < NMETHODS; i++)
            pk_str(pk, method_names[i]);
        return 0;
    }
    if (strcmp(m, "stats") == 0) {
        uint64_t st[MAILLIMIT__STATS] = { 0 };
        if (h->stats)
            h->stats(h->ctx, st);
        static const char *const k[MAILLIMIT__STATS] = {
            "requests", "allow", "deny", "pass", "failopen", "garbage", "connections",
            "refused", "open_connections", "admin_requests", "started_at", "milter_messages",
            "milter_allow", "milter_deny", "milter_pass", "milter_aborted", "milter_failopen",
            "milter_unattributed" };
        msgpack_pack_map(pk, MAILLIMIT__STATS);
        for (int i = 0; i < MAILLIMIT__STATS; i++) {
            pk_str(pk, k[i]);
            msgpack_pack_uint64(pk, st[i]);
        }
        return 0;
    }
    if (strcmp(m, "entity.add") == 0 || strcmp(m, "entity.move") == 0 ||
        strcmp(m, "entity.remove") == 0) {
        int add = m[7] == 'a', move = m[7] == 'm';
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 1)) ||
            (rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name, 0)))
            return rc;
        if (level == MAILLIMIT_LEVEL_SERVER)
            return fail(c, MAILLIMIT_EINVAL, "server: cannot be added, moved or removed");
        if (!add && !move) {
            rc = level == SYSUSER ? maillimit_sysuser_remove(ml, name)
                                  : maillimit_remove(ml, level, name);
            if (rc)
                return core_on(c, rc, level, name);
            msgpack_pack_nil(pk);
            return 0;
        }
        int parent_needed = level == MAILLIMIT_LEVEL_DOMAIN || level == SYSUSER ||
                            (move && level != MAILLIMIT_LEVEL_SUBSCRIPTION);
        if ((rc = get_name(c, arg(a, 2, "parent"), "parent", pb, sizeof pb, &parent,
                           !parent_needed)))
            return rc;
        /* the level of the parent (for messages) */
        int plevel = level == MAILLIMIT_LEVEL_SUBSCRIPTION ? MAILLIMIT_LEVEL_PLAN
                     : level == MAILLIMIT_LEVEL_MAILBOX    ? MAILLIMIT_LEVEL_DOMAIN
                                                           : MAILLIMIT_LEVEL_SUBSCRIPTION;
        if (add) {
            switch (level) {
            case MAILLIMIT_LEVEL_PLAN: rc = maillimit_plan_add(ml, name); break;
            case MAILLIMIT_LEVEL_SUBSCRIPTION:
                rc = maillimit_subscription_add(ml, name, parent);
                break;
            case MAILLIMIT_LEVEL_DOMAIN: rc = maillimit_domain_add(ml, name, parent); break;
            case MAILLIMIT_LEVEL_MAILBOX: rc = maillimit_mailbox_add(ml, name); break;
            default: rc = maillimit_sysuser_add(ml, name, parent); break;
            }
        } else if (level == MAILLIMIT_LEVEL_DOMAIN) {
            rc = maillimit_domain_move(ml, name, parent);
        } else if (level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
            rc = maillimit_subscription_plan_set(ml, name, parent);
        } else if (level == SYSUSER) {
            rc = maillimit_sysuser_move(ml, name, parent);
        } else {
            return fail(c, MAILLIMIT_EINVAL,
                        "%s %s: only domains, subscriptions and system users move",
                        level_word(level), name);
        }
        if (rc == MAILLIMIT_EINVAL)
            return fail(c, rc, "%s %s: not a valid name%s", level_word(level), name,
                        level == MAILLIMIT_LEVEL_MAILBOX ? " (local@domain)" : "");
        if (rc == MAILLIMIT_EEXISTS)
            return fail(c, rc, "%s %s: already exists in another %s (move it instead)",
                        level_word(level), name, level_word(plevel));
        if (rc == MAILLIMIT_ENOTFOUND) {
            /* which one is missing: the entity (move) or its new parent? */
            const char *pn = parent;
            if (level == MAILLIMIT_LEVEL_MAILBOX)
                pn = strchr(name, '@') ? strchr(name, '@') + 1 : name;
            if (pn && !exists(ml, plevel, pn))
                return core_on(c, rc, plevel, pn);
        }
        if (rc)
            return core_on(c, rc, level, name);
        msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "limit.set") == 0 || strcmp(m, "limit.configured") == 0 ||
        strcmp(m, "limit.effective") == 0) {
        int window, target = 0, get = strcmp(m, "limit.effective") == 0;
        int64_t v = 0;
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name, 1)) ||
            (rc = check_entity(c, level, name)))
            return rc;
        if (get) {
            if ((rc = get_window(c, arg(a, 2, "window"), &window)))
                return rc;
            if (level == MAILLIMIT_LEVEL_PLAN)
                return fail(c, MAILLIMIT_EINVAL, "plan %s: a plan has no counter of its own "
                            "(use limit.configured)", name);
            if ((rc = core_on(c, maillimit_limit_effective(ml, level, name, window, &v), level,
                              name)))
                return rc;
        } else {
            if ((rc = get_level(c, arg(a, 2, "target"), &target, 0)) ||
                (rc = get_window(c, arg(a, 3, "window"), &window)))
                return rc;
            if (!limit_settable(level, target))
                return fail(c, MAILLIMIT_EINVAL, "%s%s%s: has no %s limit (%s)",
                            level_word(level), name ? " " : "", name ? name : "",
                            level_word(target), settable_text(level));
            if (strcmp(m, "limit.set") == 0) {
                if ((rc = get_value(c, arg(a, 4, "value"), "value", &v)))
                    return rc;
                if (v < MAILLIMIT_DEFAULT)
                    return fail(c, MAILLIMIT_EINVAL, "value %lld: a number >= 0, "
                                "\"unlimited\" or \"default\"", (long long)v);
                if (v == MAILLIMIT_DEFAULT && level == MAILLIMIT_LEVEL_SERVER)
                    return fail(c, MAILLIMIT_EINVAL, "server: \"default\" is not allowed (the "
                                "server has nothing to inherit from; use a number or "
                                "\"unlimited\")");
                if ((rc = core_on(c, maillimit_limit_set(ml, level, name, target, window, v),
                                  level, name)))
                    return rc;
                msgpack_pack_nil(pk);
                return 0;
            }
            if ((rc = core_on(c, maillimit_limit_configured(ml, level, name, target, window, &v),
                              level, name)))
                return rc;
        }
        msgpack_pack_int64(pk, v);
        return 0;
    }
    if (strcmp(m, "flag.set") == 0 || strcmp(m, "flag.get") == 0) {
        int flag, v = 0, eff = 0;
        const msgpack_object *fo = arg(a, 2, "flag");
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name, 1)) ||
            (rc = check_entity(c, level, name)))
            return rc;
        if (str_is(fo, "sendmail"))
            flag = MAILLIMIT_FLAG_SENDMAIL;
        else if (str_is(fo, "exempt"))
            flag = MAILLIMIT_FLAG_EXEMPT;
        else
            return fail(c, MAILLIMIT_EINVAL, "flag: sendmail or exempt");
        if (!flag_applies(level, flag))
            return fail(c, MAILLIMIT_EINVAL, "%s%s%s: has no %s flag (%s)", level_word(level),
                        name ? " " : "", name ? name : "", str_is(fo, "sendmail") ? "sendmail"
                        : "exempt", flag == MAILLIMIT_FLAG_SENDMAIL
                        ? "sendmail is set on the server, plans and subscriptions"
                        : "exempt is set on plans, subscriptions, domains and mailboxes");
        if (strcmp(m, "flag.set") == 0) {
            if ((rc = get_flagvalue(c, arg(a, 3, "value"), "value", &v)))
                return rc;
            if (v == MAILLIMIT_DEFAULT && level == MAILLIMIT_LEVEL_SERVER)
                return fail(c, MAILLIMIT_EINVAL, "server: \"default\" is not allowed (use yes "
                            "or no)");
            if ((rc = core_on(c, maillimit_flag_set(ml, level, name, flag, v), level, name)))
                return rc;
            msgpack_pack_nil(pk);
            return 0;
        }
        if ((rc = core_on(c, maillimit_flag_effective(ml, level, name, flag, &eff), level, name)) ||
            (rc = core_on(c, maillimit_flag_configured(ml, level, name, flag, &v), level, name)))
            return rc;
        msgpack_pack_map(pk, 2);
        pk_kv_int(pk, "effective", eff);
        pk_kv_int(pk, "configured", v);
        return 0;
    }
    if (strcmp(m, "enabled.set") == 0) {
        int v;
        if ((rc = get_flagvalue(c, arg(a, 0, "on"), "on", &v)))
            return rc;
        if (v == MAILLIMIT_DEFAULT)
            return fail(c, MAILLIMIT_EINVAL, "on: true or false");
        if ((rc = core(c, maillimit_enabled_set(ml, v), m)))
            return rc;
        msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "enabled.get") == 0) {
        int on = 0;
        if ((rc = core(c, maillimit_enabled_get(ml, &on), m)))
            return rc;
        if (on)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        return 0;
    }
    if (strcmp(m, "unit.set") == 0) {
        const msgpack_object *u = arg(a, 0, "unit");
        int unit;
        if (str_is(u, "messages"))
            unit = MAILLIMIT_UNIT_MESSAGES;
        else if (str_is(u, "recipients"))
            unit = MAILLIMIT_UNIT_RECIPIENTS;
        else
            return fail(c, MAILLIMIT_EINVAL, "unit: messages or recipients");
        if ((rc = core(c, maillimit_unit_set(ml, unit), m)))
            return rc;
        msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "unit.get") == 0) {
        int unit = 0;
        if ((rc = core(c, maillimit_unit_get(ml, &unit), m)))
            return rc;
        pk_str(pk, unit == MAILLIMIT_UNIT_RECIPIENTS ? "recipients" : "messages");
        return 0;
    }
    if (strcmp(m, "status") == 0) {
        int window;
        int64_t now = 0;
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name, 1)) ||
            (rc = check_entity(c, level, name)) ||
            (rc = get_window(c, arg(a, 2, "window"), &window)))
            return rc;
        if (level == MAILLIMIT_LEVEL_PLAN)
            return fail(c, MAILLIMIT_EINVAL, "plan %s: a plan has no counter of its own", name);
        const msgpack_object *no = arg(a, 3, "now");
        if (no && no->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, no, "now", &now)))
            return rc;
        maillimit_status st;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        if ((rc = core_on(c, maillimit_status_get(ml, level, name, window, now, &st), level,
                          name)))
            return rc;
        if (!h->cluster_count) {
            pk_status(pk, &st);
            return 0;
        }
        /* cluster_redis: the count of all relays beside this relay's own (nil: Redis did
         * not answer; 0: no shared counter, e.g. a mailbox of an unknown domain) */
        int64_t cc = 0;
        int crc = h->cluster_count(h->ctx, level, name, window, now, &cc);
        if (crc == MAILLIMIT_ENOTFOUND)
            crc = 0;
        pk_status_n(pk, &st, 1);
        pk_str(pk, "cluster_count");
        if (crc == 0)
            msgpack_pack_int64(pk, cc);
        else
            msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "reset") == 0) {
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(a, 1, "name"), "name", nb, sizeof nb, &name, 1)) ||
            (rc = check_entity(c, level, name)))
            return rc;
        if (level == MAILLIMIT_LEVEL_PLAN)
            return fail(c, MAILLIMIT_EINVAL, "plan %s: a plan has no counter of its own", name);
        if ((rc = core_on(c, maillimit_reset(ml, level, name), level, name)))
            return rc;
        msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "decide") == 0) {
        int64_t cost = 1, now = 0;
        const msgpack_object *co = arg(a, 2, "cost"), *no = arg(a, 3, "now");
        if ((rc = get_level(c, arg(a, 0, "level"), &level, 0)) ||
            (rc = get_name(c, arg(a, 1, "sender"), "sender", nb, sizeof nb, &name, 0)))
            return rc;
        if (co && co->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, co, "cost", &cost)))
            return rc;
        if (no && no->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, no, "now", &now)))
            return rc;
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        rc = maillimit_decide(ml, level, name, cost, now, &v);
        if (rc == MAILLIMIT_ERANGE)
            return fail(c, rc, "cost %lld: 1..%d", (long long)cost, (int)MAILLIMIT_COST_MAX);
        if ((rc = core_on(c, rc, level, name)))
            return rc;
        static const char *const reasons[] = { "none", "limit", "exempt", "disabled",
                                               "unknown", "not_allowed" };
        msgpack_pack_map(pk, 8);
        pk_str(pk, "decision");
        pk_str(pk, v.decision == MAILLIMIT_DENY ? "deny" : "allow");
        pk_str(pk, "reason");
        pk_str(pk, v.reason >= 0 && v.reason <= 5 ? reasons[v.reason] : "?");
        pk_kv_level(pk, "level", v.level);
        pk_str(pk, "window");
        if (v.window == MAILLIMIT_WINDOW_HOUR || v.window == MAILLIMIT_WINDOW_DAY)
            pk_str(pk, v.window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        else
            msgpack_pack_nil(pk);
        pk_kv_int(pk, "limit", v.limit);
        pk_kv_int(pk, "count", v.count);
        pk_kv_int(pk, "retry_after", v.retry_after);
        pk_str(pk, "token");
        msgpack_pack_uint64(pk, v.token);
        return 0;
    }
    if (strcmp(m, "config.reload") == 0 || strcmp(m, "snapshot.save") == 0) {
        int reload = m[0] == 'c';
        int (*fn)(void *, char *, size_t) = reload ? h->reload : h->snapshot;
        char em[300] = "";
        if (!fn)
            return fail(c, MAILLIMIT_EINVAL, "%s: not available here", m);
        rc = fn(h->ctx, em, sizeof em);
        if (rc)
            return fail(c, rc, "%s", em[0] ? em : maillimit_strerror(rc));
        msgpack_pack_nil(pk);
        return 0;
    }
    if (strcmp(m, "history") == 0 || strcmp(m, "episodes") == 0 ||
        strcmp(m, "summary") == 0 || strcmp(m, "top") == 0) {
        return reports(h, m, a, c, pk);
    }
    if (strcmp(m, "events") == 0) {
        int64_t since = 0;
        const msgpack_object *so = arg(a, 0, "since");
        if (so && so->type != MSGPACK_OBJECT_NIL && (rc = get_int(c, so, "since", &since)))
            return rc;
        if (h->events)
            return h->events(h->ctx, (uint64_t)since, pk) == 0
                       ? 0
                       : fail(c, MAILLIMIT_ENOMEM, "events: out of memory");
        /* no server keeping a log of them: take them from the handle's queue */
        maillimit_event evs[256];
        size_t n = 0;
        while (n < 256) {
            maillimit_event_init(&evs[n], MAILLIMIT_EVENT_VERSION);
            if (maillimit_events_next(ml, 0, &evs[n]) != 0)
                break;
            if (evs[n].seq > (uint64_t)since)
                n++;
        }
        msgpack_pack_array(pk, n);
        for (size_t i = 0; i < n; i++)
            maillimit__admin_pack_event(pk, &evs[i]);
        return 0;
    }
    if (strcmp(m, "generation") == 0) {
        uint64_t g = 0;
        if ((rc = core(c, maillimit_generation(ml, &g), m)))
            return rc;
        msgpack_pack_uint64(pk, g);
        return 0;
    }
    if (strcmp(m, "list") == 0)
        return list_method(h, a, c, pk);
    if (strcmp(m, "status.many") == 0)
        return status_many(h, a, c, pk);
    if (strcmp(m, "retention") == 0) {
        int64_t hours;
        const msgpack_object *ho = arg(a, 0, "hours");
        if (ho && ho->type != MSGPACK_OBJECT_NIL) {
            if ((rc = get_int(c, ho, "hours", &hours)) ||
                (rc = core(c, maillimit_retention_set(ml, hours), m)))
                return rc;
        }
        if ((rc = core(c, maillimit_retention_get(ml, &hours), m)))
            return rc;
        msgpack_pack_int64(pk, hours);
        return 0;
    }
    return fail(c, MAILLIMIT_ENOTFOUND, "unknown method %s (see \"methods\")", m);
}

/* ---- requests ------------------------------------------------------------------------------ */

int maillimit__admin_decode(const void *object, maillimit__admin_req *req, const char **problem)
{
    const msgpack_object *o = object;
    memset(req, 0, sizeof *req);
    *problem = NULL;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 3) {
        *problem = "a message must be an array [0, msgid, method, params]";
        return MAILLIMIT_EFORMAT;
    }
    const msgpack_object *e = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    int notify = e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 == 2;
    if (!notify && !(e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 == 0)) {
        *problem = "only requests (type 0) and notifications (type 2) are accepted";
        return MAILLIMIT_EFORMAT;
    }
    if (n != (notify ? 3u : 4u)) {
        *problem = notify ? "a notification is [2, method, params]"
                          : "a request is [0, msgid, method, params]";
        return MAILLIMIT_EFORMAT;
    }
    const msgpack_object *mid = notify ? NULL : &e[1];
    const msgpack_object *method = &e[notify ? 1 : 2];
    const msgpack_object *params = &e[notify ? 2 : 3];
    if (mid && (mid->type != MSGPACK_OBJECT_POSITIVE_INTEGER || mid->via.u64 > UINT32_MAX)) {
        *problem = "msgid must be an unsigned 32-bit integer";
        return MAILLIMIT_EFORMAT;
    }
    if (method->type != MSGPACK_OBJECT_STR || method->via.str.size == 0 ||
        method->via.str.size >= sizeof req->method ||
        memchr(method->via.str.ptr, '\0', method->via.str.size)) {
        *problem = "method must be a non-empty string of at most 47 bytes";
        return MAILLIMIT_EFORMAT;
    }
    if (params->type != MSGPACK_OBJECT_ARRAY) {
        *problem = "params must be an array";
        return MAILLIMIT_EFORMAT;
    }
    req->msgid = mid ? (uint32_t)mid->via.u64 : 0;
    req->notify = notify;
    memcpy(req->method, method->via.str.ptr, method->via.str.size);
    req->method[method->via.str.size] = '\0';
    req->params = params;
    return 0;
}

int maillimit__admin_handle(const maillimit__admin_host *host, const char *data, size_t len,
                            size_t *consumed, char **reply, size_t *replylen)
{
    *consumed = 0;
    *reply = NULL;
    *replylen = 0;
    size_t msglen;
    int rc = maillimit__msgpack_scan(data, len, MAILLIMIT__ADMIN_MSG_MAX, &msglen);
    if (rc)
        return rc;
    if (msglen == 0)
        return 0;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&u, data, msglen, &off);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        msgpack_unpacked_destroy(&u);
        return MAILLIMIT_ENOMEM;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || off != msglen) {
        msgpack_unpacked_destroy(&u);
        return MAILLIMIT_EFORMAT;
    }
    maillimit__admin_req req;
    const char *problem;
    rc = maillimit__admin_decode(&u.data, &req, &problem);
    if (rc) {
        msgpack_unpacked_destroy(&u);
        return rc;
    }
    const msgpack_object *params = req.params;
    args a = { params->via.array.ptr, params->via.array.size, NULL };
    if (params->via.array.size == 1 && params->via.array.ptr[0].type == MSGPACK_OBJECT_MAP) {
        a.named = &params->via.array.ptr[0].via.map;
        a.pos = NULL;
        a.npos = 0;
    }

    msgpack_sbuffer result;
    msgpack_sbuffer_init(&result);
    msgpack_packer rpk;
    msgpack_packer_init(&rpk, &result, msgpack_sbuffer_write);
    call c = { "", 0 };
    rc = dispatch(host, req.method, &a, &c, &rpk);
    msgpack_unpacked_destroy(&u);

    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, req.msgid);
    if (rc) {
        msgpack_pack_map(&pk, 2);
        pk_kv_int(&pk, "code", c.code ? c.code : rc);
        pk_str(&pk, "message");
        pk_str(&pk, c.err[0] ? c.err : maillimit_strerror(rc));
        msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_nil(&pk);
        msgpack_sbuffer_write(&out, result.data, result.size);
    }
    msgpack_sbuffer_destroy(&result);
    *consumed = msglen;
    if (req.notify) {
        msgpack_sbuffer_destroy(&out);
        return 0;
    }
    if (!out.data) {
        msgpack_sbuffer_destroy(&out);
        return MAILLIMIT_ENOMEM;
    }
    *reply = out.data; /* sbuffer memory is malloc'ed: the caller frees it with free() */
    *replylen = out.size;
    return 0;
}
