/* SPDX-License-Identifier: MIT */
/* The milter protocol without sockets: maillimit__milter_frame(), maillimit__milter_packet()
 * and maillimit__milter_local_attribute(). Packets are built by hand (a 4-byte big-endian
 * length of the command byte and the data, the command byte, the data) and the replies are
 * compared byte for byte. */
#define _POSIX_C_SOURCE 200809L

/* Built only when unit_tests links libmaillimit_server (maillimit_server_static defines
 * MAILLIMIT_HAVE_SERVER for its users); otherwise this file is empty. */
#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

/* 1700000040 is the start of a minute: a counter full now has retry_after 3600. */
#define T0 INT64_C(1700000040)

/* acme: subscription limit 3 per hour, with a system user; beta: domain limit 2 per hour. */
static const char conf[] = "server mailbox=100 domain=500 subscription=1000\n"
                           "subscription acme subscription=3\n"
                           "domain acme.example subscription=acme\n"
                           "sysuser acme_web subscription=acme\n"
                           "sysuser www-data subscription=acme\n"
                           "subscription beta\n"
                           "domain beta.example subscription=beta domain=2\n";

static maillimit *ml;
static maillimit_policy *pol;
static maillimit__milter_ctx ctx;
static char *script_users[] = { "www-data" };
static char *exempt_users[] = { "backup" };
static maillimit__milter_session loc, smtp;
static char reply[MAILLIMIT__MILTER_REPLY_MAX];
static size_t rl;
static maillimit__milter_event ev;

static void setup(void)
{
    char err[256];
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(maillimit_config_load_mem(ml, conf, strlen(conf), err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(maillimit_policy_new(&pol, ml), 0);
    memset(&ctx, 0, sizeof ctx);
    ctx.ml = ml;
    ctx.policy = pol;
    ctx.local_action = MAILLIMIT__LOCAL_HOLD;
    snprintf(ctx.origin, sizeof ctx.origin, "mx.example");
    ctx.script_users = script_users;
    ctx.nscript_users = 1;
    ctx.exempt_users = exempt_users;
    ctx.nexempt_users = 1;
    maillimit__milter_session_init(&loc, 1);
    maillimit__milter_session_init(&smtp, 0);
}

static void teardown(void)
{
    maillimit__milter_ctx_free(&ctx);
    maillimit_policy_free(pol);
    maillimit_free(ml);
}

TestSuite(milter, .init = setup, .fini = teardown);

/* ---- helpers ------------------------------------------------------------------------------ */

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* A packet: length (command byte + data), command, data. Returns its size. */
static size_t pkt(char *buf, char cmd, const void *data, size_t n)
{
    put32(buf, (uint32_t)(n + 1));
    buf[4] = cmd;
    if (n)
        memcpy(buf + 5, data, n);
    return n + 5;
}

/* Hand one packet to the session; a success must consume it whole. */
static int feed_at(maillimit__milter_session *s, int64_t now, char cmd, const void *data,
                   size_t n)
{
    static char buf[8192];
    size_t len = pkt(buf, cmd, data, n), used = 12345;
    rl = 12345;
    memset(reply, 0xee, sizeof reply);
    int rc = maillimit__milter_packet(&ctx, s, buf, len, now, &used, reply, &rl, &ev);
    if (rc == 0) {
        cr_assert_eq(used, len, "consumed %zu of %zu", used, len);
        cr_assert_null(ev.problem);
    } else {
        cr_assert_not_null(ev.problem);
        cr_assert_eq(rl, 0);
    }
    cr_assert(rl <= MAILLIMIT__MILTER_REPLY_MAX);
    return rc;
}
/* lit: a string literal; its terminating NUL is part of the data */
#define feed(s, cmd, lit) feed_at(s, T0, cmd, lit, sizeof lit)
#define feed0(s, cmd) feed_at(s, T0, cmd, NULL, 0)

static void assert_reply(const char *want, size_t n)
{
    if (rl != n || memcmp(reply, want, n) != 0) {
        char got[3 * 64 + 1] = "", exp[3 * 64 + 1] = "";
        for (size_t i = 0; i < rl && i < 64; i++)
            sprintf(got + 3 * i, "%02x ", (unsigned char)reply[i]);
        for (size_t i = 0; i < n && i < 64; i++)
            sprintf(exp + 3 * i, "%02x ", (unsigned char)want[i]);
        cr_assert_fail("reply of %zu bytes: %s\nexpected %zu bytes: %s", rl, got, n, exp);
    }
}
#define REPLY(lit) assert_reply(lit, sizeof lit - 1)
#define NO_REPLY() cr_assert_eq(rl, 0, "a reply of %zu bytes", rl)
#define CONTINUE() REPLY("\0\0\0\1c")

/* The reply cmd with a NUL-terminated text as data, followed by `tail` (tn bytes). */
static void assert_text_reply(char cmd, const char *text, const char *tail, size_t tn)
{
    char want[MAILLIMIT__MILTER_REPLY_MAX];
    size_t n = pkt(want, cmd, text, strlen(text) + 1);
    memcpy(want + n, tail, tn);
    assert_reply(want, n + tn);
}

static void negotiate(maillimit__milter_session *s, uint32_t version, uint32_t actions,
                      uint32_t proto)
{
    char d[12];
    put32(d, version);
    put32(d + 4, actions);
    put32(d + 8, proto);
    cr_assert_eq(feed_at(s, T0, 'O', d, sizeof d), 0);
}
/* what Postfix 3 offers */
#define NEGOTIATE(s) negotiate(s, 6, 0x1ff, 0x1fffff)

static int64_t count_of(int level, const char *name)
{
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, level, name, MAILLIMIT_WINDOW_HOUR, T0, &st), 0,
                 "status of %s", name ? name : "server");
    return st.count;
}
#define SERVER_COUNT() count_of(MAILLIMIT_LEVEL_SERVER, NULL)

