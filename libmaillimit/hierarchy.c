/* SPDX-License-Identifier: MIT */
/* The hierarchy: handle lifecycle, entities, placement, limits and flags.
 *
 * Entities are never freed while the handle lives: a removed entity is marked dead and taken
 * out of the name table, so a decider that found it a moment earlier still reads valid memory
 * (its units then go to a counter nobody reads, which is what "what was sent was sent" asks).
 * Every mutable field a decider reads is a single atomic word: a limit change is one store,
 * a move is one store of the parent pointer.
 */
#define _POSIX_C_SOURCE 200809L /* recursive mutexes */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Which targets each level may set, indexed [level][target]. */
static const unsigned char settable[5][5] = {
    [MAILLIMIT_LEVEL_SERVER] = {1, 0, 1, 1, 1},
    [MAILLIMIT_LEVEL_PLAN] = {0, 0, 1, 1, 1},
    [MAILLIMIT_LEVEL_SUBSCRIPTION] = {0, 0, 1, 1, 1},
    [MAILLIMIT_LEVEL_DOMAIN] = {0, 0, 0, 1, 1},
    [MAILLIMIT_LEVEL_MAILBOX] = {0, 0, 0, 0, 1},
};

void maillimit__entity_init(struct maillimit__entity *e, int level)
{
    atomic_init(&e->parent, NULL);
    atomic_init(&e->ring, NULL);
    for (int t = 0; t < MAILLIMIT__TARGETS; t++)
        for (int w = 0; w < 2; w++)
            atomic_init(&e->limit[t][w], MAILLIMIT_DEFAULT);
    atomic_init(&e->flag[0], MAILLIMIT_DEFAULT);
    atomic_init(&e->flag[1], MAILLIMIT_DEFAULT);
    atomic_init(&e->dead, 0);
    atomic_init(&e->implicit, 0);
    atomic_init(&e->live, NULL);
    atomic_init(&e->active, 0);
    atomic_init(&e->limits_set, 0);
    e->reserved_ = 0;
    e->hist = NULL;
    e->active_next = NULL;
    e->hint = NULL;
    e->child = e->sib_next = e->sib_prev = NULL;
    e->level = (uint8_t)level;
}

void maillimit__entity_link(struct maillimit__entity *p, struct maillimit__entity *e)
{
    e->sib_prev = NULL;
    e->sib_next = NULL;
    if (!p)
        return;
    e->sib_next = p->child;
    if (p->child)
        p->child->sib_prev = e;
    p->child = e;
}

/* Take e off its parent's list of children (configuration lock held). */
static void entity_unlink(struct maillimit__entity *e)
{
    struct maillimit__entity *p = maillimit__parent(e);
    if (!p)
        return;
    if (e->sib_prev)
        e->sib_prev->sib_next = e->sib_next;
    else if (p->child == e)
        p->child = e->sib_next;
    if (e->sib_next)
        e->sib_next->sib_prev = e->sib_prev;
    e->sib_next = e->sib_prev = NULL;
}

void maillimit__config_begin(maillimit *ml)
{
    pthread_mutex_lock(&ml->lock);
}

void maillimit__config_end(maillimit *ml)
{
    pthread_mutex_unlock(&ml->lock);
}

/* ---- lookup --------------------------------------------------------------------------- */

struct maillimit__entity *maillimit__lookup(maillimit *ml, int level, const char *name)
{
    char buf[MAILLIMIT_NAME_MAX + 1];
    int len = maillimit__name_norm(level == MAILLIMIT__LEVEL_SYSUSER ? MAILLIMIT_LEVEL_PLAN
                                                                       : level,
                                   name, buf, NULL);
    if (len < 0)
        return NULL;
    return maillimit__table_find(ml, level, buf, (size_t)len,
                                 maillimit__name_hash(level, buf, (size_t)len));
}

/* Resolve (level, name) for calls that name an entity with a counter or settings.
 * SERVER requires name NULL. Returns 0 and *out, or an error. */
