/* SPDX-License-Identifier: MIT */
/* Load benchmark of the milter: maillimitd against a do-nothing milter.
 *
 *   bench_milter [--quick] [--seconds S] [--repeat N] [--conns C] [--mode M] [--auth]
 *                [--quickack] [--maillimitd PATH | PATH]
 *   bench_milter --nothing-milter PORT [--quickack]   (the do-nothing milter alone)
 *
 * In one run: starts a do-nothing milter (a child process of this program, one libuv thread,
 * like maillimitd) and maillimitd (a child process with a generated configuration:
 * `milter_listen inet:127.0.0.1:PORT`, `local_network 127.0.0.0/8`, 100 subscriptions, 1000
 * domains with high limits, of which every 100th has a domain limit of 0, so that 1 % of the
 * messages are refused and the refusal path and its log line are part of the load), then
 * drives each with the same load generator, alternately, --repeat times (default 3): each
 * figure is the median, so that load drifting on a shared machine falls on both.
 *
 * The generator speaks the MTA's side of the milter protocol (version 6, as Postfix 3.x
 * does) over C connections (default 64, one message in flight on each), and offers what
 * Postfix offers at SMFIC_OPTNEG: every action and every protocol flag. Per message, the
 * events Postfix sends to a milter: CONNECT (127.0.0.1), HELO, MAIL <userU@domD.example>, RCPT
 * x1..3, DATA, four headers, end of headers, a body chunk of 1 KiB, BODYEOB, each preceded by
 * its macros (Postfix's default milter_*_macros, or the list the milter asked for per stage
 * with SMFIF_SETSYMLIST). It honours the negotiation: an event the milter skips (SMFIP_NO*) is
 * not sent, and a reply is awaited only where the milter did not negotiate it away
 * (SMFIP_NR_*), so with maillimitd's flags a message is one write and one reply. The
 * do-nothing milter negotiates the same flags and macros as maillimitd does (the generator
 * prints both and warns if they differ) and answers SMFIR_CONTINUE to everything that needs
 * an answer, so both get the same bytes.
 *
 * Modes (--mode, default all three; `both` is the first two):
 * - `persistent` keeps the C milter connections open and begins each message with CONNECT (as
 *   if every message came in its own SMTP session, but without the connection set up);
 * - `reconnect` opens a new milter connection per message (connect, OPTNEG, the message,
 *   SMFIC_QUIT, close), which is what Postfix's smtpd does for an SMTP session of one message
 *   (a milter connection per session);
 * - `postfix` is `reconnect` written the way Postfix 3.7 writes: no TCP_NODELAY, the envelope
 *   (CONNECT, MAIL, RCPT and their macros) in one write (smtpd flushes it when it hands the
 *   connection to cleanup) and the end of the message in a second one (cleanup), then
 *   SMFIC_ABORT twice and SMFIC_QUIT. If the milter answers nothing before the end of the
 *   message (SMFIP_NR_*), the kernel delays its ACK of the envelope and Nagle holds the second
 *   write until that ACK comes: about 40 ms per message. --quickack makes the do-nothing
 *   milter set TCP_QUICKACK after each read (no delayed ACK), for comparison.
 *
 * maillimitd's replies are checked: SMFIR_CONTINUE for a message of a limited domain,
 * SMFIR_REPLYCODE "450 ..." for one of a domain with limit 0; anything else, a connection
 * closed by the milter or a protocol error counts as an error. --auth sends {auth_authen}
 * (a SASL login per sender) at MAIL, so maillimitd decides per mailbox (created implicitly)
 * instead of per domain.
 *
 * Reports messages/s, p50/p99 latency (message start to the end-of-message reply) and the
 * milter's CPU time per message (/proc/PID/schedstat), and the ratio maillimitd/do-nothing
 * (target >= 0.80). Exit status 0 unless something failed to run or a reply was wrong
 * (targets are reported, not enforced).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bench_proc.h"

#ifndef MAILLIMITD_PATH
#define MAILLIMITD_PATH "maillimitd"
#endif

enum {
    HIST_US = 200000, SENDERS = 10000, DOMAINS = 1000, SUBS = 100, DENY_EVERY = 100,
    MAXCONN = 1024
};

/* ---- the protocol --------------------------------------------------------------------------- */

enum {
    SMFIC_ABORT = 'A', SMFIC_BODY = 'B', SMFIC_CONNECT = 'C', SMFIC_MACRO = 'D',
    SMFIC_BODYEOB = 'E', SMFIC_HELO = 'H', SMFIC_QUIT_NC = 'K', SMFIC_HEADER = 'L',
    SMFIC_MAIL = 'M', SMFIC_EOH = 'N', SMFIC_OPTNEG = 'O', SMFIC_QUIT = 'Q', SMFIC_RCPT = 'R',
    SMFIC_DATA = 'T', SMFIC_UNKNOWN = 'U'
};
enum {
    SMFIF_QUARANTINE = 0x20, SMFIF_SETSYMLIST = 0x100, SMFIF_ALL = 0x1ff
};
enum {
    SMFIP_NOCONNECT = 0x1, SMFIP_NOHELO = 0x2, SMFIP_NOMAIL = 0x4, SMFIP_NORCPT = 0x8,
    SMFIP_NOBODY = 0x10, SMFIP_NOHDRS = 0x20, SMFIP_NOEOH = 0x40, SMFIP_NR_HDR = 0x80,
    SMFIP_NOUNKNOWN = 0x100, SMFIP_NODATA = 0x200, SMFIP_NR_CONN = 0x1000,
    SMFIP_NR_HELO = 0x2000, SMFIP_NR_MAIL = 0x4000, SMFIP_NR_RCPT = 0x8000,
    SMFIP_NR_DATA = 0x10000, SMFIP_NR_UNKN = 0x20000, SMFIP_NR_EOH = 0x40000,
    SMFIP_NR_BODY = 0x80000, SMFIP_ALL = 0x1fffff /* everything up to HDR_LEADSPC */
};
/* macro stages */
enum { ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_EOM, ST_EOH, NSTAGES };

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

