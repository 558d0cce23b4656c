/* SPDX-License-Identifier: MIT */
/* Load benchmark of the policy server: maillimitd against a do-nothing libuv server.
 *
 *   bench_policy [--quick] [--seconds S] [--maillimitd PATH] [--conns 1,8,64]
 *   bench_policy --dunno-server PORT       (the do-nothing server alone)
 *
 * In one run: starts a do-nothing libuv server that answers every request with
 * `action=DUNNO` (a child process of this program) and maillimitd (a child process, with a
 * generated configuration: 100 subscriptions, 1000 domains, mailboxes created implicitly
 * by their first decision), then drives each with the same load generator: C connections
 * (1, 8, 64), each with one outstanding request as Postfix does, for S seconds per point
 * (default 3, --quick 0.3). Requests are realistic Postfix RCPT requests (33 attributes,
 * about 750 bytes), each a new message (`instance`), from 10000 authenticated senders over
 * those 1000 domains, so maillimitd decides (and counts) every one of them.
 *
 * Reports requests/s, p50/p99/max latency and the server's CPU time per request (from
 * /proc/PID/schedstat: the figure least disturbed by other load) per point, and at 64
 * connections the ratio of maillimitd's throughput to the do-nothing server's (target >=
 * 0.80) and maillimitd's p99 (target < 2 ms). The two servers are measured alternately,
 * --repeat times (default 3), and each figure is a median, so that load drifting on a shared
 * machine falls on both. --pass sends unauthenticated inbound requests (parsed and answered
 * DUNNO, nothing decided): the cost of the protocol alone. The generator is one libuv
 * thread; everything shares the machine's cores. Exit status 0 unless something failed to
 * run (targets are reported, not enforced).
 *
 *   bench_policy --target NAME=PORT[+PORT...][@PID[+PID...]] --target ... [--seconds S] ...
 *
 * measures servers started by the caller instead (tests/bench/bench_cluster.sh): the same
 * load against each target in turn, a target's connections spread round-robin over its
 * ports, the CPU time summed over its PIDs; ratios are against the first target.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bench_proc.h"

#ifndef MAILLIMITD_PATH
#define MAILLIMITD_PATH "maillimitd"
#endif

enum { HIST_US = 200000, SENDERS = 10000, DOMAINS = 1000, SUBS = 100, MAXCONN = 1024 };

static int pass_mode; /* --pass: unauthenticated inbound requests (parsed, not decided) */

/* ---- the do-nothing server ---------------------------------------------------------------- */

typedef struct dconn {
    uv_tcp_t tcp;
    char buf[65536];
    int nl; /* the last byte seen was '\n' */
} dconn;

static const char dunno[] = "action=DUNNO\n\n";

static void d_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    dconn *c = h->data;
    *b = uv_buf_init(c->buf, sizeof c->buf);
}

static void d_closed(uv_handle_t *h)
{
    free(h->data);
}

static void d_written(uv_write_t *w, int status)
{
    (void)status;
    free(w);
}

static void d_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    dconn *c = st->data;
    if (n < 0) {
        uv_close((uv_handle_t *)st, d_closed);
        return;
    }
    /* count request ends ("\n\n", also across reads) */
    int replies = 0;
    for (ssize_t i = 0; i < n; i++) {
        if (b->base[i] == '\n') {
            if (c->nl) {
                replies++;
                c->nl = 0;
            } else {
                c->nl = 1;
            }
        } else {
            c->nl = 0;
        }
    }
    if (!replies)
        return;
    char out[sizeof dunno * 64];
    size_t len = 0;
    for (int i = 0; i < replies && len + sizeof dunno <= sizeof out; i++) {
        memcpy(out + len, dunno, sizeof dunno - 1);
        len += sizeof dunno - 1;
    }
    uv_buf_t ob = uv_buf_init(out, (unsigned)len);
    int w = uv_try_write(st, &ob, 1);
    if (w == (int)len)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)st, d_closed);
        return;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    uv_write_t *wr = malloc(sizeof *wr + len - done);
    memcpy((char *)(wr + 1), out + done, len - done);
    uv_buf_t rb = uv_buf_init((char *)(wr + 1), (unsigned)(len - done));
    uv_write(wr, st, &rb, 1, d_written);
}

static void d_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    dconn *c = calloc(1, sizeof *c);
    uv_tcp_init(srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, d_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, d_alloc, d_read);
}

static int dunno_server(int port)
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
        fprintf(stderr, "dunno server: %s\n", uv_strerror(rc));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    return uv_run(loop, UV_RUN_DEFAULT);
}

