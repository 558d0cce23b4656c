/* SPDX-License-Identifier: MIT */
/* The server: libuv listeners and connections for the policy and admin protocols, the daemon
 * configuration, snapshots, signals and logging (maillimit_server_*).
 *
 * Everything runs on one loop thread; only the periodic snapshot runs on libuv's thread pool
 * (the core allows a save concurrently with decisions).
 *
 * A policy connection owns an input buffer of MAILLIMIT_POLICY_REQUEST_MAX bytes and an output
 * buffer of OUT_CAP bytes. After each read, every complete request in the input is answered
 * into the output (until it could not hold one more reply), and the output is written with
 * uv_try_write(); what the socket does not take is written with uv_write(), and reading stops
 * until that write completes (so a client that does not read its replies cannot make the
 * server buffer more than OUT_CAP bytes for it). A protocol error is logged and the connection
 * closed; other connections never notice. A sweeper timer (every second) closes connections
 * idle for policy_idle_timeout seconds, or stuck in the middle of a request for 30 seconds.
 * Connections over policy_max_connections are accepted and closed at once.
 *
 * http_listen adds a thread of libmicrohttpd's for the pages and /metrics (http.c); what the
 * loop thread shares with it is described in http.h: the metrics (atomics written here) and
 * the report gate (the loop never waits for a page to read a report).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "confdiff.h"
#include "http.h"

enum { OUT_CAP = 8192, PARTIAL_TIMEOUT_MS = 30000, DRAIN_MS = 2000, SWEEP_MS = 1000,
       TICK_MS = 60000, EVRING = 1024, DIGEST_MAX = 256 * 1024 };

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
    void (*log_cb)(int, const char *, void *);
    void *log_ud;

    /* local_login_sender_maps: the text last written, and for which generation */
    char *map_text;
    size_t map_len;
    uint64_t map_generation;
    int map_failed;
    char origin[256];     /* local_origin, or Postfix's myorigin read at start */

    /* counters for the admin "stats" method */
    uint64_t st_requests, st_allow, st_deny, st_pass, st_failopen, st_garbage, st_conns,
        st_refused, st_admin;
    uint64_t st_milter_messages, st_milter_allow, st_milter_deny, st_milter_pass,
        st_milter_aborted, st_milter_failopen, st_milter_unattributed;
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
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A save of the state file (rc 0: it succeeded) that took ns, for the metrics. */
static void snap_record(maillimit_server *s, int rc, uint64_t ns)
{
    if (rc == 0) {
        maillimit__inc(&s->metrics.snap_ok, 1);
        maillimit__set(&s->metrics.snap_last_ok, (uint64_t)time(NULL));
        maillimit__set(&s->metrics.snap_last_ns, ns);
    } else {
        maillimit__inc(&s->metrics.snap_failed, 1);
    }
}

/* ---- logging ---------------------------------------------------------------------------- */