/* ---- the do-nothing milter ------------------------------------------------------------------ */

/* --quickack (with --nothing-milter): set TCP_QUICKACK after every read, so that the kernel
 * acknowledges the MTA's data at once instead of delaying the ACK (Linux). An MTA that does
 * not set TCP_NODELAY (Postfix) and writes twice before it reads a reply waits for that ACK
 * (Nagle): with a milter that answers nothing before the end of the message, Postfix's
 * cleanup waits about 40 ms for it to send SMFIC_BODYEOB. tests/bench/README.md, "Milter". */
static int quickack;

typedef struct dconn {
    uv_tcp_t tcp;
    char *in;
    size_t inlen, incap;
    uint32_t proto; /* negotiated protocol flags */
    int negotiated, closing;
} dconn;

static void d_closed(uv_handle_t *h)
{
    dconn *c = h->data;
    free(c->in);
    free(c);
}

static void d_close(dconn *c)
{
    if (!c->closing) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, d_closed);
    }
}

static void d_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    dconn *c = h->data;
    if (c->incap - c->inlen < 16384) {
        size_t cap = c->incap ? c->incap * 2 : 65536;
        char *n = realloc(c->in, cap);
        if (n) {
            c->in = n;
            c->incap = cap;
        }
    }
    *b = uv_buf_init(c->in + c->inlen, (unsigned)(c->incap - c->inlen));
}

static void d_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void reply_add(char *out, size_t *ol, char cmd, const void *data, size_t n)
{
    put32(out + *ol, (uint32_t)(n + 1));
    out[*ol + 4] = cmd;
    if (n)
        memcpy(out + *ol + 5, data, n);
    *ol += 5 + n;
}

/* The negotiation maillimitd answers (libmaillimit/server/milter.c, SMTP listener). */
static void d_optneg(dconn *c, const char *p, size_t n, char *out, size_t *ol)
{
    if (n < 12) {
        d_close(c);
        return;
    }
    uint32_t version = get32(p), actions = get32(p + 4), proto = get32(p + 8);
    if (version > 6)
        version = 6;
    uint32_t want_actions = SMFIF_QUARANTINE | (version >= 6 ? SMFIF_SETSYMLIST : 0);
    uint32_t skip = SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN |
                    SMFIP_NODATA;
    uint32_t noreply = SMFIP_NR_CONN | SMFIP_NR_HELO | SMFIP_NR_MAIL | SMFIP_NR_RCPT |
                       SMFIP_NR_DATA | SMFIP_NR_UNKN | SMFIP_NR_EOH | SMFIP_NR_BODY |
                       SMFIP_NR_HDR;
    actions &= want_actions;
    c->proto = proto & (skip | noreply);
    c->negotiated = 1;
    char b[64];
    size_t bn = 12;
    put32(b, version);
    put32(b + 4, actions);
    put32(b + 8, c->proto);
    if (actions & SMFIF_SETSYMLIST) {
        static const struct { uint32_t stage; const char *list; } sym[2] = {
            { ST_MAIL, "{auth_authen}" }, { ST_EOM, "i" } };
        for (int i = 0; i < 2; i++) {
            size_t ln = strlen(sym[i].list);
            put32(b + bn, sym[i].stage);
            memcpy(b + bn + 4, sym[i].list, ln + 1);
            bn += 4 + ln + 1;
        }
    }
    reply_add(out, ol, SMFIC_OPTNEG, b, bn);
}

static int d_wants_reply(const dconn *c, char cmd)
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
    case SMFIC_BODYEOB: return 1;
    default: return 0; /* macros, abort, quit: never answered */
    }
    return !(c->proto & nr);
}

static void d_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    dconn *c = st->data;
    if (n < 0) {
        d_close(c);
        return;
    }
#ifdef TCP_QUICKACK
    if (quickack) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)st, &fd) == 0)
            setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
#endif
    c->inlen += (size_t)n;
    char out[16384];
    size_t ol = 0, off = 0;
    int quit = 0;
    while (c->inlen - off >= 4 && !quit && !c->closing) {
        uint32_t len = get32(c->in + off);
        if (len == 0 || len > 262144) {
            d_close(c);
            return;
        }
        if (c->inlen - off - 4 < len)
            break;
        char cmd = c->in[off + 4];
        const char *p = c->in + off + 5;
        off += 4 + (size_t)len;
        if (!c->negotiated && cmd != SMFIC_OPTNEG) {
            d_close(c);
            return;
        }
        if (cmd == SMFIC_OPTNEG)
            d_optneg(c, p, len - 1, out, &ol);
        else if (cmd == SMFIC_QUIT)
            quit = 1;
        else if (cmd == SMFIC_QUIT_NC)
            ; /* the connection goes on with a new session */
        else if (d_wants_reply(c, cmd))
            reply_add(out, &ol, 'c', NULL, 0);
        if (ol + 256 > sizeof out) {
            /* flush a long run of replies (a client pipelining many commands) */
            uv_buf_t ob = uv_buf_init(out, (unsigned)ol);
            int w = uv_try_write(st, &ob, 1);
            size_t done = w > 0 ? (size_t)w : 0;
            if (done < ol) {
                uv_write_t *wr = malloc(sizeof *wr + ol - done);
                memcpy(wr + 1, out + done, ol - done);
                uv_buf_t rb = uv_buf_init((char *)(wr + 1), (unsigned)(ol - done));
                uv_write(wr, st, &rb, 1, d_written);
            }
            ol = 0;
        }
    }
    if (c->closing)
        return;
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    if (ol) {
        uv_buf_t ob = uv_buf_init(out, (unsigned)ol);
        int w = uv_try_write(st, &ob, 1);
        size_t done = w > 0 ? (size_t)w : 0;
        if (w < 0 && w != UV_EAGAIN) {
            d_close(c);
            return;
        }
        if (done < ol) {
            uv_write_t *wr = malloc(sizeof *wr + ol - done);
            memcpy(wr + 1, out + done, ol - done);
            uv_buf_t rb = uv_buf_init((char *)(wr + 1), (unsigned)(ol - done));
            uv_write(wr, st, &rb, 1, d_written);
        }
    }
    if (quit)
        d_close(c);
}