/* ---- the load generator ------------------------------------------------------------------- */

typedef struct gen gen;
typedef struct gconn {
    uv_tcp_t tcp;
    uv_connect_t cr;
    gen *g;
    unsigned id;
    uint64_t sent_ns;
    int nl, connected;
    char req[2048];
    char rbuf[4096];
} gconn;

struct gen {
    uv_loop_t loop;
    uv_timer_t timer;
    gconn *conns;
    int nconns, connected, failed;
    int port;
    int measuring, stopping;
    uint64_t seq;
    uint64_t done, errors;
    uint32_t *hist; /* latency in microseconds */
    uint64_t over;
    uint64_t max_ns;
};

static size_t make_request(gen *g, char *buf, size_t size)
{
    uint64_t k = g->seq++;
    unsigned user = (unsigned)((k * 2654435761u) % SENDERS);
    unsigned dom = user % DOMAINS;
    char login[64] = "";
    if (!pass_mode)
        snprintf(login, sizeof login, "user%u@dom%u.example", user, dom);
    return (size_t)snprintf(
        buf, size,
        "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
        "client_address=192.0.2.10\nclient_name=mail.example.net\nclient_port=54321\n"
        "reverse_client_name=mail.example.net\nserver_address=192.0.2.1\nserver_port=587\n"
        "helo_name=mail.example.net\nsender=user%u@dom%u.example\n"
        "recipient=someone%llu@remote.example\nrecipient_count=0\nqueue_id=\n"
        "instance=%llx.%llx.0\nsize=0\netrn_domain=\nstress=\nsasl_method=%s\n"
        "sasl_username=%s\nsasl_sender=\nccert_subject=\nccert_issuer=\n"
        "ccert_fingerprint=\nccert_pubkey_fingerprint=\nencryption_protocol=TLSv1.3\n"
        "encryption_cipher=TLS_AES_256_GCM_SHA384\nencryption_keysize=256\n"
        "policy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n",
        user, dom, (unsigned long long)k, (unsigned long long)(k >> 16) + 0x1a2b,
        (unsigned long long)k, pass_mode ? "" : "plain", login);
}

static void g_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)s;
    gconn *c = h->data;
    *b = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void g_send(gconn *c);

static void g_written(uv_write_t *w, int status)
{
    gconn *c = w->data;
    free(w);
    if (status < 0)
        c->g->errors++;
}

static void g_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    gconn *c = st->data;
    gen *g = c->g;
    if (n < 0) {
        if (!g->stopping)
            g->errors++;
        uv_close((uv_handle_t *)st, NULL);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (b->base[i] != '\n') {
            c->nl = 0;
            continue;
        }
        if (!c->nl) {
            c->nl = 1;
            continue;
        }
        c->nl = 0;
        /* one complete reply */
        uint64_t lat = now_ns() - c->sent_ns;
        if (g->measuring) {
            g->done++;
            uint64_t us = lat / 1000;
            if (us < HIST_US)
                g->hist[us]++;
            else
                g->over++;
            if (lat > g->max_ns)
                g->max_ns = lat;
        }
        if (!g->stopping)
            g_send(c);
    }
}

static void g_send(gconn *c)
{
    size_t len = make_request(c->g, c->req, sizeof c->req);
    uv_buf_t b = uv_buf_init(c->req, (unsigned)len);
    c->sent_ns = now_ns();
    int w = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (w == (int)len)
        return;
    size_t done = w > 0 ? (size_t)w : 0;
    if (w < 0 && w != UV_EAGAIN) {
        c->g->errors++;
        return;
    }
    uv_write_t *wr = malloc(sizeof *wr);
    wr->data = c;
    uv_buf_t rb = uv_buf_init(c->req + done, (unsigned)(len - done));
    uv_write(wr, (uv_stream_t *)&c->tcp, &rb, 1, g_written);
}

