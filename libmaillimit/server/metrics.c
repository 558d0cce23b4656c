/* SPDX-License-Identifier: MIT */
/* maillimitd's metrics: what the loop thread counts (maillimit__metrics, see http.h for who
 * writes and who reads) and their Prometheus text format (version 0.0.4) for /metrics.
 *
 * Families (every series exists from the start, at 0):
 *   maillimit_build_info{version}                          gauge 1
 *   maillimit_start_time_seconds                           gauge
 *   maillimit_limits_enabled                               gauge: the master switch
 *   maillimit_policy_requests_total{result}                allow, deny, pass, failopen
 *   maillimit_milter_messages_total{result}                the same, per milter message
 *   maillimit_milter_aborted_total                         messages given up before their end
 *   maillimit_decisions_total{protocol,result,level}       decisions that counted (a repeated
 *                                                          answer to the same message is not
 *                                                          one): allow/deny by the level the
 *                                                          sender was attributed to
 *   maillimit_denials_total{protocol,level,window,reason}  the same denials by the level and
 *                                                          window whose limit refused them
 *                                                          (reason limit), or not_allowed
 *                                                          (script mail switched off)
 *   maillimit_request_duration_seconds{protocol}           histogram: time from a request's
 *                                                          bytes to its reply (policy: every
 *                                                          request; milter: decided messages)
 *   maillimit_connections_accepted_total{protocol}         policy, milter, admin
 *   maillimit_connections_refused_total{protocol}          over policy_max_connections
 *   maillimit_connections_open{protocol}                   gauge
 *   maillimit_protocol_errors_total{protocol}              clients closed for bad data
 *   maillimit_admin_requests_total
 *   maillimit_episodes_open{level}                         gauge: entities over a limit now
 *   maillimit_limit_events_total{type}                     limit_reached, back_to_normal
 *   maillimit_events_dropped_total                         the core's event queue overflowed
 *   maillimit_entities{level}                              gauge: configured entities
 *   maillimit_implicit_mailboxes                           gauge: mailboxes made by mail
 *   maillimit_snapshot_saves_total{result}                 success, failure
 *   maillimit_snapshot_last_success_timestamp_seconds      gauge, once a save succeeded
 *   maillimit_snapshot_age_seconds                         gauge, the same
 *   maillimit_snapshot_duration_seconds                    gauge: the last save
 *   maillimit_reloads_total{result}                        success, failure
 *   maillimit_reload_last_success_timestamp_seconds        gauge, once a reload succeeded
 *   maillimit_log_denial_lines_suppressed_total            denials summed up, not logged
 *   maillimit_http_requests_total{code}
 * No label carries an entity's name: the pages show entities, the metrics stay small.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"

const uint32_t maillimit__lat_bounds_us[MAILLIMIT__LAT_BUCKETS - 1] = {
    10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
};
static const char *const lat_le[MAILLIMIT__LAT_BUCKETS - 1] = {
    "0.00001", "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001",
    "0.0025",  "0.005",    "0.01",    "0.025",  "0.05",    "0.1",   "0.25",
};
static const char *const proto_word[MAILLIMIT__NPROTO] = { "policy", "milter", "admin" };
static const char *const result_word[MAILLIMIT__NRESULT] = { "pass", "allow", "deny",
                                                            "failopen" };
static const char *const attr_word[MAILLIMIT__NATTR] = { "none", "subscription", "domain",
                                                        "mailbox" };
static const char *const level_word[6] = { "server", "plan", "subscription", "domain",
                                           "mailbox", "sysuser" };
static const int http_codes[MAILLIMIT__HTTP_CODES] = { 200, 301, 400, 401, 404, 405, 500 };

void maillimit__metrics_init(maillimit__metrics *m)
{
    memset(m, 0, sizeof *m);
    maillimit__counter *c = (maillimit__counter *)m;
    for (size_t i = 0; i < sizeof *m / sizeof *c; i++)
        atomic_init(&c[i], 0);
}

static int attr_index(int level)
{
    switch (level) {
    case MAILLIMIT_LEVEL_SUBSCRIPTION: return 1;
    case MAILLIMIT_LEVEL_DOMAIN: return 2;
    case MAILLIMIT_LEVEL_MAILBOX: return 3;
    default: return 0;
    }
}

void maillimit__metrics_outcome(maillimit__metrics *m, int proto,
                                const maillimit_policy_outcome *o, uint64_t ns)
{
    if (proto != MAILLIMIT__PROTO_POLICY && proto != MAILLIMIT__PROTO_MILTER)
        return;
    int r = o->result >= 0 && o->result < MAILLIMIT__NRESULT ? o->result : 0;
    maillimit__inc(&m->requests[proto][r], 1);
    if ((r == MAILLIMIT_POLICY_ALLOW || r == MAILLIMIT_POLICY_DENY) && !o->repeated) {
        maillimit__inc(&m->decisions[proto][r == MAILLIMIT_POLICY_DENY][attr_index(o->level)], 1);
        if (r == MAILLIMIT_POLICY_DENY && o->deny_level >= MAILLIMIT_LEVEL_SERVER &&
            o->deny_level <= MAILLIMIT_LEVEL_MAILBOX) {
            int w = o->reason == MAILLIMIT_REASON_NOT_ALLOWED ? 2
                    : o->deny_window == MAILLIMIT_WINDOW_DAY  ? 1
                                                              : 0;
            maillimit__inc(&m->denials[proto][o->deny_level][w], 1);
        }
    }
    int b = 0; /* the first bucket whose bound is >= ns ("le") */
    while (b < MAILLIMIT__LAT_BUCKETS - 1 && ns > (uint64_t)maillimit__lat_bounds_us[b] * 1000)
        b++;
    maillimit__inc(&m->lat[proto][b], 1);
    maillimit__inc(&m->lat_sum_ns[proto], ns);
}

