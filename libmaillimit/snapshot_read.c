/* SPDX-License-Identifier: MIT */
/* Loading a snapshot: a safe msgpack reader and validator, the staging of every record into a
 * private handle (with a look-ahead over the records), the decoding of report data, and the
 * installation of the staged state. The format is described in snapshot_internal.h and
 * docs/snapshot-format.md.
 *
 * Loading. The whole file is read and checked (magic, checksum, version) before anything
 * else; then every record is decoded and validated into a private staging handle. Only when
 * all of it is valid is the staging state installed, under the configuration lock: the old
 * entities are marked dead and kept in the handle's list (deciders may still hold them), the
 * new name table is published with a release store (the old one goes to the retired chain),
 * server settings are stored, the rings deciders reach without the table (the server's lanes
 * and the unattributed counter) have their words exchanged in place, and the new entities
 * with counters join the list of entities with traffic that reports harvest. A failed load
 * changes nothing. Outstanding tokens of maillimit_reserve() are forgotten by a load: their
 * units stay counted as if committed.
 *
 * Report data (version 2): a load installs it under the report lock and rebuilds the list of
 * open episodes. Version-1 files load with empty reports.
 *
 * Reading untrusted input: every object is first measured by mp_extent(), which checks that
 * it is complete, well-formed and at most RECORD_MAX bytes and MP_DEPTH levels deep, before
 * msgpack-c unpacks it (into one zone reused for every object); so a forged length can never
 * make msgpack-c allocate more than a small multiple of RECORD_MAX.
 *
 * Costs at the SPEC §8 size (tests/bench/bench_snapshot.c): a load spends about a third of
 * its time in name-table lookups (a duplicate check per entity and a mailbox's domain), a
 * third in allocating and first touching the new entities and rings, and the rest decoding.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mpscan.h"
#include "snapshot_internal.h"

enum {
    MP_DEPTH = 8,         /* deepest nesting accepted (the format uses 5) */
    MIN_RECORD = 5,       /* the smallest record (a system user) takes at least 5 bytes */
    AHEAD = 16,           /* look-ahead ring of records (a power of two) */
    AHEAD_DIST = 12,      /* records looked at ahead of the one read */
    MIN_REPORT = 6,       /* the smallest report object takes at least 6 bytes */
    RETENTION_MAX = 87600 /* maillimit_retention_set() */
};

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- loading: reading msgpack safely ---------------------------------------------------- */

enum {
    MP_OK = MAILLIMIT__MP_OK,
    MP_TRUNCATED = MAILLIMIT__MP_TRUNCATED,
    MP_DEEP = MAILLIMIT__MP_DEEP
};

/* Measure the msgpack object at p[0..n) (mpscan.h): complete within n bytes, well-formed,
 * at most MP_DEPTH levels deep (the top object included). */
static int mp_extent(const unsigned char *p, size_t n, size_t *out)
{
    return maillimit__mp_measure(p, n, SIZE_MAX, MP_DEPTH - 1, out);
}

struct reader {
    uint32_t version;         /* the file's format version */
    const unsigned char *p;   /* the body */
    size_t off, end;
    msgpack_zone zone;        /* reused for every object */
    msgpack_object obj;       /* the object just read */
    struct errbuf eb;
    /* the record being read, described only for a message */
    const char *kind;         /* "head", or a record kind */
    uint64_t index;           /* 1-based within its kind */
    const char *name;         /* its (lower-cased) name once known, else NULL */
    char whatbuf[400];
    /* look-ahead over the records of a section (see look_ahead()) */
    struct ahead {
        size_t start, len;    /* the record's bytes */
        uint64_t h[2];        /* hashes of its name and of its parent's name */
        int nh;
    } ahead[AHEAD];
    size_t pf_off;            /* where the next record to look at starts */
    uint64_t pf_left;         /* records of the section not looked at yet */
    uint64_t pf_n, rd_n;      /* records looked at, and read, in the section */
};

static const char *what(struct reader *r)
{
    if (!r->index)
        snprintf(r->whatbuf, sizeof r->whatbuf, "%s", r->kind);
    else if (!r->name)
        snprintf(r->whatbuf, sizeof r->whatbuf, "%s %llu", r->kind,
                 (unsigned long long)r->index);
    else
        snprintf(r->whatbuf, sizeof r->whatbuf, "%s %llu \"%s\"", r->kind,
                 (unsigned long long)r->index, r->name);
    return r->whatbuf;
}

/* Unpack the next object of the body into r->obj (valid until the next call). */
static int next_object(struct reader *r)
{
    size_t avail = r->end - r->off, n = avail < RECORD_MAX ? avail : RECORD_MAX, len = 0;
    if (avail == 0)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: missing (the body ends early)", what(r));
    const struct ahead *a = &r->ahead[r->rd_n % AHEAD];
    int known = r->rd_n < r->pf_n && a->start == r->off;
    if (known)
        len = a->len; /* measured by look_ahead() */
    switch (known ? MP_OK : mp_extent(r->p + r->off, n, &len)) {
    case MP_OK:
        break;
    case MP_TRUNCATED:
        if (n < avail)
            return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: larger than %d bytes", what(r),
                        RECORD_MAX);
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: truncated msgpack", what(r));
    case MP_DEEP:
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: nested too deeply", what(r));
    default:
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: malformed msgpack", what(r));
    }
    size_t used = 0;
    msgpack_zone_clear(&r->zone);
    msgpack_unpack_return ur =
        msgpack_unpack((const char *)r->p + r->off, len, &used, &r->zone, &r->obj);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        return fail(&r->eb, MAILLIMIT_ENOMEM, "%s: out of memory", what(r));
    if (ur != MSGPACK_UNPACK_SUCCESS || used != len)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: malformed msgpack", what(r));
    r->off += len;
    r->rd_n++;
    return 0;
}

static int bad(struct reader *r, const char *field, const char *problem)
{
    return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s %s", what(r), field, problem);
}

static int get_int(struct reader *r, const msgpack_object *o, const char *field, int64_t lo,
                   int64_t hi, int64_t *out)
{
    *out = 0; /* defined on every path (the callers test rc first) */
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return bad(r, field, "is out of range");
        v = (int64_t)o->via.u64;
    } else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        v = o->via.i64;
    } else {
        return bad(r, field, "is not an integer");
    }
    if (v < lo || v > hi)
        return bad(r, field, "is out of range");
    *out = v;
    return 0;
}

