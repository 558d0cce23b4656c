/* SPDX-License-Identifier: MIT */
/* cluster_redis: the counters of several relays shared through Redis (cluster.h says how a
 * decision goes; docs/cluster.md is the admin's view).
 *
 * Keys. Every counter is one Redis hash, kept as of its latest minute l (the core's window
 * definitions): t, the units of the sliding hour (60 one-minute slots, minutes l-59 .. l);
 * b, those of minutes l-59 .. l-1; m<minute>, an earlier minute of the hour; h<hour>, the
 * units of an hour that have left the hour; e, the day's hour slots (the day counts e + t).
 * A decision in the key's latest minute reads four fields and adds to one; the first call of
 * a later minute moves what left the windows (the script's head comment), so its cost does
 * not grow with the key's history (an HGETALL of up to 84 slots per key cost ten times as
 * much once the keys had an hour of traffic). The keys
 * of one subscription's chain share the hash tag {s:SUBSCRIPTION}, so one script touches one
 * slot of a Redis Cluster; the server total is PREFIX{server}, charged by its own script call
 * in the same pipeline when the server has a limit (exact too: each script checks and charges
 * atomically, and a call that was allowed while the other refused is refunded, so a counter
 * never admits more than its limit; a request may be refused while a refund is on its way).
 * A key expires 25 hours after the last minute it was used in.
 *
 * The connection. One hiredis asynchronous context on the server's loop (the libuv adapter).
 * States: DOWN (a reconnect every second), CONNECTING (AUTH, SELECT, SCRIPT LOAD sent), UP.
 * Decisions use Redis only when UP. A request that waits longer than the timeout, a reply
 * that is not what the script returns, or a lost connection brings the state to DOWN: every
 * pending decision takes its local verdict at once (so the relay answers within the timeout
 * plus one loop turn), and the change is logged once; a PING every second checks a
 * connection that carries no decision. What the relay admitted while not UP is
 * kept (OUTAGE_MAX decisions at most) and charged to Redis, without checking, when it is UP
 * again.
 *
 * Everything runs on the loop thread; admin "status" reads a cluster-wide count through a
 * separate blocking context with the same timeout.
 */
#define _POSIX_C_SOURCE 200809L

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "server_internal.h"
#include "srv_internal.h"

enum { ST_DOWN, ST_CONNECTING, ST_UP };
enum { OUTAGE_MAX = 65536, RECONNECT_MS = 1000, CHECK_MS = 20, BATCH_MS = 100, KEY_MAX = 800,
       MAXKEYS = 3, EARLY_WRITE = 8 };
enum { MODE_DECIDE = 0, MODE_CHARGE = 1, MODE_READ = 2 };

