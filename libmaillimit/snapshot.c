/* SPDX-License-Identifier: MIT */
/* Snapshots: the whole state of a handle in one crash-safe, checksummed msgpack file.
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
 * hour of the day window, as (period, count) pairs. Only the "ring adapter" section below
 * knows how ring.c stores those; it is the one place to change when the ring changes.
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
 * Report data (version 2): after the records, a "reports" map (retention, count) and one
 * array per chunk of an entity's report data: its harvested history (hours and closed
 * episodes, read under the report lock, never the decide path's) and its live block (denied,
 * exempt and reset hour slots as (hour, count) pairs, and the open episode, read under its
 * spin flag as readers do). The server's per-lane blocks are merged into its own. A load
 * installs them under the report lock and rebuilds the list of open episodes. Version-1
 * files load with empty reports. Queued events are not saved.
 *
 * Reading untrusted input: every object is first measured by mp_extent(), which checks that
 * it is complete, well-formed and at most RECORD_MAX bytes and MP_DEPTH levels deep, before
 * msgpack-c unpacks it (into one zone reused for every object); so a forged length can never
 * make msgpack-c allocate more than a small multiple of RECORD_MAX.
 *
 * Costs at the SPEC §8 size (tests/bench/bench_snapshot.c): a save reads each ring once (7
 * cache lines) and encodes about 90 bytes per mailbox; a load spends about a third of its
 * time in name-table lookups (a duplicate check per entity and a mailbox's domain), a third
 * in allocating and first touching the new entities and rings, and the rest decoding.
 */
#define _GNU_SOURCE /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SNAP_MAGIC "\x89MLSNAP\n"
#define COUNT_MAX ((INT64_C(1) << 40) - 1) /* largest count of one period in the format */
enum {
    SNAP_VERSION = 2,     /* the format this library writes; it reads 1..SNAP_VERSION */
    HEADER_SIZE = 16,
    TRAILER_SIZE = 4,
    RECORD_MAX = 4096,    /* largest encoded object (a record is at most ~1.6 KiB) */
    MP_DEPTH = 8,         /* deepest nesting accepted (the format uses 5) */
    MIN_RECORD = 5,       /* the smallest record (a system user) takes at least 5 bytes */
    AHEAD = 16,           /* look-ahead ring of records (a power of two) */
    AHEAD_DIST = 12,      /* records looked at ahead of the one read */
    NM = MAILLIMIT__HOUR_SLOTS,
    NH = MAILLIMIT__DAY_SLOTS,
    REP_HOURS = 48,       /* history hours per report object (keeps it under RECORD_MAX) */
    REP_EPISODES = 24,    /* closed episodes per report object */
    MIN_REPORT = 6,       /* the smallest report object takes at least 6 bytes */
    LEVEL_UNATTRIBUTED = -1, /* a report's level for the unattributed pseudo-entity */
    RETENTION_MAX = 87600 /* maillimit_retention_set() */
};

/* ---- CRC-32C (Castagnoli, reflected, init and final xor ~0; "123456789" -> e3069283) ----- */

