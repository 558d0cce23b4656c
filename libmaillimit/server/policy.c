/* SPDX-License-Identifier: MIT */
/* The Postfix policy delegation protocol, without I/O: maillimit_policy_request().
 *
 * Parsing (maillimit__policy_parse, a pure function): a request is `name=value` lines ended by
 * an empty line; "\r\n" is accepted as a line end too. Bounds: a line is at most
 * MAILLIMIT_POLICY_LINE_MAX bytes with its newline, a request at most
 * MAILLIMIT_POLICY_ATTRS_MAX attribute lines and MAILLIMIT_POLICY_REQUEST_MAX bytes. A line
 * without `=`, an empty name or a NUL byte is garbage. Unknown attributes are skipped; a
 * repeated attribute keeps its last value. Nothing is copied: values point into the input.
 *
 * Attribution and counting: see maillimit_policy_request() in maillimit/server.h.
 *
 * The message table remembers what was decided per `instance` so that the RCPT, DATA and
 * END-OF-MESSAGE requests of one message count it once. It is a ring of INST_CAP entries in
 * insertion order plus an index of 2*INST_CAP buckets holding entry sequence numbers and
 * hash tags; a key's INST_PROBE buckets are one cache line. A bucket whose entry was reused
 * (the ring wrapped) is free; an entry unused for INST_TTL seconds is not found; when a
 * group is full its oldest entry is forgotten. Nothing is ever deleted and memory is fixed
 * (about 8 MB, touched as used). A lookup costs two cache lines (the group, the entry).
 * Keys are compared by length, a 64-bit hash and their first INST_KEY bytes.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_internal.h"

enum { INST_CAP = 65536, INST_PROBE = 8, INST_KEY = 48, INST_TTL = 3600 };

enum inst_state { ST_NONE = 0, ST_ALLOWED = 1, ST_DENIED = 2 };

struct inst {
    uint64_t hash;
    uint32_t seq;     /* 0: never used */
    uint32_t keylen;  /* full length of the instance value */
    int64_t last;     /* last use (Unix seconds) */
    int64_t counted;  /* units counted for the message so far */
    int64_t limit, count, cost, retry_at; /* of a stored verdict; retry_at -1: never */
    int8_t state;     /* inst_state: a decision on the whole message */
    int8_t reason, deny_level, window;
    char key[INST_KEY];
};

struct net {
    uint8_t addr[16];
    unsigned prefix;
};

struct netlist {
    struct net *v;
    size_t n, cap;
};

struct maillimit_policy {
    maillimit *ml;
    int action, code;
    char dsn[16];
    struct netlist nets[2];
    struct inst *inst;   /* INST_CAP entries, allocated on first use */
    uint64_t *buckets;   /* 2 * INST_CAP buckets (see bucket_group()) */
    uint32_t seq;        /* last sequence number given out */
    struct maillimit__milter_ctx *local; /* attribution of caller_uid requests, or NULL */
    maillimit__decide_hook hook;         /* decides instead of maillimit_decide, or NULL */
    void *hook_ud;
};

/* ---- parsing ------------------------------------------------------------------------------ */

static int name_is(const char *p, size_t n, const char *lit, size_t litlen)
{
    return n == litlen && memcmp(p, lit, n) == 0;
}
#define NAME_IS(p, n, lit) name_is((p), (n), (lit), sizeof(lit) - 1)