static void d_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    dconn *c = calloc(1, sizeof *c);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
        d_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, d_alloc, d_read);
}

static int nothing_milter(int port)
{
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t srv;
    struct sockaddr_in a;
    uv_tcp_init(loop, &srv);
    uv_ip4_addr("127.0.0.1", port, &a);
    int rc = uv_tcp_bind(&srv, (struct sockaddr *)&a, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv, 511, d_conn);
    if (rc) {
        fprintf(stderr, "do-nothing milter: 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- the load generator --------------------------------------------------------------------- */

enum { MODE_PERSISTENT = 1, MODE_RECONNECT = 2, MODE_POSTFIX = 4 };
enum { C_CONNECTING, C_NEGOTIATING, C_RUNNING, C_QUITTING, C_CLOSED };
enum { MAXSTEPS = 32 };

/* What a milter negotiated: flags and the macros it wants per stage. */
typedef struct nego {
    uint32_t version, actions, proto;
    char macros[NSTAGES][128];
    int has_macros[NSTAGES];
} nego;

typedef struct gen gen;
typedef struct gconn {
    uv_tcp_t tcp;
    uv_connect_t cr;
    gen *g;
    int state;
    nego n;
    char out[8192];
    size_t outlen, sent;
    size_t eom_start; /* where the macros of the end of the message begin */
    uint32_t step_end[MAXSTEPS]; /* a reply is awaited after the bytes up to step_end[i] */
    int nsteps, cur;
    char in[8192];
    size_t inlen;
    uint64_t start_ns;
    int expect_deny, held;
} gconn;

struct gen {
    uv_loop_t loop;
    uv_timer_t timer;
    gconn *conns;
    int nconns, ready, failed;
    int mode, check, auth;
    struct sockaddr_in addr;
    int measuring, stopping;
    uint64_t seq;
    uint64_t done, allowed, refused, errors;
    uint32_t *hist;
    uint64_t over, max_ns;
    nego first; /* the negotiation of the first connection, for the report */
    int have_first;
    char first_error[200];
};

static void g_error(gen *g, const char *fmt, const char *detail)
{
    g->errors++;
    if (!g->first_error[0])
        snprintf(g->first_error, sizeof g->first_error, fmt, detail);
}

static void pkt(gconn *c, char cmd, const char *data, size_t n)
{
    reply_add(c->out, &c->outlen, cmd, data, n);
}

/* Does the list (space separated, maybe with braces) name macro `name`? */
static int list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != ',')
            e++;
        if ((size_t)(e - p) == n && memcmp(p, name, n) == 0)
            return 1;
        p = e;
    }
    return 0;
}

/* The macros of a stage: name/value pairs (NULL-terminated array); those the milter asked
 * for if it gave a list for this stage, else all of them (Postfix's defaults). */
static void macros(gconn *c, char cmd, int stage, const char *const *nv)
{
    char b[1024];
    size_t bn = 0;
    b[bn++] = cmd;
    for (int i = 0; nv[i]; i += 2) {
        if (!nv[i + 1])
            continue;
        if (c->n.has_macros[stage] && !list_has(c->n.macros[stage], nv[i]))
            continue;
        size_t a = strlen(nv[i]) + 1, v = strlen(nv[i + 1]) + 1;
        if (bn + a + v > sizeof b)
            break;
        memcpy(b + bn, nv[i], a);
        memcpy(b + bn + a, nv[i + 1], v);
        bn += a + v;
    }
    if (bn > 1)
        pkt(c, SMFIC_MACRO, b, bn);
}

/* After an event: if the milter answers it, a reply is awaited here. */
static void step(gconn *c, int reply)
{
    if (reply && c->nsteps < MAXSTEPS)
        c->step_end[c->nsteps++] = (uint32_t)c->outlen;
}

static const char body_text[] =
    "Hello,\r\n\r\nthis is a message of the milter benchmark. It carries a body of about one "
    "kilobyte, as a short notification from a web application would.\r\n";

