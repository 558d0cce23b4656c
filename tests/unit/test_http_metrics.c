/* SPDX-License-Identifier: MIT */
/* maillimitd's /metrics (libmaillimit/server/metrics.c): what one outcome counts, and the
 * Prometheus text format of known figures, line by line. */
#define _GNU_SOURCE

#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillimit.h"
#include "http.h"

static maillimit__metrics m;

static void outcome(int proto, int result, int level, int repeated, int reason, int deny_level,
                    int deny_window, uint64_t ns)
{
    maillimit_policy_outcome o;
    maillimit_policy_outcome_init(&o, MAILLIMIT_POLICY_OUTCOME_VERSION);
    o.result = result;
    o.level = level;
    o.repeated = repeated;
    o.reason = reason;
    o.deny_level = deny_level;
    o.deny_window = deny_window;
    maillimit__metrics_outcome(&m, proto, &o, ns);
}

static char *render(const maillimit__handle_figures *f, int64_t now)
{
    maillimit__buf b = { 0 };
    maillimit__metrics_render(&b, &m, f, now);
    cr_assert_eq(b.failed, 0);
    return b.p;
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

#define LINE(t, l) cr_assert(has_line(t, l), "missing line: %s", l)

Test(http_metrics, outcomes_are_counted_by_result_level_and_reason)
{
    maillimit__metrics_init(&m);
    enum { P = MAILLIMIT__PROTO_POLICY, M = MAILLIMIT__PROTO_MILTER };
    outcome(P, MAILLIMIT_POLICY_ALLOW, MAILLIMIT_LEVEL_MAILBOX, 0, MAILLIMIT_REASON_NONE, -1, -1,
            5000);
    outcome(P, MAILLIMIT_POLICY_ALLOW, MAILLIMIT_LEVEL_MAILBOX, 1, MAILLIMIT_REASON_NONE, -1, -1,
            10000); /* a repeated answer: a request, not a decision */
    outcome(P, MAILLIMIT_POLICY_DENY, MAILLIMIT_LEVEL_MAILBOX, 0, MAILLIMIT_REASON_LIMIT,
            MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_HOUR, 10001);
    outcome(P, MAILLIMIT_POLICY_DENY, MAILLIMIT_LEVEL_DOMAIN, 0, MAILLIMIT_REASON_LIMIT,
            MAILLIMIT_LEVEL_SERVER, MAILLIMIT_WINDOW_DAY, 3000000);
    outcome(P, MAILLIMIT_POLICY_PASS, -1, 0, -1, -1, -1, 1000000000);
    outcome(M, MAILLIMIT_POLICY_DENY, MAILLIMIT_LEVEL_SUBSCRIPTION, 0,
            MAILLIMIT_REASON_NOT_ALLOWED, MAILLIMIT_LEVEL_SUBSCRIPTION, -1, 250000000);
    outcome(M, MAILLIMIT_POLICY_FAILOPEN, MAILLIMIT_LEVEL_MAILBOX, 0, -1, -1, -1, 250000001);
    outcome(M, MAILLIMIT_POLICY_ALLOW, -1, 0, MAILLIMIT_REASON_UNKNOWN, -1, -1, 0);
    maillimit__set(&m.started_at, 1796551200);
    char *t = render(NULL, 1796551260);
    LINE(t, "maillimit_start_time_seconds 1796551200");
    LINE(t, "maillimit_policy_requests_total{result=\"pass\"} 1");
    LINE(t, "maillimit_policy_requests_total{result=\"allow\"} 2");
    LINE(t, "maillimit_policy_requests_total{result=\"deny\"} 2");
    LINE(t, "maillimit_policy_requests_total{result=\"failopen\"} 0");
    LINE(t, "maillimit_milter_messages_total{result=\"allow\"} 1");
    LINE(t, "maillimit_milter_messages_total{result=\"deny\"} 1");
    LINE(t, "maillimit_milter_messages_total{result=\"failopen\"} 1");
    LINE(t, "maillimit_decisions_total{protocol=\"policy\",result=\"allow\",level=\"mailbox\"} 1");
    LINE(t, "maillimit_decisions_total{protocol=\"policy\",result=\"deny\",level=\"mailbox\"} 1");
    LINE(t, "maillimit_decisions_total{protocol=\"policy\",result=\"deny\",level=\"domain\"} 1");
    LINE(t, "maillimit_decisions_total{protocol=\"milter\",result=\"deny\",level=\"subscription\"} "
            "1");
    LINE(t, "maillimit_decisions_total{protocol=\"milter\",result=\"allow\",level=\"none\"} 1");
    LINE(t, "maillimit_denials_total{protocol=\"policy\",level=\"domain\",window=\"hour\","
            "reason=\"limit\"} 1");
    LINE(t, "maillimit_denials_total{protocol=\"policy\",level=\"server\",window=\"day\","
            "reason=\"limit\"} 1");
    LINE(t, "maillimit_denials_total{protocol=\"policy\",level=\"mailbox\",window=\"hour\","
            "reason=\"limit\"} 0");
    LINE(t, "maillimit_denials_total{protocol=\"milter\",level=\"subscription\",window=\"none\","
            "reason=\"not_allowed\"} 1");
    /* policy: 5 us and 10 us (a bound is in its own bucket) <= 10 us; 10.001 us <= 25 us;
     * 3 ms <= 5 ms; 1 s only in +Inf */
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"0.00001\"} 2");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"0.000025\"} 3");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"0.0025\"} 3");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"0.005\"} 4");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"0.25\"} 4");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"policy\",le=\"+Inf\"} 5");
    LINE(t, "maillimit_request_duration_seconds_sum{protocol=\"policy\"} 1.003025001");
    LINE(t, "maillimit_request_duration_seconds_count{protocol=\"policy\"} 5");
    /* milter: 0 <= 10 us; 0.25 s <= 0.25; 0.250000001 s above */
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"milter\",le=\"0.00001\"} 1");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"milter\",le=\"0.1\"} 1");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"milter\",le=\"0.25\"} 2");
    LINE(t, "maillimit_request_duration_seconds_bucket{protocol=\"milter\",le=\"+Inf\"} 3");
    LINE(t, "maillimit_request_duration_seconds_sum{protocol=\"milter\"} 0.500000001");
    /* no figures of the handle, no snapshot yet, no reload: those lines are left out */
    cr_assert_null(strstr(t, "maillimit_entities"));
    cr_assert_null(strstr(t, "maillimit_limits_enabled"));
    cr_assert_null(strstr(t, "maillimit_snapshot_age_seconds"));
    cr_assert_null(strstr(t, "maillimit_reload_last_success"));
    LINE(t, "maillimit_snapshot_saves_total{result=\"success\"} 0");
    free(t);
}

