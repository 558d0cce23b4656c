/* SPDX-License-Identifier: MIT */
/* Configuration text: maillimit_config_load() and maillimit_config_load_mem().
 *
 * Format (SPEC §6). One directive per line; blank lines are fine; tokens are separated by
 * spaces and tabs; a token that starts with `#` starts a comment that runs to the end of the
 * line (a `#` inside a token is part of it: `mailbox=20#x` is a bad value). A `\r` before the
 * `\n` (or at the end of the text) is ignored.
 *
 *   enable yes|no
 *   unit messages|recipients
 *   server KEY=VALUE...           server, subscription, domain, mailbox (+ .day), sendmail
 *   plan NAME KEY=VALUE...        subscription, domain, mailbox (+ .day), sendmail, exempt
 *   subscription NAME [plan=PLAN] KEY=VALUE...  as plan
 *   domain NAME subscription=SUB KEY=VALUE...   domain, mailbox (+ .day), exempt
 *   mailbox ADDRESS KEY=VALUE...  mailbox (+ .day), exempt
 *   sysuser LOGIN subscription=SUB
 *
 * Choices made here (the spec leaves them open):
 * - Directives, keys and keyword values are lower case, exactly as written above. Names are
 *   case-insensitive like everywhere in the library.
 * - A limit is a decimal integer 0..INT64_MAX (digits only: no sign, no spaces), `unlimited`,
 *   or `default` (inherit; not on the server line). Key K without suffix is the hourly
 *   limit, `K.day` the daily one. The key `subscription` on `domain` and `sysuser` lines is
 *   the placement, not a limit (those levels cannot set a subscription limit).
 * - Flags (and `enable`) accept yes|no, on|off and 1|0; flags also `default` (inherit),
 *   except on the server line.
 * - The NAME of plan, subscription, domain and sysuser lines cannot contain `=` (a first
 *   token with `=` is taken as a forgotten name); mailbox addresses may.
 * - Every key at most once per line. An entity (plan, subscription, domain, mailbox, sysuser)
 *   at most once per file. `enable`, `unit` and each server key at most once per file, but
 *   the server keys may be spread over several `server` lines.
 * - References (plan=, subscription=, a mailbox's domain) must name an entity that exists in
 *   the handle or is defined on an earlier line.
 * - Lines are at most 4096 bytes (line ending excluded); the text at most 64 MiB (larger is
 *   refused with MAILLIMIT_EFORMAT; a regular file by its size, before reading); a NUL
 *   byte is an error.
 *
 * maillimit_config_apply() makes the file the whole configuration: after the same steps,
 * every key an entity's line (or the server lines) does not set goes back to its default,
 * a subscription line without plan= leaves its plan, and plans, subscriptions, domains,
 * explicit mailboxes and system users the file does not define are removed (with their
 * subtrees; implicit mailboxes of remaining domains stay). References must then name
 * entities defined in the file. Counters of entities that remain are untouched.
 *
 * Loading is declarative and additive: missing entities are created, entities placed
 * elsewhere are moved (a subscription with plan= to that plan, a domain to its subscription,
 * a system user is removed and re-added), values the file sets are set, everything else is
 * left alone. Nothing is removed; no counter is touched.
 *
 * Atomicity: the whole load runs under the configuration lock (recursive, so the public
 * configuration calls can be used inside). Pass 1 parses the whole text into a list of
 * operations and validates every one of them against the handle and against what earlier
 * lines define; any error returns before anything changed. Pass 2 applies the operations
 * through the public API. After pass 1, the only way pass 2 can fail is MAILLIMIT_ENOMEM (a
 * new entity or a grown name table); then the lines before the failing one stay applied, and
 * the message says so.
 *
 * Memory: the text is read whole; pass 1 keeps a few dozen bytes per line plus the names, all
 * freed before returning. No global state.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

enum { CFG_LINE_MAX = 4096, CFG_TOKENS_MAX = CFG_LINE_MAX / 2 + 1 };
#define CFG_TEXT_MAX ((size_t)64 << 20)
#define CFG_NONE UINT32_MAX

/* ---- the vocabulary --------------------------------------------------------------------- */

enum cfg_dir { D_ENABLE, D_UNIT, D_SERVER, D_PLAN, D_SUBSCRIPTION, D_DOMAIN, D_MAILBOX,
               D_SYSUSER, D_COUNT };

/* Keys, in the order they are listed in messages. */
enum cfg_key { K_PLAN, K_SERVER, K_SERVER_DAY, K_SUB, K_SUB_DAY, K_DOMAIN, K_DOMAIN_DAY,
               K_MAILBOX, K_MAILBOX_DAY, K_SENDMAIL, K_EXEMPT, K_COUNT };

