/* SPDX-License-Identifier: MIT */
/* The policy protocol without sockets: maillimit__policy_parse() and maillimit_policy_*(). */
#define _POSIX_C_SOURCE 200809L

/* Built only when unit_tests links libmaillimit_server (maillimit_server_static defines
 * MAILLIMIT_HAVE_SERVER for its users); otherwise this file is empty. */
#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

/* 1700000040 is the start of a minute: a counter full now has retry_after 3600. */
#define T0 INT64_C(1700000040)

static const char conf[] =
    "server mailbox=100 domain=500 subscription=1000\n"
    "subscription acme subscription=10\n"
    "domain acme.example subscription=acme domain=3\n"
    "mailbox ceo@acme.example mailbox=2\n"
    "sysuser acme_web subscription=acme\n"
    "subscription beta\n"
    "domain beta.example subscription=beta\n";

static maillimit *ml;
static maillimit_policy *pol;
static char reply[MAILLIMIT_POLICY_REPLY_MAX + 1];
static maillimit_policy_outcome out;

static void setup(void)
{
    char err[256];
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(maillimit_config_load_mem(ml, conf, strlen(conf), err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(maillimit_policy_new(&pol, ml), 0);
}

static void teardown(void)
{
    maillimit_policy_free(pol);
    maillimit_free(ml);
}

TestSuite(policy, .init = setup, .fini = teardown);

/* Send one request made of "name=value" strings (NULL-terminated list); returns the reply. */
static const char *ask_at(int64_t now, ...)
{
    char buf[8192];
    size_t n = 0;
    va_list ap;
    va_start(ap, now);
    for (const char *a; (a = va_arg(ap, const char *));)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", a);
    va_end(ap);
    buf[n++] = '\n';
    size_t used, rl = sizeof reply - 1;
    maillimit_policy_outcome_init(&out, MAILLIMIT_POLICY_OUTCOME_VERSION);
    int rc = maillimit_policy_request(pol, buf, n, now, &used, reply, &rl, &out);
    cr_assert_eq(rc, 0, "rc %d (%s)", rc, out.problem ? out.problem : "");
    cr_assert_eq(used, n);
    cr_assert(rl >= 2 && rl <= MAILLIMIT_POLICY_REPLY_MAX);
    cr_assert(reply[rl - 1] == '\n' && reply[rl - 2] == '\n', "reply must end in an empty line");
    reply[rl] = '\0';
    return reply;
}
#define ask(...) ask_at(T0, __VA_ARGS__, (const char *)NULL)
#define POLICY "request=smtpd_access_policy"

static int64_t count_of(int level, const char *name)
{
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, level, name, MAILLIMIT_WINDOW_HOUR, T0, &st), 0,
                 "status of %s", name ? name : "server");
    return st.count;
}

/* ---- parser ------------------------------------------------------------------------------ */

static int parse(const char *s, size_t len, maillimit__policy_req *r, size_t *used,
                 const char **problem)
{
    return maillimit__policy_parse(s, len, r, used, problem);
}

Test(policy, parse_complete_request)
{
    const char s[] = "request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@b.example\n"
                     "instance=12.34.5\nunknown_attr=whatever\n\n";
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, sizeof s - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, sizeof s - 1);
    cr_assert_eq(r.attrs, 5);
    cr_assert_eq(r.sender.n, 11);
    cr_assert(memcmp(r.sender.p, "a@b.example", 11) == 0);
    cr_assert_eq(r.instance.n, 7);
    cr_assert_null(r.sasl_username.p);
    cr_assert_null(problem);
}

Test(policy, parse_incomplete_needs_more)
{
    const char s[] = "request=smtpd_access_policy\nsender=a@b.example\n\n";
    maillimit__policy_req r;
    size_t used = 99;
    const char *problem;
    for (size_t len = 0; len < sizeof s - 1; len++) {
        cr_assert_eq(parse(s, len, &r, &used, &problem), 0, "len %zu", len);
        cr_assert_eq(used, 0, "len %zu", len);
    }
    cr_assert_eq(parse(s, sizeof s - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, sizeof s - 1);
}

Test(policy, parse_crlf_and_empty_values)
{
    const char s[] = "request=smtpd_access_policy\r\nsasl_username=\r\nsender=x@y\r\n\r\n";
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, sizeof s - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, sizeof s - 1);
    cr_assert_eq(r.sender.n, 3);
    cr_assert_not_null(r.sasl_username.p);
    cr_assert_eq(r.sasl_username.n, 0);
}

