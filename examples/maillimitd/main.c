/* SPDX-License-Identifier: MIT */
/* maillimitd: the Postfix policy server of libmaillimit, and its admin protocol.
 *
 *   maillimitd [-c FILE] [-f] [-v] [--check-config] [--print-default-config] [-V] [-h]
 *
 * A thin program around maillimit/server.h: everything but option parsing, the built-in
 * configuration and daemonizing lives in libmaillimit_server.
 *
 * Without -c, the built-in configuration below is used, with DIR = /var/lib/maillimit if it is
 * (or can be made) writable, else $XDG_RUNTIME_DIR/maillimit, else /tmp/maillimit-UID
 * (mode 0700, must be ours). Without -f, maillimitd detaches once it is listening (the
 * parent exits 0 only after the child started, else prints the child's error and exits 1)
 * and logs to syslog (mail facility) unless the configuration says `log stderr`.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <maillimit.h>
#include <maillimit/server.h>

static const char default_config[] =
    "# maillimitd built-in configuration (used when maillimitd runs without -c FILE).\n"
    "# Print it with `maillimitd --print-default-config`, copy it, edit it, run with -c.\n"
    "\n"
    "# Postfix: check_policy_service { inet:127.0.0.1:10031, default_action=DUNNO }\n"
    "policy_listen inet:127.0.0.1:10031\n"
    "admin_listen unix:@DIR@/maillimitd.sock mode=0600\n"
    "state_file @DIR@/state.snap\n"
    "snapshot_interval 300\n"
    "action defer                    # 450 4.7.0 ...; or: reject, hold\n"
    "local_network 127.0.0.0/8 ::1   # unauthenticated mail from here is script mail\n"
    "#exempt_network 192.0.2.10      # never limited, never counted\n"
    "\n"
    "# The Outgoing mail control page and Prometheus /metrics: http://127.0.0.1:8025/\n"
    "# (on an address others can reach, set http_auth_token too)\n"
    "#http_listen inet:127.0.0.1:8025\n"
    "\n"
    "# Default limits per hour. Senders are limited once their domain is known\n"
    "# (maillimitctl add domain ... or `domain` lines); unknown domains count only\n"
    "# against the server total (unlimited by default).\n"
    "unit messages\n"
    "server mailbox=100 domain=500 subscription=1000\n";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: maillimitd [-c FILE] [-f] [-v] [--check-config] [--print-default-config]\n"
            "  -c FILE                 configuration file (default: the built-in one)\n"
            "  -f                      stay in the foreground, log to stderr\n"
            "  -v                      log every decision\n"
            "  --check-config          check the configuration and exit (0 if it is good)\n"
            "  --print-default-config  print the built-in configuration and exit\n"
            "  -V, --version           print the version and exit\n");
}

static void fatal(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "maillimitd: fatal: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

/* The built-in configuration with DIR filled in; "none" for the files if no directory. */
static char *builtin_config(int create)
{
    char dir[256];
    size_t dl = sizeof dir;
    int have = maillimit_server_default_dir(dir, &dl, create) == 0;
    size_t cap = sizeof default_config + 4 * sizeof dir;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = 0;
    for (const char *p = default_config; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (!have && (strncmp(p, "admin_listen ", 13) == 0 || strncmp(p, "state_file ", 11) == 0)) {
            n += (size_t)snprintf(out + n, cap - n, "%s none   # no writable directory\n",
                                  p[0] == 'a' ? "admin_listen" : "state_file");
        } else {
            for (size_t i = 0; i < len; i++) {
                if (strncmp(p + i, "@DIR@", 5) == 0) {
                    n += (size_t)snprintf(out + n, cap - n, "%s", dir);
                    i += 4;
                } else {
                    out[n++] = p[i];
                }
            }
        }
        p += len;
    }
    out[n] = '\0';
    return out;
}