static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8,
    0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3,
    0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070,
    0x25afd373, 0x36ff2087, 0xc494a384, 0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54,
    0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29,
    0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa, 0x30e349b1,
    0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
    0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696,
    0x6ef07595, 0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0,
    0x67dafa54, 0x95b17957, 0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c,
    0xfe53516f, 0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f, 0x3ac7f2eb,
    0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7, 0x61c69362, 0x93ad1061,
    0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789, 0xeb1fcbad,
    0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
    0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5,
    0xa55230e6, 0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67,
    0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043,
    0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c, 0x92a8fc17, 0x60c37f14, 0x73938ce0,
    0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db,
    0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6,
    0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81,
    0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5,
    0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19,
    0x0d3d3e1a, 0x1e6dcdee, 0xec064eed, 0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530,
    0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc,
    0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540, 0x590ab964,
    0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
    0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2,
    0x37faccf1, 0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9,
    0x4f48173d, 0xbd23943e, 0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a,
    0xc69f7b69, 0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc32c_soft(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* SSE 4.2 has CRC-32C in hardware: about 8 bytes per 3 cycles, against 1 byte per 2-3 cycles
 * for the table. Chosen at run time, so the library still runs on CPUs without it. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hard(uint32_t crc,
                                                             const unsigned char *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    uint32_t c32 = (uint32_t)c;
    for (; n; p++, n--)
        c32 = __builtin_ia32_crc32qi(c32, *p);
    return c32;
}

static uint32_t crc32c(const void *data, size_t n)
{
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc32c_hard(~0u, data, n);
    return ~crc32c_soft(~0u, data, n);
}
#else
static uint32_t crc32c(const void *data, size_t n)
{
    return ~crc32c_soft(~0u, data, n);
}
#endif

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- counters by meaning -------------------------------------------------------------- */

/* One counter, independent of how ring.c stores it. */
struct counter {
    int64_t latest;           /* newest minute the counter was brought to; -1: never */
    int nmin, nhour;
    uint32_t min_p[NM];       /* live minutes of the hour window, ascending ... */
    uint64_t min_c[NM];       /* ... and their units (>= 1) */
    uint32_t hour_p[NH];      /* live hours of the day window, ascending ... */
    uint64_t hour_c[NH];      /* ... and their units, those of their minutes included */
};

/* ---- ring adapter ----------------------------------------------------------------------
 *
 * The only code in this file that knows ring.c's layout (ring v2, see the top of ring.c):
 *   totals   hour total (low 32 bits) | day total (high 32 bits)
 *   head     newest minute + 1 swept; dhead newest hour + 1 swept
 *   minute[] lap (7 bits: minute / 60 mod 128) | rolled (1) | count (24)
 *   hour[]   (hour + 1) << 32 | count, for closed hours
 * Units of the day window live in unrolled minute slots or in hour slots; a rolled minute's
 * units are mirrored in its hour's slot. Invariant used by ring_replace(): hour total = the
 * counts of all minute words, day total = counts of unrolled minute words + hour words (plus,
 * in both, the units of decisions between their two phases).
 */
#define R_COUNT 0x00ffffffu
#define R_ROLLED 0x01000000u
#define R_LAP_SHIFT 25
#define R_LAPS 128u
#define R_HCOUNT 0xffffffffull
#define R_DAY_MAX (UINT64_C(1) << 31) /* a ring's day total (maillimit__ring_units_ok) */

/* The minute a minute word at index i holds, given the ring's latest minute ref (as ring.c's
 * minute_of()); a result above ref means "none". */
static uint32_t slot_minute(uint32_t v, uint32_t i, uint32_t ref)
{
    uint32_t lap = ref / NM;
    uint32_t full = lap - ((lap - (v >> R_LAP_SHIFT)) % R_LAPS);
    uint32_t m = full * NM + i;
    if (m > ref)
        m -= R_LAPS * NM;
    return m;
}

/* Read a counter summed over rings (the server's lanes, or one entity ring): what ring.c's
 * readers would count at the newest minute any of the rings has seen. */
static void ring_export(struct maillimit__ring *const *rs, int nr, struct counter *out)
{
    uint32_t ref[MAILLIMIT__LANES];
    int64_t latest = -1;
    for (int j = 0; j < nr; j++) {
        /* acquire: pairs with the head CAS in maillimit__ring_advance() */
        uint32_t h = atomic_load_explicit(&rs[j]->head, memory_order_acquire);
        ref[j] = h;
        if ((int64_t)h - 1 > latest)
            latest = (int64_t)h - 1;
    }
    out->latest = latest;
    out->nmin = out->nhour = 0;
    if (latest < 0)
        return;
    int64_t first_m = latest - NM + 1, hour = latest / NM, first_h = hour - NH + 1;
    uint64_t mins[NM] = {0}, hours[NH] = {0}, of_hour[NH] = {0};
    for (int j = 0; j < nr; j++) {
        if (!ref[j])
            continue; /* never advanced: holds nothing */
        for (uint32_t i = 0; i < NM; i++) {
            uint32_t v = atomic_load_explicit(&rs[j]->minute[i], memory_order_relaxed);
            if (!(v & R_COUNT))
                continue;
            int64_t m = slot_minute(v, i, ref[j] - 1);
            if (m > (int64_t)ref[j] - 1 || m > latest)
                continue;
            if (m >= first_m)
                mins[m - first_m] += v & R_COUNT;
            if (!(v & R_ROLLED) && m / NM >= first_h)
                hours[m / NM - first_h] += v & R_COUNT;
        }
        for (int i = 0; i < NH; i++) {
            uint64_t v = atomic_load_explicit(&rs[j]->hour[i], memory_order_relaxed);
            int64_t h = (int64_t)(v >> 32) - 1;
            if (h >= first_h && h <= hour)
                hours[h - first_h] += v & R_HCOUNT;
        }
    }
    for (int k = 0; k < NM; k++) {
        if (!mins[k] || first_m + k < 0)
            continue;
        out->min_p[out->nmin] = (uint32_t)(first_m + k);
        out->min_c[out->nmin++] = mins[k];
        of_hour[(first_m + k) / NM - first_h] += mins[k];
    }
    for (int k = 0; k < NH; k++) {
        /* An hour holds at least its minutes; a save racing with a roll may read a minute
         * as rolled before its units reach the hour slot. */
        if (hours[k] < of_hour[k])
            hours[k] = of_hour[k];
        if (!hours[k] || first_h + k < 0)
            continue;
        out->hour_p[out->nhour] = (uint32_t)(first_h + k);
        out->hour_c[out->nhour++] = hours[k];
    }
}

/* The words of one ring holding share k of nr (the server's lanes split every count evenly;
 * an entity ring is share 0 of 1). The counter has been validated (see get_counter()).
 * Returns 0, or MAILLIMIT_ERANGE if a share exceeds what a ring can hold. */
struct ring_words {
    uint64_t totals;
    uint32_t head, dhead;
    uint32_t minute[NM];
    uint64_t hour[NH];
};

static uint64_t share(uint64_t c, int k, int nr)
{
    return c / (uint64_t)nr + ((uint64_t)k < c % (uint64_t)nr);
}

static int ring_words(const struct counter *c, int k, int nr, struct ring_words *w)
{
    memset(w, 0, sizeof *w);
    if (c->latest < 0)
        return 0;
    uint32_t latest = (uint32_t)c->latest, hour = latest / NM;
    uint64_t hour_total = 0, day_total = 0, cur_minutes = 0;
    for (int i = 0; i < c->nmin; i++) {
        uint32_t m = c->min_p[i];
        if (m / NM == hour)
            cur_minutes += c->min_c[i];
        uint64_t s = share(c->min_c[i], k, nr);
        if (!s)
            continue;
        if (s > R_COUNT)
            return MAILLIMIT_ERANGE;
        int rolled = m / NM < hour; /* minutes of closed hours are rolled into their hour */
        w->minute[m % NM] = (m / NM % R_LAPS) << R_LAP_SHIFT | (rolled ? R_ROLLED : 0) |
                            (uint32_t)s;
        hour_total += s;
        if (!rolled)
            day_total += s;
    }
    for (int i = 0; i < c->nhour; i++) {
        uint32_t h = c->hour_p[i];
        /* the open hour's minutes carry their own day units; its slot holds the rest */
        uint64_t s = share(h == hour ? c->hour_c[i] - cur_minutes : c->hour_c[i], k, nr);
        if (!s)
            continue;
        if (s > R_HCOUNT)
            return MAILLIMIT_ERANGE;
        w->hour[h % NH] = ((uint64_t)h + 1) << 32 | s;
        day_total += s;
    }
    if (day_total > R_DAY_MAX || hour_total > R_DAY_MAX)
        return MAILLIMIT_ERANGE;
    w->totals = hour_total | day_total << 32;
    w->head = latest + 1;
    w->dhead = hour + 1;
    return 0;
}

/* Fill a new ring that no other thread can see yet. */
static void ring_fill(struct maillimit__ring *r, const struct ring_words *w)
{
    atomic_store_explicit(&r->totals, w->totals, memory_order_relaxed);
    atomic_store_explicit(&r->head, w->head, memory_order_relaxed);
    atomic_store_explicit(&r->dhead, w->dhead, memory_order_relaxed);
    for (int i = 0; i < NM; i++)
        atomic_store_explicit(&r->minute[i], w->minute[i], memory_order_relaxed);
    for (int i = 0; i < NH; i++)
        atomic_store_explicit(&r->hour[i], w->hour[i], memory_order_relaxed);
}

static uint64_t minute_units(uint32_t v)
{
    uint64_t c = v & R_COUNT;
    return (v & R_ROLLED) ? c : c | c << 32;
}

/* Replace the contents of a ring that deciders are using (a server lane). Each word is
 * exchanged, and the totals move by the difference, new units added before old ones are
 * taken away, so a total never drops below its slots plus the requests in flight: a check
 * racing with this may deny, never over-admit. */
static void ring_replace(struct maillimit__ring *r, const struct ring_words *w)
{
    /* release: pairs with the acquire loads of the heads in ring.c */
    atomic_store_explicit(&r->head, w->head, memory_order_release);
    atomic_store_explicit(&r->dhead, w->dhead, memory_order_release);
    for (int i = 0; i < NM; i++) {
        atomic_fetch_add_explicit(&r->totals, minute_units(w->minute[i]), memory_order_relaxed);
        /* acq_rel: orders against the CASes of adds, subs and sweeps on this word */
        uint32_t old = atomic_exchange_explicit(&r->minute[i], w->minute[i],
                                                memory_order_acq_rel);
        atomic_fetch_sub_explicit(&r->totals, minute_units(old), memory_order_relaxed);
    }
    for (int i = 0; i < NH; i++) {
        atomic_fetch_add_explicit(&r->totals, (w->hour[i] & R_HCOUNT) << 32,
                                  memory_order_relaxed);
        /* acq_rel: orders against the CASes of the hour slot in ring.c */
        uint64_t old = atomic_exchange_explicit(&r->hour[i], w->hour[i], memory_order_acq_rel);
        atomic_fetch_sub_explicit(&r->totals, (old & R_HCOUNT) << 32, memory_order_relaxed);
    }
}

/* ---- errors ------------------------------------------------------------------------------ */

struct errbuf {
    const char *src;          /* the path, or "<memory>" */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct errbuf *eb, int rc,
                                                      const char *fmt, ...)
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

static void ok_msg(char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
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

static int kind_of_level(int level)
{
    for (int k = 0; k < KINDS; k++)
        if (kinds[k].level == level)
            return k;
    return -1;
}

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
    int64_t exempt, unknown;
    struct counter server, unattributed;
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
    /* "exempt" and "unknown" stay in the format as 0: those figures are the reports' now
     * (per entity and hour, and the unattributed counter) */
    c->exempt = 0;
    c->unknown = 0;
    ring_export(ml->lane, MAILLIMIT__LANES, &c->server);
    struct maillimit__ring *u =
        atomic_load_explicit(&ml->unattributed->ring, memory_order_acquire);
    c->unattributed.latest = -1;
    if (u)
        ring_export(&u, 1, &c->unattributed);
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

static void pack_counter(msgpack_packer *pk, const struct counter *c)
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
    struct counter c;
    c.latest = -1;
    if (r)
        ring_export(&r, 1, &c);
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
    msgpack_pack_map(pk, 3);
    pack_key(pk, "exempt");
    msgpack_pack_int64(pk, c->exempt);
    pack_key(pk, "unknown");
    msgpack_pack_int64(pk, c->unknown);
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
                uint64_t tag = v >> 32, c = v & R_HCOUNT;
                if (!tag || !c)
                    continue;
                /* a slot holds one hour; an older one in another lane's block is stale */
                if (!have[i] || tag - 1 > bh[i]) {
                    have[i] = 1;
                    bh[i] = tag - 1;
                    bc[i] = c;
                } else if (tag - 1 == bh[i]) {
                    bc[i] = bc[i] + c > R_HCOUNT ? R_HCOUNT : bc[i] + c;
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
        put_be32(trailer, crc32c(o->data, o->len));
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

/* ---- loading: reading msgpack safely ---------------------------------------------------- */

enum { MP_OK, MP_TRUNCATED, MP_MALFORMED, MP_DEEP };

/* Measure the msgpack object at p[0..n): *out its length. Checks that it is complete and
 * well-formed within n bytes and nests at most MP_DEPTH levels, touching every byte at most
 * once and allocating nothing, so that msgpack-c can then unpack it without trusting any
 * length it contains. */
static int mp_extent(const unsigned char *p, size_t n, size_t *out)
{
    uint64_t left[MP_DEPTH];
    int d = 0;
    size_t off = 0;
    left[0] = 1;
    while (d >= 0) {
        if (left[d] == 0) {
            d--;
            continue;
        }
        left[d]--;
        if (off >= n)
            return MP_TRUNCATED;
        unsigned b = p[off++];
        uint64_t skip = 0, items = 0;
        int lenbytes = 0; /* a big-endian length follows */
        int kind = 0;     /* 0 scalar, 1 bytes, 2 ext (type byte + bytes), 3 array, 4 map */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b <= 0x8f) {
            items = 2 * (uint64_t)(b & 0x0f);
        } else if (b <= 0x9f) {
            items = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: lenbytes = 1; kind = 1; break;
            case 0xc5: case 0xda: lenbytes = 2; kind = 1; break;
            case 0xc6: case 0xdb: lenbytes = 4; kind = 1; break;
            case 0xc7: lenbytes = 1; kind = 2; break;
            case 0xc8: lenbytes = 2; kind = 2; break;
            case 0xc9: lenbytes = 4; kind = 2; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: lenbytes = 2; kind = 3; break;
            case 0xdd: lenbytes = 4; kind = 3; break;
            case 0xde: lenbytes = 2; kind = 4; break;
            case 0xdf: lenbytes = 4; kind = 4; break;
            default: return MP_MALFORMED; /* 0xc1: never used */
            }
        }
        if (lenbytes) {
            if (n - off < (size_t)lenbytes)
                return MP_TRUNCATED;
            uint64_t len = 0;
            for (int i = 0; i < lenbytes; i++)
                len = len << 8 | p[off++];
            if (kind == 1)
                skip = len;
            else if (kind == 2)
                skip = len + 1;
            else
                items = kind == 3 ? len : 2 * len;
        }
        if ((uint64_t)(n - off) < skip)
            return MP_TRUNCATED;
        off += (size_t)skip;
        if (items) {
            if (d + 1 >= MP_DEPTH)
                return MP_DEEP;
            left[++d] = items;
        }
    }
    *out = off;
    return MP_OK;
}

struct reader {
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
static int get_counter(struct reader *r, const msgpack_object *o, struct counter *c)
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
    int64_t exempt, unknown;
    struct ring_words lane[MAILLIMIT__LANES];
    struct ring_words unattributed;
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
    struct maillimit__entity *e = calloc(1, sizeof *e + len + 1);
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
    static const char *const stats_keys[] = {"exempt", "unknown", "unattributed"};
    const char *record_keys[KINDS];
    for (int k = 0; k < KINDS; k++)
        record_keys[k] = kinds[k].key;
    r->kind = "head";
    r->index = 0;
    r->name = NULL;
    int rc = next_object(r);
    if (rc)
        return rc;
    const msgpack_object *top[3], *sv[6], *st[3], *rec[KINDS], *tot;
    int64_t v;
    struct counter c;
    if ((rc = get_map(r, &r->obj, "the head", top_keys, 3, top)) ||
        (rc = get_map(r, top[0], "server", server_keys, 6, sv)) ||
        (rc = get_map(r, top[1], "stats", stats_keys, 3, st)) ||
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
        (rc = get_int(r, st[0], "stats exempt", 0, INT64_MAX, &s->exempt)) ||
        (rc = get_int(r, st[1], "stats unknown", 0, INT64_MAX, &s->unknown)))
        return rc;
    struct counter u;
    if ((rc = get_counter(r, st[2], &u)))
        return rc;
    if (ring_words(&u, 0, 1, &s->unattributed))
        return fail(&r->eb, MAILLIMIT_ERANGE,
                    "head: the unattributed counter exceeds what this library can hold");
    for (int k = 0; k < MAILLIMIT__LANES; k++)
        if (ring_words(&c, k, MAILLIMIT__LANES, &s->lane[k]))
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
            struct maillimit__entity *e =
                atomic_load_explicit(&t->slot[b->h[i] & t->mask], memory_order_relaxed);
            if (e) { /* what maillimit__table_find() compares: hash, level, len, name */
                __builtin_prefetch(&e->hash);
                __builtin_prefetch(e->name);
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
    struct counter c = {.latest = -1};
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
    struct ring_words w;
    struct maillimit__ring *ring = NULL;
    if (kd->counted) {
        if ((rc = get_counter(r, &f[field++], &c)))
            return rc;
        if (c.latest >= 0) {
            if (ring_words(&c, 0, 1, &w))
                return fail(&r->eb, MAILLIMIT_ERANGE,
                            "%s: counter exceeds what this library can hold", what(r));
            if (!(ring = maillimit__ring_new()))
                return fail(&r->eb, MAILLIMIT_ENOMEM, "out of memory");
            ring_fill(ring, &w);
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
                atomic_init(&e->limit[t - MAILLIMIT_LEVEL_SUBSCRIPTION][wi],
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
    if (crc32c(p, len - TRAILER_SIZE) != get_be32(p + len - TRAILER_SIZE))
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

    struct reader r = {.p = p, .off = HEADER_SIZE, .end = len - TRAILER_SIZE, .eb = *eb};
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
        ring_replace(ml->lane[k], &s->lane[k]);
    struct maillimit__ring *u =
        atomic_load_explicit(&ml->unattributed->ring, memory_order_acquire);
    if (u) /* made with the handle; deciders count unknown senders in it */
        ring_replace(u, &s->unattributed);
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
        if (v != 0 && v != UINT64_MAX)
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