Test(policy, parse_pipelined_requests_one_at_a_time)
{
    const char s[] = "request=smtpd_access_policy\nsender=a@b\n\nrequest=smtpd_access_policy\n\n";
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, sizeof s - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, strlen("request=smtpd_access_policy\nsender=a@b\n\n"));
    cr_assert_eq(parse(s + used, sizeof s - 1 - used, &r, &used, &problem), 0);
    cr_assert_eq(used, strlen("request=smtpd_access_policy\n\n"));
    cr_assert_null(r.sender.p);
}

Test(policy, parse_repeated_attribute_keeps_the_last)
{
    const char s[] = "sender=first@x\nsender=last@x\n\n";
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, sizeof s - 1, &r, &used, &problem), 0);
    cr_assert_eq(r.sender.n, 6);
    cr_assert(memcmp(r.sender.p, "last@x", 6) == 0);
}

static void expect_garbage(const char *s, size_t len, const char *problem_prefix)
{
    maillimit__policy_req r;
    size_t used = 99;
    const char *problem = NULL;
    cr_assert_eq(parse(s, len, &r, &used, &problem), MAILLIMIT_EFORMAT);
    cr_assert_eq(used, 0);
    cr_assert_not_null(problem);
    cr_assert(strncmp(problem, problem_prefix, strlen(problem_prefix)) == 0, "problem: %s",
              problem);
}

Test(policy, parse_refuses_garbage)
{
    expect_garbage("GET / HTTP/1.0\n\n", 16, "a line without '='");
    expect_garbage("=value\n\n", 8, "an attribute with an empty name");
    expect_garbage("sender=a\0b\n\n", 12, "NUL byte");
    /* garbage is refused as soon as its line is complete, before the empty line */
    expect_garbage("helo there\n", 11, "a line without '='");
}

Test(policy, parse_line_bound)
{
    /* a line of exactly MAILLIMIT_POLICY_LINE_MAX bytes with its newline is fine */
    char *s = malloc(MAILLIMIT_POLICY_LINE_MAX + 8);
    memcpy(s, "sender=", 7);
    memset(s + 7, 'a', MAILLIMIT_POLICY_LINE_MAX - 8);
    s[MAILLIMIT_POLICY_LINE_MAX - 1] = '\n';
    s[MAILLIMIT_POLICY_LINE_MAX] = '\n';
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, MAILLIMIT_POLICY_LINE_MAX + 1, &r, &used, &problem), 0);
    cr_assert_eq(used, MAILLIMIT_POLICY_LINE_MAX + 1);
    cr_assert_eq(r.sender.n, MAILLIMIT_POLICY_LINE_MAX - 8);
    /* one byte more is refused, complete or not */
    memset(s + 7, 'a', MAILLIMIT_POLICY_LINE_MAX - 7);
    s[MAILLIMIT_POLICY_LINE_MAX] = '\n';
    s[MAILLIMIT_POLICY_LINE_MAX + 1] = '\n';
    expect_garbage(s, MAILLIMIT_POLICY_LINE_MAX + 2, "line too long");
    expect_garbage(s, MAILLIMIT_POLICY_LINE_MAX, "line too long");
    /* but 2047 bytes without a newline may still become a good line */
    cr_assert_eq(parse(s, MAILLIMIT_POLICY_LINE_MAX - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, 0);
    free(s);
}

Test(policy, parse_attribute_bound)
{
    char s[64 * 8 + 16];
    size_t n = 0;
    for (int i = 0; i < MAILLIMIT_POLICY_ATTRS_MAX; i++)
        n += (size_t)sprintf(s + n, "a%02d=x\n", i);
    s[n] = '\n';
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, n + 1, &r, &used, &problem), 0);
    cr_assert_eq(used, n + 1);
    cr_assert_eq(r.attrs, 64);
    n += (size_t)sprintf(s + n, "a64=x\n\n");
    expect_garbage(s, n, "too many attributes");
}