const char maillimit__cluster_script[] =
    "-- libmaillimit cluster counters: KEYS bottom-up; ARGV now, cost, mode (0 check and charge,\n"
    "-- 1 charge, 2 read), then hour and day limit per key (-1 unlimited).\n"
    "-- A key is a hash, as of its latest minute l: t, the units of the sliding hour\n"
    "-- (minutes l-59 .. l); b, those of minutes l-59 .. l-1 (minute l has t - b); m<p>,\n"
    "-- the units of an earlier minute p of the hour; h<q>, the units of hour q that have\n"
    "-- left the hour; e, the sum of the h<q> of the day (hours H-23 .. H). The day counts\n"
    "-- e + t. A decision in minute l reads four fields and adds to t; the first call of a\n"
    "-- later minute writes minute l's field, moves the minutes that leave the hour to their\n"
    "-- hours and drops the hours that leave the day, so a call costs the same whatever the\n"
    "-- key's history. (Only what that common path needs is done outside the functions\n"
    "-- below, which are for the rarer cases.)\n"
    "local call, floor = redis.call, math.floor\n"
    "local now = tonumber(ARGV[1])\n"
    "local costs = ARGV[2]\n"
    "local cost = tonumber(costs)\n"
    "local mode = tonumber(ARGV[3])\n"
    "local M = floor(now / 60)\n"
    "local H = floor(M / 60)\n"
    "-- key k's totals t and e brought from minute l to M (written if write)\n"
    "local function advance(k, l, t, b, e, write)\n"
    "  local cur, lh = t - b, floor(l / 60)\n"
    "  -- minutes l-59 .. min(l, M-60) leave the hour for their hour's slot (if still in the day)\n"
    "  local last = l < M - 60 and l or M - 60\n"
    "  local gone, add = {}, {}\n"
    "  for p = l - 59, last do gone[#gone + 1] = 'm' .. p end\n"
    "  if #gone > 0 then\n"
    "    local n = call('HMGET', k, unpack(gone))\n"
    "    for i = 1, #gone do\n"
    "      local p = l - 60 + i\n"
    "      local u = p == l and cur or (tonumber(n[i]) or 0)\n"
    "      if u ~= 0 then\n"
    "        t = t - u\n"
    "        local q = floor(p / 60)\n"
    "        if q > H - 24 then add[q] = (add[q] or 0) + u end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  -- hours lh-23 .. H-24 leave the day\n"
    "  local hgone = {}\n"
    "  for q = lh - 23, (lh < H - 24 and lh or H - 24) do hgone[#hgone + 1] = 'h' .. q end\n"
    "  if #hgone > 0 then\n"
    "    for _, x in ipairs(call('HMGET', k, unpack(hgone))) do e = e - (tonumber(x) or 0) end\n"
    "  end\n"
    "  for _, u in pairs(add) do e = e + u end\n"
    "  if t < 0 then t = 0 end\n"
    "  if e < 0 then e = 0 end\n"
    "  if write then\n"
    "    if #gone > 0 then call('HDEL', k, unpack(gone)) end\n"
    "    if #hgone > 0 then call('HDEL', k, unpack(hgone)) end\n"
    "    for q, u in pairs(add) do call('HINCRBY', k, 'h' .. q, u) end\n"
    "    if last < l and cur ~= 0 then call('HSET', k, 'm' .. l, cur) end\n"
    "    call('HSET', k, 'l', M, 't', t, 'b', t, 'e', e)\n"
    "    call('EXPIRE', k, 90000)\n"
    "  end\n"
    "  return t, e\n"
    "end\n"
    "-- smallest r >= 1 such that the count at now + r, plus cost, fits the limit (-1:\n"
    "-- never): the window's slots (w 0 the hour, 1 the day), oldest first, until they free\n"
    "-- enough\n"
    "local function retry(k, l, t, b, w, count, limit)\n"
    "  if cost > limit then return -1 end\n"
    "  local lh, names, units, at = floor(l / 60), {}, {}, {}\n"
    "  for p = l - 59, l - 1 do names[#names + 1] = 'm' .. p end\n"
    "  local v = call('HMGET', k, unpack(names))\n"
    "  if w == 0 then\n"
    "    for i = 1, 59 do units[i], at[i] = tonumber(v[i]) or 0, (l - 60 + i) * 60 + 3600 end\n"
    "    units[60], at[60] = t - b, l * 60 + 3600\n"
    "  else\n"
    "    local hn = {}\n"
    "    for q = lh - 23, lh do hn[#hn + 1] = 'h' .. q end\n"
    "    local h = call('HMGET', k, unpack(hn))\n"
    "    for i = 1, 24 do units[i], at[i] = tonumber(h[i]) or 0, (lh - 24 + i) * 3600 + 86400 end\n"
    "    for i = 1, 60 do\n"
    "      local p = l - 60 + i\n"
    "      local j = floor(p / 60) - (lh - 24)\n"
    "      if j >= 1 then units[j] = units[j] + (p == l and t - b or (tonumber(v[i]) or 0)) end\n"
    "    end\n"
    "  end\n"
    "  local need, freed = count + cost - limit, 0\n"
    "  for i = 1, #units do\n"
    "    freed = freed + units[i]\n"
    "    if freed >= need then\n"
    "      local r = at[i] - now\n"
    "      return r < 1 and 1 or r\n"
    "    end\n"
    "  end\n"
    "  return w == 0 and 60 or 3600\n"
    "end\n"
    "-- add cost units at minute M to key k as of minute l (false: a new key; l >= M: a charge\n"
    "-- from the past counts where it still falls)\n"
    "local function charge(k, l)\n"
    "  if not l then\n"
    "    if cost > 0 then\n"
    "      -- a key without totals starts afresh: slots of another layout would be misread\n"
    "      call('DEL', k)\n"
    "      call('HSET', k, 'l', M, 't', costs, 'b', 0, 'e', 0)\n"
    "      call('EXPIRE', k, 90000)\n"
    "    end\n"
    "  elseif M == l then\n"
    "    call('HINCRBY', k, 't', costs)\n"
    "  elseif M > l - 60 then\n"
    "    local f = 'm' .. M\n"
    "    if call('HINCRBY', k, f, costs) <= 0 then call('HDEL', k, f) end\n"
    "    call('HINCRBY', k, 't', costs)\n"
    "    call('HINCRBY', k, 'b', costs)\n"
    "  elseif H > floor(l / 60) - 24 then\n"
    "    local f = 'h' .. H\n"
    "    if call('HINCRBY', k, f, costs) <= 0 then call('HDEL', k, f) end\n"
    "    call('HINCRBY', k, 'e', costs)\n"
    "  end\n"
    "end\n"
    "local ls, best, bi, bw, bl, bc, own = {}, nil, -1, -1, 0, 0, 0\n"
    "for i = 1, #KEYS do\n"
    "  local k = KEYS[i]\n"
    "  local v = call('HMGET', k, 'l', 't', 'b', 'e')\n"
    "  -- not back: a relay whose clock is behind is counted in the latest minute's windows\n"
    "  -- (b and e are parsed only when needed: tonumber is a good part of a decision's time)\n"
    "  local l, t = tonumber(v[1]), tonumber(v[2]) or 0\n"
    "  local b, e\n"
    "  if l and M > l then\n"
    "    t, e = advance(k, l, t, tonumber(v[3]) or 0, tonumber(v[4]) or 0, mode ~= 2)\n"
    "    l, b = M, t\n"
    "  end\n"
    "  if mode == 2 then return {t, (e or tonumber(v[4]) or 0) + t} end\n"
    "  ls[i] = l or false\n"
    "  if mode == 0 then\n"
    "    if i == 1 then own = t end\n"
    "    local hs, ds = ARGV[2 + 2 * i], ARGV[3 + 2 * i]\n"
    "    local hl = hs ~= '-1' and tonumber(hs)\n"
    "    if hl and hl >= 0 and t + cost > hl then\n"
    "      b = b or tonumber(v[3]) or 0\n"
    "      local r = retry(k, l or M, t, b, 0, t, hl)\n"
    "      local rr = r < 0 and 1e18 or r\n"
    "      if best == nil or rr >= best then best, bi, bw, bl, bc = rr, i, 0, hl, t end\n"
    "    end\n"
    "    local dl = ds ~= '-1' and tonumber(ds)\n"
    "    local dc = dl and dl >= 0 and (e or tonumber(v[4]) or 0) + t\n"
    "    if dl and dl >= 0 and dc + cost > dl then\n"
    "      b = b or tonumber(v[3]) or 0\n"
    "      local r = retry(k, l or M, t, b, 1, dc, dl)\n"
    "      local rr = r < 0 and 1e18 or r\n"
    "      if best == nil or rr > best or (rr == best and bi < i) then\n"
    "        best, bi, bw, bl, bc = rr, i, 1, dl, dc\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if best ~= nil then\n"
    "  return {0, bi - 1, bw, bl, bc, best >= 1e18 and -1 or best, own}\n"
    "end\n"
    "-- (charge()'s common case, the key's latest minute, inline: a call less per key)\n"
    "for i = 1, #KEYS do\n"
    "  if ls[i] == M then call('HINCRBY', KEYS[i], 't', costs) else charge(KEYS[i], ls[i]) end\n"
    "end\n"
    "if mode == 1 then return {1} end\n"
    "return {1, 0, 0, 0, 0, 0, own}\n";

/* ---- pure helpers (unit-tested) ---------------------------------------------------------- */

int maillimit__cluster_reply_parse(const long long *v, size_t nint, int nkeys,
                                   maillimit__cluster_result *out)
{
    memset(out, 0, sizeof *out);
    if (!v || nint != 7 || nkeys < 1 || nkeys > MAXKEYS)
        return MAILLIMIT_EFORMAT;
    if (v[0] != 0 && v[0] != 1)
        return MAILLIMIT_EFORMAT;
    if (v[6] < 0 || v[6] > (1ll << 40))
        return MAILLIMIT_EFORMAT;
    out->allowed = (int)v[0];
    out->own = v[6];
    if (out->allowed)
        return 0;
    if (v[1] < 0 || v[1] >= nkeys || (v[2] != 0 && v[2] != 1) || v[3] < 0 ||
        v[3] > (1ll << 40) || v[4] < 0 || v[4] > (1ll << 40) || v[5] < -1 || v[5] == 0 ||
        v[5] > 25 * 3600)
        return MAILLIMIT_EFORMAT;
    out->index = (int)v[1];
    out->window = (int)v[2];
    out->limit = v[3];
    out->count = v[4];
    out->retry_after = v[5];
    return 0;
}

size_t maillimit__cluster_key(char *buf, size_t size, const char *prefix, int level,
                              const char *subscription, const char *name)
{
    int n;
    switch (level) {
    case MAILLIMIT_LEVEL_SERVER: n = snprintf(buf, size, "%s{server}", prefix); break;
    case MAILLIMIT_LEVEL_SUBSCRIPTION:
        n = snprintf(buf, size, "%s{s:%s}:s", prefix, subscription);
        break;
    case MAILLIMIT_LEVEL_DOMAIN:
        n = snprintf(buf, size, "%s{s:%s}:d:%s", prefix, subscription, name);
        break;
    case MAILLIMIT_LEVEL_MAILBOX:
        n = snprintf(buf, size, "%s{s:%s}:m:%s", prefix, subscription, name);
        break;
    default: return 0;
    }
    if (n < 0 || (size_t)n >= size)
        return 0;
    return (size_t)n;
}