/* One local message: MAIL <sender> (no ESMTP arguments) and END-OF-MESSAGE. */
static void local_message(const char *mail_arg)
{
    cr_assert_eq(feed_at(&loc, T0, 'M', mail_arg, strlen(mail_arg) + 1), 0);
    if (loc.proto & 0x4000) /* SMFIP_NR_MAIL */
        NO_REPLY();
    else
        CONTINUE();
    cr_assert_eq(ev.decided, 0);
    cr_assert_eq(feed0(&loc, 'E'), 0);
    cr_assert_eq(ev.decided, 1);
    cr_assert_eq(ev.cmd, 'E');
}

#define SUB_TEXT                                                                               \
    "Message limit reached: the subscription of user acme_web reached its limit of 3 "        \
    "messages per hour; retry in 60 minutes"

/* acme_web@mx.example sends 3 messages (the limit); returns with the 4th ready to go. */
static void fill_acme(void)
{
    NEGOTIATE(&loc);
    for (int i = 0; i < 3; i++) {
        local_message("<acme_web@mx.example>");
        cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
        CONTINUE();
    }
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 3);
}

/* ---- framing ------------------------------------------------------------------------------ */

Test(milter, frame_incomplete_then_complete)
{
    const char p[] = "\0\0\0\x06M<a@b>"; /* length 6: 'M' and 5 bytes */
    char cmd = 0;
    const char *payload = NULL, *problem = "x";
    size_t plen = 99, used = 99;
    for (size_t len = 0; len < sizeof p - 1; len++) {
        cr_assert_eq(maillimit__milter_frame(p, len, &cmd, &payload, &plen, &used, &problem), 0);
        cr_assert_eq(used, 0, "len %zu", len);
        cr_assert_null(problem);
    }
    cr_assert_eq(maillimit__milter_frame(p, sizeof p - 1, &cmd, &payload, &plen, &used,
                                         &problem), 0);
    cr_assert_eq(used, 10);
    cr_assert_eq(cmd, 'M');
    cr_assert_eq(payload, p + 5);
    cr_assert_eq(plen, 5);
    /* a second packet behind it is not touched */
    const char two[] = "\0\0\0\x01Q\0\0\0\x01K";
    cr_assert_eq(maillimit__milter_frame(two, sizeof two - 1, &cmd, &payload, &plen, &used,
                                         &problem), 0);
    cr_assert_eq(used, 5);
    cr_assert_eq(cmd, 'Q');
    cr_assert_eq(plen, 0);
}