static int get_bool(struct reader *r, const msgpack_object *o, const char *field, int *out)
{
    *out = 0;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return bad(r, field, "is not a boolean");
    *out = o->via.boolean ? 1 : 0;
    return 0;
}

static int get_array(struct reader *r, const msgpack_object *o, const char *field,
                     uint32_t n_or_max, int exact, const msgpack_object **items, uint32_t *n)
{
    *items = NULL;
    if (n)
        *n = 0;
    if (o->type != MSGPACK_OBJECT_ARRAY)
        return bad(r, field, "is not an array");
    if (exact ? o->via.array.size != n_or_max : o->via.array.size > n_or_max)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s has %u items, %s %u", what(r), field,
                    o->via.array.size, exact ? "expected" : "at most", n_or_max);
    *items = o->via.array.ptr;
    if (n)
        *n = o->via.array.size;
    return 0;
}

/* A name: a str of 1..320 bytes without NUL, valid for norm_level (maillimit__name_norm),
 * written lower-cased to buf. Returns its length or an error. */
static int get_name(struct reader *r, const msgpack_object *o, const char *field,
                    int norm_level, char *buf)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return bad(r, field, "is not a string");
    uint32_t n = o->via.str.size;
    if (n == 0 || n > MAILLIMIT_NAME_MAX)
        return bad(r, field, n ? "is longer than 320 bytes" : "is empty");
    if (memchr(o->via.str.ptr, '\0', n))
        return bad(r, field, "contains a NUL byte");
    char raw[MAILLIMIT_NAME_MAX + 1];
    memcpy(raw, o->via.str.ptr, n);
    raw[n] = '\0';
    const char *why = "is invalid";
    int len = maillimit__name_norm(norm_level, raw, buf, &why);
    if (len < 0)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s: %s", what(r), field, why);
    return len;
}

/* A map with exactly the given keys, each once; vals[i] gets the value of keys[i]. */
static int get_map(struct reader *r, const msgpack_object *o, const char *field,
                   const char *const *keys, int nkeys, const msgpack_object **vals)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return bad(r, field, "is not a map");
    for (int i = 0; i < nkeys; i++)
        vals[i] = NULL;
    for (uint32_t j = 0; j < o->via.map.size; j++) {
        const msgpack_object *k = &o->via.map.ptr[j].key;
        int i = 0;
        if (k->type == MSGPACK_OBJECT_STR)
            for (; i < nkeys; i++)
                if (strlen(keys[i]) == k->via.str.size &&
                    memcmp(keys[i], k->via.str.ptr, k->via.str.size) == 0)
                    break;
        if (k->type != MSGPACK_OBJECT_STR || i == nkeys)
            return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s has an unknown key", what(r), field);
        if (vals[i])
            return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s has key \"%s\" twice", what(r),
                        field, keys[i]);
        vals[i] = &o->via.map.ptr[j].val;
    }
    for (int i = 0; i < nkeys; i++)
        if (!vals[i])
            return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s lacks key \"%s\"", what(r), field,
                        keys[i]);
    return 0;
}

/* A list of [period, count] pairs: ascending periods within [latest - n + 1, latest],
 * counts >= 1. */
static int get_pairs(struct reader *r, const msgpack_object *o, const char *field, int n,
                     int64_t latest, uint32_t *period, uint64_t *count, int *out_n)
{
    *out_n = 0;
    const msgpack_object *it = NULL;
    uint32_t k = 0;
    int rc = get_array(r, o, field, (uint32_t)n, 0, &it, &k);
    if (rc)
        return rc;
    int64_t prev = -1;
    for (uint32_t i = 0; i < k; i++) {
        const msgpack_object *pair = NULL;
        int64_t p = 0, c = 0;
        if ((rc = get_array(r, &it[i], field, 2, 1, &pair, NULL)) ||
            (rc = get_int(r, &pair[0], field, latest - n + 1 < 0 ? 0 : latest - n + 1, latest,
                          &p)) ||
            (rc = get_int(r, &pair[1], field, 1, COUNT_MAX, &c)))
            return rc;
        if (p <= prev)
            return bad(r, field, "periods are not in ascending order");
        prev = p;
        period[i] = (uint32_t)p;
        count[i] = (uint64_t)c;
    }
    *out_n = (int)k;
    return 0;
}

/* A counter: nil (never counted) or [latest minute, minute pairs, hour pairs]. */
static int get_counter(struct reader *r, const msgpack_object *o, struct maillimit__counter *c)
{
    c->latest = -1;
    c->nmin = c->nhour = 0;
    if (o->type == MSGPACK_OBJECT_NIL)
        return 0;
    const msgpack_object *it = NULL;
    int rc = get_array(r, o, "counter", 3, 1, &it, NULL);
    if (rc == 0)
        rc = get_int(r, &it[0], "counter minute", -1, (int64_t)UINT32_MAX - 2, &c->latest);
    if (rc == 0)
        rc = get_pairs(r, &it[1], "counter minutes", NM, c->latest, c->min_p, c->min_c,
                       &c->nmin);
    if (rc == 0)
        rc = get_pairs(r, &it[2], "counter hours", NH, c->latest < 0 ? -1 : c->latest / NM,
                       c->hour_p, c->hour_c, &c->nhour);
    if (rc)
        return rc;
    /* every hour counts at least the units of its minutes */
    for (int i = 0; i < c->nmin;) {
        uint32_t h = c->min_p[i] / NM;
        uint64_t sum = 0;
        while (i < c->nmin && c->min_p[i] / NM == h)
            sum += c->min_c[i++];
        int j = 0;
        while (j < c->nhour && c->hour_p[j] != h)
            j++;
        if (j == c->nhour || c->hour_c[j] < sum)
            return fail(&r->eb, MAILLIMIT_EFORMAT,
                        "%s: counter hour %u counts fewer units than its minutes", what(r), h);
    }
    return 0;
}

static int get_limits(struct reader *r, const msgpack_object *o, int first, int server,
                      int64_t out[MAILLIMIT__TARGETS][2])
{
    const msgpack_object *it = NULL;
    int rc = get_array(r, o, "limits", (uint32_t)(MAILLIMIT_LEVEL_MAILBOX - first + 1) * 2, 1,
                       &it, NULL);
    for (int t = first, i = 0; rc == 0 && t <= MAILLIMIT_LEVEL_MAILBOX; t++)
        for (int w = 0; rc == 0 && w < 2; w++, i++)
            rc = get_int(r, &it[i], "limit", server ? MAILLIMIT_UNLIMITED : MAILLIMIT_DEFAULT,
                         INT64_MAX, &out[t - MAILLIMIT_LEVEL_SUBSCRIPTION][w]);
    return rc;
}

