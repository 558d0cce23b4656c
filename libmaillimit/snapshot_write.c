/* SPDX-License-Identifier: MIT */
/* Saving a snapshot: the state captured under the configuration lock, encoded (records, then
 * report data) and written atomically to a file, or returned in memory. The format is
 * described in snapshot_internal.h and docs/snapshot-format.md.
 *
 * Saving. Under the configuration lock (so adds, removes and moves wait, deciders do not) the
 * live entities are listed with their parents, and the server's settings and lanes read.
 * Everything else (names are immutable; limits, flags, counters are single atomic words) is
 * read and encoded after the lock is released, while deciders keep deciding: the structure
 * is that of one instant, each value and each slot is read atomically, and a counter that
 * changes during the save is saved as one of its states during the save. The file is written
 * to PATH.tmp.<pid>.<random>, synced, renamed over PATH and the directory synced, so PATH
 * is always either the previous snapshot or the new one.
 *
 * Costs at the SPEC §8 size (tests/bench/bench_snapshot.c): a save reads each ring once (7
 * cache lines) and encodes about 90 bytes per mailbox.
 */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot_internal.h"

/* A live block's hour slot: (hour + 1) << 32 | count. */
#define SLOT_COUNT 0xffffffffull

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- saving: encode ---------------------------------------------------------------------- */

struct outbuf {
    char *data;
    size_t len, cap;
    int failed;
};

static int out_write(void *data, const char *buf, size_t len)
{
    struct outbuf *o = data;
    if (o->failed)
        return -1;
    if (o->cap - o->len < len) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap - o->len < len) {
            if (cap > SIZE_MAX / 2) {
                o->failed = 1;
                return -1;
            }
            cap *= 2;
        }
        char *p = realloc(o->data, cap);
        if (!p) {
            o->failed = 1;
            return -1;
        }
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->len, buf, len);
    o->len += len;
    return 0;
}

/* Grow the buffer to hold at least n bytes in all (a hint: failure is noticed later). */
static void out_reserve(struct outbuf *o, size_t n)
{
    if (n > o->cap) {
        char *p = realloc(o->data, n);
        if (p) {
            o->data = p;
            o->cap = n;
        }
    }
}

/* One live entity and its parent at the instant of the listing. */
struct item {
    struct maillimit__entity *e, *parent;
};

struct list {
    struct item *v;
    size_t n, cap;
};

static int list_push(struct list *l, struct maillimit__entity *e, struct maillimit__entity *p)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        struct item *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return MAILLIMIT_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct item){e, p};
    return 0;
}

/* What is read under the configuration lock. */
struct capture {
    struct list list[KINDS];
    int enabled, unit, sendmail;
    int64_t limit[MAILLIMIT__TARGETS][2], total[2];
    struct maillimit__counter server, unattributed;
};

static void capture_free(struct capture *c)
{
    for (int k = 0; k < KINDS; k++)
        free(c->list[k].v);
}

static int capture(maillimit *ml, struct capture *c)
{
    int rc = 0;
    memset(c, 0, sizeof *c);
    maillimit__config_begin(ml);
    for (struct maillimit__entity *e = ml->all; e && rc == 0; e = e->all_next) {
        if (atomic_load_explicit(&e->dead, memory_order_relaxed))
            continue;
        int k = kind_of_level(e->level);
        if (k < 0)
            continue;
        /* relaxed: parents change only under the configuration lock, which we hold */
        rc = list_push(&c->list[k], e, atomic_load_explicit(&e->parent, memory_order_relaxed));
    }
    struct maillimit__entity *s = ml->server;
    c->enabled = atomic_load_explicit(&ml->enabled, memory_order_relaxed);
    c->unit = atomic_load_explicit(&ml->unit, memory_order_relaxed);
    c->sendmail = atomic_load_explicit(&s->flag[MAILLIMIT_FLAG_SENDMAIL], memory_order_relaxed);
    for (int t = 0; t < MAILLIMIT__TARGETS; t++)
        for (int w = 0; w < 2; w++)
            c->limit[t][w] = atomic_load_explicit(&s->limit[t][w], memory_order_relaxed);
    for (int w = 0; w < 2; w++)
        c->total[w] = atomic_load_explicit(&ml->server_total[w], memory_order_relaxed);
    maillimit__ring_export(ml->lane, MAILLIMIT__LANES, &c->server);
    struct maillimit__ring *u =
        atomic_load_explicit(&ml->unattributed->ring, memory_order_acquire);
    c->unattributed.latest = -1;
    if (u)
        maillimit__ring_export(&u, 1, &c->unattributed);
    maillimit__config_end(ml);
    return rc;
}