/* Lay out the next message: every event, its macros, and where replies are awaited. */
static void build_message(gconn *c)
{
    gen *g = c->g;
    uint64_t k = g->seq++;
    unsigned user = (unsigned)((k * 2654435761u) % SENDERS);
    unsigned dom = user % DOMAINS;
    int rcpts = 1 + (int)(k % 3);
    uint32_t pr = c->n.proto;
    char qid[24], sender[100], login[96], buf[512];
    snprintf(qid, sizeof qid, "4%011llX", (unsigned long long)k & 0xffffffffffull);
    snprintf(login, sizeof login, "user%u@dom%u.example", user, dom);
    snprintf(sender, sizeof sender, "<%s>", login);
    c->expect_deny = dom % DENY_EVERY == 0;
    c->held = 0;
    c->outlen = c->sent = 0;
    c->nsteps = c->cur = 0;
    if (!(pr & SMFIP_NOCONNECT)) {
        const char *nv[] = { "j", "mx.bench.example", "{daemon_name}", "smtpd",
                             "{daemon_addr}", "127.0.0.1", "v", "Postfix 3.7.11", "_",
                             "localhost [127.0.0.1]", NULL };
        macros(c, SMFIC_CONNECT, ST_CONNECT, nv);
        static const char conn[] = "localhost\0" "4" "\xd4\x31" "127.0.0.1"; /* port 54321 */
        pkt(c, SMFIC_CONNECT, conn, sizeof conn);
        step(c, !(pr & SMFIP_NR_CONN));
    }
    if (!(pr & SMFIP_NOHELO)) {
        static const char helo[] = "client.bench.example";
        pkt(c, SMFIC_HELO, helo, sizeof helo);
        step(c, !(pr & SMFIP_NR_HELO));
    }
    if (!(pr & SMFIP_NOMAIL)) {
        const char *nv[] = { "i", qid, "{auth_type}", g->auth ? "PLAIN" : NULL,
                             "{auth_authen}", g->auth ? login : NULL, "{mail_addr}", login,
                             NULL };
        macros(c, SMFIC_MAIL, ST_MAIL, nv);
        size_t n = strlen(sender) + 1;
        memcpy(buf, sender, n);
        memcpy(buf + n, "BODY=8BITMIME", 14);
        pkt(c, SMFIC_MAIL, buf, n + 14);
        step(c, !(pr & SMFIP_NR_MAIL));
    }
    for (int r = 0; r < rcpts && !(pr & SMFIP_NORCPT); r++) {
        char rcpt[96];
        snprintf(rcpt, sizeof rcpt, "rcpt%llu.%d@remote.example", (unsigned long long)k, r);
        const char *nv[] = { "i", qid, "{rcpt_addr}", rcpt, "{rcpt_host}", "remote.example",
                             "{rcpt_mailer}", "smtp", NULL };
        macros(c, SMFIC_RCPT, ST_RCPT, nv);
        int n = snprintf(buf, sizeof buf, "<%s>", rcpt);
        pkt(c, SMFIC_RCPT, buf, (size_t)n + 1);
        step(c, !(pr & SMFIP_NR_RCPT));
    }
    if (!(pr & SMFIP_NODATA)) {
        const char *nv[] = { "i", qid, NULL };
        macros(c, SMFIC_DATA, ST_DATA, nv);
        pkt(c, SMFIC_DATA, NULL, 0);
        step(c, !(pr & SMFIP_NR_DATA));
    }
    if (!(pr & SMFIP_NOHDRS)) {
        static const char *const hdr[4][2] = {
            { "From", " <user@example>" }, { "To", " <rcpt@remote.example>" },
            { "Subject", " Your order" }, { "Message-Id", " <1234.5678@bench.example>" } };
        for (int h = 0; h < 4; h++) {
            size_t a = strlen(hdr[h][0]) + 1, v = strlen(hdr[h][1]) + 1;
            memcpy(buf, hdr[h][0], a);
            memcpy(buf + a, hdr[h][1], v);
            pkt(c, SMFIC_HEADER, buf, a + v);
            step(c, !(pr & SMFIP_NR_HDR));
        }
    }
    if (!(pr & SMFIP_NOEOH)) {
        pkt(c, SMFIC_EOH, NULL, 0);
        step(c, !(pr & SMFIP_NR_EOH));
    }
    if (!(pr & SMFIP_NOBODY)) {
        char body[1100];
        size_t bl = 0;
        while (bl + sizeof body_text - 1 <= 1024) {
            memcpy(body + bl, body_text, sizeof body_text - 1);
            bl += sizeof body_text - 1;
        }
        pkt(c, SMFIC_BODY, body, bl);
        step(c, !(pr & SMFIP_NR_BODY));
    }
    const char *nv[] = { "i", qid, NULL };
    c->eom_start = c->outlen;
    macros(c, SMFIC_BODYEOB, ST_EOM, nv);
    pkt(c, SMFIC_BODYEOB, NULL, 0);
    c->step_end[c->nsteps++] = (uint32_t)c->outlen; /* always answered */
}

static void g_written(uv_write_t *w, int status)
{
    gconn *c = w->data;
    free(w);
    if (status < 0 && !c->g->stopping)
        g_error(c->g, "write: %s", uv_strerror(status));
}

static void g_write(gconn *c, const char *p, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)len);
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w == (int)len)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        if (!c->g->stopping)
            g_error(c->g, "write: %s", uv_strerror(w));
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    uv_write_t *wr = malloc(sizeof *wr + len - done);
    memcpy(wr + 1, p + done, len - done);
    wr->data = c;
    uv_buf_t rb = uv_buf_init((char *)(wr + 1), (unsigned)(len - done));
    uv_write(wr, (uv_stream_t *)&c->tcp, &rb, 1, g_written);
}