static void slog(maillimit_server *s, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void slog(maillimit_server *s, int prio, const char *fmt, ...)
{
    if (prio == MAILLIMIT_LOG_DEBUG && !s->verbose)
        return;
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?'; /* one line, whatever a client sent */
    if (s->log_cb)
        s->log_cb(prio, text, s->log_ud);
    const char *lv = prio <= MAILLIMIT_LOG_ERR       ? "error: "
                     : prio == MAILLIMIT_LOG_WARNING ? "warning: "
                                                     : "";
    if (s->log_target == MAILLIMIT_LOG_STDERR)
        fprintf(stderr, "%s[%ld]: %s%s\n", s->ident, (long)getpid(), lv, text);
    else if (s->log_target == MAILLIMIT_LOG_SYSLOG)
        syslog(prio == MAILLIMIT_LOG_DEBUG ? LOG_INFO : prio, "%s%s", lv, text);
}

int maillimit_server_log_set(maillimit_server *s, int target, const char *ident, int verbose)
{
    if (!s || target < MAILLIMIT_LOG_STDERR || target > MAILLIMIT_LOG_NONE)
        return MAILLIMIT_EINVAL;
    if (ident)
        snprintf(s->ident, sizeof s->ident, "%s", ident);
    if (s->log_target == MAILLIMIT_LOG_SYSLOG && target != MAILLIMIT_LOG_SYSLOG)
        closelog();
    if (target == MAILLIMIT_LOG_SYSLOG)
        openlog(s->ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    s->log_target = target;
    s->verbose = verbose ? 1 : 0;
    return 0;
}

int maillimit_server_log_callback(maillimit_server *s,
                                  void (*cb)(int priority, const char *text, void *userdata),
                                  void *userdata)
{
    if (!s)
        return MAILLIMIT_EINVAL;
    s->log_cb = cb;
    s->log_ud = userdata;
    return 0;
}

static void emsg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void emsg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- snapshots ---------------------------------------------------------------------------- */

#ifdef MAILLIMIT_HAVE_SNAPSHOT
static int snap_save(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return maillimit_snapshot_save(ml, path, err, errlen);
}
static int snap_load(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return maillimit_snapshot_load(ml, path, err, errlen);
}
#else
static int snap_save(maillimit *ml, const char *path, char *err, size_t errlen)
{
    (void)ml;
    (void)path;
    emsg(err, errlen, "snapshots are not supported by this build of libmaillimit");
    return MAILLIMIT_EINVAL;
}
#endif

static const char *state_file(const maillimit_server *s)
{
    const char *f = s->conf.state_file;
    return f && strcmp(f, "none") != 0 ? f : NULL;
}

int maillimit_server_snapshot_save(maillimit_server *s, char *err, size_t errlen)
{
    if (!s)
        return MAILLIMIT_EINVAL;
    const char *f = state_file(s);
    if (!f) {
        emsg(err, errlen, "no state_file configured");
        return MAILLIMIT_EINVAL;
    }
    if (s->snap_busy) {
        emsg(err, errlen, "a periodic save is in progress; try again");
        return MAILLIMIT_EBUSY;
    }
    char em[256] = "";
    uint64_t t0 = mono_ns();
    int rc = snap_save(s->ml, f, em, sizeof em);
    snap_record(s, rc, mono_ns() - t0);
    if (rc != 0)
        emsg(err, errlen, "%s", em[0] ? em : maillimit_strerror(rc));
    return rc;
}

static void finish_if_done(maillimit_server *s);

/* Runs on a thread of libuv's pool: touches only s->ml (the core allows a save while the
 * loop thread decides and reconfigures) and the fields the loop leaves alone while
 * snap_busy is set (snap_path, snap_rc, snap_err). */
static void snap_work(uv_work_t *w)
{
    maillimit_server *s = w->data;
    uint64_t t0 = mono_ns();
    s->snap_rc = snap_save(s->ml, s->snap_path, s->snap_err, sizeof s->snap_err);
    s->snap_ns = mono_ns() - t0;
}

static void snap_after(uv_work_t *w, int status)
{
    maillimit_server *s = w->data;
    s->snap_busy = 0;
    if (status == 0)
        snap_record(s, s->snap_rc, s->snap_ns);
    if (status == 0 && s->snap_rc != 0)
        slog(s, MAILLIMIT_LOG_ERR, "cannot save the snapshot to %s: %s", s->snap_path,
             s->snap_err[0] ? s->snap_err : maillimit_strerror(s->snap_rc));
    else if (status == 0)
        slog(s, MAILLIMIT_LOG_DEBUG, "snapshot saved to %s", s->snap_path);
    free(s->snap_path);
    s->snap_path = NULL;
    if (s->stopping)
        finish_if_done(s);
}

static void on_snap_timer(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    if (s->snap_busy || s->stopping || !state_file(s))
        return;
    if (!(s->snap_path = strdup(state_file(s))))
        return;
    s->snap_busy = 1;
    s->snap_err[0] = '\0';
    s->snap_work.data = s;
    if (uv_queue_work(s->loop, &s->snap_work, snap_work, snap_after) != 0) {
        s->snap_busy = 0;
        free(s->snap_path);
        s->snap_path = NULL;
    }
}

/* ---- events and notifications ------------------------------------------------------------ */

static const char *level_word(int level);

static void digest_add(maillimit_server *s, const char *line)
{
    size_t n = strlen(line);
    if (s->digest_len + n + 2 > DIGEST_MAX)
        return; /* the digest says how many events there were anyway (by seq) */
    if (s->digest_len + n + 2 > s->digest_cap) {
        size_t cap = s->digest_cap ? s->digest_cap * 2 : 4096;
        while (cap < s->digest_len + n + 2)
            cap *= 2;
        char *d = realloc(s->digest, cap);
        if (!d)
            return;
        s->digest = d;
        s->digest_cap = cap;
    }
    memcpy(s->digest + s->digest_len, line, n);
    s->digest_len += n;
    s->digest[s->digest_len++] = '\n';
    s->digest[s->digest_len] = '\0';
}

/* Take the handle's queued events: log each, keep it for the admin protocol and the digest. */
static void events_poll(maillimit_server *s)
{
    s->events_polled_ms = uv_now(s->loop);
    int unit = MAILLIMIT_UNIT_MESSAGES;
    maillimit_unit_get(s->ml, &unit);
    int rcpt = unit == MAILLIMIT_UNIT_RECIPIENTS;
#define UNITS(n) ((n) == 1 ? (rcpt ? "recipient" : "message") : (rcpt ? "recipients" : "messages"))
    for (int i = 0; i < 100000; i++) {
        maillimit_event ev;
        maillimit_event_init(&ev);
        if (maillimit_event_next(s->ml, 0, &ev) != 0)
            break;
        char entity[400], line[700], when[32];
        if (ev.level == MAILLIMIT_LEVEL_SERVER)
            snprintf(entity, sizeof entity, "the server");
        else
            snprintf(entity, sizeof entity, "%s %s", level_word(ev.level), ev.name);
        time_t t = (time_t)ev.time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        if (ev.type == MAILLIMIT_EVENT_LIMIT_REACHED)
            snprintf(line, sizeof line, "limit reached: %s reached its limit of %lld %s per %s",
                     entity, (long long)ev.limit, UNITS(ev.limit),
                     ev.window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        else
            snprintf(line, sizeof line, "back to normal: %s (%lld %s denied while over its "
                     "limit of %lld per %s)", entity, (long long)ev.denied, UNITS(ev.denied),
                     (long long)ev.limit, ev.window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        slog(s, ev.type == MAILLIMIT_EVENT_LIMIT_REACHED ? MAILLIMIT_LOG_WARNING
                                                         : MAILLIMIT_LOG_INFO, "%s", line);
        maillimit__inc(&s->metrics.events[ev.type != MAILLIMIT_EVENT_LIMIT_REACHED], 1);
        char dline[760];
        snprintf(dline, sizeof dline, "%s  %s", when, line);
        digest_add(s, dline);
        if (!s->evring)
            s->evring = calloc(EVRING, sizeof *s->evring);
        if (s->evring) {
            s->evring[s->evring_head] = ev;
            s->evring_head = (s->evring_head + 1) % EVRING;
            if (s->evring_n < EVRING)
                s->evring_n++;
        }
    }
}
#undef UNITS

static int admin_events(void *ctx, uint64_t since, void *packer)
{
    maillimit_server *s = ctx;
    events_poll(s);
    size_t n = 0, first = (s->evring_head + EVRING - s->evring_n) % EVRING;
    for (size_t i = 0; i < s->evring_n; i++)
        n += s->evring[(first + i) % EVRING].seq > since;
    /* pack into the caller's packer: an array of the matching events, oldest first */
    maillimit__admin_pack_array(packer, n);
    for (size_t i = 0; i < s->evring_n; i++) {
        const maillimit_event *ev = &s->evring[(first + i) % EVRING];
        if (ev->seq > since)
            maillimit__admin_pack_event(packer, ev);
    }
    return 0;
}

/* The events, unless a page is reading a report (then the next denial or sweep does it). */
static void events_poll_try(maillimit_server *s)
{
    if (pthread_mutex_trylock(&s->gate.mu) != 0)
        return;
    events_poll(s);
    pthread_mutex_unlock(&s->gate.mu);
}

static void tick_try(maillimit_server *s)
{
    if (pthread_mutex_trylock(&s->gate.mu) != 0) {
        s->tick_pending = 1; /* a page holds the report lock: the sweep retries in a second */
        return;
    }
    s->tick_pending = 0;
    if (maillimit_tick(s->ml, 0) != 0)
        slog(s, MAILLIMIT_LOG_WARNING, "maillimit_tick: out of memory (retried next minute)");
    events_poll(s);
    pthread_mutex_unlock(&s->gate.mu);
}

static void on_tick(uv_timer_t *t)
{
    tick_try(t->data);
}

static void notify_closed(uv_handle_t *h)
{
    maillimit_server *s = h->data;
    s->closing_handles--;
    if (h == (uv_handle_t *)&s->notify_proc)
        s->notify_running = 0;
}

static void notify_exit(uv_process_t *p, int64_t status, int sig)
{
    maillimit_server *s = p->data;
    if (status != 0 || sig != 0)
        slog(s, MAILLIMIT_LOG_WARNING, "notify_command exited with status %lld%s%s",
             (long long)status, sig ? ", signal " : "", sig ? strsignal(sig) : "");
    s->closing_handles++;
    uv_close((uv_handle_t *)p, notify_closed);
}

static void notify_written(uv_write_t *w, int status)
{
    maillimit_server *s = w->data;
    (void)status;
    free(s->notify_buf);
    s->notify_buf = NULL;
    s->closing_handles++;
    uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
}

/* Run notify_command with the digest on its standard input. */
static void notify_send(maillimit_server *s)
{
    if (!s->digest_len || !s->conf.notify_command)
        return;
    if (s->notify_running) {
        slog(s, MAILLIMIT_LOG_WARNING, "notify_command still running; the digest waits");
        return;
    }
    char host[256] = "localhost", since[32], head[600];
    gethostname(host, sizeof host - 1);
    time_t t = (time_t)s->digest_since;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm);
    int64_t now = (int64_t)time(NULL);
    maillimit_summary sm;
    maillimit_summary_init(&sm);
    int have_sum = maillimit_summary_get(s->ml, MAILLIMIT_LEVEL_SERVER, NULL,
                                         (s->digest_since / 3600) * 3600, now + 1, now, &sm) == 0;
    int n = snprintf(head, sizeof head,
                     "Subject: maillimitd on %s: outgoing mail limits reached\n\n"
                     "maillimitd on %s, since %s:\n", host, host, since);
    if (have_sum)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "sent %lld, denied %lld, exempt %lld, unattributed %lld; %lld entities "
                      "reached a limit\n", (long long)sm.sent, (long long)sm.denied,
                      (long long)sm.exempt, (long long)sm.unattributed,
                      (long long)sm.limited_entities);
    n += snprintf(head + n, sizeof head - (size_t)n, "\n");
    size_t total = (size_t)n + s->digest_len;
    char *buf = malloc(total);
    if (!buf)
        return;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, s->digest, s->digest_len);

    uv_pipe_init(s->loop, &s->notify_pipe, 0);
    s->notify_pipe.data = s;
    uv_stdio_container_t io[3];
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&s->notify_pipe;
    io[1].flags = UV_IGNORE;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    char *argv[] = { "/bin/sh", "-c", s->conf.notify_command, NULL };
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = "/bin/sh";
    opt.args = argv;
    opt.stdio = io;
    opt.stdio_count = 3;
    opt.exit_cb = notify_exit;
    s->notify_proc.data = s;
    int rc = uv_spawn(s->loop, &s->notify_proc, &opt);
    if (rc != 0) {
        slog(s, MAILLIMIT_LOG_ERR, "cannot run notify_command: %s", uv_strerror(rc));
        free(buf);
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
        return;
    }
    s->notify_running = 1;
    s->notify_buf = buf;
    s->notify_wr.data = s;
    uv_buf_t b = uv_buf_init(buf, (unsigned)total);
    if (uv_write(&s->notify_wr, (uv_stream_t *)&s->notify_pipe, &b, 1, notify_written) != 0) {
        free(buf);
        s->notify_buf = NULL;
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
    }
    slog(s, MAILLIMIT_LOG_INFO, "notify_command run with a digest of %zu bytes", total);
    s->digest_len = 0;
    s->digest_since = now;
}

static void on_notify(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    events_poll(s);
    notify_send(s);
}

/* ---- configuration ----------------------------------------------------------------------- */

static int policy_apply(maillimit_policy *p, const maillimit__conf *c)
{
    int rc = maillimit_policy_action_set(p, c->action, c->action_code, c->action_dsn);
    if (rc)
        return rc;
    maillimit_policy_network_clear(p, MAILLIMIT_NETLIST_EXEMPT);
    for (int i = 0; i < c->nexempt && !rc; i++)
        rc = maillimit_policy_network_add(p, MAILLIMIT_NETLIST_EXEMPT, c->exempt[i]);
    if (rc)
        return rc;
    maillimit_policy_network_clear(p, MAILLIMIT_NETLIST_LOCAL);
    if (!c->local_set) {
        rc = maillimit_policy_network_add(p, MAILLIMIT_NETLIST_LOCAL, "127.0.0.0/8");
        if (!rc)
            rc = maillimit_policy_network_add(p, MAILLIMIT_NETLIST_LOCAL, "::1");
    }
    for (int i = 0; i < c->nlocal && !rc; i++)
        rc = maillimit_policy_network_add(p, MAILLIMIT_NETLIST_LOCAL, c->local[i]);
    return rc;
}

static int listen_lists_equal(const maillimit__listen *a, int na, const maillimit__listen *b,
                              int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (strcmp(a[i].spec, b[i].spec) != 0 || a[i].mode != b[i].mode)
            return 0;
    return 1;
}

static void timers_apply(maillimit_server *s)
{
    if (!s->started || s->stopping)
        return;
    uv_timer_stop(&s->snap_timer);
#ifdef MAILLIMIT_HAVE_SNAPSHOT
    if (s->conf.snapshot_interval > 0 && state_file(s)) {
        uint64_t ms = (uint64_t)s->conf.snapshot_interval * 1000;
        uv_timer_start(&s->snap_timer, on_snap_timer, ms, ms);
    }
#else
    (void)on_snap_timer;
#endif
    uv_timer_stop(&s->notify_timer);
    if (s->conf.notify_command) {
        uint64_t ms = (uint64_t)s->conf.notify_interval * 1000;
        uv_timer_start(&s->notify_timer, on_notify, ms, ms);
    }
}

/* ---- milters and the sender table ---------------------------------------------------------- */

/* Postfix's myorigin (postconf -xh myorigin), or "" if postconf cannot say. */
static void postfix_myorigin(char *buf, size_t size)
{
    buf[0] = '\0';
    FILE *f = popen("postconf -xh myorigin 2>/dev/null || "
                    "/usr/sbin/postconf -xh myorigin 2>/dev/null", "r");
    if (!f)
        return;
    if (fgets(buf, (int)size, f)) {
        buf[strcspn(buf, "\r\n")] = '\0';
        for (char *x = buf; *x; x++)
            if (*x >= 'A' && *x <= 'Z')
                *x = (char)(*x + 32);
    }
    pclose(f);
}

/* The milter settings from s->conf (the lists are borrowed from it). */
static void milter_apply(maillimit_server *s)
{
    maillimit__milter_ctx *m = &s->milter;
    m->ml = s->ml;
    m->policy = s->policy;
    maillimit__policy_local_set(s->policy, m); /* Exim's caller_uid requests */
    m->local_action = s->conf.local_action;
    m->exempt_users = s->conf.exempt_users;
    m->nexempt_users = s->conf.nexempt_users < 0 ? 0 : s->conf.nexempt_users;
    m->script_users = s->conf.script_users;
    m->nscript_users = s->conf.nscript_users < 0 ? 0 : s->conf.nscript_users;
    if (s->conf.local_origin)
        snprintf(s->origin, sizeof s->origin, "%s", s->conf.local_origin);
    else if (s->started && !s->origin[0] &&
             (s->conf.nlocal_milter > 0 || s->conf.sender_map_file))
        postfix_myorigin(s->origin, sizeof s->origin);
    snprintf(m->origin, sizeof m->origin, "%s", s->origin);
}

/* Write local_login_sender_map_file if the hierarchy (or the settings: force) changed. */
static void sendermap_refresh(maillimit_server *s, int force)
{
    const char *path = s->conf.sender_map_file;
    if (!path)
        return;
    uint64_t g = 0;
    maillimit_generation(s->ml, &g);
    if (!force && !s->map_failed && s->map_text && g == s->map_generation)
        return;
    char *text = NULL, warn[512] = "", err[512] = "";
    size_t len = 0;
    int rc = maillimit__sendermap_build(s->ml, s->origin, s->milter.script_users,
                                        s->milter.nscript_users, &text, &len, warn,
                                        sizeof warn);
    if (rc) {
        slog(s, MAILLIMIT_LOG_ERR, "local_login_sender_map_file %s: %s", path,
             maillimit_strerror(rc));
        s->map_failed = 1;
        return;
    }
    s->map_generation = g;
    if (s->map_text && !s->map_failed && s->map_len == len && memcmp(s->map_text, text, len) == 0) {
        free(text);
        return;
    }
    if (warn[0] && (!s->map_text || force))
        slog(s, MAILLIMIT_LOG_WARNING, "system users that are also script_users are not "
             "restricted in %s: %s", path, warn);
    rc = maillimit__sendermap_write(path, text, len, err, sizeof err);
    if (rc) {
        slog(s, MAILLIMIT_LOG_ERR, "cannot write local_login_sender_map_file: %s", err);
        s->map_failed = 1;
        free(text);
        return;
    }
    s->map_failed = 0;
    free(s->map_text);
    s->map_text = text;
    s->map_len = len;
    slog(s, MAILLIMIT_LOG_INFO, "local_login_sender_map_file %s written (%zu bytes)", path, len);
}

/* ---- what the file owns, what the state owns ----------------------------------------------
 * The configuration file is applied on top of the state at start and on every reload. With
 * `reload merge` (the default) only what the file changed since it was last applied is
 * applied (confdiff.c), so a change made through the admin protocol survives restarts and
 * reloads until the file changes that same setting (or entity placement). The text last
 * applied is kept beside the state file (STATE_FILE.conf) so that a restart knows it. With
 * `reload replace` the file is the whole configuration, applied whole every time. */

static char *applied_path(const maillimit_server *s)
{
    const char *f = state_file(s);
    if (!f)
        return NULL;
    size_t n = strlen(f);
    char *p = malloc(n + 6);
    if (p) {
        memcpy(p, f, n);
        memcpy(p + n, ".conf", 6);
    }
    return p;
}

/* The core text applied before this process started, or NULL. */
static char *applied_read(const maillimit_server *s)
{
    char *p = applied_path(s), *text = NULL;
    size_t len;
    if (p && maillimit__read_file(p, &text, &len, NULL, 0) == 0)
        text[len] = '\0';
    free(p);
    return text;
}

static void applied_write(maillimit_server *s, const char *core)
{
    char *p = applied_path(s), em[300];
    if (p && core && maillimit__sendermap_write(p, core, strlen(core), em, sizeof em) != 0)
        slog(s, MAILLIMIT_LOG_WARNING, "cannot keep the applied configuration: %s (the next "
             "start applies the whole file)", em);
    free(p);
}

/* The text to apply on top of a state that `prev` was applied to: what changed since, or
 * the whole text (replace, nothing applied before, no memory for the difference). */
static const char *text_to_apply(const char *prev, const char *core, int replace, char **owned)
{
    *owned = NULL;
    if (replace || !prev || maillimit__conf_delta(prev, core, owned) != 0)
        return core;
    return *owned;
}

/* Parse, load the core part, then take the daemon settings. */
static int load_text(maillimit_server *s, const char *text, size_t len, const char *name,
                     char *err, size_t errlen)
{
    maillimit__conf c;
    char *core = NULL;
    int rc = maillimit__conf_parse(text, len, name, &c, &core, err, errlen);
    if (rc)
        return rc;
    /* daemon settings first on a scratch policy: they cannot fail after the core loaded */
    maillimit_policy *probe = NULL;
    rc = maillimit_policy_new(&probe, s->ml);
    if (!rc)
        rc = policy_apply(probe, &c);
    maillimit_policy_free(probe);
    if (rc) {
        emsg(err, errlen, "%s: %s", name ? name : "<memory>", maillimit_strerror(rc));
        free(core);
        maillimit__conf_free(&c);
        return rc;
    }
    char *delta = NULL;
    const char *apply = s->started ? text_to_apply(s->core_text, core, c.replace, &delta) : core;
    rc = maillimit__conf_core_load(s->ml, apply, name, c.replace, err, errlen);
    free(delta);
    if (rc == 0 && s->started)
        applied_write(s, core);
    if (rc) {
        free(core);
        maillimit__conf_free(&c);
        return rc;
    }
    policy_apply(s->policy, &c);
    if (s->started) {
        /* listeners stay as they are until a restart */
        struct { maillimit__listen *now, *next; int *nnow, *nnext; } l[4] = {
            { s->conf.policy, c.policy, &s->conf.npolicy, &c.npolicy },
            { s->conf.admin, c.admin, &s->conf.nadmin, &c.nadmin },
            { s->conf.milter, c.milter, &s->conf.nmilter, &c.nmilter },
            { s->conf.local_milter, c.local_milter, &s->conf.nlocal_milter, &c.nlocal_milter },
        };
        int changed = 0;
        for (int k = 0; k < 4; k++) {
            int nn = *l[k].nnext < 0 ? -1 : *l[k].nnext;
            changed |= !listen_lists_equal(l[k].now, *l[k].nnow, l[k].next, nn);
            /* keep the running listener settings in s->conf */
            for (int i = 0; i < *l[k].nnext; i++)
                maillimit__listen_free(&l[k].next[i]);
            memcpy(l[k].next, l[k].now, sizeof c.policy);
            *l[k].nnext = *l[k].nnow;
            *l[k].nnow = 0;
        }
        if (changed)
            slog(s, MAILLIMIT_LOG_WARNING, "policy_listen, admin_listen, milter_listen and "
                 "local_milter_listen changes take effect at the next restart");
        if (c.nhttp != s->conf.nhttp ||
            (c.nhttp && strcmp(c.http.spec, s->conf.http.spec) != 0))
            slog(s, MAILLIMIT_LOG_WARNING, "http_listen changes take effect at the next "
                 "restart");
        maillimit__listen_free(&c.http);
        c.http = s->conf.http; /* the running listener's */
        c.nhttp = s->conf.nhttp;
        memset(&s->conf.http, 0, sizeof s->conf.http);
        s->conf.nhttp = 0;
        maillimit__http_token_set(s->http, c.http_token);
        if (!c.state_file && s->conf.state_file) /* the resolved default stays */
            c.state_file = strdup(s->conf.state_file);
    }
    maillimit__conf_free(&s->conf);
    s->conf = c;
    s->conf_loaded = 1;
    free(s->core_text);
    s->core_text = core;
    if (c.log_target >= 0 && c.log_target != s->log_target)
        maillimit_server_log_set(s, c.log_target, NULL, s->verbose);
    milter_apply(s);
    timers_apply(s);
    if (s->started)
        sendermap_refresh(s, 1);
    return 0;
}

int maillimit_server_config_load_mem(maillimit_server *s, const char *text, size_t len,
                                     const char *name, char *err, size_t errlen)
{
    if (!s || (!text && len))
        return MAILLIMIT_EINVAL;
    int rc = load_text(s, text ? text : "", len, name, err, errlen);
    if (rc)
        return rc;
    char *copy = malloc(len + 1);
    char *ncopy = name ? strdup(name) : NULL;
    if (!copy || (name && !ncopy)) {
        free(copy);
        free(ncopy);
        return MAILLIMIT_ENOMEM;
    }
    memcpy(copy, text ? text : "", len);
    copy[len] = '\0';
    free(s->conf_text);
    free(s->conf_name);
    free(s->conf_path);
    s->conf_path = NULL;
    s->conf_text = copy;
    s->conf_len = len;
    s->conf_name = ncopy;
    return 0;
}

int maillimit_server_config_load(maillimit_server *s, const char *path, char *err, size_t errlen)
{
    if (!s || !path)
        return MAILLIMIT_EINVAL;
    char *text;
    size_t len;
    int rc = maillimit__read_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = load_text(s, text, len, path, err, errlen);
    free(text);
    if (rc)
        return rc;
    if (!s->conf_path || strcmp(s->conf_path, path) != 0) {
        char *p = strdup(path);
        if (!p)
            return MAILLIMIT_ENOMEM;
        free(s->conf_path);
        s->conf_path = p;
    }
    free(s->conf_text);
    free(s->conf_name);
    s->conf_text = s->conf_name = NULL;
    return 0;
}

int maillimit_server_reload(maillimit_server *s, char *err, size_t errlen)
{
    if (!s || !s->conf_loaded)
        return MAILLIMIT_EINVAL;
    int rc;
    if (s->conf_path) {
        char *text;
        size_t len;
        rc = maillimit__read_file(s->conf_path, &text, &len, err, errlen);
        if (rc == 0) {
            rc = load_text(s, text, len, s->conf_path, err, errlen);
            free(text);
        }
    } else {
        rc = load_text(s, s->conf_text, s->conf_len, s->conf_name, err, errlen);
    }
    maillimit__inc(rc == 0 ? &s->metrics.reload_ok : &s->metrics.reload_failed, 1);
    if (rc == 0)
        maillimit__set(&s->metrics.reload_last_ok, (uint64_t)time(NULL));
    return rc;
}

int maillimit_server_config_check_mem(const char *text, size_t len, const char *name, char *err,
                                      size_t errlen)
{
    if (!text && len)
        return MAILLIMIT_EINVAL;
    maillimit__conf c;
    char *core = NULL;
    int rc = maillimit__conf_parse(text ? text : "", len, name, &c, &core, err, errlen);
    if (rc)
        return rc;
    maillimit *ml = NULL;
    rc = maillimit_new(&ml);
    if (!rc)
        rc = maillimit__conf_core_load(ml, core, name, c.replace, err, errlen);
    maillimit_free(ml);
    free(core);
    maillimit__conf_free(&c);
    return rc;
}

int maillimit_server_config_check(const char *path, char *err, size_t errlen)
{
    if (!path)
        return MAILLIMIT_EINVAL;
    char *text;
    size_t len;
    int rc = maillimit__read_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = maillimit_server_config_check_mem(text, len, path, err, errlen);
    free(text);
    return rc;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

int maillimit_server_new(maillimit_server **out, maillimit *ml, void *loop)
{
    if (!out)
        return MAILLIMIT_EINVAL;
    *out = NULL;
    maillimit_server *s = calloc(1, sizeof *s);
    if (!s)
        return MAILLIMIT_ENOMEM;
    snprintf(s->ident, sizeof s->ident, "maillimitd");
    s->log_target = MAILLIMIT_LOG_STDERR;
    maillimit__metrics_init(&s->metrics);
    if (pthread_mutex_init(&s->gate.mu, NULL) != 0) {
        free(s);
        return MAILLIMIT_ENOMEM;
    }
    if (loop) {
        s->loop = loop;
    } else {
        if (uv_loop_init(&s->own_loop) != 0) {
            pthread_mutex_destroy(&s->gate.mu);
            free(s);
            return MAILLIMIT_ENOMEM;
        }
        s->has_own_loop = 1;
        s->loop = &s->own_loop;
    }
    if (ml) {
        s->ml = ml;
    } else if (maillimit_new(&s->ml) != 0) {
        if (s->has_own_loop)
            uv_loop_close(&s->own_loop);
        pthread_mutex_destroy(&s->gate.mu);
        free(s);
        return MAILLIMIT_ENOMEM;
    } else {
        s->owns_ml = 1;
    }
    if (maillimit_policy_new(&s->policy, s->ml) != 0) {
        if (s->owns_ml)
            maillimit_free(s->ml);
        if (s->has_own_loop)
            uv_loop_close(&s->own_loop);
        pthread_mutex_destroy(&s->gate.mu);
        free(s);
        return MAILLIMIT_ENOMEM;
    }
    s->conf.npolicy = s->conf.nadmin = -1;
    s->conf.local_action = MAILLIMIT__LOCAL_HOLD;
    milter_apply(s);
    s->conf.snapshot_interval = 300;
    s->conf.idle_timeout = 600;
    s->conf.max_connections = 1024;
    s->conf.log_target = -1;
    *out = s;
    return 0;
}

maillimit *maillimit_server_handle(maillimit_server *s)
{
    return s ? s->ml : NULL;
}

/* ---- connections -------------------------------------------------------------------------- */

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);

static int conn_proto(const struct conn *c)
{
    return c->admin ? MAILLIMIT__PROTO_ADMIN
           : c->milter ? MAILLIMIT__PROTO_MILTER
                       : MAILLIMIT__PROTO_POLICY;
}

static void on_conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    maillimit_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->admin)
        s->npolicy_conns--;
    s->nconns--;
    if (c->counted)
        maillimit__inc(&s->metrics.conns_open[conn_proto(c)], (uint64_t)-1);
    free(c->in);
    free(c->out);
    free(c->ms);
    free(c);
    if (s->stopping)
        finish_if_done(s);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close(&c->u.h, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)suggested;
    if (c->milter && c->incap - c->inlen < 65536 &&
        c->incap < MAILLIMIT__MILTER_PACKET_MAX + 4) {
        size_t cap = c->incap * 2;
        if (cap > MAILLIMIT__MILTER_PACKET_MAX + 4)
            cap = MAILLIMIT__MILTER_PACKET_MAX + 4;
        char *n = realloc(c->in, cap);
        if (n) {
            c->in = n;
            c->incap = cap;
        }
    }
    if (c->admin && c->incap - c->inlen < 65536 && c->incap < MAILLIMIT__ADMIN_MSG_MAX + 65536) {
        size_t cap = c->incap ? c->incap * 2 : 65536;
        char *n = realloc(c->in, cap);
        if (n) {
            c->in = n;
            c->incap = cap;
        }
    }
    *buf = uv_buf_init(c->in + c->inlen, (unsigned)(c->incap - c->inlen));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    (void)buf;
    if (n == UV_EOF && !c->admin && !c->milter && c->inlen && c->inlen < c->incap &&
        c->in[c->inlen - 1] == '\n') {
        /* one request per connection (Exim's ${readsocket}): the client shut down its write
         * side after the request; the end of its data ends the request */
        c->in[c->inlen++] = '\n';
        c->eof = 1;
        conn_process(c);
        if (!c->closing && !c->writing)
            conn_close(c);
        return;
    }
    if (n < 0) {
        if (n != UV_EOF)
            slog(c->s, MAILLIMIT_LOG_DEBUG, "%s: read error: %s", c->peer, uv_strerror((int)n));
        else if (c->inlen)
            slog(c->s, MAILLIMIT_LOG_WARNING, "%s: connection closed in the middle of a request",
                 c->peer);
        conn_close(c);
        return;
    }
    if (n == 0)
        return;
