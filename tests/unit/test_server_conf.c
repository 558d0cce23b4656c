/* SPDX-License-Identifier: MIT */
/* maillimitd's configuration: daemon directives (libmaillimit/server/conf.c) and the
 * configuration calls of maillimit_server_*. */
#define _POSIX_C_SOURCE 200809L

/* Built only when unit_tests links libmaillimit_server (maillimit_server_static defines
 * MAILLIMIT_HAVE_SERVER for its users); otherwise this file is empty. */
#ifdef MAILLIMIT_HAVE_SERVER

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "maillimit.h"
#include "maillimit/server.h"
#include "srv_internal.h"
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "conf_fixture.h"

TestSuite(server_conf, .fini = fini);

Test(server_conf, defaults)
{
    cr_assert_eq(parse("server mailbox=10\n"), 0, "%s", err);
    cr_assert_eq(c.npolicy, -1);
    cr_assert_eq(c.nadmin, -1);
    cr_assert_null(c.state_file);
    cr_assert_eq(c.snapshot_interval, 300);
    cr_assert_eq(c.action, MAILLIMIT_POLICY_ACTION_DEFER);
    cr_assert_eq(c.action_code, 0);
    cr_assert_eq(c.nexempt, 0);
    cr_assert_eq(c.local_set, 0);
    cr_assert_eq(c.notify_interval, 3600);
    cr_assert_eq(c.log_target, -1);
    cr_assert_eq(c.idle_timeout, 600);
    cr_assert_eq(c.max_connections, 1024);
    cr_assert_str_eq(core, "server mailbox=10\n");
}

Test(server_conf, every_directive)
{
    const char text[] =
        "# a comment\n"
        "policy_listen inet:127.0.0.1:10031\n"
        "policy_listen unix:/var/spool/postfix/private/maillimit mode=0660\n"
        "admin_listen inet:[::1]:10032   # loopback\n"
        "state_file /var/lib/maillimit/state.snap\n"
        "snapshot_interval 60\n"
        "action reject 554 5.7.1\n"
        "exempt_network 192.0.2.10 2001:db8::/32\n"
        "exempt_network 198.51.100.0/24\n"
        "local_network 10.0.0.0/8\n"
        "notify_command /usr/local/bin/notify --to admin@example.com  \n"
        "notify_interval 7200\n"
        "log syslog\n"
        "policy_idle_timeout 120\n"
        "policy_max_connections 500\n"
        "server mailbox=10\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_eq(c.npolicy, 2);
    cr_assert_eq(c.policy[0].unix_, 0);
    cr_assert_str_eq(c.policy[0].host, "127.0.0.1");
    cr_assert_eq(c.policy[0].port, 10031);
    cr_assert_eq(c.policy[1].unix_, 1);
    cr_assert_str_eq(c.policy[1].path, "/var/spool/postfix/private/maillimit");
    cr_assert_eq(c.policy[1].mode, 0660);
    cr_assert_eq(c.nadmin, 1);
    cr_assert_str_eq(c.admin[0].host, "::1");
    cr_assert_eq(c.admin[0].port, 10032);
    cr_assert_str_eq(c.state_file, "/var/lib/maillimit/state.snap");
    cr_assert_eq(c.snapshot_interval, 60);
    cr_assert_eq(c.action, MAILLIMIT_POLICY_ACTION_REJECT);
    cr_assert_eq(c.action_code, 554);
    cr_assert_str_eq(c.action_dsn, "5.7.1");
    cr_assert_eq(c.nexempt, 3);
    cr_assert_str_eq(c.exempt[2], "198.51.100.0/24");
    cr_assert_eq(c.local_set, 1);
    cr_assert_eq(c.nlocal, 1);
    cr_assert_str_eq(c.notify_command, "/usr/local/bin/notify --to admin@example.com");
    cr_assert_eq(c.notify_interval, 7200);
    cr_assert_eq(c.log_target, MAILLIMIT_SERVER_LOG_SYSLOG);
    cr_assert_eq(c.idle_timeout, 120);
    cr_assert_eq(c.max_connections, 500);
    /* daemon lines are blanked, so the core sees the same number of lines */
    int lines = 0;
    for (const char *p = core; *p; p++)
        lines += *p == '\n';
    cr_assert_eq(lines, 16);
    cr_assert(strstr(core, "policy_listen") == NULL);
    cr_assert(strstr(core, "# a comment\n") == core);
    cr_assert(strstr(core, "server mailbox=10\n") != NULL);
}

Test(server_conf, none_values)
{
    cr_assert_eq(parse("policy_listen none\nadmin_listen none\nstate_file none\n"
                       "local_network none\nnotify_command none\n"), 0, "%s", err);
    cr_assert_eq(c.npolicy, 0);
    cr_assert_eq(c.nadmin, 0);
    cr_assert_str_eq(c.state_file, "none");
    cr_assert_eq(c.local_set, 1);
    cr_assert_eq(c.nlocal, 0);
    cr_assert_null(c.notify_command);
}