Test(milter, frame_length_zero_and_over_the_maximum)
{
    char cmd;
    const char *payload, *problem = NULL;
    size_t plen, used = 99;
    cr_assert_eq(maillimit__milter_frame("\0\0\0\0Q", 5, &cmd, &payload, &plen, &used, &problem),
                 MAILLIMIT_EFORMAT);
    cr_assert_eq(used, 0);
    cr_assert_str_eq(problem, "a milter packet of length 0");
    /* 262145 = 0x00040001: refused as soon as the length is read */
    used = 99;
    cr_assert_eq(maillimit__milter_frame("\0\x04\0\x01", 4, &cmd, &payload, &plen, &used,
                                         &problem), MAILLIMIT_EFORMAT);
    cr_assert_eq(used, 0);
    cr_assert_str_eq(problem, "a milter packet longer than 262144 bytes");
    cr_assert_eq(maillimit__milter_frame("\xff\xff\xff\xffQ", 5, &cmd, &payload, &plen, &used,
                                         &problem), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(problem, "a milter packet longer than 262144 bytes");
}

Test(milter, frame_of_exactly_the_maximum)
{
    size_t len = 4 + 262144;
    char *p = malloc(len);
    cr_assert_not_null(p);
    memset(p, 'x', len);
    put32(p, 262144);
    p[4] = 'B';
    char cmd;
    const char *payload, *problem;
    size_t plen, used = 99;
    cr_assert_eq(maillimit__milter_frame(p, len - 1, &cmd, &payload, &plen, &used, &problem), 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(maillimit__milter_frame(p, len, &cmd, &payload, &plen, &used, &problem), 0);
    cr_assert_eq(used, len);
    cr_assert_eq(plen, 262143);
    cr_assert_eq(cmd, 'B');
    free(p);
}

Test(milter, packet_incomplete_consumes_nothing)
{
    char buf[64];
    size_t n = pkt(buf, 'O', "\0\0\0\6\0\0\1\xff\0\x1f\xff\xff", 12);
    for (size_t len = 0; len < n; len++) {
        size_t used = 99;
        rl = 99;
        cr_assert_eq(maillimit__milter_packet(&ctx, &smtp, buf, len, T0, &used, reply, &rl, &ev),
                     0);
        cr_assert_eq(used, 0, "len %zu", len);
        cr_assert_eq(rl, 0);
        cr_assert_eq(ev.decided, 0);
        cr_assert_null(ev.problem);
    }
    cr_assert_eq(smtp.negotiated, 0);
    /* two packets at once: only the first is handled */
    n += pkt(buf + n, 'Q', NULL, 0);
    size_t used = 0;
    cr_assert_eq(maillimit__milter_packet(&ctx, &smtp, buf, n, T0, &used, reply, &rl, &ev), 0);
    cr_assert_eq(used, 17);
    cr_assert_eq(ev.cmd, 'O');
    cr_assert_eq(ev.quit, 0);
    cr_assert_eq(maillimit__milter_packet(&ctx, &smtp, buf + used, n - used, T0, &used, reply,
                                          &rl, &ev), 0);
    cr_assert_eq(used, 5);
    cr_assert_eq(ev.quit, 1);
}

Test(milter, packet_bad_lengths_are_eformat)
{
    size_t used = 99;
    cr_assert_eq(maillimit__milter_packet(&ctx, &smtp, "\0\0\0\0O", 5, T0, &used, reply, &rl,
                                          &ev), MAILLIMIT_EFORMAT);
    cr_assert_eq(used, 0);
    cr_assert_eq(rl, 0);
    cr_assert_str_eq(ev.problem, "a milter packet of length 0");
    cr_assert_eq(maillimit__milter_packet(&ctx, &smtp, "\0\x10\0\0", 4, T0, &used, reply, &rl,
                                          &ev), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a milter packet longer than 262144 bytes");
}

/* ---- negotiation ------------------------------------------------------------------------- */

Test(milter, optneg_v6_everything_offered_smtp)
{
    NEGOTIATE(&smtp);
    /* version 6; actions QUARANTINE|SETSYMLIST; protocol NOHELO|NOBODY|NOHDRS|NOEOH|NR_HDR|
     * NOUNKNOWN|NODATA|NR_CONN|NR_HELO|NR_MAIL|NR_RCPT|NR_DATA|NR_UNKN|NR_EOH|NR_BODY; then
     * the macros of stage 2 (MAIL) and 5 (END-OF-MESSAGE) */
    REPLY("\0\0\0\x25O"
          "\0\0\0\x06"
          "\0\0\x01\x20"
          "\0\x0f\xf3\xf2"
          "\0\0\0\x02{auth_authen}\0"
          "\0\0\0\x05i\0");
    cr_assert_eq(ev.cmd, 'O');
    cr_assert_eq(smtp.negotiated, 1);
    cr_assert_eq(smtp.version, 6);
    cr_assert_eq(smtp.actions, 0x120);
    cr_assert_eq(smtp.proto, 0xff3f2);
}

Test(milter, optneg_v6_everything_offered_local_adds_noconnect)
{
    NEGOTIATE(&loc);
    REPLY("\0\0\0\x25O"
          "\0\0\0\x06"
          "\0\0\x01\x20"
          "\0\x0f\xf3\xf3"
          "\0\0\0\x02{auth_authen}\0"
          "\0\0\0\x05i\0");
    cr_assert_eq(loc.proto, 0xff3f3);
}

Test(milter, optneg_v2_few_flags)
{
    /* version 2: ADDHDRS..QUARANTINE offered, NOCONNECT..NOEOH offered */
    negotiate(&smtp, 2, 0x3f, 0x7f);
    REPLY("\0\0\0\x0dO"
          "\0\0\0\x02"
          "\0\0\0\x20"
          "\0\0\0\x72");
    negotiate(&loc, 2, 0x3f, 0x7f);
    REPLY("\0\0\0\x0dO"
          "\0\0\0\x02"
          "\0\0\0\x20"
          "\0\0\0\x73");
    /* nothing wanted offered: all zero */
    negotiate(&smtp, 2, 0x01, 0x0c);
    REPLY("\0\0\0\x0dO"
          "\0\0\0\x02"
          "\0\0\0\0"
          "\0\0\0\0");
    /* version 6 without SETSYMLIST on offer: no macro lists */
    negotiate(&smtp, 6, 0x20, 0);
    REPLY("\0\0\0\x0dO"
          "\0\0\0\x06"
          "\0\0\0\x20"
          "\0\0\0\0");
}

Test(milter, optneg_newer_version_is_answered_as_6)
{
    negotiate(&smtp, 7, 0x120, 0x1000);
    REPLY("\0\0\0\x25O"
          "\0\0\0\x06"
          "\0\0\x01\x20"
          "\0\0\x10\0"
          "\0\0\0\x02{auth_authen}\0"
          "\0\0\0\x05i\0");
    cr_assert_eq(smtp.version, 6);
}

Test(milter, optneg_errors)
{
    cr_assert_eq(feed_at(&smtp, T0, 'O', "\0\0\0\1\0\0\0\0\0\0\0\0", 12), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "milter protocol version below 2");
    cr_assert_eq(feed_at(&smtp, T0, 'O', "\0\0\0\6\0\0\0\0\0\0\0", 11), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a short SMFIC_OPTNEG packet");
    cr_assert_eq(smtp.negotiated, 0);
    /* longer than 12 bytes is fine (the extra bytes are ignored) */
    cr_assert_eq(feed_at(&smtp, T0, 'O', "\0\0\0\2\0\0\0\x20\0\0\0\0junk", 16), 0);
    REPLY("\0\0\0\x0dO\0\0\0\x02\0\0\0\x20\0\0\0\0");
}

Test(milter, first_packet_must_be_optneg)
{
    cr_assert_eq(feed(&smtp, 'M', "<a@b.example>"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "the first milter packet is not SMFIC_OPTNEG");
    cr_assert_eq(ev.cmd, 'M');
    cr_assert_eq(feed0(&loc, 'Q'), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "the first milter packet is not SMFIC_OPTNEG");
    cr_assert_eq(ev.quit, 0);
    cr_assert_eq(feed(&loc, 'D', "Mi\0x"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "the first milter packet is not SMFIC_OPTNEG");
}

Test(milter, unknown_command)
{
    NEGOTIATE(&smtp);
    cr_assert_eq(feed(&smtp, 'Z', "whatever"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "an unknown milter command");
    cr_assert_eq(ev.cmd, 'Z');
    cr_assert_eq(feed0(&smtp, 'c'), MAILLIMIT_EFORMAT); /* a reply code, not a command */
    cr_assert_str_eq(ev.problem, "an unknown milter command");
}

Test(milter, malformed_packets)
{
    NEGOTIATE(&smtp);
    /* CONNECT: host without NUL; nothing after the host; a port cut short; an address
     * without NUL */
    cr_assert_eq(feed_at(&smtp, T0, 'C', "host", 4), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_CONNECT packet");
    cr_assert_eq(feed_at(&smtp, T0, 'C', "host\0", 5), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_CONNECT packet");
    cr_assert_eq(feed_at(&smtp, T0, 'C', "host\0" "4\x01", 7), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_CONNECT packet");
    cr_assert_eq(feed_at(&smtp, T0, 'C', "host\0" "4\x01\x02" "127.0.0.1", 17),
                 MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_CONNECT packet");
    cr_assert_eq(feed_at(&smtp, T0, 'C', "", 0), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_CONNECT packet");
    /* MAIL and RCPT without NUL, or empty */
    cr_assert_eq(feed_at(&smtp, T0, 'M', "<a@b.example>", 13), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_MAIL packet");
    cr_assert_eq(feed0(&smtp, 'M'), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_MAIL packet");
    cr_assert_eq(feed_at(&smtp, T0, 'R', "<c@d.example>", 13), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_RCPT packet");
    cr_assert_eq(feed0(&smtp, 'R'), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "a malformed SMFIC_RCPT packet");
    /* MACRO without the command byte */
    cr_assert_eq(feed0(&smtp, 'D'), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(ev.problem, "an empty SMFIC_MACRO packet");
    /* a CONNECT of another family has no port or address: fine */
    cr_assert_eq(feed_at(&smtp, T0, 'C', "localhost\0U", 11), 0);
    cr_assert_str_eq(smtp.client, "");
    /* a macro packet with an odd name/value list is taken as far as it goes */
    cr_assert_eq(feed(&smtp, 'D', "M{auth_authen}\0joe@acme.example\0i"), 0);
    NO_REPLY();
    cr_assert_str_eq(smtp.auth, "joe@acme.example");
}

/* ---- replies to events -------------------------------------------------------------------- */

Test(milter, no_replies_to_events_negotiated_with_nr_flags)
{
    NEGOTIATE(&smtp);
    const char connect[] = "client.example\0" "4\x30\x39" "203.0.113.9";
    cr_assert_eq(feed_at(&smtp, T0, 'C', connect, sizeof connect), 0);
    NO_REPLY();
    cr_assert_str_eq(smtp.client, "203.0.113.9");
    cr_assert_eq(feed(&smtp, 'H', "client.example"), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'D', "M{auth_authen}\0joe@acme.example"), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'M', "<joe@acme.example>\0SIZE=100"), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'R', "<x@elsewhere.example>"), 0);
    NO_REPLY();
    cr_assert_eq(feed0(&smtp, 'T'), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'L', "Subject\0hi"), 0);
    NO_REPLY();
    cr_assert_eq(feed0(&smtp, 'N'), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'B', "body"), 0);
    NO_REPLY();
    cr_assert_eq(feed(&smtp, 'U', "XYZZY"), 0);
    NO_REPLY();
    cr_assert_eq(feed0(&smtp, 'E'), 0);
    CONTINUE();
    cr_assert_eq(ev.decided, 1);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    /* ABORT, MACRO, QUIT are never answered */
    cr_assert_eq(feed0(&smtp, 'A'), 0);
    NO_REPLY();
    cr_assert_eq(ev.aborted, 0);
    cr_assert_eq(feed0(&smtp, 'Q'), 0);
    NO_REPLY();
}

Test(milter, continue_to_events_negotiated_without_nr_flags)
{
    negotiate(&smtp, 2, 0x3f, 0x7f);
    const char connect[] = "client.example\0" "4\x30\x39" "203.0.113.9";
    cr_assert_eq(feed_at(&smtp, T0, 'C', connect, sizeof connect), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'H', "client.example"), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'M', "<joe@acme.example>"), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'R', "<x@elsewhere.example>"), 0);
    CONTINUE();
    cr_assert_eq(feed0(&smtp, 'T'), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'L', "Subject\0hi"), 0);
    CONTINUE();
    cr_assert_eq(feed0(&smtp, 'N'), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'B', "body"), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'U', "XYZZY"), 0);
    CONTINUE();
    cr_assert_eq(feed(&smtp, 'D', "Ei\0QID1"), 0);
    NO_REPLY();
    cr_assert_eq(feed0(&smtp, 'E'), 0);
    CONTINUE();
    /* 203.0.113.9 without authentication: inbound, not counted */
    cr_assert_eq(ev.decided, 1);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_PASS);
    cr_assert_str_eq(ev.queue_id, "QID1");
    cr_assert_eq(feed0(&smtp, 'A'), 0);
    NO_REPLY();
}

Test(milter, end_of_message_without_mail_is_not_decided)
{
    NEGOTIATE(&loc);
    cr_assert_eq(feed0(&loc, 'E'), 0);
    CONTINUE();
    cr_assert_eq(ev.decided, 0);
    cr_assert_eq(ev.level, -1);
    cr_assert_eq(SERVER_COUNT(), 0);
}

/* ---- local submissions -------------------------------------------------------------------- */

Test(milter, local_sysuser_counts_on_its_subscription_then_hold)
{
    NEGOTIATE(&loc);
    cr_assert_eq(feed(&loc, 'D', "Ei\0" "4XyZ1"), 0);
    NO_REPLY();
    local_message("<acme_web@mx.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_SYSUSER);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_str_eq(ev.name, "acme");
    cr_assert_str_eq(ev.login, "acme_web");
    cr_assert_str_eq(ev.sender, "acme_web@mx.example");
    cr_assert_str_eq(ev.queue_id, "4XyZ1");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(ev.outcome.level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_str_eq(ev.outcome.name, "acme_web");
    cr_assert_eq(ev.outcome.cost, 1);
    cr_assert_eq(ev.outcome.count, 0); /* before this message */
    cr_assert_eq(ev.outcome.limit, 3);
    cr_assert_str_eq(ev.text, "");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 0);
    cr_assert_eq(SERVER_COUNT(), 1);
    /* the queue id belonged to that message */
    local_message("<acme_web@mx.example>");
    cr_assert_str_eq(ev.queue_id, "-");
    local_message("<acme_web@mx.example>");
    CONTINUE();
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 3);
    /* the 4th: held */
    local_message("<acme_web@mx.example>");
    assert_text_reply('q', SUB_TEXT, "\0\0\0\1c", 5);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_DENY);
    cr_assert_eq(ev.outcome.deny_level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_eq(ev.outcome.deny_window, MAILLIMIT_WINDOW_HOUR);
    cr_assert_eq(ev.outcome.limit, 3);
    cr_assert_eq(ev.outcome.count, 3);
    cr_assert_eq(ev.outcome.retry_after, 3600);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_HOLD);
    cr_assert_str_eq(ev.text, SUB_TEXT);
    cr_assert_str_eq(ev.name, "acme");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 3);
    cr_assert_eq(SERVER_COUNT(), 3);
}

Test(milter, local_action_reject)
{
    fill_acme();
    ctx.local_action = MAILLIMIT__LOCAL_REJECT;
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "550 5.7.1 " SUB_TEXT, "", 0);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_REJECT);
    cr_assert_str_eq(ev.text, SUB_TEXT);
}