static int resolve(maillimit *ml, int level, const char *name, struct maillimit__entity **out)
{
    if (!ml || level < MAILLIMIT_LEVEL_SERVER || level > MAILLIMIT_LEVEL_MAILBOX)
        return MAILLIMIT_EINVAL;
    if (level == MAILLIMIT_LEVEL_SERVER) {
        if (name)
            return MAILLIMIT_EINVAL;
        *out = ml->server;
        return 0;
    }
    char buf[MAILLIMIT_NAME_MAX + 1];
    int len = maillimit__name_norm(level, name, buf, NULL);
    if (len < 0)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = maillimit__table_find(
        ml, level, buf, (size_t)len, maillimit__name_hash(level, buf, (size_t)len));
    if (!e)
        return MAILLIMIT_ENOTFOUND;
    *out = e;
    return 0;
}

/* ---- creation ------------------------------------------------------------------------- */

/* Make an entity and publish it in the name table. Every field a decider reads, the parent
 * and the implicit mark included, is set before the table's release store publishes it. */
static struct maillimit__entity *entity_make(maillimit *ml, int level, const char *name,
                                             size_t len, uint64_t hash,
                                             struct maillimit__entity *parent, int implicit)
{
    size_t need = maillimit__entity_size(len);
    struct maillimit__entity *e;
    if (ml->spare && ml->spare_size >= need) {
        e = ml->spare; /* allocated ahead by the caller (config.c) */
        ml->spare = NULL;
    } else if (!(e = malloc(need))) {
        return NULL;
    }
    maillimit__entity_init(e, level);
    e->len = (uint16_t)len;
    e->hash = hash;
    memcpy(e->name, name, len + 1);
    atomic_init(&e->parent, parent);
    atomic_init(&e->implicit, (uint8_t)implicit);
    e->hint = parent ? maillimit__parent(parent) : NULL;
    if (maillimit__table_insert(ml, e)) {
        free(e);
        return NULL;
    }
    e->all_prev = NULL;
    e->all_next = ml->all;
    if (ml->all)
        ml->all->all_prev = e;
    ml->all = e;
    maillimit__entity_link(parent, e);
    return e;
}


void maillimit__spare_set(maillimit *ml, void *block, size_t size)
{
    free(ml->spare);
    ml->spare = block;
    ml->spare_size = block ? size : 0;
}

void *maillimit__spare_take(maillimit *ml)
{
    void *b = ml->spare;
    ml->spare = NULL;
    ml->spare_size = 0;
    return b;
}

void maillimit__retire(maillimit *ml, struct maillimit__entity *e)
{
    if (e->all_prev)
        e->all_prev->all_next = e->all_next;
    else if (ml->all == e)
        ml->all = e->all_next;
    if (e->all_next)
        e->all_next->all_prev = e->all_prev;
    e->all_prev = NULL;
    e->all_next = ml->retired.entities;
    ml->retired.entities = e;
}

static void set_parent(maillimit *ml, struct maillimit__entity *e, struct maillimit__entity *p)
{
    maillimit__changed(ml);
    entity_unlink(e);
    maillimit__entity_link(p, e);
    /* release: pairs with the acquire load in maillimit__parent() */
    atomic_store_explicit(&e->parent, p, memory_order_release);
}

/* Add (level, name) under parent p (may be NULL for plans and plan-less subscriptions).
 * same placement → 0; other placement → EEXISTS. */