int maillimit__policy_parse(const char *data, size_t len, maillimit__policy_req *req,
                            size_t *consumed, const char **problem)
{
    memset(req, 0, sizeof *req);
    *consumed = 0;
    *problem = NULL;
    size_t pos = 0;
    for (;;) {
        size_t avail = len - pos;
        size_t scan = avail < MAILLIMIT_POLICY_LINE_MAX ? avail : MAILLIMIT_POLICY_LINE_MAX;
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', scan);
        if (!nl) {
            if (memchr(line, '\0', scan)) {
                *problem = "NUL byte in a request";
                return MAILLIMIT_EFORMAT;
            }
            if (avail >= MAILLIMIT_POLICY_LINE_MAX) {
                *problem = "line too long (more than 2048 bytes)";
                return MAILLIMIT_EFORMAT;
            }
            if (len >= MAILLIMIT_POLICY_REQUEST_MAX) {
                *problem = "request too large (more than 16384 bytes)";
                return MAILLIMIT_EFORMAT;
            }
            return 0; /* incomplete */
        }
        size_t n = (size_t)(nl - line);
        pos += n + 1;
        if (pos > MAILLIMIT_POLICY_REQUEST_MAX) {
            *problem = "request too large (more than 16384 bytes)";
            return MAILLIMIT_EFORMAT;
        }
        if (n && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\0', n)) {
            *problem = "NUL byte in a request";
            return MAILLIMIT_EFORMAT;
        }
        if (n == 0) {
            *consumed = pos;
            return 0;
        }
        if (++req->attrs > MAILLIMIT_POLICY_ATTRS_MAX) {
            *problem = "too many attributes (more than 64)";
            return MAILLIMIT_EFORMAT;
        }
        const char *eq = memchr(line, '=', n);
        if (!eq) {
            *problem = "a line without '=' (not the policy protocol)";
            return MAILLIMIT_EFORMAT;
        }
        size_t kn = (size_t)(eq - line);
        if (kn == 0) {
            *problem = "an attribute with an empty name";
            return MAILLIMIT_EFORMAT;
        }
        maillimit__str v = { eq + 1, n - kn - 1 };
        maillimit__str *dst = NULL;
        switch (kn) {
        case 6:
            if (NAME_IS(line, kn, "sender"))
                dst = &req->sender;
            break;
        case 7:
            if (NAME_IS(line, kn, "request"))
                dst = &req->request;
            break;
        case 8:
            if (NAME_IS(line, kn, "instance"))
                dst = &req->instance;
            break;
        case 9:
            if (NAME_IS(line, kn, "recipient"))
                dst = &req->recipient;
            break;
        case 10:
            if (NAME_IS(line, kn, "caller_uid"))
                dst = &req->caller_uid;
            break;
        case 13:
            if (NAME_IS(line, kn, "sasl_username"))
                dst = &req->sasl_username;
            break;
        case 14:
            if (NAME_IS(line, kn, "protocol_state"))
                dst = &req->protocol_state;
            else if (NAME_IS(line, kn, "client_address"))
                dst = &req->client_address;
            break;
        case 15:
            if (NAME_IS(line, kn, "recipient_count"))
                dst = &req->recipient_count;
            break;
        default:
            break;
        }
        if (dst)
            *dst = v;
    }
}

/* ---- networks ----------------------------------------------------------------------------- */

int maillimit__cidr_parse(const char *text, uint8_t addr[16], unsigned *prefix)
{
    char buf[80];
    size_t n = strlen(text);
    if (n == 0 || n >= sizeof buf)
        return MAILLIMIT_EINVAL;
    memcpy(buf, text, n + 1);
    char *slash = strchr(buf, '/');
    const char *plen = NULL;
    if (slash) {
        *slash = '\0';
        plen = slash + 1;
    }
    char *a = buf;
    size_t an = strlen(a);
    if (an >= 2 && a[0] == '[' && a[an - 1] == ']') {
        a[an - 1] = '\0';
        a++;
    }
    unsigned max;
    uint8_t v4[4];
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, a, v4) == 1) {
        addr[10] = addr[11] = 0xff;
        memcpy(addr + 12, v4, 4);
        max = 32;
    } else if (inet_pton(AF_INET6, a, addr) == 1) {
        max = 128;
    } else {
        return MAILLIMIT_EINVAL;
    }
    unsigned p = max;
    if (plen) {
        if (!*plen || strlen(plen) > 3)
            return MAILLIMIT_EINVAL;
        p = 0;
        for (const char *c = plen; *c; c++) {
            if (*c < '0' || *c > '9')
                return MAILLIMIT_EINVAL;
            p = p * 10 + (unsigned)(*c - '0');
        }
        if (p > max)
            return MAILLIMIT_EINVAL;
    }
    *prefix = p + (128 - max);
    /* clear host bits, so that a match compares whole bytes plus one partial byte */
    for (unsigned bit = *prefix; bit < 128; bit++)
        addr[bit / 8] &= (uint8_t) ~(0x80u >> (bit % 8));
    return 0;
}

static int net_match(const struct netlist *l, const uint8_t a[16])
{
    for (size_t i = 0; i < l->n; i++) {
        const struct net *nt = &l->v[i];
        unsigned full = nt->prefix / 8, rest = nt->prefix % 8;
        if (memcmp(nt->addr, a, full) != 0)
            continue;
        if (rest) {
            uint8_t mask = (uint8_t)(0xffu << (8 - rest));
            if ((a[full] & mask) != nt->addr[full])
                continue;
        }
        return 1;
    }
    return 0;
}

/* The client address (as Postfix sends it: no brackets) as 16 bytes; 0 if unparseable. */
static int client_parse(maillimit__str s, uint8_t out[16])
{
    char buf[64];
    if (!s.p || s.n == 0 || s.n >= sizeof buf)
        return 0;
    memcpy(buf, s.p, s.n);
    buf[s.n] = '\0';
    if (strchr(buf, '/'))
        return 0;
    unsigned prefix;
    return maillimit__cidr_parse(buf, out, &prefix) == 0;
}