Test(server_conf, milter_directives)
{
    cr_assert_eq(parse("server mailbox=10\n"), 0, "%s", err);
    cr_assert_eq(c.nmilter, 0);
    cr_assert_eq(c.nlocal_milter, 0);
    cr_assert_null(c.sender_map_file);
    cr_assert_null(c.local_origin);
    cr_assert_eq(c.nexempt_users, 0);
    cr_assert_eq(c.nscript_users, 1);
    cr_assert_str_eq(c.script_users[0], "www-data");
    cr_assert_eq(c.local_action, MAILLIMIT__LOCAL_HOLD);

    const char text[] =
        "milter_listen inet:127.0.0.1:10032\n"
        "local_milter_listen unix:/var/spool/postfix/private/maillimit-local\n"
        "local_milter_listen inet:[::1]:10033\n"
        "local_login_sender_map_file /etc/postfix/maillimit_senders\n"
        "local_origin MX.Example.NET\n"
        "local_exempt_users backup Nagios\n"
        "local_exempt_users root\n"
        "script_users www-data php-fpm\n"
        "local_action discard\n"
        "server mailbox=10\n";
    cr_assert_eq(parse(text), 0, "%s", err);
    cr_assert_eq(c.nmilter, 1);
    cr_assert_str_eq(c.milter[0].host, "127.0.0.1");
    cr_assert_eq(c.milter[0].port, 10032);
    cr_assert_eq(c.nlocal_milter, 2);
    cr_assert_str_eq(c.local_milter[0].path, "/var/spool/postfix/private/maillimit-local");
    cr_assert_eq(c.local_milter[0].mode, 0660);
    cr_assert_str_eq(c.local_milter[1].host, "::1");
    cr_assert_str_eq(c.sender_map_file, "/etc/postfix/maillimit_senders");
    cr_assert_str_eq(c.local_origin, "mx.example.net");
    cr_assert_eq(c.nexempt_users, 3);
    cr_assert_str_eq(c.exempt_users[0], "backup");
    cr_assert_str_eq(c.exempt_users[1], "nagios");
    cr_assert_str_eq(c.exempt_users[2], "root");
    cr_assert_eq(c.nscript_users, 2);
    cr_assert_str_eq(c.script_users[1], "php-fpm");
    cr_assert_eq(c.local_action, MAILLIMIT__LOCAL_DISCARD);
    /* the core sees blank lines in their place: 9 lines of spaces, then its own line */
    size_t nl = 0;
    for (const char *x = core; *x; x++) {
        cr_assert(*x == ' ' || *x == '\n' || x >= strstr(core, "server"), "core: %s", core);
        nl += *x == '\n';
    }
    cr_assert_eq(nl, 10);
    cr_assert_str_eq(strstr(core, "server"), "server mailbox=10\n");

    cr_assert_eq(parse("script_users none\nlocal_exempt_users none\nmilter_listen none\n"
                       "local_login_sender_map_file none\nlocal_action reject\n"), 0, "%s", err);
    cr_assert_eq(c.nscript_users, 0);
    cr_assert_eq(c.nexempt_users, 0);
    cr_assert_eq(c.nmilter, 0);
    cr_assert_null(c.sender_map_file);
    cr_assert_eq(c.local_action, MAILLIMIT__LOCAL_REJECT);
    cr_assert_eq(parse("local_action defer\n"), 0, "%s", err);
    cr_assert_eq(c.local_action, MAILLIMIT__LOCAL_DEFER);
    cr_assert_eq(parse("local_action hold\nlocal_milter_listen unix:/run/m.sock mode=0666\n"), 0,
                 "%s", err);
    cr_assert_eq(c.local_action, MAILLIMIT__LOCAL_HOLD);
    cr_assert_eq(c.local_milter[0].mode, 0666);
}

static void bad(const char *text, const char *want)
{
    cr_assert_eq(parse(text), MAILLIMIT_EFORMAT, "accepted: %s", text);
    cr_assert_str_eq(err, want);
    cr_assert_null(core);
}

