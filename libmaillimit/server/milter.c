/* SPDX-License-Identifier: MIT */
/* The milter protocol (Sendmail 8 "Milter" version 6, as Postfix speaks it), without I/O.
 *
 * Why a native implementation and not libmilter: docs/milter.md ("Why not libmilter"). In
 * short: libmilter serves one socket per process from its own threads and takes over the
 * process's signals (smfi_main), while maillimitd serves two milter sockets with different
 * meanings, a policy service and the admin protocol from one libuv loop.
 *
 * A packet is a 4-byte length in network order (the command byte and the data), a command
 * byte and the data. maillimit__milter_frame() cuts packets (a pure function, fuzzed);
 * maillimit__milter_packet() handles one packet of one connection and writes the reply.
 *
 * What the milter asks for at negotiation (SMFIC_OPTNEG): no HELO, DATA, header, end of
 * header, body or unknown-command events, and no replies to CONNECT, MAIL and RCPT (the
 * NR_* flags, where the MTA offers them), so that a message costs Postfix one round trip:
 * END-OF-MESSAGE. Actions: quarantine (hold) and, with protocol 6, the macros wanted per
 * stage (SMFIF_SETSYMLIST: appended to the negotiation reply): `{auth_authen}` at MAIL, `i`
 * (the queue id) at END-OF-MESSAGE, so main.cf needs no milter_*_macros lines.
 *
 * Counting: one decision per message at END-OF-MESSAGE; cost 1, or with `unit recipients`
 * the recipients the milter saw (Postfix passes a milter only the recipients it accepted).
 * SMFIC_ABORT (the client gave up before the end of data) forgets the message: nothing is
 * counted. Attribution: SMTP mail as the policy service (maillimit_policy_request()); local
 * submissions by their envelope sender (local.c).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv_internal.h"

/* Commands (MTA to milter) */
enum {
    SMFIC_ABORT = 'A', SMFIC_BODY = 'B', SMFIC_CONNECT = 'C', SMFIC_MACRO = 'D',
    SMFIC_BODYEOB = 'E', SMFIC_HELO = 'H', SMFIC_QUIT_NC = 'K', SMFIC_HEADER = 'L',
    SMFIC_MAIL = 'M', SMFIC_EOH = 'N', SMFIC_OPTNEG = 'O', SMFIC_QUIT = 'Q', SMFIC_RCPT = 'R',
    SMFIC_DATA = 'T', SMFIC_UNKNOWN = 'U'
};
/* Replies (milter to MTA) */
enum {
    SMFIR_CONTINUE = 'c', SMFIR_DISCARD = 'd', SMFIR_QUARANTINE = 'q',
    SMFIR_REPLYCODE = 'y'
};
/* Actions */
enum { SMFIF_QUARANTINE = 0x20, SMFIF_SETSYMLIST = 0x100 };
/* Protocol flags */
enum {
    SMFIP_NOCONNECT = 0x1, SMFIP_NOHELO = 0x2, SMFIP_NOMAIL = 0x4, SMFIP_NORCPT = 0x8,
    SMFIP_NOBODY = 0x10, SMFIP_NOHDRS = 0x20, SMFIP_NOEOH = 0x40, SMFIP_NR_HDR = 0x80,
    SMFIP_NOUNKNOWN = 0x100, SMFIP_NODATA = 0x200, SMFIP_NR_CONN = 0x1000,
    SMFIP_NR_HELO = 0x2000, SMFIP_NR_MAIL = 0x4000, SMFIP_NR_RCPT = 0x8000,
    SMFIP_NR_DATA = 0x10000, SMFIP_NR_UNKN = 0x20000, SMFIP_NR_EOH = 0x40000,
    SMFIP_NR_BODY = 0x80000
};
/* Macro stages of SMFIR_SETSYMLIST */
enum { SMFIM_ENVFROM = 2, SMFIM_EOM = 5 };


/* ---- framing ------------------------------------------------------------------------------ */

static uint32_t get32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void put32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

int maillimit__milter_frame(const char *data, size_t len, char *cmd, const char **payload,
                            size_t *plen, size_t *consumed, const char **problem)
{
    *consumed = 0;
    *problem = NULL;
    if (len < 4)
        return 0;
    uint32_t n = get32(data);
    if (n == 0) {
        *problem = "a milter packet of length 0";
        return MAILLIMIT_EFORMAT;
    }
    if (n > MAILLIMIT__MILTER_PACKET_MAX) {
        *problem = "a milter packet longer than 262144 bytes";
        return MAILLIMIT_EFORMAT;
    }
    if (len - 4 < n)
        return 0;
    *cmd = data[4];
    *payload = data + 5;
    *plen = n - 1;
    *consumed = 4 + (size_t)n;
    return 0;
}