#define BIT(k) (1u << (k))
#define LIMIT_KEYS_BELOW_SERVER                                                              \
    (BIT(K_SUB) | BIT(K_SUB_DAY) | BIT(K_DOMAIN) | BIT(K_DOMAIN_DAY) | BIT(K_MAILBOX) |      \
     BIT(K_MAILBOX_DAY))

static const struct cfg_keydef {
    const char *name;
    int target;   /* limit target level, or -1 */
    int window;   /* limit window */
    int flag;     /* MAILLIMIT_FLAG_*, or -1 */
} keydefs[K_COUNT] = {
    [K_PLAN] = {"plan", -1, 0, -1},
    [K_SERVER] = {"server", MAILLIMIT_LEVEL_SERVER, MAILLIMIT_WINDOW_HOUR, -1},
    [K_SERVER_DAY] = {"server.day", MAILLIMIT_LEVEL_SERVER, MAILLIMIT_WINDOW_DAY, -1},
    [K_SUB] = {"subscription", MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_HOUR, -1},
    [K_SUB_DAY] = {"subscription.day", MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_DAY, -1},
    [K_DOMAIN] = {"domain", MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_HOUR, -1},
    [K_DOMAIN_DAY] = {"domain.day", MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_DAY, -1},
    [K_MAILBOX] = {"mailbox", MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, -1},
    [K_MAILBOX_DAY] = {"mailbox.day", MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_DAY, -1},
    [K_SENDMAIL] = {"sendmail", -1, 0, MAILLIMIT_FLAG_SENDMAIL},
    [K_EXEMPT] = {"exempt", -1, 0, MAILLIMIT_FLAG_EXEMPT},
};

static const struct cfg_dirdef {
    const char *name;
    int level;      /* level of the entity the line configures (sysuser: internal level) */
    unsigned keys;  /* allowed keys */
} dirdefs[D_COUNT] = {
    [D_ENABLE] = {"enable", MAILLIMIT_LEVEL_SERVER, 0},
    [D_UNIT] = {"unit", MAILLIMIT_LEVEL_SERVER, 0},
    [D_SERVER] = {"server", MAILLIMIT_LEVEL_SERVER,
                  BIT(K_SERVER) | BIT(K_SERVER_DAY) | LIMIT_KEYS_BELOW_SERVER | BIT(K_SENDMAIL)},
    [D_PLAN] = {"plan", MAILLIMIT_LEVEL_PLAN,
                LIMIT_KEYS_BELOW_SERVER | BIT(K_SENDMAIL) | BIT(K_EXEMPT)},
    [D_SUBSCRIPTION] = {"subscription", MAILLIMIT_LEVEL_SUBSCRIPTION,
                        BIT(K_PLAN) | LIMIT_KEYS_BELOW_SERVER | BIT(K_SENDMAIL) |
                            BIT(K_EXEMPT)},
    [D_DOMAIN] = {"domain", MAILLIMIT_LEVEL_DOMAIN,
                  BIT(K_SUB) | BIT(K_DOMAIN) | BIT(K_DOMAIN_DAY) | BIT(K_MAILBOX) |
                      BIT(K_MAILBOX_DAY) | BIT(K_EXEMPT)},
    [D_MAILBOX] = {"mailbox", MAILLIMIT_LEVEL_MAILBOX,
                   BIT(K_MAILBOX) | BIT(K_MAILBOX_DAY) | BIT(K_EXEMPT)},
    [D_SYSUSER] = {"sysuser", MAILLIMIT__LEVEL_SYSUSER, BIT(K_SUB)},
};

#define DIRECTIVE_LIST "enable, unit, server, plan, subscription, domain, mailbox, sysuser"

/* The level whose name rules a directive's NAME follows (system-user logins follow the
 * plain-name rules, as in hierarchy.c). */
static int name_level(int dir)
{
    return dir == D_SYSUSER ? MAILLIMIT_LEVEL_PLAN : dirdefs[dir].level;
}

/* ---- the parsed form -------------------------------------------------------------------- */

struct cfg_set {
    int64_t value;    /* limit, or flag value 0/1/DEFAULT */
    uint8_t key;      /* enum cfg_key */
};

struct cfg_op {
    uint32_t line;
    uint8_t dir;      /* enum cfg_dir */
    uint8_t nset;
    int32_t arg;      /* enable: 0/1; unit: MAILLIMIT_UNIT_* */
    uint32_t name;    /* normalised name (pool offset) or CFG_NONE */
    uint32_t parent;  /* plan of a subscription, subscription of a domain/sysuser, or NONE */
    uint32_t set;     /* index of the first setting */
};

struct cfg {
    maillimit *ml;
    int replace;            /* maillimit_config_apply(): the file is the whole configuration */
    const char *path;
    char *err;
    size_t errlen;
    uint32_t line;

    struct cfg_op *ops;
    size_t nops, capops;
    struct cfg_set *sets;
    size_t nsets, capsets;
    char *pool;
    size_t npool, cappool;
    uint32_t *defs;         /* hash set of (op index + 1) of entities defined; 0 = empty */
    size_t defcap, ndefs;