static int add(maillimit *ml, int level, const char *name, struct maillimit__entity *p,
               struct maillimit__entity **out)
{
    char buf[MAILLIMIT_NAME_MAX + 1];
    int len = maillimit__name_norm(level == MAILLIMIT__LEVEL_SYSUSER ? MAILLIMIT_LEVEL_PLAN
                                                                       : level,
                                   name, buf, NULL);
    if (len < 0)
        return MAILLIMIT_EINVAL;
    uint64_t h = maillimit__name_hash(level, buf, (size_t)len);
    struct maillimit__entity *e = maillimit__table_find(ml, level, buf, (size_t)len, h);
    if (e) {
        if (out)
            *out = e;
        if (level == MAILLIMIT_LEVEL_MAILBOX) {
            /* an implicit mailbox becomes explicit; its counters stay */
            if (atomic_exchange_explicit(&e->implicit, 0, memory_order_relaxed))
                maillimit__changed(ml);
            return maillimit__parent(e) == p ? 0 : MAILLIMIT_EEXISTS;
        }
        return maillimit__parent(e) == p ? 0 : MAILLIMIT_EEXISTS;
    }
    e = entity_make(ml, level, buf, (size_t)len, h, p, 0);
    if (!e)
        return MAILLIMIT_ENOMEM;
    maillimit__changed(ml);
    if (out)
        *out = e;
    return 0;
}

int maillimit_plan_add(maillimit *ml, const char *plan)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    int rc = add(ml, MAILLIMIT_LEVEL_PLAN, plan, NULL, NULL);
    maillimit__config_end(ml);
    return rc;
}

/* Look up a required parent by name: EINVAL for a bad name, ENOTFOUND if missing. */
static int need(maillimit *ml, int level, const char *name, struct maillimit__entity **out)
{
    if (!name)
        return MAILLIMIT_EINVAL;
    return resolve(ml, level, name, out);
}