static void g_connected(uv_connect_t *cr, int status)
{
    gconn *c = cr->data;
    gen *g = c->g;
    if (status < 0) {
        g->failed++;
        fprintf(stderr, "bench: connect: %s\n", uv_strerror(status));
        uv_stop(&g->loop);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->connected = 1;
    uv_read_start((uv_stream_t *)&c->tcp, g_alloc, g_read);
    if (++g->connected == g->nconns)
        for (int i = 0; i < g->nconns; i++)
            g_send(&g->conns[i]);
}

static void g_timer(uv_timer_t *t)
{
    gen *g = t->data;
    uv_stop(&g->loop);
}

typedef struct result {
    double rps, p50_us, p99_us, max_us, cpu_us;
    uint64_t errors;
} result;

static double percentile(const gen *g, double q)
{
    uint64_t total = g->done, want = (uint64_t)(q * (double)total), seen = 0;
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

/* CPU time of several processes (a target of several relays, with their Redis). */
static uint64_t cpu_ns_all(const pid_t *pids, int npids)
{
    uint64_t t = 0;
    for (int i = 0; i < npids; i++)
        t += cpu_ns(pids[i]);
    return t;
}

static int run_point_multi(const int *ports, int nports, const pid_t *pids, int npids,
                           int nconns, double warm, double secs, result *out);

static int run_point(int port, pid_t server, int nconns, double warm, double secs, result *out)
{
    return run_point_multi(&port, 1, &server, 1, nconns, warm, secs, out);
}

static int run_point_multi(const int *ports, int nports, const pid_t *pids, int npids,
                           int nconns, double warm, double secs, result *out)
{
    gen g;
    memset(&g, 0, sizeof g);
    g.hist = calloc(HIST_US, sizeof *g.hist);
    g.conns = calloc((size_t)nconns, sizeof *g.conns);
    g.nconns = nconns;
    g.port = ports[0];
    uv_loop_init(&g.loop);
    uv_timer_init(&g.loop, &g.timer);
    g.timer.data = &g;
    struct sockaddr_in a;
    for (int i = 0; i < nconns; i++) {
        gconn *c = &g.conns[i];
        uv_ip4_addr("127.0.0.1", ports[i % nports], &a);
        c->g = &g;
        c->id = (unsigned)i;
        uv_tcp_init(&g.loop, &c->tcp);
        c->tcp.data = c;
        c->cr.data = c;
        uv_tcp_connect(&c->cr, &c->tcp, (struct sockaddr *)&a, g_connected);
    }
    /* warm-up, then the measured interval */
    uv_timer_start(&g.timer, g_timer, (uint64_t)(warm * 1000), 0);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    int ok = !g.failed && g.connected == nconns;
    uint64_t t0 = now_ns(), c0 = cpu_ns_all(pids, npids);
    g.measuring = 1;
    if (ok) {
        uv_timer_start(&g.timer, g_timer, (uint64_t)(secs * 1000), 0);
        uv_run(&g.loop, UV_RUN_DEFAULT);
    }
    uint64_t t1 = now_ns(), c1 = cpu_ns_all(pids, npids);
    g.measuring = 0;
    g.stopping = 1;
    for (int i = 0; i < nconns; i++)
        if (!uv_is_closing((uv_handle_t *)&g.conns[i].tcp))
            uv_close((uv_handle_t *)&g.conns[i].tcp, g_close_cb);
    uv_close((uv_handle_t *)&g.timer, g_close_cb);
    uv_run(&g.loop, UV_RUN_DEFAULT);
    uv_loop_close(&g.loop);
    out->rps = ok ? (double)g.done / ((double)(t1 - t0) / 1e9) : 0;
    out->p50_us = g.done ? percentile(&g, 0.50) : 0;
    out->p99_us = g.done ? percentile(&g, 0.99) : 0;
    out->max_us = (double)g.max_ns / 1000.0;
    out->errors = g.errors;
    out->cpu_us = g.done ? (double)(c1 - c0) / 1000.0 / (double)g.done : 0;
    free(g.hist);
    free(g.conns);
    return ok ? 0 : -1;
}

/* Field by field medians (each column is a median of its own). */
static result median_of(const result *r, int n)
{
    double a[15];
    result out;
    memset(&out, 0, sizeof out);
#define MED(f)                                                                               \
    do {                                                                                     \
        for (int i = 0; i < n; i++)                                                          \
            a[i] = r[i].f;                                                                   \
        out.f = median(a, n);                                                                \
    } while (0)
    MED(rps);
    MED(p50_us);
    MED(p99_us);
    MED(max_us);
    MED(cpu_us);
#undef MED
    for (int i = 0; i < n; i++)
        out.errors += r[i].errors;
    return out;
}

/* ---- processes -------------------------------------------------------------------------- */

static int wait_port(int port)
{
    for (int i = 0; i < 100; i++) {
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
        usleep(50000);
    }
    return -1;
}

static pid_t start_dunno(int port)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(dunno_server(port));
    return pid;
}

static pid_t start_maillimitd(const char *path, int port, char *conf_path, size_t cpsize)
{
    snprintf(conf_path, cpsize, "/tmp/bench_policy.%ld.conf", (long)getpid());
    FILE *f = fopen(conf_path, "w");
    if (!f)
        return -1;
    fprintf(f, "policy_listen inet:127.0.0.1:%d\nadmin_listen none\nstate_file none\n"
               "policy_max_connections 2048\n"
               "server mailbox=1000000 domain=10000000 subscription=100000000\n", port);
    for (int s = 0; s < SUBS; s++)
        fprintf(f, "subscription sub%d\n", s);
    for (int d = 0; d < DOMAINS; d++)
        fprintf(f, "domain dom%d.example subscription=sub%d\n", d, d % SUBS);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        if (dn >= 0) {
            dup2(dn, 1);
            dup2(dn, 2);
        }
        execl(path, path, "-f", "-c", conf_path, (char *)NULL);
        fprintf(stderr, "bench: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    return pid;
}

/* ---- targets started by the caller (--target) ------------------------------------------- */

enum { MAXTARGETS = 6, MAXPORTS = 8 };

typedef struct target {
    char name[32];
    int ports[MAXPORTS], nports;
    pid_t pids[MAXPORTS], npids;
} target;

/* NAME=PORT[+PORT...][@PID[+PID...]] */
static int target_parse(const char *spec, target *t)
{
    memset(t, 0, sizeof *t);
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof t->name)
        return -1;
    memcpy(t->name, spec, (size_t)(eq - spec));
    const char *p = eq + 1;
    int *nums = t->ports, *n = &t->nports;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v <= 0 || v > 4194304 || *n >= MAXPORTS)
            return -1;
        nums[(*n)++] = (int)v;
        p = end;
        if (*p == '+')
            p++;
        else if (*p == '@' && nums == t->ports) {
            nums = (int *)t->pids;
            n = (int *)&t->npids;
            p++;
        } else if (*p)
            return -1;
    }
    return t->nports ? 0 : -1;
}