/* ---- the object ------------------------------------------------------------------------- */

/* The size of each version of maillimit_policy_outcome, the rule of maillimit.h's "Structs
 * that grow": a caller's outcome gets only the bytes of the version it was initialised with. */
static size_t outcome_size(uint32_t version)
{
    static const size_t sizes[] = { sizeof(maillimit_policy_outcome) };
    return version >= 1 && version <= sizeof sizes / sizeof sizes[0] ? sizes[version - 1] : 0;
}

int maillimit_policy_outcome_init(maillimit_policy_outcome *o, uint32_t version)
{
    if (!o)
        return MAILLIMIT_EINVAL;
    size_t n = outcome_size(version);
    if (!n)
        return MAILLIMIT_EVERSION;
    maillimit_policy_outcome full;
    memset(&full, 0, sizeof full);
    full.version = version;
    full.level = full.reason = full.deny_level = full.deny_window = -1;
    memcpy(o, &full, n);
    return 0;
}

/* Give the caller its version's part of an outcome. */
static void outcome_out(maillimit_policy_outcome *caller, const maillimit_policy_outcome *o)
{
    if (!caller)
        return;
    uint32_t version = caller->version;
    memcpy(caller, o, outcome_size(version));
    caller->version = version;
}

static int netlist_add(struct netlist *l, const char *cidr)
{
    struct net nt;
    if (maillimit__cidr_parse(cidr, nt.addr, &nt.prefix) != 0)
        return MAILLIMIT_EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct net *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return MAILLIMIT_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = nt;
    return 0;
}

int maillimit_policy_new(maillimit_policy **out, maillimit *ml)
{
    if (!out)
        return MAILLIMIT_EINVAL;
    *out = NULL;
    if (!ml)
        return MAILLIMIT_EINVAL;
    maillimit_policy *p = calloc(1, sizeof *p);
    if (!p)
        return MAILLIMIT_ENOMEM;
    p->ml = ml;
    p->action = MAILLIMIT_POLICY_ACTION_DEFER;
    if (netlist_add(&p->nets[MAILLIMIT_POLICY_NETLIST_LOCAL], "127.0.0.0/8") != 0 ||
        netlist_add(&p->nets[MAILLIMIT_POLICY_NETLIST_LOCAL], "::1") != 0) {
        maillimit_policy_free(p);
        return MAILLIMIT_ENOMEM;
    }
    *out = p;
    return 0;
}

void maillimit_policy_free(maillimit_policy *p)
{
    if (!p)
        return;
    free(p->nets[0].v);
    free(p->nets[1].v);
    free(p->inst);
    free(p->buckets);
    free(p);
}

static int dsn_valid(const char *dsn, int cls)
{
    /* class "." subject "." detail: 2, 4 or 5; 1-3 digits; 1-3 digits */
    if (!dsn || dsn[0] != (char)('0' + cls) || dsn[1] != '.')
        return 0;
    const char *c = dsn + 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*c >= '0' && *c <= '9') {
            c++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return 0;
        if (part == 0 && *c++ != '.')
            return 0;
    }
    return *c == '\0';
}

int maillimit_policy_action_set(maillimit_policy *p, int action, int code, const char *dsn)
{
    if (!p)
        return MAILLIMIT_EINVAL;
    switch (action) {
    case MAILLIMIT_POLICY_ACTION_DEFER:
        if (code == 0)
            code = 450;
        if (code < 421 || code > 499)
            return MAILLIMIT_EINVAL;
        if (!dsn)
            dsn = "4.7.0";
        if (!dsn_valid(dsn, 4))
            return MAILLIMIT_EINVAL;
        break;
    case MAILLIMIT_POLICY_ACTION_REJECT:
        if (code == 0)
            code = 550;
        if (code < 500 || code > 599)
            return MAILLIMIT_EINVAL;
        if (!dsn)
            dsn = "5.7.1";
        if (!dsn_valid(dsn, 5))
            return MAILLIMIT_EINVAL;
        break;
    case MAILLIMIT_POLICY_ACTION_HOLD:
        if (code != 0 || dsn)
            return MAILLIMIT_EINVAL;
        dsn = "";
        break;
    default:
        return MAILLIMIT_EINVAL;
    }
    p->action = action;
    p->code = code;
    snprintf(p->dsn, sizeof p->dsn, "%s", dsn);
    return 0;
}

int maillimit_policy_network_add(maillimit_policy *p, int list, const char *cidr)
{
    if (!p || !cidr ||
        (list != MAILLIMIT_POLICY_NETLIST_EXEMPT && list != MAILLIMIT_POLICY_NETLIST_LOCAL))
        return MAILLIMIT_EINVAL;
    return netlist_add(&p->nets[list], cidr);
}