/* ---- loading: staging -------------------------------------------------------------------- */

struct staged {
    maillimit *st;                      /* holds the new table and entity list */
    struct maillimit__entity *tail;     /* the first entity made: the end of st->all */
    int enabled, unit, sendmail;
    int64_t limit[MAILLIMIT__TARGETS][2], total[2];
    /* the server's lanes and the unattributed counter, staged in rings no other thread sees;
     * install() puts their contents in place (maillimit__ring_replace()) */
    struct maillimit__ring lane[MAILLIMIT__LANES];
    struct maillimit__ring unattributed;
    /* entities with a counter, chained on active_next for the handle's list of entities
     * with traffic (maillimit__activate()) */
    struct maillimit__entity *active, *active_tail;
    struct maillimit__entity *last_domain; /* of the previous mailbox */
    int has_reports;                    /* version 2: retention and report data read */
    int64_t retention;
};

/* A new entity in the staging handle (as entity_make() in hierarchy.c). */
static struct maillimit__entity *entity_new(struct staged *s, int level, const char *name,
                                            size_t len, uint64_t hash,
                                            struct maillimit__entity *parent)
{
    struct maillimit__entity *e = calloc(1, maillimit__entity_size(len));
    if (!e)
        return NULL;
    maillimit__entity_init(e, level);
    atomic_init(&e->parent, parent);
    e->hint = parent ? atomic_load_explicit(&parent->parent, memory_order_relaxed) : NULL;
    e->len = (uint16_t)len;
    e->hash = hash;
    memcpy(e->name, name, len);
    if (maillimit__table_insert(s->st, e)) {
        free(e);
        return NULL;
    }
    e->all_prev = NULL;
    e->all_next = s->st->all;
    if (s->st->all)
        s->st->all->all_prev = e;
    s->st->all = e;
    if (!s->tail)
        s->tail = e;
    maillimit__entity_link(parent, e);
    return e;
}

static struct maillimit__entity *find(struct staged *s, int level, const char *name, size_t len)
{
    return maillimit__table_find(s->st, level, name, len,
                                 maillimit__name_hash(level, name, len));
}

static int read_head(struct reader *r, struct staged *s, uint64_t counts[KINDS])
{
    static const char *const top_keys[] = {"server", "stats", "records"};
    static const char *const server_keys[] = {"enabled", "unit", "sendmail", "limits",
                                              "total", "counter"};
    /* versions 1 and 2 also held "exempt" and "unknown", always 0 (checked, then ignored) */
    static const char *const stats_keys_v1[] = {"exempt", "unknown", "unattributed"};
    static const char *const stats_keys[] = {"unattributed"};
    int old_stats = r->version < 3;
    const char *record_keys[KINDS];
    for (int k = 0; k < KINDS; k++)
        record_keys[k] = kinds[k].key;
    r->kind = "head";
    r->index = 0;
    r->name = NULL;
    int rc = next_object(r);
    if (rc)
        return rc;
    const msgpack_object *top[3], *sv[6], *st[3], *rec[KINDS], *tot, *unattributed;
    int64_t v;
    struct maillimit__counter c;
    if ((rc = get_map(r, &r->obj, "the head", top_keys, 3, top)) ||
        (rc = get_map(r, top[0], "server", server_keys, 6, sv)) ||
        (rc = old_stats ? get_map(r, top[1], "stats", stats_keys_v1, 3, st)
                        : get_map(r, top[1], "stats", stats_keys, 1, st)) ||
        (rc = get_map(r, top[2], "records", record_keys, KINDS, rec)) ||
        (rc = get_bool(r, sv[0], "server enabled", &s->enabled)) ||
        (rc = get_int(r, sv[1], "server unit", 0, 1, &v)))
        return rc;
    s->unit = (int)v;
    if ((rc = get_int(r, sv[2], "server sendmail", 0, 1, &v)))
        return rc;
    s->sendmail = (int)v;
    if ((rc = get_limits(r, sv[3], MAILLIMIT_LEVEL_SUBSCRIPTION, 1, s->limit)) ||
        (rc = get_array(r, sv[4], "server total", 2, 1, &tot, NULL)) ||
        (rc = get_int(r, &tot[0], "server total", -1, INT64_MAX, &s->total[0])) ||
        (rc = get_int(r, &tot[1], "server total", -1, INT64_MAX, &s->total[1])) ||
        (rc = get_counter(r, sv[5], &c)) ||
        (old_stats && (rc = get_int(r, st[0], "stats exempt", 0, INT64_MAX, &v))) ||
        (old_stats && (rc = get_int(r, st[1], "stats unknown", 0, INT64_MAX, &v))))
        return rc;
    unattributed = st[old_stats ? 2 : 0];
    struct maillimit__counter u;
    if ((rc = get_counter(r, unattributed, &u)))
        return rc;
    if (maillimit__ring_import(&s->unattributed, &u, 0, 1))
        return fail(&r->eb, MAILLIMIT_ERANGE,
                    "head: the unattributed counter exceeds what this library can hold");
    for (int k = 0; k < MAILLIMIT__LANES; k++)
        if (maillimit__ring_import(&s->lane[k], &c, k, MAILLIMIT__LANES))
            return fail(&r->eb, MAILLIMIT_ERANGE,
                        "head: the server counter exceeds what this library can hold");
    /* every record takes at least MIN_RECORD bytes: a count beyond that is a lie */
    uint64_t sum = 0;
    for (int k = 0; k < KINDS; k++) {
        if ((rc = get_int(r, rec[k], "record count", 0, INT64_MAX, &v)))
            return rc;
        counts[k] = (uint64_t)v;
        sum += counts[k] > r->end ? r->end : counts[k];
    }
    if (sum > (r->end - r->off) / MIN_RECORD)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "head: %llu records cannot fit in %zu bytes",
                    (unsigned long long)sum, r->end - r->off);
    return 0;
}

/* ---- loading: looking ahead ------------------------------------------------------------ *
 * Most of a load's time would go to cache misses in the name table (a duplicate check per
 * record, a parent lookup per record). Records are laid out one after the other, so the loader
 * looks AHEAD_DIST records ahead: it measures each record, hashes its name and its parent's
 * name straight from the bytes, and prefetches their table slots; half-way it reads those
 * slots and prefetches the entities they hold. Nothing here is trusted: the record is
 * validated when it is read, and a wrong guess only costs a useless prefetch. */