Test(server_conf, errors_name_the_file_and_line)
{
    bad("\n\npolicy_listen 127.0.0.1:25\n",
        "test.conf:3: listen address must be inet:HOST:PORT or unix:/PATH: 127.0.0.1:25");
    bad("policy_listen inet:localhost:25\n",
        "test.conf:1: host must be a numeric IPv4 or IPv6 address in inet:localhost:25");
    bad("policy_listen inet:::1:25\n",
        "test.conf:1: IPv6 addresses need brackets: inet:[ADDR]:PORT: inet:::1:25");
    bad("policy_listen inet:127.0.0.1:70000\n",
        "test.conf:1: port out of range in inet:127.0.0.1:70000");
    bad("admin_listen unix:relative.sock\n",
        "test.conf:1: unix socket path must be absolute: unix:relative.sock");
    bad("admin_listen inet:127.0.0.1:1 mode=0600\n",
        "test.conf:1: admin_listen: bad option mode=0600 (unix sockets take mode=OCTAL)");
    bad("admin_listen unix:/x mode=0800\n",
        "test.conf:1: admin_listen: bad option mode=0800 (unix sockets take mode=OCTAL)");
    bad("state_file relative\n", "test.conf:1: state_file needs an absolute path or none");
    bad("snapshot_interval soon\n",
        "test.conf:1: snapshot_interval needs a number of seconds (0..604800)");
    bad("notify_interval 0\n",
        "test.conf:1: notify_interval needs a number of seconds (1..604800)");
    bad("action bounce\n",
        "test.conf:1: action needs defer [CODE [DSN]], reject [CODE [DSN]] or hold");
    bad("action defer 550\n",
        "test.conf:1: action defer: bad code or enhanced status code (defer: 421..499 and "
        "4.X.Y, reject: 500..599 and 5.X.Y)");
    bad("action hold 450\n",
        "test.conf:1: action needs defer [CODE [DSN]], reject [CODE [DSN]] or hold");
    bad("exempt_network 10.0.0.0/40\n",
        "test.conf:1: exempt_network: bad network 10.0.0.0/40 (ADDRESS or ADDRESS/PREFIX)");
    bad("local_network 10.0.0.0/8 none\n", "test.conf:1: local_network none stands alone");
    bad("log file\n", "test.conf:1: log needs stderr or syslog");
    bad("log stderr\nlog syslog\n", "test.conf:2: log given twice");
    bad("policy_max_connections 0\n",
        "test.conf:1: policy_max_connections needs a number (1..1000000)");
    bad("notify_command\n", "test.conf:1: notify_command needs a command (or none)");
    bad("milter_listen 127.0.0.1:10032\n",
        "test.conf:1: listen address must be inet:HOST:PORT or unix:/PATH: 127.0.0.1:10032");
    bad("local_milter_listen inet:127.0.0.1:1 mode=0600\n",
        "test.conf:1: local_milter_listen: bad option mode=0600 (unix sockets take mode=OCTAL)");
    bad("local_login_sender_map_file senders\n",
        "test.conf:1: local_login_sender_map_file needs an absolute path or none");
    bad("local_origin user@example.net\n",
        "test.conf:1: local_origin needs a domain name (Postfix's myorigin)");
    bad("local_origin\n", "test.conf:1: local_origin needs a domain name (Postfix's myorigin)");
    bad("local_origin a.example b.example\n",
        "test.conf:1: local_origin needs a domain name (Postfix's myorigin)");
    bad("script_users\n", "test.conf:1: script_users needs one or more logins (or none)");
    bad("script_users www-data none\n", "test.conf:1: script_users none stands alone");
    bad("local_exempt_users bad/login\n", "test.conf:1: local_exempt_users: bad login bad/login");
    bad("local_exempt_users -rf\n", "test.conf:1: local_exempt_users: bad login -rf");
    bad("local_action bounce\n",
        "test.conf:1: local_action needs hold, reject, defer or discard");
    bad("local_action hold\nlocal_action defer\n", "test.conf:2: local_action given twice");
    bad("local_origin a.example\nlocal_origin b.example\n",
        "test.conf:2: local_origin given twice");
}

Test(server_conf, core_errors_keep_their_line_and_name_the_file)
{
    maillimit *ml;
    cr_assert_eq(maillimit_new(&ml), 0);
    cr_assert_eq(parse("policy_listen inet:127.0.0.1:10031\nlog stderr\nserver bogus=1\n"), 0);
    cr_assert_eq(maillimit__conf_core_load(ml, core, "test.conf", 0, err, sizeof err),
                 MAILLIMIT_EFORMAT);
    cr_assert(strncmp(err, "test.conf:3: ", 13) == 0, "%s", err);
    maillimit_free(ml);
}

Test(server_conf, check_mem)
{
    char e[512];
    const char good[] = "policy_listen inet:127.0.0.1:1\nserver mailbox=5\ndomain x.example "
                        "subscription=s\n";
    cr_assert_eq(maillimit_server_config_check_mem(good, sizeof good - 1, "f", e, sizeof e),
                 MAILLIMIT_EFORMAT, "the domain's subscription does not exist");
    cr_assert(strncmp(e, "f:3: ", 5) == 0, "%s", e);
    const char good2[] = "policy_listen inet:127.0.0.1:1\nsubscription s\n"
                         "domain x.example subscription=s\n";
    cr_assert_eq(maillimit_server_config_check_mem(good2, sizeof good2 - 1, "f", e, sizeof e), 0,
                 "%s", e);
    cr_assert_eq(maillimit_server_config_check("/nonexistent/file.conf", e, sizeof e),
                 MAILLIMIT_EIO);
    cr_assert(strstr(e, "/nonexistent/file.conf") != NULL);
}

