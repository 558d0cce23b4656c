/* SPDX-License-Identifier: MIT */
/* The server's lifecycle (maillimit_server_*): new, start, run, stop and free, the signals,
 * the snapshots (loaded at start, saved periodically on libuv's thread pool and at stop), the
 * configuration (load, reload, check, and what the file owns on top of the state), the
 * milter settings and local_login_sender_maps, and the counters of the admin "stats" method.
 *
 * The other parts: server_internal.h (the state and what the files share), log.c, notify.c
 * (events and notify_command), conn.c (connections), listen.c (listeners).
 */
#define _GNU_SOURCE

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "confdiff.h"
#include "server_internal.h"

enum { DRAIN_MS = 2000, SWEEP_MS = 1000, TICK_MS = 60000 };

/* ---- snapshots ---------------------------------------------------------------------------- */

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

static int snap_save(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return maillimit_snapshot_save(ml, path, err, errlen);
}
static int snap_load(maillimit *ml, const char *path, char *err, size_t errlen)
{
    return maillimit_snapshot_load(ml, path, err, errlen);
}

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
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "cannot save the snapshot to %s: %s", s->snap_path,
             s->snap_err[0] ? s->snap_err : maillimit_strerror(s->snap_rc));
    else if (status == 0)
        slog(s, MAILLIMIT_SERVER_LOG_DEBUG, "snapshot saved to %s", s->snap_path);
    free(s->snap_path);
    s->snap_path = NULL;
    if (s->stopping)
        maillimit__finish_if_done(s);
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
/* ---- configuration ----------------------------------------------------------------------- */

static int policy_apply(maillimit_policy *p, const maillimit__conf *c)
{
    int rc = maillimit_policy_action_set(p, c->action, c->action_code, c->action_dsn);
    if (rc)
        return rc;
    maillimit_policy_network_clear(p, MAILLIMIT_POLICY_NETLIST_EXEMPT);
    for (int i = 0; i < c->nexempt && !rc; i++)
        rc = maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_EXEMPT, c->exempt[i]);
    if (rc)
        return rc;
    maillimit_policy_network_clear(p, MAILLIMIT_POLICY_NETLIST_LOCAL);
    if (!c->local_set) {
        rc = maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_LOCAL, "127.0.0.0/8");
        if (!rc)
            rc = maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_LOCAL, "::1");
    }
    for (int i = 0; i < c->nlocal && !rc; i++)
        rc = maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_LOCAL, c->local[i]);
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
    if (s->conf.snapshot_interval > 0 && state_file(s)) {
        uint64_t ms = (uint64_t)s->conf.snapshot_interval * 1000;
        uv_timer_start(&s->snap_timer, on_snap_timer, ms, ms);
    }
    uv_timer_stop(&s->notify_timer);
    if (s->conf.notify_command) {
        uint64_t ms = (uint64_t)s->conf.notify_interval * 1000;
        uv_timer_start(&s->notify_timer, maillimit__on_notify, ms, ms);
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
void maillimit__sendermap_refresh(maillimit_server *s, int force)
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
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "local_login_sender_map_file %s: %s", path,
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
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "system users that are also script_users are not "
             "restricted in %s: %s", path, warn);
    rc = maillimit__sendermap_write(path, text, len, err, sizeof err);
    if (rc) {
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "cannot write local_login_sender_map_file: %s", err);
        s->map_failed = 1;
        free(text);
        return;
    }
    s->map_failed = 0;
    free(s->map_text);
    s->map_text = text;
    s->map_len = len;
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "local_login_sender_map_file %s written (%zu bytes)", path,
         len);
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
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "cannot keep the applied configuration: %s (the next "
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
static int streq_null(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

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
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "policy_listen, admin_listen, milter_listen and "
                 "local_milter_listen changes take effect at the next restart");
        if (c.nhttp != s->conf.nhttp ||
            (c.nhttp && strcmp(c.http.spec, s->conf.http.spec) != 0))
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "http_listen changes take effect at the next "
                 "restart");
        maillimit__listen_free(&c.http);
        c.http = s->conf.http; /* the running listener's */
        c.nhttp = s->conf.nhttp;
        memset(&s->conf.http, 0, sizeof s->conf.http);
        s->conf.nhttp = 0;
        maillimit__http_token_set(s->http, c.http_token);
        /* cluster_redis: the running connection's settings stay until a restart */
        int cl_changed = c.ncluster != s->conf.ncluster ||
                         (c.ncluster && strcmp(c.cluster.spec, s->conf.cluster.spec) != 0) ||
                         c.cluster_database != s->conf.cluster_database ||
                         c.cluster_timeout != s->conf.cluster_timeout ||
                         !streq_null(c.cluster_user, s->conf.cluster_user) ||
                         !streq_null(c.cluster_password, s->conf.cluster_password) ||
                         !streq_null(c.cluster_prefix, s->conf.cluster_prefix);
        if (cl_changed)
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "cluster_redis changes take effect at the next "
                 "restart");
        maillimit__listen_free(&c.cluster);
        free(c.cluster_user);
        free(c.cluster_password);
        free(c.cluster_prefix);
        c.cluster = s->conf.cluster;
        c.ncluster = s->conf.ncluster;
        c.cluster_user = s->conf.cluster_user;
        c.cluster_password = s->conf.cluster_password;
        c.cluster_prefix = s->conf.cluster_prefix;
        c.cluster_database = s->conf.cluster_database;
        c.cluster_timeout = s->conf.cluster_timeout;
        memset(&s->conf.cluster, 0, sizeof s->conf.cluster);
        s->conf.ncluster = 0;
        s->conf.cluster_user = s->conf.cluster_password = s->conf.cluster_prefix = NULL;
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
        maillimit__sendermap_refresh(s, 1);
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

