/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the milter protocol (maillimit__milter_frame and maillimit__milter_packet).
 *
 * The first byte picks settings (bit 0 unit recipients, bits 1-2 the local action, bit 3 a
 * policy action from bits 4-5, bit 6 an exempt network 192.0.2.0/24, bit 7 no origin); the
 * rest is a byte stream from one MTA, handled packet by packet as the server does, once by a
 * session of local submissions and once by an SMTP session, each on a fresh handle with a
 * small hierarchy (so that negotiation, attribution, counting and every kind of denial are
 * reached). Invariants (abort on violation):
 * - consumed <= len; 0 consumed (incomplete) means no reply; maillimit__milter_frame agrees
 *   on the packet's size; every prefix of a handled packet is incomplete, never an error;
 * - an error is EFORMAT with a problem text and no reply, having consumed nothing (a bad
 *   length) or the bad packet;
 * - the replies fit MAILLIMIT__MILTER_REPLY_MAX bytes and are whole packets: 'O' only to
 *   SMFIC_OPTNEG, 'c' alone to the other events, and at the end of a decided message 'c',
 *   'd', 'y' (a 4xx/5xx code and a NUL-terminated text) or 'q' (a text) then 'c';
 * - the event's texts are NUL-terminated within their arrays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"

static const char conf[] = "server mailbox=3 domain=5 subscription=8\n"
                           "subscription acme subscription=4\n"
                           "domain acme.example subscription=acme\n"
                           "mailbox ceo@acme.example mailbox=1\n"
                           "sysuser acme_web subscription=acme\n"
                           "sysuser www-data subscription=acme\n"
                           "subscription beta\n"
                           "domain beta.example subscription=beta domain=2\n";

static char *script_users[] = { "www-data" };
static char *exempt_users[] = { "backup" };

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_milter: %s\n", what);
        abort();
    }
}

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static int terminated(const char *s, size_t size)
{
    return memchr(s, '\0', size) != NULL;
}

/* A text reply's data: printable, NUL-terminated exactly at its end. */
static void check_text(const char *p, size_t n)
{
    check(n >= 1 && p[n - 1] == '\0', "a reply text without its NUL");
    for (size_t i = 0; i + 1 < n; i++)
        check((unsigned char)p[i] >= 0x20 && p[i] != 0x7f, "a control byte in a reply text");
}

/* The replies to one packet of command cmd. */
static void check_reply(const char *r, size_t rl, char cmd, const maillimit__milter_event *ev)
{
    char seq[8];
    size_t np = 0, off = 0;
    while (off < rl) {
        check(rl - off >= 5, "a reply packet cut short");
        uint32_t n = get32(r + off);
        check(n >= 1 && n <= rl - off - 4, "a reply packet's length");
        char c = r[off + 4];
        const char *p = r + off + 5;
        size_t dn = n - 1;
        switch (c) {
        case 'O':
            check(dn >= 12, "a short negotiation reply");
            check(get32(p) >= 2 && get32(p) <= 6, "negotiated version");
            check((get32(p + 4) & ~UINT32_C(0x120)) == 0, "actions beyond what is wanted");
            break;
        case 'c':
        case 'd':
            check(dn == 0, "data in a continue/discard reply");
            break;
        case 'y':
            check_text(p, dn);
            check(dn >= 5 && (p[0] == '4' || p[0] == '5') && p[3] == ' ', "a reply code");
            break;
        case 'q':
            check_text(p, dn);
            break;
        default:
            check(0, "an unexpected reply command");
        }
        check(np < sizeof seq, "too many reply packets");
        seq[np++] = c;
        off += 4 + n;
    }
    check(off == rl, "reply packets do not add up");
    if (cmd == 'O') {
        check(np == 1 && seq[0] == 'O', "the negotiation reply");
        return;
    }
    check(np == 0 || seq[0] != 'O', "a negotiation reply to another command");
    if (ev->decided) {
        check(cmd == 'E', "a decision at another command than END-OF-MESSAGE");
        check(np == 1 || (np == 2 && seq[0] == 'q' && seq[1] == 'c'), "the end-of-message reply");
        if (ev->outcome.result == MAILLIMIT_POLICY_DENY)
            check(seq[0] != 'c', "a denial answered with continue");
        else
            check(seq[0] == 'c', "an acceptance answered with a denial");
        check(terminated(ev->text, sizeof ev->text) && terminated(ev->name, sizeof ev->name) &&
                  terminated(ev->login, sizeof ev->login) &&
                  terminated(ev->sender, sizeof ev->sender) &&
                  terminated(ev->queue_id, sizeof ev->queue_id),
              "an unterminated event text");
    } else {
        check(np == 0 || (np == 1 && seq[0] == 'c'), "a reply other than continue");
        if (cmd == 'E')
            check(np == 1, "no reply to END-OF-MESSAGE");
    }
    if (cmd == 'D' || cmd == 'A' || cmd == 'Q' || cmd == 'K')
        check(np == 0, "a reply to a command never answered");
}