/* ---- reply objects ------------------------------------------------------------------------
 * hiredis's own, but an array of more than REPLY_ELEMENTS_MAX elements is refused (the reader
 * then fails and the connection is given up): a script reply has 7, and a peer announcing
 * "*300000000" must not make the relay allocate gigabytes before sending a byte of them. */

enum { REPLY_ELEMENTS_MAX = 64 };

static void *reply_new(const redisReadTask *task, int type)
{
    redisReply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->type = type;
    if (task->parent) {
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    return r;
}

static void *reply_string(const redisReadTask *task, char *str, size_t len)
{
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    redisReply *r = reply_new(task, task->type);
    if (!r) {
        free(buf);
        return NULL;
    }
    memcpy(buf, str, len);
    buf[len] = '\0';
    r->str = buf;
    r->len = len;
    return r;
}

static void *reply_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > REPLY_ELEMENTS_MAX)
        return NULL;
    redisReply *r = reply_new(task, REDIS_REPLY_ARRAY);
    if (!r)
        return NULL;
    if (elements > 0 && !(r->element = calloc((size_t)elements, sizeof *r->element))) {
        if (task->parent)
            ((redisReply *)task->parent->obj)->element[task->idx] = NULL;
        free(r);
        return NULL;
    }
    r->elements = (size_t)elements;
    return r;
}

static void *reply_integer(const redisReadTask *task, long long value)
{
    redisReply *r = reply_new(task, REDIS_REPLY_INTEGER);
    if (r)
        r->integer = value;
    return r;
}

static void *reply_nil(const redisReadTask *task)
{
    return reply_new(task, REDIS_REPLY_NIL);
}

redisReplyObjectFunctions maillimit__cluster_reply_fns = {
    reply_string, reply_array, reply_integer, reply_nil, freeReplyObject,
};

/* ---- the map of domains and system users to their subscriptions ----------------------------- */

struct subent {
    char *name; /* "d:DOMAIN" or "u:LOGIN" */
    char *sub;
};

struct submap {
    struct subent *v;
    size_t cap;     /* power of two, or 0 */
    uint64_t generation;
    int built;
};

static uint64_t hash_str(const char *p)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 31);
}

static void submap_clear(struct submap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->v[i].name);
        free(m->v[i].sub);
    }
    free(m->v);
    m->v = NULL;
    m->cap = 0;
    m->built = 0;
}

static int submap_put(struct submap *m, char *name, char *sub)
{
    size_t i = hash_str(name) & (m->cap - 1);
    while (m->v[i].name)
        i = (i + 1) & (m->cap - 1);
    m->v[i].name = name;
    m->v[i].sub = sub;
    return 0;
}

static const char *submap_get(const struct submap *m, char kind, const char *name)
{
    if (!m->cap)
        return NULL;
    char key[MAILLIMIT_NAME_BUFFER + 2];
    snprintf(key, sizeof key, "%c:%s", kind, name);
    size_t i = hash_str(key) & (m->cap - 1);
    while (m->v[i].name) {
        if (strcmp(m->v[i].name, key) == 0)
            return m->v[i].sub;
        i = (i + 1) & (m->cap - 1);
    }
    return NULL;
}

/* Rebuild from the handle's listing of domains and system users if the hierarchy changed. */
static int submap_refresh(struct submap *m, maillimit *ml)
{
    uint64_t gen = 0;
    maillimit_generation(ml, &gen);
    if (m->built && gen == m->generation)
        return 0;
    submap_clear(m);
    maillimit_list *its[2] = { NULL, NULL };
    size_t total = 0, n;
    int levels[2] = { MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LIST_SYSUSER };
    for (int k = 0; k < 2; k++) {
        if (maillimit_list_open(ml, levels[k], MAILLIMIT_LEVEL_SERVER, NULL, 0, &its[k]) != 0 ||
            maillimit_list_count(its[k], &n) != 0) {
            maillimit_list_close(its[0]);
            maillimit_list_close(its[1]);
            return MAILLIMIT_ENOMEM;
        }
        total += n;
    }
    size_t cap = 16;
    while (cap < total * 2)
        cap *= 2;
    m->v = calloc(cap, sizeof *m->v);
    int rc = m->v ? 0 : MAILLIMIT_ENOMEM;
    if (!rc)
        m->cap = cap;
    maillimit_entity e;
    for (int k = 0; k < 2 && !rc; k++) {
        maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
        while (!rc && maillimit_list_next(its[k], &e) == 0) {
            size_t nl = strlen(e.name) + 3;
            char *name = malloc(nl), *sub = strdup(e.parent);
            if (!name || !sub) {
                free(name);
                free(sub);
                rc = MAILLIMIT_ENOMEM;
                break;
            }
            snprintf(name, nl, "%c:%s", k == 0 ? 'd' : 'u', e.name);
            submap_put(m, name, sub);
        }
    }
    maillimit_list_close(its[0]);
    maillimit_list_close(its[1]);
    if (rc) {
        submap_clear(m);
        return rc;
    }
    m->generation = gen;
    m->built = 1;
    return 0;
}

/* ---- the chain of a sender ---------------------------------------------------------------- */

struct chain {
    int n;                        /* keys of the subscription's hash tag (0..3) */
    int level[MAXKEYS];
    char key[MAXKEYS][KEY_MAX];
    int64_t hour[MAXKEYS], day[MAXKEYS];
    int limited;                  /* some key has a limit */
    int server;                   /* the server total has a limit */
    int64_t shour, sday;
    char skey[KEY_MAX];
};

static void lower(char *dst, const char *src, size_t size)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? (char)(src[i] - 'A' + 'a') : src[i];
    dst[i] = '\0';
}

struct maillimit__cluster_req {
    maillimit__cluster *cl;
    maillimit__cluster_req *next;  /* FIFO of requests waiting for replies */
    maillimit__cluster_done done;  /* NULL once cancelled */
    void *ud;
    uint64_t token;
    maillimit_verdict v;           /* the local verdict (an ALLOW) */
    int level;
    int64_t cost, now;
    uint64_t start_ms;
    int waiting;                   /* replies still to come (1 or 2) */
    int failed;                    /* a reply was missing or nonsense */
    int have[2];                   /* 0 chain, 1 server: a result came */
    maillimit__cluster_result res[2];
    struct chain ch;
    char *name;
};

enum { OUT_CHAIN = 1, OUT_SERVER = 2 }; /* what an outage's decision still has to charge */

struct outage {
    int level, parts;
    int64_t cost, now;
    char *name;
};