/* Send up to the next point where a reply is awaited. */
static void send_step(gconn *c)
{
    size_t end = c->step_end[c->cur];
    if (c->g->mode == MODE_POSTFIX && c->sent < c->eom_start && end > c->eom_start) {
        /* Postfix's smtpd flushes the envelope when it hands the milter connection to
         * cleanup; cleanup writes the end of the message later, on its own */
        g_write(c, c->out + c->sent, c->eom_start - c->sent);
        c->sent = c->eom_start;
    }
    g_write(c, c->out + c->sent, end - c->sent);
    c->sent = end;
}

static void start_message(gconn *c)
{
    build_message(c);
    c->start_ns = now_ns();
    send_step(c);
}

static void g_connect(gconn *c);

static void g_closed(uv_handle_t *h)
{
    gconn *c = h->data;
    c->state = C_CLOSED;
    if (!c->g->stopping && c->g->mode != MODE_PERSISTENT)
        g_connect(c);
}

static void g_close(gconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, g_closed);
}

static void message_done(gconn *c, char final)
{
    gen *g = c->g;
    int allowed = (final == 'c' || final == 'a') && !c->held;
    if (g->measuring) {
        uint64_t lat = now_ns() - c->start_ns;
        g->done++;
        if (allowed)
            g->allowed++;
        else
            g->refused++;
        uint64_t us = lat / 1000;
        if (us < HIST_US)
            g->hist[us]++;
        else
            g->over++;
        if (lat > g->max_ns)
            g->max_ns = lat;
    }
    if (g->stopping)
        return;
    if (g->mode == MODE_RECONNECT) {
        /* end of the SMTP session: quit, and the milter closes */
        static const char quit[5] = { 0, 0, 0, 1, SMFIC_QUIT };
        c->state = C_QUITTING;
        g_write(c, quit, sizeof quit);
        return;
    }
    if (g->mode == MODE_POSTFIX) {
        /* what Postfix 3.7 sends at the end of a session of one message */
        static const char quit[15] = { 0, 0, 0, 1, SMFIC_ABORT, 0, 0, 0, 1, SMFIC_ABORT,
                                       0, 0, 0, 1, SMFIC_QUIT };
        c->state = C_QUITTING;
        g_write(c, quit, sizeof quit);
        return;
    }
    start_message(c);
}

static void parse_optneg(gconn *c, const char *p, size_t n)
{
    gen *g = c->g;
    memset(&c->n, 0, sizeof c->n);
    if (n < 12) {
        g_error(g, "%s", "a short SMFIC_OPTNEG reply");
        return;
    }
    c->n.version = get32(p);
    c->n.actions = get32(p + 4);
    c->n.proto = get32(p + 8);
    /* the macros wanted per stage: stage (4 bytes), a list, NUL; repeated */
    size_t off = 12;
    while (n - off >= 5) {
        uint32_t stage = get32(p + off);
        const char *list = p + off + 4;
        const char *z = memchr(list, '\0', n - off - 4);
        if (!z)
            break;
        if (stage < NSTAGES) {
            snprintf(c->n.macros[stage], sizeof c->n.macros[stage], "%s", list);
            c->n.has_macros[stage] = 1;
        }
        off = (size_t)(z - p) + 1;
    }
}

/* One packet from the milter. */
static void g_packet(gconn *c, char cmd, const char *p, size_t n)
{
    gen *g = c->g;
    if (c->state == C_NEGOTIATING) {
        if (cmd != SMFIC_OPTNEG) {
            char what[2] = { cmd, 0 };
            g_error(g, "'%s' instead of the SMFIC_OPTNEG reply", what);
            g_close(c);
            return;
        }
        parse_optneg(c, p, n);
        if (!g->have_first) {
            g->first = c->n;
            g->have_first = 1;
        }
        c->state = C_RUNNING;
        if (g->mode == MODE_PERSISTENT) {
            if (++g->ready == g->nconns)
                for (int i = 0; i < g->nconns; i++)
                    start_message(&g->conns[i]);
        } else if (!g->stopping) {
            start_message(c);
        }
        return;
    }
    if (c->state != C_RUNNING) {
        g_error(g, "%s", "a packet after SMFIC_QUIT");
        return;
    }
    switch (cmd) {
    case 'l': /* a macro list sent as a packet of its own (older maillimitd): stage, list */
        if (n >= 5 && get32(p) < NSTAGES && memchr(p + 4, '\0', n - 4)) {
            snprintf(c->n.macros[get32(p)], sizeof c->n.macros[0], "%s", p + 4);
            c->n.has_macros[get32(p)] = 1;
        }
        return;
    case 'p': /* progress */
        return;
    case 'q': /* quarantine: a modification at the end of the message; a final reply follows */
        c->held = 1;
        return;
    case '+': case '-': case '2': case 'e': case 'h': case 'i': case 'm': case 'b':
        return; /* other modifications */
    case 'c': case 'a': case 'r': case 't': case 'd': case 'y': case 's':
        break;
    default: {
        char what[2] = { cmd, 0 };
        g_error(g, "an unknown reply '%s'", what);
        return;
    }
    }
    if (c->cur >= c->nsteps) {
        char what[2] = { cmd, 0 };
        g_error(g, "a reply '%s' nobody asked for", what);
        return;
    }
    if (c->cur + 1 < c->nsteps) {
        /* an event before the end of the message */
        if (cmd != 'c')
            g_error(g, "reply '%s' before the end of the message", (char[2]){ cmd, 0 });
        c->cur++;
        send_step(c);
        return;
    }
    /* the end of the message */
    if (g->check) {
        int deny_ok = cmd == 'y' && n >= 4 && p[0] == '4' && p[1] == '5' && p[2] == '0';
        if (c->expect_deny && !deny_ok) {
            char what[80];
            snprintf(what, sizeof what, "'%c' %.60s", cmd, cmd == 'y' ? p : "");
            g_error(g, "a message of a domain with limit 0 got %s (expected 'y' 450 ...)", what);
        } else if (!c->expect_deny && (cmd != 'c' || c->held)) {
            char what[80];
            snprintf(what, sizeof what, "'%c'%s %.60s", cmd, c->held ? " after 'q'" : "",
                     cmd == 'y' ? p : "");
            g_error(g, "an allowed message got %s (expected 'c')", what);
        }
    }
    message_done(c, cmd);
}

