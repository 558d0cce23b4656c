/* SPDX-License-Identifier: MIT */
/* cluster_redis (libmaillimit/server/cluster.c, docs/cluster.md): the directive, the checks
 * of Redis's replies, the keys, and a relay whose Redis cannot be reached (it decides with
 * its local counters). The shared counting itself runs against a real redis-server in
 * tests/integration/cluster.sh. */
#define _POSIX_C_SOURCE 200809L

#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "cluster.h"
#include "maillimit.h"
#include "maillimit/server.h"
#include "server_internal.h"
#include "srv_internal.h"

#include "conf_fixture.h"

TestSuite(cluster, .fini = fini);

static void bad(const char *text, const char *want)
{
    cr_assert_eq(parse(text), MAILLIMIT_EFORMAT, "accepted: %s", text);
    cr_assert_str_eq(err, want);
}

Test(cluster, directive_defaults_and_options)
{
    cr_assert_eq(parse("server mailbox=1\n"), 0, "%s", err);
    cr_assert_eq(c.ncluster, 0);
    cr_assert_eq(c.cluster_timeout, 200);
    cr_assert_eq(c.cluster_database, 0);
    cr_assert_null(c.cluster_password);

    cr_assert_eq(parse("cluster_redis inet:127.0.0.1:6390\n"), 0, "%s", err);
    cr_assert_eq(c.ncluster, 1);
    cr_assert_str_eq(c.cluster.host, "127.0.0.1");
    cr_assert_eq(c.cluster.port, 6390);
    cr_assert_null(c.cluster_user);
    cr_assert_null(c.cluster_prefix);

    cr_assert_eq(parse("cluster_redis unix:/run/redis/redis.sock user=relay password=s3cr{t} "
                       "database=3 timeout=50 prefix=ml:eu:\n"), 0, "%s", err);
    cr_assert_eq(c.ncluster, 1);
    cr_assert_eq(c.cluster.unix_, 1);
    cr_assert_str_eq(c.cluster.path, "/run/redis/redis.sock");
    cr_assert_str_eq(c.cluster_user, "relay");
    cr_assert_str_eq(c.cluster_password, "s3cr{t}");
    cr_assert_eq(c.cluster_database, 3);
    cr_assert_eq(c.cluster_timeout, 50);
    cr_assert_str_eq(c.cluster_prefix, "ml:eu:");

    cr_assert_eq(parse("cluster_redis inet:[::1]:6379 timeout=10 database=1000000\n"), 0, "%s",
                 err);
    cr_assert_eq(c.cluster_timeout, 10);
    cr_assert_eq(c.cluster_database, 1000000);
    cr_assert_eq(parse("cluster_redis inet:127.0.0.1:1 timeout=5000\n"), 0, "%s", err);
    cr_assert_eq(c.cluster_timeout, 5000);

    cr_assert_eq(parse("cluster_redis none\n"), 0, "%s", err);
    cr_assert_eq(c.ncluster, 0);
    /* the core never sees the line */
    cr_assert_eq(parse("cluster_redis inet:127.0.0.1:6390\nserver mailbox=5\n"), 0, "%s", err);
    cr_assert_null(strstr(core, "cluster_redis"), "core text: %s", core);
    cr_assert_not_null(strstr(core, "server mailbox=5"), "core text: %s", core);
}

