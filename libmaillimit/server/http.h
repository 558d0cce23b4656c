/* SPDX-License-Identifier: MIT */
/* Internal declarations of maillimitd's HTTP side (never installed): the metrics the loop
 * thread counts, the Prometheus text, the "Outgoing mail control" pages, the HTTP listener
 * (libmicrohttpd) and the throttling of denial log lines.
 *
 * Threads. The policy, milter and admin connections run on the server's loop thread. The
 * HTTP listener runs on one thread of libmicrohttpd's (MHD_USE_INTERNAL_POLLING_THREAD, at
 * nice +10), which renders pages with the core's readers (status, history, episodes, top,
 * summary, list: all safe from any thread). The loop thread's own figures reach that thread
 * only through maillimit__metrics: every field is a C11 atomic written by the loop thread
 * alone (a relaxed load and a relaxed store, no read-modify-write instruction: there is one
 * writer) and read with relaxed loads. Each figure is exact on its own; two figures read one
 * after the other may be a request apart, which a scrape cannot tell from a request that
 * arrived a microsecond later. (The alternative, a copy the loop publishes every second,
 * would cost nothing per request but make every scrape up to a second old.)
 *
 * The report gate. A core reader holds the handle's report lock for its whole call (top over
 * a million mailboxes: tens of milliseconds). The loop thread must never wait for a page, so
 * the pages take the server's report gate around each reader call, and the loop thread's own
 * reader calls on the decision path (events polled after a denial, the minute tick) only try
 * the gate and, when a page holds it, are retried a second later.
 *
 * Priorities. The thread that renders pages runs at SCHED_IDLE: it gets the CPU only when
 * nothing else wants it. The calls that take a lock of the handle (the configuration lock in
 * maillimit_list_open(), the report lock in the readers) are handed to a reader thread of
 * normal priority (http_page.c), so a lock is never held by a thread that waits behind other
 * work while the loop thread waits for that lock.
 */
#ifndef MAILLIMIT_HTTP_H
#define MAILLIMIT_HTTP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "srv_internal.h"

/* ---- a growable text buffer ------------------------------------------------------------- */

typedef struct maillimit__buf {
    char *p;      /* NUL-terminated text (NULL while empty) */
    size_t len, cap;
    int failed;   /* an allocation failed: the text is incomplete */
} maillimit__buf;