Test(milter, local_action_defer)
{
    fill_acme();
    ctx.local_action = MAILLIMIT__LOCAL_DEFER;
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "450 4.7.0 " SUB_TEXT, "", 0);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_DEFER);
    cr_assert_str_eq(ev.text, SUB_TEXT);
}

Test(milter, local_action_discard)
{
    fill_acme();
    ctx.local_action = MAILLIMIT__LOCAL_DISCARD;
    local_message("<acme_web@mx.example>");
    REPLY("\0\0\0\1d");
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_DISCARD);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_DENY);
    cr_assert_str_eq(ev.text, SUB_TEXT);
}

Test(milter, local_reject_takes_the_policy_code_when_the_policy_rejects_too)
{
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 554, "5.7.100"),
                 0);
    fill_acme();
    ctx.local_action = MAILLIMIT__LOCAL_REJECT;
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "554 5.7.100 " SUB_TEXT, "", 0);
    /* and defer, not the policy's action, the default code */
    ctx.local_action = MAILLIMIT__LOCAL_DEFER;
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "450 4.7.0 " SUB_TEXT, "", 0);
}

Test(milter, local_hold_without_quarantine_defers)
{
    negotiate(&loc, 6, 0x100, 0x1fffff); /* SETSYMLIST, no QUARANTINE */
    for (int i = 0; i < 3; i++)
        local_message("<acme_web@mx.example>");
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "450 4.7.0 " SUB_TEXT, "", 0);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_DENY);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_DEFER);
}