/* Detach: the parent waits for the child's "started" (or its error) on a pipe. */
static int daemonize(int *report_fd)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        close(pfd[1]);
        char buf[1024];
        size_t n = 0;
        ssize_t r;
        while (n < sizeof buf - 1 && (r = read(pfd[0], buf + n, sizeof buf - 1 - n)) != 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
        if (n >= 2 && strncmp(buf, "OK", 2) == 0)
            _exit(0);
        fprintf(stderr, "maillimitd: fatal: %s\n", n ? buf : "the daemon did not start");
        _exit(1);
    }
    close(pfd[0]);
    setsid();
    if (chdir("/") < 0) {
        /* nothing to do: "/" always exists */
    }
    int dn = open("/dev/null", O_RDWR);
    if (dn >= 0) {
        dup2(dn, 0);
        dup2(dn, 1);
        dup2(dn, 2);
        if (dn > 2)
            close(dn);
    }
    *report_fd = pfd[1];
    return 0;
}

static void report(int fd, const char *msg)
{
    if (fd < 0)
        return;
    size_t n = strlen(msg);
    while (n) {
        ssize_t w = write(fd, msg, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        msg += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int foreground = 0, verbose = 0, check = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(a, "-c", 2) == 0 && a[2])
            file = a + 2;
        else if (strcmp(a, "-f") == 0)
            foreground = 1;
        else if (strcmp(a, "-v") == 0)
            verbose = 1;
        else if (strcmp(a, "-fv") == 0 || strcmp(a, "-vf") == 0)
            foreground = verbose = 1;
        else if (strcmp(a, "--check-config") == 0 || strcmp(a, "-n") == 0)
            check = 1;
        else if (strcmp(a, "--print-default-config") == 0) {
            char *t = builtin_config(0);
            fputs(t ? t : default_config, stdout);
            free(t);
            return 0;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("maillimitd (libmaillimit %s)\n", maillimit_version_string());
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    char err[1024] = "";
    char pathbuf[PATH_MAX];
    if (file) {
        /* reloads happen after chdir("/"): keep an absolute path */
        if (!realpath(file, pathbuf))
            fatal("%s: %s", file, strerror(errno));
        file = pathbuf;
    }
    char *builtin = file ? NULL : builtin_config(!check);
    if (!file && !builtin)
        fatal("%s%s", "out of memory", "");

    /* check first, in the foreground, so that errors reach the terminal */
    int rc = file ? maillimit_server_config_check(file, err, sizeof err)
                  : maillimit_server_config_check_mem(builtin, strlen(builtin),
                                                      "<built-in configuration>", err,
                                                      sizeof err);
    if (rc != 0)
        fatal("%s%s", err[0] ? err : maillimit_strerror(rc), "");
    if (check) {
        printf("maillimitd: %s: configuration OK\n", file ? file : "built-in configuration");
        free(builtin);
        return 0;
    }

    int report_fd = -1;
    if (!foreground && daemonize(&report_fd) < 0)
        fatal("cannot detach: %s%s", strerror(errno), "");

    maillimit_server *s = NULL;
    if (maillimit_server_new(&s, NULL, NULL) != 0) {
        report(report_fd, "out of memory");
        fatal("%s%s", "out of memory", "");
    }
    maillimit_server_log_set(s,
                             foreground ? MAILLIMIT_SERVER_LOG_STDERR : MAILLIMIT_SERVER_LOG_SYSLOG,
                             "maillimitd", verbose);
    rc = file ? maillimit_server_config_load(s, file, err, sizeof err)
              : maillimit_server_config_load_mem(s, builtin, strlen(builtin),
                                                 "<built-in configuration>", err, sizeof err);
    free(builtin);
    if (rc == 0)
        rc = maillimit_server_signals(s, 1);
    if (rc == 0)
        rc = maillimit_server_start(s, err, sizeof err);
    if (rc != 0) {
        const char *m = err[0] ? err : maillimit_strerror(rc);
        report(report_fd, m);
        if (foreground)
            fprintf(stderr, "maillimitd[%ld]: fatal: %s\n", (long)getpid(), m);
        maillimit_server_free(s);
        return 1;
    }
    report(report_fd, "OK");
    if (report_fd >= 0)
        close(report_fd);
    maillimit_server_run(s);
    maillimit_server_free(s);
    return 0;
}
