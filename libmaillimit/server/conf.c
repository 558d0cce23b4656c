/* SPDX-License-Identifier: MIT */
/* Daemon directives of the configuration file (maillimitd), beside the core's (SPEC §6).
 *
 * The same lexical rules as the core: one directive per line, tokens separated by spaces and
 * tabs, a token starting with `#` starts a comment, "\r\n" line ends are fine.
 *
 *   policy_listen inet:HOST:PORT | unix:/PATH [mode=0666] | none   (repeatable, up to 8)
 *   admin_listen  inet:HOST:PORT | unix:/PATH [mode=0600] | none   (repeatable, up to 8)
 *   state_file /PATH | none
 *   snapshot_interval SECONDS          (0: only when stopping; default 300)
 *   action defer [CODE [DSN]] | reject [CODE [DSN]] | hold         (default defer 450 4.7.0)
 *   exempt_network CIDR...             (repeatable; default none)
 *   local_network CIDR... | none       (repeatable; default 127.0.0.0/8 ::1)
 *   notify_command COMMAND ARGS...     (run by /bin/sh -c; | none)
 *   notify_interval SECONDS            (default 3600)
 *   log stderr | syslog
 *   policy_idle_timeout SECONDS        (default 600)
 *   policy_max_connections N           (default 1024)
 *   milter_listen inet:HOST:PORT | unix:/PATH [mode=0660] | none    (repeatable; default none)
 *   local_milter_listen inet:HOST:PORT | unix:/PATH [mode=0660] | none  (the same)
 *   local_login_sender_map_file /PATH | none   (default none)
 *   local_origin DOMAIN                (default: Postfix's myorigin, from postconf)
 *   local_exempt_users LOGIN... | none (default none)
 *   script_users LOGIN... | none       (default www-data)
 *   local_action hold | reject | defer | discard   (default hold)
 *   http_listen inet:HOST:PORT | none  (default none) the "Outgoing mail control" pages and
 *                                      /metrics (http.c); any address, but only as written
 *   http_auth_token TOKEN | none       (default none) 16..256 printable characters; every
 *                                      HTTP request then needs it (Bearer, or Basic password)
 *   log_denials episode | all | none   (default episode) the first refusal of a sender's
 *                                      episode, then a summary a minute (denylog.c); all:
 *                                      a line per refusal; none: no refusal lines
 *   cluster_redis inet:HOST:PORT | unix:/PATH | none [user=NAME] [password=SECRET]
 *                 [database=N] [timeout=MS] [prefix=TEXT]   (default none) share the
 *                                      counters with other relays through Redis (cluster.c,
 *                                      docs/cluster.md): database 0..1000000 (SELECT),
 *                                      timeout 10..5000 ms (default 200), prefix of the keys
 *                                      1..64 printable characters without braces
 *                                      (default "maillimit:")
 *   reload merge | replace             (default merge) how the file's limits and entities
 *                                      are applied: merge (maillimit_config_load) adds and
 *                                      changes, so entities added through the admin protocol
 *                                      survive; replace (maillimit_config_apply) makes the
 *                                      file the whole truth and removes what it does not name
 *
 * Every directive except the repeatable ones at most once per file. A daemon line is replaced
 * by an empty line in the text handed to maillimit_config_load_mem(), so the core's messages
 * keep their line numbers; "<memory>" in them is replaced by the file's name.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

#define TEXT_MAX ((size_t)64 << 20)
enum { TOK_MAX = 64 };

static void msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void msg(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int maillimit__read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        msg(err, errlen, "%s: %s", path, strerror(errno));
        return MAILLIMIT_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        msg(err, errlen, "%s: not a regular file", path);
        close(fd);
        return MAILLIMIT_EIO;
    }
    if ((size_t)st.st_size > TEXT_MAX) {
        msg(err, errlen, "%s: larger than 64 MiB", path);
        close(fd);
        return MAILLIMIT_EIO;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return MAILLIMIT_ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap > TEXT_MAX) {
                msg(err, errlen, "%s: larger than 64 MiB", path);
                free(buf);
                close(fd);
                return MAILLIMIT_EIO;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return MAILLIMIT_ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            msg(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return MAILLIMIT_EIO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

/* ---- listen addresses ------------------------------------------------------------------- */

void maillimit__listen_free(maillimit__listen *l)
{
    free(l->spec);
    free(l->host);
    free(l->path);
    memset(l, 0, sizeof *l);
}