MAILLIMIT__HIDDEN void maillimit__buf_put(maillimit__buf *b, const char *s, size_t n);
MAILLIMIT__HIDDEN void maillimit__buf_puts(maillimit__buf *b, const char *s);
MAILLIMIT__HIDDEN void maillimit__buf_printf(maillimit__buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
MAILLIMIT__HIDDEN void maillimit__buf_free(maillimit__buf *b);

/* HTML text and attribute values: & < > " ' become entities; bytes that are not UTF-8 are
 * shown as \xNN (visible and distinct, never a character of the markup). */
MAILLIMIT__HIDDEN void maillimit__html_esc(maillimit__buf *b, const char *s);
/* A path segment or query value: every byte but A-Z a-z 0-9 - . _ ~ @ is %XX (so the result
 * is also safe inside a quoted HTML attribute). */
MAILLIMIT__HIDDEN void maillimit__url_esc(maillimit__buf *b, const char *s);
/* Decode %XX in place (a '+' stays a '+'). Returns the new length, or -1 for a bad escape or
 * a decoded NUL byte. */
MAILLIMIT__HIDDEN long maillimit__url_unesc(char *s);
/* A Prometheus label value: \ " and newline escaped. */
MAILLIMIT__HIDDEN void maillimit__prom_esc(maillimit__buf *b, const char *s);

/* ---- metrics ---------------------------------------------------------------------------- */

enum { MAILLIMIT__PROTO_POLICY = 0, MAILLIMIT__PROTO_MILTER = 1, MAILLIMIT__PROTO_ADMIN = 2,
       MAILLIMIT__NPROTO = 3 };
/* request results: the maillimit_policy_result values */
enum { MAILLIMIT__NRESULT = 4 };
/* attributed levels: 0 none (unattributed), 1 subscription, 2 domain, 3 mailbox */
enum { MAILLIMIT__NATTR = 4 };
/* latency buckets (upper bounds in microseconds), the last one +Inf */
enum { MAILLIMIT__LAT_BUCKETS = 15 };
MAILLIMIT__HIDDEN extern const uint32_t maillimit__lat_bounds_us[MAILLIMIT__LAT_BUCKETS - 1];
enum { MAILLIMIT__HTTP_CODES = 7 }; /* 200 301 400 401 404 405 500 */

typedef _Atomic uint64_t maillimit__counter;

typedef struct maillimit__metrics {
    /* requests (policy) and messages (milter) by result */
    maillimit__counter requests[2][MAILLIMIT__NRESULT];
    /* decisions that counted (not repeated answers) by result allow/deny and attributed level */
    maillimit__counter decisions[2][2][MAILLIMIT__NATTR];
    /* denials by the denying level (server..mailbox, 0..4) and window (hour, day, none);
     * [.][.][2] holds NOT_ALLOWED (sendmail off), the others LIMIT */
    maillimit__counter denials[2][5][3];
    maillimit__counter milter_aborted;
    maillimit__counter conns_accepted[MAILLIMIT__NPROTO], conns_refused[MAILLIMIT__NPROTO];
    maillimit__counter conns_open[MAILLIMIT__NPROTO];  /* a gauge */
    maillimit__counter protocol_errors[MAILLIMIT__NPROTO];
    maillimit__counter admin_requests;
    /* processing time of decided requests: non-cumulative buckets, sum in nanoseconds */
    maillimit__counter lat[2][MAILLIMIT__LAT_BUCKETS];
    maillimit__counter lat_sum_ns[2];
    /* snapshots: saves by result, the last success (Unix time), the last save's duration */
    maillimit__counter snap_ok, snap_failed, snap_last_ok, snap_last_ns;
    maillimit__counter reload_ok, reload_failed, reload_last_ok;
    maillimit__counter events[2];        /* limit reached, back to normal (as logged) */
    maillimit__counter denial_lines_suppressed;
    maillimit__counter started_at;       /* Unix time */
    /* written by the HTTP thread alone */
    maillimit__counter http_requests[MAILLIMIT__HTTP_CODES];
} maillimit__metrics;

/* One writer: a relaxed load and store (pairs with the relaxed loads of the renderer; no
 * other data depends on a counter). */
static inline void maillimit__inc(maillimit__counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline void maillimit__set(maillimit__counter *c, uint64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}
static inline uint64_t maillimit__get(const maillimit__counter *c)
{
    return atomic_load_explicit((maillimit__counter *)c, memory_order_relaxed);
}

MAILLIMIT__HIDDEN void maillimit__metrics_init(maillimit__metrics *m);
/* One policy request or milter message (proto POLICY or MILTER) and its processing time. */
MAILLIMIT__HIDDEN void maillimit__metrics_outcome(maillimit__metrics *m, int proto,
                                                  const maillimit_policy_outcome *o,
                                                  uint64_t ns);

/* Figures of the handle for /metrics (read on the HTTP thread). */
typedef struct maillimit__handle_figures {
    int enabled;                  /* -1 unknown */
    int64_t entities[6];          /* by list level (plan..sysuser), -1 unknown */
    int64_t implicit_mailboxes;
    int64_t open_episodes[5];     /* by level, -1 unknown */
    int64_t events_dropped;       /* -1 unknown */
} maillimit__handle_figures;

/* The Prometheus text format (version 0.0.4) of m and f at now. */
MAILLIMIT__HIDDEN void maillimit__metrics_render(maillimit__buf *b, const maillimit__metrics *m,
                                                 const maillimit__handle_figures *f,
                                                 int64_t now);

/* ---- the report gate -------------------------------------------------------------------- */

/* See the top of this file. A gate of NULL is always free. */
typedef struct maillimit__gate {
    pthread_mutex_t mu;
} maillimit__gate;

/* ---- pages -------------------------------------------------------------------------------- */

typedef struct maillimit__pages maillimit__pages;

/* One request, as the router sees it. arg() returns the raw (still %-escaped) value of a
 * query parameter, or NULL. */
typedef struct maillimit__http_req {
    const char *method;
    const char *path;             /* raw: %-escapes not decoded */
    const char *(*arg)(void *ud, const char *key);
    void *arg_ud;
} maillimit__http_req;

typedef struct maillimit__http_resp {
    int status;                   /* 200, 301, 400, 404, 405, 500 */
    const char *ctype;            /* static text */
    char location[1200];          /* 301: the target */
    maillimit__buf body;
} maillimit__http_resp;

/* Pages of ml; metrics (may be NULL) for /metrics; gate (may be NULL) around reader calls. */
MAILLIMIT__HIDDEN int maillimit__pages_new(maillimit__pages **out, maillimit *ml,
                                           const maillimit__metrics *metrics,
                                           maillimit__gate *gate);
MAILLIMIT__HIDDEN void maillimit__pages_free(maillimit__pages *p);
/* Make the calls that take a lock of the handle on a thread of normal priority started now
 * (it inherits the caller's signal mask); without it they are made on the caller's thread. */
MAILLIMIT__HIDDEN int maillimit__pages_reader_start(maillimit__pages *p);
/* Answer one request at time now (Unix seconds, > 0). resp->body is the caller's to free. */
MAILLIMIT__HIDDEN void maillimit__pages_handle(maillimit__pages *p,
                                               const maillimit__http_req *req, int64_t now,
                                               maillimit__http_resp *resp);
/* The figures of the handle for /metrics. */
MAILLIMIT__HIDDEN void maillimit__pages_figures(maillimit__pages *p, int64_t now,
                                                maillimit__handle_figures *f);

/* The chart of one day: 24 (sent, denied) pairs, hour 0..23 UTC. The SVG is 760 x 260
 * user units; plot height 200. With N the chart's top (the smallest 1, 2 or 5 x 10^k at
 * least the largest sent + denied, 1 for an empty day) and H(v) = floor((v * 200 + N / 2)
 * / N), hour h's sent bar is H(sent) high and its denied bar, stacked on top, H(sent +
 * denied) - H(sent). */
MAILLIMIT__HIDDEN void maillimit__chart_svg(maillimit__buf *b, const int64_t sent[24],
                                            const int64_t denied[24], const char *title,
                                            const char *unit_word);
MAILLIMIT__HIDDEN int64_t maillimit__chart_top(int64_t max);

/* ---- the listener ------------------------------------------------------------------------ */

typedef struct maillimit__http maillimit__http;

/* Start the listener on addr (inet only). token: the bearer token (NULL or "": none).
 * wake(ud) is called on the HTTP thread when a log line waits (maillimit__http_log_drain on
 * the loop thread takes it). Returns 0, EIO (err says why), ENOMEM. */
MAILLIMIT__HIDDEN int maillimit__http_start(maillimit__http **out,
                                            const maillimit__listen *addr, maillimit *ml,
                                            const maillimit__metrics *metrics,
                                            maillimit__gate *gate, const char *token,
                                            void (*wake)(void *ud), void *ud, char *err,
                                            size_t errlen);
/* Replace the token (reload). */
MAILLIMIT__HIDDEN int maillimit__http_token_set(maillimit__http *h, const char *token);
/* Hand the waiting log lines to emit(ud, priority, text). */
MAILLIMIT__HIDDEN void maillimit__http_log_drain(maillimit__http *h,
                                                 void (*emit)(void *ud, int prio,
                                                              const char *text),
                                                 void *ud);
/* Stop the listener (waits for a page being rendered) and free it. NULL is a no-op. */
MAILLIMIT__HIDDEN void maillimit__http_stop(maillimit__http *h);
/* The port it listens on (port 0 in the configuration: the one the system chose). */
MAILLIMIT__HIDDEN int maillimit__http_port(const maillimit__http *h);

/* The Authorization header value accepted for token: "Bearer TOKEN", or "Basic " and the
 * base64 of "ANYNAME:TOKEN". Compared in time that does not depend on the token's bytes.
 * Returns 1 if authorised (always, for an empty token). */
MAILLIMIT__HIDDEN int maillimit__http_authorized(const char *token, const char *header);

/* ---- throttled denial log lines ------------------------------------------------------------ */

/* Per sender (level, name): the first refusal of an episode is logged; later refusals while
 * the sender is still refused (before the retry time the last refusal gave) are counted and
 * summed up once a minute. At most MAILLIMIT__DENYLOG_MAX senders are followed at once;
 * the refusals of others are summed up together ("other senders"). Times: monotonic
 * milliseconds (the loop's clock). */
enum { MAILLIMIT__DENYLOG_MAX = 10000 };
typedef struct maillimit__denylog maillimit__denylog;

MAILLIMIT__HIDDEN int maillimit__denylog_new(maillimit__denylog **out);
MAILLIMIT__HIDDEN void maillimit__denylog_free(maillimit__denylog *d);
/* A refusal of (level, name) at now_ms with the refusal's retry_after (seconds, -1 never).
 * Returns 1: log it in full; 0: counted for the next summary. */
MAILLIMIT__HIDDEN int maillimit__denylog_hit(maillimit__denylog *d, int level, const char *name,
                                             uint64_t now_ms, int64_t retry_after);
/* Summaries due at now_ms (60 s after the first refusal counted since the last line):
 * emit(ud, level, name, n, seconds) for each, name NULL for "other senders"; senders no
 * longer refused and with nothing counted are forgotten. */
MAILLIMIT__HIDDEN void maillimit__denylog_flush(maillimit__denylog *d, uint64_t now_ms,
                                                void (*emit)(void *ud, int level,
                                                             const char *name, uint64_t n,
                                                             uint64_t seconds),
                                                void *ud);
/* How many senders are followed now. */
MAILLIMIT__HIDDEN size_t maillimit__denylog_size(const maillimit__denylog *d);

/* log_denials */
enum { MAILLIMIT__LOGDENY_EPISODE = 0, MAILLIMIT__LOGDENY_ALL = 1, MAILLIMIT__LOGDENY_NONE = 2 };

#endif