Test(server_conf, server_load_and_reload_keep_counters)
{
    maillimit_server *s;
    cr_assert_eq(maillimit_server_new(&s, NULL, NULL), 0);
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    const char text[] = "state_file none\nsubscription s\ndomain x.example subscription=s "
                        "domain=5\n";
    char e[512];
    cr_assert_eq(maillimit_server_config_load_mem(s, text, sizeof text - 1, "mem", e, sizeof e), 0,
                 "%s", e);
    maillimit *ml = maillimit_server_handle(s);
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    cr_assert_eq(maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "x.example", 1, 0, &v), 0);
    cr_assert_eq(maillimit_server_reload(s, e, sizeof e), 0, "%s", e);
    maillimit_status st;
    maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
    cr_assert_eq(maillimit_status_get(ml, MAILLIMIT_LEVEL_DOMAIN, "x.example",
                                      MAILLIMIT_WINDOW_HOUR, 0, &st), 0);
    cr_assert_eq(st.count, 1);
    cr_assert_eq(st.limit, 5);
    /* a bad configuration changes nothing */
    const char worse[] = "domain x.example subscription=s domain=7\naction nonsense\n";
    cr_assert_eq(maillimit_server_config_load_mem(s, worse, sizeof worse - 1, "mem", e, sizeof e),
                 MAILLIMIT_EFORMAT);
    cr_assert_str_eq(e, "mem:2: action needs defer [CODE [DSN]], reject [CODE [DSN]] or hold");
    int64_t lim;
    cr_assert_eq(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_DOMAIN, "x.example",
                                     MAILLIMIT_WINDOW_HOUR, &lim), 0);
    cr_assert_eq(lim, 5);
    /* without a snapshot-capable core the save says why */
    cr_assert_eq(maillimit_server_snapshot_save(s, e, sizeof e), MAILLIMIT_EINVAL);
    maillimit_server_free(s);
}

Test(server_conf, reload_directive)
{
    cr_assert_eq(parse("server mailbox=10\n"), 0, "%s", err);
    cr_assert_eq(c.replace, 0);
    cr_assert_eq(parse("reload replace\n"), 0, "%s", err);
    cr_assert_eq(c.replace, 1);
    cr_assert_str_eq(core, "              \n");
    cr_assert_eq(parse("reload merge\n"), 0, "%s", err);
    cr_assert_eq(c.replace, 0);
    cr_assert_eq(parse("\nreload sometimes\n"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:2: reload needs merge or replace");
}

/* merge keeps what the admin protocol added; replace makes the file the whole truth */
Test(server_conf, reload_merge_and_replace)
{
    const char *modes[2] = {"reload merge\n", "reload replace\n"};
    for (int replace = 0; replace < 2; replace++) {
        maillimit_server *s;
        cr_assert_eq(maillimit_server_new(&s, NULL, NULL), 0);
        maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
        char text[256];
        snprintf(text, sizeof text, "%sstate_file none\nsubscription s\n"
                 "domain x.example subscription=s domain=5\n", modes[replace]);
        char e[512];
        cr_assert_eq(maillimit_server_config_load_mem(s, text, strlen(text), "mem", e, sizeof e),
                     0, "%s", e);
        maillimit *ml = maillimit_server_handle(s);
        cr_assert_eq(maillimit_domain_add(ml, "added.example", "s"), 0); /* as the admin would */
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        cr_assert_eq(maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "x.example", 2, 0, &v), 0);
        cr_assert_eq(maillimit_server_reload(s, e, sizeof e), 0, "%s", e);
        int64_t lim;
        cr_assert_eq(maillimit_limit_effective(ml, MAILLIMIT_LEVEL_DOMAIN, "added.example",
                                         MAILLIMIT_WINDOW_HOUR, &lim),
                     replace ? MAILLIMIT_ENOTFOUND : 0);
        maillimit_status st;
        maillimit_status_init(&st, MAILLIMIT_STATUS_VERSION);
        cr_assert_eq(maillimit_status_get(ml, MAILLIMIT_LEVEL_DOMAIN, "x.example",
                                          MAILLIMIT_WINDOW_HOUR, 0, &st), 0);
        cr_assert_eq(st.count, 2); /* counters kept either way */
        cr_assert_eq(st.limit, 5);
        maillimit_server_free(s);
    }
}

Test(server_conf, server_start_and_stop_on_own_loop)
{
    maillimit_server *s;
    cr_assert_eq(maillimit_server_new(&s, NULL, NULL), 0);
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    char dir[] = "/tmp/mlsrvtest.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char text[512], e[512];
    snprintf(text, sizeof text, "policy_listen inet:127.0.0.1:0\npolicy_listen unix:%s/p.sock\n"
             "admin_listen unix:%s/a.sock\nstate_file none\n", dir, dir);
    cr_assert_eq(maillimit_server_config_load_mem(s, text, strlen(text), NULL, e, sizeof e), 0,
                 "%s", e);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), 0, "%s", e);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), MAILLIMIT_EINVAL);
    char path[300];
    struct stat st;
    snprintf(path, sizeof path, "%s/a.sock", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    snprintf(path, sizeof path, "%s/p.sock", dir);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0666);
    cr_assert_eq(maillimit_server_stop(s), 0);
    cr_assert_eq(maillimit_server_run(s), 0); /* returns once everything is closed */
    cr_assert_neq(stat(path, &st), 0, "the socket is removed");
    maillimit_server_free(s);
    rmdir(dir);
}