Test(policy, parse_request_bound)
{
    /* 20 lines of 1000 bytes: over 16384 bytes at the 17th line */
    size_t cap = 20 * 1000 + 1;
    char *s = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < 20; i++) {
        n += (size_t)sprintf(s + n, "x%02d=", i);
        memset(s + n, 'v', 1000 - 5);
        n += 1000 - 5;
        s[n++] = '\n';
    }
    s[n++] = '\n';
    expect_garbage(s, n, "request too large");
    /* an incomplete request that already has 16384 bytes cannot complete */
    expect_garbage(s, MAILLIMIT_POLICY_REQUEST_MAX, "request too large");
    maillimit__policy_req r;
    size_t used;
    const char *problem;
    cr_assert_eq(parse(s, MAILLIMIT_POLICY_REQUEST_MAX - 1, &r, &used, &problem), 0);
    cr_assert_eq(used, 0);
    free(s);
}

/* ---- attribution ------------------------------------------------------------------------ */

Test(policy, sasl_login_with_at_is_the_mailbox)
{
    cr_assert_str_eq(ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=203.0.113.5",
                         "sasl_username=joe@acme.example", "sender=other@beta.example"),
                     "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_str_eq(out.name, "joe@acme.example");
    cr_assert_eq(out.cost, 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_MAILBOX, "joe@acme.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "beta.example"), 0);
}

Test(policy, sasl_login_without_at_takes_the_sender_domain)
{
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=203.0.113.5",
        "sasl_username=joe", "sender=joe.doe@Acme.Example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_str_eq(out.name, "joe@Acme.Example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_MAILBOX, "joe@acme.example"), 1);
}

Test(policy, sasl_login_without_sender_domain_is_a_subscription_sender)
{
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=203.0.113.5",
        "sasl_username=acme_web", "sender=");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_str_eq(out.name, "acme_web");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 1);
}

Test(policy, unauthenticated_local_client_is_script_mail_of_the_domain)
{
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=127.0.0.1",
        "sasl_username=", "sender=www-data@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(out.name, "acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    ask(POLICY, "protocol_state=RCPT", "instance=2", "client_address=::1",
        "sender=www-data@acme.example");
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 2);
}