struct maillimit__cluster {
    maillimit_server *s;
    redisAsyncContext *ac;
    int state;
    int down_logged;          /* "unreachable" said since the last UP */
    char sha[41];
    uv_timer_t timer;         /* reconnects, request deadlines */
    int timer_on;
    uint64_t connect_ms;      /* when the current attempt started */
    uint64_t next_connect_ms;
    maillimit__cluster_req *head, *tail;
    struct submap subs;
    struct outage *outage;
    size_t noutage, outage_dropped;
    redisContext *sync;       /* admin status */
    char prefix[80];
    uint64_t fallbacks;       /* decisions taken locally while cluster_redis is set */
    int64_t batch_now, batch_cost; /* the unlimited server total not yet charged */
    uint64_t batch_ms;
    uint64_t ping_ms;         /* the last PING (a connection without decisions is checked) */
    int ping_wait;
    int unflushed;            /* script calls since the last early write */
};

static void cl_log_down(maillimit__cluster *cl, const char *why)
{
    if (cl->down_logged)
        return;
    cl->down_logged = 1;
    slog(cl->s, MAILLIMIT_SERVER_LOG_WARNING,
         "cluster: Redis at %s unavailable (%s); deciding with "
         "the local counters until it answers", cl->s->conf.cluster.spec, why);
}

static void outage_add(maillimit__cluster *cl, int level, const char *name, int64_t cost,
                       int64_t now, int parts)
{
    cl->fallbacks++;
    if (cl->noutage >= OUTAGE_MAX) {
        cl->outage_dropped++;
        return;
    }
    if (!cl->outage && !(cl->outage = malloc(OUTAGE_MAX * sizeof *cl->outage))) {
        cl->outage_dropped++;
        return;
    }
    char *n = strdup(name);
    if (!n) {
        cl->outage_dropped++;
        return;
    }
    cl->outage[cl->noutage++] = (struct outage){ level, parts, cost, now, n };
}

/* The keys and limits of a sender's chain (the local reservation made its entities exist). */
static int chain_build(maillimit__cluster *cl, maillimit *ml, int level, const char *name,
                       int reason, struct chain *ch)
{
    memset(ch, 0, sizeof *ch);
    int64_t h = -1, d = -1;
    const int srv = MAILLIMIT_LEVEL_SERVER;
    if (maillimit_limit_effective(ml, srv, NULL, MAILLIMIT_WINDOW_HOUR, &h) == 0 &&
        maillimit_limit_effective(ml, srv, NULL, MAILLIMIT_WINDOW_DAY, &d) == 0 &&
        (h >= 0 || d >= 0)) {
        ch->server = 1;
        ch->shour = h;
        ch->sday = d;
    }
    maillimit__cluster_key(ch->skey, sizeof ch->skey, cl->prefix, MAILLIMIT_LEVEL_SERVER, NULL,
                           NULL);
    if (reason == MAILLIMIT_REASON_UNKNOWN)
        return 0;
    char low[MAILLIMIT_NAME_BUFFER];
    lower(low, name, sizeof low);
    if (submap_refresh(&cl->subs, ml) != 0)
        return MAILLIMIT_ENOMEM;
    const char *sub = NULL, *dom = NULL, *subname = NULL;
    switch (level) {
    case MAILLIMIT_LEVEL_MAILBOX: {
        const char *at = strrchr(low, '@');
        if (!at)
            return MAILLIMIT_ENOTFOUND;
        dom = at + 1;
        sub = submap_get(&cl->subs, 'd', dom);
        break;
    }
    case MAILLIMIT_LEVEL_DOMAIN:
        dom = low;
        sub = submap_get(&cl->subs, 'd', dom);
        break;
    case MAILLIMIT_LEVEL_SUBSCRIPTION:
        if (maillimit_limit_effective(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, low,
                                      MAILLIMIT_WINDOW_HOUR, &h) == 0)
            sub = low;
        else
            sub = submap_get(&cl->subs, 'u', low);
        break;
    default: return MAILLIMIT_EINVAL;
    }
    if (!sub)
        return MAILLIMIT_ENOTFOUND;
    subname = sub;
    const int lv[3] = { MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN,
                        MAILLIMIT_LEVEL_SUBSCRIPTION };
    const char *nm[3] = { low, dom, subname };
    for (int i = 0; i < 3; i++) {
        if (lv[i] > level)
            continue; /* above the sender: MAILBOX 4 > DOMAIN 3 > SUBSCRIPTION 2 */
        int k = ch->n;
        if (maillimit_limit_effective(ml, lv[i], nm[i], MAILLIMIT_WINDOW_HOUR,
                                      &ch->hour[k]) != 0 ||
            maillimit_limit_effective(ml, lv[i], nm[i], MAILLIMIT_WINDOW_DAY, &ch->day[k]) != 0)
            return MAILLIMIT_ENOTFOUND;
        if (!maillimit__cluster_key(ch->key[k], sizeof ch->key[k], cl->prefix, lv[i], subname,
                                    nm[i]))
            return MAILLIMIT_ERANGE;
        ch->level[k] = lv[i];
        ch->limited |= ch->hour[k] >= 0 || ch->day[k] >= 0;
        ch->n++;
    }
    return 0;
}

/* ---- talking to Redis -------------------------------------------------------------------- */

/* The libuv adapter's poll callback, as hiredis 1.x has it: hiredis 0.14's ignores a poll
 * error (libuv reports POLLERR, e.g. a connection reset by a killed Redis, as a status and
 * stops the handle), so the connection was never seen to be gone. Here an error makes
 * hiredis read and write as it asked to, and so find the error itself. The adapter's other
 * parts (attach, cleanup, its event record) are used as they are. */
static void poll_cb(uv_poll_t *handle, int status, int events)
{
    redisLibuvEvents *p = handle->data;
    int ev = status ? p->events : events;
    if (p->context && (ev & UV_READABLE))
        redisAsyncHandleRead(p->context);
    if (p->context && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(p->context);
}

static void poll_update(redisLibuvEvents *p)
{
    if (p->events)
        uv_poll_start(&p->handle, p->events, poll_cb);
    else
        uv_poll_stop(&p->handle);
}

static void ev_add_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    p->events |= UV_READABLE;
    poll_update(p);
}

static void ev_del_read(void *privdata)
{
    redisLibuvEvents *p = privdata;
    p->events &= ~UV_READABLE;
    poll_update(p);
}

static void ev_add_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    p->events |= UV_WRITABLE;
    poll_update(p);
}

static void ev_del_write(void *privdata)
{
    redisLibuvEvents *p = privdata;
    p->events &= ~UV_WRITABLE;
    poll_update(p);
}

static void on_reply(redisAsyncContext *ac, void *r, void *priv);
static void cl_connect(maillimit__cluster *cl);
static void cl_fail(maillimit__cluster *cl, const char *why);