#ifdef TCP_QUICKACK
    if (c->milter && c->tcp) {
        /* Postfix writes a message to a milter in two parts (up to the last RCPT, then the
         * end of the message) on a socket without TCP_NODELAY, and waits for no reply to the
         * first: a delayed ACK of it would hold the second part back for 40 ms. Acknowledge
         * at once (Linux clears the flag again, hence every read). */
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno(&c->u.h, &fd) == 0)
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
#endif
    c->inlen += (size_t)n;
    c->last_ms = uv_now(c->s->loop);
    conn_process(c);
}

static void read_state(struct conn *c)
{
    int want = !c->closing && !c->writing;
    if (want && !c->reading) {
        if (uv_read_start(&c->u.s, on_alloc, on_read) == 0)
            c->reading = 1;
        else
            conn_close(c);
    } else if (!want && c->reading && !c->closing) {
        uv_read_stop(&c->u.s);
        c->reading = 0;
    }
}

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->writing = 0;
    if (c->closing)
        return;
    if (status < 0) {
        slog(c->s, MAILLIMIT_LOG_DEBUG, "%s: write error: %s", c->peer, uv_strerror(status));
        conn_close(c);
        return;
    }
    c->outlen = c->outoff = 0;
    if (c->admin) {
        free(c->out);
        c->out = NULL;
    }
    if (c->eof) {
        conn_close(c);
        return;
    }
    conn_process(c);
}