/* A str object at p[0..n): its bytes, length and encoded size; NULL if not a str. */
static const unsigned char *peek_str(const unsigned char *p, size_t n, size_t *len,
                                     size_t *used)
{
    size_t hdr, l;
    if (n >= 1 && p[0] >= 0xa0 && p[0] <= 0xbf) {
        hdr = 1;
        l = p[0] & 0x1f;
    } else if (n >= 2 && p[0] == 0xd9) {
        hdr = 2;
        l = p[1];
    } else if (n >= 3 && p[0] == 0xda) {
        hdr = 3;
        l = (size_t)p[1] << 8 | p[2];
    } else {
        return NULL;
    }
    if (n - hdr < l || l == 0 || l > MAILLIMIT_NAME_MAX)
        return NULL;
    *len = l;
    *used = hdr + l;
    return p + hdr;
}

/* The table hash of a name as maillimit__name_norm() would spell it (if it is valid). */
static uint64_t peek_hash(int level, const unsigned char *p, size_t n)
{
    char buf[MAILLIMIT_NAME_MAX];
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + ('a' - 'A') : p[i]);
    return maillimit__name_hash(level, buf, n);
}

static void look_ahead(struct reader *r, struct staged *s, int k)
{
    struct maillimit__table *t = atomic_load_explicit(&s->st->table, memory_order_relaxed);
    if (r->pf_n >= AHEAD_DIST / 2) {
        const struct ahead *b = &r->ahead[(r->pf_n - AHEAD_DIST / 2) % AHEAD];
        for (int i = 0; i < b->nh; i++) {
            /* relaxed: the staging table has one thread, this one */
            struct maillimit__entity *e = maillimit__slot_entity(
                atomic_load_explicit(&t->slot[b->h[i] & t->mask], memory_order_relaxed));
            if (e) { /* what maillimit__table_find() compares: level, len, name */
                __builtin_prefetch(e);
                __builtin_prefetch(&e->len);
            }
        }
    }
    size_t avail = r->end - r->pf_off, n = avail < RECORD_MAX ? avail : RECORD_MAX, len;
    if (!r->pf_left || mp_extent(r->p + r->pf_off, n, &len) != MP_OK) {
        r->pf_left = 0; /* read_record() will say what is wrong */
        return;
    }
    struct ahead *a = &r->ahead[r->pf_n % AHEAD];
    const unsigned char *p = r->p + r->pf_off, *name, *pn;
    size_t nl, used, pl, u2;
    a->start = r->pf_off;
    a->len = len;
    a->nh = 0;
    if ((p[0] & 0xf0) == 0x90 && (name = peek_str(p + 1, len - 1, &nl, &used))) {
        a->h[a->nh++] = peek_hash(kinds[k].level, name, nl);
        const unsigned char *at = k == K_MAILBOX ? memchr(name, '@', nl) : NULL;
        if (at)
            a->h[a->nh++] = peek_hash(MAILLIMIT_LEVEL_DOMAIN, at + 1, nl - (size_t)(at + 1 - name));
        else if (k != K_PLAN && k != K_MAILBOX &&
                 (pn = peek_str(p + 1 + used, len - 1 - used, &pl, &u2)))
            a->h[a->nh++] = peek_hash(k == K_SUBSCRIPTION ? MAILLIMIT_LEVEL_PLAN
                                                          : MAILLIMIT_LEVEL_SUBSCRIPTION,
                                      pn, pl);
    }
    for (int i = 0; i < a->nh; i++)
        __builtin_prefetch(&t->slot[a->h[i] & t->mask]);
    r->pf_off += len;
    r->pf_left--;
    r->pf_n++;
}

static int read_record(struct reader *r, struct staged *s, int k, uint64_t index)
{
    const struct kind *kd = &kinds[k];
    r->kind = kd->what;
    r->index = index + 1;
    r->name = NULL;
    while (r->pf_left && r->pf_n < r->rd_n + AHEAD_DIST)
        look_ahead(r, s, k);
    int rc = next_object(r);
    if (rc)
        return rc;
    const msgpack_object *f;
    if ((rc = get_array(r, &r->obj, "the record", (uint32_t)kd->fields, 1, &f, NULL)))
        return rc;
    char name[MAILLIMIT_NAME_MAX + 1], pname[MAILLIMIT_NAME_MAX + 1];
    int len = get_name(r, &f[0], "name", kd->norm_level, name);
    if (len < 0)
        return len;
    r->name = name;
    if (find(s, kd->level, name, (size_t)len))
        return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: appears twice", what(r));

    /* the parent */
    struct maillimit__entity *parent = NULL;
    int implicit = 0, field = 1;
    if (k == K_SUBSCRIPTION || k == K_DOMAIN || k == K_SYSUSER) {
        int plevel = k == K_SUBSCRIPTION ? MAILLIMIT_LEVEL_PLAN : MAILLIMIT_LEVEL_SUBSCRIPTION;
        const char *pkind = k == K_SUBSCRIPTION ? "plan" : "subscription";
        if (!(k == K_SUBSCRIPTION && f[1].type == MSGPACK_OBJECT_NIL)) {
            int plen = get_name(r, &f[1], pkind, plevel, pname);
            if (plen < 0)
                return plen;
            if (!(parent = find(s, plevel, pname, (size_t)plen)))
                return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: %s \"%s\" is not in the snapshot",
                            what(r), pkind, pname);
        }
        field = 2;
    } else if (k == K_MAILBOX) {
        const char *dom = strchr(name, '@') + 1;
        size_t dlen = (size_t)len - (size_t)(dom - name);
        /* mailboxes of one domain often follow each other: skip the lookup then */
        if (s->last_domain && s->last_domain->len == dlen &&
            memcmp(s->last_domain->name, dom, dlen) == 0)
            parent = s->last_domain;
        else if ((parent = find(s, MAILLIMIT_LEVEL_DOMAIN, dom, dlen)))
            s->last_domain = parent;
        if (!parent)
            return fail(&r->eb, MAILLIMIT_EFORMAT, "%s: domain \"%s\" is not in the snapshot",
                        what(r), dom);
        if ((rc = get_bool(r, &f[1], "implicit", &implicit)))
            return rc;
        field = 2;
    }

    int64_t limit[MAILLIMIT__TARGETS][2];
    int64_t flag[2] = {MAILLIMIT_DEFAULT, MAILLIMIT_DEFAULT};
    struct maillimit__counter c = {.latest = -1};
    if (kd->first_target && (rc = get_limits(r, &f[field++], kd->first_target, 0, limit)))
        return rc;
    if (kd->flags) {
        const msgpack_object *fl;
        if ((rc = get_array(r, &f[field++], "flags", (uint32_t)kd->flags, 1, &fl, NULL)))
            return rc;
        for (int i = 0; i < kd->flags; i++) {
            int which = kd->flags == 2 ? i : MAILLIMIT_FLAG_EXEMPT;
            if ((rc = get_int(r, &fl[i], "flag", MAILLIMIT_DEFAULT, 1, &flag[which])))
                return rc;
            if (flag[which] == MAILLIMIT_UNLIMITED)
                return bad(r, "flag", "is out of range");
        }
    }
    struct maillimit__ring *ring = NULL;
    if (kd->counted) {
        if ((rc = get_counter(r, &f[field++], &c)))
            return rc;
        if (c.latest >= 0) {
            rc = maillimit__ring_import_new(&c, &ring);
            if (rc == MAILLIMIT_ERANGE)
                return fail(&r->eb, MAILLIMIT_ERANGE,
                            "%s: counter exceeds what this library can hold", what(r));
            if (rc)
                return fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
        }
    }

    struct maillimit__entity *e =
        entity_new(s, kd->level, name, (size_t)len, maillimit__name_hash(kd->level, name,
                                                                         (size_t)len),
                   parent);
    if (!e) {
        free(ring);
        return fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
    }
    atomic_init(&e->ring, ring);
    atomic_init(&e->implicit, (uint8_t)implicit);
    if (ring) {
        atomic_init(&e->active, 1);
        e->active_next = s->active;
        s->active = e;
        if (!s->active_tail)
            s->active_tail = e;
    }
    if (kd->first_target)
        for (int t = kd->first_target; t <= MAILLIMIT_LEVEL_MAILBOX; t++)
            for (int wi = 0; wi < 2; wi++)
                maillimit__limit_store(e, t - MAILLIMIT_LEVEL_SUBSCRIPTION, wi,
                                       limit[t - MAILLIMIT_LEVEL_SUBSCRIPTION][wi]);
    for (int i = 0; i < 2; i++)
        atomic_init(&e->flag[i], (int8_t)flag[i]);
    r->name = NULL; /* points into this frame */
    return 0;
}

