/* SPDX-License-Identifier: MIT */
/* The server's state (struct maillimit_server), its connections and listeners, and what the
 * files of the server share (never installed): server.c (lifecycle, configuration,
 * snapshots), log.c, notify.c (events and notify_command), conn.c (connections), listen.c
 * (listeners). Shared functions are hidden and named maillimit__*.
 *
 * Everything runs on one loop thread; only the periodic snapshot runs on libuv's thread pool
 * (the core allows a save concurrently with decisions).
 *
 * http_listen adds a thread of libmicrohttpd's for the pages and /metrics (http.c); what the
 * loop thread shares with it is described in http.h: the metrics (atomics written here) and
 * the report gate (the loop never waits for a page to read a report).
 */
#ifndef MAILLIMIT_SERVER_INTERNAL_H
#define MAILLIMIT_SERVER_INTERNAL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <uv.h>

#include "cluster.h"
#include "http.h"

typedef union {
    uv_handle_t h;
    uv_stream_t s;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
} stream_u;

/* Milter listeners: SMTP mail (milter_listen) or local submissions (local_milter_listen). */
enum { MILTER_NONE = 0, MILTER_SMTP = 1, MILTER_LOCAL = 2 };

struct listener {
    stream_u u;
    maillimit_server *s;
    int admin;
    int milter;           /* MILTER_* */
    maillimit__listen addr;
    struct listener *next;
};

struct conn {
    stream_u u;
    maillimit_server *s;
    struct conn *prev, *next;
    int admin, closing, writing, reading;
    int counted;          /* in the metrics' open connections */
    int milter;           /* MILTER_*: a milter connection */
    int eof;              /* the client shut down its side: close once answered */
    int tcp;              /* a TCP connection (not a unix socket) */
    maillimit__milter_session *ms;
    /* cluster_redis: the policy request or milter packet at in[0] waits for Redis (cl_wait),
     * or its verdict
     * came (cl_have, cl_v) and the request is run again at the same time cl_now */
    int cl_wait, cl_have;
    int cl_level;         /* the waiting decision's level and name (cl_name malloc'ed) */
    char *cl_name;
    int64_t cl_now;
    maillimit_verdict cl_v;
    maillimit__cluster_req *cl_req;
    uint64_t last_ms;
    uv_write_t wr;
    char *in;
    size_t inlen, incap;
    char *out;            /* policy, milter: OUT_CAP bytes; admin: the reply being written */
    size_t outlen, outoff;
    char peer[80];
};

struct maillimit_server {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    int has_own_loop;
    maillimit *ml;
    int owns_ml;
    /* The upward calls of the lower modules (conn.c, listen.c), set by server.c: they
     * notify the server without depending on it. */
    void (*handles_closed)(maillimit_server *s);   /* a connection or listener is gone */
    void (*maybe_changed)(maillimit_server *s);    /* the hierarchy may have changed */
    maillimit__admin_host admin;                   /* reload, snapshot, stats, events */
    maillimit_policy *policy;
    maillimit__milter_ctx milter;   /* settings of the milter connections */

    maillimit__conf conf;
    int conf_loaded;
    char *conf_path;      /* reload source: a file ... */
    char *conf_text;      /* ... or a copy of the text */
    size_t conf_len;
    char *conf_name;
    char *core_text;      /* the core lines of the last loaded configuration */

    struct listener *listeners;
    struct conn *conns;
    int npolicy_conns, nconns;
    uint64_t refused_logged_ms;

    uv_timer_t sweep, snap_timer, drain, tick, notify_timer;
    int timers_init;
    uint64_t events_polled_ms;

    /* the newest events, for the admin "events" method */
    maillimit_event *evring;
    size_t evring_n, evring_head;
    /* the digest for notify_command: lines since the last notification */
    char *digest;
    size_t digest_len, digest_cap;
    int64_t digest_since;
    int notify_running;
    uv_process_t notify_proc;
    uv_pipe_t notify_pipe;
    uv_write_t notify_wr;
    char *notify_buf;
    uv_signal_t sig[3];
    int signals_on;
    uv_work_t snap_work;
    int snap_busy, snap_rc;
    char snap_err[256];
    char *snap_path;      /* the background save's own copy of state_file */

    int started, stopping, finished, drain_expired;
    int closing_handles;  /* handles of the server still closing */

    int log_target, verbose;
    char ident[64];
    maillimit_server_log_fn log_cb;
    void *log_ud;

    /* local_login_sender_maps: the text last written, and for which generation */
    char *map_text;
    size_t map_len;
    uint64_t map_generation;
    int map_failed;
    char origin[256];     /* local_origin, or Postfix's myorigin read at start */

    /* counters for the admin "stats" method */
    uint64_t st_garbage, st_conns,
        st_refused, st_admin;
    uint64_t st_milter_unattributed; /* the rest of "stats" comes from the metrics */
    int64_t started_at;

    /* the HTTP pages and /metrics (http.h) */
    maillimit__metrics metrics;
    maillimit__gate gate;
    maillimit__http *http;
    uv_async_t http_async;  /* the HTTP thread has log lines for us */
    int http_async_on;
    maillimit__denylog *denylog; /* log_denials episode */
    int tick_pending;       /* the minute's tick waits for a page to finish a report */
    uint64_t snap_ns;       /* the background save's duration */
    maillimit__cluster *cluster; /* cluster_redis (cluster.c), or NULL */
};

/* The monotonic clock in nanoseconds (durations for the metrics). */
static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- logging (log.c) ----------------------------------------------------------------------- */

/* One line (control characters become '?') to the log target and the callback; DEBUG only
 * when verbose. */