#define G(x) maillimit__get(&(x))

static void family(maillimit__buf *b, const char *name, const char *type, const char *help)
{
    maillimit__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void maillimit__metrics_render(maillimit__buf *b, const maillimit__metrics *m,
                               const maillimit__handle_figures *f, int64_t now)
{
    family(b, "maillimit_build_info", "gauge", "The version of libmaillimit serving.");
    maillimit__buf_puts(b, "maillimit_build_info{version=\"");
    maillimit__prom_esc(b, maillimit_version_string());
    maillimit__buf_puts(b, "\"} 1\n");
    family(b, "maillimit_start_time_seconds", "gauge", "When maillimitd started (Unix time).");
    maillimit__buf_printf(b, "maillimit_start_time_seconds %llu\n",
                          (unsigned long long)G(m->started_at));
    if (f && f->enabled >= 0) {
        family(b, "maillimit_limits_enabled", "gauge",
               "1 if outgoing mail limits are switched on (the master switch).");
        maillimit__buf_printf(b, "maillimit_limits_enabled %d\n", f->enabled ? 1 : 0);
    }

    family(b, "maillimit_policy_requests_total", "counter",
           "Postfix policy requests answered, by result.");
    for (int r = 0; r < MAILLIMIT__NRESULT; r++)
        maillimit__buf_printf(b, "maillimit_policy_requests_total{result=\"%s\"} %llu\n",
                              result_word[r], (unsigned long long)G(m->requests[0][r]));
    family(b, "maillimit_milter_messages_total", "counter",
           "Messages decided by the milters, by result.");
    for (int r = 0; r < MAILLIMIT__NRESULT; r++)
        maillimit__buf_printf(b, "maillimit_milter_messages_total{result=\"%s\"} %llu\n",
                              result_word[r], (unsigned long long)G(m->requests[1][r]));
    family(b, "maillimit_milter_aborted_total", "counter",
           "Milter messages given up by the client before their end.");
    maillimit__buf_printf(b, "maillimit_milter_aborted_total %llu\n",
                          (unsigned long long)G(m->milter_aborted));

    family(b, "maillimit_decisions_total", "counter",
           "Decisions that counted, by protocol, result and the level the sender was "
           "attributed to.");
    for (int p = 0; p < 2; p++)
        for (int r = 0; r < 2; r++)
            for (int l = MAILLIMIT__NATTR - 1; l >= 0; l--)
                maillimit__buf_printf(b, "maillimit_decisions_total{protocol=\"%s\",result=\"%s\","
                                      "level=\"%s\"} %llu\n", proto_word[p],
                                      r ? "deny" : "allow", attr_word[l],
                                      (unsigned long long)G(m->decisions[p][r][l]));
    family(b, "maillimit_denials_total", "counter",
           "Denials by protocol, the level and window whose limit refused them, and reason.");
    for (int p = 0; p < 2; p++)
        for (int l = MAILLIMIT_LEVEL_MAILBOX; l >= MAILLIMIT_LEVEL_SERVER; l--) {
            if (l == MAILLIMIT_LEVEL_PLAN)
                continue;
            for (int w = 0; w < 3; w++) {
                if (w == 2 && l != MAILLIMIT_LEVEL_SUBSCRIPTION)
                    continue; /* script mail switched off is refused at the subscription */
                maillimit__buf_printf(b, "maillimit_denials_total{protocol=\"%s\",level=\"%s\","
                                      "window=\"%s\",reason=\"%s\"} %llu\n", proto_word[p],
                                      level_word[l], w == 0 ? "hour" : w == 1 ? "day" : "none",
                                      w == 2 ? "not_allowed" : "limit",
                                      (unsigned long long)G(m->denials[p][l][w]));
            }
        }

    family(b, "maillimit_request_duration_seconds", "histogram",
           "Time from a request's bytes to its reply inside maillimitd (policy: every "
           "request; milter: decided messages).");
    for (int p = 0; p < 2; p++) {
        uint64_t cum = 0;
        for (int i = 0; i < MAILLIMIT__LAT_BUCKETS; i++) {
            cum += G(m->lat[p][i]);
            maillimit__buf_printf(b, "maillimit_request_duration_seconds_bucket{protocol=\"%s\","
                                  "le=\"%s\"} %llu\n", proto_word[p],
                                  i < MAILLIMIT__LAT_BUCKETS - 1 ? lat_le[i] : "+Inf",
                                  (unsigned long long)cum);
        }
        uint64_t ns = G(m->lat_sum_ns[p]);
        maillimit__buf_printf(b, "maillimit_request_duration_seconds_sum{protocol=\"%s\"} "
                              "%llu.%09llu\n", proto_word[p],
                              (unsigned long long)(ns / 1000000000u),
                              (unsigned long long)(ns % 1000000000u));
        maillimit__buf_printf(b, "maillimit_request_duration_seconds_count{protocol=\"%s\"} "
                              "%llu\n", proto_word[p], (unsigned long long)cum);
    }

    family(b, "maillimit_connections_accepted_total", "counter", "Connections accepted.");
    for (int p = 0; p < MAILLIMIT__NPROTO; p++)
        maillimit__buf_printf(b, "maillimit_connections_accepted_total{protocol=\"%s\"} %llu\n",
                              proto_word[p], (unsigned long long)G(m->conns_accepted[p]));
    family(b, "maillimit_connections_refused_total", "counter",
           "Connections closed at once: over policy_max_connections.");
    for (int p = 0; p < 2; p++)
        maillimit__buf_printf(b, "maillimit_connections_refused_total{protocol=\"%s\"} %llu\n",
                              proto_word[p], (unsigned long long)G(m->conns_refused[p]));
    family(b, "maillimit_connections_open", "gauge", "Connections open now.");
    for (int p = 0; p < MAILLIMIT__NPROTO; p++)
        maillimit__buf_printf(b, "maillimit_connections_open{protocol=\"%s\"} %llu\n",
                              proto_word[p], (unsigned long long)G(m->conns_open[p]));
    family(b, "maillimit_protocol_errors_total", "counter",
           "Clients closed because their data broke the protocol or its bounds.");
    for (int p = 0; p < MAILLIMIT__NPROTO; p++)
        maillimit__buf_printf(b, "maillimit_protocol_errors_total{protocol=\"%s\"} %llu\n",
                              proto_word[p], (unsigned long long)G(m->protocol_errors[p]));
    family(b, "maillimit_admin_requests_total", "counter", "Admin protocol requests.");
    maillimit__buf_printf(b, "maillimit_admin_requests_total %llu\n",
                          (unsigned long long)G(m->admin_requests));

    if (f && f->open_episodes[0] >= 0) {
        family(b, "maillimit_episodes_open", "gauge",
               "Entities over one of their limits now, by level.");
        for (int l = MAILLIMIT_LEVEL_MAILBOX; l >= MAILLIMIT_LEVEL_SERVER; l--)
            if (l != MAILLIMIT_LEVEL_PLAN)
                maillimit__buf_printf(b, "maillimit_episodes_open{level=\"%s\"} %lld\n",
                                      level_word[l], (long long)f->open_episodes[l]);
    }
    family(b, "maillimit_limit_events_total", "counter",
           "Limit edges logged: an entity reached its limit, or was back to normal.");
    maillimit__buf_printf(b, "maillimit_limit_events_total{type=\"limit_reached\"} %llu\n"
                          "maillimit_limit_events_total{type=\"back_to_normal\"} %llu\n",
                          (unsigned long long)G(m->events[0]),
                          (unsigned long long)G(m->events[1]));
    if (f && f->events_dropped >= 0) {
        family(b, "maillimit_events_dropped_total", "counter",
               "Limit events lost because the library's event queue was full.");
        maillimit__buf_printf(b, "maillimit_events_dropped_total %lld\n",
                              (long long)f->events_dropped);
    }
    if (f && f->entities[MAILLIMIT_LEVEL_MAILBOX] >= 0) {
        family(b, "maillimit_entities", "gauge", "Configured entities, by level.");
        for (int l = MAILLIMIT_LEVEL_PLAN; l <= MAILLIMIT_LIST_SYSUSER; l++)
            if (f->entities[l] >= 0)
                maillimit__buf_printf(b, "maillimit_entities{level=\"%s\"} %lld\n",
                                      level_word[l], (long long)f->entities[l]);
        family(b, "maillimit_implicit_mailboxes", "gauge",
               "Mailboxes not configured, known from the mail they sent.");
        maillimit__buf_printf(b, "maillimit_implicit_mailboxes %lld\n",
                              (long long)f->implicit_mailboxes);
    }

    family(b, "maillimit_snapshot_saves_total", "counter", "Saves of the state file.");
    maillimit__buf_printf(b, "maillimit_snapshot_saves_total{result=\"success\"} %llu\n"
                          "maillimit_snapshot_saves_total{result=\"failure\"} %llu\n",
                          (unsigned long long)G(m->snap_ok),
                          (unsigned long long)G(m->snap_failed));
    uint64_t last = G(m->snap_last_ok);
    if (last) {
        family(b, "maillimit_snapshot_last_success_timestamp_seconds", "gauge",
               "When the state file was last saved (Unix time).");
        maillimit__buf_printf(b, "maillimit_snapshot_last_success_timestamp_seconds %llu\n",
                              (unsigned long long)last);
        family(b, "maillimit_snapshot_age_seconds", "gauge",
               "Seconds since the state file was last saved.");
        maillimit__buf_printf(b, "maillimit_snapshot_age_seconds %lld\n",
                              (long long)(now > (int64_t)last ? now - (int64_t)last : 0));
        uint64_t ns = G(m->snap_last_ns);
        family(b, "maillimit_snapshot_duration_seconds", "gauge",
               "How long the last save of the state file took.");
        maillimit__buf_printf(b, "maillimit_snapshot_duration_seconds %llu.%09llu\n",
                              (unsigned long long)(ns / 1000000000u),
                              (unsigned long long)(ns % 1000000000u));
    }
    family(b, "maillimit_reloads_total", "counter", "Configuration reloads.");
    maillimit__buf_printf(b, "maillimit_reloads_total{result=\"success\"} %llu\n"
                          "maillimit_reloads_total{result=\"failure\"} %llu\n",
                          (unsigned long long)G(m->reload_ok),
                          (unsigned long long)G(m->reload_failed));
    if (G(m->reload_last_ok)) {
        family(b, "maillimit_reload_last_success_timestamp_seconds", "gauge",
               "When the configuration was last reloaded (Unix time).");
        maillimit__buf_printf(b, "maillimit_reload_last_success_timestamp_seconds %llu\n",
                              (unsigned long long)G(m->reload_last_ok));
    }
    family(b, "maillimit_log_denial_lines_suppressed_total", "counter",
           "Denials not logged one by one (log_denials episode: summed up per minute).");
    maillimit__buf_printf(b, "maillimit_log_denial_lines_suppressed_total %llu\n",
                          (unsigned long long)G(m->denial_lines_suppressed));
    family(b, "maillimit_http_requests_total", "counter", "HTTP requests, by status code.");
    for (int i = 0; i < MAILLIMIT__HTTP_CODES; i++)
        maillimit__buf_printf(b, "maillimit_http_requests_total{code=\"%d\"} %llu\n",
                              http_codes[i], (unsigned long long)G(m->http_requests[i]));
}