/* The log line of a denial (conn.c milter_log) prints ev.text: a hold turned into a
 * deferral must carry the text like every other denial. */
Test(milter, local_hold_without_quarantine_keeps_the_text)
{
    negotiate(&loc, 2, 0x01, 0x7f);
    for (int i = 0; i < 3; i++)
        local_message("<acme_web@mx.example>");
    local_message("<acme_web@mx.example>");
    assert_text_reply('y', "450 4.7.0 " SUB_TEXT, "", 0);
    cr_assert_str_eq(ev.text, SUB_TEXT);
}

Test(milter, local_sender_in_a_configured_domain)
{
    NEGOTIATE(&loc);
    local_message("<Joe@Beta.Example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(ev.name, "beta.example");
    cr_assert_str_eq(ev.login, "");
    cr_assert_str_eq(ev.sender, "Joe@Beta.Example");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_NONE);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "beta.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "beta"), 1);
    /* a system user's own login at another domain is that domain's mail */
    local_message("<acme_web@acme.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_str_eq(ev.name, "acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    /* the domain limit (2) of beta.example: the 3rd is held with the domain's text */
    local_message("<joe@beta.example>");
    local_message("<joe@beta.example>");
    assert_text_reply('q',
                      "Message limit reached: domain beta.example reached its limit of 2 "
                      "messages per hour; retry in 60 minutes",
                      "\0\0\0\1c", 5);
    cr_assert_eq(ev.outcome.deny_level, MAILLIMIT_LEVEL_DOMAIN);
}

Test(milter, local_sysuser_login_case_and_bare_login)
{
    NEGOTIATE(&loc);
    local_message("<ACME_WEB@MX.Example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_SYSUSER);
    cr_assert_str_eq(ev.login, "acme_web");
    cr_assert_str_eq(ev.name, "acme");
    cr_assert_str_eq(ev.sender, "ACME_WEB@MX.Example");
    /* an unqualified sender is at the origin */
    local_message("acme_web");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_SYSUSER);
    cr_assert_str_eq(ev.name, "acme");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 2);
}

Test(milter, local_script_user_is_not_a_sysuser)
{
    NEGOTIATE(&loc);
    /* www-data is a system user of acme, but a script user: its sender domain decides, and
     * mx.example is not configured */
    local_message("<www-data@mx.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(ev.name, "mx.example");
    cr_assert_str_eq(ev.login, "");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 0);
    cr_assert_eq(SERVER_COUNT(), 1);
}