Test(policy, inbound_mail_passes_uncounted)
{
    cr_assert_str_eq(ask(POLICY, "protocol_state=RCPT", "instance=1",
                         "client_address=198.51.100.7", "sasl_username=",
                         "sender=someone@acme.example"),
                     "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(out.level, -1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 0);
}

Test(policy, local_bounce_without_sender_passes)
{
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=127.0.0.1", "sender=");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_NO_SENDER);
}

Test(policy, exempt_network_passes_even_when_authenticated)
{
    cr_assert_eq(maillimit_policy_network_add(pol, MAILLIMIT_POLICY_NETLIST_EXEMPT,
                                              "192.0.2.0/24"), 0);
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=192.0.2.200",
        "sasl_username=joe@acme.example", "sender=joe@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_EXEMPT);
    ask(POLICY, "protocol_state=RCPT", "instance=2", "client_address=192.0.3.1",
        "sasl_username=joe@acme.example", "sender=joe@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_MAILBOX, "joe@acme.example"), 1);
}

Test(policy, local_networks_are_configurable_and_match_mapped_addresses)
{
    cr_assert_eq(maillimit_policy_network_clear(pol, MAILLIMIT_POLICY_NETLIST_LOCAL), 0);
    ask(POLICY, "protocol_state=RCPT", "instance=1", "client_address=127.0.0.1",
        "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(maillimit_policy_network_add(pol, MAILLIMIT_POLICY_NETLIST_LOCAL, "10.1.0.0/16"),
                 0);
    cr_assert_eq(maillimit_policy_network_add(pol, MAILLIMIT_POLICY_NETLIST_LOCAL,
                                              "[2001:db8::]/32"), 0);
    ask(POLICY, "protocol_state=RCPT", "instance=2", "client_address=10.1.255.3",
        "sender=a@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    ask(POLICY, "protocol_state=RCPT", "instance=3", "client_address=::ffff:10.1.0.9",
        "sender=a@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    ask(POLICY, "protocol_state=RCPT", "instance=4", "client_address=2001:db8:ffff::1",
        "sender=a@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    ask(POLICY, "protocol_state=RCPT", "instance=5", "client_address=10.2.0.1",
        "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 3);
}

Test(policy, stages_without_a_message_and_other_requests_pass)
{
    ask(POLICY, "protocol_state=CONNECT", "client_address=127.0.0.1", "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_STAGE);
    ask(POLICY, "protocol_state=EHLO", "client_address=127.0.0.1", "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_STAGE);
    ask("request=junk", "protocol_state=RCPT", "client_address=127.0.0.1",
        "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_NOT_POLICY);
    ask("protocol_state=RCPT", "client_address=127.0.0.1", "sender=a@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_NOT_POLICY);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 0);
}

/* ---- counting ---------------------------------------------------------------------------- */

Test(policy, a_message_counts_once_whatever_the_hooks)
{
    const char *states[] = { "protocol_state=MAIL", "protocol_state=RCPT", "protocol_state=RCPT",
                             "protocol_state=DATA", "protocol_state=END-OF-MESSAGE" };
    for (int i = 0; i < 5; i++) {
        ask(POLICY, states[i], "instance=7d2f.5f8e1b2c.6c1e9.0", "client_address=127.0.0.1",
            "sender=www@acme.example", "recipient_count=2");
        cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
        cr_assert_eq(out.repeated, i > 0, "request %d", i);
        cr_assert_eq(out.cost, i == 0 ? 1 : 0);
    }
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 1);
    ask(POLICY, "protocol_state=RCPT", "instance=7d2f.5f8e1b2c.6c1e9.1",
        "client_address=127.0.0.1", "sender=www@acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 2);
}

Test(policy, requests_without_instance_are_counted_each)
{
    ask(POLICY, "protocol_state=RCPT", "client_address=127.0.0.1", "sender=w@acme.example");
    ask(POLICY, "protocol_state=RCPT", "client_address=127.0.0.1", "sender=w@acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 2);
}

Test(policy, deny_defers_with_level_entity_limit_and_retry)
{
    char inst[32];
    for (int i = 0; i < 3; i++) {
        snprintf(inst, sizeof inst, "instance=m%d", i);
        cr_assert_str_eq(ask(POLICY, "protocol_state=RCPT", inst, "client_address=127.0.0.1",
                             "sender=www@acme.example"),
                         "action=DUNNO\n\n");
    }
    cr_assert_str_eq(ask(POLICY, "protocol_state=RCPT", "instance=m3",
                         "client_address=127.0.0.1", "sender=www@acme.example"),
                     "action=450 4.7.0 Message limit reached: domain acme.example reached its "
                     "limit of 3 messages per hour; retry in 60 minutes\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_DENY);
    cr_assert_eq(out.deny_level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_eq(out.deny_window, MAILLIMIT_WINDOW_HOUR);
    cr_assert_eq(out.limit, 3);
    cr_assert_eq(out.count, 3);
    cr_assert_eq(out.retry_after, 3600);
    /* the same message again, 90 s later, at DATA: the same answer, nothing counted */
    cr_assert_str_eq(ask_at(T0 + 90, POLICY, "protocol_state=DATA", "instance=m3",
                            "client_address=127.0.0.1", "sender=www@acme.example",
                            (const char *)NULL),
                     "action=450 4.7.0 Message limit reached: domain acme.example reached its "
                     "limit of 3 messages per hour; retry in 59 minutes\n\n");
    cr_assert_eq(out.repeated, 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 3);
}

Test(policy, deny_names_the_mailbox_and_the_subscription)
{
    ask(POLICY, "instance=a", "client_address=203.0.113.1", "sasl_username=ceo@acme.example",
        "sender=ceo@acme.example");
    ask(POLICY, "instance=b", "client_address=203.0.113.1", "sasl_username=ceo@acme.example",
        "sender=ceo@acme.example");
    cr_assert_str_eq(ask(POLICY, "instance=c", "client_address=203.0.113.1",
                         "sasl_username=ceo@acme.example", "sender=ceo@acme.example"),
                     "action=450 4.7.0 Message limit reached: mailbox ceo@acme.example reached "
                     "its limit of 2 messages per hour; retry in 60 minutes\n\n");
    /* the subscription limit (10) blocks a domain under it */
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme",
                                     MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_HOUR, 2), 0);
    cr_assert_str_eq(ask(POLICY, "instance=d", "client_address=127.0.0.1",
                         "sender=x@acme.example"),
                     "action=450 4.7.0 Message limit reached: the subscription of domain "
                     "acme.example reached its limit of 2 messages per hour; retry in 60 "
                     "minutes\n\n");
    cr_assert_str_eq(ask(POLICY, "instance=e", "client_address=203.0.113.1",
                         "sasl_username=acme_web", "sender="),
                     "action=450 4.7.0 Message limit reached: the subscription of user acme_web "
                     "reached its limit of 2 messages per hour; retry in 60 minutes\n\n");
}

Test(policy, reject_and_hold_actions)
{
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 0, NULL), 0);
    for (int i = 0; i < 3; i++) {
        char inst[32];
        snprintf(inst, sizeof inst, "instance=r%d", i);
        ask(POLICY, inst, "client_address=127.0.0.1", "sender=www@acme.example");
    }
    cr_assert_str_eq(ask(POLICY, "instance=r3", "client_address=127.0.0.1",
                         "sender=www@acme.example"),
                     "action=550 5.7.1 Message limit reached: domain acme.example reached its "
                     "limit of 3 messages per hour; retry in 60 minutes\n\n");
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_DEFER, 451, "4.7.1"), 0);
    cr_assert_str_eq(ask(POLICY, "instance=r4", "client_address=127.0.0.1",
                         "sender=www@acme.example"),
                     "action=451 4.7.1 Message limit reached: domain acme.example reached its "
                     "limit of 3 messages per hour; retry in 60 minutes\n\n");
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_HOLD, 0, NULL), 0);
    cr_assert_str_eq(ask(POLICY, "instance=r5", "client_address=127.0.0.1",
                         "sender=www@acme.example"),
                     "action=HOLD Message limit reached: domain acme.example reached its "
                     "limit of 3 messages per hour; retry in 60 minutes\n\n");
}

Test(policy, action_validation)
{
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_DEFER, 550, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_DEFER, 0, "5.7.1"),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 450, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 554, "5.7.1x"),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_HOLD, 450, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, 7, 0, NULL), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(NULL, 0, 0, NULL), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 554, "5.7.100"),
                 0);
}