/* Decimal digits of v, written at p; returns the end. */
static char *put_u(char *p, unsigned long long v)
{
    char t[20];
    int n = 0;
    do
        t[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        *p++ = t[--n];
    return p;
}

static char *put_i(char *p, long long v)
{
    if (v >= 0)
        return put_u(p, (unsigned long long)v);
    *p++ = '-';
    return put_u(p, 0ull - (unsigned long long)v);
}

/* Send one script call: keys[0..nk) with their limits (hour[i], day[i]); mode. The command
 * is written in Redis's protocol here and handed over whole (redisAsyncFormattedCommand):
 * hiredis's own formatter (redisAsyncCommandArgv, an sdscatfmt per argument) and snprintf
 * for the numbers were a seventh of a relay's time per decision. */
static int send_script(maillimit__cluster *cl, redisCallbackFn *fn, void *priv, int use_eval,
                       char keys[][KEY_MAX], int nk, const int64_t *hour, const int64_t *day,
                       int64_t now, int64_t cost, int mode)
{
    const char *argv[3 + MAXKEYS + 3 + 2 * MAXKEYS];
    size_t len[3 + MAXKEYS + 3 + 2 * MAXKEYS];
    char num[4 + 2 * MAXKEYS][24];
    int argc = 0, ni = 0;
#define ARG(p, l) (argv[argc] = (p), len[argc] = (l), argc++)
#define NUM(x) (ARG(num[ni], (size_t)(put_i(num[ni], (long long)(x)) - num[ni])), ni++)
    if (use_eval || !cl->sha[0]) {
        ARG("EVAL", 4);
        ARG(maillimit__cluster_script, sizeof maillimit__cluster_script - 1);
    } else {
        ARG("EVALSHA", 7);
        ARG(cl->sha, 40);
    }
    NUM(nk);
    for (int i = 0; i < nk; i++)
        ARG(keys[i], strlen(keys[i]));
    NUM(now);
    NUM(cost);
    NUM(mode);
    if (mode == MODE_DECIDE)
        for (int i = 0; i < nk; i++) {
            NUM(hour[i]);
            NUM(day[i]);
        }
#undef ARG
#undef NUM
    if (!cl->ac)
        return MAILLIMIT_EIO;
    size_t need = 24; /* "*N\r\n", then "$LEN\r\n" ARG "\r\n" per argument */
    for (int i = 0; i < argc; i++)
        need += len[i] + 24;
    char stack[4096], *buf = need <= sizeof stack ? stack : malloc(need);
    if (!buf)
        return MAILLIMIT_ENOMEM;
    char *p = buf;
    *p++ = '*';
    p = put_u(p, (unsigned)argc);
    *p++ = '\r';
    *p++ = '\n';
    for (int i = 0; i < argc; i++) {
        *p++ = '$';
        p = put_u(p, len[i]);
        *p++ = '\r';
        *p++ = '\n';
        memcpy(p, argv[i], len[i]);
        p += len[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    int rc = redisAsyncFormattedCommand(cl->ac, fn, priv, buf, (size_t)(p - buf)) == REDIS_OK
                 ? 0
                 : MAILLIMIT_EIO;
    if (buf != stack)
        free(buf);
    return rc;
}

static void req_send(maillimit__cluster_req *r, int which, int use_eval)
{
    maillimit__cluster *cl = r->cl;
    /* the callback's private pointer carries which call it is in its low bit */
    void *priv = (void *)((uintptr_t)r | (uintptr_t)which);
    int rc;
    if (which == 0)
        rc = send_script(cl, on_reply, priv, use_eval, r->ch.key, r->ch.n, r->ch.hour,
                         r->ch.day, r->now, r->cost, MODE_DECIDE);
    else
        rc = send_script(cl, on_reply, priv, use_eval, &r->ch.skey, 1, &r->ch.shour,
                         &r->ch.sday, r->now, r->cost, MODE_DECIDE);
    if (rc)
        r->failed = 1;
    else
        r->waiting++;
}

/* A fire-and-forget charge (cost < 0: a refund) of keys at time now. */
static void charge(maillimit__cluster *cl, char keys[][KEY_MAX], int nk, int64_t now,
                   int64_t cost)
{
    if (cl->state == ST_UP && nk > 0)
        send_script(cl, NULL, NULL, 0, keys, nk, NULL, NULL, now, cost, MODE_CHARGE);
}

/* The server total without a limit: charged in batches (one call per minute slot and
 * BATCH_MS at most) instead of a call per decision; the shared count lags by that much. */
static void server_flush(maillimit__cluster *cl)
{
    if (!cl->batch_cost || cl->state != ST_UP)
        return;
    char key[1][KEY_MAX];
    maillimit__cluster_key(key[0], sizeof key[0], cl->prefix, MAILLIMIT_LEVEL_SERVER, NULL, NULL);
    charge(cl, key, 1, cl->batch_now, cl->batch_cost);
    cl->batch_cost = 0;
}

static void server_add(maillimit__cluster *cl, int64_t now, int64_t cost)
{
    if (cl->batch_cost && (now / 60 != cl->batch_now / 60))
        server_flush(cl);
    if (!cl->batch_cost) {
        cl->batch_now = now;
        cl->batch_ms = uv_now(cl->s->loop);
    }
    cl->batch_cost += cost;
}

static void req_unlink(maillimit__cluster *cl, maillimit__cluster_req *r)
{
    maillimit__cluster_req **pp = &cl->head, *prev = NULL;
    while (*pp && *pp != r) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = r->next;
    if (cl->tail == r)
        cl->tail = prev;
}

/* All replies of r are in (or it failed): the verdict, the local token, the caller. */
static void req_finish(maillimit__cluster_req *r)
{
    maillimit__cluster *cl = r->cl;
    maillimit *ml = cl->s->ml;
    req_unlink(cl, r);
    maillimit_verdict v = r->v;
    int chain_charged = r->ch.n && r->have[0] && r->res[0].allowed;
    int server_charged = r->ch.server && r->have[1] && r->res[1].allowed;
    int refused = (r->ch.n && r->have[0] && !r->res[0].allowed) ||
                  (r->ch.server && r->have[1] && !r->res[1].allowed);
    int complete = (r->ch.n == 0 || r->have[0]) && (!r->ch.server || r->have[1]);
    if (!refused && !complete) {
        /* Redis did not decide (a refusal from either part would be final): the local
         * verdict stands, and what Redis did not charge is charged with the outage's once
         * it is back (nothing twice, nothing refunded on a lost connection) */
        maillimit_commit(ml, r->token);
        outage_add(cl, r->level, r->name, r->cost, r->now,
                   (chain_charged || !r->ch.n ? 0 : OUT_CHAIN) |
                   (server_charged ? 0 : OUT_SERVER));
    } else if (!refused) {
        maillimit_commit(ml, r->token);
        if (!r->ch.server) /* the server total without a limit: counted for status */
            server_add(cl, r->now, r->cost);
        if (r->ch.n) {
            v.count = r->res[0].own;
            v.limit = r->ch.hour[0];
        }
    } else {
        maillimit_release(ml, r->token);
        /* the part that allowed gave back (a lost connection leaves it counted: stricter) */
        if (chain_charged)
            charge(cl, r->ch.key, r->ch.n, r->now, -r->cost);
        if (server_charged)
            charge(cl, &r->ch.skey, 1, r->now, -r->cost);
        /* the refusing counter: the chain's, or the server's; the larger retry_after wins,
         * -1 (never) above all, ties to the higher level (the server) */
        const maillimit__cluster_result *c =
            r->ch.n && r->have[0] && !r->res[0].allowed ? &r->res[0] : NULL;
        const maillimit__cluster_result *sv =
            r->ch.server && r->have[1] && !r->res[1].allowed ? &r->res[1] : NULL;
        int use_server = sv != NULL;
        if (c && sv) {
            int64_t a = c->retry_after < 0 ? INT64_MAX : c->retry_after;
            int64_t b = sv->retry_after < 0 ? INT64_MAX : sv->retry_after;
            use_server = b >= a;
        }
        const maillimit__cluster_result *d = use_server ? sv : c;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        v.decision = MAILLIMIT_DENY;
        v.reason = MAILLIMIT_REASON_LIMIT;
        v.level = use_server ? MAILLIMIT_LEVEL_SERVER : r->ch.level[d->index];
        v.window = d->window;
        v.limit = d->limit;
        v.count = d->count;
        v.retry_after = d->retry_after;
        v.token = 0;
    }
    if (r->done)
        r->done(r->ud, &v);
    free(r->name);
    free(r);
}

static int reply_ints(const redisReply *rep, long long *v, size_t max, size_t *n)
{
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements > max)
        return -1;
    for (size_t i = 0; i < rep->elements; i++) {
        if (!rep->element[i] || rep->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
        v[i] = rep->element[i]->integer;
    }
    *n = rep->elements;
    return 0;
}

int maillimit__cluster_reply(const void *reply, int nkeys, maillimit__cluster_result *out)
{
    long long v[8];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (reply_ints(reply, v, 8, &n) != 0)
        return MAILLIMIT_EFORMAT;
    return maillimit__cluster_reply_parse(v, n, nkeys, out);
}

static void on_reply(redisAsyncContext *ac, void *rv, void *priv)
{
    (void)ac;
    redisReply *rep = rv;
    int which = (int)((uintptr_t)priv & 1);
    maillimit__cluster_req *r = (maillimit__cluster_req *)((uintptr_t)priv & ~(uintptr_t)1);
    maillimit__cluster *cl = r->cl;
    r->waiting--;
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0 &&
        cl->state == ST_UP) {
        /* the script cache was flushed: run the text, and load it again for the next */
        const char *argv[3] = { "SCRIPT", "LOAD", maillimit__cluster_script };
        size_t len[3] = { 6, 4, sizeof maillimit__cluster_script - 1 };
        if (which == 0)
            redisAsyncCommandArgv(cl->ac, NULL, NULL, 3, argv, len);
        req_send(r, which, 1);
        if (!r->failed)
            return;
    } else {
        int nk = which ? 1 : r->ch.n;
        if (!rep) {
            r->failed = 1; /* the connection is gone (cl_fail, or Redis closed it) */
            if (cl->state == ST_UP) {
                cl->state = ST_DOWN;
                cl->sha[0] = '\0';
                cl->next_connect_ms = uv_now(cl->s->loop) + RECONNECT_MS;
                cl_log_down(cl, "connection lost");
            }
        } else if (maillimit__cluster_reply(rep, nk, &r->res[which]) != 0) {
            r->failed = 1;
            char why[160];
            snprintf(why, sizeof why, "unexpected reply to the script%s%.100s",
                     rep->type == REDIS_REPLY_ERROR ? ": " : "",
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "");
            if (cl->state == ST_UP)
                cl_fail(cl, why);
        } else {
            r->have[which] = 1;
        }
    }
    if (r->waiting == 0)
        req_finish(r);
}

static void on_script_loaded(redisAsyncContext *ac, void *rv, void *priv)
{
    (void)ac;
    (void)priv;
    maillimit__cluster *cl = ac->data;
    redisReply *rep = rv;
    if (!cl || cl->ac != ac)
        return;
    if (!rep || rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        char why[200];
        snprintf(why, sizeof why, "AUTH, SELECT or SCRIPT LOAD failed%s%.150s",
                 rep && rep->type == REDIS_REPLY_ERROR ? ": " : "",
                 rep && rep->type == REDIS_REPLY_ERROR ? rep->str : "");
        cl_fail(cl, why);
        return;
    }
    memcpy(cl->sha, rep->str, 40);
    cl->sha[40] = '\0';
    cl->state = ST_UP;
    cl->ping_wait = 0;
    cl->ping_ms = uv_now(cl->s->loop);
    size_t replayed = 0;
    int64_t now = (int64_t)time(NULL);
    maillimit *ml = cl->s->ml;
    for (size_t i = 0; i < cl->noutage; i++) {
        struct outage *o = &cl->outage[i];
        struct chain ch;
        if (now - o->now < 25 * 3600 &&
            chain_build(cl, ml, o->level, o->name, MAILLIMIT_REASON_NONE, &ch) == 0) {
            if (o->parts & OUT_CHAIN)
                charge(cl, ch.key, ch.n, o->now, o->cost);
            if (o->parts & OUT_SERVER)
                server_add(cl, o->now, o->cost);
            replayed++;
        }
        free(o->name);
    }
    if (cl->down_logged || cl->noutage)
        slog(cl->s, MAILLIMIT_SERVER_LOG_INFO,
             "cluster: Redis at %s answers again: shared counters "
             "from now on; %zu decision(s) taken alone added to them%s",
             cl->s->conf.cluster.spec, replayed,
             cl->outage_dropped ? " (some were not kept: more than 65536)" : "");
    else
        slog(cl->s, MAILLIMIT_SERVER_LOG_INFO, "cluster: counters shared through Redis at %s",
             cl->s->conf.cluster.spec);
    cl->noutage = 0;
    cl->outage_dropped = 0;
    cl->down_logged = 0;
    server_flush(cl);
}

/* AUTH and SELECT: an error reply ends the attempt (with Redis's reason in the log). */
static void on_setup(redisAsyncContext *ac, void *rv, void *priv)
{
    redisReply *rep = rv;
    maillimit__cluster *cl = ac->data;
    if (!cl || cl->ac != ac || !rep || rep->type != REDIS_REPLY_ERROR)
        return;
    char why[200];
    snprintf(why, sizeof why, "%s refused: %.150s", (const char *)priv, rep->str);
    cl_fail(cl, why);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    maillimit__cluster *cl = ac->data;
    if (!cl || cl->ac != ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback */
        cl->ac = NULL;
        cl->state = ST_DOWN;
        cl_log_down(cl, ac->errstr[0] ? ac->errstr : "cannot connect");
    }
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    maillimit__cluster *cl = ac->data;
    if (!cl || cl->ac != ac)
        return;
    cl->ac = NULL;
    cl->state = ST_DOWN;
    cl->sha[0] = '\0';
    cl_log_down(cl, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* Give up the connection: every waiting decision takes its local verdict now. */
static void cl_fail(maillimit__cluster *cl, const char *why)
{
    cl->state = ST_DOWN;
    cl->sha[0] = '\0';
    cl_log_down(cl, why);
    redisAsyncContext *ac = cl->ac;
    cl->ac = NULL;
    cl->next_connect_ms = uv_now(cl->s->loop) + RECONNECT_MS;
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac); /* calls the pending callbacks with no reply */
    }
}

static void cl_connect(maillimit__cluster *cl)
{
    const maillimit__conf *c = &cl->s->conf;
    cl->connect_ms = uv_now(cl->s->loop);
    cl->next_connect_ms = cl->connect_ms + RECONNECT_MS;
    redisAsyncContext *ac = c->cluster.unix_ ? redisAsyncConnectUnix(c->cluster.path)
                                             : redisAsyncConnect(c->cluster.host, c->cluster.port);
    if (!ac) {
        cl_log_down(cl, "out of memory");
        return;
    }
    if (ac->err) {
        cl_log_down(cl, ac->errstr);
        redisAsyncFree(ac);
        return;
    }
    ac->data = cl;
    ac->c.reader->fn = &maillimit__cluster_reply_fns;
    if (redisLibuvAttach(ac, cl->s->loop) != REDIS_OK) {
        cl_log_down(cl, "cannot attach to the loop");
        redisAsyncFree(ac);
        return;
    }
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    cl->ac = ac;
    cl->state = ST_CONNECTING;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (c->cluster_password) {
        if (c->cluster_user) {
            const char *argv[3] = { "AUTH", c->cluster_user, c->cluster_password };
            size_t len[3] = { 4, strlen(argv[1]), strlen(argv[2]) };
            redisAsyncCommandArgv(ac, on_setup, (void *)"AUTH", 3, argv, len);
        } else {
            const char *argv[2] = { "AUTH", c->cluster_password };
            size_t len[2] = { 4, strlen(argv[1]) };
            redisAsyncCommandArgv(ac, on_setup, (void *)"AUTH", 2, argv, len);
        }
    }
    if (c->cluster_database) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->cluster_database);
        const char *argv[2] = { "SELECT", db };
        size_t len[2] = { 6, strlen(db) };
        redisAsyncCommandArgv(ac, on_setup, (void *)"SELECT", 2, argv, len);
    }
    /* a failed AUTH or SELECT makes Redis refuse the script load too (NOAUTH), or the
     * later calls go to the wrong database: checked by the first reply being a hash */
    const char *argv[3] = { "SCRIPT", "LOAD", maillimit__cluster_script };
    size_t len[3] = { 6, 4, sizeof maillimit__cluster_script - 1 };
    redisAsyncCommandArgv(ac, on_script_loaded, NULL, 3, argv, len);
}