/* ---- loading: report data (version 2) ------------------------------------------------ */

static void add_active(struct staged *s, struct maillimit__entity *e)
{
    if (atomic_load_explicit(&e->active, memory_order_relaxed))
        return;
    atomic_init(&e->active, 1);
    e->active_next = s->active;
    s->active = e;
    if (!s->active_tail)
        s->active_tail = e;
}

/* Hour slots of one kind: [[hour, count], ...] in ascending hours, at most one per slot. */
static int get_slots(struct reader *r, const msgpack_object *o, const char *field,
                     _Atomic uint64_t *slots)
{
    const msgpack_object *it = NULL;
    uint32_t k = 0;
    int rc = get_array(r, o, field, NH, 0, &it, &k);
    if (rc)
        return rc;
    int64_t prev = -1;
    uint32_t used = 0;
    for (uint32_t i = 0; i < k; i++) {
        const msgpack_object *pair = NULL;
        int64_t h, c;
        if ((rc = get_array(r, &it[i], field, 2, 1, &pair, NULL)) ||
            (rc = get_int(r, &pair[0], field, 0, (int64_t)UINT32_MAX - 1, &h)) ||
            (rc = get_int(r, &pair[1], field, 1, (int64_t)UINT32_MAX, &c)))
            return rc;
        if (h <= prev)
            return bad(r, field, "hours are not in ascending order");
        if (used & 1u << (h % NH))
            return bad(r, field, "hours share a slot (equal modulo 24)");
        used |= 1u << (h % NH);
        prev = h;
        atomic_store_explicit(&slots[h % NH], ((uint64_t)h + 1) << 32 | (uint64_t)c,
                              memory_order_relaxed);
    }
    return 0;
}

/* A live block: [denied slots, exempt slots, reset slots, open episode or nil]. */
static int get_live(struct reader *r, const msgpack_object *o, struct maillimit__live *lv)
{
    const msgpack_object *it = NULL, *ep;
    int rc = get_array(r, o, "live", 4, 1, &it, NULL);
    if (rc == 0)
        rc = get_slots(r, &it[0], "live denied", lv->denied);
    if (rc == 0)
        rc = get_slots(r, &it[1], "live exempt", lv->exempt);
    if (rc == 0)
        rc = get_slots(r, &it[2], "live reset", lv->reset);
    if (rc || it[3].type == MSGPACK_OBJECT_NIL)
        return rc;
    int64_t v[5];
    if ((rc = get_array(r, &it[3], "open episode", 5, 1, &ep, NULL)) ||
        (rc = get_int(r, &ep[0], "open episode start", 1, INT64_MAX, &v[0])) ||
        (rc = get_int(r, &ep[1], "open episode end", 0, INT64_MAX, &v[1])) ||
        (rc = get_int(r, &ep[2], "open episode denied", 0, INT64_MAX, &v[2])) ||
        (rc = get_int(r, &ep[3], "open episode limit", 0, INT64_MAX, &v[3])) ||
        (rc = get_int(r, &ep[4], "open episode window", 0, 1, &v[4])))
        return rc;
    if (v[1] < v[0])
        return bad(r, "open episode end", "is before its start");
    lv->ep_start = v[0];
    lv->ep_free_at = v[1];
    lv->ep_denied = v[2];
    lv->ep_limit = v[3];
    lv->ep_window = (int32_t)v[4];
    return 0;
}

/* One report object: [level, name or nil, harvested or nil, hours, episodes, live or nil].
 * *prev is the entity of the previous object (an entity's later chunks follow it). */
