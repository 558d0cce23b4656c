/* SPDX-License-Identifier: MIT */
/* The public structs that can grow, and the one rule they all follow.
 *
 * A struct only ever grows at its end, so version n of it is the first bytes of version n + 1,
 * and the size of version n is its `sizeof` in the header of version n. A caller's `_init`
 * stamps the version it was compiled with; the library accepts any version from 1 up to its
 * own and reads and writes only the bytes of the caller's version: a filled struct of the
 * library's own version is copied out with maillimit__struct_out(). An older caller therefore
 * never has its memory overrun by a newer library, and a newer caller is refused at `_init`
 * (MAILLIMIT_EVERSION) by an older library instead of being half filled.
 *
 * To add a field: append it, raise the struct's version in maillimit.h, and add the new size
 * to its row below, keeping the older sizes as they were (now `offsetof` the first new
 * field, or a literal). */
#include <string.h>

#include "internal.h"

/* sizes[kind][version - 1] */
static const size_t sizes[MAILLIMIT__STRUCT_KINDS][1] = {
    [MAILLIMIT__VERDICT] = { sizeof(maillimit_verdict) },
    [MAILLIMIT__STATUS] = { sizeof(maillimit_status) },
    [MAILLIMIT__HISTORY_ROW] = { sizeof(maillimit_history_row) },
    [MAILLIMIT__EPISODE] = { sizeof(maillimit_episode) },
    [MAILLIMIT__TOP_ROW] = { sizeof(maillimit_top_row) },
    [MAILLIMIT__SUMMARY] = { sizeof(maillimit_summary) },
    [MAILLIMIT__EVENT] = { sizeof(maillimit_event) },
    [MAILLIMIT__ENTITY] = { sizeof(maillimit_entity) },
    [MAILLIMIT__REQUEST] = { sizeof(maillimit_request) },
};

size_t maillimit__struct_size(int kind, uint32_t version)
{
    if (kind < 0 || kind >= MAILLIMIT__STRUCT_KINDS || version < 1 ||
        version > sizeof sizes[0] / sizeof sizes[0][0])
        return 0;
    return sizes[kind][version - 1];
}

size_t maillimit__struct_check(int kind, const void *caller)
{
    uint32_t version;
    if (!caller)
        return 0;
    memcpy(&version, caller, sizeof version); /* every public struct begins with it */
    return maillimit__struct_size(kind, version);
}

void maillimit__struct_out(int kind, void *caller, const void *full)
{
    uint32_t version;
    memcpy(&version, caller, sizeof version);
    size_t n = maillimit__struct_size(kind, version);
    memcpy(caller, full, n);
    memcpy(caller, &version, sizeof version);
}

/* Stamp `version` into a struct the caller owns, with `full` (the library's own version, its
 * defaults set) as the contents of the fields that version has. */
static int init(int kind, void *caller, uint32_t version, void *full)
{
    if (!caller)
        return MAILLIMIT_EINVAL;
    size_t n = maillimit__struct_size(kind, version);
    if (!n)
        return MAILLIMIT_EVERSION;
    memcpy(full, &version, sizeof version);
    memcpy(caller, full, n);
    return 0;
}

int maillimit_verdict_init(maillimit_verdict *v, uint32_t version)
{
    maillimit_verdict full = { .decision = MAILLIMIT_ALLOW, .reason = MAILLIMIT_REASON_NONE,
                               .level = -1, .window = -1, .limit = -1 };
    return init(MAILLIMIT__VERDICT, v, version, &full);
}

int maillimit_status_init(maillimit_status *s, uint32_t version)
{
    maillimit_status full = { .blocked_by = -1, .limit = -1, .remaining = -1 };
    return init(MAILLIMIT__STATUS, s, version, &full);
}

int maillimit_history_row_init(maillimit_history_row *row, uint32_t version)
{
    maillimit_history_row full = { 0 };
    return init(MAILLIMIT__HISTORY_ROW, row, version, &full);
}

int maillimit_episode_init(maillimit_episode *ep, uint32_t version)
{
    maillimit_episode full = { .level = -1, .window = -1 };
    return init(MAILLIMIT__EPISODE, ep, version, &full);
}

int maillimit_top_row_init(maillimit_top_row *row, uint32_t version)
{
    maillimit_top_row full = { .level = -1 };
    return init(MAILLIMIT__TOP_ROW, row, version, &full);
}

int maillimit_summary_init(maillimit_summary *s, uint32_t version)
{
    maillimit_summary full = { 0 };
    return init(MAILLIMIT__SUMMARY, s, version, &full);
}

int maillimit_event_init(maillimit_event *ev, uint32_t version)
{
    maillimit_event full = { 0 };
    return init(MAILLIMIT__EVENT, ev, version, &full);
}

int maillimit_entity_init(maillimit_entity *e, uint32_t version)
{
    maillimit_entity full = { .level = -1 };
    return init(MAILLIMIT__ENTITY, e, version, &full);
}

int maillimit_request_init(maillimit_request *r, uint32_t version)
{
    maillimit_request full = { .level = MAILLIMIT_LEVEL_MAILBOX, .cost = 1 };
    return init(MAILLIMIT__REQUEST, r, version, &full);
}