static void on_pong(redisAsyncContext *ac, void *rv, void *priv)
{
    (void)rv;
    (void)priv;
    maillimit__cluster *cl = ac->data;
    if (cl && cl->ac == ac)
        cl->ping_wait = 0;
}

static void on_timer(uv_timer_t *t)
{
    maillimit__cluster *cl = t->data;
    uint64_t now = uv_now(cl->s->loop);
    uint64_t timeout = (uint64_t)cl->s->conf.cluster_timeout;
    if (cl->head && now - cl->head->start_ms >= timeout) {
        char why[80];
        snprintf(why, sizeof why, "no answer within %llu ms", (unsigned long long)timeout);
        cl_fail(cl, why);
        return;
    }
    if (cl->state == ST_UP && cl->ping_wait && now - cl->ping_ms >= timeout) {
        char why[80];
        snprintf(why, sizeof why, "no answer to PING within %llu ms", (unsigned long long)timeout);
        cl_fail(cl, why);
        return;
    }
    if (cl->state == ST_UP && !cl->ping_wait && now - cl->ping_ms >= RECONNECT_MS && cl->ac) {
        const char *argv[1] = { "PING" };
        size_t len[1] = { 4 };
        if (redisAsyncCommandArgv(cl->ac, on_pong, NULL, 1, argv, len) == REDIS_OK) {
            cl->ping_wait = 1;
            cl->ping_ms = now;
        }
    }
    if (cl->state == ST_CONNECTING && now - cl->connect_ms >= RECONNECT_MS) {
        cl_fail(cl, "no answer to the connection within 1 s");
        return;
    }
    if (cl->state == ST_DOWN && now >= cl->next_connect_ms && !cl->s->stopping)
        cl_connect(cl);
    if (cl->batch_cost && now - cl->batch_ms >= BATCH_MS)
        server_flush(cl);
}

