/* SPDX-License-Identifier: MIT */
/* The "Outgoing mail control" pages (HTML and SVG drawn here: no script, no external asset)
 * and the routing of maillimitd's HTTP requests, without any I/O (http.c moves the bytes).
 *
 *   /                         General: the switch, totals of a period, who reached a limit,
 *                             top senders, the hourly chart of a day
 *   /mailboxes /domains /subscriptions    lists: Sending / Not sending, count / limit,
 *                             retry time; ?sort=name|status|count|retry &order=asc|desc
 *                             &page=N &q=TEXT (names containing it) &domain= &subscription=
 *   /mailbox/NAME /domain/NAME /subscription/NAME    one entity: status, limits, the hourly
 *                             chart of ?day=YYYY-MM-DD, its episodes, its place in the hierarchy
 *   /subscription/NAME/...    the same pages restricted to one subscription (a customer's own
 *                             view: nothing outside it is shown or reachable)
 *   /metrics                  Prometheus text format (metrics.c)
 *
 * Names in paths are %-escaped path segments (a name may hold '/', '%', '?', quotes, '<'...);
 * the path is split at '/' before a segment is decoded. Links are relative, so the pages work
 * behind a reverse proxy under any prefix. All times are UTC, as the reports' hours are.
 *
 * Reading the handle: statuses and limits are lock-free reads. Listings are copied under the
 * configuration lock by walking every entity, so each listing is kept (per level and scope)
 * until the hierarchy's generation changes, and at most LIST_TTL seconds when it includes
 * implicit mailboxes (they do not change the generation). Reports (history, episodes, top,
 * summary) hold the report lock for their call; each is called inside the server's report
 * gate (http.h).
 *
 * The thread that renders runs at the lowest priority (http.c). A lock held by it could wait
 * behind any other work (priority inversion) while the loop thread waits for the lock, so
 * every call that takes one of the handle's locks (list_open and the report readers' open
 * calls; their iterators are copies) is made on the reader thread, of normal priority,
 * which the renderer hands it to and waits for (maillimit__pages_reader_start()).
 */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

enum { CACHE_N = 16, LIST_TTL = 30, LIST_IDLE = 300, COUNT_TTL = 60, COUNT_MIN = 10,
       PAGE_ROWS = 50, EPISODES_SHOWN = 100, EPISODES_READ = 5000,
       TOP_K = 10, SEG_MAX = 8 };

static const char *const plural_level[6] = { "servers", "plans", "subscriptions", "domains",
                                             "mailboxes", "system users" };
static const char *const level_path[6] = { "server", "plan", "subscription", "domain",
                                           "mailbox", "sysuser" };
static const char *const level_title[6] = { "Server", "Plan", "Subscription", "Domain",
                                            "Email address", "System user" };
static const char *const level_lower[6] = { "server", "plan", "subscription", "domain",
                                            "email address", "system user" };

/* ---- listings, kept while the hierarchy stays the same ------------------------------------ */

struct lrow {
    size_t name, parent; /* offsets into names */
    int implicit;
};

struct listing {
    int used, level, scope_level, implicit;
    char *scope_name;
    uint64_t generation, lru;
    uint64_t stamp;      /* a server-wide listing: its build; a scoped one: its bases' */
    int64_t built, used_at;
    size_t n;
    struct lrow *row;
    char *names;
};

/* The reader thread: runs one call at a time for the renderer. */
struct reader {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*fn)(void *);
    void *arg;
    int report;          /* inside the report gate */
    int pending, quit;
};

/* Entities per level for /metrics: counted (not copied: each count still walks every entity
 * under the configuration lock) every COUNT_TTL seconds, or COUNT_MIN seconds after the
 * hierarchy changed, however often /metrics is scraped. */
struct counts {
    int valid;
    uint64_t generation;
    int64_t built;
    int64_t n[6], implicit;
};

struct maillimit__pages {
    maillimit *ml;
    const maillimit__metrics *metrics;
    maillimit__gate *gate;
    struct reader *reader; /* NULL: calls are made on the caller's thread */
    struct counts counts;
    struct listing cache[CACHE_N];
    uint64_t clock, builds;
    char host[256];
};

static void listing_clear(struct listing *l)
{
    free(l->scope_name);
    free(l->row);
    free(l->names);
    memset(l, 0, sizeof *l);
}

int maillimit__pages_new(maillimit__pages **out, maillimit *ml, const maillimit__metrics *metrics,
                         maillimit__gate *gate)
{
    *out = NULL;
    maillimit__pages *p = calloc(1, sizeof *p);
    if (!p)
        return MAILLIMIT_ENOMEM;
    p->ml = ml;
    p->metrics = metrics;
    p->gate = gate;
    if (gethostname(p->host, sizeof p->host - 1) != 0)
        snprintf(p->host, sizeof p->host, "localhost");
    *out = p;
    return 0;
}

static void call_now(maillimit__pages *p, int report, void (*fn)(void *), void *arg)
{
    if (report && p->gate)
        pthread_mutex_lock(&p->gate->mu);
    fn(arg);
    if (report && p->gate)
        pthread_mutex_unlock(&p->gate->mu);
}

static void *reader_main(void *arg)
{
    maillimit__pages *p = arg;
    struct reader *r = p->reader;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->pending && !r->quit)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->quit)
            break;
        pthread_mutex_unlock(&r->mu);
        call_now(p, r->report, r->fn, r->arg);
        pthread_mutex_lock(&r->mu);
        r->pending = 0;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* Make a call that takes a lock of the handle (report: one of the report readers). */
static void locked_call(maillimit__pages *p, int report, void (*fn)(void *), void *arg)
{
    struct reader *r = p->reader;
    if (!r) {
        call_now(p, report, fn, arg);
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->fn = fn;
    r->arg = arg;
    r->report = report;
    r->pending = 1;
    pthread_cond_broadcast(&r->cv);
    while (r->pending)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

int maillimit__pages_reader_start(maillimit__pages *p)
{
    struct reader *r = calloc(1, sizeof *r);
    if (!r)
        return MAILLIMIT_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    p->reader = r;
    if (pthread_create(&r->th, NULL, reader_main, p) != 0) {
        p->reader = NULL;
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return MAILLIMIT_ENOMEM;
    }
    pthread_setname_np(r->th, "maillimitd-read");
    return 0;
}

void maillimit__pages_free(maillimit__pages *p)
{
    if (!p)
        return;
    if (p->reader) {
        struct reader *r = p->reader;
        pthread_mutex_lock(&r->mu);
        r->quit = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
    }
    for (int i = 0; i < CACHE_N; i++)
        listing_clear(&p->cache[i]);
    free(p);
}

static const char *lname(const struct listing *l, size_t i)
{
    return l->names + l->row[i].name;
}
static const char *lparent(const struct listing *l, size_t i)
{
    return l->names + l->row[i].parent;
}

static int listing_build(maillimit *ml, struct listing *l)
{
    maillimit_list *it = NULL;
    int rc = maillimit_list_open(ml, l->level, l->scope_level,
                                 l->scope_level == MAILLIMIT_LEVEL_SERVER ? NULL : l->scope_name,
                                 l->implicit, &it);
    if (rc)
        return rc;
    size_t n = 0, cap = 0, used = 0, ncap = 0;
    maillimit_list_count(it, &cap);
    struct lrow *row = cap ? malloc(cap * sizeof *row) : NULL;
    char *names = NULL;
    maillimit_entity e;
    maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
    while (rc == 0 && (!cap || row)) {
        if (maillimit_list_next(it, &e) != 0)
            break;
        size_t a = strlen(e.name) + 1, b = strlen(e.parent) + 1;
        if (used + a + b > ncap) {
            size_t nc = ncap ? ncap * 2 : 4096;
            while (nc < used + a + b)
                nc *= 2;
            char *nn = realloc(names, nc);
            if (!nn) {
                rc = MAILLIMIT_ENOMEM;
                break;
            }
            names = nn;
            ncap = nc;
        }
        if (n == cap)
            break;
        row[n].name = used;
        memcpy(names + used, e.name, a);
        used += a;
        row[n].parent = used;
        memcpy(names + used, e.parent, b);
        used += b;
        row[n].implicit = e.implicit;
        n++;
    }
    maillimit_list_close(it);
    if (rc == 0 && cap && !row)
        rc = MAILLIMIT_ENOMEM;
    if (rc) {
        free(row);
        free(names);
        return rc;
    }
    free(l->row);
    free(l->names);
    l->row = row;
    l->names = names;
    l->n = n;
    return 0;
}

struct build_call {
    maillimit *ml;
    struct listing *l;
    int rc;
};
static void build_call_fn(void *arg)
{
    struct build_call *b = arg;
    b->rc = listing_build(b->ml, b->l);
}

/* The cache's slot of a listing: *hit set if it holds it (perhaps out of date), else the
 * least recently used slot (emptied). Listings nobody used for LIST_IDLE seconds are freed. */
static struct listing *cache_slot(maillimit__pages *p, int level, int scope_level,
                                  const char *scope_name, int implicit, int64_t now, int *hit)
{
    struct listing *victim = NULL;
    *hit = 0;
    for (int i = 0; i < CACHE_N; i++) {
        struct listing *l = &p->cache[i];
        if (l->used && now - l->used_at >= LIST_IDLE)
            listing_clear(l); /* nobody looked at it for a while: give the memory back */
        if (l->used && l->level == level && l->scope_level == scope_level &&
            l->implicit == implicit &&
            ((!scope_name && !l->scope_name) ||
             (scope_name && l->scope_name && strcmp(scope_name, l->scope_name) == 0))) {
            *hit = 1;
            return l;
        }
        if (!victim || (victim->used && (!l->used || l->lru < victim->lru)))
            victim = l;
    }
    listing_clear(victim);
    return victim;
}

static int slot_init(struct listing *l, int level, int scope_level, const char *scope_name,
                     int implicit)
{
    listing_clear(l);
    l->level = level;
    l->scope_level = scope_level;
    l->implicit = implicit;
    if (scope_name && !(l->scope_name = strdup(scope_name)))
        return MAILLIMIT_ENOMEM;
    l->used = 1;
    return 0;
}

/* dst = the rows of src that keep() keeps, names copied. */
static int listing_filter(struct listing *dst, const struct listing *src,
                          int (*keep)(const char *parent, void *ud), void *ud)
{
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < src->n; i++)
        if (keep(lparent(src, i), ud)) {
            n++;
            bytes += strlen(lname(src, i)) + strlen(lparent(src, i)) + 2;
        }
    struct lrow *row = malloc((n ? n : 1) * sizeof *row);
    char *names = malloc(bytes ? bytes : 1);
    if (!row || !names) {
        free(row);
        free(names);
        return MAILLIMIT_ENOMEM;
    }
    size_t k = 0, used = 0;
    for (size_t i = 0; i < src->n; i++) {
        if (!keep(lparent(src, i), ud))
            continue;
        size_t a = strlen(lname(src, i)) + 1, b = strlen(lparent(src, i)) + 1;
        row[k].name = used;
        memcpy(names + used, lname(src, i), a);
        used += a;
        row[k].parent = used;
        memcpy(names + used, lparent(src, i), b);
        used += b;
        row[k++].implicit = src->row[i].implicit;
    }
    free(dst->row);
    free(dst->names);
    dst->row = row;
    dst->names = names;
    dst->n = n;
    return 0;
}

static int keep_parent(const char *parent, void *ud)
{
    return strcmp(parent, ud) == 0;
}

struct name_set {
    const char **v;
    size_t n;
};
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}
static int keep_in_set(const char *parent, void *ud)
{
    const struct name_set *set = ud;
    return set->n && bsearch(&parent, set->v, set->n, sizeof *set->v, name_cmp) != NULL;
}