static void pack_name(msgpack_packer *pk, const struct maillimit__entity *e)
{
    msgpack_pack_str(pk, e->len);
    msgpack_pack_str_body(pk, e->name, e->len);
}

static void pack_key(msgpack_packer *pk, const char *key)
{
    msgpack_pack_str(pk, strlen(key));
    msgpack_pack_str_body(pk, key, strlen(key));
}

static void pack_counter(msgpack_packer *pk, const struct maillimit__counter *c)
{
    if (c->latest < 0) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, 3);
    msgpack_pack_int64(pk, c->latest);
    msgpack_pack_array(pk, (size_t)c->nmin);
    for (int i = 0; i < c->nmin; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, c->min_p[i]);
        msgpack_pack_uint64(pk, c->min_c[i]);
    }
    msgpack_pack_array(pk, (size_t)c->nhour);
    for (int i = 0; i < c->nhour; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_uint32(pk, c->hour_p[i]);
        msgpack_pack_uint64(pk, c->hour_c[i]);
    }
}

static void pack_limits(msgpack_packer *pk, const struct maillimit__entity *e, int first)
{
    msgpack_pack_array(pk, (size_t)(MAILLIMIT_LEVEL_MAILBOX - first + 1) * 2);
    for (int t = first; t <= MAILLIMIT_LEVEL_MAILBOX; t++)
        for (int w = 0; w < 2; w++)
            msgpack_pack_int64(pk, atomic_load_explicit(
                                       &e->limit[t - MAILLIMIT_LEVEL_SUBSCRIPTION][w],
                                       memory_order_relaxed));
}

static void pack_flags(msgpack_packer *pk, const struct maillimit__entity *e, int n)
{
    msgpack_pack_array(pk, (size_t)n);
    if (n == 2)
        msgpack_pack_int64(pk, atomic_load_explicit(&e->flag[MAILLIMIT_FLAG_SENDMAIL],
                                                    memory_order_relaxed));
    msgpack_pack_int64(pk,
                       atomic_load_explicit(&e->flag[MAILLIMIT_FLAG_EXEMPT], memory_order_relaxed));
}

static void pack_entity_counter(msgpack_packer *pk, struct maillimit__entity *e)
{
    /* acquire: pairs with the CAS that publishes a new ring in maillimit__entity_ring() */
    struct maillimit__ring *r = atomic_load_explicit(&e->ring, memory_order_acquire);
    struct maillimit__counter c;
    c.latest = -1;
    if (r)
        maillimit__ring_export(&r, 1, &c);
    pack_counter(pk, &c);
}

static void pack_head(msgpack_packer *pk, const struct capture *c)
{
    msgpack_pack_map(pk, 3);
    pack_key(pk, "server");
    msgpack_pack_map(pk, 6);
    pack_key(pk, "enabled");
    if (c->enabled)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    pack_key(pk, "unit");
    msgpack_pack_int64(pk, c->unit);
    pack_key(pk, "sendmail");
    msgpack_pack_int64(pk, c->sendmail);
    pack_key(pk, "limits");
    msgpack_pack_array(pk, MAILLIMIT__TARGETS * 2);
    for (int t = 0; t < MAILLIMIT__TARGETS; t++)
        for (int w = 0; w < 2; w++)
            msgpack_pack_int64(pk, c->limit[t][w]);
    pack_key(pk, "total");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int64(pk, c->total[0]);
    msgpack_pack_int64(pk, c->total[1]);
    pack_key(pk, "counter");
    pack_counter(pk, &c->server);

    pack_key(pk, "stats");
    msgpack_pack_map(pk, 1);
    pack_key(pk, "unattributed");
    pack_counter(pk, &c->unattributed);

    pack_key(pk, "records");
    msgpack_pack_map(pk, KINDS);
    for (int k = 0; k < KINDS; k++) {
        pack_key(pk, kinds[k].key);
        msgpack_pack_uint64(pk, c->list[k].n);
    }
}

static void pack_record(msgpack_packer *pk, int k, const struct item *it)
{
    const struct kind *kd = &kinds[k];
    struct maillimit__entity *e = it->e;
    msgpack_pack_array(pk, (size_t)kd->fields);
    pack_name(pk, e);
    switch (k) {
    case K_PLAN:
        break;
    case K_SUBSCRIPTION:
        if (it->parent)
            pack_name(pk, it->parent);
        else
            msgpack_pack_nil(pk);
        break;
    case K_DOMAIN:
    case K_SYSUSER:
        if (it->parent)
            pack_name(pk, it->parent);
        else
            msgpack_pack_nil(pk); /* cannot happen: refused by the loader if it did */
        break;
    case K_MAILBOX:
        if (atomic_load_explicit(&e->implicit, memory_order_relaxed))
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
        break;
    }
    if (kd->first_target)
        pack_limits(pk, e, kd->first_target);
    if (kd->flags)
        pack_flags(pk, e, kd->flags);
    if (kd->counted)
        pack_entity_counter(pk, e);
}