int maillimit__listen_parse(const char *spec, unsigned default_mode, maillimit__listen *out,
                            char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->mode = default_mode;
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        if (path[0] != '/') {
            msg(err, errlen, "unix socket path must be absolute: %s", spec);
            return MAILLIMIT_EINVAL;
        }
        if (strlen(path) > 100) {
            msg(err, errlen, "unix socket path longer than 100 bytes: %s", spec);
            return MAILLIMIT_EINVAL;
        }
        out->unix_ = 1;
        out->spec = strdup(spec);
        out->path = strdup(path);
        if (!out->spec || !out->path) {
            maillimit__listen_free(out);
            return MAILLIMIT_ENOMEM;
        }
        return 0;
    }
    if (strncmp(spec, "inet:", 5) != 0) {
        msg(err, errlen, "listen address must be inet:HOST:PORT or unix:/PATH: %s", spec);
        return MAILLIMIT_EINVAL;
    }
    const char *hp = spec + 5;
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp) {
        msg(err, errlen, "listen address must be inet:HOST:PORT: %s", spec);
        return MAILLIMIT_EINVAL;
    }
    size_t hn = (size_t)(colon - hp);
    const char *h = hp;
    if (hp[0] == '[') {
        if (hn < 3 || hp[hn - 1] != ']') {
            msg(err, errlen, "bad IPv6 address in %s (use inet:[ADDR]:PORT)", spec);
            return MAILLIMIT_EINVAL;
        }
        h = hp + 1;
        hn -= 2;
    } else if (memchr(hp, ':', hn)) {
        msg(err, errlen, "IPv6 addresses need brackets: inet:[ADDR]:PORT: %s", spec);
        return MAILLIMIT_EINVAL;
    }
    long port = 0;
    const char *c = colon + 1;
    if (!*c || strlen(c) > 5) {
        msg(err, errlen, "bad port in %s", spec);
        return MAILLIMIT_EINVAL;
    }
    for (; *c; c++) {
        if (*c < '0' || *c > '9') {
            msg(err, errlen, "bad port in %s", spec);
            return MAILLIMIT_EINVAL;
        }
        port = port * 10 + (*c - '0');
    }
    if (port < 0 || port > 65535) {
        msg(err, errlen, "port out of range in %s", spec);
        return MAILLIMIT_EINVAL;
    }
    char host[64];
    if (hn == 0 || hn >= sizeof host) {
        msg(err, errlen, "bad host in %s", spec);
        return MAILLIMIT_EINVAL;
    }
    memcpy(host, h, hn);
    host[hn] = '\0';
    uint8_t a[16];
    unsigned pfx;
    if (maillimit__cidr_parse(host, a, &pfx) != 0 || strchr(host, '/')) {
        msg(err, errlen, "host must be a numeric IPv4 or IPv6 address in %s", spec);
        return MAILLIMIT_EINVAL;
    }
    out->port = (int)port;
    out->spec = strdup(spec);
    out->host = strdup(host);
    if (!out->spec || !out->host) {
        maillimit__listen_free(out);
        return MAILLIMIT_ENOMEM;
    }
    return 0;
}

/* ---- directives ------------------------------------------------------------------------- */

void maillimit__conf_free(maillimit__conf *c)
{
    for (int i = 0; i < c->npolicy; i++)
        maillimit__listen_free(&c->policy[i]);
    for (int i = 0; i < c->nadmin; i++)
        maillimit__listen_free(&c->admin[i]);
    free(c->state_file);
    free(c->action_dsn);
    for (int i = 0; i < c->nexempt; i++)
        free(c->exempt[i]);
    free(c->exempt);
    for (int i = 0; i < c->nlocal; i++)
        free(c->local[i]);
    free(c->local);
    free(c->notify_command);
    for (int i = 0; i < c->nmilter; i++)
        maillimit__listen_free(&c->milter[i]);
    for (int i = 0; i < c->nlocal_milter; i++)
        maillimit__listen_free(&c->local_milter[i]);
    free(c->sender_map_file);
    free(c->local_origin);
    for (int i = 0; i < c->nexempt_users; i++)
        free(c->exempt_users[i]);
    free(c->exempt_users);
    for (int i = 0; i < c->nscript_users; i++)
        free(c->script_users[i]);
    free(c->script_users);
    maillimit__listen_free(&c->http);
    free(c->http_token);
    maillimit__listen_free(&c->cluster);
    free(c->cluster_user);
    free(c->cluster_password);
    free(c->cluster_prefix);
    memset(c, 0, sizeof *c);
}

static void conf_defaults(maillimit__conf *c)
{
    memset(c, 0, sizeof *c);
    c->snapshot_interval = 300;
    c->action = MAILLIMIT_POLICY_ACTION_DEFER;
    c->notify_interval = 3600;
    c->log_target = -1;
    c->idle_timeout = 600;
    c->max_connections = 1024;
    c->npolicy = -1; /* -1: not given (the default applies); 0: none */
    c->nadmin = -1;
    c->local_action = MAILLIMIT__LOCAL_HOLD;
    c->nscript_users = -1; /* -1: not given: www-data */
    c->cluster_timeout = 200;
}