/* Write what is in out[outoff..outlen): try_write, else a uv_write. */
static void conn_flush(struct conn *c)
{
    while (c->outoff < c->outlen) {
        uv_buf_t b = uv_buf_init(c->out + c->outoff, (unsigned)(c->outlen - c->outoff));
        int n = uv_try_write(&c->u.s, &b, 1);
        if (n > 0) {
            c->outoff += (size_t)n;
            continue;
        }
        if (n == UV_EAGAIN || n == UV_ENOSYS) {
            c->wr.data = c;
            if (uv_write(&c->wr, &c->u.s, &b, 1, on_write) != 0) {
                conn_close(c);
                return;
            }
            c->writing = 1;
            read_state(c);
            return;
        }
        slog(c->s, MAILLIMIT_LOG_DEBUG, "%s: write error: %s", c->peer, uv_strerror(n));
        conn_close(c);
        return;
    }
    c->outlen = c->outoff = 0;
    if (c->admin) {
        free(c->out);
        c->out = NULL;
    }
}

static const char *level_word(int level)
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

/* log_denials: whether this refusal gets its own line (else it is counted for a summary). */
static int deny_logged(maillimit_server *s, int level, const char *name, int64_t retry_after)
{
    if (s->verbose || s->conf.log_denials == MAILLIMIT__LOGDENY_ALL)
        return 1;
    if (s->conf.log_denials == MAILLIMIT__LOGDENY_EPISODE) {
        if (!s->denylog && maillimit__denylog_new(&s->denylog) != 0)
            return 1;
        if (maillimit__denylog_hit(s->denylog, level, name, uv_now(s->loop), retry_after))
            return 1;
    }
    maillimit__inc(&s->metrics.denial_lines_suppressed, 1);
    return 0;
}