/* ---- the server's side --------------------------------------------------------------------- */

int maillimit__cluster_open(maillimit_server *s)
{
    if (!s->conf.ncluster || s->cluster)
        return 0;
    maillimit__cluster *cl = calloc(1, sizeof *cl);
    if (!cl)
        return MAILLIMIT_ENOMEM;
    cl->s = s;
    snprintf(cl->prefix, sizeof cl->prefix, "%s",
             s->conf.cluster_prefix ? s->conf.cluster_prefix : "maillimit:");
    uv_timer_init(s->loop, &cl->timer);
    cl->timer.data = cl;
    cl->timer_on = 1;
    uv_timer_start(&cl->timer, on_timer, CHECK_MS, CHECK_MS);
    uv_unref((uv_handle_t *)&cl->timer);
    s->cluster = cl;
    cl_connect(cl);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    maillimit__cluster *cl = h->data;
    cl->s->closing_handles--;
    free(cl);
}

void maillimit__cluster_close(maillimit_server *s)
{
    maillimit__cluster *cl = s->cluster;
    if (!cl)
        return;
    server_flush(cl); /* written before the connection is freed */
    s->cluster = NULL;
    redisAsyncContext *ac = cl->ac;
    cl->ac = NULL;
    cl->state = ST_DOWN;
    cl->down_logged = 1; /* nothing more to say */
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac); /* pending decisions take their local verdicts */
    }
    while (cl->head) /* requests whose commands never went out */
        req_finish(cl->head);
    if (cl->sync)
        redisFree(cl->sync);
    for (size_t i = 0; i < cl->noutage; i++)
        free(cl->outage[i].name);
    free(cl->outage);
    submap_clear(&cl->subs);
    /* the timer's close callback frees cl; the adapter's handle closes in the same turn */
    s->closing_handles++;
    cl->timer.data = cl;
    uv_close((uv_handle_t *)&cl->timer, on_timer_closed);
}

void maillimit__cluster_cancel(maillimit__cluster_req *r)
{
    if (r) {
        r->done = NULL;
        r->ud = NULL;
    }
}