static void g_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    gconn *c = h->data;
    *b = uv_buf_init(c->in + c->inlen, (unsigned)(sizeof c->in - c->inlen));
}

static void g_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    gconn *c = st->data;
    gen *g = c->g;
    if (n < 0) {
        if (c->state != C_QUITTING && !g->stopping)
            g_error(g, "the milter closed a connection: %s", uv_strerror((int)n));
        g_close(c);
        return;
    }
    c->inlen += (size_t)n;
    size_t off = 0;
    while (c->inlen - off >= 4 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        uint32_t len = get32(c->in + off);
        if (len == 0 || len > sizeof c->in - 4) {
            g_error(g, "%s", "a malformed packet from the milter");
            g_close(c);
            return;
        }
        if (c->inlen - off - 4 < len)
            break;
        const char *pk = c->in + off;
        off += 4 + (size_t)len;
        g_packet(c, pk[4], pk + 5, len - 1);
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
}

static void g_connected(uv_connect_t *cr, int status)
{
    gconn *c = cr->data;
    gen *g = c->g;
    if (status < 0) {
        if (status == UV_ECANCELED || g->stopping)
            return;
        g->failed++;
        g_error(g, "connect: %s", uv_strerror(status));
        uv_stop(&g->loop);
        return;
    }
    /* Postfix does not set TCP_NODELAY on its milter connections */
    uv_tcp_nodelay(&c->tcp, g->mode != MODE_POSTFIX);
    uv_read_start((uv_stream_t *)&c->tcp, g_alloc, g_read);
    /* what Postfix offers: protocol version 6, every action, every protocol flag */
    char o[17];
    put32(o, 13);
    o[4] = SMFIC_OPTNEG;
    put32(o + 5, 6);
    put32(o + 9, SMFIF_ALL);
    put32(o + 13, SMFIP_ALL);
    c->state = C_NEGOTIATING;
    g_write(c, o, sizeof o);
}

static void g_connect(gconn *c)
{
    gen *g = c->g;
    c->state = C_CONNECTING;
    c->inlen = 0;
    uv_tcp_init(&g->loop, &c->tcp);
    c->tcp.data = c;
    c->cr.data = c;
    int rc = uv_tcp_connect(&c->cr, &c->tcp, (struct sockaddr *)&g->addr, g_connected);
    if (rc) {
        g->failed++;
        g_error(g, "connect: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&c->tcp, NULL);
        uv_stop(&g->loop);
    }
}

static void g_timer(uv_timer_t *t)
{
    gen *g = t->data;
    uv_stop(&g->loop);
}

typedef struct result {
    double mps, p50_us, p99_us, max_us, cpu_us, gen_us, refused_pct;
    uint64_t errors;
    nego n;
    char first_error[200];
} result;

/* CPU time of the generator (this thread), in nanoseconds. */
static uint64_t self_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double percentile(const gen *g, double q)
{
    uint64_t want = (uint64_t)(q * (double)g->done), seen = 0;
    for (int us = 0; us < HIST_US; us++) {
        seen += g->hist[us];
        if (seen > want)
            return us + 0.5;
    }
    return HIST_US;
}

static void g_close_cb(uv_handle_t *h)
{
    (void)h;
}

static void g_walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, g_close_cb);
}