static int run_targets(const target *t, int nt, const int *conns, int nconns, double warm,
                       double secs, int repeat)
{
    printf("policy server load: %s per point, one outstanding request per connection, "
           "targets measured in turn\n%-16s %6s %12s %10s %10s %10s %12s %7s %8s\n",
           secs >= 1 ? "seconds" : "quick", "target", "conns", "requests/s", "p50 us",
           "p99 us", "max us", "cpu us/req", "errors", "ratio");
    for (int i = 0; i < nconns; i++) {
        result r[MAXTARGETS][15];
        for (int k = 0; k < repeat; k++)
            for (int j = 0; j < nt; j++)
                if (run_point_multi(t[j].ports, t[j].nports, t[j].pids, t[j].npids, conns[i],
                                    warm, secs, &r[j][k]) != 0) {
                    fprintf(stderr, "bench: a run of %s failed at %d connections\n", t[j].name,
                            conns[i]);
                    return 1;
                }
        for (int j = 0; j < nt; j++) {
            result m = median_of(r[j], repeat);
            double ratios[15];
            for (int k = 0; k < repeat; k++)
                ratios[k] = r[0][k].rps > 0 ? r[j][k].rps / r[0][k].rps : 0;
            printf("%-16s %6d %12.0f %10.1f %10.1f %10.0f %12.2f %7llu %7.1f%%\n", t[j].name,
                   conns[i], m.rps, m.p50_us, m.p99_us, m.max_us, m.cpu_us,
                   (unsigned long long)m.errors, 100 * median(ratios, repeat));
            if (m.errors)
                return 1;
        }
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    target targets[MAXTARGETS];
    int ntargets = 0;
    const char *maillimitd = getenv("MAILLIMITD") ? getenv("MAILLIMITD") : MAILLIMITD_PATH;
    double secs = 3.0, warm = 0.5;
    int repeat = 3;
    int conns[8] = { 1, 8, 64 }, nconns = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dunno-server") == 0 && i + 1 < argc)
            return dunno_server(atoi(argv[++i]));
        else if (strcmp(argv[i], "--quick") == 0) {
            secs = 0.3;
            warm = 0.1;
            repeat = 1;
        } else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
            if (repeat < 1 || repeat > 15)
                repeat = 3;
        } else if (strcmp(argv[i], "--pass") == 0) {
            pass_mode = 1;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            secs = atof(argv[++i]);
        else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
            if (ntargets >= MAXTARGETS || target_parse(argv[++i], &targets[ntargets]) != 0) {
                fprintf(stderr, "bench: bad --target %s (NAME=PORT[+PORT...][@PID[+PID...]], "
                                "at most %d)\n", argv[i], MAXTARGETS);
                return 2;
            }
            ntargets++;
        } else if (strcmp(argv[i], "--maillimitd") == 0 && i + 1 < argc)
            maillimitd = argv[++i];
        else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
            nconns = 0;
            for (char *t = strtok(argv[++i], ","); t && nconns < 8; t = strtok(NULL, ","))
                if ((conns[nconns] = atoi(t)) > 0 && conns[nconns] <= MAXCONN)
                    nconns++;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--seconds S] [--repeat N] [--pass] "
                            "[--maillimitd PATH] [--conns 1,8,64] [--target NAME=PORT[+PORT...][@PID...]]... "
                            "| --dunno-server PORT\n", argv[0]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    if (ntargets)
        return run_targets(targets, ntargets, conns, nconns, warm, secs, repeat);
    int dport = free_port(), mport = free_port();
    char conf[256];
    pid_t dpid = start_dunno(dport);
    pid_t mpid = start_maillimitd(maillimitd, mport, conf, sizeof conf);
    if (dpid < 0 || mpid < 0 || wait_port(dport) || wait_port(mport)) {
        fprintf(stderr, "bench: the servers did not start\n");
        stop(dpid);
        stop(mpid);
        unlink(conf);
        return 1;
    }
    printf("policy server load%s: %s per point, one outstanding request per connection\n"
           "%-12s %6s %12s %10s %10s %10s %12s %7s\n",
           pass_mode ? " (--pass: unauthenticated inbound requests, nothing decided)" : "",
           secs >= 1 ? "seconds" : "quick",
           "server", "conns", "requests/s", "p50 us", "p99 us", "max us", "cpu us/req",
           "errors");
    int rc = 0;
    result rd[8], rm[8];
    double ratio_med[8];
    for (int i = 0; i < nconns && !rc; i++) {
        /* the two servers alternate, `repeat` times; each figure is the median (load on a
         * shared machine drifts: alternating spreads it over both) */
        result d[15], m[15];
        for (int r = 0; r < repeat; r++) {
            if (run_point(dport, dpid, conns[i], warm, secs, &d[r]) != 0 ||
                run_point(mport, mpid, conns[i], warm, secs, &m[r]) != 0) {
                fprintf(stderr, "bench: a run failed at %d connections\n", conns[i]);
                rc = 1;
                break;
            }
        }
        if (rc)
            break;
        rd[i] = median_of(d, repeat);
        rm[i] = median_of(m, repeat);
        printf("%-12s %6d %12.0f %10.1f %10.1f %10.0f %12.2f %7llu\n", "do-nothing",
               conns[i], rd[i].rps, rd[i].p50_us, rd[i].p99_us, rd[i].max_us, rd[i].cpu_us,
               (unsigned long long)rd[i].errors);
        printf("%-12s %6d %12.0f %10.1f %10.1f %10.0f %12.2f %7llu\n", "maillimitd",
               conns[i], rm[i].rps, rm[i].p50_us, rm[i].p99_us, rm[i].max_us, rm[i].cpu_us,
               (unsigned long long)rm[i].errors);
        double ratios[15];
        for (int r = 0; r < repeat; r++)
            ratios[r] = m[r].rps / d[r].rps;
        char runs[200] = "";
        for (int r = 0, n = 0; r < repeat && n < (int)sizeof runs - 8; r++)
            n += snprintf(runs + n, sizeof runs - (size_t)n, " %.0f%%", 100 * ratios[r]);
        ratio_med[i] = median(ratios, repeat);
        printf("%-12s %6d %11.1f%%  (median of %d alternating runs; runs:%s", "ratio", conns[i],
               100.0 * ratio_med[i], repeat, runs);
        printf(")\n");
        fflush(stdout);
        if (rd[i].errors || rm[i].errors)
            rc = 1;
    }
    for (int i = 0; i < nconns && !rc; i++) {
        if (conns[i] != 64)
            continue;
        double ratio = ratio_med[i];
        printf("at 64 connections: maillimitd %.0f req/s, %.1f%% of the do-nothing server "
               "(target >= 80%%): %s; p99 %.2f ms (target < 2 ms): %s (do-nothing p99 %.2f ms)"
               "\n", rm[i].rps, 100 * ratio, ratio >= 0.8 ? "met" : "NOT met",
               rm[i].p99_us / 1000, rm[i].p99_us < 2000 ? "met" : "NOT met",
               rd[i].p99_us / 1000);
    }
    stop(dpid);
    stop(mpid);
    unlink(conf);
    return rc;
}
