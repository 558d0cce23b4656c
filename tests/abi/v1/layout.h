/* SPDX-License-Identifier: MIT */
/* A frozen copy of the version 1 layouts of libmaillimit's public structs, as a program built
 * against the 1.0.0 header sees them, and the prototypes it calls them with. Never edit this
 * file: it stands for callers that were compiled once and are never rebuilt. v1_caller.c runs
 * such a caller against the library being built. */
#ifndef MAILLIMIT_TEST_V1_LAYOUT_H
#define MAILLIMIT_TEST_V1_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct maillimit maillimit;

typedef struct {
    uint32_t version;
    int32_t decision, reason, level, window, reserved_;
    int64_t limit, count, retry_after;
    uint64_t token;
} v1_verdict;

typedef struct {
    uint32_t version;
    int32_t sending, blocked_by, reserved_;
    int64_t count, limit, remaining, retry_after, reset_after;
} v1_status;

typedef struct {
    uint32_t version;
    int32_t reserved_;
    int64_t hour_start, sent, denied, exempt;
} v1_history_row;

typedef struct {
    uint32_t version;
    int32_t level, window, ongoing;
    int64_t started, ended, limit, denied;
    char name[321];
} v1_episode;

typedef struct {
    uint32_t version;
    int32_t level;
    int64_t sent, denied, exempt;
    char name[321];
} v1_top_row;

typedef struct {
    uint32_t version;
    int32_t reserved_;
    int64_t sent, denied, exempt, unattributed, limited_entities;
} v1_summary;

typedef struct {
    uint32_t version;
    int32_t type, level, window;
    int64_t time, limit, denied;
    uint64_t seq;
    char name[321];
} v1_event;

typedef struct {
    uint32_t version;
    int32_t level, implicit, reserved_;
    char name[321];
    char parent[321];
} v1_entity;

typedef struct {
    uint32_t version;
    int32_t level;
    const char *sender;
    int64_t cost;
} v1_request;

int maillimit_new(maillimit **out);
void maillimit_free(maillimit *ml);
int maillimit_config_load_mem(maillimit *ml, const char *text, size_t len, char *err,
                              size_t errlen);
int maillimit_tick(maillimit *ml, int64_t now);

int maillimit_verdict_init(v1_verdict *v, uint32_t version);
int maillimit_decide(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now,
                     v1_verdict *out);
int maillimit_request_init(v1_request *r, uint32_t version);
int maillimit_decide_many(maillimit *ml, const v1_request *req, size_t n, int64_t now,
                          v1_verdict *out, size_t *done);
int maillimit_status_init(v1_status *s, uint32_t version);
int maillimit_status_get(maillimit *ml, int level, const char *name, int window, int64_t now,
                         v1_status *out);
int maillimit_history_row_init(v1_history_row *row, uint32_t version);
int maillimit_history_open(maillimit *ml, int level, const char *name, int64_t from,
                           int64_t to, int64_t now, void **out);
int maillimit_history_next(void *it, v1_history_row *out);
void maillimit_history_close(void *it);
int maillimit_episode_init(v1_episode *ep, uint32_t version);
int maillimit_episodes_open(maillimit *ml, int level, const char *name, int64_t from,
                            int64_t to, int64_t now, void **out);
int maillimit_episodes_next(void *it, v1_episode *out);
void maillimit_episodes_close(void *it);
int maillimit_top_row_init(v1_top_row *row, uint32_t version);
int maillimit_top(maillimit *ml, int level, int metric, int64_t from, int64_t to,
                  int scope_level, const char *scope_name, int64_t now, v1_top_row *rows,
                  size_t *n);
int maillimit_summary_init(v1_summary *s, uint32_t version);
int maillimit_summary_get(maillimit *ml, int scope_level, const char *scope_name, int64_t from,
                          int64_t to, int64_t now, v1_summary *out);
int maillimit_event_init(v1_event *ev, uint32_t version);
int maillimit_events_next(maillimit *ml, int64_t now, v1_event *out);
int maillimit_entity_init(v1_entity *e, uint32_t version);
int maillimit_list_open(maillimit *ml, int level, int scope_level, const char *scope_name,
                        int implicit, void **out);
int maillimit_list_next(void *it, v1_entity *out);
void maillimit_list_close(void *it);

#endif