/* ---- report data (version 2) ------------------------------------------------------------ */

/* One live block (or the server's blocks merged) by meaning: per kind (denied, exempt,
 * reset) the (hour, count) pairs of its slots in ascending hours, and the open episode. */
struct live_out {
    int n[3];
    uint32_t h[3][NH];
    uint32_t c[3][NH];
    int64_t ep[4];            /* start (0: none), free_at, denied, limit */
    int32_t window;
};

static _Atomic uint64_t *live_slots(struct maillimit__live *lv, int w)
{
    return w == 0 ? lv->denied : w == 1 ? lv->exempt : lv->reset;
}

/* Read blocks ls[0..nl) (NULL entries allowed); the episode is ls[0]'s. 1 if any data. */
static int live_export(struct maillimit__live *const *ls, int nl, struct live_out *o)
{
    memset(o, 0, sizeof *o);
    int any = 0;
    for (int w = 0; w < 3; w++) {
        uint64_t bh[NH] = {0}, bc[NH] = {0};
        int have[NH] = {0};
        for (int j = 0; j < nl; j++) {
            if (!ls[j])
                continue;
            _Atomic uint64_t *slots = live_slots(ls[j], w);
            for (int i = 0; i < NH; i++) {
                uint64_t v = atomic_load_explicit(&slots[i], memory_order_relaxed);
                uint64_t tag = v >> 32, c = v & SLOT_COUNT;
                if (!tag || !c)
                    continue;
                /* a slot holds one hour; an older one in another lane's block is stale */
                if (!have[i] || tag - 1 > bh[i]) {
                    have[i] = 1;
                    bh[i] = tag - 1;
                    bc[i] = c;
                } else if (tag - 1 == bh[i]) {
                    bc[i] = bc[i] + c > SLOT_COUNT ? SLOT_COUNT : bc[i] + c;
                }
            }
        }
        for (int i = 0; i < NH; i++) {
            if (!have[i])
                continue;
            int k = o->n[w]++;
            while (k > 0 && o->h[w][k - 1] > bh[i]) { /* ascending hours */
                o->h[w][k] = o->h[w][k - 1];
                o->c[w][k] = o->c[w][k - 1];
                k--;
            }
            o->h[w][k] = (uint32_t)bh[i];
            o->c[w][k] = (uint32_t)bc[i];
            any = 1;
        }
    }
    if (ls[0])
        maillimit__live_episode(ls[0], o->ep, &o->window);
    if (o->ep[1] < o->ep[0])
        o->ep[1] = o->ep[0]; /* as for closed episodes (pack_report()) */
    if (!o->ep[0]) {
        memset(o->ep, 0, sizeof o->ep);
        o->window = 0;
    }
    return any || o->ep[0];
}

static void pack_live(msgpack_packer *pk, const struct live_out *lo)
{
    msgpack_pack_array(pk, 4);
    for (int w = 0; w < 3; w++) {
        msgpack_pack_array(pk, (size_t)lo->n[w]);
        for (int i = 0; i < lo->n[w]; i++) {
            msgpack_pack_array(pk, 2);
            msgpack_pack_uint32(pk, lo->h[w][i]);
            msgpack_pack_uint32(pk, lo->c[w][i]);
        }
    }
    if (!lo->ep[0]) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, 5);
    for (int i = 0; i < 4; i++)
        msgpack_pack_int64(pk, lo->ep[i]);
    msgpack_pack_int64(pk, lo->window);
}