static int run_point(int port, pid_t server, int nconns, int mode, int check, int auth,
                     double warm, double secs, result *out)
{
    gen g;
    memset(&g, 0, sizeof g);
    g.hist = calloc(HIST_US, sizeof *g.hist);
    g.conns = calloc((size_t)nconns, sizeof *g.conns);
    g.nconns = nconns;
    g.mode = mode;
    g.check = check;
    g.auth = auth;
    uv_loop_init(&g.loop);
    uv_timer_init(&g.loop, &g.timer);
    g.timer.data = &g;
    uv_ip4_addr("127.0.0.1", port, &g.addr);
    for (int i = 0; i < nconns; i++) {
        g.conns[i].g = &g;
        g_connect(&g.conns[i]);
    }
    /* warm-up, then the measured interval */
    uv_timer_start(&g.timer, g_timer, (uint64_t)(warm * 1000), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    int ok = !g.failed && (mode != MODE_PERSISTENT || g.ready == nconns);
    uint64_t t0 = now_ns(), c0 = cpu_ns(server), s0 = self_ns();
    g.measuring = 1;
    if (ok) {
        uv_timer_start(&g.timer, g_timer, (uint64_t)(secs * 1000), 0);
        uv_run(&g.loop, UV_RUN_DEFAULT);
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns(server), s1 = self_ns();
    g.measuring = 0;
    g.stopping = 1;
    ok = ok && !g.failed;
    uv_walk(&g.loop, g_walk_close, NULL);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    uv_loop_close(&g.loop);
    memset(out, 0, sizeof *out);
    out->mps = ok ? (double)g.done / ((double)(t1 - t0) / 1e9) : 0;
    out->p50_us = g.done ? percentile(&g, 0.50) : 0;
    out->p99_us = g.done ? percentile(&g, 0.99) : 0;
    out->max_us = (double)g.max_ns / 1000.0;
    out->cpu_us = g.done ? (double)(c1 - c0) / 1000.0 / (double)g.done : 0;
    out->gen_us = g.done ? (double)(s1 - s0) / 1000.0 / (double)g.done : 0;
    out->refused_pct = g.done ? 100.0 * (double)g.refused / (double)g.done : 0;
    out->errors = g.errors;
    out->n = g.first;
    snprintf(out->first_error, sizeof out->first_error, "%s", g.first_error);
    free(g.hist);
    free(g.conns);
    return ok && g.done ? 0 : -1;
}

static result median_of(const result *r, int n)
{
    double a[16];
    result out;
    memset(&out, 0, sizeof out);
#define MED(f)                                                                               \
    do {                                                                                     \
        for (int i = 0; i < n; i++)                                                          \
            a[i] = r[i].f;                                                                   \
        out.f = median(a, n);                                                                \
    } while (0)
    MED(mps);
    MED(p50_us);
    MED(p99_us);
    MED(max_us);
    MED(cpu_us);
    MED(gen_us);
    MED(refused_pct);
#undef MED
    for (int i = 0; i < n; i++) {
        out.errors += r[i].errors;
        if (!out.first_error[0] && r[i].first_error[0])
            snprintf(out.first_error, sizeof out.first_error, "%s", r[i].first_error);
    }
    out.n = r[0].n;
    return out;
}

static void nego_text(const nego *n, char *buf, size_t size)
{
    int l = snprintf(buf, size, "version %u, actions 0x%x, protocol 0x%x", n->version,
                     n->actions, n->proto);
    for (int s = 0; s < NSTAGES && l > 0 && (size_t)l < size; s++)
        if (n->has_macros[s])
            l += snprintf(buf + l, size - (size_t)l, ", stage %d macros \"%s\"", s,
                          n->macros[s]);
}

/* ---- processes ------------------------------------------------------------------------------ */

static int wait_port(int port, pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return -1;
        usleep(50000);
    }
    return -1;
}

static pid_t start_nothing(int port)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(nothing_milter(port));
    return pid;
}

static pid_t start_maillimitd(const char *path, int port, char *conf_path, size_t cpsize,
                              char *log_path, size_t lpsize)
{
    snprintf(conf_path, cpsize, "/tmp/bench_milter.%ld.conf", (long)getpid());
    snprintf(log_path, lpsize, "/tmp/bench_milter.%ld.log", (long)getpid());
    FILE *f = fopen(conf_path, "w");
    if (!f)
        return -1;
    fprintf(f, "policy_listen none\nmilter_listen inet:127.0.0.1:%d\nadmin_listen none\n"
               "state_file none\nlocal_network 127.0.0.0/8\npolicy_max_connections 2048\n"
               "server mailbox=1000000 domain=10000000 subscription=100000000\n", port);
    for (int s = 0; s < SUBS; s++)
        fprintf(f, "subscription sub%d\n", s);
    for (int d = 0; d < DOMAINS; d++)
        fprintf(f, "domain dom%d.example subscription=sub%d%s\n", d, d % SUBS,
                d % DENY_EVERY == 0 ? " domain=0" : "");
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        /* the log is kept (one line per refused message) and its tail shown on errors */
        int lf = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (lf >= 0) {
            dup2(lf, 1);
            dup2(lf, 2);
        }
        execl(path, path, "-f", "-c", conf_path, (char *)NULL);
        fprintf(stderr, "bench_milter: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* The log lines of maillimitd that are not about refused messages (warnings, errors). */
static void show_log(const char *log_path)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return;
    char line[1024];
    int shown = 0;
    unsigned long refusals = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, ": defer: milter: ")) {
            refusals++;
            continue;
        }
        if (strstr(line, ": limit reached: ") || strstr(line, ": back to normal: "))
            continue; /* the episodes of the domains with limit 0 */
        if (strstr(line, "warning") || strstr(line, "error") || strstr(line, "fatal")) {
            if (shown++ < 10)
                printf("  maillimitd: %s", line);
        }
    }
    fclose(f);
    if (shown > 10)
        printf("  maillimitd: ... %d warnings in all\n", shown);
    printf("maillimitd logged %lu refusals and %d warnings/errors\n", refusals, shown);
}