Test(cluster, directive_errors_name_the_line_and_the_value)
{
    bad("cluster_redis\n", "test.conf:1: cluster_redis needs inet:HOST:PORT, unix:/PATH or none");
    bad("\ncluster_redis 127.0.0.1:6379\n",
        "test.conf:2: cluster_redis: listen address must be inet:HOST:PORT or unix:/PATH: "
        "127.0.0.1:6379");
    bad("cluster_redis inet:redis.example:6379\n",
        "test.conf:1: cluster_redis: host must be a numeric IPv4 or IPv6 address in "
        "inet:redis.example:6379");
    bad("cluster_redis inet:127.0.0.1:70000\n",
        "test.conf:1: cluster_redis: port out of range in inet:127.0.0.1:70000");
    bad("cluster_redis unix:redis.sock\n",
        "test.conf:1: cluster_redis: unix socket path must be absolute: unix:redis.sock");
    bad("cluster_redis none timeout=10\n", "test.conf:1: cluster_redis none takes no options");
    bad("cluster_redis inet:127.0.0.1:6379 fast\n",
        "test.conf:1: cluster_redis: bad option fast (user=, password=, database=, timeout=, "
        "prefix=)");
    bad("cluster_redis inet:127.0.0.1:6379 db=1\n",
        "test.conf:1: cluster_redis: unknown option db (user=, password=, database=, timeout=, "
        "prefix=)");
    bad("cluster_redis inet:127.0.0.1:6379 database=-1\n",
        "test.conf:1: cluster_redis: bad database=-1 (0 to 1000000)");
    bad("cluster_redis inet:127.0.0.1:6379 database=1000001\n",
        "test.conf:1: cluster_redis: bad database=1000001 (0 to 1000000)");
    bad("cluster_redis inet:127.0.0.1:6379 database=\n",
        "test.conf:1: cluster_redis: bad database= (0 to 1000000)");
    bad("cluster_redis inet:127.0.0.1:6379 timeout=9\n",
        "test.conf:1: cluster_redis: bad timeout=9 (10 to 5000 milliseconds)");
    bad("cluster_redis inet:127.0.0.1:6379 timeout=5001\n",
        "test.conf:1: cluster_redis: bad timeout=5001 (10 to 5000 milliseconds)");
    bad("cluster_redis inet:127.0.0.1:6379 timeout=1s\n",
        "test.conf:1: cluster_redis: bad timeout=1s (10 to 5000 milliseconds)");
    bad("cluster_redis inet:127.0.0.1:6379 prefix={ml}\n",
        "test.conf:1: cluster_redis: bad prefix={ml} (1 to 64 printable characters without "
        "braces)");
    bad("cluster_redis inet:127.0.0.1:6379 prefix=\n",
        "test.conf:1: cluster_redis: bad prefix= (1 to 64 printable characters without braces)");
    char longp[200];
    snprintf(longp, sizeof longp, "cluster_redis inet:127.0.0.1:6379 prefix=%065d\n", 0);
    cr_assert_eq(parse(longp), MAILLIMIT_EFORMAT);
    cr_assert(strstr(err, "bad prefix=") != NULL, "%s", err);
    /* a password is never repeated in a message */
    bad("cluster_redis inet:127.0.0.1:6379 password=\n",
        "test.conf:1: cluster_redis: bad password= (1 to 512 printable characters)");
    bad("cluster_redis inet:127.0.0.1:6379 user=\n",
        "test.conf:1: cluster_redis: bad user= (1 to 256 printable characters)");
    char longpw[700];
    snprintf(longpw, sizeof longpw, "cluster_redis inet:127.0.0.1:6379 password=%0513d\n", 7);
    cr_assert_eq(parse(longpw), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:1: cluster_redis: bad password= (1 to 512 printable "
                          "characters)");
    bad("cluster_redis inet:127.0.0.1:6379\ncluster_redis none\n",
        "test.conf:2: cluster_redis given twice");
}

Test(cluster, replies_are_checked)
{
    maillimit__cluster_result r;
    long long ok[7] = { 1, 0, 0, 0, 0, 0, 4 };
    cr_assert_eq(maillimit__cluster_reply_parse(ok, 7, 3, &r), 0);
    cr_assert_eq(r.allowed, 1);
    cr_assert_eq(r.own, 4);
    long long no[7] = { 0, 2, 1, 100, 100, 3582, 7 };
    cr_assert_eq(maillimit__cluster_reply_parse(no, 7, 3, &r), 0);
    cr_assert_eq(r.allowed, 0);
    cr_assert_eq(r.index, 2);
    cr_assert_eq(r.window, MAILLIMIT_WINDOW_DAY);
    cr_assert_eq(r.limit, 100);
    cr_assert_eq(r.count, 100);
    cr_assert_eq(r.retry_after, 3582);
    cr_assert_eq(r.own, 7);
    long long never[7] = { 0, 0, 0, 0, 0, -1, 0 };
    cr_assert_eq(maillimit__cluster_reply_parse(never, 7, 1, &r), 0);
    cr_assert_eq(r.retry_after, -1);

    /* every way a reply can be wrong */
    cr_assert_eq(maillimit__cluster_reply_parse(NULL, 7, 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit__cluster_reply_parse(ok, 6, 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit__cluster_reply_parse(ok, 7, 0, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(maillimit__cluster_reply_parse(ok, 7, 4, &r), MAILLIMIT_EFORMAT);
    const struct { int at; long long v; int nkeys; } bad_values[] = {
        { 0, 2, 3 }, { 0, -1, 3 },           /* decision */
        { 1, 3, 3 }, { 1, -1, 3 }, { 1, 1, 1 }, /* index */
        { 2, 2, 3 }, { 2, -1, 3 },           /* window */
        { 3, -1, 3 }, { 3, 1ll << 41, 3 },   /* limit */
        { 4, -5, 3 }, { 4, 1ll << 41, 3 },   /* count */
        { 5, 0, 3 }, { 5, -2, 3 }, { 5, 25 * 3600 + 1, 3 }, /* retry_after */
        { 6, -1, 3 }, { 6, 1ll << 41, 3 },   /* own */
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        long long v[7];
        memcpy(v, no, sizeof v);
        v[bad_values[i].at] = bad_values[i].v;
        cr_assert_eq(maillimit__cluster_reply_parse(v, 7, bad_values[i].nkeys, &r),
                     MAILLIMIT_EFORMAT, "value %lld at %d accepted", bad_values[i].v,
                     bad_values[i].at);
    }
    /* an allowed reply's other fields are not looked at, its own count is */
    long long own_bad[7] = { 1, 9, 9, -9, -9, 0, -1 };
    cr_assert_eq(maillimit__cluster_reply_parse(own_bad, 7, 1, &r), MAILLIMIT_EFORMAT);
}

/* A reply as hiredis's reader makes it from the bytes Redis sent. */
static int reply_of(const char *resp, int nkeys, maillimit__cluster_result *r)
{
    redisReader *rd = redisReaderCreateWithFunctions(&maillimit__cluster_reply_fns);
    cr_assert_not_null(rd);
    cr_assert_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    void *rep = NULL;
    if (redisReaderGetReply(rd, &rep) != REDIS_OK) {
        redisReaderFree(rd);
        return -1; /* the reader refused the bytes */
    }
    int rc = maillimit__cluster_reply(rep, nkeys, r);
    if (rep)
        freeReplyObject(rep);
    redisReaderFree(rd);
    return rc;
}

Test(cluster, replies_through_hiredis)
{
    maillimit__cluster_result r;
    cr_assert_eq(reply_of("*7\r\n:0\r\n:1\r\n:0\r\n:10\r\n:10\r\n:1799\r\n:2\r\n", 2, &r), 0);
    cr_assert_eq(r.index, 1);
    cr_assert_eq(r.retry_after, 1799);
    cr_assert_eq(maillimit__cluster_reply(NULL, 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("-NOSCRIPT No matching script\r\n", 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("+OK\r\n", 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of(":1\r\n", 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("*-1\r\n", 1, &r), MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("*7\r\n:1\r\n$1\r\n0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:3\r\n", 1, &r),
                 MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("*7\r\n:1\r\n*0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:3\r\n", 1, &r),
                 MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("*9\r\n:1\r\n:0\r\n:0\r\n:0\r\n:0\r\n:0\r\n:3\r\n:0\r\n:0\r\n", 1, &r),
                 MAILLIMIT_EFORMAT);
    cr_assert_eq(reply_of("*2\r\n:5\r\n:9\r\n", 1, &r), MAILLIMIT_EFORMAT);
    /* arrays are bounded before anything is allocated for them, nested ones too */
    cr_assert_eq(reply_of("*322222222\r\n:0\r\n", 1, &r), -1);
    cr_assert_eq(reply_of("*2\r\n*65\r\n:0\r\n", 1, &r), -1);
    /* every other kind of reply is built as hiredis builds it */
    cr_assert_eq(reply_of("*4\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n*1\r\n-ERR x\r\n", 1, &r),
                 MAILLIMIT_EFORMAT);
    redisReader *rd = redisReaderCreateWithFunctions(&maillimit__cluster_reply_fns);
    const char nested[] = "*4\r\n$3\r\nabc\r\n$-1\r\n+OK\r\n*1\r\n-ERR x\r\n";
    cr_assert_eq(redisReaderFeed(rd, nested, sizeof nested - 1), REDIS_OK);
    redisReply *rep = NULL;
    cr_assert_eq(redisReaderGetReply(rd, (void **)&rep), REDIS_OK);
    cr_assert_eq(rep->type, REDIS_REPLY_ARRAY);
    cr_assert_eq(rep->elements, 4);
    cr_assert_eq(rep->element[0]->type, REDIS_REPLY_STRING);
    cr_assert_str_eq(rep->element[0]->str, "abc");
    cr_assert_eq(rep->element[0]->len, 3);
    cr_assert_eq(rep->element[1]->type, REDIS_REPLY_NIL);
    cr_assert_eq(rep->element[2]->type, REDIS_REPLY_STATUS);
    cr_assert_str_eq(rep->element[2]->str, "OK");
    cr_assert_eq(rep->element[3]->element[0]->type, REDIS_REPLY_ERROR);
    cr_assert_str_eq(rep->element[3]->element[0]->str, "ERR x");
    freeReplyObject(rep);
    redisReaderFree(rd);
}

Test(cluster, keys_share_the_subscriptions_hash_tag)
{
    char k[64];
    cr_assert_eq(maillimit__cluster_key(k, sizeof k, "ml:", MAILLIMIT_LEVEL_MAILBOX, "acme",
                                        "ceo@acme.example"), strlen("ml:{s:acme}:m:ceo@acme.example"));
    cr_assert_str_eq(k, "ml:{s:acme}:m:ceo@acme.example");
    maillimit__cluster_key(k, sizeof k, "ml:", MAILLIMIT_LEVEL_DOMAIN, "acme", "acme.example");
    cr_assert_str_eq(k, "ml:{s:acme}:d:acme.example");
    maillimit__cluster_key(k, sizeof k, "ml:", MAILLIMIT_LEVEL_SUBSCRIPTION, "acme", "acme");
    cr_assert_str_eq(k, "ml:{s:acme}:s");
    maillimit__cluster_key(k, sizeof k, "ml:", MAILLIMIT_LEVEL_SERVER, NULL, NULL);
    cr_assert_str_eq(k, "ml:{server}");
    /* too long for the buffer, or a level without a counter */
    cr_assert_eq(maillimit__cluster_key(k, 12, "ml:", MAILLIMIT_LEVEL_DOMAIN, "acme",
                                        "acme.example"), 0);
    cr_assert_eq(maillimit__cluster_key(k, sizeof k, "ml:", MAILLIMIT_LEVEL_PLAN, "a", "b"), 0);
    /* the script is the one text sent with EVAL and SCRIPT LOAD; a decision reads the four
     * totals of each key, never all its slots */
    cr_assert(strstr(maillimit__cluster_script, "call('HMGET', k, 'l', 't', 'b', 'e')"));
    cr_assert_null(strstr(maillimit__cluster_script, "HGETALL"));
}

/* ---- a relay whose Redis cannot be reached ------------------------------------------------ */

static char logbuf[8192];
static void log_cb(int priority, const char *text, void *ud)
{
    (void)priority;
    (void)ud;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", text);
}

/* One policy request over the unix socket while the loop turns: the reply's first line, and
 * the time it took in *ms. */
static void ask(uv_loop_t *loop, const char *sock, const char *inst, const char *sasl,
                char *line, size_t size, double *ms)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%.100s", sock);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[512];
    int n = snprintf(req, sizeof req, "request=smtpd_access_policy\nprotocol_state=RCPT\n"
                     "instance=%s\nclient_address=192.0.2.1\nsasl_username=%s\n\n", inst, sasl);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    char buf[1024];
    size_t len = 0;
    for (int i = 0; i < 3000; i++) {
        uv_run(loop, UV_RUN_NOWAIT);
        ssize_t r = recv(fd, buf + len, sizeof buf - 1 - len, MSG_DONTWAIT);
        if (r > 0)
            len += (size_t)r;
        buf[len] = '\0';
        if (len >= 2 && strstr(buf, "\n\n"))
            break;
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    close(fd);
    cr_assert(strstr(buf, "\n\n") != NULL, "no answer: %s", buf);
    char *nl = strchr(buf, '\n');
    *nl = '\0';
    snprintf(line, size, "%.200s", buf);
}

static void unreachable(const char *redis_spec_fmt, int listening)
{
    char dir[] = "/tmp/mlcluster.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    int lfd = -1;
    char rsock[200];
    snprintf(rsock, sizeof rsock, "%s/redis.sock", dir);
    if (listening) {
        /* a Redis that accepts and never answers */
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = { .sun_family = AF_UNIX };
        snprintf(a.sun_path, sizeof a.sun_path, "%.100s", rsock);
        cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
        cr_assert_eq(listen(lfd, 8), 0);
    }
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    maillimit_server *s;
    cr_assert_eq(maillimit_server_new(&s, NULL, &loop), 0);
    logbuf[0] = '\0';
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    maillimit_server_log_callback(s, log_cb, NULL);
    char spec[300], text[1024], e[512];
    snprintf(spec, sizeof spec, redis_spec_fmt, rsock);
    snprintf(text, sizeof text, "policy_listen unix:%s/p.sock\nadmin_listen none\n"
             "state_file none\ncluster_redis %s timeout=100\n"
             "subscription acme\ndomain acme.example subscription=acme domain=2\n", dir, spec);
    cr_assert_eq(maillimit_server_config_load_mem(s, text, strlen(text), NULL, e, sizeof e), 0,
                 "%s", e);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), 0, "%s", e);
    char psock[200], line[300];
    snprintf(psock, sizeof psock, "%s/p.sock", dir);
    double ms, worst = 0;
    int allowed = 0;
    for (int i = 0; i < 3; i++) {
        char inst[16], sasl[64];
        snprintf(inst, sizeof inst, "m%d", i);
        snprintf(sasl, sizeof sasl, "u%d@acme.example", i);
        ask(&loop, psock, inst, sasl, line, sizeof line, &ms);
        allowed += strcmp(line, "action=DUNNO") == 0;
        worst = ms > worst ? ms : worst;
    }
    cr_assert_eq(allowed, 2, "the local limit of 2 holds");
    cr_assert(worst < 500, "answered in %.1f ms", worst);
    uint64_t fallbacks = 0;
    cr_assert_eq(maillimit__cluster_state(s, &fallbacks), 0);
    cr_assert_eq(fallbacks, 2, "two decisions taken alone");
    cr_assert_eq(maillimit_server_stop(s), 0);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    maillimit_server_free(s);
    cr_assert_eq(uv_loop_close(&loop), 0, "every handle closed");
    if (lfd >= 0)
        close(lfd);
    unlink(rsock);
    unlink(psock);
    rmdir(dir);
}

Test(cluster, redis_refused_decides_locally_and_logs_once)
{
    unreachable("unix:%s", 0);
    cr_assert(strstr(logbuf, "cluster: Redis at unix:") != NULL, "%s", logbuf);
    const char *first = strstr(logbuf, "unavailable (");
    cr_assert_not_null(first, "%s", logbuf);
    cr_assert_null(strstr(first + 1, "unavailable ("), "logged once: %s", logbuf);
}

Test(cluster, redis_silent_at_connect_decides_locally)
{
    unreachable("unix:%s", 1);
    /* within the test's few milliseconds the attempt is still waiting: nothing said yet, or
     * that it did not answer within 1 s */
    cr_assert_null(strstr(logbuf, "decision failed"), "%s", logbuf);
}

#endif