void maillimit__policy_hook_set(maillimit_policy *p, maillimit__decide_hook fn, void *ud)
{
    p->hook = fn;
    p->hook_ud = ud;
}

void maillimit__policy_local_set(maillimit_policy *p, struct maillimit__milter_ctx *ctx)
{
    p->local = ctx;
}

int maillimit_policy_network_clear(maillimit_policy *p, int list)
{
    if (!p ||
        (list != MAILLIMIT_POLICY_NETLIST_EXEMPT && list != MAILLIMIT_POLICY_NETLIST_LOCAL))
        return MAILLIMIT_EINVAL;
    p->nets[list].n = 0;
    return 0;
}

/* ---- the message table ------------------------------------------------------------------ */

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int inst_alloc(maillimit_policy *p)
{
    if (p->inst)
        return 0;
    p->inst = calloc(INST_CAP, sizeof *p->inst);
    p->buckets = aligned_alloc(64, 2 * INST_CAP * sizeof *p->buckets);
    if (p->buckets)
        memset(p->buckets, 0, 2 * INST_CAP * sizeof *p->buckets);
    if (!p->inst || !p->buckets) {
        free(p->inst);
        free(p->buckets);
        p->inst = NULL;
        p->buckets = NULL;
        return MAILLIMIT_ENOMEM;
    }
    return 0;
}

/* A bucket: the entry's sequence number (low 32 bits; 0 = empty) and 32 bits of the key's
 * hash, so that a lookup dereferences (nearly) only the matching entry. The INST_PROBE
 * buckets of a key are one aligned group: one cache line. */
static uint64_t *bucket_group(maillimit_policy *p, uint64_t h)
{
    return &p->buckets[(h & (2 * INST_CAP / INST_PROBE - 1)) * INST_PROBE];
}

/* Whether sequence number seq still names its ring slot (the ring has not wrapped past it). */
static int seq_live(const maillimit_policy *p, uint32_t seq)
{
    return seq != 0 && (uint32_t)(p->seq - seq) < INST_CAP;
}

static struct inst *inst_find(maillimit_policy *p, maillimit__str key, uint64_t h, int64_t now)
{
    if (!p->inst)
        return NULL;
    size_t kn = key.n < INST_KEY ? key.n : INST_KEY;
    uint32_t tag = (uint32_t)(h >> 32);
    uint64_t *g = bucket_group(p, h);
    for (unsigned i = 0; i < INST_PROBE; i++) {
        uint32_t seq = (uint32_t)g[i];
        if ((uint32_t)(g[i] >> 32) != tag || !seq_live(p, seq))
            continue;
        struct inst *e = &p->inst[seq & (INST_CAP - 1)];
        if (e->seq == seq && e->hash == h && e->keylen == key.n &&
            memcmp(e->key, key.p, kn) == 0 && now - e->last <= INST_TTL &&
            now >= e->last - INST_TTL)
            return e;
    }
    return NULL;
}

static struct inst *inst_insert(maillimit_policy *p, maillimit__str key, uint64_t h, int64_t now)
{
    if (inst_alloc(p) != 0)
        return NULL;
    /* a free bucket of the group, else the one holding the oldest entry */
    uint64_t *g = bucket_group(p, h);
    unsigned best = 0;
    uint32_t best_age = 0;
    for (unsigned i = 0; i < INST_PROBE; i++) {
        uint32_t seq = (uint32_t)g[i];
        if (!seq_live(p, seq)) {
            best = i;
            break;
        }
        uint32_t age = p->seq - seq;
        if (age >= best_age) {
            best_age = age;
            best = i;
        }
    }
    if (++p->seq == 0)
        p->seq = 1;
    struct inst *e = &p->inst[p->seq & (INST_CAP - 1)];
    memset(e, 0, sizeof *e);
    e->seq = p->seq;
    e->hash = h;
    e->keylen = (uint32_t)key.n;
    memcpy(e->key, key.p, key.n < INST_KEY ? key.n : INST_KEY);
    e->last = now;
    g[best] = (uint64_t)(uint32_t)(h >> 32) << 32 | p->seq;
    return e;
}

/* ---- texts ------------------------------------------------------------------------------- */

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : addr;
}

