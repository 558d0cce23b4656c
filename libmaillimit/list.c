/* SPDX-License-Identifier: MIT */
/* Listing the hierarchy: maillimit_list_open() and friends, maillimit_generation().
 *
 * A listing is a copy made under the configuration lock: the names (and parent names) of the
 * matching live entities, sorted bytewise, in one allocation. Walking every entity the handle
 * ever made is O(entities); a panel lists rarely, and maillimitd lists only when
 * maillimit_generation() says the hierarchy changed.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct maillimit_list_row {
    const char *name, *parent;
    int32_t level, implicit;
};

struct maillimit_list {
    size_t n, i;
    struct maillimit_list_row *row;
    char *names; /* every name and parent name, NUL-terminated */
};

int maillimit_generation(maillimit *ml, uint64_t *out)
{
    if (!ml || !out)
        return MAILLIMIT_EINVAL;
    *out = atomic_load_explicit(&ml->generation, memory_order_relaxed);
    return 0;
}

static int in_subtree(struct maillimit__entity *e, struct maillimit__entity *scope)
{
    for (struct maillimit__entity *x = e; x; x = maillimit__parent(x))
        if (x == scope)
            return 1;
    return 0;
}

static int row_cmp(const void *a, const void *b)
{
    const struct maillimit_list_row *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int maillimit_list_open(maillimit *ml, int level, int scope_level, const char *scope_name,
                        int implicit, maillimit_list **out)
{
    if (!out)
        return MAILLIMIT_EINVAL;
    *out = NULL;
    if (!ml || level < MAILLIMIT_LEVEL_PLAN || level > MAILLIMIT_LIST_SYSUSER ||
        (implicit != 0 && implicit != 1))
        return MAILLIMIT_EINVAL;
    if (scope_level == MAILLIMIT_LEVEL_SERVER) {
        if (scope_name)
            return MAILLIMIT_EINVAL;
    } else if (scope_level < MAILLIMIT_LEVEL_PLAN || scope_level > MAILLIMIT_LEVEL_DOMAIN ||
               !scope_name) {
        return MAILLIMIT_EINVAL;
    }
    maillimit_list *it = calloc(1, sizeof *it);
    if (!it)
        return MAILLIMIT_ENOMEM;
    maillimit__config_begin(ml);
    int rc = 0;
    struct maillimit__entity *scope = NULL;
    if (scope_level != MAILLIMIT_LEVEL_SERVER) {
        char buf[MAILLIMIT_NAME_MAX + 1];
        if (maillimit__name_norm(scope_level, scope_name, buf, NULL) < 0)
            rc = MAILLIMIT_EINVAL;
        else if (!(scope = maillimit__lookup(ml, scope_level, buf)))
            rc = MAILLIMIT_ENOTFOUND;
    }
    /* two passes: count and size, then copy */
    size_t n = 0, bytes = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        char *w = it->names;
        for (struct maillimit__entity *e = ml->all; e; e = e->all_next) {
            if (e->level != level || atomic_load_explicit(&e->dead, memory_order_relaxed))
                continue;
            int imp = atomic_load_explicit(&e->implicit, memory_order_relaxed) != 0;
            if (imp && !implicit)
                continue;
            if (scope && !in_subtree(e, scope))
                continue;
            struct maillimit__entity *p = maillimit__parent(e);
            if (pass == 0) {
                n++;
                bytes += e->len + 1 + (p ? p->len : 0) + 1;
                continue;
            }
            struct maillimit_list_row *r = &it->row[it->n++];
            r->level = level;
            r->implicit = imp;
            r->name = w;
            memcpy(w, e->name, e->len + 1);
            w += e->len + 1;
            r->parent = w;
            if (p) {
                memcpy(w, p->name, p->len);
                w += p->len;
            }
            *w++ = '\0';
        }
        if (pass == 0 && n) {
            it->row = malloc(n * sizeof *it->row);
            it->names = malloc(bytes);
            if (!it->row || !it->names)
                rc = MAILLIMIT_ENOMEM;
        }
    }
    maillimit__config_end(ml);
    if (rc != 0) {
        maillimit_list_close(it);
        return rc;
    }
    if (it->n > 1)
        qsort(it->row, it->n, sizeof *it->row, row_cmp);
    *out = it;
    return 0;
}

static void copy_str(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n > MAILLIMIT_NAME_BUFFER - 1)
        n = MAILLIMIT_NAME_BUFFER - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int maillimit_list_next(maillimit_list *it, maillimit_entity *out)
{
    if (!it || !maillimit__struct_check(MAILLIMIT__ENTITY, out))
        return MAILLIMIT_EINVAL;
    if (it->i == it->n)
        return MAILLIMIT_EDONE;
    const struct maillimit_list_row *r = &it->row[it->i++];
    maillimit_entity row = { .version = MAILLIMIT_ENTITY_VERSION };
    row.level = r->level;
    row.implicit = r->implicit;
    copy_str(row.name, r->name);
    copy_str(row.parent, r->parent);
    maillimit__struct_out(MAILLIMIT__ENTITY, out, &row);
    return 0;
}

int maillimit_list_count(maillimit_list *it, size_t *out)
{
    if (!it || !out)
        return MAILLIMIT_EINVAL;
    *out = it->n;
    return 0;
}

void maillimit_list_close(maillimit_list *it)
{
    if (!it)
        return;
    free(it->row);
    free(it->names);
    free(it);
}