/* The defaults that allocate, after the whole file was read. */
static int conf_finish(maillimit__conf *c)
{
    if (c->nscript_users < 0) {
        c->nscript_users = 0;
        c->script_users = malloc(sizeof *c->script_users);
        if (!c->script_users || !(c->script_users[0] = strdup("www-data")))
            return MAILLIMIT_ENOMEM;
        c->nscript_users = 1;
    }
    return 0;
}

enum dkey { K_POLICY_LISTEN, K_ADMIN_LISTEN, K_STATE_FILE, K_SNAPSHOT_INTERVAL, K_ACTION,
            K_EXEMPT_NETWORK, K_LOCAL_NETWORK, K_NOTIFY_COMMAND, K_NOTIFY_INTERVAL, K_LOG,
            K_IDLE_TIMEOUT, K_MAX_CONNECTIONS, K_RELOAD, K_MILTER_LISTEN, K_LOCAL_MILTER_LISTEN,
            K_SENDER_MAP_FILE, K_LOCAL_ORIGIN, K_LOCAL_EXEMPT_USERS, K_SCRIPT_USERS,
            K_LOCAL_ACTION, K_HTTP_LISTEN, K_HTTP_AUTH_TOKEN, K_LOG_DENIALS, K_CLUSTER_REDIS,
            K_COUNT };

static const char *const dnames[K_COUNT] = {
    "policy_listen", "admin_listen", "state_file", "snapshot_interval", "action",
    "exempt_network", "local_network", "notify_command", "notify_interval", "log",
    "policy_idle_timeout", "policy_max_connections", "reload", "milter_listen",
    "local_milter_listen", "local_login_sender_map_file", "local_origin",
    "local_exempt_users", "script_users", "local_action", "http_listen", "http_auth_token",
    "log_denials", "cluster_redis",
};