static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void appendf(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    if (*len >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, size - *len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *len += (size_t)n;
    if (*len >= size)
        *len = size - 1;
}

static void entity_text(char *buf, size_t size, size_t *len, int attr_level, const char *name,
                        int32_t level, int subscription_is_name)
{
    switch (level) {
    case MAILLIMIT_LEVEL_MAILBOX:
        appendf(buf, size, len, "mailbox %s", name);
        break;
    case MAILLIMIT_LEVEL_DOMAIN:
        appendf(buf, size, len, "domain %s",
                attr_level == MAILLIMIT_LEVEL_MAILBOX ? domain_of(name) : name);
        break;
    case MAILLIMIT_LEVEL_SUBSCRIPTION:
        if (attr_level == MAILLIMIT_LEVEL_SUBSCRIPTION)
            appendf(buf, size, len, subscription_is_name ? "subscription %s"
                                                         : "the subscription of user %s",
                    name);
        else
            appendf(buf, size, len, "the subscription of domain %s",
                    attr_level == MAILLIMIT_LEVEL_MAILBOX ? domain_of(name) : name);
        break;
    case MAILLIMIT_LEVEL_SERVER:
        appendf(buf, size, len, "this server");
        break;
    default:
        appendf(buf, size, len, "%s", name);
        break;
    }
}

static void duration_text(char *buf, size_t size, size_t *len, int64_t s)
{
    if (s < 60) {
        appendf(buf, size, len, "%lld second%s", (long long)s, s == 1 ? "" : "s");
    } else if (s < 2 * 3600) {
        int64_t m = (s + 59) / 60;
        appendf(buf, size, len, "%lld minute%s", (long long)m, m == 1 ? "" : "s");
    } else {
        int64_t h = (s + 3599) / 3600;
        appendf(buf, size, len, "%lld hours", (long long)h);
    }
}

size_t maillimit__policy_deny_text(char *buf, size_t size, int unit, int attr_level,
                                   const char *name, int32_t reason, int32_t deny_level,
                                   int32_t window, int64_t limit, int64_t count, int64_t cost,
                                   int64_t retry_after, int subscription_is_name)
{
    size_t len = 0;
    if (size == 0)
        return 0;
    buf[0] = '\0';
    int rcpt = unit == MAILLIMIT_UNIT_RECIPIENTS;
    const char *title = rcpt ? "Recipient limit reached" : "Message limit reached";
    const char *per = window == MAILLIMIT_WINDOW_DAY ? "day" : "hour";
#define UNITS(x) (rcpt ? ((x) == 1 ? "recipient" : "recipients") : ((x) == 1 ? "message" : "messages"))
    if (reason == MAILLIMIT_REASON_NOT_ALLOWED) {
        appendf(buf, size, &len, "Sending not allowed: mail from scripts is disabled for ");
        entity_text(buf, size, &len, attr_level, name, deny_level, subscription_is_name);
        return len;
    }
    if (limit == 0) {
        appendf(buf, size, &len, "Sending not allowed: ");
        entity_text(buf, size, &len, attr_level, name, deny_level, subscription_is_name);
        appendf(buf, size, &len, " has a limit of 0 %s per %s", UNITS(0), per);
        return len;
    }
    appendf(buf, size, &len, "%s: ", title);
    entity_text(buf, size, &len, attr_level, name, deny_level, subscription_is_name);
    if (retry_after < 0) {
        appendf(buf, size, &len, " may send at most %lld %s per %s, this message has %lld",
                (long long)limit, UNITS(limit), per, (long long)cost);
        return len;
    }
    if (count >= limit)
        appendf(buf, size, &len, " reached its limit of %lld %s per %s", (long long)limit,
                UNITS(limit), per);
    else
        appendf(buf, size, &len, " sent %lld of its limit of %lld %s per %s, this message has %lld",
                (long long)count, (long long)limit, UNITS(limit), per, (long long)cost);
    appendf(buf, size, &len, "; retry in ");
    duration_text(buf, size, &len, retry_after < 1 ? 1 : retry_after);
#undef UNITS
    return len;
}

/* ---- deciding --------------------------------------------------------------------------- */

enum stage { SG_OTHER, SG_MAIL, SG_RCPT, SG_DATA };

static enum stage stage_of(maillimit__str s)
{
    if (!s.p)
        return SG_RCPT; /* not sent: hand-made requests; Postfix always sends it */
    if (NAME_IS(s.p, s.n, "RCPT"))
        return SG_RCPT;
    if (NAME_IS(s.p, s.n, "MAIL"))
        return SG_MAIL;
    if (NAME_IS(s.p, s.n, "DATA") || NAME_IS(s.p, s.n, "END-OF-MESSAGE") ||
        NAME_IS(s.p, s.n, "BDAT"))
        return SG_DATA;
    return SG_OTHER;
}

static int has_byte(maillimit__str s, char c)
{
    return s.p && memchr(s.p, c, s.n) != NULL;
}

/* The domain of the envelope sender (after its last '@'), or an empty string. */
static maillimit__str sender_domain(maillimit__str s)
{
    maillimit__str d = { NULL, 0 };
    if (!s.p)
        return d;
    for (size_t i = s.n; i-- > 0;) {
        if (s.p[i] == '@') {
            d.p = s.p + i + 1;
            d.n = s.n - i - 1;
            break;
        }
    }
    return d;
}

static int64_t parse_count(maillimit__str s)
{
    int64_t v = 0;
    if (!s.p || s.n == 0 || s.n > 9)
        return 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return 0;
        v = v * 10 + (s.p[i] - '0');
    }
    return v;
}

