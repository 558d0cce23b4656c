/* SPDX-License-Identifier: MIT */
/* Connections of the policy, milter and admin protocols: accepting, reading, answering each
 * complete request, writing the replies back, the log lines of the decisions, and the
 * sweeper that closes idle and stuck connections.
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
 */
#define _GNU_SOURCE

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "server_internal.h"

enum { OUT_CAP = 8192, PARTIAL_TIMEOUT_MS = 30000 };

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
    free(c->cl_name);
    free(c);
    if (s->stopping)
        s->handles_closed(s);
}

void maillimit__conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->cl_req) {
        maillimit__cluster_cancel(c->cl_req);
        c->cl_req = NULL;
        c->cl_wait = 0;
    }
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
        if (!c->closing && !c->writing && !c->cl_wait)
            maillimit__conn_close(c);
        return;
    }
    if (n < 0) {
        if (n != UV_EOF)
            slog(c->s, MAILLIMIT_SERVER_LOG_DEBUG, "%s: read error: %s", c->peer,
                 uv_strerror((int)n));
        else if (c->inlen)
            slog(c->s, MAILLIMIT_SERVER_LOG_WARNING,
                 "%s: connection closed in the middle of a request",
                 c->peer);
        maillimit__conn_close(c);
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
    int want = !c->closing && !c->writing && !c->cl_wait;
    if (want && !c->reading) {
        if (uv_read_start(&c->u.s, on_alloc, on_read) == 0)
            c->reading = 1;
        else
            maillimit__conn_close(c);
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
        slog(c->s, MAILLIMIT_SERVER_LOG_DEBUG, "%s: write error: %s", c->peer, uv_strerror(status));
        maillimit__conn_close(c);
        return;
    }
    c->outlen = c->outoff = 0;
    if (c->admin) {
        free(c->out);
        c->out = NULL;
    }
    if (c->eof) {
        maillimit__conn_close(c);
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
                maillimit__conn_close(c);
                return;
            }
            c->writing = 1;
            read_state(c);
            return;
        }
        slog(c->s, MAILLIMIT_SERVER_LOG_DEBUG, "%s: write error: %s", c->peer, uv_strerror(n));
        maillimit__conn_close(c);
        return;
    }
    c->outlen = c->outoff = 0;
    if (c->admin) {
        free(c->out);
        c->out = NULL;
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
        slog(s, MAILLIMIT_SERVER_LOG_INFO, "deny: %s %s: %llu more refused in the last %llu s",
             level_word(level), name, (unsigned long long)n, (unsigned long long)secs);
    else
        slog(s, MAILLIMIT_SERVER_LOG_INFO, "deny: %llu more refused for other senders in the last "
             "%llu s", (unsigned long long)n, (unsigned long long)secs);
}