static void deny_summary(void *ud, int level, const char *name, uint64_t n, uint64_t secs)
{
    maillimit_server *s = ud;
    if (name)
        slog(s, MAILLIMIT_LOG_INFO, "deny: %s %s: %llu more refused in the last %llu s",
             level_word(level), name, (unsigned long long)n, (unsigned long long)secs);
    else
        slog(s, MAILLIMIT_LOG_INFO, "deny: %llu more refused for other senders in the last "
             "%llu s", (unsigned long long)n, (unsigned long long)secs);
}

static void log_outcome(struct conn *c, const char *req, size_t reqlen,
                        const maillimit_policy_outcome *o, const char *reply, size_t replylen)
{
    maillimit_server *s = c->s;
    int prio;
    switch (o->result) {
    case MAILLIMIT_POLICY_DENY: prio = MAILLIMIT_LOG_INFO; break;
    case MAILLIMIT_POLICY_FAILOPEN: prio = MAILLIMIT_LOG_WARNING; break;
    case MAILLIMIT_POLICY_PASS:
        prio = o->pass == MAILLIMIT_PASS_NOT_POLICY ? MAILLIMIT_LOG_WARNING : MAILLIMIT_LOG_DEBUG;
        break;
    default: prio = MAILLIMIT_LOG_DEBUG; break;
    }
    if (prio == MAILLIMIT_LOG_DEBUG && !s->verbose)
        return;
    if (o->result == MAILLIMIT_POLICY_DENY && !deny_logged(s, o->level, o->name, o->retry_after))
        return;
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    maillimit__policy_parse(req, reqlen, &r, &used, &problem);
#define F(x) (int)(r.x.p ? (r.x.n > 200 ? 200 : r.x.n) : 1), (r.x.p ? r.x.p : "-")
    char who[900];
    if (r.caller_uid.p)
        snprintf(who, sizeof who, "instance=%.*s caller_uid=%.*s sender=<%.*s> state=%.*s",
                 F(instance), F(caller_uid), F(sender), F(protocol_state));
    else
        snprintf(who, sizeof who, "instance=%.*s client=%.*s sasl_username=%.*s sender=<%.*s> "
                 "state=%.*s", F(instance), F(client_address), F(sasl_username), F(sender),
                 F(protocol_state));
#undef F
    size_t rl = replylen >= 2 ? replylen - 2 : replylen; /* without the empty line */
    switch (o->result) {
    case MAILLIMIT_POLICY_DENY:
        slog(s, prio, "deny: %s %s: %s %s count=%lld limit=%lld retry_after=%lld%s; %s; %.*s",
             level_word(o->level), o->name, level_word(o->deny_level),
             o->deny_window == MAILLIMIT_WINDOW_DAY ? "day" : "hour", (long long)o->count,
             (long long)o->limit, (long long)o->retry_after, o->repeated ? " (repeated)" : "",
             who, (int)rl, reply);
        break;
    case MAILLIMIT_POLICY_FAILOPEN:
        slog(s, prio, "decision failed for %s %s: %s; answered DUNNO; %s", level_word(o->level),
             o->name, maillimit_strerror(o->error), who);
        break;
    case MAILLIMIT_POLICY_PASS:
        slog(s, prio, "%s: %s", o->pass == MAILLIMIT_PASS_NOT_POLICY
                                    ? "not an smtpd_access_policy request, answered DUNNO"
                                    : "pass",
             who);
        break;
    default:
        slog(s, prio, "allow: %s %s cost=%lld count=%lld limit=%lld%s; %s", level_word(o->level),
             o->name, (long long)o->cost, (long long)o->count, (long long)o->limit,
             o->repeated ? " (repeated)" : "", who);
        break;
    }
}

static void policy_process(struct conn *c)
{
    maillimit_server *s = c->s;
    size_t off = 0;
    maillimit_policy_outcome o;
    maillimit_policy_outcome_init(&o); /* each request resets it */
    while (!c->closing && !c->writing) {
        while (off < c->inlen && c->outlen + MAILLIMIT_POLICY_REPLY_MAX <= OUT_CAP) {
            size_t used, rl = OUT_CAP - c->outlen;
            uint64_t t0 = mono_ns();
            int rc = maillimit_policy_request(s->policy, c->in + off, c->inlen - off, 0, &used,
                                              c->out + c->outlen, &rl, &o);
            if (rc != 0) {
                s->st_garbage++;
                maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_POLICY], 1);
                slog(s, MAILLIMIT_LOG_WARNING, "%s: %s; closing the connection", c->peer,
                     rc == MAILLIMIT_EFORMAT && o.problem ? o.problem : maillimit_strerror(rc));
                conn_close(c);
                return;
            }
            if (used == 0)
                break;
            s->st_requests++;
            maillimit__metrics_outcome(&s->metrics, MAILLIMIT__PROTO_POLICY, &o, mono_ns() - t0);
            switch (o.result) {
            case MAILLIMIT_POLICY_ALLOW: s->st_allow++; break;
            case MAILLIMIT_POLICY_DENY:
                s->st_deny++;
                if (uv_now(s->loop) - s->events_polled_ms >= 1000)
                    events_poll_try(s); /* "limit reached" in the log right away */
                break;
            case MAILLIMIT_POLICY_FAILOPEN: s->st_failopen++; break;
            default: s->st_pass++; break;
            }
            if (o.result != MAILLIMIT_POLICY_ALLOW || s->verbose)
                log_outcome(c, c->in + off, used, &o, c->out + c->outlen, rl);
            off += used;
            c->outlen += rl;
        }
        if (off) {
            memmove(c->in, c->in + off, c->inlen - off);
            c->inlen -= off;
            off = 0;
        }
        if (c->outlen == 0)
            break;
        conn_flush(c);
    }
}

static const char *who_text(const maillimit__milter_event *ev, char *buf, size_t size)
{
    switch (ev->who) {
    case MAILLIMIT__WHO_SASL: snprintf(buf, size, "sasl_username=%s", ev->login); break;
    case MAILLIMIT__WHO_SYSUSER:
        snprintf(buf, size, "system user %s (subscription %s)", ev->login, ev->name);
        break;
    case MAILLIMIT__WHO_DOMAIN: snprintf(buf, size, "script mail of domain %s", ev->name); break;
    case MAILLIMIT__WHO_UNATTRIBUTED: snprintf(buf, size, "unattributed"); break;
    case MAILLIMIT__WHO_EXEMPT_USER:
        snprintf(buf, size, "local_exempt_users login %s", ev->login);
        break;
    default: snprintf(buf, size, "not outgoing mail of ours"); break;
    }
    return buf;
}

static const char *const action_words[4] = { "hold", "reject", "defer", "discard" };

static void milter_log(struct conn *c, const maillimit__milter_event *ev)
{
    maillimit_server *s = c->s;
    const maillimit_policy_outcome *o = &ev->outcome;
    const char *kind = c->milter == MILTER_LOCAL ? "local submission" : "milter";
    char who[800];
    who_text(ev, who, sizeof who);
    switch (o->result) {
    case MAILLIMIT_POLICY_DENY:
        if (!deny_logged(s, o->level, ev->name, o->retry_after))
            break;
        slog(s, MAILLIMIT_LOG_INFO, "%s: %s: queue id %s: %s: %s %s: %s %s count=%lld "
             "limit=%lld retry_after=%lld; sender=<%s>; %s", action_words[ev->action & 3], kind,
             ev->queue_id, who, level_word(o->level), ev->name, level_word(o->deny_level),
             o->deny_window == MAILLIMIT_WINDOW_DAY ? "day" : "hour", (long long)o->count,
             (long long)o->limit, (long long)o->retry_after, ev->sender, ev->text);
        break;
    case MAILLIMIT_POLICY_FAILOPEN:
        slog(s, MAILLIMIT_LOG_WARNING, "%s: queue id %s: decision failed for %s %s: %s; "
             "accepted; sender=<%s>", kind, ev->queue_id, level_word(o->level), o->name,
             maillimit_strerror(o->error), ev->sender);
        break;
    default:
        if (ev->who == MAILLIMIT__WHO_UNATTRIBUTED && c->milter == MILTER_LOCAL)
            slog(s, MAILLIMIT_LOG_INFO, "%s: queue id %s: unattributed (counted in the server "
                 "total only): sender=<%s>", kind, ev->queue_id, ev->sender);
        else
            slog(s, MAILLIMIT_LOG_DEBUG, "%s: queue id %s: %s: %s cost=%lld count=%lld "
                 "limit=%lld; sender=<%s>", kind, ev->queue_id, who,
                 o->result == MAILLIMIT_POLICY_PASS ? "pass" : "allow", (long long)o->cost,
                 (long long)o->count, (long long)o->limit, ev->sender);
        break;
    }
}