int maillimit__cluster_decide(maillimit__cluster *cl, int level, const char *name, int64_t cost,
                              int64_t now, maillimit_verdict *v, maillimit__cluster_done done,
                              void *ud, maillimit__cluster_req **out)
{
    maillimit *ml = cl->s->ml;
    *out = NULL;
    int rc = maillimit_reserve(ml, level, name, cost, now, v);
    if (rc)
        return rc;
    if (v->decision == MAILLIMIT_DENY)
        return 0; /* the shared count is at least this relay's own */
    if (v->reason == MAILLIMIT_REASON_DISABLED) {
        /* the master switch off: allowed, and counted everywhere as if accepted (on all
         * relays, so that the counts are true when it is on again) */
        maillimit_commit(ml, v->token);
        struct chain *ch = malloc(sizeof *ch);
        if (ch && chain_build(cl, ml, level, name, MAILLIMIT_REASON_NONE, ch) == 0) {
            if (cl->state == ST_UP) {
                charge(cl, ch->key, ch->n, now, cost);
                server_add(cl, now, cost);
            } else {
                outage_add(cl, level, name, cost, now, OUT_CHAIN | OUT_SERVER);
            }
        }
        free(ch);
        return 0;
    }
    if (v->reason != MAILLIMIT_REASON_NONE && v->reason != MAILLIMIT_REASON_UNKNOWN) {
        maillimit_commit(ml, v->token); /* exempt: counted for no limit */
        return 0;
    }
    maillimit__cluster_req *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        maillimit_commit(ml, v->token);
        outage_add(cl, level, name, cost, now, OUT_CHAIN | OUT_SERVER);
        return 0;
    }
    if (chain_build(cl, ml, level, name, v->reason, &r->ch) != 0) {
        /* e.g. a name too long for a key: this relay decides alone */
        maillimit_commit(ml, v->token);
        cl->fallbacks++;
        free(r->name);
        free(r);
        return 0;
    }
    if (cl->state != ST_UP) {
        maillimit_commit(ml, v->token);
        outage_add(cl, level, name, cost, now, OUT_CHAIN | OUT_SERVER);
        free(r->name);
        free(r);
        return 0;
    }
    if (!r->ch.limited && !r->ch.server) {
        /* nothing to check: charge the shared counters for status and later limits */
        maillimit_commit(ml, v->token);
        charge(cl, r->ch.key, r->ch.n, now, cost);
        server_add(cl, now, cost);
        free(r->name);
        free(r);
        return 0;
    }
    r->cl = cl;
    r->done = done;
    r->ud = ud;
    r->token = v->token;
    r->v = *v;
    r->level = level;
    r->cost = cost;
    r->now = now;
    r->start_ms = uv_now(cl->s->loop);
    if (r->ch.n)
        req_send(r, 0, 0);
    if (r->ch.server && !r->failed)
        req_send(r, 1, 0);
    if (r->failed) {
        if (r->waiting == 0) {
            /* nothing went out: decide now, locally */
            maillimit_commit(ml, v->token);
            outage_add(cl, level, name, cost, now, OUT_CHAIN | OUT_SERVER);
            free(r->name);
            free(r);
            return 0;
        }
    }
    if (cl->tail)
        cl->tail->next = r;
    else
        cl->head = r;
    cl->tail = r;
    *out = r;
    /* Every EARLY_WRITE script calls, what is waiting goes out now rather than when the loop
     * next polls, so that Redis works on a batch while the relay reads the next requests
     * (one relay at 64 connections: +25-45 % throughput). A write per call would cost a
     * system call per decision: more CPU taken from a Redis on the same cores.
     * redisBufferWrite calls no callback: an error stays in the context, and the next
     * poll's redisAsyncHandleWrite acts on it. */
    if (cl->ac && (cl->ac->c.flags & REDIS_CONNECTED) && ++cl->unflushed >= EARLY_WRITE) {
        int all;
        cl->unflushed = 0;
        redisBufferWrite(&cl->ac->c, &all);
    }
    return MAILLIMIT__CLUSTER_PENDING;
}

int maillimit__cluster_count(maillimit_server *s, int level, const char *name, int window,
                             int64_t now, int64_t *out)
{
    maillimit__cluster *cl = s->cluster;
    if (!cl || level == MAILLIMIT_LEVEL_PLAN)
        return MAILLIMIT_ENOTFOUND;
    if (cl->state != ST_UP)
        return MAILLIMIT_EIO; /* the relay decides alone now: no waiting for a connect */
    if (!now)
        now = (int64_t)time(NULL);
    char key[KEY_MAX];
    char low[MAILLIMIT_NAME_BUFFER] = "";
    if (name)
        lower(low, name, sizeof low);
    const char *sub = NULL;
    if (level != MAILLIMIT_LEVEL_SERVER) {
        if (submap_refresh(&cl->subs, s->ml) != 0)
            return MAILLIMIT_ENOMEM;
        if (level == MAILLIMIT_LEVEL_SUBSCRIPTION)
            sub = low;
        else if (level == MAILLIMIT_LEVEL_DOMAIN)
            sub = submap_get(&cl->subs, 'd', low);
        else if (strrchr(low, '@'))
            sub = submap_get(&cl->subs, 'd', strrchr(low, '@') + 1);
        if (!sub)
            return MAILLIMIT_ENOTFOUND;
    }
    if (!maillimit__cluster_key(key, sizeof key, cl->prefix, level, sub, low))
        return MAILLIMIT_ERANGE;
    const maillimit__conf *c = &s->conf;
    struct timeval tv = { (time_t)(c->cluster_timeout / 1000),
                          (suseconds_t)(c->cluster_timeout % 1000) * 1000 };
    if (!cl->sync) {
        cl->sync = c->cluster.unix_ ? redisConnectUnixWithTimeout(c->cluster.path, tv)
                                    : redisConnectWithTimeout(c->cluster.host, c->cluster.port, tv);
        if (!cl->sync || cl->sync->err) {
            if (cl->sync)
                redisFree(cl->sync);
            cl->sync = NULL;
            return MAILLIMIT_EIO;
        }
        redisSetTimeout(cl->sync, tv);
        cl->sync->reader->fn = &maillimit__cluster_reply_fns;
        redisReply *rep = NULL;
        if (c->cluster_password)
            rep = c->cluster_user
                      ? redisCommand(cl->sync, "AUTH %s %s", c->cluster_user, c->cluster_password)
                      : redisCommand(cl->sync, "AUTH %s", c->cluster_password);
        if (rep)
            freeReplyObject(rep);
        rep = c->cluster_database ? redisCommand(cl->sync, "SELECT %d", c->cluster_database)
                                  : NULL;
        if (rep)
            freeReplyObject(rep);
    }
    char nowb[24];
    snprintf(nowb, sizeof nowb, "%lld", (long long)now);
    const char *argv[8] = { "EVAL", maillimit__cluster_script, "1", key, nowb, "0", "2" };
    size_t len[8] = { 4, sizeof maillimit__cluster_script - 1, 1, strlen(key), strlen(nowb), 1,
                      1 };
    redisReply *rep = redisCommandArgv(cl->sync, 7, argv, len);
    long long v[2];
    size_t n = 0;
    int rc = MAILLIMIT_EIO;
    if (rep && reply_ints(rep, v, 2, &n) == 0 && n == 2 && v[0] >= 0 && v[1] >= 0) {
        *out = window == MAILLIMIT_WINDOW_DAY ? v[1] : v[0];
        rc = 0;
    }
    if (rep)
        freeReplyObject(rep);
    if (rc || cl->sync->err) {
        redisFree(cl->sync);
        cl->sync = NULL;
    }
    return rc;
}

int maillimit__cluster_state(maillimit_server *s, uint64_t *fallbacks)
{
    if (!s->cluster)
        return -1;
    if (fallbacks)
        *fallbacks = s->cluster->fallbacks;
    return s->cluster->state == ST_UP;
}