/* ---- replies ------------------------------------------------------------------------------ */

/* Append a packet (cmd + data) to reply; the caller keeps within MAILLIMIT__MILTER_REPLY_MAX. */
static void reply_add(char *reply, size_t *rl, char cmd, const void *data, size_t n)
{
    put32(reply + *rl, (uint32_t)(n + 1));
    reply[*rl + 4] = cmd;
    if (n)
        memcpy(reply + *rl + 5, data, n);
    *rl += 5 + n;
}

/* Append a packet whose data is a NUL-terminated text (truncated to fit). */
static void reply_text(char *reply, size_t *rl, char cmd, const char *prefix, const char *text)
{
    char buf[MAILLIMIT__MILTER_REPLY_MAX - 64];
    int n = snprintf(buf, sizeof buf, "%s%s", prefix, text);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    /* a reply text is one line of printable text: Postfix refuses anything else */
    for (int i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            buf[i] = '?';
    buf[n] = '\0';
    reply_add(reply, rl, cmd, buf, (size_t)n + 1);
}

/* ---- payload strings ---------------------------------------------------------------------- */

/* The NUL-terminated string at p[*off..n); advances *off. NULL if not terminated. */
static const char *next_str(const char *p, size_t n, size_t *off)
{
    if (*off >= n)
        return NULL;
    const char *s = p + *off;
    const char *z = memchr(s, '\0', n - *off);
    if (!z)
        return NULL;
    *off = (size_t)(z - p) + 1;
    return s;
}

/* Copy s into dst[size] if it fits; else dst = "" and 0. */
static int copy_fit(char *dst, size_t size, const char *s)
{
    size_t n = strlen(s);
    if (n >= size) {
        dst[0] = '\0';
        return 0;
    }
    memcpy(dst, s, n + 1);
    return 1;
}

/* An envelope address as Postfix sends it ("<a@b>", "<>", or bare): without the brackets. */
static void strip_brackets(char *dst, size_t size, const char *s, int *toolong)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    *toolong = n >= size;
    if (n >= size)
        n = 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* ---- the session -------------------------------------------------------------------------- */

void maillimit__milter_session_init(maillimit__milter_session *s, int local)
{
    memset(s, 0, sizeof *s);
    s->local = local;
}

static void message_reset(maillimit__milter_session *s)
{
    s->in_message = 0;
    s->sender[0] = '\0';
    s->sender_bad = 0;
    s->auth[0] = '\0';
    s->queue_id[0] = '\0';
    s->rcpts = 0;
}

static void macros(maillimit__milter_session *s, const char *p, size_t n)
{
    size_t off = 1; /* the command the macros belong to */
    for (;;) {
        const char *name = next_str(p, n, &off);
        const char *value = name ? next_str(p, n, &off) : NULL;
        if (!value)
            return;
        if (strcmp(name, "i") == 0 || strcmp(name, "{i}") == 0)
            copy_fit(s->queue_id, sizeof s->queue_id, value);
        else if (strcmp(name, "{auth_authen}") == 0 || strcmp(name, "auth_authen") == 0)
            copy_fit(s->auth, sizeof s->auth, value);
    }
}

/* The reply to SMFIC_OPTNEG: what we want of what the MTA offers. */
static int optneg(maillimit__milter_session *s, const char *p, size_t n, char *reply,
                  size_t *rl, const char **problem)
{
    if (n < 12) {
        *problem = "a short SMFIC_OPTNEG packet";
        return MAILLIMIT_EFORMAT;
    }
    uint32_t version = get32(p), actions = get32(p + 4), proto = get32(p + 8);
    if (version < 2) {
        *problem = "milter protocol version below 2";
        return MAILLIMIT_EFORMAT;
    }
    if (version > 6)
        version = 6;
    uint32_t want_actions = SMFIF_QUARANTINE | (version >= 6 ? SMFIF_SETSYMLIST : 0);
    /* events we do not need: the MTA skips them if it offers to */
    uint32_t skip = SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN |
                    SMFIP_NODATA;
    if (s->local)
        skip |= SMFIP_NOCONNECT; /* every message there is local: the client tells nothing */
    /* events we need but need not answer */
    uint32_t noreply = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                       SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |
                       SMFIP_NR_HDR;
    s->version = version;
    s->actions = actions & want_actions;
    s->proto = proto & (skip | noreply);
    s->negotiated = 1;
    char b[64];
    size_t bn = 12;
    put32(b, version);
    put32(b + 4, s->actions);
    put32(b + 8, s->proto);
    if (s->actions & SMFIF_SETSYMLIST) {
        /* the macros wanted per stage follow in the same packet: stage, list, NUL */
        static const struct { uint32_t stage; const char *list; } sym[2] = {
            { SMFIM_ENVFROM, "{auth_authen}" }, { SMFIM_EOM, "i" } };
        for (int i = 0; i < 2; i++) {
            size_t ln = strlen(sym[i].list);
            put32(b + bn, sym[i].stage);
            memcpy(b + bn + 4, sym[i].list, ln + 1);
            bn += 4 + ln + 1;
        }
    }
    reply_add(reply, rl, SMFIC_OPTNEG, b, bn);
    return 0;
}

/* Does the MTA expect a reply to this command? */
static int wants_reply(const maillimit__milter_session *s, char cmd)
{
    uint32_t nr;
    switch (cmd) {
    case SMFIC_CONNECT: nr = SMFIP_NR_CONN; break;
    case SMFIC_HELO: nr = SMFIP_NR_HELO; break;
    case SMFIC_MAIL: nr = SMFIP_NR_MAIL; break;
    case SMFIC_RCPT: nr = SMFIP_NR_RCPT; break;
    case SMFIC_DATA: nr = SMFIP_NR_DATA; break;
    case SMFIC_UNKNOWN: nr = SMFIP_NR_UNKN; break;
    case SMFIC_EOH: nr = SMFIP_NR_EOH; break;
    case SMFIC_BODY: nr = SMFIP_NR_BODY; break;
    case SMFIC_HEADER: nr = SMFIP_NR_HDR; break;
    default: return 1;
    }
    return !(s->proto & nr);
}

/* ---- deciding ------------------------------------------------------------------------------ */

/* The local submission at END-OF-MESSAGE. */
static void decide_local(maillimit__milter_ctx *c, maillimit__milter_session *s, int64_t now,
                         maillimit__milter_event *ev)
{
    maillimit_policy_outcome *o = &ev->outcome;
    if (s->sender_bad) {
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
        ev->level = MAILLIMIT_LEVEL_DOMAIN;
        snprintf(ev->name, sizeof ev->name, "%s", MAILLIMIT__UNATTRIBUTED);
    } else {
        int rc = maillimit__milter_local_attribute(c, s->sender, ev);
        if (rc) {
            o->result = MAILLIMIT_POLICY_FAILOPEN;
            o->error = rc;
            return;
        }
    }
    if (ev->who == MAILLIMIT__WHO_EXEMPT_USER) {
        o->result = MAILLIMIT_POLICY_PASS;
        o->pass = MAILLIMIT_POLICY_PASS_EXEMPT;
        return;
    }
    int unit = MAILLIMIT_UNIT_MESSAGES;
    maillimit_unit_get(c->ml, &unit);
    int64_t cost = unit == MAILLIMIT_UNIT_RECIPIENTS ? (s->rcpts > 0 ? s->rcpts : 1) : 1;
    if (cost > MAILLIMIT_COST_MAX)
        cost = MAILLIMIT_COST_MAX;
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    int rc = c->hook ? c->hook(c->hook_ud, ev->level, ev->name, cost, now, &v)
                     : maillimit_decide(c->ml, ev->level, ev->name, cost, now, &v);
    if (rc == MAILLIMIT_EINVAL && ev->level == MAILLIMIT_LEVEL_DOMAIN) {
        /* a sender domain that is no valid name: unattributed */
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
        snprintf(ev->name, sizeof ev->name, "%s", MAILLIMIT__UNATTRIBUTED);
        rc = c->hook ? c->hook(c->hook_ud, ev->level, ev->name, cost, now, &v)
                     : maillimit_decide(c->ml, ev->level, ev->name, cost, now, &v);
    }
    if (rc == MAILLIMIT__DECIDE_PENDING) {
        o->result = MAILLIMIT__POLICY_PENDING;
        return;
    }
    o->level = ev->level;
    snprintf(o->name, sizeof o->name, "%s",
             ev->who == MAILLIMIT__WHO_SYSUSER ? ev->login : ev->name);
    if (rc) {
        o->result = MAILLIMIT_POLICY_FAILOPEN;
        o->error = rc;
        return;
    }
    if (ev->who == MAILLIMIT__WHO_DOMAIN && v.reason == MAILLIMIT_REASON_UNKNOWN)
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
    maillimit__outcome_verdict(o, &v, cost);
}

/* SMTP mail at END-OF-MESSAGE: the policy service's attribution and decision. */
static void decide_smtp(maillimit__milter_ctx *c, maillimit__milter_session *s, int64_t now,
                        maillimit__milter_event *ev)
{
    maillimit__policy_req r;
    memset(&r, 0, sizeof r);
    char count[24];
    snprintf(count, sizeof count, "%lld", (long long)(s->rcpts > 0 ? s->rcpts : 1));
#define STR(field, text) (r.field.p = (text), r.field.n = strlen(text))
    STR(request, "smtpd_access_policy");
    STR(protocol_state, "END-OF-MESSAGE");
    STR(recipient_count, count);
    if (!s->sender_bad)
        STR(sender, s->sender);
    if (s->client[0])
        STR(client_address, s->client);
    if (s->auth[0])
        STR(sasl_username, s->auth);
#undef STR
    maillimit__policy_decide(c->policy, &r, now, &ev->outcome);
    ev->level = ev->outcome.level;
    snprintf(ev->name, sizeof ev->name, "%s", ev->outcome.name);
    if (s->auth[0]) {
        ev->who = MAILLIMIT__WHO_SASL;
        snprintf(ev->login, sizeof ev->login, "%s", s->auth);
    } else {
        ev->who = ev->outcome.result == MAILLIMIT_POLICY_PASS ? MAILLIMIT__WHO_NONE
                                                                : MAILLIMIT__WHO_DOMAIN;
    }
    if (ev->who == MAILLIMIT__WHO_DOMAIN && ev->outcome.reason == MAILLIMIT_REASON_UNKNOWN)
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
}

/* The reply at END-OF-MESSAGE. */
static void eom_reply(maillimit__milter_ctx *c, maillimit__milter_session *s,
                      maillimit__milter_event *ev, char *reply, size_t *rl)
{
    const maillimit_policy_outcome *o = &ev->outcome;
    if (o->result != MAILLIMIT_POLICY_DENY) {
        reply_add(reply, rl, SMFIR_CONTINUE, NULL, 0);
        return;
    }
    char text[700];
    int action;
    if (s->local) {
        maillimit__policy_text(c->policy, o, text, sizeof text);
        switch (c->local_action) {
        case MAILLIMIT__LOCAL_REJECT: action = MAILLIMIT_POLICY_ACTION_REJECT; break;
        case MAILLIMIT__LOCAL_DEFER: action = MAILLIMIT_POLICY_ACTION_DEFER; break;
        case MAILLIMIT__LOCAL_DISCARD: action = -1; break;
        default: action = MAILLIMIT_POLICY_ACTION_HOLD; break;
        }
        ev->action = c->local_action;
    } else {
        action = maillimit__policy_action(c->policy);
        maillimit__policy_text(c->policy, o, text, sizeof text);
        ev->action = action == MAILLIMIT_POLICY_ACTION_HOLD     ? MAILLIMIT__LOCAL_HOLD
                     : action == MAILLIMIT_POLICY_ACTION_REJECT ? MAILLIMIT__LOCAL_REJECT
                                                         : MAILLIMIT__LOCAL_DEFER;
    }
    snprintf(ev->text, sizeof ev->text, "%s", text);
    switch (action) {
    case MAILLIMIT_POLICY_ACTION_HOLD:
        if (s->actions & SMFIF_QUARANTINE) {
            reply_text(reply, rl, SMFIR_QUARANTINE, "", text);
        } else {
            ev->action = MAILLIMIT__LOCAL_DEFER; /* the MTA cannot hold: defer instead */
            reply_text(reply, rl, SMFIR_REPLYCODE, "450 4.7.0 ", text);
            return;
        }
        reply_add(reply, rl, SMFIR_CONTINUE, NULL, 0);
        break;
    case MAILLIMIT_POLICY_ACTION_REJECT:
    case MAILLIMIT_POLICY_ACTION_DEFER: {
        char code[32];
        maillimit__policy_code(c->policy, s->local ? action : -1, code, sizeof code);
        reply_text(reply, rl, SMFIR_REPLYCODE, code, text);
        break;
    }
    default:
        reply_add(reply, rl, SMFIR_DISCARD, NULL, 0);
        break;
    }
}

int maillimit__milter_packet(maillimit__milter_ctx *c, maillimit__milter_session *s,
                             const char *data, size_t len, int64_t now, size_t *consumed,
                             char *reply, size_t *replylen, maillimit__milter_event *ev)
{
    char cmd;
    const char *p;
    size_t n;
    *replylen = 0;
    memset(ev, 0, sizeof *ev);
    maillimit_policy_outcome_init(&ev->outcome, MAILLIMIT_POLICY_OUTCOME_VERSION);
    ev->level = -1;
    int rc = maillimit__milter_frame(data, len, &cmd, &p, &n, consumed, &ev->problem);
    if (rc || *consumed == 0)
        return rc;
    ev->cmd = cmd;
    if (!s->negotiated && cmd != SMFIC_OPTNEG) {
        ev->problem = "the first milter packet is not SMFIC_OPTNEG";
        return MAILLIMIT_EFORMAT;
    }
    size_t off = 0;
    const char *a;
    switch (cmd) {
    case SMFIC_OPTNEG:
        return optneg(s, p, n, reply, replylen, &ev->problem);
    case SMFIC_MACRO:
        if (n < 1) {
            ev->problem = "an empty SMFIC_MACRO packet";
            return MAILLIMIT_EFORMAT;
        }
        macros(s, p, n);
        return 0; /* never answered */
    case SMFIC_CONNECT: {
        const char *host = next_str(p, n, &off);
        if (!host || off >= n) {
            ev->problem = "a malformed SMFIC_CONNECT packet";
            return MAILLIMIT_EFORMAT;
        }
        char family = p[off++];
        s->client[0] = '\0';
        if (family == '4' || family == '6') {
            if (n - off < 2) {
                ev->problem = "a malformed SMFIC_CONNECT packet";
                return MAILLIMIT_EFORMAT;
            }
            off += 2; /* port */
            if (!(a = next_str(p, n, &off))) {
                ev->problem = "a malformed SMFIC_CONNECT packet";
                return MAILLIMIT_EFORMAT;
            }
            /* IPv6 addresses may come as "IPv6:..." */
            if (strncmp(a, "IPv6:", 5) == 0)
                a += 5;
            copy_fit(s->client, sizeof s->client, a);
        }
        break;
    }
    case SMFIC_MAIL:
        if (!(a = next_str(p, n, &off))) {
            ev->problem = "a malformed SMFIC_MAIL packet";
            return MAILLIMIT_EFORMAT;
        }
        /* a new message; the macros of MAIL (sent just before) stay */
        s->in_message = 1;
        s->rcpts = 0;
        strip_brackets(s->sender, sizeof s->sender, a, &s->sender_bad);
        break;
    case SMFIC_RCPT:
        if (!next_str(p, n, &off)) {
            ev->problem = "a malformed SMFIC_RCPT packet";
            return MAILLIMIT_EFORMAT;
        }
        s->rcpts++;
        break;
    case SMFIC_BODYEOB:
        if (!s->in_message) {
            /* end of a message we did not see begin: nothing to count */
            reply_add(reply, replylen, SMFIR_CONTINUE, NULL, 0);
            return 0;
        }
        ev->decided = 1;
        snprintf(ev->queue_id, sizeof ev->queue_id, "%s", s->queue_id[0] ? s->queue_id : "-");
        snprintf(ev->sender, sizeof ev->sender, "%s", s->sender_bad ? "?" : s->sender);
        if (s->local)
            decide_local(c, s, now, ev);
        else
            decide_smtp(c, s, now, ev);
        if (ev->outcome.result == MAILLIMIT__POLICY_PENDING) {
            /* the verdict comes later: the same packet is handled again then */
            ev->decided = 0;
            ev->pending = 1;
            *consumed = 0;
            return 0;
        }
        eom_reply(c, s, ev, reply, replylen);
        message_reset(s);
        return 0;
    case SMFIC_ABORT:
        if (s->in_message)
            ev->aborted = 1;
        message_reset(s);
        return 0; /* never answered */
    case SMFIC_QUIT:
        ev->quit = 1;
        return 0;
    case SMFIC_QUIT_NC:
        /* the MTA's connection ends, another follows on this socket with the options
         * negotiated (as sendmail's libmilter keeps them): forget the client */
        if (s->in_message)
            ev->aborted = 1;
        message_reset(s);
        s->client[0] = '\0';
        return 0;
    case SMFIC_HELO:
    case SMFIC_DATA:
    case SMFIC_HEADER:
    case SMFIC_EOH:
    case SMFIC_BODY:
    case SMFIC_UNKNOWN:
        break;
    default:
        ev->problem = "an unknown milter command";
        return MAILLIMIT_EFORMAT;
    }
    if (wants_reply(s, cmd))
        reply_add(reply, replylen, SMFIR_CONTINUE, NULL, 0);
    return 0;
}