static int read_report(struct reader *r, struct staged *s, uint64_t index,
                       struct maillimit__entity **prev)
{
    r->kind = "report";
    r->index = index + 1;
    r->name = NULL;
    int rc = next_object(r);
    if (rc)
        return rc;
    const msgpack_object *f, *hours, *eps;
    uint32_t nh, ne;
    int64_t level, harvested = -1;
    char name[MAILLIMIT_NAME_MAX + 1];
    struct maillimit__entity *e;
    if ((rc = get_array(r, &r->obj, "the report", 6, 1, &f, NULL)) ||
        (rc = get_int(r, &f[0], "level", LEVEL_UNATTRIBUTED, MAILLIMIT_LEVEL_MAILBOX, &level)))
        return rc;
    if (level == MAILLIMIT_LEVEL_PLAN)
        return bad(r, "level", "is out of range (plans have no reports)");
    if (level <= MAILLIMIT_LEVEL_SERVER) {
        if (f[1].type != MSGPACK_OBJECT_NIL)
            return bad(r, "name", "must be nil for the server and the unattributed senders");
        e = level == MAILLIMIT_LEVEL_SERVER ? s->st->server : s->st->unattributed;
    } else {
        int len = get_name(r, &f[1], "name", (int)level, name);
        if (len < 0)
            return len;
        r->name = name;
        if (!(e = find(s, (int)level, name, (size_t)len))) {
            rc = fail(&r->eb, MAILLIMIT_EFORMAT, "%s: no such %s in the snapshot", what(r),
                      kinds[kind_of_level((int)level)].what);
            r->name = NULL;
            return rc;
        }
    }
    struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_relaxed);
    int cont = e == *prev;
    if (!cont && (e->hist || lv)) {
        rc = fail(&r->eb, MAILLIMIT_EFORMAT, "%s: appears twice", what(r));
        goto out;
    }
    if (f[2].type != MSGPACK_OBJECT_NIL &&
        (rc = get_int(r, &f[2], "harvested", 0, UINT32_MAX, &harvested)))
        goto out;
    if ((rc = get_array(r, &f[3], "hours", REP_HOURS, 0, &hours, &nh)) ||
        (rc = get_array(r, &f[4], "episodes", REP_EPISODES, 0, &eps, &ne)))
        goto out;
    if (cont) {
        if (!e->hist || harvested != (int64_t)e->hist->harvested) {
            rc = bad(r, "harvested", "differs from the entity's previous report");
            goto out;
        }
        if (f[5].type != MSGPACK_OBJECT_NIL) {
            rc = bad(r, "live", "is allowed in an entity's first report only");
            goto out;
        }
    } else if (harvested < 0 && f[5].type == MSGPACK_OBJECT_NIL) {
        rc = bad(r, "the report", "has neither history nor live figures");
        goto out;
    }
    if (harvested < 0 && (nh || ne)) {
        rc = bad(r, "history", "needs a harvested mark");
        goto out;
    }
    struct maillimit__hist *h = e->hist;
    if (harvested >= 0 && !h) {
        if (!(h = e->hist = calloc(1, sizeof *h))) {
            rc = fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
            goto out;
        }
        h->harvested = (uint32_t)harvested;
    }
    if (nh) {
        struct maillimit__hrec *p = realloc(h->rec, (h->n + nh) * sizeof *p);
        if (!p) {
            rc = fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
            goto out;
        }
        h->rec = p;
        h->cap = h->n + nh;
    }
    for (uint32_t i = 0; i < nh; i++) {
        const msgpack_object *x;
        int64_t v[4];
        if ((rc = get_array(r, &hours[i], "history hour", 4, 1, &x, NULL)))
            goto out;
        if (harvested == 0) {
            rc = bad(r, "history hour", "is not before the harvested mark");
            goto out;
        }
        if ((rc = get_int(r, &x[0], "history hour", 0, harvested - 1, &v[0])))
            goto out;
        for (int j = 1; j < 4; j++)
            if ((rc = get_int(r, &x[j], "history count", 0, UINT32_MAX, &v[j])))
                goto out;
        if (h->n && v[0] <= (int64_t)h->rec[h->n - 1].hour) {
            rc = bad(r, "history hours", "are not in ascending order");
            goto out;
        }
        h->rec[h->n++] = (struct maillimit__hrec){(uint32_t)v[0], (uint32_t)v[1],
                                                  (uint32_t)v[2], (uint32_t)v[3]};
    }
    if (ne) {
        struct maillimit__epi *p = realloc(h->ep, (h->nep + ne) * sizeof *p);
        if (!p) {
            rc = fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
            goto out;
        }
        h->ep = p;
        h->capep = h->nep + ne;
    }
    for (uint32_t i = 0; i < ne; i++) {
        const msgpack_object *x;
        int64_t v[5];
        if ((rc = get_array(r, &eps[i], "episode", 5, 1, &x, NULL)) ||
            (rc = get_int(r, &x[0], "episode start", 0, INT64_MAX, &v[0])) ||
            (rc = get_int(r, &x[1], "episode end", 0, INT64_MAX, &v[1])) ||
            (rc = get_int(r, &x[2], "episode limit", 0, INT64_MAX, &v[2])) ||
            (rc = get_int(r, &x[3], "episode denied", 0, INT64_MAX, &v[3])) ||
            (rc = get_int(r, &x[4], "episode window", 0, 1, &v[4])))
            goto out;
        if (v[1] < v[0]) {
            rc = bad(r, "episode end", "is before its start");
            goto out;
        }
        h->ep[h->nep++] = (struct maillimit__epi){v[0], v[1], v[2], v[3], (int32_t)v[4], 0};
    }
    if (f[5].type != MSGPACK_OBJECT_NIL) {
        if (!(lv = maillimit__live_new())) {
            rc = fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
            goto out;
        }
        atomic_store_explicit(&e->live, lv, memory_order_relaxed); /* freed with e on error */
        if ((rc = get_live(r, &f[5], lv)))
            goto out;
    }
    if (level > MAILLIMIT_LEVEL_SERVER)
        add_active(s, e); /* reports walk the entities with traffic */
    *prev = e;
out:
    r->name = NULL; /* points into this frame */
    return rc;
}

static int read_reports(struct reader *r, struct staged *s)
{
    static const char *const keys[] = {"retention", "reports"};
    r->kind = "reports";
    r->index = 0;
    r->name = NULL;
    r->pf_left = 0;
    r->pf_n = r->rd_n = 0;
    int rc = next_object(r);
    if (rc)
        return rc;
    const msgpack_object *v[2];
    int64_t n;
    if ((rc = get_map(r, &r->obj, "the reports head", keys, 2, v)) ||
        (rc = get_int(r, v[0], "retention", 1, RETENTION_MAX, &s->retention)) ||
        (rc = get_int(r, v[1], "report count", 0, INT64_MAX, &n)))
        return rc;
    if ((uint64_t)n > (r->end - r->off) / MIN_REPORT)
        return fail(&r->eb, MAILLIMIT_EFORMAT, "reports: %lld reports cannot fit in %zu bytes",
                    (long long)n, r->end - r->off);
    s->has_reports = 1;
    struct maillimit__entity *prev = NULL;
    for (int64_t i = 0; i < n && rc == 0; i++)
        rc = read_report(r, s, (uint64_t)i, &prev);
    return rc;
}