/* Pack the report objects of one entity (report lock held); returns how many. */
static uint32_t pack_report(msgpack_packer *pk, int level, const struct maillimit__entity *e,
                            struct maillimit__live *const *ls, int nl)
{
    struct live_out lo;
    int has_live = live_export(ls, nl, &lo);
    const struct maillimit__hist *h = e->hist;
    if (!h && !has_live)
        return 0;
    uint32_t chunks = 1;
    if (h) {
        uint32_t a = (h->n + REP_HOURS - 1) / REP_HOURS;
        uint32_t b = (h->nep + REP_EPISODES - 1) / REP_EPISODES;
        if (a > chunks)
            chunks = a;
        if (b > chunks)
            chunks = b;
    }
    for (uint32_t ch = 0; ch < chunks; ch++) {
        msgpack_pack_array(pk, 6);
        msgpack_pack_int64(pk, level);
        if (level > MAILLIMIT_LEVEL_SERVER)
            pack_name(pk, e);
        else
            msgpack_pack_nil(pk);
        if (h)
            msgpack_pack_uint32(pk, h->harvested);
        else
            msgpack_pack_nil(pk);
        uint32_t from = ch * REP_HOURS, n = h && from < h->n ? h->n - from : 0;
        if (n > REP_HOURS)
            n = REP_HOURS;
        msgpack_pack_array(pk, n);
        for (uint32_t i = from; i < from + n; i++) {
            msgpack_pack_array(pk, 4);
            msgpack_pack_uint32(pk, h->rec[i].hour);
            msgpack_pack_uint32(pk, h->rec[i].sent);
            msgpack_pack_uint32(pk, h->rec[i].denied);
            msgpack_pack_uint32(pk, h->rec[i].exempt);
        }
        from = ch * REP_EPISODES;
        n = h && from < h->nep ? h->nep - from : 0;
        if (n > REP_EPISODES)
            n = REP_EPISODES;
        msgpack_pack_array(pk, n);
        for (uint32_t i = from; i < from + n; i++) {
            msgpack_pack_array(pk, 5);
            msgpack_pack_int64(pk, h->ep[i].start);
            /* a reader whose clock was behind a decider's may have ended an episode before
             * it started: the file says it ended when it started */
            msgpack_pack_int64(pk, h->ep[i].end < h->ep[i].start ? h->ep[i].start
                                                                 : h->ep[i].end);
            msgpack_pack_int64(pk, h->ep[i].limit);
            msgpack_pack_int64(pk, h->ep[i].denied);
            msgpack_pack_int64(pk, h->ep[i].window);
        }
        if (ch == 0 && has_live)
            pack_live(pk, &lo);
        else
            msgpack_pack_nil(pk);
    }
    return chunks;
}

/* The reports section: under the report lock (deciders never take it), after queued episode
 * edges have been moved into history. */
static void pack_reports(maillimit *ml, msgpack_packer *pk, struct outbuf *o,
                         const struct capture *c)
{
    pthread_mutex_lock(&ml->report_lock);
    maillimit__report_drain(ml);
    msgpack_pack_map(pk, 2);
    pack_key(pk, "retention");
    msgpack_pack_int64(pk, ml->retention);
    pack_key(pk, "reports");
    size_t at = o->len;
    out_write(o, "\xce\0\0\0\0", 5); /* uint32, patched below */
    uint32_t n = 0;
    for (int k = K_SUBSCRIPTION; k <= K_MAILBOX; k++) {
        const struct item *v = c->list[k].v;
        for (size_t i = c->list[k].n; i-- > 0;) { /* record order */
            struct maillimit__live *lv = atomic_load_explicit(&v[i].e->live,
                                                              memory_order_acquire);
            n += pack_report(pk, v[i].e->level, v[i].e, &lv, 1);
        }
    }
    struct maillimit__live *ls[1 + MAILLIMIT__LANES];
    /* acquire: pairs with the CAS publishing a live block in maillimit__entity_live() */
    ls[0] = atomic_load_explicit(&ml->server->live, memory_order_acquire);
    for (int k = 0; k < MAILLIMIT__LANES; k++)
        ls[1 + k] = ml->lane_live[k];
    n += pack_report(pk, MAILLIMIT_LEVEL_SERVER, ml->server, ls, 1 + MAILLIMIT__LANES);
    ls[0] = atomic_load_explicit(&ml->unattributed->live, memory_order_acquire);
    n += pack_report(pk, LEVEL_UNATTRIBUTED, ml->unattributed, ls, 1);
    pthread_mutex_unlock(&ml->report_lock);
    if (!o->failed)
        put_be32((unsigned char *)o->data + at + 1, n);
}

/* Encode the whole state into a malloc'd buffer with header and trailer. */
static int encode_in_section(maillimit *ml, struct outbuf *o, const struct errbuf *eb);

/* The entities listed under the configuration lock are read after it is released: a read
 * section keeps a concurrent removal from freeing them meanwhile. */
static int encode(maillimit *ml, struct outbuf *o, const struct errbuf *eb)
{
    unsigned rs = maillimit__read_enter(ml);
    int rc = encode_in_section(ml, o, eb);
    maillimit__read_leave(ml, rs);
    return rc;
}