static void run(maillimit__milter_ctx *ctx, int local, const char *d, size_t size,
                char *reply)
{
    maillimit__milter_session s;
    maillimit__milter_session_init(&s, local);
    maillimit__milter_event ev;
    int64_t now = 1700000040;
    size_t off = 0;
    for (int round = 0; off < size && round < 100000; round++) {
        size_t used = 12345, rl = 12345;
        int rc = maillimit__milter_packet(ctx, &s, d + off, size - off, now, &used, reply, &rl,
                                          &ev);
        check(rl <= MAILLIMIT__MILTER_REPLY_MAX, "a reply over the bound");
        char cmd;
        const char *payload, *problem;
        size_t plen, fused = 999;
        int frc = maillimit__milter_frame(d + off, size - off, &cmd, &payload, &plen, &fused,
                                          &problem);
        if (rc != 0) {
            check(rc == MAILLIMIT_EFORMAT, "an error other than EFORMAT");
            check(ev.problem != NULL, "an error without a problem text");
            check(rl == 0, "an error with a reply");
            /* a bad length: nothing; a bad packet: that packet (the connection closes) */
            check(used == (frc ? 0 : fused), "an error consumed other than the packet");
            break;
        }
        check(frc == 0, "the packet handler accepted what the framer refuses");
        check(used == fused, "the packet handler and the framer disagree on the size");
        check(used <= size - off, "consumed more than given");
        if (used == 0) {
            check(rl == 0, "a reply to an incomplete packet");
            break;
        }
        check(used >= 5 && used == 4 + (size_t)get32(d + off), "consumed is not the packet");
        check(ev.cmd == d[off + 4], "the event's command");
        check(!(ev.decided && ev.aborted), "a message both decided and aborted");
        check(!ev.quit || ev.cmd == 'Q', "quit at another command");
        check_reply(reply, rl, ev.cmd, &ev);
        if (ev.quit)
            break; /* the server closes the connection */
        /* every prefix of this packet is incomplete, never an error */
        if (used < 4096) {
            for (size_t cut = used - 1; cut > 0; cut -= cut > 64 ? 61 : 1) {
                size_t u2 = 99;
                frc = maillimit__milter_frame(d + off, cut, &cmd, &payload, &plen, &u2, &problem);
                check(frc == 0 && u2 == 0, "a prefix of a valid packet is not incomplete");
            }
        }
        off += used;
        now += 7;
    }
}

/* One connection on a fresh handle: the settings byte b, a local or an SMTP session. */
static void connection(uint8_t b, int local, const char *d, size_t size)
{
    maillimit *ml = NULL;
    maillimit_policy *p = NULL;
    if (maillimit_new(&ml) != 0)
        return;
    if (maillimit_config_load_mem(ml, conf, sizeof conf - 1, NULL, 0) != 0 ||
        maillimit_policy_new(&p, ml) != 0) {
        maillimit_free(ml);
        return;
    }
    maillimit__milter_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.ml = ml;
    ctx.policy = p;
    ctx.local_action = (b >> 1) & 3; /* MAILLIMIT__LOCAL_* */
    snprintf(ctx.origin, sizeof ctx.origin, "%s", b & 128 ? "" : "mx.example");
    ctx.script_users = script_users;
    ctx.nscript_users = 1;
    ctx.exempt_users = exempt_users;
    ctx.nexempt_users = 1;
    if (b & 1)
        maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS);
    if (b & 8)
        maillimit_policy_action_set(p, (b >> 4) % 3, 0, NULL);
    if (b & 64)
        maillimit_policy_network_add(p, MAILLIMIT_POLICY_NETLIST_EXEMPT, "192.0.2.0/24");
    /* an exact-size reply buffer, so that writes past it are caught by ASan */
    char *reply = malloc(MAILLIMIT__MILTER_REPLY_MAX);
    if (reply)
        run(&ctx, local, d, size, reply);
    free(reply);
    maillimit__milter_ctx_free(&ctx);
    maillimit_policy_free(p);
    maillimit_free(ml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the first byte picks settings, so that the corpus reaches every branch */
    uint8_t b = size ? data[0] : 0;
    const char *d = size ? (const char *)data + 1 : (const char *)data;
    if (size)
        size--;
    connection(b, 1, d, size);
    connection(b, 0, d, size);
    return 0;
}