MAILLIMIT__HIDDEN void maillimit__vslog(maillimit_server *s, int prio, const char *fmt,
                                        va_list ap) __attribute__((format(printf, 3, 0)));
static inline void slog(maillimit_server *s, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void slog(maillimit_server *s, int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    maillimit__vslog(s, prio, fmt, ap);
    va_end(ap);
}
/* The word of a level in the log lines: "server", "plan", "subscription", "domain",
 * "mailbox" (or "-"). */
static inline const char *level_word(int level)
{
    switch (level) {
    case MAILLIMIT_LEVEL_SERVER: return "server";
    case MAILLIMIT_LEVEL_PLAN: return "plan";
    case MAILLIMIT_LEVEL_SUBSCRIPTION: return "subscription";
    case MAILLIMIT_LEVEL_DOMAIN: return "domain";
    case MAILLIMIT_LEVEL_MAILBOX: return "mailbox";
    default: return "-";
    }
}

/* A message into the caller's err[errlen] (nothing if err is NULL). */
static inline void emsg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void emsg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- notify.c ------------------------------------------------------------------------------ */

/* Take the handle's queued events: log each, keep it for the admin protocol and the digest. */
MAILLIMIT__HIDDEN void maillimit__events_poll(maillimit_server *s);
/* The events, unless a page is reading a report (then the next denial or sweep does it). */
MAILLIMIT__HIDDEN void maillimit__events_poll_try(maillimit_server *s);
/* The minute's maillimit_tick and events, or tick_pending if a page holds the report lock. */
MAILLIMIT__HIDDEN void maillimit__tick_try(maillimit_server *s);
MAILLIMIT__HIDDEN void maillimit__on_tick(uv_timer_t *t);
/* notify_interval: the events, then the digest to notify_command. */
MAILLIMIT__HIDDEN void maillimit__on_notify(uv_timer_t *t);
/* The admin "events" method (maillimit__admin_host.events). */
MAILLIMIT__HIDDEN int maillimit__admin_events(void *ctx, uint64_t since, void *packer);

/* ---- conn.c -------------------------------------------------------------------------------- */

MAILLIMIT__HIDDEN void maillimit__conn_close(struct conn *c);
/* A listener's connection callback (the listener is server->data). */
MAILLIMIT__HIDDEN void maillimit__on_connection(uv_stream_t *server, int status);
/* Every second: the sender table, log_denials summaries, a pending tick, idle connections. */
MAILLIMIT__HIDDEN void maillimit__on_sweep(uv_timer_t *t);

/* ---- listen.c ------------------------------------------------------------------------------ */

MAILLIMIT__HIDDEN int maillimit__listener_open(maillimit_server *s, const maillimit__listen *a,
                                               int admin, int milter, char *err,
                                               size_t errlen);
MAILLIMIT__HIDDEN void maillimit__listeners_close(maillimit_server *s);
/* http_listen (nothing if it is not set); closed by maillimit__http_close. */
MAILLIMIT__HIDDEN int maillimit__http_open(maillimit_server *s, char *err, size_t errlen);
MAILLIMIT__HIDDEN void maillimit__http_close(maillimit_server *s);

/* ---- cluster.c (cluster.h) ---------------------------------------------------------------- */

/* Connect to cluster_redis if it is set (a failure to connect is not an error: the relay
 * decides alone until Redis answers). */
MAILLIMIT__HIDDEN int maillimit__cluster_open(maillimit_server *s);
/* Close the connection; waiting decisions take their local verdicts. */
MAILLIMIT__HIDDEN void maillimit__cluster_close(maillimit_server *s);
/* A decision through the cluster (cluster.h): 0 with *v final, MAILLIMIT__CLUSTER_PENDING
 * (done(ud, verdict) follows on the loop; *out is the request, for cancelling), or an error
 * of maillimit_reserve(). */
MAILLIMIT__HIDDEN int maillimit__cluster_decide(maillimit__cluster *cl, int level,
                                                const char *name, int64_t cost, int64_t now,
                                                maillimit_verdict *v,
                                                maillimit__cluster_done done, void *ud,
                                                maillimit__cluster_req **out);
/* The caller of a pending decision is gone: its verdict is still applied, nobody is told. */
MAILLIMIT__HIDDEN void maillimit__cluster_cancel(maillimit__cluster_req *r);
/* The cluster-wide count of an entity's window (admin "status"): 0, ENOTFOUND (no
 * cluster_redis, no such chain), EIO (the relay decides alone now, or Redis did not answer
 * within the timeout). Blocks the loop for at most the timeout. */
MAILLIMIT__HIDDEN int maillimit__cluster_count(maillimit_server *s, int level, const char *name,
                                               int window, int64_t now, int64_t *out);
/* -1 without cluster_redis, else 1 when the counters are shared now, 0 when deciding
 * alone; *fallbacks: decisions taken alone so far. */
MAILLIMIT__HIDDEN int maillimit__cluster_state(maillimit_server *s, uint64_t *fallbacks);

/* ---- server.c ------------------------------------------------------------------------------ */

/* Once stopping and nothing is left open or saving: the last tick and save, then the timers
 * and signals closed. */
MAILLIMIT__HIDDEN void maillimit__finish_if_done(maillimit_server *s);
/* Close a handle of the server (counted in closing_handles until its close callback). */
MAILLIMIT__HIDDEN void maillimit__close_handle(maillimit_server *s, uv_handle_t *h);
/* Write local_login_sender_map_file if the hierarchy (or the settings: force) changed. */
MAILLIMIT__HIDDEN void maillimit__sendermap_refresh(maillimit_server *s, int force);

#endif