/* ---- what the lower modules call back ---------------------------------------------------- */

static int admin_reload(void *ctx, char *err, size_t errlen)
{
    maillimit_server *s = ctx;
    int rc = maillimit_server_reload(s, err, errlen);
    if (rc == 0)
        slog(s, MAILLIMIT_SERVER_LOG_INFO, "configuration reloaded (admin request)");
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

static int admin_cluster_count(void *ctx, int level, const char *name, int window, int64_t now,
                               int64_t *out)
{
    return maillimit__cluster_count(ctx, level, name, window, now, out);
}

static void handles_closed(maillimit_server *s)
{
    maillimit__finish_if_done(s);
}

static void maybe_changed(maillimit_server *s)
{
    maillimit__sendermap_refresh(s, 0);
}

int maillimit_server_new(maillimit_server **out, maillimit *ml, uv_loop_t *loop)
{
    if (!out)
        return MAILLIMIT_EINVAL;
    *out = NULL;
    maillimit_server *s = calloc(1, sizeof *s);
    if (!s)
        return MAILLIMIT_ENOMEM;
    snprintf(s->ident, sizeof s->ident, "maillimitd");
    s->handles_closed = handles_closed;
    s->maybe_changed = maybe_changed;
    s->admin = (maillimit__admin_host){ NULL, admin_reload, admin_snapshot, admin_stats,
                                        maillimit__admin_events, s, NULL };
    s->log_target = MAILLIMIT_SERVER_LOG_STDERR;
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
/* ---- counters of the admin "stats" method ------------------------------------------------ */

int maillimit__server_stats(maillimit_server *s, uint64_t out[MAILLIMIT__STATS])
{
    /* requests and milter messages by result: the metrics' counts, read by the loop thread
     * that writes them */
    const maillimit__counter *pol = s->metrics.requests[MAILLIMIT__PROTO_POLICY],
                             *mil = s->metrics.requests[MAILLIMIT__PROTO_MILTER];
    out[1] = maillimit__get(&pol[MAILLIMIT_POLICY_ALLOW]);
    out[2] = maillimit__get(&pol[MAILLIMIT_POLICY_DENY]);
    out[3] = maillimit__get(&pol[MAILLIMIT_POLICY_PASS]);
    out[4] = maillimit__get(&pol[MAILLIMIT_POLICY_FAILOPEN]);
    out[0] = out[1] + out[2] + out[3] + out[4];
    out[5] = s->st_garbage;
    out[6] = s->st_conns;
    out[7] = s->st_refused;
    out[8] = (uint64_t)s->npolicy_conns;
    out[9] = s->st_admin;
    out[10] = (uint64_t)s->started_at;
    out[12] = maillimit__get(&mil[MAILLIMIT_POLICY_ALLOW]);
    out[13] = maillimit__get(&mil[MAILLIMIT_POLICY_DENY]);
    out[14] = maillimit__get(&mil[MAILLIMIT_POLICY_PASS]);
    out[16] = maillimit__get(&mil[MAILLIMIT_POLICY_FAILOPEN]);
    out[11] = out[12] + out[13] + out[14] + out[16];
    out[15] = maillimit__get(&s->metrics.milter_aborted);
    out[17] = s->st_milter_unattributed;
    return 0;
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
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "no writable directory for the admin socket");
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
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "no writable directory for the state file");
        }
    }
    return 0;
}