/* Install the report data of a staged special entity (the server, the unattributed senders)
 * into ml's (report lock held). */
static void install_special(maillimit *ml, struct maillimit__entity *dst,
                            struct maillimit__entity *src)
{
    if (dst->hist) {
        free(dst->hist->rec);
        free(dst->hist->ep);
        free(dst->hist);
    }
    dst->hist = src->hist;
    src->hist = NULL;
    struct maillimit__live *sl = atomic_load_explicit(&src->live, memory_order_relaxed);
    /* acquire: pairs with the CAS publishing a live block in maillimit__entity_live() */
    struct maillimit__live *dl = atomic_load_explicit(&dst->live, memory_order_acquire);
    if (dl) {
        maillimit__live_set(dl, sl); /* deciders may be counting in it: word by word */
    } else if (sl) {
        /* acq_rel: publishes the filled block (release), as maillimit__entity_live() */
        if (atomic_compare_exchange_strong_explicit(&dst->live, &dl, sl, memory_order_acq_rel,
                                                    memory_order_acquire)) {
            atomic_store_explicit(&src->live, NULL, memory_order_relaxed);
            maillimit__activate(ml, dst);
        } else {
            maillimit__live_set(dl, sl); /* a decider made one meanwhile */
        }
    }
    dl = atomic_load_explicit(&dst->live, memory_order_acquire);
    if (dl && sl && sl->ep_start)
        maillimit__report_open_add(ml, dst); /* ENOMEM: the episode ends at its time */
}

/* Replace ml's report state by the staged one (config lock held); old_all: the old
 * entities, now dead (deciders may still count in their live blocks: those are cleared,
 * never freed). */
static void install_reports(maillimit *ml, struct staged *s, struct maillimit__entity *old_all)
{
    pthread_mutex_lock(&ml->report_lock);
    maillimit__report_drain(ml); /* edges of the old entities go to them, not the new */
    for (struct maillimit__entity *e = old_all; e; e = e->all_next) {
        if (e->hist) {
            free(e->hist->rec);
            free(e->hist->ep);
            free(e->hist);
            e->hist = NULL;
        }
        struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
        if (lv)
            maillimit__live_set(lv, NULL);
    }
    if (s->has_reports)
        ml->retention = s->retention;
    ml->nopen = 0;
    ml->harvested = 0;     /* the next look harvests every entity from its own mark */
    ml->open_scan_at = -1; /* and looks at the open episodes */
    for (int k = 0; k < MAILLIMIT__LANES; k++)
        maillimit__live_set(ml->lane_live[k], NULL); /* merged into the server's block */
    install_special(ml, ml->server, s->st->server);
    install_special(ml, ml->unattributed, s->st->unattributed);
    for (struct maillimit__entity *e = s->active; e;
         e = e == s->active_tail ? NULL : e->active_next) {
        /* acquire: the entities are in the table already, so a decider may have made the
         * live block (pairs with the acq_rel CAS of maillimit__entity_live()) */
        struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
        if (lv && atomic_load_explicit(&lv->ep_start, memory_order_acquire))
            maillimit__report_open_add(ml, e);
    }
    pthread_mutex_unlock(&ml->report_lock);
}

/* Check the frame (magic, checksum, version) and decode the body into s. */
static int decode(const unsigned char *p, size_t len, struct staged *s, const struct errbuf *eb)
{
    if (memcmp(p, SNAP_MAGIC, len < 8 ? len : 8) != 0)
        return fail(eb, MAILLIMIT_EFORMAT, "not a libmaillimit snapshot (bad magic)");
    if (len < HEADER_SIZE + TRAILER_SIZE)
        return fail(eb, MAILLIMIT_EFORMAT, "file truncated (%zu bytes)", len);
    /* The header and trailer keep this shape in every version, so the checksum is checked
     * first: a damaged version field is reported as damage, not as a newer format. */
    if (maillimit__crc32c(p, len - TRAILER_SIZE) != get_be32(p + len - TRAILER_SIZE))
        return fail(eb, MAILLIMIT_EFORMAT, "checksum mismatch (file truncated or corrupt)");
    uint32_t version = get_be32(p + 8);
    if (version > SNAP_VERSION)
        return fail(eb, MAILLIMIT_EVERSION,
                    "format version %u is newer than this library reads (%d)", version,
                    SNAP_VERSION);
    if (version == 0 || get_be32(p + 12) != 0)
        return fail(eb, MAILLIMIT_EFORMAT, "bad header (version %u, reserved %u)", version,
                    get_be32(p + 12));
    /* Version 1 has no report data (after a load its reports start empty). */

    struct reader r = {.version = version, .p = p, .off = HEADER_SIZE,
                       .end = len - TRAILER_SIZE, .eb = *eb};
    if (!msgpack_zone_init(&r.zone, 8192))
        return fail(eb, MAILLIMIT_ENOMEM, "out of memory");
    uint64_t counts[KINDS];
    int rc = read_head(&r, s, counts);
    if (rc == 0) {
        /* size the name table for everything at once (tables stay at most half full) */
        size_t n = 0, cap = 1024;
        for (int k = 0; k < KINDS; k++)
            n += (size_t)counts[k];
        while (cap / 2 < n)
            cap *= 2;
        struct maillimit__table *t = maillimit__table_new(cap);
        if (!t) {
            rc = fail(eb, MAILLIMIT_ENOMEM, "out of memory");
        } else {
            maillimit__table_free(atomic_load_explicit(&s->st->table, memory_order_relaxed));
            atomic_store_explicit(&s->st->table, t, memory_order_relaxed);
        }
    }
    for (int k = 0; k < KINDS && rc == 0; k++) {
        r.pf_off = r.off;
        r.pf_left = counts[k];
        r.pf_n = r.rd_n = 0;
        for (uint64_t i = 0; i < counts[k] && rc == 0; i++)
            rc = read_record(&r, s, k, i);
    }
    if (rc == 0 && version >= 2)
        rc = read_reports(&r, s);
    if (rc == 0 && r.off != r.end)
        rc = fail(eb, MAILLIMIT_EFORMAT, "%zu bytes of unexpected data after the last record",
                  r.end - r.off);
    msgpack_zone_destroy(&r.zone);
    return rc;
}