Test(policy, recipients_unit_counts_rcpt_requests_then_the_rest_at_data)
{
    cr_assert_eq(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS), 0);
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example",
                                     MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_HOUR, 10), 0);
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme",
                                     MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_HOUR, 100), 0);
    /* MAIL: nothing known yet */
    ask(POLICY, "protocol_state=MAIL", "instance=q1", "client_address=127.0.0.1",
        "sender=w@acme.example");
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_STAGE);
    /* three RCPT requests: one unit each */
    for (int i = 0; i < 3; i++) {
        ask(POLICY, "protocol_state=RCPT", "instance=q1", "client_address=127.0.0.1",
            "sender=w@acme.example", "recipient_count=0");
        cr_assert_eq(out.cost, 1);
        cr_assert_eq(out.repeated, 0);
    }
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 3);
    /* DATA with the 3 recipients: all counted already */
    ask(POLICY, "protocol_state=DATA", "instance=q1", "client_address=127.0.0.1",
        "sender=w@acme.example", "recipient_count=3");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.cost, 0);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 3);
    /* a message seen only at END-OF-MESSAGE: its 5 recipients at once */
    ask(POLICY, "protocol_state=END-OF-MESSAGE", "instance=q2", "client_address=127.0.0.1",
        "sender=w@acme.example", "recipient_count=5");
    cr_assert_eq(out.cost, 5);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 8);
    /* 3 more do not fit in the 2 left: the text says so */
    cr_assert_str_eq(ask(POLICY, "protocol_state=DATA", "instance=q3", "client_address=127.0.0.1",
                         "sender=w@acme.example", "recipient_count=3"),
                     "action=450 4.7.0 Recipient limit reached: domain acme.example sent 8 of "
                     "its limit of 10 recipients per hour, this message has 3; retry in 60 "
                     "minutes\n\n");
    /* at END-OF-MESSAGE the same message gets the same answer */
    ask(POLICY, "protocol_state=END-OF-MESSAGE", "instance=q3", "client_address=127.0.0.1",
        "sender=w@acme.example", "recipient_count=3");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_DENY);
    cr_assert_eq(out.repeated, 1);
    /* more recipients than the limit can ever take */
    cr_assert_str_eq(ask(POLICY, "protocol_state=DATA", "instance=q4", "client_address=127.0.0.1",
                         "sender=w@acme.example", "recipient_count=11"),
                     "action=450 4.7.0 Recipient limit reached: domain acme.example may send at "
                     "most 10 recipients per hour, this message has 11\n\n");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 8);
}

