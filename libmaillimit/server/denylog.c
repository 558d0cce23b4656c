/* SPDX-License-Identifier: MIT */
/* Denial log lines an admin can afford (log_denials episode): a sender hammering its limit
 * makes one full `deny:` line when its episode starts and then one summary line a minute
 * ("1234 more refused in the last 60 s"), not a line per refusal. The metrics keep the exact
 * counts.
 *
 * A sender (attributed level and name) is followed from its first refusal. Its "episode"
 * lasts until the retry time its refusals gave (the latest of them; never, for a limit of 0
 * or script mail switched off); a refusal after that starts a new episode and is logged in
 * full again. Refusals inside the episode are counted; 60 s after the first counted one,
 * maillimit__denylog_flush() hands out their number. A sender with nothing counted is
 * forgotten once its retry time passed, or after an hour without refusals if it has none.
 *
 * The table holds at most MAILLIMIT__DENYLOG_MAX senders (an open-addressing index over an
 * array of entries, rebuilt when flush forgets some); refusals of senders that find it full
 * are counted together under "other senders".
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "http.h"

enum { SLOTS = 32768, MINUTE_MS = 60000, IDLE_MS = 3600000 };
#define NEVER UINT64_MAX

struct entry {
    int level;
    uint64_t until;      /* the episode lasts until then (monotonic ms); NEVER */
    uint64_t win_start;  /* the first refusal counted since the last line */
    uint64_t last;       /* the latest refusal */
    uint64_t n;          /* refusals counted since the last line */
    char *name;
};

struct maillimit__denylog {
    struct entry *e;
    size_t n;
    uint32_t *slot;      /* index + 1; 0 empty */
    uint64_t other_n, other_start;
};

int maillimit__denylog_new(maillimit__denylog **out)
{
    *out = NULL;
    maillimit__denylog *d = calloc(1, sizeof *d);
    if (!d)
        return MAILLIMIT_ENOMEM;
    d->e = malloc(MAILLIMIT__DENYLOG_MAX * sizeof *d->e);
    d->slot = calloc(SLOTS, sizeof *d->slot);
    if (!d->e || !d->slot) {
        maillimit__denylog_free(d);
        return MAILLIMIT_ENOMEM;
    }
    *out = d;
    return 0;
}

void maillimit__denylog_free(maillimit__denylog *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->e && i < d->n; i++)
        free(d->e[i].name);
    free(d->e);
    free(d->slot);
    free(d);
}

size_t maillimit__denylog_size(const maillimit__denylog *d)
{
    return d ? d->n : 0;
}

static uint32_t hash(int level, const char *name)
{
    uint32_t h = 2166136261u ^ (uint32_t)level;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

/* The slot of (level, name): its entry's, or the empty one where it would go. */
static uint32_t *find(maillimit__denylog *d, int level, const char *name)
{
    for (uint32_t i = hash(level, name) & (SLOTS - 1);; i = (i + 1) & (SLOTS - 1)) {
        uint32_t v = d->slot[i];
        if (v == 0)
            return &d->slot[i];
        const struct entry *x = &d->e[v - 1];
        if (x->level == level && strcmp(x->name, name) == 0)
            return &d->slot[i];
    }
}

static uint64_t until_of(uint64_t now_ms, int64_t retry_after)
{
    if (retry_after < 0)
        return NEVER;
    return now_ms + (uint64_t)retry_after * 1000;
}

int maillimit__denylog_hit(maillimit__denylog *d, int level, const char *name, uint64_t now_ms,
                           int64_t retry_after)
{
    uint32_t *s = find(d, level, name);
    uint64_t until = until_of(now_ms, retry_after);
    if (*s == 0) {
        char *copy = d->n < MAILLIMIT__DENYLOG_MAX ? strdup(name) : NULL;
        if (!copy) {
            /* full (or out of memory): summed up with the other senders */
            if (d->other_n++ == 0)
                d->other_start = now_ms;
            return 0;
        }
        struct entry *x = &d->e[d->n];
        x->level = level;
        x->name = copy;
        x->until = until;
        x->win_start = now_ms;
        x->last = now_ms;
        x->n = 0;
        *s = (uint32_t)++d->n;
        return 1;
    }
    struct entry *x = &d->e[*s - 1];
    x->last = now_ms;
    if (now_ms >= x->until) {
        x->until = until; /* the last episode is over: this refusal starts a new one */
        return 1;
    }
    if (until > x->until)
        x->until = until;
    if (x->n++ == 0)
        x->win_start = now_ms;
    return 0;
}

void maillimit__denylog_flush(maillimit__denylog *d, uint64_t now_ms,
                              void (*emit)(void *ud, int level, const char *name, uint64_t n,
                                           uint64_t seconds),
                              void *ud)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->n; i++) {
        struct entry *x = &d->e[i];
        if (x->n && now_ms - x->win_start >= MINUTE_MS) {
            emit(ud, x->level, x->name, x->n, (now_ms - x->win_start) / 1000);
            x->n = 0;
        }
        int forget = x->n == 0 && (x->until == NEVER ? now_ms - x->last >= IDLE_MS
                                                     : now_ms >= x->until);
        if (forget) {
            free(x->name);
            continue;
        }
        d->e[kept++] = *x;
    }
    if (d->other_n && now_ms - d->other_start >= MINUTE_MS) {
        emit(ud, -1, NULL, d->other_n, (now_ms - d->other_start) / 1000);
        d->other_n = 0;
    }
    if (kept == d->n)
        return;
    d->n = kept;
    memset(d->slot, 0, SLOTS * sizeof *d->slot);
    for (size_t i = 0; i < d->n; i++)
        *find(d, d->e[i].level, d->e[i].name) = (uint32_t)(i + 1);
}