static int log_lines;
static char log_text[8][160];
static void count_log(int priority, const char *text, void *userdata)
{
    (void)priority;
    int *n = userdata;
    if (*n < 8)
        snprintf(log_text[*n], sizeof log_text[0], "%s", text);
    *n += 1;
}

Test(server_conf, embedded_in_the_callers_loop_with_a_borrowed_handle)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    maillimit *ml;
    cr_assert_eq(maillimit_new(&ml), 0);
    maillimit_server *s;
    cr_assert_eq(maillimit_server_new(&s, ml, &loop), 0);
    cr_assert_eq(maillimit_server_handle(s), ml);
    log_lines = 0;
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, "embedder", 0);
    maillimit_server_log_callback(s, count_log, &log_lines);
    const char text[] = "policy_listen inet:127.0.0.1:0\nadmin_listen none\nstate_file none\n";
    char e[256];
    cr_assert_eq(maillimit_server_config_load_mem(s, text, sizeof text - 1, NULL, e, sizeof e), 0);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), 0, "%s", e);
    cr_assert_eq(maillimit_server_run(s), MAILLIMIT_EINVAL, "not its own loop");
    cr_assert_eq(uv_loop_alive(&loop), 1, "the listener is on the caller's loop");
    cr_assert_eq(maillimit_server_stop(s), 0);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns: the server closed all its handles */
    cr_assert_eq(uv_loop_alive(&loop), 0);
    cr_assert_eq(log_lines, 4);
    cr_assert_str_eq(log_text[0], "policy service on inet:127.0.0.1:0");
    cr_assert_eq(strncmp(log_text[1], "started (libmaillimit ", 22), 0, "%s", log_text[1]);
    cr_assert_str_eq(log_text[2], "stopping");
    cr_assert_str_eq(log_text[3], "stopped");
    maillimit_server_free(s);
    cr_assert_eq(uv_loop_close(&loop), 0, "nothing of the server left on the loop");
    maillimit_free(ml); /* borrowed: still ours */
}

/* What the file owns and what the state owns: a change made on the running handle (as the
 * admin protocol makes it) survives reloads and restarts until the file changes that same
 * setting; with "reload replace" the file is the whole truth. */
static maillimit_server *prec_start(const char *dir, const char *extra, int replace)
{
    char text[1024];
    snprintf(text, sizeof text,
             "policy_listen none\nadmin_listen none\nstate_file %s/state.snap\n"
             "snapshot_interval 0\n%s"
             "subscription acme subscription=100\n%s", dir, replace ? "reload replace\n" : "",
             extra);
    maillimit_server *s = NULL;
    char e[256] = "";
    cr_assert_eq(maillimit_server_new(&s, NULL, NULL), 0);
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    cr_assert_eq(maillimit_server_config_load_mem(s, text, strlen(text), "t.conf", e, sizeof e),
                 0, "%s", e);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), 0, "%s", e);
    return s;
}

static void prec_reload(maillimit_server *s, const char *dir, const char *extra, int replace)
{
    char text[1024], e[256] = "";
    snprintf(text, sizeof text,
             "policy_listen none\nadmin_listen none\nstate_file %s/state.snap\n"
             "snapshot_interval 0\n%s"
             "subscription acme subscription=100\n%s", dir, replace ? "reload replace\n" : "",
             extra);
    cr_assert_eq(maillimit_server_config_load_mem(s, text, strlen(text), "t.conf", e, sizeof e),
                 0, "%s", e);
}

static void prec_stop(maillimit_server *s)
{
    cr_assert_eq(maillimit_server_stop(s), 0);
    cr_assert_eq(maillimit_server_run(s), 0); /* saves the state, closes everything */
    maillimit_server_free(s);
}

static int64_t value_of(maillimit_server *s, int level, const char *name)
{
    int64_t v = 0;
    cr_assert_eq(maillimit_limit_configured(maillimit_server_handle(s), level, name, level,
                                       MAILLIMIT_WINDOW_HOUR, &v), 0);
    return v;
}