static void milter_process(struct conn *c)
{
    maillimit_server *s = c->s;
    size_t off = 0;
    maillimit__milter_event ev;
    while (!c->closing && !c->writing) {
        while (off < c->inlen && c->outlen + MAILLIMIT__MILTER_REPLY_MAX <= OUT_CAP) {
            size_t used, rl = 0;
            uint64_t t0 = mono_ns();
            int rc = maillimit__milter_packet(&s->milter, c->ms, c->in + off, c->inlen - off,
                                              0, &used, c->out + c->outlen, &rl, &ev);
            if (rc != 0) {
                s->st_garbage++;
                maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_MILTER], 1);
                slog(s, MAILLIMIT_LOG_WARNING, "%s: %s; closing the connection", c->peer,
                     ev.problem ? ev.problem : maillimit_strerror(rc));
                conn_close(c);
                return;
            }
            if (used == 0)
                break;
            off += used;
            c->outlen += rl;
            if (ev.aborted) {
                s->st_milter_aborted++;
                maillimit__inc(&s->metrics.milter_aborted, 1);
            }
            if (ev.decided) {
                s->st_milter_messages++;
                maillimit__metrics_outcome(&s->metrics, MAILLIMIT__PROTO_MILTER, &ev.outcome,
                                           mono_ns() - t0);
                switch (ev.outcome.result) {
                case MAILLIMIT_POLICY_ALLOW: s->st_milter_allow++; break;
                case MAILLIMIT_POLICY_DENY:
                    s->st_milter_deny++;
                    if (uv_now(s->loop) - s->events_polled_ms >= 1000)
                        events_poll_try(s);
                    break;
                case MAILLIMIT_POLICY_FAILOPEN: s->st_milter_failopen++; break;
                default: s->st_milter_pass++; break;
                }
                if (ev.who == MAILLIMIT__WHO_UNATTRIBUTED)
                    s->st_milter_unattributed++;
                milter_log(c, &ev);
            }
            if (ev.quit) {
                c->inlen = 0;
                off = 0;
                conn_flush(c);
                conn_close(c);
                return;
            }
        }
        if (off) {
            memmove(c->in, c->in + off, c->inlen - off);
            c->inlen -= off;
            off = 0;
        }
        if (c->outlen == 0)
            break;
        conn_flush(c);
    }
}

static int admin_reload(void *ctx, char *err, size_t errlen)
{
    maillimit_server *s = ctx;
    int rc = maillimit_server_reload(s, err, errlen);
    if (rc == 0)
        slog(s, MAILLIMIT_LOG_INFO, "configuration reloaded (admin request)");
    return rc;
}

static int admin_snapshot(void *ctx, char *err, size_t errlen)
{
    return maillimit_server_snapshot_save(ctx, err, errlen);
}

static int admin_stats(void *ctx, uint64_t out[MAILLIMIT__STATS])
{
    return maillimit__server_stats(ctx, out);
}

int maillimit__server_stats(maillimit_server *s, uint64_t out[MAILLIMIT__STATS])
{
    out[0] = s->st_requests;
    out[1] = s->st_allow;
    out[2] = s->st_deny;
    out[3] = s->st_pass;
    out[4] = s->st_failopen;
    out[5] = s->st_garbage;
    out[6] = s->st_conns;
    out[7] = s->st_refused;
    out[8] = (uint64_t)s->npolicy_conns;
    out[9] = s->st_admin;
    out[10] = (uint64_t)s->started_at;
    out[11] = s->st_milter_messages;
    out[12] = s->st_milter_allow;
    out[13] = s->st_milter_deny;
    out[14] = s->st_milter_pass;
    out[15] = s->st_milter_aborted;
    out[16] = s->st_milter_failopen;
    out[17] = s->st_milter_unattributed;
    return 0;
}

static void admin_process(struct conn *c)
{
    maillimit_server *s = c->s;
    while (!c->closing && !c->writing && c->inlen) {
        maillimit__admin_host host = { s->ml, admin_reload, admin_snapshot, admin_stats,
                                       admin_events, s };
        size_t used = 0, rl = 0;
        char *reply = NULL;
        int rc = maillimit__admin_handle(&host, c->in, c->inlen, &used, &reply, &rl);
        if (rc != 0) {
            maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_ADMIN], 1);
            slog(s, MAILLIMIT_LOG_WARNING, "%s: admin protocol: %s; closing the connection",
                 c->peer, rc == MAILLIMIT_EFORMAT ? "not a msgpack-RPC request" : maillimit_strerror(rc));
            conn_close(c);
            return;
        }
        if (used == 0)
            break;
        s->st_admin++;
        maillimit__inc(&s->metrics.admin_requests, 1);
        sendermap_refresh(s, 0); /* the request may have changed the hierarchy */
        memmove(c->in, c->in + used, c->inlen - used);
        c->inlen -= used;
        c->out = reply;
        c->outlen = rl;
        c->outoff = 0;
        conn_flush(c);
    }
}

static void conn_process(struct conn *c)
{
    if (c->admin)
        admin_process(c);
    else if (c->milter)
        milter_process(c);
    else
        policy_process(c);
    if (c->closing)
        return;
    if (c->s->stopping && c->inlen == 0 && !c->writing) {
        conn_close(c);
        return;
    }
    read_state(c);
}