Test(milter, local_script_user_in_a_configured_origin_domain)
{
    char err[256];
    const char more[] = "domain mx.example subscription=beta\n";
    cr_assert_eq(maillimit_config_load_mem(ml, more, strlen(more), err, sizeof err), 0, "%s",
                 err);
    NEGOTIATE(&loc);
    local_message("<www-data@mx.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_str_eq(ev.name, "mx.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "mx.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "beta"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 0);
    /* an origin login that is neither a system user nor exempt: the domain too */
    local_message("<nobody@mx.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "mx.example"), 2);
}

Test(milter, local_exempt_user_is_not_counted)
{
    NEGOTIATE(&loc);
    local_message("<acme_web@mx.example>");
    cr_assert_eq(SERVER_COUNT(), 1);
    local_message("<backup@mx.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_EXEMPT_USER);
    cr_assert_str_eq(ev.login, "backup");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_EXEMPT);
    cr_assert_eq(ev.outcome.cost, 0);
    cr_assert_eq(SERVER_COUNT(), 1);
    /* exempt only at the origin */
    local_message("<backup@beta.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_eq(SERVER_COUNT(), 2);
}

Test(milter, local_null_sender_is_unattributed)
{
    NEGOTIATE(&loc);
    local_message("<>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(ev.name, "unattributed.invalid");
    cr_assert_str_eq(ev.sender, "");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(SERVER_COUNT(), 1);
}

Test(milter, local_unknown_sender_domain_is_unattributed)
{
    NEGOTIATE(&loc);
    local_message("<someone@nowhere.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_str_eq(ev.name, "nowhere.example");
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(SERVER_COUNT(), 1);
    /* a domain that is no valid name: unattributed under the reserved name */
    local_message("<x@bad domain>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_str_eq(ev.name, "unattributed.invalid");
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(SERVER_COUNT(), 2);
}

Test(milter, local_sender_too_long_is_unattributed)
{
    NEGOTIATE(&loc);
    char mail[MAILLIMIT_NAME_MAX + 40];
    memset(mail, 'a', sizeof mail);
    mail[0] = '<';
    memcpy(mail + MAILLIMIT_NAME_MAX + 20, "@acme.example>", 15);
    local_message(mail);
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_str_eq(ev.name, "unattributed.invalid");
    cr_assert_str_eq(ev.sender, "?");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 0);
    cr_assert_eq(SERVER_COUNT(), 1);
}

Test(milter, local_abort_before_end_of_message_counts_nothing)
{
    NEGOTIATE(&loc);
    cr_assert_eq(feed(&loc, 'M', "<acme_web@mx.example>"), 0);
    cr_assert_eq(feed(&loc, 'R', "<a@elsewhere.example>"), 0);
    cr_assert_eq(feed0(&loc, 'A'), 0);
    NO_REPLY();
    cr_assert_eq(ev.aborted, 1);
    cr_assert_eq(ev.decided, 0);
    cr_assert_eq(loc.in_message, 0);
    /* the end that follows belongs to no message */
    cr_assert_eq(feed0(&loc, 'E'), 0);
    CONTINUE();
    cr_assert_eq(ev.decided, 0);
    cr_assert_eq(SERVER_COUNT(), 0);
    /* an ABORT outside a message is no abandoned message */
    cr_assert_eq(feed0(&loc, 'A'), 0);
    cr_assert_eq(ev.aborted, 0);
}

Test(milter, local_recipients_unit_costs_the_rcpt_packets)
{
    cr_assert_eq(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS), 0);
    cr_assert_eq(maillimit_limit_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme",
                                     MAILLIMIT_LEVEL_SUBSCRIPTION, MAILLIMIT_WINDOW_HOUR, 10), 0);
    NEGOTIATE(&loc);
    cr_assert_eq(feed(&loc, 'M', "<acme_web@mx.example>"), 0);
    cr_assert_eq(feed(&loc, 'R', "<a@x.example>"), 0);
    cr_assert_eq(feed(&loc, 'R', "<b@x.example>"), 0);
    cr_assert_eq(feed(&loc, 'R', "<c@x.example>\0NOTIFY=NEVER"), 0);
    cr_assert_eq(loc.rcpts, 3);
    cr_assert_eq(feed0(&loc, 'E'), 0);
    cr_assert_eq(ev.outcome.cost, 3);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 3);
    /* no RCPT seen (not negotiated): 1 */
    local_message("<acme_web@mx.example>");
    cr_assert_eq(ev.outcome.cost, 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 4);
    /* 7 recipients do not fit in the 6 left */
    cr_assert_eq(feed(&loc, 'M', "<acme_web@mx.example>"), 0);
    for (int i = 0; i < 7; i++)
        cr_assert_eq(feed(&loc, 'R', "<r@x.example>"), 0);
    cr_assert_eq(feed0(&loc, 'E'), 0);
    assert_text_reply('q',
                      "Recipient limit reached: the subscription of user acme_web sent 4 of "
                      "its limit of 10 recipients per hour, this message has 7; retry in 60 "
                      "minutes",
                      "\0\0\0\1c", 5);
    cr_assert_eq(ev.outcome.cost, 7);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 4);
}

Test(milter, local_new_sysusers_are_seen_after_a_change)
{
    NEGOTIATE(&loc);
    local_message("<beta_app@mx.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    char err[256];
    const char more[] = "sysuser beta_app subscription=beta\n";
    cr_assert_eq(maillimit_config_load_mem(ml, more, strlen(more), err, sizeof err), 0, "%s",
                 err);
    local_message("<beta_app@mx.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_SYSUSER);
    cr_assert_str_eq(ev.name, "beta");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "beta"), 1);
}

Test(milter, local_attribute_directly)
{
    maillimit__milter_event e;
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "acme_web@mx.example", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_SYSUSER);
    cr_assert_eq(e.level, MAILLIMIT_LEVEL_SUBSCRIPTION);
    cr_assert_str_eq(e.name, "acme");
    cr_assert_str_eq(e.login, "acme_web");
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "backup", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_EXEMPT_USER);
    cr_assert_str_eq(e.login, "backup");
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "@mx.example", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_str_eq(e.name, "mx.example");
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "x@", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_str_eq(e.name, "unattributed.invalid");
    /* without an origin nothing is a system user, and a bare login has no domain */
    ctx.origin[0] = '\0';
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "acme_web@mx.example", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_str_eq(e.name, "mx.example");
    memset(&e, 0, sizeof e);
    cr_assert_eq(maillimit__milter_local_attribute(&ctx, "acme_web", &e), 0);
    cr_assert_eq(e.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_str_eq(e.name, "unattributed.invalid");
}