int maillimit_subscription_add(maillimit *ml, const char *subscription, const char *plan)
{
    if (!ml || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *p = NULL;
    char tmp[MAILLIMIT_NAME_MAX + 1];
    int rc = maillimit__name_norm(MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, tmp, NULL);
    if (rc >= 0)
        rc = plan ? need(ml, MAILLIMIT_LEVEL_PLAN, plan, &p) : 0;
    if (rc >= 0)
        rc = add(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, p, NULL);
    maillimit__config_end(ml);
    return rc < 0 ? rc : 0;
}

int maillimit_domain_add(maillimit *ml, const char *domain, const char *subscription)
{
    if (!ml || !domain || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *p = NULL;
    char tmp[MAILLIMIT_NAME_MAX + 1];
    int rc = maillimit__name_norm(MAILLIMIT_LEVEL_DOMAIN, domain, tmp, NULL);
    if (rc >= 0)
        rc = need(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, &p);
    if (rc >= 0)
        rc = add(ml, MAILLIMIT_LEVEL_DOMAIN, domain, p, NULL);
    maillimit__config_end(ml);
    return rc < 0 ? rc : 0;
}

int maillimit_mailbox_add(maillimit *ml, const char *address)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    char buf[MAILLIMIT_NAME_MAX + 1];
    int len = maillimit__name_norm(MAILLIMIT_LEVEL_MAILBOX, address, buf, NULL);
    if (len < 0)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *d = NULL;
    int rc = need(ml, MAILLIMIT_LEVEL_DOMAIN, strchr(buf, '@') + 1, &d);
    if (rc == 0)
        rc = add(ml, MAILLIMIT_LEVEL_MAILBOX, buf, d, NULL);
    maillimit__config_end(ml);
    return rc;
}

int maillimit_sysuser_add(maillimit *ml, const char *login, const char *subscription)
{
    if (!ml || !login || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *p = NULL;
    char tmp[MAILLIMIT_NAME_MAX + 1];
    int rc = maillimit__name_norm(MAILLIMIT_LEVEL_PLAN, login, tmp, NULL);
    if (rc >= 0)
        rc = need(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, &p);
    if (rc >= 0)
        rc = add(ml, MAILLIMIT__LEVEL_SYSUSER, login, p, NULL);
    maillimit__config_end(ml);
    return rc < 0 ? rc : 0;
}

int maillimit__implicit_mailbox(maillimit *ml, const char *addr, size_t len, uint64_t hash,
                                struct maillimit__entity **out)
{
    maillimit__config_begin(ml);
    int rc = 0;
    struct maillimit__entity *e =
        maillimit__table_find(ml, MAILLIMIT_LEVEL_MAILBOX, addr, len, hash);
    if (!e) {
        const char *dom = (const char *)memchr(addr, '@', len) + 1;
        size_t dlen = len - (size_t)(dom - addr);
        struct maillimit__entity *d =
            maillimit__table_find(ml, MAILLIMIT_LEVEL_DOMAIN, dom, dlen,
                                  maillimit__name_hash(MAILLIMIT_LEVEL_DOMAIN, dom, dlen));
        if (!d) {
            rc = MAILLIMIT_ENOTFOUND;
        } else if (!(e = entity_make(ml, MAILLIMIT_LEVEL_MAILBOX, addr, len, hash, d, 1))) {
            rc = MAILLIMIT_ENOMEM;
        }
    }
    maillimit__config_end(ml);
    *out = e;
    return rc;
}

/* ---- removal and moves ---------------------------------------------------------------- */

static void kill(maillimit *ml, struct maillimit__entity *e)
{
    maillimit__changed(ml);
    entity_unlink(e);
    maillimit__retire(ml, e); /* freed by a later maillimit_tick(), once no reader has it */
    maillimit__table_remove(ml, e);
    atomic_store_explicit(&e->dead, 1, memory_order_relaxed);
}

/* Kill e and everything below it, children first: O(subtree). */
static void kill_tree(maillimit *ml, struct maillimit__entity *e)
{
    while (e->child)
        kill_tree(ml, e->child); /* kill() takes the child off e's list */
    kill(ml, e);
}

int maillimit_remove(maillimit *ml, int level, const char *name)
{
    if (!ml || level <= MAILLIMIT_LEVEL_SERVER || level > MAILLIMIT_LEVEL_MAILBOX)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *victim = NULL;
    int rc = need(ml, level, name, &victim);
    if (rc == 0) {
        /* Plans only detach their subscriptions; anything else goes with its subtree,
         * children first. */
        if (level == MAILLIMIT_LEVEL_PLAN) {
            while (victim->child)
                set_parent(ml, victim->child, NULL);
            kill(ml, victim);
        } else {
            kill_tree(ml, victim);
        }
    }
    maillimit__config_end(ml);
    return rc;
}

int maillimit_sysuser_remove(maillimit *ml, const char *login)
{
    if (!ml || !login)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    char buf[MAILLIMIT_NAME_MAX + 1];
    int rc = maillimit__name_norm(MAILLIMIT_LEVEL_PLAN, login, buf, NULL);
    if (rc >= 0) {
        struct maillimit__entity *e = maillimit__table_find(
            ml, MAILLIMIT__LEVEL_SYSUSER, buf, (size_t)rc,
            maillimit__name_hash(MAILLIMIT__LEVEL_SYSUSER, buf, (size_t)rc));
        rc = e ? 0 : MAILLIMIT_ENOTFOUND;
        if (e)
            kill(ml, e);
    }
    maillimit__config_end(ml);
    return rc < 0 ? rc : 0;
}

int maillimit_sysuser_move(maillimit *ml, const char *login, const char *subscription)
{
    if (!ml || !login || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    char buf[MAILLIMIT_NAME_MAX + 1];
    struct maillimit__entity *u = NULL, *s = NULL;
    int rc = maillimit__name_norm(MAILLIMIT_LEVEL_PLAN, login, buf, NULL);
    if (rc >= 0) {
        u = maillimit__table_find(ml, MAILLIMIT__LEVEL_SYSUSER, buf, (size_t)rc,
                                  maillimit__name_hash(MAILLIMIT__LEVEL_SYSUSER, buf, (size_t)rc));
        rc = need(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, &s);
        if (rc == 0 && !u)
            rc = MAILLIMIT_ENOTFOUND;
    }
    if (rc == 0)
        set_parent(ml, u, s);
    maillimit__config_end(ml);
    return rc < 0 ? rc : 0;
}

int maillimit_domain_move(maillimit *ml, const char *domain, const char *subscription)
{
    if (!ml || !domain || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *d = NULL, *s = NULL;
    int rc = need(ml, MAILLIMIT_LEVEL_DOMAIN, domain, &d);
    int rc2 = need(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, &s);
    if (rc == 0)
        rc = rc2;
    else if (rc2 == MAILLIMIT_EINVAL)
        rc = rc2;
    if (rc == 0)
        set_parent(ml, d, s);
    maillimit__config_end(ml);
    return rc;
}

int maillimit_subscription_plan_set(maillimit *ml, const char *subscription, const char *plan)
{
    if (!ml || !subscription)
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *s = NULL, *p = NULL;
    int rc = need(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, subscription, &s);
    int rc2 = plan ? need(ml, MAILLIMIT_LEVEL_PLAN, plan, &p) : 0;
    if (rc == 0)
        rc = rc2;
    else if (rc2 == MAILLIMIT_EINVAL)
        rc = rc2;
    if (rc == 0)
        set_parent(ml, s, p);
    maillimit__config_end(ml);
    return rc;
}

/* ---- limits --------------------------------------------------------------------------- */

static int limit_args(maillimit *ml, int level, int target, int window)
{
    if (!ml || level < MAILLIMIT_LEVEL_SERVER || level > MAILLIMIT_LEVEL_MAILBOX ||
        target < MAILLIMIT_LEVEL_SERVER || target > MAILLIMIT_LEVEL_MAILBOX ||
        !maillimit__valid_window(window) || !settable[level][target])
        return MAILLIMIT_EINVAL;
    return 0;
}

static _Atomic int64_t *limit_cell(maillimit *ml, struct maillimit__entity *e, int target,
                                   int window)
{
    if (target == MAILLIMIT_LEVEL_SERVER)
        return &ml->server_total[window];
    return &e->limit[target - MAILLIMIT_LEVEL_SUBSCRIPTION][window];
}

int maillimit_limit_set(maillimit *ml, int level, const char *name, int target_level,
                        int window, int64_t value)
{
    int rc = limit_args(ml, level, target_level, window);
    if (rc)
        return rc;
    if (value < MAILLIMIT_DEFAULT ||
        (level == MAILLIMIT_LEVEL_SERVER && value == MAILLIMIT_DEFAULT))
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *e = NULL;
    rc = resolve(ml, level, name, &e);
    if (rc == 0 && target_level == MAILLIMIT_LEVEL_SERVER)
        /* relaxed: a limit is one independent word; the next decision reads it */
        atomic_store_explicit(limit_cell(ml, e, target_level, window), value,
                              memory_order_relaxed);
    else if (rc == 0)
        maillimit__limit_store(e, target_level - MAILLIMIT_LEVEL_SUBSCRIPTION, window, value);
    maillimit__config_end(ml);
    return rc;
}

int maillimit_limit_configured(maillimit *ml, int level, const char *name, int target_level,
                          int window, int64_t *out)
{
    int rc = limit_args(ml, level, target_level, window);
    if (rc || !out)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    unsigned rs = maillimit__read_enter(ml);
    rc = resolve(ml, level, name, &e);
    if (rc == 0)
        *out = atomic_load_explicit(limit_cell(ml, e, target_level, window),
                                    memory_order_relaxed);
    maillimit__read_leave(ml, rs);
    return rc;
}

int64_t maillimit__effective_limit(const maillimit *ml, const struct maillimit__entity *e,
                                   int window)
{
    int target = e->level;
    if (target == MAILLIMIT_LEVEL_SERVER)
        return atomic_load_explicit(&ml->server_total[window], memory_order_relaxed);
    int t = target - MAILLIMIT_LEVEL_SUBSCRIPTION;
    for (const struct maillimit__entity *x = e; x; x = maillimit__parent(x)) {
        int64_t v = atomic_load_explicit(&x->limit[t][window], memory_order_relaxed);
        if (v != MAILLIMIT_DEFAULT)
            return v;
    }
    return atomic_load_explicit(&ml->server->limit[t][window], memory_order_relaxed);
}

int maillimit_limit_effective(maillimit *ml, int level, const char *name, int window, int64_t *out)
{
    if (!ml || !out || !maillimit__valid_window(window) || level == MAILLIMIT_LEVEL_PLAN)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    unsigned rs = maillimit__read_enter(ml);
    int rc = resolve(ml, level, name, &e);
    if (rc == 0)
        *out = maillimit__effective_limit(ml, e, window);
    maillimit__read_leave(ml, rs);
    return rc;
}

/* ---- switch, unit, flags -------------------------------------------------------------- */

int maillimit_enabled_set(maillimit *ml, int on)
{
    if (!ml || (on != 0 && on != 1))
        return MAILLIMIT_EINVAL;
    atomic_store_explicit(&ml->enabled, on, memory_order_relaxed);
    return 0;
}

int maillimit_enabled_get(maillimit *ml, int *out)
{
    if (!ml || !out)
        return MAILLIMIT_EINVAL;
    *out = atomic_load_explicit(&ml->enabled, memory_order_relaxed);
    return 0;
}

int maillimit_unit_set(maillimit *ml, int unit)
{
    if (!ml || (unit != MAILLIMIT_UNIT_MESSAGES && unit != MAILLIMIT_UNIT_RECIPIENTS))
        return MAILLIMIT_EINVAL;
    atomic_store_explicit(&ml->unit, unit, memory_order_relaxed);
    return 0;
}

int maillimit_unit_get(maillimit *ml, int *out)
{
    if (!ml || !out)
        return MAILLIMIT_EINVAL;
    *out = atomic_load_explicit(&ml->unit, memory_order_relaxed);
    return 0;
}

static int flag_args(maillimit *ml, int level, int flag)
{
    if (!ml)
        return MAILLIMIT_EINVAL;
    if (flag == MAILLIMIT_FLAG_SENDMAIL)
        return level == MAILLIMIT_LEVEL_SERVER || level == MAILLIMIT_LEVEL_PLAN ||
                       level == MAILLIMIT_LEVEL_SUBSCRIPTION
                   ? 0
                   : MAILLIMIT_EINVAL;
    if (flag == MAILLIMIT_FLAG_EXEMPT)
        return level >= MAILLIMIT_LEVEL_PLAN && level <= MAILLIMIT_LEVEL_MAILBOX
                   ? 0
                   : MAILLIMIT_EINVAL;
    return MAILLIMIT_EINVAL;
}

int maillimit_flag_set(maillimit *ml, int level, const char *name, int flag, int value)
{
    int rc = flag_args(ml, level, flag);
    if (rc)
        return rc;
    if (value != 0 && value != 1 &&
        (value != MAILLIMIT_DEFAULT || level == MAILLIMIT_LEVEL_SERVER))
        return MAILLIMIT_EINVAL;
    maillimit__config_begin(ml);
    struct maillimit__entity *e = NULL;
    rc = resolve(ml, level, name, &e);
    if (rc == 0)
        atomic_store_explicit(&e->flag[flag], (int8_t)value, memory_order_relaxed);
    maillimit__config_end(ml);
    return rc;
}

int maillimit_flag_configured(maillimit *ml, int level, const char *name, int flag, int *out)
{
    int rc = flag_args(ml, level, flag);
    if (rc || !out)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    unsigned rs = maillimit__read_enter(ml);
    rc = resolve(ml, level, name, &e);
    if (rc == 0)
        *out = atomic_load_explicit(&e->flag[flag], memory_order_relaxed);
    maillimit__read_leave(ml, rs);
    return rc;
}

int maillimit__effective_flag(const maillimit *ml, const struct maillimit__entity *e, int flag)
{
    for (const struct maillimit__entity *x = e; x; x = maillimit__parent(x)) {
        if (x->level == MAILLIMIT__LEVEL_SYSUSER)
            continue;
        int8_t v = atomic_load_explicit(&x->flag[flag], memory_order_relaxed);
        if (v != MAILLIMIT_DEFAULT)
            return v;
    }
    if (flag == MAILLIMIT_FLAG_SENDMAIL)
        return atomic_load_explicit(&ml->server->flag[flag], memory_order_relaxed);
    return 0;
}

int maillimit_flag_effective(maillimit *ml, int level, const char *name, int flag, int *out)
{
    int rc = flag_args(ml, level, flag);
    if (rc || !out)
        return MAILLIMIT_EINVAL;
    struct maillimit__entity *e = NULL;
    unsigned rs = maillimit__read_enter(ml);
    rc = resolve(ml, level, name, &e);
    if (rc == 0)
        *out = e == ml->server ? atomic_load_explicit(&e->flag[flag], memory_order_relaxed)
                                : maillimit__effective_flag(ml, e, flag);
    maillimit__read_leave(ml, rs);
    return rc;
}

void maillimit__activate(maillimit *ml, struct maillimit__entity *e)
{
    if (atomic_exchange_explicit(&e->active, 1, memory_order_relaxed))
        return;
    /* release: publishes e->active_next to the acquire load of readers walking the list */
    struct maillimit__entity *head = atomic_load_explicit(&ml->active, memory_order_relaxed);
    do
        e->active_next = head;
    while (!atomic_compare_exchange_weak_explicit(&ml->active, &head, e, memory_order_release,
                                                  memory_order_relaxed));
}

struct maillimit__ring *maillimit__entity_ring(maillimit *ml, struct maillimit__entity *e)
{
    /* acquire: pairs with the acq_rel CAS below that publishes a zeroed ring */
    struct maillimit__ring *r = atomic_load_explicit(&e->ring, memory_order_acquire);
    if (r)
        return r;
    struct maillimit__ring *fresh = maillimit__ring_new();
    if (!fresh)
        return NULL;
    /* acq_rel: publishes the zeroed ring (release) or reads the winner's (acquire) */
    if (atomic_compare_exchange_strong_explicit(&e->ring, &r, fresh, memory_order_acq_rel,
                                                memory_order_acquire)) {
        maillimit__activate(ml, e);
        return fresh;
    }
    free(fresh);
    return r;
}

struct maillimit__live *maillimit__live_new(void)
{
    struct maillimit__live *fresh = calloc(1, sizeof *fresh);
    if (!fresh)
        return NULL;
    for (int i = 0; i < MAILLIMIT__DAY_SLOTS; i++) {
        atomic_init(&fresh->denied[i], 0);
        atomic_init(&fresh->exempt[i], 0);
        atomic_init(&fresh->reset[i], 0);
    }
    atomic_init(&fresh->ep_start, 0);
    atomic_init(&fresh->ep_free_at, 0);
    atomic_init(&fresh->ep_denied, 0);
    atomic_init(&fresh->ep_limit, 0);
    atomic_init(&fresh->ep_window, 0);
    return fresh;
}

struct maillimit__live *maillimit__entity_live(maillimit *ml, struct maillimit__entity *e)
{
    /* acquire: pairs with the acq_rel CAS below that publishes a zeroed block */
    struct maillimit__live *lv = atomic_load_explicit(&e->live, memory_order_acquire);
    if (lv)
        return lv;
    struct maillimit__live *fresh = maillimit__live_new();
    if (!fresh)
        return NULL;
    /* acq_rel: publishes the zeroed block (release) or reads the winner's (acquire) */
    if (atomic_compare_exchange_strong_explicit(&e->live, &lv, fresh, memory_order_acq_rel,
                                                memory_order_acquire)) {
        maillimit__activate(ml, e);
        return fresh;
    }
    free(fresh);
    return lv;
}