size_t maillimit__policy_text(const maillimit_policy *p, const maillimit_policy_outcome *o,
                              char *buf, size_t size)
{
    int unit = MAILLIMIT_UNIT_MESSAGES, sub_is_name = 0;
    maillimit_unit_get(p->ml, &unit);
    if (o->level == MAILLIMIT_LEVEL_SUBSCRIPTION && o->deny_level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
        int64_t lim;
        sub_is_name = maillimit_limit_effective(p->ml, MAILLIMIT_LEVEL_SUBSCRIPTION, o->name,
                                          MAILLIMIT_WINDOW_HOUR, &lim) == 0;
    }
    return maillimit__policy_deny_text(buf, size, unit, o->level, o->name, o->reason,
                                       o->deny_level, o->deny_window, o->limit, o->count,
                                       o->cost, o->retry_after, sub_is_name);
}

int maillimit__policy_action(const maillimit_policy *p)
{
    return p->action;
}

void maillimit__policy_code(const maillimit_policy *p, int action, char *buf, size_t size)
{
    if (action < 0 || action == p->action)
        snprintf(buf, size, "%d %s ", p->code ? p->code : 450, p->dsn[0] ? p->dsn : "4.7.0");
    else if (action == MAILLIMIT_POLICY_ACTION_REJECT)
        snprintf(buf, size, "550 5.7.1 ");
    else
        snprintf(buf, size, "450 4.7.0 ");
}

static size_t write_reply(const maillimit_policy *p, char *reply, size_t size,
                          const maillimit_policy_outcome *o)
{
    size_t len = 0;
    if (o->result != MAILLIMIT_POLICY_DENY) {
        static const char dunno[] = "action=DUNNO\n\n";
        memcpy(reply, dunno, sizeof dunno - 1);
        return sizeof dunno - 1;
    }
    char text[600];
    maillimit__policy_text(p, o, text, sizeof text);
    if (p->action == MAILLIMIT_POLICY_ACTION_HOLD)
        appendf(reply, size, &len, "action=HOLD %s\n\n", text);
    else
        appendf(reply, size, &len, "action=%d %s %s\n\n", p->code ? p->code : 450,
                p->dsn[0] ? p->dsn : "4.7.0", text);
    return len;
}

static int pass(maillimit_policy_outcome *o, int why)
{
    o->result = MAILLIMIT_POLICY_PASS;
    o->pass = why;
    return 0;
}

/* Attribution by caller_uid: 1 with *level and o->name set, 0 for a login whose mail is not
 * counted (local_exempt_users), -1 with o set to FAILOPEN. */
static int local_attribution(maillimit_policy *p, const maillimit__policy_req *r,
                             maillimit_policy_outcome *o, int *level)
{
    char sender[MAILLIMIT_NAME_MAX + 1] = "";
    if (r->sender.p && r->sender.n <= MAILLIMIT_NAME_MAX) {
        memcpy(sender, r->sender.p, r->sender.n);
        sender[r->sender.n] = '\0';
    }
    /* the uid's login (Exim takes the uid from the kernel); an unknown uid: nobody */
    char login[256] = "", pwbuf[4096];
    uint64_t uid = 0;
    int ok = r->caller_uid.n > 0 && r->caller_uid.n <= 10;
    for (size_t i = 0; ok && i < r->caller_uid.n; i++) {
        char ch = r->caller_uid.p[i];
        ok = ch >= '0' && ch <= '9';
        uid = uid * 10 + (uint64_t)(ch - '0');
    }
    struct passwd pw, *res = NULL;
    if (ok && uid <= 0xffffffffu && getpwuid_r((uid_t)uid, &pw, pwbuf, sizeof pwbuf, &res) == 0 &&
        res && strlen(res->pw_name) < sizeof login)
        snprintf(login, sizeof login, "%s", res->pw_name);
    maillimit__milter_event ev;
    memset(&ev, 0, sizeof ev);
    int rc = maillimit__local_attribute_login(p->local, login[0] ? login : NULL, sender, &ev);
    if (rc) {
        o->result = MAILLIMIT_POLICY_FAILOPEN;
        o->error = rc;
        return -1;
    }
    if (ev.who == MAILLIMIT__WHO_EXEMPT_USER)
        return 0;
    *level = ev.level;
    snprintf(o->name, sizeof o->name, "%s", ev.name);
    return 1;
}