/* ---- SMTP mail --------------------------------------------------------------------------- */

static void smtp_connect(const char *family_port_addr, size_t n)
{
    char d[128];
    memcpy(d, "client.example", 15);
    memcpy(d + 15, family_port_addr, n);
    cr_assert_eq(feed_at(&smtp, T0, 'C', d, 15 + n), 0);
}
#define CONNECT4(addr) smtp_connect("4\x30\x39" addr, sizeof addr + 3)

/* MAIL with the macros Postfix sends before it, one RCPT, END-OF-MESSAGE. */
static void smtp_message(const char *auth, const char *mail_arg)
{
    if (auth) {
        char m[400];
        int n = snprintf(m, sizeof m, "M{auth_authen}%c%s", 0, auth);
        cr_assert_eq(feed_at(&smtp, T0, 'D', m, (size_t)n + 1), 0);
    }
    cr_assert_eq(feed_at(&smtp, T0, 'M', mail_arg, strlen(mail_arg) + 1), 0);
    cr_assert_eq(feed(&smtp, 'R', "<rcpt@elsewhere.example>"), 0);
    cr_assert_eq(feed0(&smtp, 'E'), 0);
    cr_assert_eq(ev.decided, 1);
}

Test(milter, smtp_auth_is_the_mailbox_of_the_login)
{
    NEGOTIATE(&smtp);
    CONNECT4("203.0.113.5");
    NO_REPLY();
    smtp_message("joe@acme.example", "<other@beta.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_SASL);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_str_eq(ev.name, "joe@acme.example");
    cr_assert_str_eq(ev.login, "joe@acme.example");
    cr_assert_str_eq(ev.sender, "other@beta.example");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_MAILBOX, "joe@acme.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "beta.example"), 0);
    /* the login was that message's: the next one without it is inbound */
    smtp_message(NULL, "<other@beta.example>");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(ev.who, MAILLIMIT__WHO_NONE);
    cr_assert_eq(SERVER_COUNT(), 1);
    /* a login without '@' takes the sender's domain */
    smtp_message("joe", "<joe.doe@acme.example>");
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_MAILBOX);
    cr_assert_str_eq(ev.name, "joe@acme.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_MAILBOX, "joe@acme.example"), 2);
}

Test(milter, smtp_local_client_without_auth_is_the_sender_domain)
{
    NEGOTIATE(&smtp);
    CONNECT4("127.0.0.1");
    cr_assert_str_eq(smtp.client, "127.0.0.1");
    smtp_message(NULL, "<www@acme.example>");
    CONTINUE();
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_eq(ev.level, MAILLIMIT_LEVEL_DOMAIN);
    cr_assert_str_eq(ev.name, "acme.example");
    cr_assert_str_eq(ev.login, "");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_SUBSCRIPTION, "acme"), 1);
    /* a sender domain not configured: unattributed, counted in the server total */
    smtp_message(NULL, "<www@nowhere.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_UNATTRIBUTED);
    cr_assert_eq(ev.outcome.reason, MAILLIMIT_REASON_UNKNOWN);
    cr_assert_eq(SERVER_COUNT(), 2);
    /* the null sender from a local client passes */
    smtp_message(NULL, "<>");
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_NO_SENDER);
    cr_assert_eq(ev.who, MAILLIMIT__WHO_NONE);
    cr_assert_eq(SERVER_COUNT(), 2);
}

Test(milter, smtp_ipv6_client_address)
{
    NEGOTIATE(&smtp);
    smtp_connect("6\x30\x39IPv6:::1", 12);
    cr_assert_str_eq(smtp.client, "::1");
    smtp_message(NULL, "<www@acme.example>");
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 1);
}

Test(milter, smtp_client_outside_without_auth_passes)
{
    NEGOTIATE(&smtp);
    CONNECT4("198.51.100.7");
    smtp_message(NULL, "<someone@acme.example>");
    CONTINUE();
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_PASS);
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(ev.who, MAILLIMIT__WHO_NONE);
    cr_assert_eq(ev.level, -1);
    cr_assert_eq(SERVER_COUNT(), 0);
    /* no CONNECT at all (or a unix socket client): no address, inbound */
    smtp_connect("U", 1);
    smtp_message(NULL, "<someone@acme.example>");
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_INBOUND);
    cr_assert_eq(SERVER_COUNT(), 0);
}

#define BETA_TEXT                                                                              \
    "Message limit reached: domain beta.example reached its limit of 2 messages per hour; "   \
    "retry in 60 minutes"