static void log_outcome(struct conn *c, const char *req, size_t reqlen,
                        const maillimit_policy_outcome *o, const char *reply, size_t replylen)
{
    maillimit_server *s = c->s;
    int prio;
    switch (o->result) {
    case MAILLIMIT_POLICY_DENY: prio = MAILLIMIT_SERVER_LOG_INFO; break;
    case MAILLIMIT_POLICY_FAILOPEN: prio = MAILLIMIT_SERVER_LOG_WARNING; break;
    case MAILLIMIT_POLICY_PASS:
        prio = o->pass == MAILLIMIT_POLICY_PASS_NOT_POLICY ? MAILLIMIT_SERVER_LOG_WARNING
                                                            : MAILLIMIT_SERVER_LOG_DEBUG;
        break;
    default: prio = MAILLIMIT_SERVER_LOG_DEBUG; break;
    }
    if (prio == MAILLIMIT_SERVER_LOG_DEBUG && !s->verbose)
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
        slog(s, prio, "%s: %s", o->pass == MAILLIMIT_POLICY_PASS_NOT_POLICY
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

static void cluster_done(void *ud, const maillimit_verdict *v);

/* cluster_redis: the decider of the policy requests of connection ud (struct conn's cl_*). */
static int cluster_hook(void *ud, int level, const char *name, int64_t cost, int64_t now,
                        maillimit_verdict *v)
{
    struct conn *c = ud;
    if (c->cl_have && c->cl_level == level && c->cl_name && strcmp(c->cl_name, name) == 0) {
        *v = c->cl_v;
        c->cl_have = 0;
        return 0;
    }
    int rc = maillimit__cluster_decide(c->s->cluster, level, name, cost, now, v, cluster_done,
                                       c, &c->cl_req);
    if (rc != MAILLIMIT__CLUSTER_PENDING)
        return rc;
    free(c->cl_name);
    c->cl_name = strdup(name);
    c->cl_level = level;
    return MAILLIMIT__DECIDE_PENDING;
}

/* Before and after a request or packet of connection c: its decisions through cluster_hook
 * (the policy object's and the milter's local submissions). */
static void cluster_hooks(struct conn *c, int on)
{
    maillimit_server *s = c->s;
    maillimit__policy_hook_set(s->policy, on ? cluster_hook : NULL, on ? c : NULL);
    s->milter.hook = on ? cluster_hook : NULL;
    s->milter.hook_ud = on ? c : NULL;
}

static void cluster_done(void *ud, const maillimit_verdict *v)
{
    struct conn *c = ud;
    c->cl_req = NULL;
    c->cl_wait = 0;
    c->cl_have = 1;
    c->cl_v = *v;
    conn_process(c);
    if (c->eof && !c->closing && !c->writing && !c->cl_wait)
        maillimit__conn_close(c); /* one request per connection (Exim): answered */
}

/* One policy request at in[off..inlen) (see maillimit_policy_request); with cluster_redis
 * through cluster_hook, at a time kept for a request that has to wait. */
static int policy_request(struct conn *c, size_t off, size_t *used, size_t *rl,
                          maillimit_policy_outcome *o)
{
    maillimit_server *s = c->s;
    if (!s->cluster)
        return maillimit_policy_request(s->policy, c->in + off, c->inlen - off, 0, used,
                                        c->out + c->outlen, rl, o);
    int64_t now = c->cl_have ? c->cl_now : (int64_t)time(NULL);
    cluster_hooks(c, 1);
    int rc = maillimit_policy_request(s->policy, c->in + off, c->inlen - off, now, used,
                                      c->out + c->outlen, rl, o);
    cluster_hooks(c, 0);
    c->cl_have = 0;
    if (rc == 0 && o->result == MAILLIMIT__POLICY_PENDING) {
        c->cl_now = now; /* cluster_done runs the request again */
        c->cl_wait = 1;
    }
    return rc;
}

static void policy_process(struct conn *c)
{
    maillimit_server *s = c->s;
    size_t off = 0;
    maillimit_policy_outcome o;
    /* each request resets it */
    maillimit_policy_outcome_init(&o, MAILLIMIT_POLICY_OUTCOME_VERSION);
    while (!c->closing && !c->writing && !c->cl_wait) {
        while (off < c->inlen && c->outlen + MAILLIMIT_POLICY_REPLY_MAX <= OUT_CAP) {
            size_t used, rl = OUT_CAP - c->outlen;
            uint64_t t0 = mono_ns();
            int rc = policy_request(c, off, &used, &rl, &o);
            if (rc != 0) {
                s->st_garbage++;
                maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_POLICY], 1);
                slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: %s; closing the connection", c->peer,
                     rc == MAILLIMIT_EFORMAT && o.problem ? o.problem : maillimit_strerror(rc));
                maillimit__conn_close(c);
                return;
            }
            if (c->cl_wait || used == 0)
                break;
            maillimit__metrics_outcome(&s->metrics, MAILLIMIT__PROTO_POLICY, &o, mono_ns() - t0);
            if (o.result == MAILLIMIT_POLICY_DENY &&
                uv_now(s->loop) - s->events_polled_ms >= 1000)
                maillimit__events_poll_try(s); /* "limit reached" in the log right away */
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
    if (c->cl_wait && c->outlen && !c->writing && !c->closing)
        conn_flush(c); /* the answers before the waiting request */
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
        slog(s, MAILLIMIT_SERVER_LOG_INFO, "%s: %s: queue id %s: %s: %s %s: %s %s count=%lld "
             "limit=%lld retry_after=%lld; sender=<%s>; %s", action_words[ev->action & 3], kind,
             ev->queue_id, who, level_word(o->level), ev->name, level_word(o->deny_level),
             o->deny_window == MAILLIMIT_WINDOW_DAY ? "day" : "hour", (long long)o->count,
             (long long)o->limit, (long long)o->retry_after, ev->sender, ev->text);
        break;
    case MAILLIMIT_POLICY_FAILOPEN:
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: queue id %s: decision failed for %s %s: %s; "
             "accepted; sender=<%s>", kind, ev->queue_id, level_word(o->level), o->name,
             maillimit_strerror(o->error), ev->sender);
        break;
    default:
        if (ev->who == MAILLIMIT__WHO_UNATTRIBUTED && c->milter == MILTER_LOCAL)
            slog(s, MAILLIMIT_SERVER_LOG_INFO,
                 "%s: queue id %s: unattributed (counted in the server "
                 "total only): sender=<%s>", kind, ev->queue_id, ev->sender);
        else
            slog(s, MAILLIMIT_SERVER_LOG_DEBUG, "%s: queue id %s: %s: %s cost=%lld count=%lld "
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
    while (!c->closing && !c->writing && !c->cl_wait) {
        while (off < c->inlen && c->outlen + MAILLIMIT__MILTER_REPLY_MAX <= OUT_CAP) {
            size_t used, rl = 0;
            uint64_t t0 = mono_ns();
            int64_t now = 0;
            if (s->cluster) {
                now = c->cl_have ? c->cl_now : (int64_t)time(NULL);
                cluster_hooks(c, 1);
            }
            int rc = maillimit__milter_packet(&s->milter, c->ms, c->in + off, c->inlen - off,
                                              now, &used, c->out + c->outlen, &rl, &ev);
            if (s->cluster) {
                cluster_hooks(c, 0);
                c->cl_have = 0;
                if (rc == 0 && ev.pending) {
                    c->cl_now = now; /* cluster_done handles the packet again */
                    c->cl_wait = 1;
                    break;
                }
            }
            if (rc != 0) {
                s->st_garbage++;
                maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_MILTER], 1);
                slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: %s; closing the connection", c->peer,
                     ev.problem ? ev.problem : maillimit_strerror(rc));
                maillimit__conn_close(c);
                return;
            }
            if (used == 0)
                break;
            off += used;
            c->outlen += rl;
            if (ev.aborted)
                maillimit__inc(&s->metrics.milter_aborted, 1);
            if (ev.decided) {
                maillimit__metrics_outcome(&s->metrics, MAILLIMIT__PROTO_MILTER, &ev.outcome,
                                           mono_ns() - t0);
                if (ev.outcome.result == MAILLIMIT_POLICY_DENY &&
                    uv_now(s->loop) - s->events_polled_ms >= 1000)
                    maillimit__events_poll_try(s);
                if (ev.who == MAILLIMIT__WHO_UNATTRIBUTED)
                    s->st_milter_unattributed++;
                milter_log(c, &ev);
            }
            if (ev.quit) {
                c->inlen = 0;
                off = 0;
                conn_flush(c);
                maillimit__conn_close(c);
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
    if (c->cl_wait && c->outlen && !c->writing && !c->closing)
        conn_flush(c); /* the replies before the waiting packet */
}

static void admin_process(struct conn *c)
{
    maillimit_server *s = c->s;
    while (!c->closing && !c->writing && c->inlen) {
        maillimit__admin_host host = s->admin;
        host.ml = s->ml; /* the handle a snapshot load at start may have replaced */
        size_t used = 0, rl = 0;
        char *reply = NULL;
        int rc = maillimit__admin_handle(&host, c->in, c->inlen, &used, &reply, &rl);
        if (rc != 0) {
            maillimit__inc(&s->metrics.protocol_errors[MAILLIMIT__PROTO_ADMIN], 1);
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: admin protocol: %s; closing the connection",
                 c->peer, rc == MAILLIMIT_EFORMAT ? "not a msgpack-RPC request" : maillimit_strerror(rc));
            maillimit__conn_close(c);
            return;
        }
        if (used == 0)
            break;
        s->st_admin++;
        maillimit__inc(&s->metrics.admin_requests, 1);
        s->maybe_changed(s); /* the request may have changed the hierarchy */
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
        maillimit__conn_close(c);
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

void maillimit__on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    maillimit_server *s = l->s;
    if (status < 0) {
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: accept: %s", l->addr.spec, uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "out of memory accepting a connection");
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
        maillimit__conn_close(c);
        return;
    }
    if (!l->addr.unix_)
        uv_tcp_nodelay(&c->u.tcp, 1);
    peer_name(c, l);
    if (s->stopping) {
        maillimit__conn_close(c);
        return;
    }
    if (!c->admin && s->npolicy_conns > s->conf.max_connections) {
        s->st_refused++;
        maillimit__inc(&s->metrics.conns_refused[conn_proto(c)], 1);
        uint64_t now = uv_now(s->loop);
        if (now - s->refused_logged_ms >= 10000 || s->refused_logged_ms == 0) {
            s->refused_logged_ms = now ? now : 1;
            slog(s, MAILLIMIT_SERVER_LOG_WARNING,
                 "%s: too many connections (policy_max_connections %lld); closing it", c->peer,
                 (long long)s->conf.max_connections);
        }
        maillimit__conn_close(c);
        return;
    }
    c->incap = c->admin ? 0 : c->milter ? 65536 : MAILLIMIT_POLICY_REQUEST_MAX;
    c->in = c->admin ? NULL : malloc(c->incap);
    c->out = c->admin ? NULL : malloc(OUT_CAP);
    if (c->milter && (c->ms = malloc(sizeof *c->ms)))
        maillimit__milter_session_init(c->ms, c->milter == MILTER_LOCAL);
    if (!c->admin && (!c->in || !c->out || (c->milter && !c->ms))) {
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "out of memory accepting a connection");
        maillimit__conn_close(c);
        return;
    }
    s->st_conns++;
    maillimit__inc(&s->metrics.conns_accepted[conn_proto(c)], 1);
    maillimit__inc(&s->metrics.conns_open[conn_proto(c)], 1);
    c->counted = 1;
    c->last_ms = uv_now(s->loop);
    slog(s, MAILLIMIT_SERVER_LOG_DEBUG, "connect from %s", c->peer);
    read_state(c);
}

void maillimit__on_sweep(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    s->maybe_changed(s); /* the hierarchy may change through the library's API too */
    if (s->denylog)
        maillimit__denylog_flush(s->denylog, uv_now(s->loop), deny_summary, s);
    if (s->tick_pending)
        maillimit__tick_try(s);
    uint64_t now = uv_now(s->loop);
    uint64_t idle_ms = (uint64_t)s->conf.idle_timeout * 1000;
    for (struct conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        uint64_t idle = now - c->last_ms;
        if (c->inlen && idle >= PARTIAL_TIMEOUT_MS) {
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: timeout in the middle of a request; closing",
                 c->peer);
            maillimit__conn_close(c);
        } else if (idle >= idle_ms && !c->writing) {
            slog(s, MAILLIMIT_SERVER_LOG_DEBUG, "%s: idle for %llu s; closing", c->peer,
                 (unsigned long long)(idle / 1000));
            maillimit__conn_close(c);
        } else if (c->writing && idle >= idle_ms) {
            slog(s, MAILLIMIT_SERVER_LOG_WARNING, "%s: does not read its replies; closing",
                 c->peer);
            maillimit__conn_close(c);
        }
    }
}