static void peer_name(struct conn *c, const struct listener *l)
{
    if (l->addr.unix_) {
        snprintf(c->peer, sizeof c->peer, "%s", l->addr.spec);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->u.tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(c->peer, sizeof c->peer, "%s[%s]:%d",
             l->admin ? "admin client" : l->milter ? "milter client" : "client", ip, port);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    maillimit_server *s = l->s;
    if (status < 0) {
        slog(s, MAILLIMIT_LOG_WARNING, "%s: accept: %s", l->addr.spec, uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        slog(s, MAILLIMIT_LOG_ERR, "out of memory accepting a connection");
        return;
    }
    c->s = s;
    c->admin = l->admin;
    c->milter = l->milter;
    c->tcp = !l->addr.unix_;
    int rc = l->addr.unix_ ? uv_pipe_init(s->loop, &c->u.pipe, 0) : uv_tcp_init(s->loop, &c->u.tcp);
    if (rc) {
        free(c);
        return;
    }
    c->u.h.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (!c->admin)
        s->npolicy_conns++;
    if (uv_accept(server, &c->u.s) != 0) {
        conn_close(c);
        return;
    }
    if (!l->addr.unix_)
        uv_tcp_nodelay(&c->u.tcp, 1);
    peer_name(c, l);
    if (s->stopping) {
        conn_close(c);
        return;
    }
    if (!c->admin && s->npolicy_conns > s->conf.max_connections) {
        s->st_refused++;
        maillimit__inc(&s->metrics.conns_refused[conn_proto(c)], 1);
        uint64_t now = uv_now(s->loop);
        if (now - s->refused_logged_ms >= 10000 || s->refused_logged_ms == 0) {
            s->refused_logged_ms = now ? now : 1;
            slog(s, MAILLIMIT_LOG_WARNING,
                 "%s: too many connections (policy_max_connections %lld); closing it", c->peer,
                 (long long)s->conf.max_connections);
        }
        conn_close(c);
        return;
    }
    c->incap = c->admin ? 0 : c->milter ? 65536 : MAILLIMIT_POLICY_REQUEST_MAX;
    c->in = c->admin ? NULL : malloc(c->incap);
    c->out = c->admin ? NULL : malloc(OUT_CAP);
    if (c->milter && (c->ms = malloc(sizeof *c->ms)))
        maillimit__milter_session_init(c->ms, c->milter == MILTER_LOCAL);
    if (!c->admin && (!c->in || !c->out || (c->milter && !c->ms))) {
        slog(s, MAILLIMIT_LOG_ERR, "out of memory accepting a connection");
        conn_close(c);
        return;
    }
    s->st_conns++;
    maillimit__inc(&s->metrics.conns_accepted[conn_proto(c)], 1);
    maillimit__inc(&s->metrics.conns_open[conn_proto(c)], 1);
    c->counted = 1;
    c->last_ms = uv_now(s->loop);
    slog(s, MAILLIMIT_LOG_DEBUG, "connect from %s", c->peer);
    read_state(c);
}

static void on_sweep(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    sendermap_refresh(s, 0); /* the hierarchy may change through the library's API too */
    if (s->denylog)
        maillimit__denylog_flush(s->denylog, uv_now(s->loop), deny_summary, s);
    if (s->tick_pending)
        tick_try(s);
    uint64_t now = uv_now(s->loop);
    uint64_t idle_ms = (uint64_t)s->conf.idle_timeout * 1000;
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        uint64_t idle = now - c->last_ms;
        if (c->inlen && idle >= PARTIAL_TIMEOUT_MS) {
            slog(s, MAILLIMIT_LOG_WARNING, "%s: timeout in the middle of a request; closing",
                 c->peer);
            conn_close(c);
        } else if (idle >= idle_ms && !c->writing) {
            slog(s, MAILLIMIT_LOG_DEBUG, "%s: idle for %llu s; closing", c->peer,
                 (unsigned long long)(idle / 1000));
            conn_close(c);
        } else if (c->writing && idle >= idle_ms) {
            slog(s, MAILLIMIT_LOG_WARNING, "%s: does not read its replies; closing", c->peer);
            conn_close(c);
        }
    }
}

/* ---- listeners --------------------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    maillimit_server *s = l->s;
    if (l->addr.unix_ && l->addr.path)
        unlink(l->addr.path);
    maillimit__listen_free(&l->addr);
    free(l);
    s->closing_handles--;
    if (s->stopping)
        finish_if_done(s);
}

static void listeners_close(maillimit_server *s)
{
    for (struct listener *l = s->listeners, *next; l; l = next) {
        next = l->next;
        s->closing_handles++;
        uv_close(&l->u.h, on_listener_closed);
    }
    s->listeners = NULL;
}

static int listener_open(maillimit_server *s, const maillimit__listen *a, int admin, int milter,
                         char *err, size_t errlen)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l)
        return MAILLIMIT_ENOMEM;
    l->s = s;
    l->admin = admin;
    l->milter = milter;
    l->addr = *a;
    l->addr.spec = strdup(a->spec);
    l->addr.host = a->host ? strdup(a->host) : NULL;
    l->addr.path = a->path ? strdup(a->path) : NULL;
    if (!l->addr.spec || (a->host && !l->addr.host) || (a->path && !l->addr.path)) {
        maillimit__listen_free(&l->addr);
        free(l);
        return MAILLIMIT_ENOMEM;
    }
    int rc;
    const char *what = admin                    ? "admin_listen"
                       : milter == MILTER_SMTP  ? "milter_listen"
                       : milter == MILTER_LOCAL ? "local_milter_listen"
                                                : "policy_listen";
    if (a->unix_) {
        rc = uv_pipe_init(s->loop, &l->u.pipe, 0);
        if (rc == 0) {
            /* a stale socket from an earlier run goes; anything else stays and fails */
            struct stat st;
            if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(a->path);
            mode_t old = umask(0177);
            rc = uv_pipe_bind(&l->u.pipe, a->path);
            umask(old);
            if (rc == 0 && chmod(a->path, a->mode) != 0)
                rc = uv_translate_sys_error(errno);
        }
    } else {
        rc = uv_tcp_init(s->loop, &l->u.tcp);
        if (rc == 0) {
            struct sockaddr_storage ss;
            if (strchr(a->host, ':'))
                rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss);
            else
                rc = uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
            if (rc == 0)
                rc = uv_tcp_bind(&l->u.tcp, (const struct sockaddr *)&ss, 0);
        }
    }
    l->u.h.data = l;
    if (rc == 0)
        rc = uv_listen(&l->u.s, 511, on_connection);
    /* on the list even if it failed: listeners_close() closes (and frees) it */
    l->next = s->listeners;
    s->listeners = l;
    if (rc != 0) {
        emsg(err, errlen, "%s %s: %s", what, a->spec, uv_strerror(rc));
        if (a->unix_) {
            free(l->addr.path); /* do not unlink what we did not create */
            l->addr.path = NULL;
        }
        return MAILLIMIT_EIO;
    }
    slog(s, MAILLIMIT_LOG_INFO, "%s %s",
         admin                    ? "admin protocol on"
         : milter == MILTER_SMTP  ? "milter (SMTP mail) on"
         : milter == MILTER_LOCAL ? "milter (local submissions) on"
                                  : "policy service on",
         a->spec);
    return 0;
}

/* ---- the HTTP listener (http.c) ------------------------------------------------------------ */

static void http_emit(void *ud, int prio, const char *text)
{
    slog(ud, prio, "%s", text);
}

static void on_http_async(uv_async_t *a)
{
    maillimit_server *s = a->data;
    maillimit__http_log_drain(s->http, http_emit, s);
}

/* Runs on the HTTP thread: uv_async_send() is the one libuv call safe from another thread. */
static void http_wake(void *ud)
{
    maillimit_server *s = ud;
    uv_async_send(&s->http_async);
}

static int http_open(maillimit_server *s, char *err, size_t errlen)
{
    if (!s->conf.nhttp)
        return 0;
    if (uv_async_init(s->loop, &s->http_async, on_http_async) != 0)
        return MAILLIMIT_ENOMEM;
    s->http_async.data = s;
    s->http_async_on = 1;
    uv_unref((uv_handle_t *)&s->http_async);
    int rc = maillimit__http_start(&s->http, &s->conf.http, s->ml, &s->metrics, &s->gate,
                                   s->conf.http_token, http_wake, s, err, errlen);
    if (rc)
        return rc;
    slog(s, MAILLIMIT_LOG_INFO, "pages and metrics on %s (port %d)%s", s->conf.http.spec,
         maillimit__http_port(s->http), s->conf.http_token ? ", with a token" : "");
    return 0;
}

static void close_handle(maillimit_server *s, uv_handle_t *h);

static void http_close(maillimit_server *s)
{
    if (s->http) {
        maillimit__http_stop(s->http); /* waits for a page being made */
        s->http = NULL;
    }
    if (s->http_async_on) {
        s->http_async_on = 0;
        close_handle(s, (uv_handle_t *)&s->http_async);
    }
}

/* ---- start / stop ------------------------------------------------------------------------ */

static int resolve_defaults(maillimit_server *s, char *err, size_t errlen)
{
    char dir[256];
    size_t dl = sizeof dir;
    int need_dir = s->conf.nadmin < 0 || !s->conf.state_file;
    int have_dir = need_dir && maillimit_server_default_dir(dir, &dl, 1) == 0;
    if (s->conf.npolicy < 0) {
        s->conf.npolicy = 0;
        int rc = maillimit__listen_parse("inet:127.0.0.1:10031", 0666, &s->conf.policy[0], err,
                                         errlen);
        if (rc)
            return rc;
        s->conf.npolicy = 1;
    }
    if (s->conf.nadmin < 0) {
        s->conf.nadmin = 0;
        if (have_dir) {
            char spec[300];
            snprintf(spec, sizeof spec, "unix:%s/maillimitd.sock", dir);
            int rc = maillimit__listen_parse(spec, 0600, &s->conf.admin[0], err, errlen);
            if (rc == MAILLIMIT_ENOMEM)
                return rc;
            if (rc == 0)
                s->conf.nadmin = 1;
        } else {
            slog(s, MAILLIMIT_LOG_WARNING, "no writable directory for the admin socket");
        }
    }
    if (!s->conf.state_file) {
        if (have_dir) {
            char f[300];
            snprintf(f, sizeof f, "%s/state.snap", dir);
            s->conf.state_file = strdup(f);
            if (!s->conf.state_file)
                return MAILLIMIT_ENOMEM;
        } else {
            slog(s, MAILLIMIT_LOG_WARNING, "no writable directory for the state file");
        }
    }
    return 0;
}

static void snapshot_load_at_start(maillimit_server *s)
{
    const char *f = state_file(s);
    if (!f)
        return;
#ifndef MAILLIMIT_HAVE_SNAPSHOT
    slog(s, MAILLIMIT_LOG_WARNING, "this libmaillimit has no snapshots: counters of %s are "
         "not loaded or saved", f);
    return;
#else
    char em[256] = "";
    maillimit *target = s->ml, *fresh = NULL;
    if (s->owns_ml) {
        /* into a fresh handle, then the configuration on top of it; swapped in if it loads */
        if (maillimit_new(&fresh) != 0) {
            slog(s, MAILLIMIT_LOG_ERR, "out of memory loading %s", f);
            return;
        }
        target = fresh;
    }
    int rc = snap_load(target, f, em, sizeof em);
    if (rc == MAILLIMIT_ENOTFOUND) {
        slog(s, MAILLIMIT_LOG_INFO, "no state file %s yet: first start", f);
        maillimit_free(fresh);
        return;
    }
    if (rc != 0) {
        char bad[600];
        snprintf(bad, sizeof bad, "%s.bad", f);
        int moved = rename(f, bad) == 0;
        slog(s, MAILLIMIT_LOG_ERR, "cannot load the state file %s: %s; starting with empty "
             "counters%s%s", f, em[0] ? em : maillimit_strerror(rc),
             moved ? "; the file was renamed to " : "", moved ? bad : "");
        maillimit_free(fresh);
        return;
    }
    char *prev = applied_read(s), *delta = NULL;
    const char *apply =
        s->core_text ? text_to_apply(prev, s->core_text, s->conf.replace, &delta) : NULL;
    free(prev);
    if (fresh) {
        char cerr[512] = "";
        int crc = apply ? maillimit__conf_core_load(fresh, apply,
                                                    s->conf_path ? s->conf_path : s->conf_name,
                                                    s->conf.replace, cerr, sizeof cerr)
                        : 0;
        free(delta);
        delta = NULL;
        if (crc != 0) {
            slog(s, MAILLIMIT_LOG_ERR, "configuration on top of the state file: %s; the state "
                 "file is not used", cerr);
            maillimit_free(fresh);
            return;
        }
        maillimit_policy *np = NULL;
        if (maillimit_policy_new(&np, fresh) != 0 || policy_apply(np, &s->conf) != 0) {
            maillimit_policy_free(np);
            maillimit_free(fresh);
            slog(s, MAILLIMIT_LOG_ERR, "out of memory loading %s", f);
            return;
        }
        maillimit_policy_free(s->policy);
        maillimit__milter_ctx_clear_sysusers(&s->milter);
        maillimit_free(s->ml);
        s->policy = np;
        s->ml = fresh;
        milter_apply(s);
    } else if (apply) {
        char cerr[512] = "";
        if (maillimit__conf_core_load(s->ml, apply, NULL, s->conf.replace, cerr,
                                      sizeof cerr) != 0)
            slog(s, MAILLIMIT_LOG_ERR, "configuration on top of the state file: %s", cerr);
    }
    free(delta);
    slog(s, MAILLIMIT_LOG_INFO, "state loaded from %s", f);
#endif
}