int main(int argc, char **argv)
{
    const char *maillimitd = getenv("MAILLIMITD") ? getenv("MAILLIMITD") : MAILLIMITD_PATH;
    double secs = 3.0, warm = 0.5;
    int repeat = 3, nconns = 64, modes = MODE_PERSISTENT | MODE_RECONNECT | MODE_POSTFIX,
        auth = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--nothing-milter") == 0 && i + 1 < argc) {
            quickack = i + 2 < argc && strcmp(argv[i + 2], "--quickack") == 0;
            return nothing_milter(atoi(argv[i + 1]));
        }
        else if (strcmp(argv[i], "--quick") == 0) {
            secs = 0.3;
            warm = 0.1;
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1 || repeat > 15)
                repeat = 3;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            secs = atof(argv[++i]);
        } else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
            nconns = atoi(argv[++i]);
            if (nconns < 1 || nconns > MAXCONN)
                nconns = 64;
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            const char *m = argv[++i];
            modes = strcmp(m, "persistent") == 0  ? MODE_PERSISTENT
                    : strcmp(m, "reconnect") == 0 ? MODE_RECONNECT
                    : strcmp(m, "postfix") == 0   ? MODE_POSTFIX
                    : strcmp(m, "both") == 0      ? MODE_PERSISTENT | MODE_RECONNECT
                    : strcmp(m, "all") == 0 ? MODE_PERSISTENT | MODE_RECONNECT | MODE_POSTFIX
                                            : 0;
            if (!modes) {
                fprintf(stderr,
                        "bench_milter: --mode persistent|reconnect|postfix|both|all\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--auth") == 0) {
            auth = 1;
        } else if (strcmp(argv[i], "--quickack") == 0) {
            quickack = 1; /* for the do-nothing milter, a child of this process */
        } else if (strcmp(argv[i], "--maillimitd") == 0 && i + 1 < argc) {
            maillimitd = argv[++i];
        } else if (argv[i][0] != '-') {
            maillimitd = argv[i];
        } else {
            fprintf(stderr,
                    "usage: %s [--quick] [--seconds S] [--repeat N] [--conns C] "
                    "[--mode persistent|reconnect|postfix|both|all] [--auth] [--quickack]\n"
                    "       [--maillimitd PATH | PATH]\n"
                    "       %s --nothing-milter PORT [--quickack]\n", argv[0], argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int dport = free_port(), mport = free_port();
    char conf[256], log[256];
    pid_t dpid = start_nothing(dport);
    pid_t mpid = start_maillimitd(maillimitd, mport, conf, sizeof conf, log, sizeof log);
    if (dpid < 0 || mpid < 0 || wait_port(dport, dpid) || wait_port(mport, mpid)) {
        fprintf(stderr, "bench_milter: the milters did not start (%s)\n", maillimitd);
        stop(dpid);
        stop(mpid);
        show_log(log);
        unlink(conf);
        unlink(log);
        return 1;
    }
    printf("milter load: %d connections, one message in flight on each, %.1f s per run, "
           "median of %d alternating runs%s%s\n"
           "%-11s %-11s %11s %9s %9s %9s %11s %8s %8s %7s\n",
           nconns, secs, repeat, auth ? "; SASL-authenticated senders" : "",
           quickack ? "; the do-nothing milter sets TCP_QUICKACK" : "",
           "mode", "milter", "messages/s", "p50 us", "p99 us", "max us", "cpu us/msg",
           "gen us", "refused", "errors");
    int rc = 0;
    for (int mode = MODE_PERSISTENT; mode <= MODE_POSTFIX && !rc; mode <<= 1) {
        if (!(modes & mode))
            continue;
        const char *mname = mode == MODE_PERSISTENT  ? "persistent"
                            : mode == MODE_RECONNECT ? "reconnect"
                                                     : "postfix";
        result d[16], m[16];
        double ratios[16];
        for (int r = 0; r < repeat; r++) {
            if (run_point(dport, dpid, nconns, mode, 0, auth, warm, secs, &d[r]) != 0 ||
                run_point(mport, mpid, nconns, mode, 1, auth, warm, secs, &m[r]) != 0) {
                fprintf(stderr, "bench_milter: a run failed (%s): %s\n", mname,
                        d[r].first_error[0] ? d[r].first_error : m[r].first_error);
                rc = 1;
                break;
            }
            ratios[r] = m[r].mps / d[r].mps;
        }
        if (rc)
            break;
        result rd = median_of(d, repeat), rm = median_of(m, repeat);
        printf("%-11s %-11s %11.0f %9.1f %9.1f %9.0f %11.2f %8.2f %7.1f%% %7llu\n", mname,
               "do-nothing", rd.mps, rd.p50_us, rd.p99_us, rd.max_us, rd.cpu_us,
               rd.gen_us, rd.refused_pct, (unsigned long long)rd.errors);
        printf("%-11s %-11s %11.0f %9.1f %9.1f %9.0f %11.2f %8.2f %7.1f%% %7llu\n", mname,
               "maillimitd", rm.mps, rm.p50_us, rm.p99_us, rm.max_us, rm.cpu_us,
               rm.gen_us, rm.refused_pct, (unsigned long long)rm.errors);
        char runs[200] = "";
        for (int r = 0, n = 0; r < repeat && n < (int)sizeof runs - 8; r++)
            n += snprintf(runs + n, sizeof runs - (size_t)n, " %.0f%%", 100 * ratios[r]);
        double ratio = median(ratios, repeat);
        printf("%-11s %-11s %10.1f%%  (target >= 80%%: %s; runs:%s)\n", mname, "ratio",
               100 * ratio, ratio >= 0.8 ? "met" : "NOT met", runs);
        if (mode == MODE_PERSISTENT || !(modes & MODE_PERSISTENT)) {
            char a[600], b[600];
            nego_text(&rd.n, a, sizeof a);
            nego_text(&rm.n, b, sizeof b);
            printf("negotiated by maillimitd: %s\n", b);
            if (strcmp(a, b) != 0)
                printf("WARNING: the do-nothing milter negotiated differently: %s\n", a);
        }
        if (mode == MODE_POSTFIX && (rm.p50_us > 20000 || rd.p50_us > 20000))
            printf("%-11s note: p50 over 20 ms: the end of the message waited for a delayed ACK "
                   "(Nagle on the MTA's side)%s\n", mname,
                   rd.p50_us > 20000 ? "" : "; the do-nothing milter did not wait");
        if (rd.errors || rm.errors) {
            printf("errors: %s\n", rm.errors ? rm.first_error : rd.first_error);
            rc = 1;
        }
        fflush(stdout);
    }
    stop(dpid);
    stop(mpid);
    show_log(log);
    unlink(conf);
    unlink(log);
    return rc;
}