Test(policy, zero_limit_and_sendmail_off_texts)
{
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, "beta.example",
                                     MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_HOUR, 0), 0);
    cr_assert_str_eq(ask(POLICY, "instance=z", "client_address=127.0.0.1",
                         "sender=a@beta.example"),
                     "action=450 4.7.0 Sending not allowed: domain beta.example has a limit of 0 "
                     "messages per hour\n\n");
    cr_assert_eq(out.retry_after, -1);
    cr_assert_eq(maillimit_flag_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme",
                                    MAILLIMIT_FLAG_SENDMAIL, 0), 0);
    cr_assert_str_eq(ask(POLICY, "instance=s", "client_address=203.0.113.1",
                         "sasl_username=acme_web", "sender="),
                     "action=450 4.7.0 Sending not allowed: mail from scripts is disabled for "
                     "the subscription of user acme_web\n\n");
}

Test(policy, deny_text_durations_and_windows)
{
    char b[600];
    maillimit__policy_deny_text(b, sizeof b, MAILLIMIT_UNIT_MESSAGES, MAILLIMIT_LEVEL_MAILBOX,
                                "a@b.example", MAILLIMIT_REASON_LIMIT, MAILLIMIT_LEVEL_SERVER,
                                MAILLIMIT_WINDOW_DAY, 1, 1, 1, 1, 0);
    cr_assert_str_eq(b, "Message limit reached: this server reached its limit of 1 message per "
                        "day; retry in 1 second");
    maillimit__policy_deny_text(b, sizeof b, MAILLIMIT_UNIT_MESSAGES, MAILLIMIT_LEVEL_MAILBOX,
                                "a@b.example", MAILLIMIT_REASON_LIMIT, MAILLIMIT_LEVEL_DOMAIN,
                                MAILLIMIT_WINDOW_DAY, 50, 50, 1, 7201, 0);
    cr_assert_str_eq(b, "Message limit reached: domain b.example reached its limit of 50 "
                        "messages per day; retry in 3 hours");
    maillimit__policy_deny_text(b, sizeof b, MAILLIMIT_UNIT_MESSAGES, MAILLIMIT_LEVEL_SUBSCRIPTION,
                                "acme", MAILLIMIT_REASON_LIMIT, MAILLIMIT_LEVEL_SUBSCRIPTION,
                                MAILLIMIT_WINDOW_HOUR, 5, 5, 1, 61, 1);
    cr_assert_str_eq(b, "Message limit reached: subscription acme reached its limit of 5 "
                        "messages per hour; retry in 2 minutes");
    /* truncation keeps the buffer terminated */
    size_t n = maillimit__policy_deny_text(b, 10, MAILLIMIT_UNIT_MESSAGES, MAILLIMIT_LEVEL_DOMAIN,
                                           "b.example", MAILLIMIT_REASON_LIMIT,
                                           MAILLIMIT_LEVEL_DOMAIN, MAILLIMIT_WINDOW_HOUR, 5, 5,
                                           1, 61, 0);
    cr_assert_eq(n, 9);
    cr_assert_str_eq(b, "Message l");
}

Test(policy, instances_are_remembered_for_an_hour)
{
    ask(POLICY, "instance=keep", "client_address=127.0.0.1", "sender=w@beta.example");
    /* many other messages in between */
    char inst[40];
    for (int i = 0; i < 5000; i++) {
        snprintf(inst, sizeof inst, "instance=other.%d", i);
        ask(POLICY, inst, "client_address=127.0.0.1", "sender=w@beta.example");
    }
    ask_at(T0 + 3600, POLICY, "instance=keep", "client_address=127.0.0.1",
           "sender=w@beta.example", (const char *)NULL);
    cr_assert_eq(out.repeated, 1);
    /* unused for more than an hour: a new message */
    ask_at(T0 + 7201, POLICY, "instance=keep", "client_address=127.0.0.1",
           "sender=w@beta.example", (const char *)NULL);
    cr_assert_eq(out.repeated, 0);
    cr_assert_eq(out.cost, 1);
}