static int encode_in_section(maillimit *ml, struct outbuf *o, const struct errbuf *eb)
{
    struct capture c;
    int rc = capture(ml, &c);
    if (rc) {
        capture_free(&c);
        return fail(eb, rc, "out of memory");
    }
    /* Every entity with a parent was listed in the same locked walk as its parent, so the
     * parent is in the lists (removals kill subtrees; moves point at live entities). */
    msgpack_packer pk;
    msgpack_packer_init(&pk, o, out_write);
    unsigned char header[HEADER_SIZE];
    memcpy(header, SNAP_MAGIC, 8);
    put_be32(header + 8, SNAP_VERSION);
    put_be32(header + 12, 0);
    out_write(o, (const char *)header, sizeof header);
    size_t total = 0;
    for (int k = 0; k < KINDS; k++)
        total += c.list[k].n;
    out_reserve(o, 1024 + total * 96); /* about what a mailbox with counters takes */
    pack_head(&pk, &c);
    for (int k = 0; k < KINDS && !o->failed; k++) {
        const struct item *v = c.list[k].v;
        for (size_t i = c.list[k].n; i-- > 0 && !o->failed;) { /* oldest first */
            /* entities and rings are scattered in memory: fetch them a few records ahead */
            if (i >= 16)
                __builtin_prefetch(v[i - 16].e);
            if (i >= 8) {
                struct maillimit__ring *r =
                    atomic_load_explicit(&v[i - 8].e->ring, memory_order_relaxed);
                for (size_t b = 0; r && b < sizeof *r; b += 64)
                    __builtin_prefetch((const char *)r + b);
            }
            pack_record(&pk, k, &v[i]);
        }
    }
    if (!o->failed)
        pack_reports(ml, &pk, o, &c);
    capture_free(&c);
    if (!o->failed) {
        unsigned char trailer[TRAILER_SIZE];
        put_be32(trailer, maillimit__crc32c(o->data, o->len));
        out_write(o, (const char *)trailer, sizeof trailer);
    }
    if (o->failed) {
        free(o->data);
        o->data = NULL;
        return fail(eb, MAILLIMIT_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- saving: the file ------------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    /* a file system that cannot sync directories (EINVAL) has nothing more to do */
    return rc < 0 && errno != EINVAL ? -1 : 0;
}

static int write_file(const char *path, const struct outbuf *o, const struct errbuf *eb)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 48);
    if (!tmp)
        return fail(eb, MAILLIMIT_ENOMEM, "out of memory");
    snprintf(tmp, plen + 48, "%s.tmp.%ld.XXXXXX", path, (long)getpid());
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT | O_EXCL, mode 0600 */
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return fail(eb, MAILLIMIT_EIO, "cannot create a temporary file: %s", strerror(e));
    }
    const char *step = NULL;
    int e = 0;
    if (write_all(fd, o->data, o->len) < 0)
        step = "write";
    else if (fsync(fd) < 0)
        step = "fsync";
    if (step)
        e = errno;
    if (close(fd) < 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, path) < 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        unlink(tmp);
        int rc = fail(eb, MAILLIMIT_EIO, "%s of %s failed: %s", step, tmp, strerror(e));
        free(tmp);
        return rc;
    }
    free(tmp);
    if (sync_dir(path) < 0)
        return fail(eb, MAILLIMIT_EIO, "saved, but syncing its directory failed: %s",
                    strerror(errno));
    return 0;
}

int maillimit_snapshot_save_mem(maillimit *ml, void **out, size_t *outlen, char *err,
                                size_t errlen)
{
    struct errbuf eb = {"<memory>", err, errlen};
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    if (!ml || !out || !outlen)
        return fail(&eb, MAILLIMIT_EINVAL, "invalid argument");
    struct outbuf o = {0};
    int rc = encode(ml, &o, &eb);
    if (rc)
        return rc;
    *out = o.data;
    *outlen = o.len;
    ok_msg(err, errlen);
    return 0;
}

int maillimit_snapshot_save(maillimit *ml, const char *path, char *err, size_t errlen)
{
    struct errbuf eb = {path ? path : "<null>", err, errlen};
    if (!ml || !path || !*path)
        return fail(&eb, MAILLIMIT_EINVAL, "invalid argument");
    struct outbuf o = {0};
    int rc = encode(ml, &o, &eb);
    if (rc == 0)
        rc = write_file(path, &o, &eb);
    free(o.data);
    if (rc == 0)
        ok_msg(err, errlen);
    return rc;
}

void maillimit_buffer_free(void *p)
{
    free(p);
}