    uint32_t key_line[K_COUNT];  /* server keys: line that set them */
    uint32_t enable_line, unit_line;

    char text[CFG_LINE_MAX + 1];  /* the current line, tokenised in place */
    char *tok[CFG_TOKENS_MAX];
};

/* ---- messages --------------------------------------------------------------------------- */

enum { QUOTE_SRC_MAX = 64, QUOTE_BUF = QUOTE_SRC_MAX * 4 + 8 };

/* A token for a message: in double quotes, bytes outside printable ASCII (and `"`, `\`)
 * escaped as \xNN, cut after 64 bytes with "...". */
static const char *quote(char *buf, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, i = 0;
    buf[o++] = '"';
    for (; s[i] && i < QUOTE_SRC_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        } else {
            buf[o++] = (char)ch;
        }
    }
    buf[o++] = '"';
    if (s[i]) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* Report a text error on the current line: "PATH:LINE: message". Returns EFORMAT. */
static int fail(struct cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct cfg *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    maillimit__errf(c->err, c->errlen, "%s:%lu: %s", c->path, (unsigned long)c->line, msg);
    return MAILLIMIT_EFORMAT;
}

static int oom(struct cfg *c)
{
    maillimit__errf(c->err, c->errlen, "%s: out of memory", c->path);
    return MAILLIMIT_ENOMEM;
}

/* "a, b, c" of the keys in mask, for "expected ..." hints. */
static const char *key_list(unsigned mask, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int k = 0; k < K_COUNT; k++) {
        if (!(mask & BIT(k)))
            continue;
        int w = snprintf(buf + o, n - o, "%s%s", o ? ", " : "", keydefs[k].name);
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
    return buf;
}

/* ---- growable arrays -------------------------------------------------------------------- */

/* Make room for `need` elements of `size` bytes in array p of capacity *cap (need >= 1).
 * Returns the (possibly moved) array, or NULL on ENOMEM (p is then unchanged). */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * size);
    if (q)
        *cap = n;
    return q;
}

/* Store a name in the pool; returns its offset or CFG_NONE on ENOMEM. */
static uint32_t pool_add(struct cfg *c, const char *s, size_t len)
{
    char *pool = grow(c->pool, &c->cappool, c->npool + len + 1, 1);
    if (!pool)
        return CFG_NONE;
    c->pool = pool;
    uint32_t off = (uint32_t)c->npool;
    memcpy(c->pool + off, s, len + 1);
    c->npool += len + 1;
    return off;
}

/* ---- entities defined by earlier lines -------------------------------------------------- */