Test(policy, the_table_forgets_the_oldest_when_full)
{
    ask(POLICY, "instance=first", "client_address=127.0.0.1", "sender=w@beta.example");
    char inst[40];
    for (int i = 0; i < 70000; i++) {
        snprintf(inst, sizeof inst, "instance=fill.%d", i);
        ask(POLICY, inst, "client_address=127.0.0.1", "sender=w@beta.example");
    }
    ask(POLICY, "instance=first", "client_address=127.0.0.1", "sender=w@beta.example");
    cr_assert_eq(out.repeated, 0, "65536 messages later the first one is forgotten");
    ask(POLICY, "instance=fill.69999", "client_address=127.0.0.1", "sender=w@beta.example");
    cr_assert_eq(out.repeated, 1, "the newest is remembered");
}

Test(policy, internal_errors_fail_open)
{
    /* a login the core refuses (a space): DUNNO, result FAILOPEN, nothing counted */
    cr_assert_str_eq(ask(POLICY, "instance=f", "client_address=203.0.113.1",
                         "sasl_username=bad user@acme.example", "sender=x@acme.example"),
                     "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_FAILOPEN);
    cr_assert_eq(out.error, MAILLIMIT_EINVAL);
    /* a login too long for a name */
    char longname[600] = "sasl_username=";
    memset(longname + 14, 'a', 500);
    strcpy(longname + 514, "@acme.example");
    ask(POLICY, "instance=g", "client_address=203.0.113.1", longname, "sender=x@acme.example");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_FAILOPEN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 0);
}