static int decide_request(maillimit_policy *p, const maillimit__policy_req *r, int64_t now,
                          maillimit_policy_outcome *o)
{
    if (!r->request.p || !NAME_IS(r->request.p, r->request.n, "smtpd_access_policy"))
        return pass(o, MAILLIMIT_POLICY_PASS_NOT_POLICY);
    uint8_t client[16];
    int have_client = client_parse(r->client_address, client);
    if (have_client && net_match(&p->nets[MAILLIMIT_POLICY_NETLIST_EXEMPT], client))
        return pass(o, MAILLIMIT_POLICY_PASS_EXEMPT);
    enum stage stage = stage_of(r->protocol_state);
    if (stage == SG_OTHER)
        return pass(o, MAILLIMIT_POLICY_PASS_STAGE);

    /* attribution */
    maillimit__str dom = sender_domain(r->sender);
    int level;
    size_t nlen;
    if (r->caller_uid.p && p->local) {
        /* a local submission that names its submitter (Exim's $caller_uid) */
        int rc = local_attribution(p, r, o, &level);
        if (rc <= 0)
            return rc < 0 ? 0 : pass(o, MAILLIMIT_POLICY_PASS_EXEMPT);
    } else if (r->sasl_username.p && r->sasl_username.n) {
        maillimit__str u = r->sasl_username;
        if (has_byte(u, '@')) {
            level = MAILLIMIT_LEVEL_MAILBOX;
            nlen = u.n;
        } else if (dom.n) {
            level = MAILLIMIT_LEVEL_MAILBOX;
            nlen = u.n + 1 + dom.n;
        } else {
            level = MAILLIMIT_LEVEL_SUBSCRIPTION;
            nlen = u.n;
        }
        if (nlen >= sizeof o->name) {
            o->result = MAILLIMIT_POLICY_FAILOPEN;
            o->error = MAILLIMIT_EINVAL;
            o->level = level;
            return 0;
        }
        memcpy(o->name, u.p, u.n);
        if (level == MAILLIMIT_LEVEL_MAILBOX && !has_byte(u, '@')) {
            o->name[u.n] = '@';
            memcpy(o->name + u.n + 1, dom.p, dom.n);
        }
        o->name[nlen] = '\0';
    } else if (have_client && net_match(&p->nets[MAILLIMIT_POLICY_NETLIST_LOCAL], client)) {
        if (!dom.n)
            return pass(o, MAILLIMIT_POLICY_PASS_NO_SENDER);
        level = MAILLIMIT_LEVEL_DOMAIN;
        if (dom.n >= sizeof o->name) {
            o->result = MAILLIMIT_POLICY_FAILOPEN;
            o->error = MAILLIMIT_EINVAL;
            o->level = level;
            return 0;
        }
        memcpy(o->name, dom.p, dom.n);
        o->name[dom.n] = '\0';
    } else {
        return pass(o, MAILLIMIT_POLICY_PASS_INBOUND);
    }
    o->level = level;

    int unit = MAILLIMIT_UNIT_MESSAGES;
    maillimit_unit_get(p->ml, &unit);
    if (unit == MAILLIMIT_UNIT_RECIPIENTS && stage == SG_MAIL)
        return pass(o, MAILLIMIT_POLICY_PASS_STAGE);

    /* the message this request belongs to */
    struct inst *e = NULL;
    uint64_t h = 0;
    int have_inst = r->instance.p && r->instance.n;
    if (have_inst) {
        h = hash_bytes(r->instance.p, r->instance.n);
        e = inst_find(p, r->instance, h, now);
    }
    if (e) {
        e->last = now;
        if (e->state != ST_NONE && (unit == MAILLIMIT_UNIT_MESSAGES || stage == SG_DATA)) {
            o->repeated = 1;
            o->result = e->state == ST_DENIED ? MAILLIMIT_POLICY_DENY : MAILLIMIT_POLICY_ALLOW;
            o->reason = e->reason;
            o->deny_level = e->deny_level;
            o->deny_window = e->window;
            o->limit = e->limit;
            o->count = e->count;
            o->retry_after = e->retry_at < 0 ? -1 : (e->retry_at - now < 1 ? 1 : e->retry_at - now);
            if (o->result == MAILLIMIT_POLICY_ALLOW)
                o->retry_after = 0;
            o->cost = o->result == MAILLIMIT_POLICY_DENY ? e->cost : 0;
            return 0;
        }
    }
    int64_t cost = 1;
    int message_level = unit == MAILLIMIT_UNIT_MESSAGES; /* the decision covers the message */
    if (unit == MAILLIMIT_UNIT_RECIPIENTS && stage == SG_DATA) {
        int64_t n = parse_count(r->recipient_count);
        if (n < 1)
            n = 1;
        cost = n - (e ? e->counted : 0);
        message_level = 1;
        if (cost <= 0) {
            /* every recipient was counted at RCPT */
            o->result = MAILLIMIT_POLICY_ALLOW;
            o->repeated = 1;
            o->cost = 0;
            if (e)
                e->state = ST_ALLOWED;
            return 0;
        }
        if (cost > MAILLIMIT_COST_MAX)
            cost = MAILLIMIT_COST_MAX;
    }

    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    int rc = p->hook ? p->hook(p->hook_ud, level, o->name, cost, now, &v)
                     : maillimit_decide(p->ml, level, o->name, cost, now, &v);
    if (rc == MAILLIMIT__DECIDE_PENDING) {
        o->result = MAILLIMIT__POLICY_PENDING; /* nothing stored: the request runs again */
        return 0;
    }
    if (rc != 0) {
        o->result = MAILLIMIT_POLICY_FAILOPEN;
        o->error = rc;
        return 0;
    }
    maillimit__outcome_verdict(o, &v, cost);
    if (!have_inst)
        return 0;
    if (!e)
        e = inst_insert(p, r->instance, h, now);
    if (!e)
        return 0; /* no memory for the table: the next request decides again */
    if (v.decision == MAILLIMIT_ALLOW)
        e->counted += cost;
    if (message_level) {
        e->state = v.decision == MAILLIMIT_DENY ? ST_DENIED : ST_ALLOWED;
        e->reason = (int8_t)v.reason;
        e->deny_level = (int8_t)v.level;
        e->window = (int8_t)v.window;
        e->limit = v.limit;
        e->count = v.count;
        e->cost = cost;
        e->retry_at = v.retry_after < 0 ? -1 : now + v.retry_after;
    }
    return 0;
}