/* Replace ml's state by the staged one (see the top of the file). Cannot fail. */
static void install(maillimit *ml, struct staged *s)
{
    maillimit *st = s->st;
    maillimit__config_begin(ml);
    struct maillimit__entity *old_all = ml->all;
    for (struct maillimit__entity *e = ml->all; e; e = e->all_next)
        atomic_store_explicit(&e->dead, 1, memory_order_relaxed);

    /* settings: each one atomic word, as the configuration calls store them */
    struct maillimit__entity *sv = ml->server;
    for (int t = 0; t < MAILLIMIT__TARGETS; t++)
        for (int w = 0; w < 2; w++)
            atomic_store_explicit(&sv->limit[t][w], s->limit[t][w], memory_order_relaxed);
    atomic_store_explicit(&sv->flag[MAILLIMIT_FLAG_SENDMAIL], (int8_t)s->sendmail,
                          memory_order_relaxed);
    for (int w = 0; w < 2; w++)
        atomic_store_explicit(&ml->server_total[w], s->total[w], memory_order_relaxed);
    atomic_store_explicit(&ml->enabled, s->enabled, memory_order_relaxed);
    atomic_store_explicit(&ml->unit, s->unit, memory_order_relaxed);

    /* entities: the old ones are retired (freed by a later maillimit_tick(), once no reader
     * has them) */
    ml->all = st->all;
    st->all = NULL;
    struct maillimit__table *nt = atomic_load_explicit(&st->table, memory_order_relaxed);
    atomic_store_explicit(&st->table, NULL, memory_order_relaxed);
    maillimit__table_free(nt->retired); /* the staging handle's, never seen by readers */
    nt->retired = atomic_load_explicit(&ml->table, memory_order_relaxed);
    /* release: publishes the new entities, their rings and the table to the acquire load in
     * maillimit__table_find() */
    atomic_store_explicit(&ml->table, nt, memory_order_release);
    maillimit__changed(ml);

    for (int k = 0; k < MAILLIMIT__LANES; k++)
        maillimit__ring_replace(ml->lane[k], &s->lane[k]);
    struct maillimit__ring *u =
        atomic_load_explicit(&ml->unattributed->ring, memory_order_acquire);
    if (u) /* made with the handle; deciders count unknown senders in it */
        maillimit__ring_replace(u, &s->unattributed);
    install_reports(ml, s, old_all);
    if (old_all) {
        struct maillimit__entity *tail = old_all;
        while (tail->all_next)
            tail = tail->all_next;
        tail->all_next = ml->retired.entities;
        ml->retired.entities = old_all;
    }
    if (s->active) {
        /* put the new entities with counters on the list of entities with traffic, as
         * maillimit__activate() does one at a time; the old ones stay on it, dead */
        struct maillimit__entity *head = atomic_load_explicit(&ml->active, memory_order_relaxed);
        do
            s->active_tail->active_next = head;
        /* release: publishes the chain's links to readers' acquire load of the list head */
        while (!atomic_compare_exchange_weak_explicit(&ml->active, &head, s->active,
                                                      memory_order_release,
                                                      memory_order_relaxed));
    }

    /* forget outstanding reservations: their rings are the old state's */
    struct maillimit__reservation *res =
        atomic_load_explicit(&ml->reservations, memory_order_acquire);
    for (int i = 0; res && i < MAILLIMIT__RESERVATIONS; i++) {
        uint64_t v = atomic_load_explicit(&res[i].state, memory_order_relaxed);
        if (v != 0 && !(v & MAILLIMIT__RES_FINISHING)) /* not busy, not finishing */
            /* relaxed: only the token word changes; a failed CAS means another thread took
             * the entry first, which is as good */
            atomic_compare_exchange_strong_explicit(&res[i].state, &v, 0, memory_order_relaxed,
                                                    memory_order_relaxed);
    }
    maillimit__config_end(ml);
}

static int load(maillimit *ml, const unsigned char *p, size_t len, const struct errbuf *eb)
{
    struct staged *s = calloc(1, sizeof *s);
    if (!s)
        return fail(eb, MAILLIMIT_ENOMEM, "out of memory");
    int rc = maillimit_new(&s->st);
    if (rc) {
        free(s);
        return fail(eb, rc, "out of memory");
    }
    rc = decode(p, len, s, eb);
    if (rc == 0)
        install(ml, s);
    maillimit_free(s->st);
    free(s);
    return rc;
}

int maillimit_snapshot_load_mem(maillimit *ml, const void *data, size_t len, char *err,
                                size_t errlen)
{
    struct errbuf eb = {"<memory>", err, errlen};
    if (!ml || (!data && len))
        return fail(&eb, MAILLIMIT_EINVAL, "invalid argument");
    int rc = load(ml, data ? data : "", len, &eb);
    if (rc == 0)
        ok_msg(err, errlen);
    return rc;
}

int maillimit_snapshot_load(maillimit *ml, const char *path, char *err, size_t errlen)
{
    struct errbuf eb = {path ? path : "<null>", err, errlen};
    if (!ml || !path || !*path)
        return fail(&eb, MAILLIMIT_EINVAL, "invalid argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return fail(&eb, MAILLIMIT_ENOTFOUND, "no such file");
        return fail(&eb, MAILLIMIT_EIO, "cannot open: %s", strerror(errno));
    }
    struct stat sb;
    size_t cap = fstat(fd, &sb) == 0 && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 1 << 16;
    size_t len = 0;
    unsigned char *buf = malloc(cap);
    int rc = buf ? 0 : fail(&eb, MAILLIMIT_ENOMEM, "out of memory");
    while (rc == 0) {
        if (len == cap) {
            unsigned char *nb = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = fail(&eb, MAILLIMIT_ENOMEM, "out of memory");
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = fail(&eb, MAILLIMIT_EIO, "read failed: %s", strerror(errno));
        else if (n == 0)
            break;
        else
            len += (size_t)n;
    }
    close(fd);
    if (rc == 0)
        rc = load(ml, buf, len, &eb);
    free(buf);
    if (rc == 0)
        ok_msg(err, errlen);
    return rc;
}