Test(milter, smtp_over_the_limit_default_action_defers)
{
    NEGOTIATE(&smtp);
    CONNECT4("127.0.0.1");
    smtp_message(NULL, "<x@beta.example>");
    smtp_message(NULL, "<x@beta.example>");
    CONTINUE();
    smtp_message(NULL, "<x@beta.example>");
    assert_text_reply('y', "450 4.7.0 " BETA_TEXT, "", 0);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_DENY);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_DEFER);
    cr_assert_str_eq(ev.text, BETA_TEXT);
    cr_assert_eq(ev.who, MAILLIMIT__WHO_DOMAIN);
    cr_assert_str_eq(ev.name, "beta.example");
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "beta.example"), 2);
}

Test(milter, smtp_policy_actions_reject_and_hold)
{
    NEGOTIATE(&smtp);
    CONNECT4("127.0.0.1");
    smtp_message(NULL, "<x@beta.example>");
    smtp_message(NULL, "<x@beta.example>");
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_REJECT, 0, NULL), 0);
    smtp_message(NULL, "<x@beta.example>");
    assert_text_reply('y', "550 5.7.1 " BETA_TEXT, "", 0);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_REJECT);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_DEFER, 451, "4.7.1"), 0);
    smtp_message(NULL, "<x@beta.example>");
    assert_text_reply('y', "451 4.7.1 " BETA_TEXT, "", 0);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_DEFER);
    cr_assert_eq(maillimit_policy_action_set(pol, MAILLIMIT_POLICY_ACTION_HOLD, 0, NULL), 0);
    smtp_message(NULL, "<x@beta.example>");
    assert_text_reply('q', BETA_TEXT, "\0\0\0\1c", 5);
    cr_assert_eq(ev.action, MAILLIMIT__LOCAL_HOLD);
    /* the local action does not apply to SMTP mail */
    ctx.local_action = MAILLIMIT__LOCAL_DISCARD;
    smtp_message(NULL, "<x@beta.example>");
    assert_text_reply('q', BETA_TEXT, "\0\0\0\1c", 5);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "beta.example"), 2);
}

Test(milter, smtp_recipients_unit)
{
    cr_assert_eq(maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS), 0);
    NEGOTIATE(&smtp);
    CONNECT4("127.0.0.1");
    cr_assert_eq(feed(&smtp, 'M', "<x@acme.example>"), 0);
    cr_assert_eq(feed(&smtp, 'R', "<a@elsewhere.example>"), 0);
    cr_assert_eq(feed(&smtp, 'R', "<b@elsewhere.example>"), 0);
    cr_assert_eq(feed0(&smtp, 'E'), 0);
    cr_assert_eq(ev.outcome.result, MAILLIMIT_POLICY_ALLOW);
    cr_assert_eq(ev.outcome.cost, 2);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 2);
    /* each end of message is a new decision (no instance): counted again */
    cr_assert_eq(feed(&smtp, 'M', "<x@acme.example>"), 0);
    cr_assert_eq(feed0(&smtp, 'E'), 0);
    cr_assert_eq(ev.outcome.cost, 1);
    cr_assert_eq(count_of(MAILLIMIT_LEVEL_DOMAIN, "acme.example"), 3);
}

Test(milter, smtp_abort_forgets_the_message_and_its_login)
{
    NEGOTIATE(&smtp);
    CONNECT4("203.0.113.5");
    cr_assert_eq(feed(&smtp, 'D', "M{auth_authen}\0joe@acme.example"), 0);
    cr_assert_eq(feed(&smtp, 'M', "<joe@acme.example>"), 0);
    cr_assert_eq(feed0(&smtp, 'A'), 0);
    cr_assert_eq(ev.aborted, 1);
    cr_assert_str_eq(smtp.auth, "");
    cr_assert_eq(SERVER_COUNT(), 0);
    /* the client address stays for the connection */
    cr_assert_str_eq(smtp.client, "203.0.113.5");
    smtp_message(NULL, "<joe@acme.example>");
    cr_assert_eq(ev.outcome.pass, MAILLIMIT_POLICY_PASS_INBOUND);
}

Test(milter, smtp_quit)
{
    NEGOTIATE(&smtp);
    cr_assert_eq(feed0(&smtp, 'Q'), 0);
    NO_REPLY();
    cr_assert_eq(ev.quit, 1);
    cr_assert_eq(ev.cmd, 'Q');
    cr_assert_eq(ev.decided, 0);
}

Test(milter, quit_nc_forgets_the_client_and_keeps_the_options)
{
    NEGOTIATE(&smtp);
    CONNECT4("127.0.0.1");
    cr_assert_eq(feed(&smtp, 'D', "M{auth_authen}\0joe@acme.example"), 0);
    cr_assert_eq(feed(&smtp, 'M', "<joe@acme.example>"), 0);
    cr_assert_eq(feed0(&smtp, 'K'), 0);
    NO_REPLY();
    cr_assert_eq(ev.quit, 0);
    cr_assert_eq(ev.aborted, 1, "the message in progress ends unfinished");
    cr_assert_eq(smtp.negotiated, 1);
    cr_assert_eq(smtp.in_message, 0);
    cr_assert_eq(smtp.local, 0);
    cr_assert_str_eq(smtp.client, "");
    cr_assert_str_eq(smtp.auth, "");
    /* the next connection on the same socket starts without a new negotiation */
    cr_assert_eq(feed(&smtp, 'M', "<joe@acme.example>"), 0);
    cr_assert_eq(smtp.in_message, 1);
    /* a local session stays local */
    NEGOTIATE(&loc);
    cr_assert_eq(feed0(&loc, 'K'), 0);
    cr_assert_eq(ev.aborted, 0, "no message was in progress");
    cr_assert_eq(loc.local, 1);
    cr_assert_eq(loc.negotiated, 1);
    cr_assert_eq(SERVER_COUNT(), 0);
}

#else
typedef int maillimit_test_no_server_layer;
#endif /* MAILLIMIT_HAVE_SERVER */