static void on_signal(uv_signal_t *h, int signum);

int maillimit_server_start(maillimit_server *s, char *err, size_t errlen)
{
    if (!s || s->started || s->stopping)
        return MAILLIMIT_EINVAL;
    int rc = resolve_defaults(s, err, errlen);
    if (rc)
        return rc;
    snapshot_load_at_start(s);
    if (s->core_text)
        applied_write(s, s->core_text); /* what the state now has of the file */
    for (int i = 0; i < s->conf.npolicy && !rc; i++)
        rc = listener_open(s, &s->conf.policy[i], 0, MILTER_NONE, err, errlen);
    for (int i = 0; i < s->conf.nadmin && !rc; i++)
        rc = listener_open(s, &s->conf.admin[i], 1, MILTER_NONE, err, errlen);
    for (int i = 0; i < s->conf.nmilter && !rc; i++)
        rc = listener_open(s, &s->conf.milter[i], 0, MILTER_SMTP, err, errlen);
    for (int i = 0; i < s->conf.nlocal_milter && !rc; i++)
        rc = listener_open(s, &s->conf.local_milter[i], 0, MILTER_LOCAL, err, errlen);
    if (!rc)
        rc = http_open(s, err, errlen);
    if (rc) {
        listeners_close(s);
        http_close(s);
        uv_run(s->loop, UV_RUN_NOWAIT); /* let the closes finish */
        return rc;
    }
    uv_timer_init(s->loop, &s->sweep);
    uv_timer_init(s->loop, &s->snap_timer);
    uv_timer_init(s->loop, &s->drain);
    uv_timer_init(s->loop, &s->tick);
    uv_timer_init(s->loop, &s->notify_timer);
    s->sweep.data = s->snap_timer.data = s->drain.data = s->tick.data = s;
    s->notify_timer.data = s;
    s->timers_init = 1;
    s->digest_since = (int64_t)time(NULL);
    uv_timer_start(&s->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->tick);
    uv_unref((uv_handle_t *)&s->notify_timer);
    s->started = 1;
    s->started_at = (int64_t)time(NULL);
    maillimit__set(&s->metrics.started_at, (uint64_t)s->started_at);
    milter_apply(s); /* Postfix's myorigin is read now */
    if ((s->conf.nlocal_milter > 0 || s->conf.sender_map_file) && !s->origin[0])
        slog(s, MAILLIMIT_LOG_WARNING, "local_origin is not set and postconf could not tell "
             "Postfix's myorigin: system users are recognised by no sender address");
    sendermap_refresh(s, 1);
    timers_apply(s);
    uv_unref((uv_handle_t *)&s->sweep);
    uv_unref((uv_handle_t *)&s->snap_timer);
    slog(s, MAILLIMIT_LOG_INFO, "started (libmaillimit %s, libuv %s)", maillimit_version_string(),
         uv_version_string());
    return 0;
}

int maillimit_server_run(maillimit_server *s)
{
    if (!s || !s->has_own_loop || !s->started)
        return MAILLIMIT_EINVAL;
    uv_run(s->loop, UV_RUN_DEFAULT);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    maillimit_server *s = h->data;
    s->closing_handles--;
}

static void close_handle(maillimit_server *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        s->closing_handles++;
        h->data = s;
        uv_close(h, on_timer_closed);
    }
}

static void finish_if_done(maillimit_server *s)
{
    if (!s->stopping || s->finished || s->nconns > 0 || s->snap_busy)
        return;
    s->finished = 1;
    maillimit_tick(s->ml, 0);
    events_poll(s);
#ifdef MAILLIMIT_HAVE_SNAPSHOT
    if (state_file(s)) {
        char em[256] = "";
        uint64_t t0 = mono_ns();
        int rc = snap_save(s->ml, state_file(s), em, sizeof em);
        snap_record(s, rc, mono_ns() - t0);
        if (rc == 0)
            slog(s, MAILLIMIT_LOG_INFO, "state saved to %s", state_file(s));
        else
            slog(s, MAILLIMIT_LOG_ERR, "cannot save the state to %s: %s", state_file(s),
                 em[0] ? em : maillimit_strerror(rc));
    }
#endif
    if (s->timers_init) {
        close_handle(s, (uv_handle_t *)&s->sweep);
        close_handle(s, (uv_handle_t *)&s->snap_timer);
        close_handle(s, (uv_handle_t *)&s->drain);
        close_handle(s, (uv_handle_t *)&s->tick);
        close_handle(s, (uv_handle_t *)&s->notify_timer);
    }
    maillimit_server_signals(s, 0);
    slog(s, MAILLIMIT_LOG_INFO, "stopped");
}

static void on_drain(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    s->drain_expired = 1;
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->closing) {
            if (c->inlen || c->writing)
                slog(s, MAILLIMIT_LOG_WARNING, "%s: closed mid-request at shutdown", c->peer);
            conn_close(c);
        }
    }
}

int maillimit_server_stop(maillimit_server *s)
{
    if (!s)
        return MAILLIMIT_EINVAL;
    if (s->stopping || !s->started)
        return 0;
    s->stopping = 1;
    slog(s, MAILLIMIT_LOG_INFO, "stopping");
    listeners_close(s);
    http_close(s);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->closing && c->inlen == 0 && !c->writing)
            conn_close(c);
    }
    if (s->nconns > 0)
        uv_timer_start(&s->drain, on_drain, DRAIN_MS, 0);
    finish_if_done(s);
    return 0;
}

/* ---- signals ------------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum)
{
    maillimit_server *s = h->data;
    if (signum == SIGHUP) {
        char em[512] = "";
        if (maillimit_server_reload(s, em, sizeof em) == 0)
            slog(s, MAILLIMIT_LOG_INFO, "configuration reloaded");
        else
            slog(s, MAILLIMIT_LOG_ERR, "reload failed, the running configuration stays: %s", em);
    } else {
        maillimit_server_stop(s);
    }
}

int maillimit_server_signals(maillimit_server *s, int on)
{
    if (!s)
        return MAILLIMIT_EINVAL;
    static const int nums[3] = { SIGHUP, SIGTERM, SIGINT };
    if (on && !s->signals_on) {
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < 3; i++) {
            uv_signal_init(s->loop, &s->sig[i]);
            s->sig[i].data = s;
            if (uv_signal_start(&s->sig[i], on_signal, nums[i]) != 0)
                return MAILLIMIT_EIO;
            uv_unref((uv_handle_t *)&s->sig[i]);
        }
        s->signals_on = 1;
    } else if (!on && s->signals_on) {
        for (int i = 0; i < 3; i++)
            close_handle(s, (uv_handle_t *)&s->sig[i]);
        s->signals_on = 0;
    }
    return 0;
}

/* ---- free ---------------------------------------------------------------------------------- */

void maillimit_server_free(maillimit_server *s)
{
    if (!s)
        return;
    /* close whatever is open, without a snapshot */
    listeners_close(s);
    http_close(s);
    for (struct conn *c = s->conns; c; c = c->next)
        conn_close(c);
    if (s->timers_init) {
        close_handle(s, (uv_handle_t *)&s->sweep);
        close_handle(s, (uv_handle_t *)&s->snap_timer);
        close_handle(s, (uv_handle_t *)&s->drain);
        close_handle(s, (uv_handle_t *)&s->tick);
        close_handle(s, (uv_handle_t *)&s->notify_timer);
    }
    maillimit_server_signals(s, 0);
    s->stopping = 1;
    s->finished = 1;
    /* run the loop until our handles are closed (and a background save ends) */
    while (s->closing_handles > 0 || s->nconns > 0 || s->snap_busy || s->notify_running)
        uv_run(s->loop, UV_RUN_ONCE);
    if (s->has_own_loop)
        uv_loop_close(&s->own_loop);
    maillimit_policy_free(s->policy);
    maillimit__milter_ctx_free(&s->milter);
    if (s->owns_ml)
        maillimit_free(s->ml);
    maillimit__conf_free(&s->conf);
    free(s->map_text);
    free(s->conf_path);
    free(s->conf_text);
    free(s->conf_name);
    free(s->core_text);
    free(s->evring);
    free(s->digest);
    maillimit__denylog_free(s->denylog);
    pthread_mutex_destroy(&s->gate.mu);
    if (s->log_target == MAILLIMIT_LOG_SYSLOG)
        closelog();
    free(s);
}