static uint64_t def_hash(int dir, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)dir;
    for (; *name; name++) {
        h ^= (unsigned char)*name;
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

/* The op that defined (dir, normalised name) earlier in the file, or NULL. */
static const struct cfg_op *def_find(const struct cfg *c, int dir, const char *name)
{
    if (!c->defcap)
        return NULL;
    for (size_t i = def_hash(dir, name) & (c->defcap - 1);; i = (i + 1) & (c->defcap - 1)) {
        uint32_t v = c->defs[i];
        if (!v)
            return NULL;
        const struct cfg_op *op = &c->ops[v - 1];
        if (op->dir == dir && strcmp(c->pool + op->name, name) == 0)
            return op;
    }
}

static void def_place(uint32_t *defs, size_t cap, const struct cfg *c, uint32_t v)
{
    const struct cfg_op *op = &c->ops[v - 1];
    size_t i = def_hash(op->dir, c->pool + op->name) & (cap - 1);
    while (defs[i])
        i = (i + 1) & (cap - 1);
    defs[i] = v;
}

static int def_add(struct cfg *c, size_t opi)
{
    if ((c->ndefs + 1) * 2 > c->defcap) {
        size_t cap = c->defcap ? c->defcap * 2 : 256;
        uint32_t *d = calloc(cap, sizeof *d);
        if (!d)
            return MAILLIMIT_ENOMEM;
        for (size_t i = 0; i < c->defcap; i++)
            if (c->defs[i])
                def_place(d, cap, c, c->defs[i]);
        free(c->defs);
        c->defs = d;
        c->defcap = cap;
    }
    def_place(c->defs, c->defcap, c, (uint32_t)(opi + 1));
    c->ndefs++;
    return 0;
}

/* Does (level, normalised name) exist in the handle or on an earlier line? */
static int exists(struct cfg *c, int dir, const char *name)
{
    if (c->replace) /* what the file does not define is about to go */
        return def_find(c, dir, name) != NULL;
    return def_find(c, dir, name) != NULL || maillimit__lookup(c->ml, dirdefs[dir].level, name);
}

/* ---- values ----------------------------------------------------------------------------- */

static int parse_bool(const char *v)
{
    if (!strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        return 1;
    if (!strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        return 0;
    return -1;
}

static int parse_limit(struct cfg *c, int dir, int k, const char *v, int64_t *out)
{
    char q[QUOTE_BUF];
    if (!strcmp(v, "unlimited")) {
        *out = MAILLIMIT_UNLIMITED;
        return 0;
    }
    if (!strcmp(v, "default")) {
        if (dir == D_SERVER)
            return fail(c, "\"default\" is not allowed for key \"%s\" on the server line "
                           "(the server has nothing to inherit from; use a number or "
                           "\"unlimited\")", keydefs[k].name);
        *out = MAILLIMIT_DEFAULT;
        return 0;
    }
    int64_t n = 0;
    const char *p = v;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return fail(c, "value %s for key \"%s\" is too large (at most %lld)", quote(q, v),
                        keydefs[k].name, (long long)INT64_MAX);
        n = n * 10 + d;
    }
    if (*p || p == v)
        return fail(c, "bad value %s for key \"%s\" (expected a number%s)", quote(q, v),
                    keydefs[k].name,
                    dir == D_SERVER ? " or \"unlimited\"" : ", \"unlimited\" or \"default\"");
    *out = n;
    return 0;
}

static int parse_flag(struct cfg *c, int dir, int k, const char *v, int64_t *out)
{
    char q[QUOTE_BUF];
    int b = parse_bool(v);
    if (b >= 0) {
        *out = b;
        return 0;
    }
    if (!strcmp(v, "default")) {
        if (dir == D_SERVER)
            return fail(c, "\"default\" is not allowed for key \"%s\" on the server line "
                           "(use yes or no)", keydefs[k].name);
        *out = MAILLIMIT_DEFAULT;
        return 0;
    }
    return fail(c, "bad value %s for key \"%s\" (expected yes, no%s)", quote(q, v),
                keydefs[k].name, dir == D_SERVER ? "" : " or default");
}

/* ---- pass 1: one line ------------------------------------------------------------------- */

static int find_dir(const char *s)
{
    for (int d = 0; d < D_COUNT; d++)
        if (!strcmp(s, dirdefs[d].name))
            return d;
    return -1;
}

static int find_key(const char *s)
{
    for (int k = 0; k < K_COUNT; k++)
        if (!strcmp(s, keydefs[k].name))
            return k;
    return -1;
}

/* enable / unit: exactly one value. */
static int parse_setting(struct cfg *c, int dir, int ntok, struct cfg_op *op)
{
    char q[QUOTE_BUF];
    const char *expected = dir == D_ENABLE ? "yes or no" : "messages or recipients";
    uint32_t *seen = dir == D_ENABLE ? &c->enable_line : &c->unit_line;
    if (ntok < 2)
        return fail(c, "%s: missing value (expected %s)", dirdefs[dir].name, expected);
    if (ntok > 2)
        return fail(c, "%s: unexpected %s after the value", dirdefs[dir].name,
                    quote(q, c->tok[2]));
    const char *v = c->tok[1];
    int val;
    if (dir == D_ENABLE)
        val = parse_bool(v);
    else
        val = !strcmp(v, "messages")     ? MAILLIMIT_UNIT_MESSAGES
              : !strcmp(v, "recipients") ? MAILLIMIT_UNIT_RECIPIENTS
                                         : -1;
    if (val < 0)
        return fail(c, "%s: bad value %s (expected %s)", dirdefs[dir].name, quote(q, v),
                    expected);
    if (*seen)
        return fail(c, "%s is already set on line %lu", dirdefs[dir].name,
                    (unsigned long)*seen);
    *seen = c->line;
    op->arg = val;
    return 0;
}

static int parse_line(struct cfg *c)
{
    char qa[QUOTE_BUF], qb[QUOTE_BUF], list[256];
    char norm[MAILLIMIT_NAME_MAX + 1], pnorm[MAILLIMIT_NAME_MAX + 1];
    const char *why = NULL;

    /* Tokens: runs of bytes other than space and tab; a token starting with '#' ends the
     * line. A line has at most 4096 bytes, hence at most 2048 tokens. */
    int ntok = 0;
    for (char *p = c->text;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            break;
        c->tok[ntok++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    if (ntok == 0)
        return 0;

    int dir = find_dir(c->tok[0]);
    if (dir < 0)
        return fail(c, "unknown directive %s (expected " DIRECTIVE_LIST ")",
                    quote(qa, c->tok[0]));
    const struct cfg_dirdef *dd = &dirdefs[dir];

    struct cfg_op *ops = grow(c->ops, &c->capops, c->nops + 1, sizeof *c->ops);
    if (!ops)
        return oom(c);
    c->ops = ops;
    struct cfg_op *op = &c->ops[c->nops];
    memset(op, 0, sizeof *op);
    op->line = c->line;
    op->dir = (uint8_t)dir;
    op->name = op->parent = CFG_NONE;
    op->set = (uint32_t)c->nsets;

    if (dir == D_ENABLE || dir == D_UNIT) {
        int rc = parse_setting(c, dir, ntok, op);
        if (rc)
            return rc;
        c->nops++;
        return 0;
    }

    /* The entity's name. */
    int first = 1;
    const char *what = dd->name;   /* for messages: "plan", "domain", ... */
    const char *raw = NULL;        /* the name as written */
    if (dir != D_SERVER) {
        if (ntok < 2)
            return fail(c, "%s: missing name", what);
        raw = c->tok[1];
        if (dir != D_MAILBOX && strchr(raw, '='))
            return fail(c, "%s: missing name before %s", what, quote(qa, raw));
        int len = maillimit__name_norm(name_level(dir), raw, norm, &why);
        if (len < 0)
            return fail(c, "invalid %s name %s: %s", what, quote(qa, raw), why);
        first = 2;
    }

    /* KEY=VALUE options. */
    unsigned seen = 0;
    const char *parent_raw = NULL;
    for (int i = first; i < ntok; i++) {
        char *t = c->tok[i];
        char *eq = strchr(t, '=');
        if (!eq) {
            int k = find_key(t);
            if (k >= 0 && (dd->keys & BIT(k)))
                return fail(c, "missing value for key \"%s\" (write %s=VALUE)", t, t);
            return fail(c, "expected KEY=VALUE, got %s (%s keys: %s)", quote(qa, t), what,
                        key_list(dd->keys, list, sizeof list));
        }
        *eq = '\0';
        const char *v = eq + 1;
        int k = find_key(t);
        if (k < 0)
            return fail(c, "unknown key %s for %s (expected %s)", quote(qa, t), what,
                        key_list(dd->keys, list, sizeof list));
        if (!(dd->keys & BIT(k)))
            return fail(c, "key \"%s\" is not allowed for %s (expected %s)", t, what,
                        key_list(dd->keys, list, sizeof list));
        if (seen & BIT(k))
            return fail(c, "duplicate key \"%s\"", t);
        seen |= BIT(k);
        if (!*v)
            return fail(c, "missing value for key \"%s\"", t);

        if (k == K_PLAN || (k == K_SUB && (dir == D_DOMAIN || dir == D_SYSUSER))) {
            /* placement */
            int plevel = k == K_PLAN ? MAILLIMIT_LEVEL_PLAN : MAILLIMIT_LEVEL_SUBSCRIPTION;
            if (maillimit__name_norm(plevel, v, pnorm, &why) < 0)
                return fail(c, "invalid %s name %s: %s", keydefs[k].name, quote(qa, v), why);
            parent_raw = v;
            continue;
        }

        if (dir == D_SERVER && c->key_line[k])
            return fail(c, "server key \"%s\" is already set on line %lu", t,
                        (unsigned long)c->key_line[k]);
        int64_t value = 0;
        int rc = keydefs[k].flag >= 0 ? parse_flag(c, dir, k, v, &value)
                                      : parse_limit(c, dir, k, v, &value);
        if (rc)
            return rc;
        struct cfg_set *sets = grow(c->sets, &c->capsets, c->nsets + 1, sizeof *c->sets);
        if (!sets)
            return oom(c);
        c->sets = sets;
        c->sets[c->nsets].value = value;
        c->sets[c->nsets].key = (uint8_t)k;
        c->nsets++;
        op->nset++;
    }

    if (dir == D_SERVER) {
        for (int k = 0; k < K_COUNT; k++)
            if (seen & BIT(k))
                c->key_line[k] = c->line;
        c->nops++;
        return 0;
    }

    /* Required placement, definitions twice, references. */
    if ((dir == D_DOMAIN || dir == D_SYSUSER) && !parent_raw)
        return fail(c, "%s %s: missing subscription=SUBSCRIPTION (the subscription it "
                       "belongs to)", what, quote(qa, raw));
    const struct cfg_op *prev = def_find(c, dir, norm);
    if (prev)
        return fail(c, "%s %s is already defined on line %lu", what, quote(qa, raw),
                    (unsigned long)prev->line);
    if (parent_raw) {
        int pdir = dir == D_SUBSCRIPTION ? D_PLAN : D_SUBSCRIPTION;
        if (!exists(c, pdir, pnorm))
            return fail(c, "%s %s: %s %s does not exist", what, quote(qa, raw),
                        dirdefs[pdir].name, quote(qb, parent_raw));
    }
    if (dir == D_MAILBOX) {
        const char *dom = strchr(norm, '@') + 1;
        if (!exists(c, D_DOMAIN, dom))
            return fail(c, "mailbox %s: domain %s does not exist", quote(qa, raw),
                        quote(qb, strchr(raw, '@') + 1));
    }

    op->name = pool_add(c, norm, strlen(norm));
    if (op->name == CFG_NONE)
        return oom(c);
    if (parent_raw) {
        op->parent = pool_add(c, pnorm, strlen(pnorm));
        if (op->parent == CFG_NONE)
            return oom(c);
    }
    if (def_add(c, c->nops))
        return oom(c);
    c->nops++;
    return 0;
}

/* ---- pass 2: apply ---------------------------------------------------------------------- */

static int apply_op(struct cfg *c, const struct cfg_op *op)
{
    maillimit *ml = c->ml;
    const char *name = op->name == CFG_NONE ? NULL : c->pool + op->name;
    const char *parent = op->parent == CFG_NONE ? NULL : c->pool + op->parent;
    int rc = 0;
    switch (op->dir) {
    case D_ENABLE:
        return maillimit_enabled_set(ml, op->arg);
    case D_UNIT:
        return maillimit_unit_set(ml, op->arg);
    case D_SERVER:
        break;
    case D_PLAN:
        rc = maillimit_plan_add(ml, name);
        break;
    case D_SUBSCRIPTION:
        if (parent) {
            rc = maillimit_subscription_add(ml, name, parent);
            if (rc == MAILLIMIT_EEXISTS) /* in another plan or none: move it */
                rc = maillimit_subscription_plan_set(ml, name, parent);
        } else if (!maillimit__lookup(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, name)) {
            rc = maillimit_subscription_add(ml, name, NULL);
        } /* else: no plan= keeps the existing placement */
        break;
    case D_DOMAIN:
        rc = maillimit_domain_add(ml, name, parent);
        if (rc == MAILLIMIT_EEXISTS) /* in another subscription: move it */
            rc = maillimit_domain_move(ml, name, parent);
        break;
    case D_MAILBOX:
        rc = maillimit_mailbox_add(ml, name);
        break;
    case D_SYSUSER:
        rc = maillimit_sysuser_add(ml, name, parent);
        if (rc == MAILLIMIT_EEXISTS) /* alias of another subscription: re-point it */
            rc = maillimit_sysuser_move(ml, name, parent);
        break;
    default:
        return MAILLIMIT_EINVAL;
    }
    int level = dirdefs[op->dir].level;
    for (uint32_t i = 0; rc == 0 && i < op->nset; i++) {
        const struct cfg_set *s = &c->sets[op->set + i];
        const struct cfg_keydef *kd = &keydefs[s->key];
        if (kd->flag >= 0)
            rc = maillimit_flag_set(ml, level, name, kd->flag, (int)s->value);
        else
            rc = maillimit_limit_set(ml, level, name, kd->target, kd->window, s->value);
    }
    return rc;
}

/* ---- replacing: what the file does not say goes back to its default --------------------- */

/* The value a key has when nothing sets it: DEFAULT (inherit), or at the server unlimited,
 * sendmail on. */
static int64_t key_default(int dir, int k)
{
    if (dir == D_SERVER)
        return keydefs[k].flag == MAILLIMIT_FLAG_SENDMAIL ? 1 : MAILLIMIT_UNLIMITED;
    return MAILLIMIT_DEFAULT;
}

static int reset_key(maillimit *ml, int dir, const char *name, int k)
{
    const struct cfg_keydef *kd = &keydefs[k];
    int level = dirdefs[dir].level;
    if (kd->flag >= 0)
        return maillimit_flag_set(ml, level, name, kd->flag, (int)key_default(dir, k));
    if (kd->target < 0)
        return 0;
    return maillimit_limit_set(ml, level, name, kd->target, kd->window, key_default(dir, k));
}

/* After an entity's line: every key the line may carry but does not is reset, each cell
 * written once, so a decider never sees a value looser than both the old and the new. */
static int reset_unset(struct cfg *c, const struct cfg_op *op)
{
    if (op->dir < D_PLAN || op->dir == D_SYSUSER)
        return 0;
    const char *name = c->pool + op->name;
    unsigned set = 0;
    for (uint32_t i = 0; i < op->nset; i++)
        set |= BIT(c->sets[op->set + i].key);
    int rc = 0;
    for (int k = 0; rc == 0 && k < K_COUNT; k++)
        if ((dirdefs[op->dir].keys & BIT(k)) && !(set & BIT(k)) && k != K_PLAN &&
            !(op->dir == D_DOMAIN && k == K_SUB))
            rc = reset_key(c->ml, op->dir, name, k);
    if (rc == 0 && op->dir == D_SUBSCRIPTION && op->parent == CFG_NONE)
        rc = maillimit_subscription_plan_set(c->ml, name, NULL);
    return rc;
}

/* The server's keys, the switch and the unit the file does not set go back to defaults. */
static int reset_server(struct cfg *c)
{
    int rc = 0;
    for (int k = 0; rc == 0 && k < K_COUNT; k++)
        if ((dirdefs[D_SERVER].keys & BIT(k)) && !c->key_line[k])
            rc = reset_key(c->ml, D_SERVER, NULL, k);
    if (rc == 0 && !c->enable_line)
        rc = maillimit_enabled_set(c->ml, 1);
    if (rc == 0 && !c->unit_line)
        rc = maillimit_unit_set(c->ml, MAILLIMIT_UNIT_MESSAGES);
    return rc;
}

/* What pass 3 of a load would otherwise allocate. */
struct prepared {
    void **block;                   /* per op: the new entity's memory, or NULL */
    size_t *size;
    struct maillimit__entity **victim; /* replace: what the file does not define, in order */
    size_t nvictim;
};

static const int remove_order[] = {D_MAILBOX, D_SYSUSER, D_DOMAIN, D_SUBSCRIPTION, D_PLAN};

static int is_victim(struct cfg *c, int dir, struct maillimit__entity *e)
{
    return e->level == dirdefs[dir].level &&
           !(dir == D_MAILBOX && atomic_load_explicit(&e->implicit, memory_order_relaxed)) &&
           !def_find(c, dir, e->name);
}

static void prepared_free(struct cfg *c, struct prepared *pr)
{
    for (size_t i = 0; pr->block && i < c->nops; i++)
        free(pr->block[i]);
    free(pr->block);
    free(pr->size);
    free(pr->victim);
    memset(pr, 0, sizeof *pr);
}

static int prepare(struct cfg *c, struct prepared *pr)
{
    maillimit *ml = c->ml;
    pr->block = calloc(c->nops ? c->nops : 1, sizeof *pr->block);
    pr->size = calloc(c->nops ? c->nops : 1, sizeof *pr->size);
    if (!pr->block || !pr->size)
        goto oom;
    size_t fresh = 0;
    for (size_t i = 0; i < c->nops; i++) {
        const struct cfg_op *op = &c->ops[i];
        if (op->dir < D_PLAN || op->dir > D_SYSUSER || op->name == CFG_NONE)
            continue;
        int level = op->dir == D_SYSUSER ? MAILLIMIT__LEVEL_SYSUSER : dirdefs[op->dir].level;
        const char *name = c->pool + op->name;
        if (maillimit__lookup(ml, level, name))
            continue;
        pr->size[i] = maillimit__entity_size(strlen(name));
        if (!(pr->block[i] = malloc(pr->size[i])))
            goto oom;
        fresh++;
    }
    if (maillimit__table_reserve(ml, fresh))
        goto oom;
    if (c->replace) {
        /* the victims as they are now: the file's lines only move things into defined
         * places, so nothing defined becomes a victim and no victim becomes defined */
        size_t n = 0;
        for (struct maillimit__entity *e = ml->all; e; e = e->all_next)
            for (size_t o = 0; o < sizeof remove_order / sizeof remove_order[0]; o++)
                n += is_victim(c, remove_order[o], e);
        if (n && !(pr->victim = malloc(n * sizeof *pr->victim)))
            goto oom;
        for (size_t o = 0; o < sizeof remove_order / sizeof remove_order[0]; o++)
            for (struct maillimit__entity *e = ml->all; e; e = e->all_next)
                if (is_victim(c, remove_order[o], e))
                    pr->victim[pr->nvictim++] = e;
    }
    return 0;
oom:
    prepared_free(c, pr);
    return MAILLIMIT_ENOMEM;
}

/* Remove what the file does not define: explicit mailboxes, system users, domains,
 * subscriptions, plans, in that order (listed by prepare()). Implicit mailboxes stay while
 * their domain does. A victim that went with an earlier one's subtree is dead already (its
 * memory stays until a tick). */
static int remove_undefined(struct cfg *c, const struct prepared *pr)
{
    maillimit *ml = c->ml;
    for (size_t i = 0; i < pr->nvictim; i++) {
        struct maillimit__entity *e = pr->victim[i];
        if (atomic_load_explicit(&e->dead, memory_order_relaxed))
            continue;
        int rc = e->level == MAILLIMIT__LEVEL_SYSUSER ? maillimit_sysuser_remove(ml, e->name)
                                                      : maillimit_remove(ml, e->level, e->name);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- the loader ------------------------------------------------------------------------- */

static int load(maillimit *ml, const char *path, const char *text, size_t len, char *err,
                size_t errlen, int replace)
{
    if (len > CFG_TEXT_MAX) {
        maillimit__errf(err, errlen, "%s: %s is larger than 64 MiB", path,
                        strcmp(path, "<memory>") ? "file" : "text");
        return MAILLIMIT_EFORMAT;
    }
    struct cfg *c = calloc(1, sizeof *c);
    if (!c) {
        maillimit__errf(err, errlen, "%s: out of memory", path);
        return MAILLIMIT_ENOMEM;
    }
    c->ml = ml;
    c->replace = replace;
    c->path = path;
    c->err = err;
    c->errlen = errlen;

    maillimit__config_begin(ml);
    int rc = 0;
    /* Pass 1: parse and validate everything; nothing changes. */
    for (size_t pos = 0; rc == 0 && pos < len;) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl != NULL);
        c->line++;
        if (n && start[n - 1] == '\r')
            n--;
        if (memchr(start, '\0', n))
            rc = fail(c, "NUL byte in the line");
        else if (n > CFG_LINE_MAX)
            rc = fail(c, "line is longer than %d bytes", CFG_LINE_MAX);
        else {
            memcpy(c->text, start, n);
            c->text[n] = '\0';
            rc = parse_line(c);
        }
    }
    /* Pass 2: everything pass 3 will allocate, allocated now (the new entities, a table big
     * enough, what a replace removes); out of memory here changes nothing. */
    struct prepared pr = {0};
    if (rc == 0 && (rc = prepare(c, &pr)))
        maillimit__errf(err, errlen, "%s: out of memory (nothing was changed)", path);
    /* Pass 3: apply; nothing in it can fail after passes 1 and 2. */
    for (size_t i = 0; rc == 0 && i < c->nops; i++) {
        if (pr.block[i])
            maillimit__spare_set(ml, pr.block[i], pr.size[i]);
        pr.block[i] = NULL;
        rc = apply_op(c, &c->ops[i]);
        free(maillimit__spare_take(ml)); /* the entity existed after all (a repeated line) */
        if (rc == 0 && replace)
            rc = reset_unset(c, &c->ops[i]);
        if (rc)
            maillimit__errf(err, errlen,
                            "%s:%lu: cannot apply: %s (the lines before it were applied)",
                            path, (unsigned long)c->ops[i].line, maillimit_strerror(rc));
    }
    if (rc == 0 && replace && ((rc = reset_server(c)) || (rc = remove_undefined(c, &pr))))
        maillimit__errf(err, errlen, "%s: cannot apply: %s (the file's lines were applied)",
                        path, maillimit_strerror(rc));
    prepared_free(c, &pr);
    maillimit__config_end(ml);

    if (rc == 0 && err && errlen)
        err[0] = '\0';
    free(c->ops);
    free(c->sets);
    free(c->pool);
    free(c->defs);
    free(c);
    return rc;
}

static int load_mem(maillimit *ml, const char *text, size_t len, char *err, size_t errlen,
                    int replace)
{
    if (!ml || !text) {
        maillimit__errf(err, errlen, "<memory>: invalid argument");
        return MAILLIMIT_EINVAL;
    }
    return load(ml, "<memory>", text, len, err, errlen, replace);
}

int maillimit_config_load_mem(maillimit *ml, const char *text, size_t len, char *err,
                              size_t errlen)
{
    return load_mem(ml, text, len, err, errlen, 0);
}

int maillimit_config_apply_mem(maillimit *ml, const char *text, size_t len, char *err,
                               size_t errlen)
{
    return load_mem(ml, text, len, err, errlen, 1);
}

static int io_fail(const char *path, int e, char *err, size_t errlen)
{
    char ebuf[256];
    if (strerror_r(e, ebuf, sizeof ebuf) != 0)
        snprintf(ebuf, sizeof ebuf, "error %d", e);
    maillimit__errf(err, errlen, "%s: %s", path, ebuf);
    return MAILLIMIT_EIO;
}

/* Read a whole file (at most 64 MiB + 1 bytes, to notice a larger one). */
static int read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return io_fail(path, errno, err, errlen);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return io_fail(path, e, err, errlen);
    }
    if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > CFG_TEXT_MAX) {
        close(fd);
        maillimit__errf(err, errlen, "%s: file is larger than 64 MiB", path);
        return MAILLIMIT_EFORMAT;
    }
    /* A regular file is read in one go (plus one byte to see the end); anything else grows. */
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : MAILLIMIT_ENOMEM;
    while (rc == 0) {
        if (len == cap) {
            if (cap > CFG_TEXT_MAX) {
                maillimit__errf(err, errlen, "%s: file is larger than 64 MiB", path);
                rc = MAILLIMIT_EFORMAT;
                break;
            }
            size_t ncap = cap * 2 > CFG_TEXT_MAX + 1 ? CFG_TEXT_MAX + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = MAILLIMIT_ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = io_fail(path, errno, err, errlen);
        else if (r == 0)
            break;
        else
            len += (size_t)r;
    }
    close(fd);
    if (rc == MAILLIMIT_ENOMEM)
        maillimit__errf(err, errlen, "%s: out of memory", path);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int load_file(maillimit *ml, const char *path, char *err, size_t errlen, int replace)
{
    if (!ml || !path) {
        maillimit__errf(err, errlen, "invalid argument");
        return MAILLIMIT_EINVAL;
    }
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = load(ml, path, text, len, err, errlen, replace);
    free(text);
    return rc;
}

int maillimit_config_load(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return load_file(ml, path, err, errlen, 0);
}

int maillimit_config_apply(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return load_file(ml, path, err, errlen, 1);
}