static int parse_seconds(const char *t, int64_t max, int64_t *out)
{
    int64_t v = 0;
    if (!*t || strlen(t) > 12)
        return -1;
    for (; *t; t++) {
        if (*t < '0' || *t > '9')
            return -1;
        v = v * 10 + (*t - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int strlist_add(char ***v, int *n, const char *s)
{
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof **v);
    if (!nv)
        return MAILLIMIT_ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return MAILLIMIT_ENOMEM;
    (*n)++;
    return 0;
}

/* An option value "NAME=VALUE" of printable characters without spaces (1..max bytes). */
static int option_text(const char *v, size_t max, int braces_ok)
{
    size_t n = strlen(v);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f ||
            (!braces_ok && (v[i] == '{' || v[i] == '}')))
            return 0;
    return 1;
}

static int cluster_directive(maillimit__conf *c, char **tok, int ntok, char *err, size_t errlen)
{
    if (ntok < 2) {
        msg(err, errlen, "cluster_redis needs inet:HOST:PORT, unix:/PATH or none");
        return MAILLIMIT_EFORMAT;
    }
    maillimit__listen_free(&c->cluster);
    c->ncluster = 0;
    free(c->cluster_user);
    free(c->cluster_password);
    free(c->cluster_prefix);
    c->cluster_user = c->cluster_password = c->cluster_prefix = NULL;
    c->cluster_database = 0;
    c->cluster_timeout = 200;
    if (strcmp(tok[1], "none") == 0) {
        if (ntok != 2) {
            msg(err, errlen, "cluster_redis none takes no options");
            return MAILLIMIT_EFORMAT;
        }
        return 0;
    }
    char em[256] = "";
    int rc = maillimit__listen_parse(tok[1], 0, &c->cluster, em, sizeof em);
    if (rc == MAILLIMIT_ENOMEM)
        return rc;
    if (rc != 0) {
        msg(err, errlen, "cluster_redis: %s", em);
        return MAILLIMIT_EFORMAT;
    }
    c->ncluster = 1;
    for (int i = 2; i < ntok; i++) {
        const char *t = tok[i], *eq = strchr(t, '=');
        char **dst = NULL;
        size_t max = 0;
        int64_t v;
        if (!eq) {
            msg(err, errlen, "cluster_redis: bad option %s (user=, password=, database=, "
                "timeout=, prefix=)", t);
            return MAILLIMIT_EFORMAT;
        }
        size_t kn = (size_t)(eq - t);
        const char *val = eq + 1;
        if (kn == 4 && memcmp(t, "user", 4) == 0) {
            dst = &c->cluster_user;
            max = 256;
        } else if (kn == 8 && memcmp(t, "password", 8) == 0) {
            dst = &c->cluster_password;
            max = 512;
        } else if (kn == 6 && memcmp(t, "prefix", 6) == 0) {
            if (!option_text(val, 64, 0)) {
                msg(err, errlen, "cluster_redis: bad prefix=%s (1 to 64 printable characters "
                    "without braces)", val);
                return MAILLIMIT_EFORMAT;
            }
            dst = &c->cluster_prefix;
            max = 64;
        } else if (kn == 8 && memcmp(t, "database", 8) == 0) {
            if (parse_seconds(val, 1000000, &v) != 0) {
                msg(err, errlen, "cluster_redis: bad database=%s (0 to 1000000)", val);
                return MAILLIMIT_EFORMAT;
            }
            c->cluster_database = (int)v;
            continue;
        } else if (kn == 7 && memcmp(t, "timeout", 7) == 0) {
            if (parse_seconds(val, 5000, &v) != 0 || v < 10) {
                msg(err, errlen, "cluster_redis: bad timeout=%s (10 to 5000 milliseconds)", val);
                return MAILLIMIT_EFORMAT;
            }
            c->cluster_timeout = v;
            continue;
        } else {
            msg(err, errlen, "cluster_redis: unknown option %.*s (user=, password=, database=, "
                "timeout=, prefix=)", (int)kn, t);
            return MAILLIMIT_EFORMAT;
        }
        if (!option_text(val, max, 1)) {
            msg(err, errlen, "cluster_redis: bad %.*s= (1 to %zu printable characters)", (int)kn,
                t, max);
            return MAILLIMIT_EFORMAT;
        }
        free(*dst);
        if (!(*dst = strdup(val)))
            return MAILLIMIT_ENOMEM;
    }
    return 0;
}

/* One daemon directive, tokens tok[0..ntok). raw: the text after the directive word (for
 * notify_command). Returns 0, EFORMAT (msg in err without the position), ENOMEM. */
static int directive(maillimit__conf *c, enum dkey k, char **tok, int ntok, const char *raw,
                     char *err, size_t errlen)
{
    int rc;
    int64_t v;
    switch (k) {
    case K_POLICY_LISTEN:
    case K_ADMIN_LISTEN:
    case K_MILTER_LISTEN:
    case K_LOCAL_MILTER_LISTEN: {
        int admin = k == K_ADMIN_LISTEN;
        maillimit__listen *arr = admin ? c->admin
                                 : k == K_MILTER_LISTEN       ? c->milter
                                 : k == K_LOCAL_MILTER_LISTEN ? c->local_milter
                                                              : c->policy;
        int *n = admin ? &c->nadmin
                 : k == K_MILTER_LISTEN       ? &c->nmilter
                 : k == K_LOCAL_MILTER_LISTEN ? &c->nlocal_milter
                                              : &c->npolicy;
        unsigned default_mode = admin ? 0600 : k == K_POLICY_LISTEN ? 0666 : 0660;
        if (ntok < 2 || ntok > 3) {
            msg(err, errlen, "%s needs an address and optionally mode=OCTAL", dnames[k]);
            return MAILLIMIT_EFORMAT;
        }
        if (*n < 0)
            *n = 0;
        if (strcmp(tok[1], "none") == 0) {
            if (ntok != 2) {
                msg(err, errlen, "%s none takes no options", dnames[k]);
                return MAILLIMIT_EFORMAT;
            }
            return 0;
        }
        if (*n >= MAILLIMIT__LISTEN_MAX) {
            msg(err, errlen, "more than %d %s lines", MAILLIMIT__LISTEN_MAX, dnames[k]);
            return MAILLIMIT_EFORMAT;
        }
        maillimit__listen l;
        rc = maillimit__listen_parse(tok[1], default_mode, &l, err, errlen);
        if (rc == MAILLIMIT_ENOMEM)
            return rc;
        if (rc != 0)
            return MAILLIMIT_EFORMAT;
        if (ntok == 3) {
            const char *m = tok[2];
            unsigned mode = 0;
            int ok = strncmp(m, "mode=", 5) == 0 && m[5] && strlen(m + 5) <= 4 && l.unix_;
            for (const char *d = m + 5; ok && *d; d++) {
                if (*d < '0' || *d > '7')
                    ok = 0;
                else
                    mode = mode * 8 + (unsigned)(*d - '0');
            }
            if (!ok) {
                msg(err, errlen, "%s: bad option %s (unix sockets take mode=OCTAL)", dnames[k],
                    m);
                maillimit__listen_free(&l);
                return MAILLIMIT_EFORMAT;
            }
            l.mode = mode & 0777;
        }
        arr[(*n)++] = l;
        return 0;
    }
    case K_HTTP_LISTEN: {
        if (ntok != 2) {
            msg(err, errlen, "http_listen needs inet:HOST:PORT or none");
            return MAILLIMIT_EFORMAT;
        }
        maillimit__listen_free(&c->http);
        c->nhttp = 0;
        if (strcmp(tok[1], "none") == 0)
            return 0;
        rc = maillimit__listen_parse(tok[1], 0, &c->http, err, errlen);
        if (rc == MAILLIMIT_ENOMEM)
            return rc;
        if (rc == 0 && c->http.unix_) {
            maillimit__listen_free(&c->http);
            msg(err, errlen, "http_listen needs inet:HOST:PORT (no unix socket)");
            rc = MAILLIMIT_EINVAL;
        }
        if (rc != 0)
            return MAILLIMIT_EFORMAT;
        c->nhttp = 1;
        return 0;
    }
    case K_HTTP_AUTH_TOKEN: {
        size_t n = ntok == 2 ? strlen(tok[1]) : 0;
        int ok = ntok == 2 && (strcmp(tok[1], "none") == 0 || (n >= 16 && n <= 256));
        for (size_t i = 0; ok && i < n; i++)
            if ((unsigned char)tok[1][i] <= 0x20 || (unsigned char)tok[1][i] >= 0x7f)
                ok = 0;
        if (!ok) {
            msg(err, errlen, "http_auth_token needs 16 to 256 printable characters (or none)");
            return MAILLIMIT_EFORMAT;
        }
        free(c->http_token);
        c->http_token = NULL;
        if (strcmp(tok[1], "none") == 0)
            return 0;
        c->http_token = strdup(tok[1]);
        return c->http_token ? 0 : MAILLIMIT_ENOMEM;
    }
    case K_CLUSTER_REDIS:
        return cluster_directive(c, tok, ntok, err, errlen);
    case K_LOG_DENIALS:
        if (ntok == 2 && strcmp(tok[1], "episode") == 0)
            c->log_denials = MAILLIMIT__LOGDENY_EPISODE;
        else if (ntok == 2 && strcmp(tok[1], "all") == 0)
            c->log_denials = MAILLIMIT__LOGDENY_ALL;
        else if (ntok == 2 && strcmp(tok[1], "none") == 0)
            c->log_denials = MAILLIMIT__LOGDENY_NONE;
        else {
            msg(err, errlen, "log_denials needs episode, all or none");
            return MAILLIMIT_EFORMAT;
        }
        return 0;
    case K_SENDER_MAP_FILE:
        if (ntok != 2 || (strcmp(tok[1], "none") != 0 && tok[1][0] != '/')) {
            msg(err, errlen, "local_login_sender_map_file needs an absolute path or none");
            return MAILLIMIT_EFORMAT;
        }
        free(c->sender_map_file);
        c->sender_map_file = NULL;
        if (strcmp(tok[1], "none") == 0)
            return 0;
        c->sender_map_file = strdup(tok[1]);
        return c->sender_map_file ? 0 : MAILLIMIT_ENOMEM;
    case K_LOCAL_ORIGIN: {
        if (ntok != 2 || strlen(tok[1]) > 253 || strchr(tok[1], '@') ||
            strspn(tok[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
                strlen(tok[1]) || tok[1][0] == '.' || tok[1][0] == '-') {
            msg(err, errlen, "local_origin needs a domain name (Postfix's myorigin)");
            return MAILLIMIT_EFORMAT;
        }
        free(c->local_origin);
        c->local_origin = strdup(tok[1]);
        if (!c->local_origin)
            return MAILLIMIT_ENOMEM;
        for (char *x = c->local_origin; *x; x++)
            if (*x >= 'A' && *x <= 'Z')
                *x = (char)(*x + 32);
        return 0;
    }
    case K_LOCAL_EXEMPT_USERS:
    case K_SCRIPT_USERS: {
        char ***list = k == K_SCRIPT_USERS ? &c->script_users : &c->exempt_users;
        int *n = k == K_SCRIPT_USERS ? &c->nscript_users : &c->nexempt_users;
        if (ntok < 2) {
            msg(err, errlen, "%s needs one or more logins (or none)", dnames[k]);
            return MAILLIMIT_EFORMAT;
        }
        if (*n < 0)
            *n = 0;
        for (int i = 1; i < ntok; i++) {
            if (strcmp(tok[i], "none") == 0) {
                if (ntok != 2) {
                    msg(err, errlen, "%s none stands alone", dnames[k]);
                    return MAILLIMIT_EFORMAT;
                }
                return 0;
            }
            size_t ln = strlen(tok[i]);
            if (ln > 64 || strspn(tok[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          "0123456789._-$") != ln || tok[i][0] == '-') {
                msg(err, errlen, "%s: bad login %s", dnames[k], tok[i]);
                return MAILLIMIT_EFORMAT;
            }
            for (char *x = tok[i]; *x; x++)
                if (*x >= 'A' && *x <= 'Z')
                    *x = (char)(*x + 32);
            if ((rc = strlist_add(list, n, tok[i])))
                return rc;
        }
        return 0;
    }
    case K_LOCAL_ACTION:
        if (ntok == 2 && strcmp(tok[1], "hold") == 0)
            c->local_action = MAILLIMIT__LOCAL_HOLD;
        else if (ntok == 2 && strcmp(tok[1], "reject") == 0)
            c->local_action = MAILLIMIT__LOCAL_REJECT;
        else if (ntok == 2 && strcmp(tok[1], "defer") == 0)
            c->local_action = MAILLIMIT__LOCAL_DEFER;
        else if (ntok == 2 && strcmp(tok[1], "discard") == 0)
            c->local_action = MAILLIMIT__LOCAL_DISCARD;
        else {
            msg(err, errlen, "local_action needs hold, reject, defer or discard");
            return MAILLIMIT_EFORMAT;
        }
        return 0;
    case K_STATE_FILE:
        if (ntok != 2 || (strcmp(tok[1], "none") != 0 && tok[1][0] != '/')) {
            msg(err, errlen, "state_file needs an absolute path or none");
            return MAILLIMIT_EFORMAT;
        }
        free(c->state_file);
        c->state_file = strdup(tok[1]);
        return c->state_file ? 0 : MAILLIMIT_ENOMEM;
    case K_SNAPSHOT_INTERVAL:
    case K_NOTIFY_INTERVAL:
    case K_IDLE_TIMEOUT:
        if (ntok != 2 || parse_seconds(tok[1], 86400 * 7, &v) != 0 ||
            (k != K_SNAPSHOT_INTERVAL && v == 0)) {
            msg(err, errlen, "%s needs a number of seconds (%s..604800)", dnames[k],
                k == K_SNAPSHOT_INTERVAL ? "0" : "1");
            return MAILLIMIT_EFORMAT;
        }
        if (k == K_SNAPSHOT_INTERVAL)
            c->snapshot_interval = v;
        else if (k == K_NOTIFY_INTERVAL)
            c->notify_interval = v;
        else
            c->idle_timeout = v;
        return 0;
    case K_RELOAD:
        if (ntok != 2 || (strcmp(tok[1], "merge") != 0 && strcmp(tok[1], "replace") != 0)) {
            msg(err, errlen, "reload needs merge or replace");
            return MAILLIMIT_EFORMAT;
        }
        c->replace = strcmp(tok[1], "replace") == 0;
        return 0;
    case K_MAX_CONNECTIONS:
        if (ntok != 2 || parse_seconds(tok[1], 1000000, &v) != 0 || v == 0) {
            msg(err, errlen, "policy_max_connections needs a number (1..1000000)");
            return MAILLIMIT_EFORMAT;
        }
        c->max_connections = v;
        return 0;
    case K_ACTION: {
        int action;
        if (ntok >= 2 && strcmp(tok[1], "defer") == 0)
            action = MAILLIMIT_POLICY_ACTION_DEFER;
        else if (ntok >= 2 && strcmp(tok[1], "reject") == 0)
            action = MAILLIMIT_POLICY_ACTION_REJECT;
        else if (ntok == 2 && strcmp(tok[1], "hold") == 0)
            action = MAILLIMIT_POLICY_ACTION_HOLD;
        else {
            msg(err, errlen, "action needs defer [CODE [DSN]], reject [CODE [DSN]] or hold");
            return MAILLIMIT_EFORMAT;
        }
        int code = 0;
        if (ntok >= 3) {
            if (ntok > 4 || parse_seconds(tok[2], 999, &v) != 0) {
                msg(err, errlen, "action %s: bad reply code %s", tok[1], tok[2]);
                return MAILLIMIT_EFORMAT;
            }
            code = (int)v;
        }
        const char *dsn = ntok == 4 ? tok[3] : NULL;
        /* validate through a scratch policy object: the same rules as the API */
        maillimit *ml = NULL;
        maillimit_policy *p = NULL;
        if (maillimit_new(&ml) != 0 || maillimit_policy_new(&p, ml) != 0) {
            maillimit_free(ml);
            return MAILLIMIT_ENOMEM;
        }
        rc = maillimit_policy_action_set(p, action, code, dsn);
        maillimit_policy_free(p);
        maillimit_free(ml);
        if (rc != 0) {
            msg(err, errlen, "action %s: bad code or enhanced status code (defer: 421..499 and "
                "4.X.Y, reject: 500..599 and 5.X.Y)", tok[1]);
            return MAILLIMIT_EFORMAT;
        }
        c->action = action;
        c->action_code = code;
        free(c->action_dsn);
        c->action_dsn = dsn ? strdup(dsn) : NULL;
        return dsn && !c->action_dsn ? MAILLIMIT_ENOMEM : 0;
    }
    case K_EXEMPT_NETWORK:
    case K_LOCAL_NETWORK: {
        int local = k == K_LOCAL_NETWORK;
        if (ntok < 2) {
            msg(err, errlen, "%s needs one or more networks", dnames[k]);
            return MAILLIMIT_EFORMAT;
        }
        if (local)
            c->local_set = 1;
        for (int i = 1; i < ntok; i++) {
            if (local && strcmp(tok[i], "none") == 0) {
                if (ntok != 2) {
                    msg(err, errlen, "local_network none stands alone");
                    return MAILLIMIT_EFORMAT;
                }
                return 0;
            }
            uint8_t a[16];
            unsigned pfx;
            if (maillimit__cidr_parse(tok[i], a, &pfx) != 0) {
                msg(err, errlen, "%s: bad network %s (ADDRESS or ADDRESS/PREFIX)", dnames[k],
                    tok[i]);
                return MAILLIMIT_EFORMAT;
            }
            rc = local ? strlist_add(&c->local, &c->nlocal, tok[i])
                       : strlist_add(&c->exempt, &c->nexempt, tok[i]);
            if (rc)
                return rc;
        }
        return 0;
    }
    case K_NOTIFY_COMMAND: {
        while (*raw == ' ' || *raw == '\t')
            raw++;
        size_t n = strlen(raw);
        while (n && (raw[n - 1] == ' ' || raw[n - 1] == '\t'))
            n--;
        if (n == 0) {
            msg(err, errlen, "notify_command needs a command (or none)");
            return MAILLIMIT_EFORMAT;
        }
        free(c->notify_command);
        c->notify_command = NULL;
        if (n == 4 && memcmp(raw, "none", 4) == 0)
            return 0;
        c->notify_command = strndup(raw, n);
        return c->notify_command ? 0 : MAILLIMIT_ENOMEM;
    }
    case K_LOG:
        if (ntok == 2 && strcmp(tok[1], "stderr") == 0)
            c->log_target = MAILLIMIT_SERVER_LOG_STDERR;
        else if (ntok == 2 && strcmp(tok[1], "syslog") == 0)
            c->log_target = MAILLIMIT_SERVER_LOG_SYSLOG;
        else {
            msg(err, errlen, "log needs stderr or syslog");
            return MAILLIMIT_EFORMAT;
        }
        return 0;
    default:
        return MAILLIMIT_EFORMAT;
    }
}

int maillimit__conf_parse(const char *text, size_t len, const char *name,
                          maillimit__conf *conf, char **core_text, char *err, size_t errlen)
{
    if (!name)
        name = "<memory>";
    conf_defaults(conf);
    *core_text = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (len > TEXT_MAX) {
        msg(err, errlen, "%s: larger than 64 MiB", name);
        return MAILLIMIT_EFORMAT;
    }
    char *core = malloc(len + 1);
    if (!core)
        return MAILLIMIT_ENOMEM;
    memcpy(core, text, len);
    core[len] = '\0';
    unsigned seen = 0;
    size_t lineno = 0, pos = 0;
    char *line = NULL;
    size_t linecap = 0;
    int rc = 0;
    while (pos < len) {
        lineno++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        if (n + 1 > linecap) {
            char *nb = realloc(line, n + 1);
            if (!nb) {
                rc = MAILLIMIT_ENOMEM;
                break;
            }
            line = nb;
            linecap = n + 1;
        }
        memcpy(line, text + pos, n);
        line[n] = '\0';
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        /* the directive word */
        size_t a = 0;
        while (a < n && (line[a] == ' ' || line[a] == '\t'))
            a++;
        size_t b = a;
        while (b < n && line[b] != ' ' && line[b] != '\t')
            b++;
        int k = -1;
        for (int i = 0; i < K_COUNT; i++)
            if (b - a == strlen(dnames[i]) && memcmp(line + a, dnames[i], b - a) == 0)
                k = i;
        if (k >= 0) {
            if (memchr(line, '\0', n)) {
                msg(err, errlen, "%s:%zu: NUL byte", name, lineno);
                rc = MAILLIMIT_EFORMAT;
                break;
            }
            /* raw rest of the line for notify_command (comments are part of the command) */
            char *raw = strdup(line + b);
            if (!raw) {
                rc = MAILLIMIT_ENOMEM;
                break;
            }
            char *tok[TOK_MAX];
            int ntok = 0;
            char *save = NULL;
            for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                if (t[0] == '#')
                    break;
                if (ntok == TOK_MAX) {
                    ntok = -1;
                    break;
                }
                tok[ntok++] = t;
            }
            char em[400] = "";
            int repeatable = k == K_POLICY_LISTEN || k == K_ADMIN_LISTEN ||
                             k == K_EXEMPT_NETWORK || k == K_LOCAL_NETWORK ||
                             k == K_MILTER_LISTEN || k == K_LOCAL_MILTER_LISTEN ||
                             k == K_LOCAL_EXEMPT_USERS || k == K_SCRIPT_USERS;
            if (ntok < 0) {
                snprintf(em, sizeof em, "too many words");
                rc = MAILLIMIT_EFORMAT;
            } else if (!repeatable && (seen & (1u << k))) {
                snprintf(em, sizeof em, "%s given twice", dnames[k]);
                rc = MAILLIMIT_EFORMAT;
            } else {
                rc = directive(conf, (enum dkey)k, tok, ntok, raw, em, sizeof em);
            }
            free(raw);
            seen |= 1u << k;
            if (rc == MAILLIMIT_EFORMAT)
                msg(err, errlen, "%s:%zu: %s", name, lineno, em);
            if (rc)
                break;
            memset(core + pos, ' ', n); /* blank: the core sees an empty line */
        }
        pos = nl ? end + 1 : len;
    }
    free(line);
    if (!rc)
        rc = conf_finish(conf);
    if (rc) {
        free(core);
        maillimit__conf_free(conf);
        return rc;
    }
    *core_text = core;
    return 0;
}

int maillimit__conf_core_load(maillimit *ml, const char *text, const char *name, int replace,
                              char *err, size_t errlen)
{
    char em[512] = "";
    int rc = replace ? maillimit_config_apply_mem(ml, text, strlen(text), em, sizeof em)
                     : maillimit_config_load_mem(ml, text, strlen(text), em, sizeof em);
    if (rc != 0) {
        const char *m = em;
        if (strncmp(m, "<memory>", 8) == 0 && name)
            msg(err, errlen, "%s%s", name, m + 8);
        else
            msg(err, errlen, "%s", m[0] ? m : maillimit_strerror(rc));
    } else if (err && errlen) {
        err[0] = '\0';
    }
    return rc;
}

/* ---- default directory ------------------------------------------------------------------ */

static int dir_usable(const char *path, int must_be_ours)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    if (must_be_ours && (st.st_uid != geteuid() || (st.st_mode & 077)))
        return 0;
    return access(path, W_OK | X_OK) == 0;
}

int maillimit_server_default_dir(char *buf, size_t *len, int create)
{
    if (!buf || !len)
        return MAILLIMIT_EINVAL;
    char cand[3][256];
    int ours[3] = { 0, 1, 1 };
    int n = 0;
    snprintf(cand[n++], sizeof cand[0], "/var/lib/maillimit");
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/' && strlen(xdg) < 200)
        snprintf(cand[n++], sizeof cand[0], "%s/maillimit", xdg);
    else
        ours[1] = 1;
    snprintf(cand[n++], sizeof cand[0], "/tmp/maillimit-%u", (unsigned)geteuid());
    if (n == 2)
        ours[1] = 1;
    int pick = -1;
    if (!create) {
        /* the systemd unit's runtime directory holds the socket of a packaged maillimitd */
        struct stat rst;
        if (stat("/run/maillimit/maillimitd.sock", &rst) == 0 && S_ISSOCK(rst.st_mode)) {
            static const char run[] = "/run/maillimit";
            if (*len < sizeof run) {
                *len = sizeof run;
                return MAILLIMIT_ENOBUFS;
            }
            memcpy(buf, run, sizeof run);
            *len = sizeof run;
            return 0;
        }
        for (int i = 0; i < n && pick < 0; i++) {
            char sock[300];
            struct stat st;
            snprintf(sock, sizeof sock, "%s/maillimitd.sock", cand[i]);
            if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
                pick = i;
        }
    }
    for (int i = 0; i < n && pick < 0; i++) {
        if (dir_usable(cand[i], ours[i]))
            pick = i;
        else if (create && mkdir(cand[i], 0700) == 0 && dir_usable(cand[i], ours[i]))
            pick = i;
    }
    if (pick < 0) {
        if (create)
            return MAILLIMIT_EIO;
        pick = n - 1;
    }
    size_t need = strlen(cand[pick]) + 1;
    if (*len < need) {
        *len = need;
        return MAILLIMIT_ENOBUFS;
    }
    memcpy(buf, cand[pick], need);
    *len = need;
    return 0;
}