/* The listing of a level in a scope (scope_name NULL for the server), or NULL with *rc.
 * Only the server-wide listings are copied from the handle (under its configuration lock,
 * on the reader thread); a subscription's or a domain's is filtered out of them, so browsing
 * takes that lock at most once per level and change of the hierarchy (and every LIST_TTL
 * seconds for the implicit mailboxes). */
static struct listing *listing_get(maillimit__pages *p, int level, int scope_level,
                                   const char *scope_name, int implicit, int64_t now, int *rc)
{
    int hit;
    *rc = 0;
    if (scope_level == MAILLIMIT_LEVEL_SERVER) {
        uint64_t gen = 0;
        maillimit_generation(p->ml, &gen);
        struct listing *l = cache_slot(p, level, scope_level, NULL, implicit, now, &hit);
        if (hit && l->generation == gen && (!implicit || now - l->built < LIST_TTL) &&
            now >= l->built) {
            l->lru = ++p->clock;
            l->used_at = now;
            return l;
        }
        if (!hit && (*rc = slot_init(l, level, scope_level, NULL, implicit)) != 0)
            return NULL;
        struct build_call bc = { p->ml, l, 0 };
        locked_call(p, 0, build_call_fn, &bc);
        if ((*rc = bc.rc) != 0) {
            listing_clear(l);
            return NULL;
        }
        l->generation = gen;
        l->built = l->used_at = now;
        l->lru = ++p->clock;
        l->stamp = ++p->builds;
        return l;
    }
    /* the scope must exist (a lock-free read) */
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    if ((scope_level != MAILLIMIT_LEVEL_DOMAIN && scope_level != MAILLIMIT_LEVEL_SUBSCRIPTION) ||
        !scope_name) {
        *rc = MAILLIMIT_EINVAL;
        return NULL;
    }
    if ((*rc = maillimit_status_get(p->ml, scope_level, scope_name, MAILLIMIT_WINDOW_HOUR, now,
                                    &st)) != 0)
        return NULL;
    struct listing *base = listing_get(p, level, MAILLIMIT_LEVEL_SERVER, NULL, implicit, now, rc);
    if (!base)
        return NULL;
    struct listing *doms = NULL;
    int by_domains = level == MAILLIMIT_LEVEL_MAILBOX &&
                     scope_level == MAILLIMIT_LEVEL_SUBSCRIPTION;
    if (by_domains &&
        !(doms = listing_get(p, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SERVER, NULL, 0, now, rc)))
        return NULL;
    uint64_t stamp = base->stamp * 1000003u + (doms ? doms->stamp : 0);
    struct listing *l = cache_slot(p, level, scope_level, scope_name, implicit, now, &hit);
    if (hit && l->stamp == stamp) {
        l->lru = ++p->clock;
        l->used_at = now;
        return l;
    }
    if (!hit && (*rc = slot_init(l, level, scope_level, scope_name, implicit)) != 0)
        return NULL;
    if (by_domains) {
        /* the subscription's domains (sorted: the listing is), then their mailboxes */
        struct name_set set = { malloc((doms->n ? doms->n : 1) * sizeof *set.v), 0 };
        if (!set.v) {
            listing_clear(l);
            *rc = MAILLIMIT_ENOMEM;
            return NULL;
        }
        for (size_t i = 0; i < doms->n; i++)
            if (strcmp(lparent(doms, i), scope_name) == 0)
                set.v[set.n++] = lname(doms, i);
        *rc = listing_filter(l, base, keep_in_set, &set);
        free(set.v);
    } else {
        *rc = listing_filter(l, base, keep_parent, (void *)scope_name);
    }
    if (*rc) {
        listing_clear(l);
        return NULL;
    }
    l->built = l->used_at = now;
    l->lru = ++p->clock;
    l->stamp = stamp;
    return l;
}