static void snapshot_load_at_start(maillimit_server *s)
{
    const char *f = state_file(s);
    if (!f)
        return;
    char em[256] = "";
    maillimit *target = s->ml, *fresh = NULL;
    if (s->owns_ml) {
        /* into a fresh handle, then the configuration on top of it; swapped in if it loads */
        if (maillimit_new(&fresh) != 0) {
            slog(s, MAILLIMIT_SERVER_LOG_ERR, "out of memory loading %s", f);
            return;
        }
        target = fresh;
    }
    int rc = snap_load(target, f, em, sizeof em);
    if (rc == MAILLIMIT_ENOTFOUND) {
        slog(s, MAILLIMIT_SERVER_LOG_INFO, "no state file %s yet: first start", f);
        maillimit_free(fresh);
        return;
    }
    if (rc != 0) {
        char bad[600];
        snprintf(bad, sizeof bad, "%s.bad", f);
        int moved = rename(f, bad) == 0;
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "cannot load the state file %s: %s; starting with empty "
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
            slog(s, MAILLIMIT_SERVER_LOG_ERR,
                 "configuration on top of the state file: %s; the state "
                 "file is not used", cerr);
            maillimit_free(fresh);
            return;
        }
        maillimit_policy *np = NULL;
        if (maillimit_policy_new(&np, fresh) != 0 || policy_apply(np, &s->conf) != 0) {
            maillimit_policy_free(np);
            maillimit_free(fresh);
            slog(s, MAILLIMIT_SERVER_LOG_ERR, "out of memory loading %s", f);
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
            slog(s, MAILLIMIT_SERVER_LOG_ERR, "configuration on top of the state file: %s", cerr);
    }
    free(delta);
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "state loaded from %s", f);
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
        rc = maillimit__listener_open(s, &s->conf.policy[i], 0, MILTER_NONE, err, errlen);
    for (int i = 0; i < s->conf.nadmin && !rc; i++)
        rc = maillimit__listener_open(s, &s->conf.admin[i], 1, MILTER_NONE, err, errlen);
    for (int i = 0; i < s->conf.nmilter && !rc; i++)
        rc = maillimit__listener_open(s, &s->conf.milter[i], 0, MILTER_SMTP, err, errlen);
    for (int i = 0; i < s->conf.nlocal_milter && !rc; i++)
        rc = maillimit__listener_open(s, &s->conf.local_milter[i], 0, MILTER_LOCAL, err, errlen);
    if (!rc)
        rc = maillimit__http_open(s, err, errlen);
    if (!rc && (rc = maillimit__cluster_open(s)) != 0)
        emsg(err, errlen, "cluster_redis: %s", maillimit_strerror(rc));
    if (!rc && s->cluster)
        s->admin.cluster_count = admin_cluster_count;
    if (rc) {
        maillimit__cluster_close(s);
        maillimit__listeners_close(s);
        maillimit__http_close(s);
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
    uv_timer_start(&s->sweep, maillimit__on_sweep, SWEEP_MS, SWEEP_MS);
    uv_timer_start(&s->tick, maillimit__on_tick, TICK_MS, TICK_MS);
    uv_unref((uv_handle_t *)&s->tick);
    uv_unref((uv_handle_t *)&s->notify_timer);
    s->started = 1;
    s->started_at = (int64_t)time(NULL);
    maillimit__set(&s->metrics.started_at, (uint64_t)s->started_at);
    milter_apply(s); /* Postfix's myorigin is read now */
    if ((s->conf.nlocal_milter > 0 || s->conf.sender_map_file) && !s->origin[0])
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "local_origin is not set and postconf could not tell "
             "Postfix's myorigin: system users are recognised by no sender address");
    maillimit__sendermap_refresh(s, 1);
    timers_apply(s);
    uv_unref((uv_handle_t *)&s->sweep);
    uv_unref((uv_handle_t *)&s->snap_timer);
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "started (libmaillimit %s, libuv %s)",
         maillimit_version_string(),
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