Test(http_metrics, handle_figures_snapshots_reloads_and_connections)
{
    maillimit__metrics_init(&m);
    maillimit__inc(&m.conns_accepted[MAILLIMIT__PROTO_POLICY], 3);
    maillimit__inc(&m.conns_open[MAILLIMIT__PROTO_POLICY], 3);
    maillimit__inc(&m.conns_open[MAILLIMIT__PROTO_POLICY], (uint64_t)-1);
    maillimit__inc(&m.conns_refused[MAILLIMIT__PROTO_MILTER], 1);
    maillimit__inc(&m.protocol_errors[MAILLIMIT__PROTO_ADMIN], 4);
    maillimit__inc(&m.snap_ok, 2);
    maillimit__set(&m.snap_last_ok, 1796551000);
    maillimit__set(&m.snap_last_ns, 1500000);
    maillimit__inc(&m.reload_failed, 1);
    maillimit__inc(&m.events[1], 6);
    maillimit__inc(&m.denial_lines_suppressed, 1233);
    maillimit__inc(&m.http_requests[4], 2);
    maillimit__handle_figures f = { .enabled = 0,
                                    .entities = { -1, 1, 2, 3, 40, 5 },
                                    .implicit_mailboxes = 7,
                                    .open_episodes = { 0, 0, 1, 2, 3 },
                                    .events_dropped = 9 };
    char *t = render(&f, 1796551260);
    LINE(t, "maillimit_limits_enabled 0");
    LINE(t, "maillimit_connections_accepted_total{protocol=\"policy\"} 3");
    LINE(t, "maillimit_connections_open{protocol=\"policy\"} 2");
    LINE(t, "maillimit_connections_refused_total{protocol=\"milter\"} 1");
    LINE(t, "maillimit_protocol_errors_total{protocol=\"admin\"} 4");
    LINE(t, "maillimit_entities{level=\"plan\"} 1");
    LINE(t, "maillimit_entities{level=\"mailbox\"} 40");
    LINE(t, "maillimit_entities{level=\"sysuser\"} 5");
    LINE(t, "maillimit_implicit_mailboxes 7");
    LINE(t, "maillimit_episodes_open{level=\"mailbox\"} 3");
    LINE(t, "maillimit_episodes_open{level=\"subscription\"} 1");
    LINE(t, "maillimit_episodes_open{level=\"server\"} 0");
    LINE(t, "maillimit_events_dropped_total 9");
    LINE(t, "maillimit_limit_events_total{type=\"back_to_normal\"} 6");
    LINE(t, "maillimit_snapshot_saves_total{result=\"success\"} 2");
    LINE(t, "maillimit_snapshot_last_success_timestamp_seconds 1796551000");
    LINE(t, "maillimit_snapshot_age_seconds 260");
    LINE(t, "maillimit_snapshot_duration_seconds 0.001500000");
    LINE(t, "maillimit_reloads_total{result=\"failure\"} 1");
    LINE(t, "maillimit_log_denial_lines_suppressed_total 1233");
    LINE(t, "maillimit_http_requests_total{code=\"404\"} 2");
    /* every family is announced once, before its samples */
    const char *fams[] = { "maillimit_build_info gauge", "maillimit_decisions_total counter",
                           "maillimit_request_duration_seconds histogram",
                           "maillimit_entities gauge", "maillimit_http_requests_total counter" };
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        char want[200];
        snprintf(want, sizeof want, "# TYPE %s", fams[i]);
        LINE(t, want);
        const char *first = strstr(t, want);
        cr_assert_null(strstr(first + 1, want), "%s twice", want);
    }
    /* the text format: comment lines and "name{labels} value" lines, one space */
    for (char *line = t, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        cr_assert_not_null(nl, "the text ends with a newline");
        *nl = '\0';
        if (line[0] == '#')
            continue;
        char *sp = strrchr(line, ' ');
        cr_assert_not_null(sp, "%s", line);
        cr_assert_eq(strncmp(line, "maillimit_", 10), 0, "%s", line);
        char *end;
        strtod(sp + 1, &end);
        cr_assert_eq(*end, '\0', "value of %s", line);
    }
    free(t);
}

#endif
