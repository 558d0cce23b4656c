/* SPDX-License-Identifier: MIT */
/* The name table: open addressing, linear probing, one writer, lock-free readers.
 *
 * Readers load the table pointer and then slots with acquire; the writer publishes an
 * initialised entity with a release store into a slot, and a filled new table with a release
 * store into ml->table. A replaced table is kept (chained on `retired`) until the handle is
 * freed, so a reader still probing it never touches freed memory. Removal writes a tombstone,
 * which readers skip; a rebuild drops tombstones. Capacity is kept at most 3/4 used (live plus
 * tombstones), so every probe ends at an empty slot. Slot words carry a tag of the name's
 * hash (internal.h): a probe loads only the entities whose tag matches, and with the entity's
 * first line starts loading the line of its name.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* A table of 2 MiB or more (256k slots: from about 128k entities) is mapped on its own, at a
 * 2 MiB boundary, and offered to the kernel for transparent huge pages: at 1M mailboxes the
 * slot a decision loads would otherwise be a TLB miss on one of 4096 small pages. */
#define HUGE_PAGE ((size_t)2 << 20)

static const char tomb_marker;
#define TOMB ((uintptr_t)&tomb_marker)

/* The slot word of entity e (internal.h). */
static uintptr_t word_of(const struct maillimit__entity *e)
{
    uintptr_t a = (uintptr_t)e;
#if UINTPTR_MAX == UINT64_MAX
    if (!(a >> 48))
        return a | maillimit__slot_tag(e->hash);
#endif
    return a;
}

/* Slots of a big table: a mapping of their own, 2 MiB aligned; NULL if that fails. */
static _Atomic uintptr_t *slots_map(size_t len)
{
#if defined(MAP_ANONYMOUS)
    char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    size_t lead = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (lead)
        munmap(p, lead);
    if (HUGE_PAGE - lead)
        munmap(p + lead + len, HUGE_PAGE - lead);
#if defined(MADV_HUGEPAGE)
    madvise(p + lead, len, MADV_HUGEPAGE); /* a hint: without it, small pages */
#endif
    return (_Atomic uintptr_t *)(void *)(p + lead);
#else
    (void)len;
    return NULL;
#endif
}

struct maillimit__table *maillimit__table_new(size_t capacity)
{
    struct maillimit__table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t bytes = capacity * sizeof *t->slot; /* capacity is a power of two */
    t->mapped = 0;
    t->slot = bytes >= HUGE_PAGE ? slots_map(bytes) : NULL;
    if (t->slot)
        t->mapped = bytes;
    else if (!(t->slot = calloc(capacity, sizeof *t->slot))) {
        free(t);
        return NULL;
    }
    t->mask = capacity - 1;
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&t->slot[i], 0);
    return t;
}

void maillimit__table_free(struct maillimit__table *t)
{
    while (t) {
        struct maillimit__table *next = t->retired;
        if (t->mapped)
            munmap((void *)t->slot, t->mapped);
        else
            free((void *)t->slot);
        free(t);
        t = next;
    }
}

struct maillimit__entity *maillimit__table_find(struct maillimit *ml, int level,
                                                const char *name, size_t len, uint64_t hash)
{
    /* acquire: pairs with the release store of a new table in rebuild() */
    struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_acquire);
    uintptr_t tag = maillimit__slot_tag(hash);
    for (size_t i = hash & t->mask;; i = (i + 1) & t->mask) {
        /* acquire: pairs with the release store of the entity in place() */
        uintptr_t v = atomic_load_explicit(&t->slot[i], memory_order_acquire);
        if (!v)
            return NULL;
        if (v == TOMB || !maillimit__slot_may_be(v, tag))
            continue;
        struct maillimit__entity *e = maillimit__slot_entity(v);
        /* The level is in the entity's first line, the length beside the name: both lines
         * load at once. (The tag leaves about one probe in 32768 to a name with another hash
         * to be told apart by its level, length or bytes.) */
        __builtin_prefetch(&e->len);
        if (e->level == level && e->len == len && memcmp(e->name, name, len) == 0)
            return e;
    }
}

static void place(struct maillimit__table *t, struct maillimit__entity *e)
{
    size_t i = e->hash & t->mask;
    while (atomic_load_explicit(&t->slot[i], memory_order_relaxed))
        i = (i + 1) & t->mask;
    /* release: publishes the entity's fields to readers' acquire load in table_find() */
    atomic_store_explicit(&t->slot[i], word_of(e), memory_order_release);
    t->used++;
    t->live++;
}

static int rebuild(struct maillimit *ml, size_t need_live)
{
    struct maillimit__table *old = atomic_load_explicit(&ml->table, memory_order_relaxed);
    size_t cap = 1024;
    while (cap / 2 < need_live)
        cap *= 2;
    struct maillimit__table *t = maillimit__table_new(cap);
    if (!t)
        return MAILLIMIT_ENOMEM;
    for (size_t i = 0; i <= old->mask; i++) {
        uintptr_t v = atomic_load_explicit(&old->slot[i], memory_order_relaxed);
        if (v && v != TOMB)
            place(t, maillimit__slot_entity(v));
    }
    t->retired = old;
    /* release: pairs with the acquire load in table_find() */
    atomic_store_explicit(&ml->table, t, memory_order_release);
    return 0;
}

int maillimit__table_insert(struct maillimit *ml, struct maillimit__entity *e)
{
    struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_relaxed);
    if ((t->used + 1) * 4 > (t->mask + 1) * 3) {
        int rc = rebuild(ml, t->live + 1);
        if (rc)
            return rc;
        t = atomic_load_explicit(&ml->table, memory_order_relaxed);
    }
    place(t, e);
    return 0;
}

int maillimit__table_reserve(struct maillimit *ml, size_t n)
{
    struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_relaxed);
    if ((t->used + n + 1) * 4 > (t->mask + 1) * 3)
        return rebuild(ml, t->live + n + 1);
    return 0;
}

void maillimit__table_remove(struct maillimit *ml, struct maillimit__entity *e)
{
    struct maillimit__table *t = atomic_load_explicit(&ml->table, memory_order_relaxed);
    for (size_t i = e->hash & t->mask;; i = (i + 1) & t->mask) {
        uintptr_t v = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
        if (!v)
            return;
        if (v != TOMB && maillimit__slot_entity(v) == e) {
            atomic_store_explicit(&t->slot[i], TOMB, memory_order_release);
            t->live--;
            return;
        }
    }
}