void maillimit__finish_if_done(maillimit_server *s)
{
    if (!s->stopping || s->finished || s->nconns > 0 || s->snap_busy)
        return;
    s->finished = 1;
    maillimit__cluster_close(s);
    maillimit_tick(s->ml, 0);
    maillimit__events_poll(s);
    if (state_file(s)) {
        char em[256] = "";
        uint64_t t0 = mono_ns();
        int rc = snap_save(s->ml, state_file(s), em, sizeof em);
        snap_record(s, rc, mono_ns() - t0);
        if (rc == 0)
            slog(s, MAILLIMIT_SERVER_LOG_INFO, "state saved to %s", state_file(s));
        else
            slog(s, MAILLIMIT_SERVER_LOG_ERR, "cannot save the state to %s: %s", state_file(s),
                 em[0] ? em : maillimit_strerror(rc));
    }
    if (s->timers_init) {
        maillimit__close_handle(s, (uv_handle_t *)&s->sweep);
        maillimit__close_handle(s, (uv_handle_t *)&s->snap_timer);
        maillimit__close_handle(s, (uv_handle_t *)&s->drain);
        maillimit__close_handle(s, (uv_handle_t *)&s->tick);
        maillimit__close_handle(s, (uv_handle_t *)&s->notify_timer);
    }
    maillimit_server_signals(s, 0);
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "stopped");
}

static void on_drain(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    s->drain_expired = 1;
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->closing) {
            if (c->inlen || c->writing)
                slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: closed mid-request at shutdown",
                     c->peer);
            maillimit__conn_close(c);
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
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "stopping");
    maillimit__listeners_close(s);
    maillimit__http_close(s);
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->closing && c->inlen == 0 && !c->writing)
            maillimit__conn_close(c);
    }
    if (s->nconns > 0)
        uv_timer_start(&s->drain, on_drain, DRAIN_MS, 0);
    maillimit__finish_if_done(s);
    return 0;
}

/* ---- signals ------------------------------------------------------------------------------ */

static void on_signal(uv_signal_t *h, int signum)
{
    maillimit_server *s = h->data;
    if (signum == SIGHUP) {
        char em[512] = "";
        if (maillimit_server_reload(s, em, sizeof em) == 0)
            slog(s, MAILLIMIT_SERVER_LOG_INFO, "configuration reloaded");
        else
            slog(s, MAILLIMIT_SERVER_LOG_ERR, "reload failed, the running configuration stays: %s",
                 em);
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
            maillimit__close_handle(s, (uv_handle_t *)&s->sig[i]);
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
    maillimit__listeners_close(s);
    maillimit__http_close(s);
    for (struct conn *c = s->conns; c; c = c->next)
        maillimit__conn_close(c);
    maillimit__cluster_close(s);
    if (s->timers_init) {
        maillimit__close_handle(s, (uv_handle_t *)&s->sweep);
        maillimit__close_handle(s, (uv_handle_t *)&s->snap_timer);
        maillimit__close_handle(s, (uv_handle_t *)&s->drain);
        maillimit__close_handle(s, (uv_handle_t *)&s->tick);
        maillimit__close_handle(s, (uv_handle_t *)&s->notify_timer);
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
    if (s->log_target == MAILLIMIT_SERVER_LOG_SYSLOG)
        closelog();
    free(s);
}