void maillimit__outcome_verdict(maillimit_policy_outcome *o, const maillimit_verdict *v,
                                int64_t cost)
{
    o->cost = cost;
    o->reason = v->reason;
    o->deny_level = v->level;
    o->deny_window = v->window;
    o->limit = v->limit;
    o->count = v->count;
    o->retry_after = v->retry_after;
    o->result = v->decision == MAILLIMIT_DENY ? MAILLIMIT_POLICY_DENY : MAILLIMIT_POLICY_ALLOW;
}

/* As maillimit_policy_outcome_init(), without clearing all of name[] (hot path). */
static void outcome_reset(maillimit_policy_outcome *o)
{
    o->version = MAILLIMIT_POLICY_OUTCOME_VERSION;
    o->result = o->pass = o->repeated = o->error = o->reserved_ = 0;
    o->level = o->reason = o->deny_level = o->deny_window = -1;
    o->cost = o->limit = o->count = o->retry_after = 0;
    o->name[0] = '\0';
    o->problem = NULL;
}

void maillimit__policy_decide(maillimit_policy *p, const maillimit__policy_req *r, int64_t now,
                              maillimit_policy_outcome *o)
{
    outcome_reset(o);
    decide_request(p, r, now ? now : (int64_t)time(NULL), o);
}

int maillimit_policy_request(maillimit_policy *p, const char *data, size_t len, int64_t now,
                             size_t *consumed, char *reply, size_t *replylen,
                             maillimit_policy_outcome *outcome)
{
    if (!p || (!data && len) || !consumed || !reply || !replylen || now < 0)
        return MAILLIMIT_EINVAL;
    if (outcome && !outcome_size(outcome->version))
        return MAILLIMIT_EINVAL;
    *consumed = 0;
    if (*replylen < MAILLIMIT_POLICY_REPLY_MAX) {
        *replylen = MAILLIMIT_POLICY_REPLY_MAX;
        return MAILLIMIT_ENOBUFS;
    }
    maillimit_policy_outcome local;
    maillimit_policy_outcome *o = &local;
    outcome_reset(o);

    maillimit__policy_req r;
    const char *problem;
    size_t used;
    int rc = maillimit__policy_parse(data ? data : "", len, &r, &used, &problem);
    if (rc != 0) {
        o->problem = problem;
        *replylen = 0;
        outcome_out(outcome, o);
        return rc;
    }
    if (used == 0) {
        *replylen = 0;
        outcome_out(outcome, o);
        return 0;
    }
    if (now == 0)
        now = (int64_t)time(NULL);
    decide_request(p, &r, now, o);
    if (o->result == MAILLIMIT__POLICY_PENDING) {
        *replylen = 0;
        outcome_out(outcome, o);
        return 0;
    }
    *replylen = write_reply(p, reply, MAILLIMIT_POLICY_REPLY_MAX, o);
    *consumed = used;
    outcome_out(outcome, o);
    return 0;
}