static long listing_find(const struct listing *l, const char *name)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(lname(l, mid), name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* The parent of a domain (its subscription) or a subscription (its plan; "" for none).
 * Returns 0 with the name in out, or ENOTFOUND. */
static int parent_of(maillimit__pages *p, int level, const char *name, int64_t now, char *out,
                     size_t size)
{
    int rc;
    struct listing *l = listing_get(p, level, MAILLIMIT_LEVEL_SERVER, NULL, 0, now, &rc);
    if (!l)
        return rc;
    long i = listing_find(l, name);
    if (i < 0)
        return MAILLIMIT_ENOTFOUND;
    snprintf(out, size, "%s", lparent(l, (size_t)i));
    return 0;
}

/* The report readers' calls that take the report lock. */
enum { R_HISTORY, R_EPISODES, R_TOP, R_SUMMARY, R_DROPPED };
struct report_call {
    maillimit *ml;
    int kind, level, metric, scope_level;
    const char *name, *scope_name;
    int64_t from, to, now;
    maillimit_history *hist;
    maillimit_episodes *ep;
    maillimit_top_row *rows;
    size_t n;
    maillimit_summary *sum;
    uint64_t dropped;
    int rc;
};

static void report_call_fn(void *arg)
{
    struct report_call *r = arg;
    switch (r->kind) {
    case R_HISTORY:
        r->rc = maillimit_history_open(r->ml, r->level, r->name, r->from, r->to, r->now, &r->hist);
        break;
    case R_EPISODES:
        r->rc = maillimit_episodes_open(r->ml, r->level, r->name, r->from, r->to, r->now, &r->ep);
        break;
    case R_TOP:
        r->rc = maillimit_top(r->ml, r->level, r->metric, r->from, r->to, r->scope_level,
                              r->scope_name, r->now, r->rows, &r->n);
        break;
    case R_SUMMARY:
        r->rc = maillimit_summary_get(r->ml, r->level, r->name, r->from, r->to, r->now, r->sum);
        break;
    default:
        r->rc = maillimit_events_dropped(r->ml, &r->dropped);
        break;
    }
}

/* How many entities each level has (a listing's count; nothing copied out of it). */
struct count_call {
    maillimit *ml;
    int64_t n[6], implicit;
    int rc;
};
static void count_call_fn(void *arg)
{
    struct count_call *c = arg;
    for (int l = MAILLIMIT_LEVEL_PLAN; l <= MAILLIMIT_LIST_SYSUSER && c->rc == 0; l++) {
        for (int imp = 0; imp <= (l == MAILLIMIT_LEVEL_MAILBOX); imp++) {
            maillimit_list *it = NULL;
            size_t n = 0;
            c->rc = maillimit_list_open(c->ml, l, MAILLIMIT_LEVEL_SERVER, NULL, imp, &it);
            if (c->rc == 0)
                maillimit_list_count(it, &n);
            maillimit_list_close(it);
            if (imp)
                c->implicit = (int64_t)n - c->n[l];
            else
                c->n[l] = (int64_t)n;
        }
    }
}

void maillimit__pages_figures(maillimit__pages *p, int64_t now, maillimit__handle_figures *f)
{
    memset(f, 0, sizeof *f);
    f->enabled = -1;
    int on = 0;
    if (maillimit_enabled_get(p->ml, &on) == 0)
        f->enabled = on;
    uint64_t gen = 0;
    maillimit_generation(p->ml, &gen);
    struct counts *k = &p->counts;
    if (!k->valid || now - k->built >= COUNT_TTL || now < k->built ||
        (k->generation != gen && now - k->built >= COUNT_MIN)) {
        struct count_call cc = { p->ml, { 0 }, 0, 0 };
        locked_call(p, 0, count_call_fn, &cc);
        k->valid = cc.rc == 0;
        k->generation = gen;
        k->built = now;
        memcpy(k->n, cc.n, sizeof k->n);
        k->implicit = cc.implicit;
    }
    for (int l = 0; l < 6; l++)
        f->entities[l] = k->valid && l ? k->n[l] : -1;
    f->implicit_mailboxes = k->valid ? k->implicit : -1;
    for (int l = 0; l < 5; l++)
        f->open_episodes[l] = -1;
    struct report_call rc_ = { .ml = p->ml, .kind = R_EPISODES, .level = MAILLIMIT_LEVEL_SERVER,
                               .from = now, .to = now + 1, .now = now };
    locked_call(p, 1, report_call_fn, &rc_);
    maillimit_episodes *it = rc_.ep;
    int rc = rc_.rc;
    struct report_call dr = { .ml = p->ml, .kind = R_DROPPED };
    locked_call(p, 1, report_call_fn, &dr);
    f->events_dropped = dr.rc == 0 ? (int64_t)dr.dropped : -1;
    if (rc == 0) {
        for (int l = 0; l < 5; l++)
            f->open_episodes[l] = 0;
        maillimit_episode ep;
        maillimit_episode_init(&ep, MAILLIMIT_EPISODE_VERSION);
        while (maillimit_episodes_next(it, &ep) == 0)
            if (ep.ongoing && ep.level >= 0 && ep.level < 5)
                f->open_episodes[ep.level]++;
        maillimit_episodes_close(it);
    }
}

/* ---- formatting ---------------------------------------------------------------------------- */

typedef struct ctx {
    maillimit__pages *p;
    const maillimit__http_req *req;
    int64_t now;
    const char *scope;   /* the subscription of a customer's view, or NULL */
    char base[40];       /* relative path to the view's root: "./", "../", "../../" */
    maillimit__buf *b;
    int unit;            /* MAILLIMIT_UNIT_* */
} ctx;

#define PUTS(c, s) maillimit__buf_puts((c)->b, s)
#define PRINTF(c, ...) maillimit__buf_printf((c)->b, __VA_ARGS__)
#define ESC(c, s) maillimit__html_esc((c)->b, s)
#define UESC(c, s) maillimit__url_esc((c)->b, s)

static void report(const ctx *c, struct report_call *r)
{
    r->ml = c->p->ml;
    locked_call(c->p, 1, report_call_fn, r);
}

static const char *units(const ctx *c, int64_t n)
{
    if (c->unit == MAILLIMIT_UNIT_RECIPIENTS)
        return n == 1 ? "recipient" : "recipients";
    return n == 1 ? "message" : "messages";
}

/* <time datetime="2026-12-06T10:02:00Z">2026-12-06 10:02:00</time> */
static void put_time(ctx *c, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char iso[40], text[40];
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
    PRINTF(c, "<time datetime=\"%s\">%s</time>", iso, text);
}

/* 45 s, 52 min, 60 min, 3 h 5 min, 2 h, 2 d 3 h: minutes rounded up (a wait is never
 * shown shorter than it is) */
static void put_duration(ctx *c, int64_t s)
{
    int64_t m = (s + 59) / 60;
    if (s < 60)
        PRINTF(c, "%lld s", (long long)s);
    else if (m <= 60)
        PRINTF(c, "%lld min", (long long)m);
    else if (m < 1440 && m % 60)
        PRINTF(c, "%lld h %lld min", (long long)(m / 60), (long long)(m % 60));
    else if (m < 1440)
        PRINTF(c, "%lld h", (long long)(m / 60));
    else
        PRINTF(c, "%lld d %lld h", (long long)(m / 1440), (long long)(m % 1440 / 60));
}

static void put_limit(ctx *c, int64_t v)
{
    if (v < 0)
        PUTS(c, "unlimited");
    else
        PRINTF(c, "%lld", (long long)v);
}

/* A link to an entity's page (plans have none). */
static void put_entity(ctx *c, int level, const char *name)
{
    if (level == MAILLIMIT_LEVEL_SERVER) {
        PUTS(c, "the server");
        return;
    }
    if (level == MAILLIMIT_LEVEL_PLAN || level == MAILLIMIT_LIST_SYSUSER) {
        PUTS(c, "<span class=\"name\">");
        ESC(c, name);
        PUTS(c, "</span>");
        return;
    }
    PUTS(c, "<a class=\"name\" href=\"");
    PUTS(c, c->base);
    if (c->scope && level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
        /* the view's root is the subscription */
    } else {
        PUTS(c, level_path[level]);
        PUTS(c, "/");
        UESC(c, name);
    }
    PUTS(c, "\">");
    ESC(c, name);
    PUTS(c, "</a>");
}

static const char *arg(const ctx *c, const char *key)
{
    return c->req->arg ? c->req->arg(c->req->arg_ud, key) : NULL;
}

/* A decoded copy of a query value (NULL if absent or malformed). */
static char *arg_dup(const ctx *c, const char *key)
{
    const char *v = arg(c, key);
    if (!v)
        return NULL;
    char *d = strdup(v);
    if (d && maillimit__url_unesc(d) < 0) {
        free(d);
        return NULL;
    }
    return d;
}

static long arg_long(const ctx *c, const char *key, long dflt, long min, long max)
{
    const char *v = arg(c, key);
    if (!v || !*v || strlen(v) > 9 || strspn(v, "0123456789") != strlen(v))
        return dflt;
    long n = atol(v);
    return n < min ? min : n > max ? max : n;
}

/* ?day=YYYY-MM-DD (UTC), else today. */
static int64_t arg_day(const ctx *c)
{
    int64_t today = c->now / 86400 * 86400;
    const char *v = arg(c, "day");
    int y, m, d;
    char tail;
    if (!v || strlen(v) != 10 || sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
        y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return today;
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    int64_t t = (int64_t)timegm(&tm);
    if (t < 0)
        return today;
    struct tm back;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &back);
    if (back.tm_mday != d) /* 2026-02-31 */
        return today;
    return t;
}

static void day_text(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* ---- the page around the content ------------------------------------------------------------ */

static const char css[] =
    ":root{--ok:#1b7a34;--no:#b3261e;--ink:#1d232b;--mute:#5b6673;--line:#d9dee4;"
    "--bg:#f4f6f8;--head:#1f3a5f}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',"
    "sans-serif;color:var(--ink);background:var(--bg)}"
    "header{background:var(--head);color:#fff;padding:10px 20px 0}"
    "header .brand{font-size:19px;font-weight:600}"
    "header .host{font-size:13px;opacity:.8;margin-left:8px}"
    "nav{display:flex;flex-wrap:wrap;gap:2px;margin-top:8px}"
    "nav a{color:#dbe6f3;text-decoration:none;padding:8px 14px;border-radius:6px 6px 0 0}"
    "nav a.cur{background:var(--bg);color:var(--ink);font-weight:600}"
    "main{max-width:1100px;margin:0 auto;padding:16px 20px 32px}"
    "h1{font-size:22px;margin:6px 0 4px;overflow-wrap:anywhere}"
    "h2{font-size:17px;margin:26px 0 8px}"
    ".sub{color:var(--mute);margin:0 0 12px}"
    ".crumbs{font-size:13px;color:var(--mute);overflow-wrap:anywhere}"
    ".crumbs a{color:var(--mute)}"
    "a{color:#1a56a8}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}"
    ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 14px;"
    "min-width:140px;flex:1}"
    ".card .v{font-size:24px;font-weight:600}"
    ".card .k{font-size:13px;color:var(--mute)}"
    ".tops{display:flex;flex-wrap:wrap;gap:10px}.tops>div{flex:1 1 300px}"
    ".scroll{overflow-x:auto;background:#fff;border:1px solid var(--line);border-radius:8px}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);"
    "vertical-align:top}"
    "th{font-size:13px;color:var(--mute);font-weight:600;white-space:nowrap;background:#fafbfc}"
    "th a{color:inherit}"
    "td.num,th.num{text-align:right;white-space:nowrap}"
    "tr:last-child td{border-bottom:0}"
    "td .name{overflow-wrap:break-word}"
    ".state{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;"
    "font-weight:600;white-space:nowrap}"
    ".state.ok{background:#e3f4e8;color:var(--ok)}"
    ".state.no{background:#fbe4e2;color:var(--no)}"
    ".tag{font-size:12px;color:var(--mute);border:1px solid var(--line);border-radius:4px;"
    "padding:0 4px;margin-left:4px;white-space:nowrap}"
    ".note{color:var(--mute);font-size:13px}"
    ".pager,.periods{margin:10px 0;display:flex;flex-wrap:wrap;gap:12px;align-items:center}"
    ".periods a.cur{font-weight:600;color:var(--ink);text-decoration:none}"
    "form.filter input{padding:5px 8px;border:1px solid var(--line);border-radius:6px;"
    "font:inherit;max-width:60vw}"
    "form.filter button{padding:5px 12px;font:inherit}"
    ".chart{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px;"
    "max-width:778px}"
    ".chart svg{width:100%;height:auto;display:block}"
    "details{margin-top:8px}"
    "footer{color:var(--mute);font-size:12px;text-align:center;padding:0 20px 24px}"
    "@media (max-width:640px){main{padding:10px}header{padding:8px 10px 0}"
    "nav a{padding:7px 9px}.card{min-width:45%}.card .v{font-size:20px}"
    "th,td{padding:6px}h1{font-size:19px}"
    /* a phone: each row of a list is a small card, its header a row of sort links */
    "table.rows,table.rows tbody,table.rows tr,table.rows td{display:block}"
    "table.rows tr:first-child{display:flex;flex-wrap:wrap;gap:0 4px;background:#fafbfc}"
    "table.rows th{border:0;background:none;padding:6px}"
    "table.rows tr{border-bottom:1px solid var(--line);padding:4px 0}"
    "table.rows td{border:0;padding:2px 10px;text-align:left}"
    "table.rows td[data-label]::before{content:attr(data-label) ': ';color:var(--mute);"
    "font-size:13px}table.episodes tr:first-child{display:none}}";

static void page_head(ctx *c, const char *title, int tab)
{
    PUTS(c, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>");
    ESC(c, title);
    PUTS(c, " \xe2\x80\x94 Outgoing mail control</title><style>");
    PUTS(c, css);
    PUTS(c, "</style></head>\n<body><header><span class=\"brand\">Outgoing mail control</span>"
            "<span class=\"host\">");
    if (c->scope) {
        PUTS(c, "subscription ");
        ESC(c, c->scope);
    } else {
        ESC(c, c->p->host);
    }
    PUTS(c, "</span><nav>");
    static const char *const tabs[4][2] = { { "", "General" },
                                            { "mailboxes", "Email addresses" },
                                            { "domains", "Domains" },
                                            { "subscriptions", "Subscriptions" } };
    for (int i = 0; i < (c->scope ? 3 : 4); i++)
        PRINTF(c, "<a href=\"%s%s\"%s>%s</a>", c->base, tabs[i][0],
               i == tab ? " class=\"cur\"" : "", tabs[i][1]);
    PUTS(c, "</nav></header>\n<main>");
}

static void page_tail(ctx *c)
{
    PUTS(c, "</main>\n<footer>maillimitd ");
    ESC(c, maillimit_version_string());
    PUTS(c, " \xc2\xb7 all times UTC \xc2\xb7 page made ");
    put_time(c, c->now);
    PUTS(c, "</footer></body></html>\n");
}

static void not_found(ctx *c, maillimit__http_resp *r, const char *what, const char *name)
{
    r->status = 404;
    page_head(c, "Not found", -1);
    PUTS(c, "<h1>Not found</h1><p class=\"sub\">");
    ESC(c, what);
    if (name) {
        PUTS(c, " <span class=\"name\">");
        ESC(c, name);
        PUTS(c, "</span>");
    }
    PUTS(c, "</p>");
    page_tail(c);
}

/* ---- the chart ------------------------------------------------------------------------------ */

int64_t maillimit__chart_top(int64_t max)
{
    if (max <= 1)
        return 1;
    for (int64_t p = 1;; p *= 10) {
        if (max <= p)
            return p;
        if (max <= 2 * p)
            return 2 * p;
        if (max <= 5 * p)
            return 5 * p;
        if (p > INT64_MAX / 100)
            return max;
    }
}

enum { CH_W = 760, CH_H = 260, CH_X0 = 56, CH_TOP = 20, CH_PLOT = 200, CH_SLOT = 28,
       CH_BAR = 20 };

static int64_t bar_h(int64_t v, int64_t top)
{
    /* v * 200 cannot overflow: counts are below 2^40 (a million units a request) */
    return (v * CH_PLOT + top / 2) / top;
}

void maillimit__chart_svg(maillimit__buf *b, const int64_t sent[24], const int64_t denied[24],
                          const char *title, const char *unit_word)
{
    int64_t max = 0;
    for (int h = 0; h < 24; h++)
        if (sent[h] + denied[h] > max)
            max = sent[h] + denied[h];
    int64_t top = maillimit__chart_top(max);
    int base = CH_TOP + CH_PLOT;
    maillimit__buf_printf(b, "<svg class=\"hours\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                          "height=\"%d\" role=\"img\" aria-label=\"", CH_W, CH_H, CH_W, CH_H);
    maillimit__html_esc(b, title);
    maillimit__buf_printf(b, "\" data-top=\"%lld\" xmlns=\"http://www.w3.org/2000/svg\">",
                          (long long)top);
    /* grid and scale: 0, the middle (if a whole number) and the top */
    int64_t marks[3] = { 0, top % 2 == 0 ? top / 2 : -1, top };
    for (int i = 0; i < 3; i++) {
        if (marks[i] < 0)
            continue;
        int64_t y = base - bar_h(marks[i], top);
        maillimit__buf_printf(b, "<line x1=\"%d\" y1=\"%lld\" x2=\"%d\" y2=\"%lld\" "
                              "stroke=\"%s\" stroke-width=\"1\"/>"
                              "<text x=\"%d\" y=\"%lld\" font-size=\"11\" text-anchor=\"end\" "
                              "fill=\"#5b6673\">%lld</text>", CH_X0 - 4, (long long)y,
                              CH_X0 + 24 * CH_SLOT, (long long)y, i ? "#e6e9ed" : "#9aa4af",
                              CH_X0 - 8, (long long)y + 4, (long long)marks[i]);
    }
    for (int h = 0; h < 24; h++) {
        int x = CH_X0 + h * CH_SLOT + (CH_SLOT - CH_BAR) / 2;
        int64_t hs = bar_h(sent[h], top), ht = bar_h(sent[h] + denied[h], top);
        maillimit__buf_printf(b, "<g class=\"bar\" data-hour=\"%d\" data-sent=\"%lld\" "
                              "data-denied=\"%lld\"><title>%02d:00\xe2\x80\x93%02d:59: "
                              "%lld sent, %lld refused</title>"
                              "<rect class=\"sent\" x=\"%d\" y=\"%lld\" width=\"%d\" "
                              "height=\"%lld\" fill=\"#2e7d32\"/>"
                              "<rect class=\"denied\" x=\"%d\" y=\"%lld\" width=\"%d\" "
                              "height=\"%lld\" fill=\"#c62828\"/></g>", h, (long long)sent[h],
                              (long long)denied[h], h, h, (long long)sent[h],
                              (long long)denied[h], x, (long long)(base - hs), CH_BAR,
                              (long long)hs, x, (long long)(base - ht), CH_BAR,
                              (long long)(ht - hs));
        if (h % 3 == 0)
            maillimit__buf_printf(b, "<text x=\"%d\" y=\"%d\" font-size=\"11\" "
                                  "text-anchor=\"middle\" fill=\"#5b6673\">%02d:00</text>",
                                  x + CH_BAR / 2, base + 16, h);
    }
    maillimit__buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" "
                          "fill=\"#2e7d32\"/><text x=\"%d\" y=\"%d\" font-size=\"12\" "
                          "fill=\"#1d232b\">sent</text><rect x=\"%d\" y=\"%d\" width=\"10\" "
                          "height=\"10\" fill=\"#c62828\"/><text x=\"%d\" y=\"%d\" "
                          "font-size=\"12\" fill=\"#1d232b\">refused</text>"
                          "<text x=\"%d\" y=\"12\" font-size=\"11\" fill=\"#5b6673\">",
                          CH_X0, CH_H - 18, CH_X0 + 14, CH_H - 9, CH_X0 + 70, CH_H - 18,
                          CH_X0 + 84, CH_H - 9, CH_X0 - 48);
    maillimit__html_esc(b, unit_word);
    maillimit__buf_puts(b, " per hour</text></svg>");
}

/* The chart section of (level, name) for ?day=, with the day's totals. */
static void chart_section(ctx *c, int level, const char *name)
{
    int64_t day = arg_day(c), today = c->now / 86400 * 86400;
    int64_t sent[24] = { 0 }, denied[24] = { 0 }, exempt[24] = { 0 };
    struct report_call rq = { .kind = R_HISTORY, .level = level,
                              .name = level == MAILLIMIT_LEVEL_SERVER ? NULL : name, .from = day,
                              .to = day + 86400, .now = c->now };
    report(c, &rq);
    maillimit_history *it = rq.hist;
    int rc = rq.rc;
    if (rc == 0) {
        maillimit_history_row row;
        maillimit_history_row_init(&row, MAILLIMIT_HISTORY_ROW_VERSION);
        while (maillimit_history_next(it, &row) == 0) {
            int64_t h = (row.hour_start - day) / 3600;
            if (h >= 0 && h < 24) {
                sent[h] += row.sent;
                denied[h] += row.denied;
                exempt[h] += row.exempt;
            }
        }
        maillimit_history_close(it);
    }
    char d[16], prev[16], next[16];
    day_text(day, d, sizeof d);
    day_text(day - 86400, prev, sizeof prev);
    day_text(day + 86400, next, sizeof next);
    int64_t ts = 0, td = 0, te = 0;
    for (int h = 0; h < 24; h++) {
        ts += sent[h];
        td += denied[h];
        te += exempt[h];
    }
    PRINTF(c, "<h2 id=\"chart\">Sent and refused per hour on %s</h2>", d);
    PRINTF(c, "<form class=\"filter periods\" method=\"get\" action=\"#chart\">"
              "<a href=\"?day=%s#chart\">\xe2\x86\x90 %s</a>", prev, prev);
    if (day < today)
        PRINTF(c, "<a href=\"?day=%s#chart\">%s \xe2\x86\x92</a>", next, next);
    PRINTF(c, "<input type=\"date\" name=\"day\" value=\"%s\" aria-label=\"day\">"
              "<button>Show</button></form>", d);
    char title[200];
    snprintf(title, sizeof title, "Sent and refused %s per hour on %s (UTC)",
             c->unit == MAILLIMIT_UNIT_RECIPIENTS ? "recipients" : "messages", d);
    PUTS(c, "<div class=\"chart\">");
    maillimit__chart_svg(c->b, sent, denied, title,
                         c->unit == MAILLIMIT_UNIT_RECIPIENTS ? "recipients" : "messages");
    PUTS(c, "</div>");
    if (rc == MAILLIMIT_ENOTFOUND)
        PUTS(c, "<p class=\"note\">No history: the object was removed.</p>");
    PRINTF(c, "<p class=\"day-totals\">On %s: <b class=\"sent\">%lld</b> sent, "
              "<b class=\"denied\">%lld</b> refused", d, (long long)ts, (long long)td);
    if (te)
        PRINTF(c, ", <b class=\"exempt\">%lld</b> sent exempt from limits", (long long)te);
    PUTS(c, ".</p><details><summary>The figures per hour</summary><div class=\"scroll\">"
            "<table class=\"hourly\"><tr><th>Hour</th><th class=\"num\">Sent</th>"
            "<th class=\"num\">Refused</th><th class=\"num\">Exempt</th></tr>");
    for (int h = 0; h < 24; h++)
        if (sent[h] || denied[h] || exempt[h])
            PRINTF(c, "<tr><td>%02d:00\xe2\x80\x93%02d:59</td><td class=\"num\">%lld</td>"
                      "<td class=\"num\">%lld</td><td class=\"num\">%lld</td></tr>", h, h,
                   (long long)sent[h], (long long)denied[h], (long long)exempt[h]);
    PUTS(c, "</table></div></details>");
}

/* ---- status --------------------------------------------------------------------------------- */

static void put_state(ctx *c, const maillimit_status *st)
{
    PUTS(c, st->sending ? "<span class=\"state ok\">Sending</span>"
                        : "<span class=\"state no\">Not sending</span>");
}

/* "until <time> (in 52 min)", "not before a limit is raised", or an en dash. */
static void put_retry(ctx *c, const maillimit_status *st)
{
    if (st->sending)
        PUTS(c, "\xe2\x80\x94");
    else if (st->retry_after < 0)
        PUTS(c, "<span class=\"never\">not before a limit is raised</span>");
    else {
        put_time(c, c->now + st->retry_after);
        PUTS(c, " <span class=\"note\">(in ");
        put_duration(c, st->retry_after);
        PUTS(c, ")</span>");
    }
}

static void put_count(ctx *c, const maillimit_status *st)
{
    PRINTF(c, "%lld / ", (long long)st->count);
    put_limit(c, st->limit);
}

/* ---- episodes ------------------------------------------------------------------------------- */

struct ep {
    maillimit_episode e;
};

static int ep_cmp(const void *a, const void *b)
{
    const maillimit_episode *x = &((const struct ep *)a)->e, *y = &((const struct ep *)b)->e;
    if (x->ongoing != y->ongoing)
        return y->ongoing - x->ongoing;
    if (x->started != y->started)
        return x->started > y->started ? -1 : 1;
    if (x->level != y->level)
        return x->level - y->level;
    return strcmp(x->name, y->name);
}

/* The episodes of (level, name) and below overlapping [from, now]: ongoing first, then the
 * newest. Returns how many there were. */
static size_t episodes_table(ctx *c, int level, const char *name, int64_t from)
{
    struct report_call rq = { .kind = R_EPISODES, .level = level,
                              .name = level == MAILLIMIT_LEVEL_SERVER ? NULL : name, .from = from,
                              .to = c->now + 1, .now = c->now };
    report(c, &rq);
    maillimit_episodes *it = rq.ep;
    int rc = rq.rc;
    if (rc != 0) {
        PUTS(c, "<p class=\"note\">The episodes cannot be read now.</p>");
        return 0;
    }
    struct ep *v = NULL;
    size_t n = 0, cap = 0, total = 0;
    maillimit_episode e;
    maillimit_episode_init(&e, MAILLIMIT_EPISODE_VERSION);
    while (maillimit_episodes_next(it, &e) == 0) {
        total++;
        if (n == EPISODES_READ)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct ep *nv = realloc(v, nc * sizeof *nv);
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        v[n++].e = e;
    }
    maillimit_episodes_close(it);
    if (n > 1)
        qsort(v, n, sizeof *v, ep_cmp);
    if (total == 0) {
        PUTS(c, "<p class=\"none\">No object reached a limit in this period.</p>");
        free(v);
        return 0;
    }
    PUTS(c, "<div class=\"scroll\"><table class=\"episodes rows\"><tr><th>Object</th><th>Limit</th>"
            "<th>Reached</th><th>Back to normal</th><th class=\"num\">Refused attempts</th></tr>");
    for (size_t i = 0; i < n && i < EPISODES_SHOWN; i++) {
        const maillimit_episode *x = &v[i].e;
        PRINTF(c, "<tr class=\"episode%s\" data-level=\"%s\"><td>%s ",
               x->ongoing ? " ongoing" : "",
               level_path[x->level >= 0 && x->level < 5 ? x->level : 0],
               level_lower[x->level >= 0 && x->level < 5 ? x->level : 0]);
        put_entity(c, x->level, x->name);
        PUTS(c, "</td><td data-label=\"Limit\">");
        put_limit(c, x->limit);
        PRINTF(c, " %s per %s</td><td class=\"started\" data-label=\"Reached\">",
               units(c, x->limit), x->window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        put_time(c, x->started);
        PUTS(c, "</td><td class=\"ended\" data-label=\"Back to normal\">");
        if (!x->ongoing) {
            put_time(c, x->ended);
        } else if (x->ended < 0) {
            PUTS(c, "<span class=\"state no\">Not sending</span> not before a limit is raised");
        } else {
            PUTS(c, "<span class=\"state no\">Not sending</span> until ");
            put_time(c, x->ended);
        }
        PRINTF(c, "</td><td class=\"num denied\" data-label=\"Refused attempts\">%lld</td></tr>",
               (long long)x->denied);
    }
    PUTS(c, "</table></div>");
    if (total > EPISODES_SHOWN)
        PRINTF(c, "<p class=\"note\">%zu more not shown.</p>", total - EPISODES_SHOWN);
    free(v);
    return total;
}

/* ---- General ------------------------------------------------------------------------------- */

static const int period_hours[4] = { 1, 24, 168, 744 };
static const char *const period_text[4] = { "Last hour", "Last 24 hours", "Last 7 days",
                                            "Last 31 days" };

static void top_table(ctx *c, int level, int64_t from)
{
    maillimit_top_row rows[TOP_K];
    maillimit_top_row_init(&rows[0], MAILLIMIT_TOP_ROW_VERSION);
    struct report_call rq = { .kind = R_TOP, .level = level, .metric = MAILLIMIT_METRIC_SENT,
                              .from = from, .to = c->now + 1,
                              .scope_level = c->scope ? MAILLIMIT_LEVEL_SUBSCRIPTION
                                                      : MAILLIMIT_LEVEL_SERVER,
                              .scope_name = c->scope, .now = c->now, .rows = rows, .n = TOP_K };
    report(c, &rq);
    size_t n = rq.n;
    int rc = rq.rc;
    PRINTF(c, "<div class=\"scroll\"><table class=\"top\" data-level=\"%s\"><tr><th>%s</th>"
              "<th class=\"num\">Sent</th><th class=\"num\">Refused</th>"
              "<th class=\"num\">Exempt</th></tr>", level_path[level], level_title[level]);
    if (rc != 0 || n == 0)
        PUTS(c, "<tr><td colspan=\"4\" class=\"note\">Nothing sent.</td></tr>");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        PUTS(c, "<tr><td>");
        put_entity(c, level, rows[i].name);
        PRINTF(c, "</td><td class=\"num\">%lld</td><td class=\"num\">%lld</td>"
                  "<td class=\"num\">%lld</td></tr>", (long long)rows[i].sent,
               (long long)rows[i].denied, (long long)rows[i].exempt);
    }
    PUTS(c, "</table></div>");
}

static void status_block(ctx *c, int level, const char *name);

static void page_general(ctx *c, maillimit__http_resp *r)
{
    long hours = arg_long(c, "hours", 24, 1, 744);
    int pi = 1;
    for (int i = 0; i < 4; i++)
        if (period_hours[i] == hours)
            pi = i;
    hours = period_hours[pi];
    int64_t from = (c->now / 3600 - (hours - 1)) * 3600;
    int slevel = c->scope ? MAILLIMIT_LEVEL_SUBSCRIPTION : MAILLIMIT_LEVEL_SERVER;
    page_head(c, c->scope ? c->scope : "General", 0);
    if (c->scope) {
        PUTS(c, "<h1>");
        ESC(c, c->scope);
        PUTS(c, "</h1><p class=\"sub\">Subscription: its domains and email addresses</p>");
        status_block(c, MAILLIMIT_LEVEL_SUBSCRIPTION, c->scope);
    } else {
        int on = 1;
        maillimit_enabled_get(c->p->ml, &on);
        PUTS(c, "<h1>General</h1>");
        PRINTF(c, "<p class=\"switch %s\">Limits on outgoing mail are <b>%s</b>; %s are "
                  "counted.</p>", on ? "on" : "off",
               on ? "switched on" : "switched off (every message is allowed and counted)",
               c->unit == MAILLIMIT_UNIT_RECIPIENTS ? "recipients" : "messages");
        int64_t v[3], t[2];
        for (int i = 0; i < 3; i++)
            if (maillimit_limit_configured(c->p->ml, MAILLIMIT_LEVEL_SERVER, NULL, i + 2,
                                      MAILLIMIT_WINDOW_HOUR, &v[i]) != 0)
                v[i] = -1;
        for (int w = 0; w < 2; w++)
            if (maillimit_limit_effective(c->p->ml, MAILLIMIT_LEVEL_SERVER, NULL, w, &t[w]) != 0)
                t[w] = -1;
        PUTS(c, "<p class=\"sub defaults\">Default limits per hour: email address ");
        put_limit(c, v[2]);
        PUTS(c, ", domain ");
        put_limit(c, v[1]);
        PUTS(c, ", subscription ");
        put_limit(c, v[0]);
        PUTS(c, "; the whole server ");
        put_limit(c, t[0]);
        PUTS(c, " per hour, ");
        put_limit(c, t[1]);
        PUTS(c, " per day.</p>");
    }
    PUTS(c, "<div class=\"periods\">");
    for (int i = 0; i < 4; i++)
        PRINTF(c, "<a href=\"?hours=%d\"%s>%s</a>", period_hours[i],
               i == pi ? " class=\"cur\"" : "", period_text[i]);
    PUTS(c, "</div>");
    maillimit_summary sm;
    maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
    struct report_call rq = { .kind = R_SUMMARY, .level = slevel, .name = c->scope, .from = from,
                              .to = c->now + 1, .now = c->now, .sum = &sm };
    report(c, &rq);
    int rc = rq.rc;
    if (rc == 0) {
        PRINTF(c, "<div class=\"cards totals\" data-hours=\"%ld\">"
                  "<div class=\"card\"><div class=\"v sent\">%lld</div><div class=\"k\">sent"
                  "</div></div><div class=\"card\"><div class=\"v denied\">%lld</div>"
                  "<div class=\"k\">refused</div></div><div class=\"card\"><div class=\"v "
                  "exempt\">%lld</div><div class=\"k\">sent exempt from limits</div></div>",
               hours, (long long)sm.sent, (long long)sm.denied, (long long)sm.exempt);
        if (!c->scope)
            PRINTF(c, "<div class=\"card\"><div class=\"v unattributed\">%lld</div>"
                      "<div class=\"k\">from senders not hosted here</div></div>",
                   (long long)sm.unattributed);
        PRINTF(c, "<div class=\"card\"><div class=\"v limited\">%lld</div><div class=\"k\">"
                  "objects reached a limit</div></div></div>", (long long)sm.limited_entities);
    }
    PRINTF(c, "<h2>Reached a limit (%s)</h2>", period_text[pi]);
    episodes_table(c, slevel, c->scope, from);
    chart_section(c, slevel, c->scope);
    PRINTF(c, "<h2>Top senders (%s)</h2>", period_text[pi]);
    PUTS(c, "<div class=\"tops\"><div>");
    top_table(c, MAILLIMIT_LEVEL_MAILBOX, from);
    PUTS(c, "</div><div>");
    top_table(c, MAILLIMIT_LEVEL_DOMAIN, from);
    PUTS(c, "</div>");
    if (!c->scope) {
        PUTS(c, "<div>");
        top_table(c, MAILLIMIT_LEVEL_SUBSCRIPTION, from);
        PUTS(c, "</div>");
    }
    PUTS(c, "</div>");
    page_tail(c);
    r->status = 200;
}

/* ---- lists ---------------------------------------------------------------------------------- */

struct srow {
    size_t i;           /* row of the listing */
    int found;
    maillimit_status st;
};

struct sortby {
    int key;  /* 0 name, 1 status, 2 count, 3 retry */
    int desc;
};

/* Ties go to the name, so every order is total. The listing is in name order: compare the
 * row indices. */
static int srow_cmp(const void *a, const void *b, void *arg)
{
    const struct srow *x = a, *y = b;
    const struct sortby *by = arg;
    int c = 0;
    switch (by->key) {
    case 1: c = (x->found && !x->st.sending) - (y->found && !y->st.sending); break;
    case 2: c = (x->st.count > y->st.count) - (x->st.count < y->st.count); break;
    case 3: {
        /* never (-1) is the longest wait; sending (0) the shortest */
        uint64_t rx = (uint64_t)x->st.retry_after, ry = (uint64_t)y->st.retry_after;
        c = (rx > ry) - (rx < ry);
        break;
    }
    default: break;
    }
    if (by->desc)
        c = -c;
    if (c)
        return c;
    return (x->i > y->i) - (x->i < y->i);
}

/* A link to the list with one parameter changed (key NULL: the same). */
struct listq {
    const char *sort, *order, *q, *domain, *sub;
    long page;
};

static void put_listq(ctx *c, const struct listq *q)
{
    PRINTF(c, "?sort=%s&amp;order=%s", q->sort, q->order);
    if (q->q && *q->q) {
        PUTS(c, "&amp;q=");
        UESC(c, q->q);
    }
    if (q->domain) {
        PUTS(c, "&amp;domain=");
        UESC(c, q->domain);
    }
    if (q->sub) {
        PUTS(c, "&amp;subscription=");
        UESC(c, q->sub);
    }
    if (q->page > 1)
        PRINTF(c, "&amp;page=%ld", q->page);
}

static void page_list(ctx *c, maillimit__http_resp *r, int level)
{
    static const char *const keys[4] = { "name", "status", "count", "retry" };
    const char *sv = arg(c, "sort"), *ov = arg(c, "order");
    int key = 0;
    for (int i = 0; i < 4; i++)
        if (sv && strcmp(sv, keys[i]) == 0)
            key = i;
    int desc = ov ? strcmp(ov, "desc") == 0 : key != 0;
    char *q = arg_dup(c, "q");
    char *dom = level == MAILLIMIT_LEVEL_MAILBOX ? arg_dup(c, "domain") : NULL;
    char *sub = !c->scope && level != MAILLIMIT_LEVEL_SUBSCRIPTION ? arg_dup(c, "subscription")
                                                                   : NULL;
    if (dom && !*dom) {
        free(dom);
        dom = NULL;
    }
    if (sub && !*sub) {
        free(sub);
        sub = NULL;
    }
    for (char *x = dom; x && *x; x++)
        if (*x >= 'A' && *x <= 'Z')
            *x = (char)(*x + 32);
    for (char *x = sub; x && *x; x++)
        if (*x >= 'A' && *x <= 'Z')
            *x = (char)(*x + 32);
    int scope_level = MAILLIMIT_LEVEL_SERVER;
    const char *scope_name = NULL;
    if (dom) {
        char owner[MAILLIMIT_NAME_BUFFER];
        if (parent_of(c->p, MAILLIMIT_LEVEL_DOMAIN, dom, c->now, owner, sizeof owner) != 0 ||
            (c->scope && strcmp(owner, c->scope) != 0)) {
            not_found(c, r, "No domain", dom);
            goto out;
        }
        scope_level = MAILLIMIT_LEVEL_DOMAIN;
        scope_name = dom;
    } else if (c->scope || sub) {
        scope_level = MAILLIMIT_LEVEL_SUBSCRIPTION;
        scope_name = c->scope ? c->scope : sub;
    }
    int rc;
    struct listing *l = listing_get(c->p, level, scope_level, scope_name,
                                    level == MAILLIMIT_LEVEL_MAILBOX, c->now, &rc);
    if (!l && rc == MAILLIMIT_ENOTFOUND) {
        not_found(c, r, "No subscription", scope_name);
        goto out;
    }
    if (!l) {
        r->status = 500;
        goto out;
    }
    /* the rows to show: those whose name contains q */
    struct srow *v = malloc((l->n ? l->n : 1) * sizeof *v);
    if (!v) {
        r->status = 500;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!q || !*q || strstr(lname(l, i), q)) {
            v[n].i = i;
            v[n].found = 0;
            maillimit_status_init(&v[n].st, MAILLIMIT_STATUS_VERSION);
            n++;
        }
    long pages = n ? (long)((n + PAGE_ROWS - 1) / PAGE_ROWS) : 1;
    long page = arg_long(c, "page", 1, 1, pages);
    if (key != 0) {
        /* sorting by a figure needs every row's status (lock-free reads) */
        for (size_t i = 0; i < n; i++)
            v[i].found = maillimit_status_get(c->p->ml, level, lname(l, v[i].i),
                                              MAILLIMIT_WINDOW_HOUR, c->now, &v[i].st) == 0;
        struct sortby by = { key, desc };
        qsort_r(v, n, sizeof *v, srow_cmp, &by);
    } else if (desc) {
        for (size_t i = 0; i < n / 2; i++) {
            struct srow t = v[i];
            v[i] = v[n - 1 - i];
            v[n - 1 - i] = t;
        }
    }
    char title[100];
    snprintf(title, sizeof title, "%s", level == MAILLIMIT_LEVEL_MAILBOX  ? "Email addresses"
                                        : level == MAILLIMIT_LEVEL_DOMAIN ? "Domains"
                                                                          : "Subscriptions");
    page_head(c, title, level == MAILLIMIT_LEVEL_MAILBOX  ? 1
                        : level == MAILLIMIT_LEVEL_DOMAIN ? 2
                                                          : 3);
    PRINTF(c, "<h1>%s</h1><p class=\"sub\"><span class=\"total\">%zu</span> %s", title, n,
           n == 1 ? level_lower[level] : level == MAILLIMIT_LEVEL_MAILBOX ? "email addresses"
                                                                          : plural_level[level]);
    if (dom) {
        PUTS(c, " of domain ");
        put_entity(c, MAILLIMIT_LEVEL_DOMAIN, dom);
    } else if (sub) {
        PUTS(c, " of subscription ");
        put_entity(c, MAILLIMIT_LEVEL_SUBSCRIPTION, sub);
    }
    if (q && *q) {
        PUTS(c, " whose name contains \xe2\x80\x9c");
        ESC(c, q);
        PUTS(c, "\xe2\x80\x9d");
    }
    PUTS(c, ". Status and counts of the sliding hour.</p>");
    PUTS(c, "<form class=\"filter\" method=\"get\"><input name=\"q\" value=\"");
    if (q)
        ESC(c, q);
    PUTS(c, "\" placeholder=\"name contains\" aria-label=\"name contains\">");
    if (dom) {
        PUTS(c, "<input type=\"hidden\" name=\"domain\" value=\"");
        ESC(c, dom);
        PUTS(c, "\">");
    }
    if (sub) {
        PUTS(c, "<input type=\"hidden\" name=\"subscription\" value=\"");
        ESC(c, sub);
        PUTS(c, "\">");
    }
    PUTS(c, " <button>Filter</button></form>");
    /* header: each sortable column links to its order (a second click reverses it) */
    static const char *const head[4] = { NULL, "Status", "Sent / limit", "Can send again" };
    const char *parent_head = level == MAILLIMIT_LEVEL_MAILBOX  ? "Domain"
                              : level == MAILLIMIT_LEVEL_DOMAIN ? "Subscription"
                                                                : "Plan";
    PRINTF(c, "<div class=\"scroll\"><table class=\"list rows\" data-level=\"%s\" data-sort=\"%s\" "
              "data-order=\"%s\"><tr>", level_path[level], keys[key], desc ? "desc" : "asc");
    for (int k = 0; k < 4; k++) {
        const char *label = k == 0 ? level_title[level] : head[k];
        if (k == 1)
            PRINTF(c, "<th>%s</th>", parent_head);
        int cur = k == key;
        struct listq lq = { keys[k], cur ? (desc ? "asc" : "desc") : (k == 0 ? "asc" : "desc"),
                            q, dom, sub, 1 };
        PRINTF(c, "<th%s><a href=\"", k == 2 ? " class=\"num\"" : "");
        put_listq(c, &lq);
        PRINTF(c, "\">%s%s</a></th>", label,
               cur ? (desc ? " \xe2\x96\xbe" : " \xe2\x96\xb4") : "");
    }
    PUTS(c, "</tr>");
    size_t first = (size_t)(page - 1) * PAGE_ROWS;
    for (size_t k = first; k < n && k < first + PAGE_ROWS; k++) {
        const char *name = lname(l, v[k].i), *parent = lparent(l, v[k].i);
        maillimit_status st, sd;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        maillimit_status_init(&sd, MAILLIMIT_STATUS_VERSION);
        int found = maillimit_status_get(c->p->ml, level, name, MAILLIMIT_WINDOW_HOUR, c->now,
                                         &st) == 0 &&
                    maillimit_status_get(c->p->ml, level, name, MAILLIMIT_WINDOW_DAY, c->now,
                                         &sd) == 0;
        PUTS(c, "<tr class=\"entity\" data-name=\"");
        ESC(c, name);
        PRINTF(c, "\" data-sending=\"%d\"><td>", found ? st.sending : -1);
        put_entity(c, level, name);
        if (l->row[v[k].i].implicit)
            PUTS(c, "<span class=\"tag\" title=\"not configured: known from the mail it sent\">"
                    "not configured</span>");
        PRINTF(c, "</td><td data-label=\"%s\">", parent_head);
        if (*parent)
            put_entity(c, level == MAILLIMIT_LEVEL_SUBSCRIPTION ? MAILLIMIT_LEVEL_PLAN : level - 1,
                       parent);
        else
            PUTS(c, "\xe2\x80\x94");
        PUTS(c, "</td>");
        if (!found) {
            PUTS(c, "<td colspan=\"3\" class=\"note\">removed</td></tr>");
            continue;
        }
        PUTS(c, "<td class=\"status\" data-label=\"Status\">");
        put_state(c, &st);
        if (!st.sending && st.blocked_by >= 0 && st.blocked_by != level)
            PRINTF(c, " <span class=\"note\">by its %s</span>", level_lower[st.blocked_by]);
        PUTS(c, "</td><td class=\"num count\" data-label=\"Sent / limit\">");
        put_count(c, &st);
        if (sd.limit >= 0) {
            PUTS(c, "<br><span class=\"note\">day ");
            put_count(c, &sd);
            PUTS(c, "</span>");
        }
        PUTS(c, "</td><td class=\"retry\" data-label=\"Can send again\">");
        put_retry(c, &st);
        PUTS(c, "</td></tr>");
    }
    if (n == 0)
        PUTS(c, "<tr><td colspan=\"5\" class=\"note\">None.</td></tr>");
    PUTS(c, "</table></div>");
    if (pages > 1) {
        struct listq lq = { keys[key], desc ? "desc" : "asc", q, dom, sub, page - 1 };
        PUTS(c, "<div class=\"pager\">");
        if (page > 1) {
            PUTS(c, "<a rel=\"prev\" href=\"");
            put_listq(c, &lq);
            PUTS(c, "\">\xe2\x86\x90 Previous</a>");
        }
        PRINTF(c, "<span>Page %ld of %ld</span>", page, pages);
        if (page < pages) {
            lq.page = page + 1;
            PUTS(c, "<a rel=\"next\" href=\"");
            put_listq(c, &lq);
            PUTS(c, "\">Next \xe2\x86\x92</a>");
        }
        PUTS(c, "</div>");
    }
    page_tail(c);
    free(v);
    r->status = 200;
out:
    free(q);
    free(dom);
    free(sub);
}

/* ---- one entity ---------------------------------------------------------------------------- */

static void status_block(ctx *c, int level, const char *name)
{
    maillimit_status st[2];
    for (int w = 0; w < 2; w++) {
        maillimit_status_init(&st[w], MAILLIMIT_STATUS_VERSION);
        maillimit_status_get(c->p->ml, level, name, w, c->now, &st[w]);
    }
    PRINTF(c, "<div class=\"cards status\" data-sending=\"%d\"><div class=\"card\">"
              "<div class=\"v\">", st[0].sending);
    put_state(c, &st[0]);
    PUTS(c, "</div><div class=\"k\">");
    if (!st[0].sending) {
        if (st[0].blocked_by >= 0 && st[0].blocked_by != level)
            PRINTF(c, "its %s is over its limit; ", level_lower[st[0].blocked_by]);
        PUTS(c, "can send again: <span class=\"retry\">");
        put_retry(c, &st[0]);
        PUTS(c, "</span>");
    } else {
        PUTS(c, "within its limits");
    }
    PUTS(c, "</div></div>");
    for (int w = 0; w < 2; w++) {
        PRINTF(c, "<div class=\"card\"><div class=\"v count-%s\">", w ? "day" : "hour");
        put_count(c, &st[w]);
        PRINTF(c, "</div><div class=\"k\">sent in the sliding %s / limit", w ? "day" : "hour");
        if (st[w].count > 0) {
            PUTS(c, "; back to 0 in ");
            put_duration(c, st[w].reset_after);
        }
        PUTS(c, "</div></div>");
    }
    PUTS(c, "</div>");
}

/* The limits set at an entity, as set ("default" inherits). */
static void limits_table(ctx *c, int level, const char *name)
{
    PUTS(c, "<h2>Limits set here</h2><div class=\"scroll\"><table class=\"limits\"><tr>"
            "<th>For</th><th class=\"num\">Per hour</th><th class=\"num\">Per day</th></tr>");
    for (int t = level; t <= MAILLIMIT_LEVEL_MAILBOX; t++) {
        const char *label = t == level                     ? "itself"
                            : t == MAILLIMIT_LEVEL_MAILBOX ? "each of its email addresses"
                                                           : "each of its domains";
        PRINTF(c, "<tr><td>%s</td>", label);
        for (int w = 0; w < 2; w++) {
            int64_t v = MAILLIMIT_DEFAULT, eff = -1;
            maillimit_limit_configured(c->p->ml, level, name, t, w, &v);
            PRINTF(c, "<td class=\"num\" data-target=\"%s\" data-window=\"%s\">",
                   level_path[t], w ? "day" : "hour");
            if (v == MAILLIMIT_DEFAULT) {
                PUTS(c, "default");
                if (t == level && maillimit_limit_effective(c->p->ml, level, name, w, &eff) == 0) {
                    PUTS(c, " (");
                    put_limit(c, eff);
                    PUTS(c, ")");
                }
            } else {
                put_limit(c, v);
            }
            PUTS(c, "</td>");
        }
        PUTS(c, "</tr>");
    }
    PUTS(c, "</table></div>");
    int ex = 0, sm = 1;
    maillimit_flag_effective(c->p->ml, level, name, MAILLIMIT_FLAG_EXEMPT, &ex);
    PRINTF(c, "<p class=\"flags\">%s", ex ? "<b>Exempt</b>: its mail is allowed and counted in "
                                            "no limit." : "Not exempt from limits.");
    if (level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
        maillimit_flag_effective(c->p->ml, level, name, MAILLIMIT_FLAG_SENDMAIL, &sm);
        PRINTF(c, " Mail of its system users, cron jobs and scripts: <b>%s</b>.",
               sm ? "allowed" : "not allowed");
    }
    PUTS(c, "</p>");
}

static void page_entity(ctx *c, maillimit__http_resp *r, int level, const char *raw_name)
{
    char name[MAILLIMIT_NAME_BUFFER];
    size_t len = strlen(raw_name);
    if (len == 0 || len > MAILLIMIT_NAME_MAX) {
        not_found(c, r, level_title[level], raw_name);
        return;
    }
    for (size_t i = 0; i <= len; i++)
        name[i] = raw_name[i] >= 'A' && raw_name[i] <= 'Z' ? (char)(raw_name[i] + 32) : raw_name[i];
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    if (maillimit_status_get(c->p->ml, level, name, MAILLIMIT_WINDOW_HOUR, c->now, &st) != 0) {
        not_found(c, r, level_title[level], name);
        return;
    }
    /* its place: subscription > domain > mailbox, and the plan of the subscription */
    char dom[MAILLIMIT_NAME_BUFFER] = "", sub[MAILLIMIT_NAME_BUFFER] = "",
         plan[MAILLIMIT_NAME_BUFFER] = "";
    if (level == MAILLIMIT_LEVEL_MAILBOX) {
        const char *at = strrchr(name, '@');
        snprintf(dom, sizeof dom, "%s", at ? at + 1 : "");
    } else if (level == MAILLIMIT_LEVEL_DOMAIN) {
        snprintf(dom, sizeof dom, "%s", name);
    }
    if (dom[0])
        parent_of(c->p, MAILLIMIT_LEVEL_DOMAIN, dom, c->now, sub, sizeof sub);
    if (level == MAILLIMIT_LEVEL_SUBSCRIPTION)
        snprintf(sub, sizeof sub, "%s", name);
    if (sub[0])
        parent_of(c->p, MAILLIMIT_LEVEL_SUBSCRIPTION, sub, c->now, plan, sizeof plan);
    if (c->scope && strcmp(sub, c->scope) != 0) {
        not_found(c, r, level_title[level], name); /* outside the customer's view */
        return;
    }
    int implicit = 0;
    size_t nmail = 0, ndom = 0, nsys = 0;
    int rc;
    if (level == MAILLIMIT_LEVEL_MAILBOX && dom[0]) {
        struct listing *l = listing_get(c->p, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN,
                                        dom, 1, c->now, &rc);
        long i = l ? listing_find(l, name) : -1;
        implicit = i >= 0 && l->row[i].implicit;
    } else if (level == MAILLIMIT_LEVEL_DOMAIN) {
        struct listing *l = listing_get(c->p, MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_LEVEL_DOMAIN,
                                        name, 1, c->now, &rc);
        nmail = l ? l->n : 0;
    } else {
        struct listing *l = listing_get(c->p, MAILLIMIT_LEVEL_MAILBOX,
                                        MAILLIMIT_LEVEL_SUBSCRIPTION, name, 1, c->now, &rc);
        nmail = l ? l->n : 0;
        l = listing_get(c->p, MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_LEVEL_SUBSCRIPTION, name, 0,
                        c->now, &rc);
        ndom = l ? l->n : 0;
        l = listing_get(c->p, MAILLIMIT_LIST_SYSUSER, MAILLIMIT_LEVEL_SUBSCRIPTION, name, 0,
                        c->now, &rc);
        nsys = l ? l->n : 0;
    }
    page_head(c, name, -1);
    PUTS(c, "<p class=\"crumbs\">");
    if (!c->scope) {
        PRINTF(c, "<a href=\"%s\">Server</a> \xe2\x80\xba ", c->base);
        if (plan[0]) {
            PUTS(c, "plan ");
            ESC(c, plan);
            PUTS(c, " \xe2\x80\xba ");
        }
    }
    if (level != MAILLIMIT_LEVEL_SUBSCRIPTION && sub[0]) {
        PUTS(c, "subscription ");
        put_entity(c, MAILLIMIT_LEVEL_SUBSCRIPTION, sub);
        PUTS(c, " \xe2\x80\xba ");
    }
    if (level == MAILLIMIT_LEVEL_MAILBOX && dom[0]) {
        PUTS(c, "domain ");
        put_entity(c, MAILLIMIT_LEVEL_DOMAIN, dom);
        PUTS(c, " \xe2\x80\xba ");
    }
    PRINTF(c, "%s</p><h1 class=\"entity\" data-level=\"%s\">", level_lower[level],
           level_path[level]);
    ESC(c, name);
    PRINTF(c, "</h1><p class=\"sub\">%s", level_title[level]);
    if (implicit)
        PUTS(c, " <span class=\"tag\">not configured: known from the mail it sent</span>");
    PUTS(c, "</p>");
    status_block(c, level, name);
    chart_section(c, level, name);
    int64_t retention = 744;
    maillimit_retention_get(c->p->ml, &retention);
    PRINTF(c, "<h2>Reached a limit</h2><p class=\"note\">Periods during which it%s was over a "
              "limit, in the history kept (%lld days).</p>",
           level == MAILLIMIT_LEVEL_MAILBOX ? "" : " or an object inside it",
           (long long)(retention / 24));
    episodes_table(c, level, name, (c->now / 3600 - retention + 1) * 3600);
    limits_table(c, level, name);
    PUTS(c, "<h2>In the hierarchy</h2><ul class=\"place\">");
    if (level == MAILLIMIT_LEVEL_MAILBOX) {
        PUTS(c, "<li>Domain ");
        put_entity(c, MAILLIMIT_LEVEL_DOMAIN, dom);
        PUTS(c, "</li>");
    }
    if (level != MAILLIMIT_LEVEL_SUBSCRIPTION && sub[0]) {
        PUTS(c, "<li>Subscription ");
        put_entity(c, MAILLIMIT_LEVEL_SUBSCRIPTION, sub);
        PUTS(c, "</li>");
    }
    if (plan[0] && !c->scope) {
        PUTS(c, "<li>Plan ");
        ESC(c, plan);
        PUTS(c, "</li>");
    }
    if (level == MAILLIMIT_LEVEL_DOMAIN) {
        PRINTF(c, "<li><a href=\"%smailboxes?domain=", c->base);
        UESC(c, name);
        PRINTF(c, "\">%zu email address%s</a></li>", nmail, nmail == 1 ? "" : "es");
    }
    if (level == MAILLIMIT_LEVEL_SUBSCRIPTION) {
        PRINTF(c, "<li><a href=\"%sdomains?subscription=", c->base);
        UESC(c, name);
        PRINTF(c, "\">%zu domain%s</a></li><li><a href=\"%smailboxes?subscription=", ndom,
               ndom == 1 ? "" : "s", c->base);
        UESC(c, name);
        PRINTF(c, "\">%zu email address%s</a></li><li>%zu system user%s</li>", nmail,
               nmail == 1 ? "" : "es", nsys, nsys == 1 ? "" : "s");
        PRINTF(c, "<li>The customer's own view: <a href=\"%ssubscription/", c->base);
        UESC(c, name);
        PUTS(c, "/\">subscription/");
        ESC(c, name);
        PUTS(c, "/</a></li>");
    }
    PUTS(c, "</ul>");
    page_tail(c);
    r->status = 200;
}

/* ---- routing -------------------------------------------------------------------------------- */

void maillimit__pages_handle(maillimit__pages *p, const maillimit__http_req *req, int64_t now,
                             maillimit__http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->status = 404;
    r->ctype = "text/html; charset=utf-8";
    ctx c = { .p = p, .req = req, .now = now, .b = &r->body };
    snprintf(c.base, sizeof c.base, "./");
    c.unit = MAILLIMIT_UNIT_MESSAGES;
    maillimit_unit_get(p->ml, &c.unit);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        r->status = 405;
        r->ctype = "text/plain; charset=utf-8";
        maillimit__buf_puts(&r->body, "Only GET and HEAD.\n");
        return;
    }
    const char *path = req->path;
    if (path[0] != '/' || strlen(path) > 4000) {
        r->status = 400;
        r->ctype = "text/plain; charset=utf-8";
        maillimit__buf_puts(&r->body, "Bad path.\n");
        return;
    }
    /* split at '/', then decode each segment */
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path + 1);
    char *seg[SEG_MAX];
    int nseg = 0;
    for (char *s = copy; nseg < SEG_MAX;) {
        seg[nseg++] = s;
        char *slash = strchr(s, '/');
        if (!slash)
            break;
        *slash = '\0';
        s = slash + 1;
    }
    if (nseg == SEG_MAX) {
        not_found(&c, r, "No such page", NULL);
        return;
    }
    for (int i = 0; i < nseg; i++)
        if (maillimit__url_unesc(seg[i]) < 0) {
            r->status = 400;
            r->ctype = "text/plain; charset=utf-8";
            maillimit__buf_puts(&r->body, "Bad escape in the path.\n");
            return;
        }
    if (nseg == 1 && strcmp(seg[0], "metrics") == 0) {
        r->status = 200;
        r->ctype = "text/plain; version=0.0.4; charset=utf-8";
        maillimit__handle_figures f;
        maillimit__pages_figures(p, now, &f);
        if (p->metrics)
            maillimit__metrics_render(&r->body, p->metrics, &f, now);
        return;
    }
    char **rest = seg;
    int nrest = nseg;
    char scope[MAILLIMIT_NAME_BUFFER];
    if (nseg >= 3 && strcmp(seg[0], "subscription") == 0) {
        /* /subscription/NAME/...: the customer's view */
        size_t n = strlen(seg[1]);
        if (n == 0 || n > MAILLIMIT_NAME_MAX) {
            not_found(&c, r, "No subscription", seg[1]);
            return;
        }
        for (size_t i = 0; i <= n; i++)
            scope[i] = seg[1][i] >= 'A' && seg[1][i] <= 'Z' ? (char)(seg[1][i] + 32) : seg[1][i];
        maillimit_status st;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        if (maillimit_status_get(p->ml, MAILLIMIT_LEVEL_SUBSCRIPTION, scope,
                                 MAILLIMIT_WINDOW_HOUR, now, &st) != 0) {
            not_found(&c, r, "No subscription", scope);
            return;
        }
        c.scope = scope;
        rest = seg + 2;
        nrest = nseg - 2;
    }
    /* depth below the view's root: the relative prefix of the links */
    c.base[0] = '\0';
    for (int i = 1; i < nrest && strlen(c.base) + 4 < sizeof c.base; i++)
        strcat(c.base, "../");
    if (!c.base[0])
        snprintf(c.base, sizeof c.base, "./");
    if (nrest == 1 && rest[0][0] == '\0') {
        page_general(&c, r);
        return;
    }
    if (nrest == 1) {
        if (strcmp(rest[0], "mailboxes") == 0)
            page_list(&c, r, MAILLIMIT_LEVEL_MAILBOX);
        else if (strcmp(rest[0], "domains") == 0)
            page_list(&c, r, MAILLIMIT_LEVEL_DOMAIN);
        else if (strcmp(rest[0], "subscriptions") == 0 && !c.scope)
            page_list(&c, r, MAILLIMIT_LEVEL_SUBSCRIPTION);
        else
            not_found(&c, r, "No such page", NULL);
        return;
    }
    if (nrest == 2) {
        int level = strcmp(rest[0], "mailbox") == 0        ? MAILLIMIT_LEVEL_MAILBOX
                    : strcmp(rest[0], "domain") == 0       ? MAILLIMIT_LEVEL_DOMAIN
                    : strcmp(rest[0], "subscription") == 0 ? MAILLIMIT_LEVEL_SUBSCRIPTION
                                                           : -1;
        if (level == MAILLIMIT_LEVEL_SUBSCRIPTION && c.scope) {
            /* inside a customer's view its subscription is the root */
            if (strcmp(rest[1], c.scope) == 0) {
                r->status = 301;
                snprintf(r->location, sizeof r->location, "../");
            } else {
                not_found(&c, r, "No subscription", rest[1]);
            }
            return;
        }
        if (level >= 0) {
            page_entity(&c, r, level, rest[1]);
            return;
        }
    }
    not_found(&c, r, "No such page", NULL);
}