Test(server_conf, admin_changes_survive_until_the_file_changes_them)
{
    char dir[] = "/tmp/mlprec.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    const int D = MAILLIMIT_LEVEL_DOMAIN, S = MAILLIMIT_LEVEL_SUBSCRIPTION;
    const char *d50 = "domain acme.example subscription=acme domain=50\n";
    maillimit_server *s = prec_start(dir, d50, 0);
    maillimit *ml = maillimit_server_handle(s);
    /* a panel's changes */
    cr_assert_eq(maillimit_limit_set(ml, D, "acme.example", D, MAILLIMIT_WINDOW_HOUR, 7), 0);
    cr_assert_eq(maillimit_limit_set(ml, S, "acme", S, MAILLIMIT_WINDOW_HOUR, 9), 0);
    cr_assert_eq(maillimit_domain_add(ml, "panel.example", "acme"), 0);
    /* a reload of the same file keeps them */
    cr_assert_eq(maillimit_server_reload(s, NULL, 0), 0);
    cr_assert_eq(value_of(s, D, "acme.example"), 7);
    cr_assert_eq(value_of(s, S, "acme"), 9);
    /* the file changes the domain's limit: the file wins for that setting only */
    prec_reload(s, dir, "domain acme.example subscription=acme domain=60\n", 0);
    cr_assert_eq(value_of(s, D, "acme.example"), 60);
    cr_assert_eq(value_of(s, S, "acme"), 9);
    cr_assert_eq(maillimit_limit_set(maillimit_server_handle(s), D, "acme.example", D,
                                     MAILLIMIT_WINDOW_HOUR, 8), 0);
    prec_stop(s);
    /* a restart with the file as it was last applied: the state's values stay */
    s = prec_start(dir, "domain acme.example subscription=acme domain=60\n", 0);
    cr_assert_eq(value_of(s, D, "acme.example"), 8);
    cr_assert_eq(value_of(s, S, "acme"), 9);
    cr_assert_eq(value_of(s, D, "panel.example"), MAILLIMIT_DEFAULT);
    prec_stop(s);
    /* a restart with a file edited while maillimitd was stopped: the edit wins */
    s = prec_start(dir, "domain acme.example subscription=acme domain=70\n", 0);
    cr_assert_eq(value_of(s, D, "acme.example"), 70);
    cr_assert_eq(value_of(s, S, "acme"), 9);
    /* reload replace: the file is the whole configuration, applied whole */
    prec_reload(s, dir, "domain acme.example subscription=acme domain=70\n", 1);
    cr_assert_eq(value_of(s, S, "acme"), 100);
    int64_t v;
    cr_assert_eq(maillimit_limit_configured(maillimit_server_handle(s), D, "panel.example", D,
                                       MAILLIMIT_WINDOW_HOUR, &v), MAILLIMIT_ENOTFOUND);
    prec_stop(s);
    char path[300];
    snprintf(path, sizeof path, "%s/state.snap", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/state.snap.conf", dir);
    unlink(path);
    rmdir(dir);
}

Test(server_conf, start_fails_cleanly_on_a_busy_address)
{
    maillimit_server *a, *b;
    char e[512];
    char dir[] = "/tmp/mlsrvtest.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char text[512];
    snprintf(text, sizeof text, "policy_listen unix:%s/p.sock\nadmin_listen none\n"
             "state_file none\n", dir);
    cr_assert_eq(maillimit_server_new(&a, NULL, NULL), 0);
    cr_assert_eq(maillimit_server_new(&b, NULL, NULL), 0);
    maillimit_server_log_set(a, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    maillimit_server_log_set(b, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    cr_assert_eq(maillimit_server_config_load_mem(a, text, strlen(text), NULL, e, sizeof e), 0);
    /* b listens on a path that exists and is not a socket */
    char file[300], text2[512];
    snprintf(file, sizeof file, "%s/file", dir);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(text2, sizeof text2, "policy_listen unix:%s\nadmin_listen none\nstate_file none\n",
             file);
    cr_assert_eq(maillimit_server_config_load_mem(b, text2, strlen(text2), NULL, e, sizeof e), 0);
    cr_assert_eq(maillimit_server_start(a, e, sizeof e), 0, "%s", e);
    cr_assert_eq(maillimit_server_start(b, e, sizeof e), MAILLIMIT_EIO);
    cr_assert(strstr(e, "policy_listen unix:") == e, "%s", e);
    struct stat st;
    cr_assert_eq(stat(file, &st), 0, "a file that is not a socket is never removed");
    maillimit_server_free(b);
    maillimit_server_stop(a);
    maillimit_server_run(a);
    maillimit_server_free(a);
    unlink(file);
    rmdir(dir);
}

Test(server_conf, default_dir_prefers_xdg_runtime_dir)
{
    char dir[] = "/tmp/mlxdg.XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    chmod(dir, 0700);
    setenv("XDG_RUNTIME_DIR", dir, 1);
    char buf[300], want[300];
    size_t len = sizeof buf;
    snprintf(want, sizeof want, "%s/maillimit", dir);
    /* as root, create=1 would make /var/lib/maillimit: only the lookup is tested then */
    if (geteuid() != 0 && access("/var/lib/maillimit", F_OK) != 0) {
        cr_assert_eq(maillimit_server_default_dir(buf, &len, 1), 0);
        cr_assert_str_eq(buf, want);
        struct stat st;
        cr_assert_eq(stat(want, &st), 0);
        cr_assert_eq(st.st_mode & 0777, 0700);
        rmdir(want);
    }
    mkdir(want, 0700);
    len = sizeof buf;
    /* the lookup: /var/lib/maillimit first where it exists and is ours to write (as root on
     * a host where maillimitd ran), else the XDG directory */
    struct stat vst;
    int system_dir = stat("/var/lib/maillimit", &vst) == 0 && S_ISDIR(vst.st_mode) &&
                     access("/var/lib/maillimit", W_OK | X_OK) == 0;
    cr_assert_eq(maillimit_server_default_dir(buf, &len, 0), 0);
    cr_assert_str_eq(buf, system_dir ? "/var/lib/maillimit" : want);
    cr_assert_eq(len, strlen(buf) + 1);
    rmdir(want);
    len = 3;
    cr_assert_eq(maillimit_server_default_dir(buf, &len, 0), MAILLIMIT_ENOBUFS);
    cr_assert_gt(len, 3);
    cr_assert_eq(maillimit_server_default_dir(NULL, &len, 0), MAILLIMIT_EINVAL);
    unsetenv("XDG_RUNTIME_DIR");
    rmdir(dir);
}

Test(server_conf, http_directives)
{
    cr_assert_eq(parse("server mailbox=10\n"), 0, "%s", err);
    cr_assert_eq(c.nhttp, 0, "no HTTP unless written");
    cr_assert_null(c.http_token);
    cr_assert_eq(c.log_denials, MAILLIMIT__LOGDENY_EPISODE);
    cr_assert_eq(parse("http_listen inet:127.0.0.1:8025\nhttp_auth_token 0123456789abcdef\n"
                       "log_denials all\n"), 0, "%s", err);
    cr_assert_eq(c.nhttp, 1);
    cr_assert_str_eq(c.http.host, "127.0.0.1");
    cr_assert_eq(c.http.port, 8025);
    cr_assert_str_eq(c.http_token, "0123456789abcdef");
    cr_assert_eq(c.log_denials, MAILLIMIT__LOGDENY_ALL);
    cr_assert_str_eq(core, "                               \n                                \n"
                           "               \n");
    /* any address, as written (a panel on another host) */
    cr_assert_eq(parse("http_listen inet:[::]:9100\nlog_denials none\n"), 0, "%s", err);
    cr_assert_str_eq(c.http.host, "::");
    cr_assert_eq(c.log_denials, MAILLIMIT__LOGDENY_NONE);
    cr_assert_eq(parse("http_listen none\nhttp_auth_token none\nlog_denials episode\n"), 0);
    cr_assert_eq(c.nhttp, 0);
    cr_assert_null(c.http_token);
    cr_assert_eq(parse("http_listen unix:/run/m.sock\n"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:1: http_listen needs inet:HOST:PORT (no unix socket)");
    cr_assert_eq(parse("http_listen inet:localhost:80\n"), MAILLIMIT_EFORMAT);
    cr_assert_eq(parse("http_listen inet:127.0.0.1:80 inet:127.0.0.1:81\n"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:1: http_listen needs inet:HOST:PORT or none");
    cr_assert_eq(parse("http_listen inet:127.0.0.1:80\nhttp_listen inet:127.0.0.1:81\n"),
                 MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:2: http_listen given twice");
    cr_assert_eq(parse("http_auth_token short\n"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:1: http_auth_token needs 16 to 256 printable characters "
                          "(or none)");
    cr_assert_eq(parse("http_auth_token 0123456789abcde\xc3\xa9\n"), MAILLIMIT_EFORMAT);
    cr_assert_eq(parse("log_denials some\n"), MAILLIMIT_EFORMAT);
    cr_assert_str_eq(err, "test.conf:1: log_denials needs episode, all or none");
}

/* One HTTP/1.0 request to 127.0.0.1:port; the whole answer (status line first). */
static char *http_get(int port, const char *path, const char *auth)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: t\r\n%s%s%s\r\n", path,
                     auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fd, out + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap)
            out = realloc(out, cap *= 2);
    }
    out[len] = '\0';
    close(fd);
    return out;
}

#ifdef MAILLIMIT_HAVE_HTTP /* built with libmicrohttpd */
static int http_port_logged;
static void find_port(int priority, const char *text, void *userdata)
{
    (void)priority;
    (void)userdata;
    const char *p = strstr(text, "pages and metrics on inet:127.0.0.1:0 (port ");
    if (p)
        http_port_logged = atoi(p + 44);
}

Test(server_conf, http_listener_answers_on_its_own_thread_with_a_token)
{
    maillimit_server *s;
    cr_assert_eq(maillimit_server_new(&s, NULL, NULL), 0);
    maillimit_server_log_set(s, MAILLIMIT_SERVER_LOG_NONE, NULL, 0);
    http_port_logged = 0;
    maillimit_server_log_callback(s, find_port, NULL);
    const char text[] = "policy_listen inet:127.0.0.1:0\nadmin_listen none\nstate_file none\n"
                        "http_listen inet:127.0.0.1:0\nhttp_auth_token 0123456789abcdef\n"
                        "subscription acme\ndomain acme.example subscription=acme\n";
    char e[512];
    cr_assert_eq(maillimit_server_config_load_mem(s, text, sizeof text - 1, NULL, e, sizeof e), 0,
                 "%s", e);
    cr_assert_eq(maillimit_server_start(s, e, sizeof e), 0, "%s", e);
    cr_assert_gt(http_port_logged, 0);
    /* the loop is not running: the pages do not need it */
    char *r = http_get(http_port_logged, "/metrics", NULL);
    cr_assert_eq(atoi(r + 9), 401, "%.80s", r);
    cr_assert(strstr(r, "WWW-Authenticate: Basic realm=\"maillimitd\""), "%s", r);
    free(r);
    r = http_get(http_port_logged, "/metrics", "Bearer 0123456789abcdef");
    cr_assert_eq(atoi(r + 9), 200, "%.80s", r);
    cr_assert(strstr(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    cr_assert(strstr(r, "\nmaillimit_entities{level=\"domain\"} 1\n"), "%s", r);
    cr_assert(strstr(r, "\nmaillimit_http_requests_total{code=\"401\"} 1\n"), "%s", r);
    free(r);
    r = http_get(http_port_logged, "/domain/acme.example", "Basic eDowMTIzNDU2Nzg5YWJjZGVm");
    cr_assert_eq(atoi(r + 9), 200, "%.80s", r);
    cr_assert(strstr(r, "Content-Security-Policy: default-src 'none'"), "%s", r);
    cr_assert(strstr(r, "<h1 class=\"entity\" data-level=\"domain\">acme.example</h1>"));
    free(r);
    r = http_get(http_port_logged, "/", "Bearer 0123456789abcdeX");
    cr_assert_eq(atoi(r + 9), 401, "%.80s", r);
    free(r);
    /* a reload replaces the token at once */
    const char text2[] = "policy_listen inet:127.0.0.1:0\nadmin_listen none\nstate_file none\n"
                         "http_listen inet:127.0.0.1:0\nhttp_auth_token fedcba9876543210\n";
    cr_assert_eq(maillimit_server_config_load_mem(s, text2, sizeof text2 - 1, NULL, e, sizeof e),
                 0, "%s", e);
    r = http_get(http_port_logged, "/", "Bearer 0123456789abcdef");
    cr_assert_eq(atoi(r + 9), 401, "%.80s", r);
    free(r);
    r = http_get(http_port_logged, "/", "Basic YWRtaW46ZmVkY2JhOTg3NjU0MzIxMA==");
    cr_assert_eq(atoi(r + 9), 200, "%.80s", r);
    free(r);
    r = http_get(http_port_logged, "/mailboxes", "bearer   fedcba9876543210");
    cr_assert_eq(atoi(r + 9), 200, "%.80s", r);
    free(r);
    cr_assert_eq(maillimit_server_stop(s), 0);
    cr_assert_eq(maillimit_server_run(s), 0);
    maillimit_server_free(s);
}
#endif

Test(server_conf, http_authorization_header)
{
    cr_assert_eq(maillimit__http_authorized(NULL, NULL), 1);
    cr_assert_eq(maillimit__http_authorized("", "anything"), 1);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", NULL), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Bearer 0123456789abcdef"), 1);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Bearer 0123456789abcde"), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Bearer 0123456789abcdefg"), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Token 0123456789abcdef"), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef",
                                            "Basic eDowMTIzNDU2Nzg5YWJjZGVm"), 1);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Basic eDowMTIzNDU2Nzg5YWJj"), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Basic !!!!"), 0);
    cr_assert_eq(maillimit__http_authorized("0123456789abcdef", "Basic MDEyMzQ1Njc4OWFiY2RlZg=="),
                 0, "no user name and colon: not a Basic credential");
}

#else
typedef int maillimit_test_no_server_layer;
#endif /* MAILLIMIT_HAVE_SERVER */