Test(policy, request_api_errors)
{
    const char r[] = "request=smtpd_access_policy\n\n";
    size_t used = 5, rl = MAILLIMIT_POLICY_REPLY_MAX - 1;
    cr_assert_eq(maillimit_policy_request(pol, r, sizeof r - 1, T0, &used, reply, &rl, NULL),
                 MAILLIMIT_ENOBUFS);
    cr_assert_eq(rl, MAILLIMIT_POLICY_REPLY_MAX);
    cr_assert_eq(used, 0);
    rl = sizeof reply;
    cr_assert_eq(maillimit_policy_request(NULL, r, sizeof r - 1, T0, &used, reply, &rl, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_request(pol, r, sizeof r - 1, -1, &used, reply, &rl, NULL),
                 MAILLIMIT_EINVAL);
    maillimit_policy_outcome bad;
    memset(&bad, 0, sizeof bad);
    cr_assert_eq(maillimit_policy_request(pol, r, sizeof r - 1, T0, &used, reply, &rl, &bad),
                 MAILLIMIT_EINVAL);
    /* incomplete: 0, nothing consumed, no reply */
    cr_assert_eq(maillimit_policy_request(pol, r, sizeof r - 2, T0, &used, reply, &rl, NULL), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(rl, 0);
    /* garbage: EFORMAT with the problem */
    rl = sizeof reply;
    maillimit_policy_outcome_init(&out, MAILLIMIT_POLICY_OUTCOME_VERSION);
    cr_assert_eq(maillimit_policy_request(pol, "hello\n\n", 7, T0, &used, reply, &rl, &out),
                 MAILLIMIT_EFORMAT);
    cr_assert_not_null(out.problem);
    cr_assert_eq(maillimit_policy_new(NULL, ml), MAILLIMIT_EINVAL);
    maillimit_policy *p2 = (maillimit_policy *)1;
    cr_assert_eq(maillimit_policy_new(&p2, NULL), MAILLIMIT_EINVAL);
    cr_assert_null(p2);
    maillimit_policy_free(NULL);
}

/* Local submissions that name their submitter (Exim's caller_uid): root (uid 0) is made a
 * system user of beta, daemon (uid 1) a local_exempt_users login, nobody (uid 65534) a
 * script user; other uids are unattributed. */
Test(policy, caller_uid_attributes_local_submissions)
{
    char *exempt[] = { "daemon" }, *script[] = { "nobody" };
    maillimit__milter_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ml = ml;
    ctx.policy = pol;
    ctx.exempt_users = exempt;
    ctx.nexempt_users = 1;
    ctx.script_users = script;
    ctx.nscript_users = 1;
    cr_assert_eq(maillimit_sysuser_add(ml, "root", "beta"), 0);
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta",
                                     MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_HOUR, 2), 0);
#define LOCAL(uid, inst, sender)                                                              \
    ask(POLICY, "protocol_state=END-OF-MESSAGE", "instance=" inst, "caller_uid=" uid,          \
        "sender=" sender, "recipient_count=1")
    /* without the settings, caller_uid is not looked at: no client address, so inbound */
    cr_assert_str_eq(LOCAL("0", "e0", "root@mx.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    maillimit__policy_local_set(pol, &ctx);
    /* root: system user of beta (limit 2), whatever its sender */
    cr_assert_str_eq(LOCAL("0", "e1", "root@mx.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_str_eq(out.name, "beta");
    cr_assert_str_eq(LOCAL("0", "e2", "info@acme.example"), "action=DUNNO\n\n");
    cr_assert_str_eq(out.name, "beta");
    cr_assert_str_eq(LOCAL("0", "e3", "root@mx.example"),
                     "action=450 4.7.0 Message limit reached: subscription beta reached its "
                     "limit of 2 messages per hour; retry in 60 minutes\n\n");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "beta"), 2);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 0);
    /* the same message asked again is the same answer, not a new count */
    cr_assert_str_eq(LOCAL("0", "e1", "root@mx.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.repeated, 1);
    /* daemon: exempt, not counted */
    cr_assert_str_eq(LOCAL("1", "e4", "daemon@mx.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(out.pass, MAILLIMIT_POLICY_PASS_EXEMPT);
    /* nobody: script user, charged to the sender's domain */
    cr_assert_str_eq(LOCAL("65534", "e5", "contact@ACME.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(out.name, "acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    /* a script user with no sender domain, an unknown uid, a uid that is not a number:
     * unattributed (allowed, reason UNKNOWN, not charged to anyone) */
    cr_assert_str_eq(LOCAL("65534", "e6", ""), "action=DUNNO\n\n");
    cr_assert_eq(out.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_str_eq(LOCAL("3999999999", "e7", "x@acme.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_str_eq(LOCAL("12x", "e8", "x@acme.example"), "action=DUNNO\n\n");
    cr_assert_eq(out.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
#undef LOCAL
    maillimit__policy_local_set(pol, NULL);
    maillimit__milter_ctx_clear_sysusers(&ctx);
}

Test(policy, cidr_parsing)
{
    uint8_t a[16];
    unsigned p;
    cr_assert_eq(maillimit__cidr_parse("127.0.0.0/8", a, &p), 0);
    cr_assert_eq(p, 104);
    cr_assert_eq(a[10], 0xff);
    cr_assert_eq(a[12], 127);
    cr_assert_eq(maillimit__cidr_parse("10.1.2.3/16", a, &p), 0);
    cr_assert(a[14] == 0 && a[15] == 0, "host bits cleared");
    cr_assert_eq(maillimit__cidr_parse("::1", a, &p), 0);
    cr_assert_eq(p, 128);
    cr_assert_eq(maillimit__cidr_parse("[2001:db8::]/32", a, &p), 0);
    cr_assert_eq(p, 32);
    cr_assert_eq(maillimit__cidr_parse("1.2.3.4/33", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("::/129", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("1.2.3/8", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("1.2.3.4/", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("1.2.3.4/x", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit__cidr_parse("localhost", a, &p), MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_network_add(pol, MAILLIMIT_POLICY_NETLIST_EXEMPT, "nonsense"),
                 MAILLIMIT_EINVAL);
    cr_assert_eq(maillimit_policy_network_add(pol, 5, "1.2.3.4"), MAILLIMIT_EINVAL);
}

#else
typedef int maillimit_test_no_server_layer;
#endif /* MAILLIMIT_HAVE_SERVER */
