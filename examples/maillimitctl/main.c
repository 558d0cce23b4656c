/* SPDX-License-Identifier: MIT */
/* maillimitctl: the command-line client of maillimitd's admin protocol (msgpack-RPC).
 *
 *   maillimitctl [-s SOCKET | -H HOST:PORT] [--json] COMMAND [ARGS...]
 *
 * Human-readable output by default, JSON with --json. Exit status 0 on success, 1 when the
 * daemon answers with an error ("maillimitctl: COMMAND: OBJECT: reason" on stderr), 2 for
 * usage errors (values are checked here as the configuration file's parser checks them),
 * 3 when the daemon cannot be reached. The socket is, in order: -s, -H, $MAILLIMITCTL_SOCKET, then
 * maillimitd.sock in /var/lib/maillimit, $XDG_RUNTIME_DIR/maillimit or /tmp/maillimit-UID
 * (the first that exists: the places maillimitd's built-in configuration uses).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <maillimit.h>
#include <maillimit/server.h>

static const char usage_text[] =
    "usage: maillimitctl [-s SOCKET | -H HOST:PORT] [--json] COMMAND [ARGS...]\n"
    "\n"
    "LEVEL is server, plan, subscription, domain, mailbox or sysuser; the server has no NAME.\n"
    "TARGET is subscription, domain, mailbox or server, with .day for the daily window.\n"
    "VALUE is a number, unlimited or default (not on the server); FLAG VALUE is yes, no or\n"
    "default (also on, off, 1, 0), as in the configuration file.\n"
    "\n"
    "  list LEVEL [in LEVEL NAME] [--implicit]   the entities of a level (plan, subscription,\n"
    "                                      domain, mailbox, sysuser), optionally inside one\n"
    "                                      plan, subscription or domain, with their status\n"
    "  status LEVEL [NAME] [hour|day]      sending or not, count, limit, remaining\n"
    "  reset LEVEL [NAME]                  forget the entity's own window counts (unblock)\n"
    "  add plan NAME | add subscription NAME [PLAN] | add domain NAME SUBSCRIPTION\n"
    "  add mailbox ADDRESS | add sysuser LOGIN SUBSCRIPTION\n"
    "  remove LEVEL NAME                   remove an entity and its subtree\n"
    "  move domain NAME SUBSCRIPTION | move subscription NAME PLAN|none\n"
    "  limit set LEVEL [NAME] TARGET VALUE    e.g. limit set domain example.com mailbox 50\n"
    "  limit get LEVEL [NAME] [hour|day]      effective limit of the entity's own counter\n"
    "  limit value LEVEL [NAME] TARGET        value as set there (default = inherited)\n"
    "  flag set LEVEL [NAME] sendmail|exempt yes|no|default\n"
    "  flag get LEVEL [NAME] sendmail|exempt\n"
    "  enable [on|off]                     the master switch (no argument: show it)\n"
    "  unit [messages|recipients]          what one unit is (no argument: show it)\n"
    "  decide LEVEL SENDER [COST]          a real decision (it counts!), for testing\n"
    "  history LEVEL [NAME] [HOURS]        sent/denied/exempt per hour (default 24 hours)\n"
    "  episodes [LEVEL NAME] [HOURS]       periods over a limit, in a subtree\n"
    "  top LEVEL [sent|denied] [HOURS] [K] [SCOPE_LEVEL SCOPE_NAME]   the biggest senders\n"
    "  summary [LEVEL NAME] [HOURS]        totals for a subtree (default: the server)\n"
    "  events [SINCE]                      limit reached / back to normal (seq > SINCE)\n"
    "  retention [HOURS]                   hours of history kept\n"
    "  reload                              re-read maillimitd's configuration file\n"
    "  snapshot                            save the state file now\n"
    "  stats | ping | version | methods\n"
    "  call METHOD [ARG...]                any method; numeric ARGs are sent as integers\n"
    "\n"
    "Exit status: 0 success; 1 the daemon refused (its reason on stderr, e.g. \"limit set:\n"
    "mailbox joe@example.com: not found\"); 2 usage (a bad command, argument or value);\n"
    "3 the daemon cannot be reached.\n";

static int json_out;

/* ---- connection ----------------------------------------------------------------------------- */

static int connect_to(const char *sock, const char *hostport)
{
    int fd;
    if (hostport) {
        char host[128];
        const char *hp = strncmp(hostport, "inet:", 5) == 0 ? hostport + 5 : hostport;
        const char *colon = strrchr(hp, ':');
        if (!colon || (size_t)(colon - hp) >= sizeof host) {
            fprintf(stderr, "maillimitctl: bad address %s (HOST:PORT)\n", hostport);
            exit(2);
        }
        memcpy(host, hp, (size_t)(colon - hp));
        host[colon - hp] = '\0';
        char *h = host;
        size_t hl = strlen(h);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h[hl - 1] = '\0';
            h++;
        }
        int port = atoi(colon + 1);
        struct sockaddr_storage ss;
        socklen_t sl;
        memset(&ss, 0, sizeof ss);
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            sl = sizeof *s4;
        } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            sl = sizeof *s6;
        } else {
            fprintf(stderr, "maillimitctl: %s: a numeric address is needed\n", hostport);
            exit(2);
        }
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0) {
            fprintf(stderr, "maillimitctl: cannot connect to %s: %s\n", hostport,
                    strerror(errno));
            exit(3);
        }
        return fd;
    }
    struct sockaddr_un su;
    memset(&su, 0, sizeof su);
    su.sun_family = AF_UNIX;
    if (strlen(sock) >= sizeof su.sun_path) {
        fprintf(stderr, "maillimitctl: socket path too long: %s\n", sock);
        exit(2);
    }
    strcpy(su.sun_path, sock);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&su, sizeof su) < 0) {
        fprintf(stderr, "maillimitctl: cannot connect to %s: %s (is maillimitd running?)\n",
                sock, strerror(errno));
        exit(3);
    }
    return fd;
}

/* Send one request, return the response's unpacked form (the caller destroys it). */
static void rpc(int fd, const msgpack_sbuffer *req, msgpack_unpacked *res)
{
    size_t off = 0;
    while (off < req->size) {
        ssize_t w = write(fd, req->data + off, req->size - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "maillimitctl: write: %s\n", strerror(errno));
            exit(3);
        }
        off += (size_t)w;
    }
    msgpack_unpacker u;
    if (!msgpack_unpacker_init(&u, 65536)) {
        fprintf(stderr, "maillimitctl: out of memory\n");
        exit(3);
    }
    for (;;) {
        msgpack_unpack_return r = msgpack_unpacker_next(&u, res);
        if (r == MSGPACK_UNPACK_SUCCESS)
            break;
        if (r < 0) {
            fprintf(stderr, "maillimitctl: malformed response from maillimitd\n");
            exit(3);
        }
        if (msgpack_unpacker_buffer_capacity(&u) < 4096 &&
            !msgpack_unpacker_reserve_buffer(&u, 65536)) {
            fprintf(stderr, "maillimitctl: out of memory\n");
            exit(3);
        }
        ssize_t n = read(fd, msgpack_unpacker_buffer(&u), msgpack_unpacker_buffer_capacity(&u));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "maillimitctl: connection closed by maillimitd%s%s\n",
                    n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
            exit(3);
        }
        msgpack_unpacker_buffer_consumed(&u, (size_t)n);
    }
    msgpack_unpacker_destroy(&u);
}

/* ---- output ------------------------------------------------------------------------------- */

static void json_str(const char *p, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("null", stdout); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "true" : "false", stdout); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: printf("%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf("%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: printf("%.17g", o->via.f64); break;
    case MSGPACK_OBJECT_STR: json_str(o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_BIN: json_str(o->via.bin.ptr, o->via.bin.size); break;
    case MSGPACK_OBJECT_ARRAY:
        putchar('[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                putchar(',');
            json(&o->via.array.ptr[i]);
        }
        putchar(']');
        break;
    case MSGPACK_OBJECT_MAP:
        putchar('{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            if (i)
                putchar(',');
            if (k->type == MSGPACK_OBJECT_STR)
                json_str(k->via.str.ptr, k->via.str.size);
            else {
                putchar('"');
                msgpack_object_print(stdout, *k);
                putchar('"');
            }
            putchar(':');
            json(&o->via.map.ptr[i].val);
        }
        putchar('}');
        break;
    default: fputs("null", stdout); break;
    }
}

static void scalar(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: fputs("-", stdout); break;
    case MSGPACK_OBJECT_BOOLEAN: fputs(o->via.boolean ? "yes" : "no", stdout); break;
    case MSGPACK_OBJECT_STR: fwrite(o->via.str.ptr, 1, o->via.str.size, stdout); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: printf("%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: printf("%lld", (long long)o->via.i64); break;
    default: json(o); break;
    }
}

static const msgpack_object *field(const msgpack_object *m, const char *k)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(k);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == kl &&
            memcmp(key->via.str.ptr, k, kl) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int64_t ival(const msgpack_object *o)
{
    if (!o)
        return 0;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return 0;
}

static void print_limit(int64_t v)
{
    if (v == MAILLIMIT_UNLIMITED)
        fputs("unlimited", stdout);
    else if (v == MAILLIMIT_DEFAULT)
        fputs("default", stdout);
    else
        printf("%lld", (long long)v);
}

static void print_duration(int64_t s)
{
    if (s < 0) {
        fputs("never", stdout);
        return;
    }
    if (s >= 3600)
        printf("%lldh %02lldm %02llds", (long long)(s / 3600), (long long)(s % 3600 / 60),
               (long long)(s % 60));
    else if (s >= 60)
        printf("%lldm %02llds", (long long)(s / 60), (long long)(s % 60));
    else
        printf("%llds", (long long)s);
}

static void print_status(const char *title, const msgpack_object *r)
{
    const msgpack_object *sending = field(r, "sending"), *blocked = field(r, "blocked_by");
    printf("%s\n", title);
    printf("  %-12s %s", "state",
           sending && sending->type == MSGPACK_OBJECT_BOOLEAN && sending->via.boolean
               ? "sending"
               : "not sending");
    if (blocked && blocked->type == MSGPACK_OBJECT_STR)
        printf(" (blocked by the %.*s limit)", (int)blocked->via.str.size, blocked->via.str.ptr);
    printf("\n  %-12s %lld\n  %-12s ", "count", (long long)ival(field(r, "count")), "limit");
    print_limit(ival(field(r, "limit")));
    printf("\n  %-12s ", "remaining");
    print_limit(ival(field(r, "remaining")));
    printf("\n  %-12s ", "retry after");
    print_duration(ival(field(r, "retry_after")));
    printf("\n  %-12s ", "reset after");
    print_duration(ival(field(r, "reset_after")));
    const msgpack_object *cc = field(r, "cluster_count");
    if (cc && cc->type == MSGPACK_OBJECT_NIL)
        printf("\n  %-12s unknown (Redis does not answer)", "all relays");
    else if (cc)
        printf("\n  %-12s %lld", "all relays", (long long)ival(cc));
    putchar('\n');
}

static int is_time_key(const msgpack_object *k)
{
    static const char *const keys[] = { "hour_start", "started", "ended", "time", "from", "to",
                                        "started_at" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(keys[i]) &&
            memcmp(k->via.str.ptr, keys[i], k->via.str.size) == 0)
            return 1;
    return 0;
}

/* One cell as text: times (Unix seconds) as UTC, the rest as scalars. */
static void cell(char *buf, size_t size, const msgpack_object *k, const msgpack_object *v)
{
    if (k && is_time_key(k) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 > 0) {
        time_t t = (time_t)v->via.u64;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(buf, size, "%Y-%m-%d %H:%M", &tm);
        return;
    }
    if (k && is_time_key(k) && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        snprintf(buf, size, "-");
        return;
    }
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f) {
        snprintf(buf, size, "?");
        return;
    }
    FILE *old = stdout;
    stdout = f;
    scalar(v);
    stdout = old;
    fclose(f);
    snprintf(buf, size, "%s", p ? p : "");
    free(p);
}

/* An array of maps (report rows) as a table with a header. */
static void print_rows(const msgpack_object *r)
{
    if (r->via.array.size == 0) {
        printf("(none)\n");
        return;
    }
    const msgpack_object *first = &r->via.array.ptr[0];
    uint32_t cols = first->via.map.size;
    if (cols > 16)
        cols = 16;
    int w[16];
    char c[400];
    for (uint32_t j = 0; j < cols; j++)
        w[j] = (int)first->via.map.ptr[j].key.via.str.size;
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        const msgpack_object *row = &r->via.array.ptr[i];
        for (uint32_t j = 0; j < cols && j < row->via.map.size; j++) {
            cell(c, sizeof c, &row->via.map.ptr[j].key, &row->via.map.ptr[j].val);
            if ((int)strlen(c) > w[j])
                w[j] = (int)strlen(c);
        }
    }
    for (uint32_t j = 0; j < cols; j++)
        printf("%-*.*s%s", w[j], (int)first->via.map.ptr[j].key.via.str.size,
               first->via.map.ptr[j].key.via.str.ptr, j + 1 < cols ? "  " : "\n");
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        const msgpack_object *row = &r->via.array.ptr[i];
        for (uint32_t j = 0; j < cols && j < row->via.map.size; j++) {
            cell(c, sizeof c, &row->via.map.ptr[j].key, &row->via.map.ptr[j].val);
            printf("%-*s%s", w[j], c, j + 1 < cols ? "  " : "\n");
        }
    }
}

static void print_table(const msgpack_object *r)
{
    if (r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size &&
        r->via.array.ptr[0].type == MSGPACK_OBJECT_MAP) {
        print_rows(r);
        return;
    }
    if (r->type == MSGPACK_OBJECT_MAP) {
        /* a map: key/value lines, times formatted */
        size_t w = 0;
        for (uint32_t i = 0; i < r->via.map.size; i++)
            if (r->via.map.ptr[i].key.via.str.size > w)
                w = r->via.map.ptr[i].key.via.str.size;
        char c[400];
        for (uint32_t i = 0; i < r->via.map.size; i++) {
            const msgpack_object *k = &r->via.map.ptr[i].key;
            cell(c, sizeof c, k, &r->via.map.ptr[i].val);
            printf("  %-*.*s  %s\n", (int)w, (int)k->via.str.size, k->via.str.ptr, c);
        }
        return;
    }
    if (r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size == 0 ) {
        printf("(none)\n");
        return;
    }
    if (r->type == MSGPACK_OBJECT_MAP) {
        size_t w = 0;
        for (uint32_t i = 0; i < r->via.map.size; i++) {
            const msgpack_object *k = &r->via.map.ptr[i].key;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size > w)
                w = k->via.str.size;
        }
        for (uint32_t i = 0; i < r->via.map.size; i++) {
            const msgpack_object *k = &r->via.map.ptr[i].key;
            fputs("  ", stdout);
            if (k->type == MSGPACK_OBJECT_STR)
                printf("%-*.*s", (int)w, (int)k->via.str.size, k->via.str.ptr);
            else
                scalar(k);
            fputs("  ", stdout);
            scalar(&r->via.map.ptr[i].val);
            putchar('\n');
        }
    } else if (r->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < r->via.array.size; i++) {
            scalar(&r->via.array.ptr[i]);
            putchar('\n');
        }
    } else if (r->type != MSGPACK_OBJECT_NIL) {
        scalar(r);
        putchar('\n');
    }
}

/* ---- requests ------------------------------------------------------------------------------- */

/* What the command is called in messages: "limit set", "add", ... */
static char title[64] = "maillimitctl";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "maillimitctl: %s: ", title);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

typedef struct req {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    const char *method;
    int nparams;
    const char *params[8];
    int kinds[8]; /* K_* */
} req;

enum {
    K_STR,  /* a string */
    K_INT,  /* an integer, checked already */
    K_NIL,  /* nil */
    K_GUESS, /* call: an integer if it looks like one, else a string */
    K_BOOL  /* "1" true, "0" false */
};

static void add(req *r, const char *v, int kind)
{
    if (r->nparams == 8)
        usage_error("too many arguments");
    r->params[r->nparams] = v;
    r->kinds[r->nparams++] = kind;
}

static int is_int(const char *s)
{
    if (*s == '-')
        s++;
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* Digits only, at most INT64_MAX: the configuration file's rule for numbers (config.c).
 * Returns 0 and the number, -1 for not a number, -2 for too large. */
static int parse_digits(const char *v, int64_t *out)
{
    int64_t n = 0;
    const char *p = v;
    for (; *p >= '0' && *p <= '9'; p++) {
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10)
            return -2;
        n = n * 10 + d;
    }
    if (*p || p == v)
        return -1;
    *out = n;
    return 0;
}

/* A limit VALUE for TARGET, checked exactly as the configuration file's parser checks it:
 * a number (digits, at most INT64_MAX), "unlimited", or "default" except on the server. */
static void check_limit(const char *key, const char *v, int server)
{
    int64_t n;
    if (strcmp(v, "unlimited") == 0)
        return;
    if (strcmp(v, "default") == 0) {
        if (server)
            usage_error("\"default\" is not allowed for key \"%s\" on the server (the server "
                        "has nothing to inherit from; use a number or \"unlimited\")", key);
        return;
    }
    int rc = parse_digits(v, &n);
    if (rc == -2)
        usage_error("value \"%s\" for key \"%s\" is too large (at most %lld)", v, key,
                    (long long)INT64_MAX);
    if (rc)
        usage_error("bad value \"%s\" for key \"%s\" (expected a number%s)", v, key,
                    server ? " or \"unlimited\"" : ", \"unlimited\" or \"default\"");
}

/* A flag VALUE as the configuration file spells it: yes/on/1, no/off/0, default (not on the
 * server). Returns the argument to send: "1", "0" (K_BOOL) or "default". */
static const char *check_flag(const char *key, const char *v, int server)
{
    if (!strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        return "1";
    if (!strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        return "0";
    if (strcmp(v, "default") == 0) {
        if (server)
            usage_error("\"default\" is not allowed for key \"%s\" on the server (use yes or "
                        "no)", key);
        return "default";
    }
    usage_error("bad value \"%s\" for key \"%s\" (expected yes, no%s)", v, key,
                server ? "" : " or default");
}

/* A count argument (HOURS, K, COST, SINCE): digits, min..max. */
static const char *check_count(const char *what, const char *v, int64_t min, int64_t max)
{
    int64_t n = 0;
    if (parse_digits(v, &n) != 0 || n < min || n > max)
        usage_error("%s \"%s\": a number %lld..%lld", what, v, (long long)min, (long long)max);
    return v;
}

static void pack(req *r)
{
    msgpack_sbuffer_init(&r->buf);
    msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
    msgpack_pack_array(&r->pk, 4);
    msgpack_pack_uint32(&r->pk, 0);
    msgpack_pack_uint32(&r->pk, 1);
    msgpack_pack_str(&r->pk, strlen(r->method));
    msgpack_pack_str_body(&r->pk, r->method, strlen(r->method));
    msgpack_pack_array(&r->pk, (size_t)r->nparams);
    for (int i = 0; i < r->nparams; i++) {
        const char *v = r->params[i];
        int kind = r->kinds[i];
        if (kind == K_GUESS)
            kind = is_int(v) ? K_INT : K_STR;
        if (kind == K_NIL) {
            msgpack_pack_nil(&r->pk);
        } else if (kind == K_BOOL) {
            if (v[0] == '1')
                msgpack_pack_true(&r->pk);
            else
                msgpack_pack_false(&r->pk);
        } else if (kind == K_INT) {
            int64_t n = 0;
            int neg = v[0] == '-';
            if (parse_digits(v + neg, &n) != 0)
                usage_error("\"%s\": a number from -%lld to %lld is needed", v,
                            (long long)INT64_MAX, (long long)INT64_MAX);
            msgpack_pack_int64(&r->pk, neg ? -n : n);
        } else {
            msgpack_pack_str(&r->pk, strlen(v));
            msgpack_pack_str_body(&r->pk, v, strlen(v));
        }
    }
}

static void need(int argc, int min, int max)
{
    if (argc < min || argc > max) {
        fprintf(stderr, "maillimitctl: %s: wrong number of arguments\n", title);
        fputs(usage_text, stderr);
        exit(2);
    }
}

/* LEVEL [NAME]: the server has no name. Returns the number of words used. */
static int level_name(req *r, int argc, char **argv)
{
    need(argc, 1, 99);
    add(r, argv[0], K_STR);
    if (strcmp(argv[0], "server") == 0) {
        add(r, NULL, K_NIL);
        return 1;
    }
    need(argc, 2, 99);
    add(r, argv[1], K_STR);
    return 2;
}

/* TARGET[.day] -> target, window */
static void target_window(req *r, char *t)
{
    static const char *const targets[] = { "server", "subscription", "domain", "mailbox" };
    char *dot = strchr(t, '.');
    if (dot && strcmp(dot, ".day") != 0)
        usage_error("bad TARGET \"%s\" (subscription, domain, mailbox or server, with .day "
                    "for the daily window)", t);
    if (dot)
        *dot = '\0';
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok |= strcmp(t, targets[i]) == 0;
    if (!ok) {
        if (dot)
            *dot = '.';
        usage_error("bad TARGET \"%s\" (subscription, domain, mailbox or server, with .day "
                    "for the daily window)", t);
    }
    add(r, t, K_STR);
    add(r, dot ? "day" : "hour", K_STR);
}

/* ---- list --------------------------------------------------------------------------------- */

typedef struct list_args {
    const char *level, *scope_level, *scope_name;
    int implicit;
} list_args;

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    if (v)
        msgpack_pack_str_with_body(pk, v, strlen(v));
    else
        msgpack_pack_nil(pk);
}

/* One page of `list` (details, the hourly window). */
static void list_page(int fd, const list_args *la, int64_t offset, msgpack_unpacked *res)
{
    msgpack_sbuffer b;
    msgpack_packer pk;
    msgpack_sbuffer_init(&b);
    msgpack_packer_init(&pk, &b, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_uint32(&pk, 0);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_str_with_body(&pk, "list", 4);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 6);
    pack_kv_str(&pk, "level", la->level);
    pack_kv_str(&pk, "scope_level", la->scope_level);
    pack_kv_str(&pk, "scope_name", la->scope_name);
    msgpack_pack_str_with_body(&pk, "implicit", 8);
    if (la->implicit)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    msgpack_pack_str_with_body(&pk, "offset", 6);
    msgpack_pack_int64(&pk, offset);
    msgpack_pack_str_with_body(&pk, "details", 7);
    msgpack_pack_true(&pk);
    rpc(fd, &b, res);
    msgpack_sbuffer_destroy(&b);
}

static void limit_text(char *buf, size_t size, const msgpack_object *v)
{
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        snprintf(buf, size, "-");
    else if (ival(v) == MAILLIMIT_UNLIMITED)
        snprintf(buf, size, "unlimited");
    else if (ival(v) == MAILLIMIT_DEFAULT)
        snprintf(buf, size, "default");
    else
        snprintf(buf, size, "%lld", (long long)ival(v));
}

enum { LIST_COLS = 8 };
typedef struct list_table {
    size_t n, cap;
    char (*cell)[LIST_COLS][96];
    int ncols;
    int w[LIST_COLS];
} list_table;

static void table_add(list_table *t, char cells[LIST_COLS][96])
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->cell = realloc(t->cell, t->cap * sizeof *t->cell);
        if (!t->cell) {
            fprintf(stderr, "maillimitctl: out of memory\n");
            exit(3);
        }
    }
    memcpy(t->cell[t->n++], cells, sizeof t->cell[0]);
    for (int j = 0; j < t->ncols; j++)
        if ((int)strlen(cells[j]) > t->w[j])
            t->w[j] = (int)strlen(cells[j]);
}

/* One listed entity as a table row: its placement, state, count and limits. */
static void list_row(list_table *t, const char *level, const msgpack_object *e)
{
    char c[LIST_COLS][96];
    memset(c, 0, sizeof c);
    const msgpack_object *name = field(e, "name"), *parent = field(e, "parent");
    const msgpack_object *st = field(e, "status"), *lim = field(e, "limits");
    const msgpack_object *imp = field(e, "implicit");
    snprintf(c[0], sizeof c[0], "%.*s%s", name ? (int)name->via.str.size : 0,
             name ? name->via.str.ptr : "",
             imp && imp->type == MSGPACK_OBJECT_BOOLEAN && imp->via.boolean ? " (implicit)" : "");
    snprintf(c[1], sizeof c[1], "%.*s", parent ? (int)parent->via.str.size : 0,
             parent ? parent->via.str.ptr : "");
    if (strcmp(level, "plan") == 0) {
        /* the defaults a plan sets, per hour */
        static const char *const tg[] = { "subscription", "domain", "mailbox" };
        for (int i = 0; i < 3; i++) {
            const msgpack_object *x = lim ? field(lim, tg[i]) : NULL;
            limit_text(c[1 + i], sizeof c[1 + i], x ? field(x, "hour") : NULL);
        }
    } else if (st && st->type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *sending = field(st, "sending"), *by = field(st, "blocked_by");
        int on = sending && sending->type == MSGPACK_OBJECT_BOOLEAN && sending->via.boolean;
        if (on || !by || by->type != MSGPACK_OBJECT_STR)
            snprintf(c[2], sizeof c[2], "%s", on ? "sending" : "not sending");
        else
            snprintf(c[2], sizeof c[2], "not sending (%.*s)", (int)by->via.str.size,
                     by->via.str.ptr);
        snprintf(c[3], sizeof c[3], "%lld", (long long)ival(field(st, "count")));
        limit_text(c[4], sizeof c[4], field(st, "limit"));
        const msgpack_object *own = lim ? field(lim, level) : NULL;
        limit_text(c[5], sizeof c[5], own ? field(own, "hour") : NULL);
        limit_text(c[6], sizeof c[6], own ? field(own, "day") : NULL);
    } else if (st) {
        snprintf(c[2], sizeof c[2], "(removed)");
    }
    table_add(t, c);
}

static int run_list(int fd, const list_args *la)
{
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    list_table t;
    memset(&t, 0, sizeof t);
    int plan = strcmp(la->level, "plan") == 0, sysuser = strcmp(la->level, "sysuser") == 0;
    static const char *const heads_plan[] = { "name", "subscription", "domain", "mailbox" };
    static const char *const heads_sys[] = { "name", "subscription" };
    static const char *const heads[] = { "name", "parent", "state", "count", "limit",
                                         "set/hour", "set/day" };
    const char *const *h = plan ? heads_plan : sysuser ? heads_sys : heads;
    t.ncols = plan ? 4 : sysuser ? 2 : 7;
    for (int j = 0; j < t.ncols; j++)
        t.w[j] = (int)strlen(h[j]);
    int64_t offset = 0, total = 0;
    uint64_t gen = 0;
    int pages = 0;
    if (json_out)
        fputs("{\"entities\":[", stdout);
    for (;;) {
        list_page(fd, la, offset, &res);
        const msgpack_object *o = &res.data;
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4) {
            fprintf(stderr, "maillimitctl: malformed response from maillimitd\n");
            exit(3);
        }
        const msgpack_object *err = &o->via.array.ptr[2], *r = &o->via.array.ptr[3];
        if (err->type != MSGPACK_OBJECT_NIL) {
            const msgpack_object *m = field(err, "message");
            fprintf(stderr, "maillimitctl: %s: %.*s\n", title,
                    m && m->type == MSGPACK_OBJECT_STR ? (int)m->via.str.size : 5,
                    m && m->type == MSGPACK_OBJECT_STR ? m->via.str.ptr : "error");
            exit(1);
        }
        const msgpack_object *ents = field(r, "entities");
        uint64_t g = (uint64_t)ival(field(r, "generation"));
        total = ival(field(r, "total"));
        if (pages++ && g != gen) {
            /* the hierarchy changed between two pages: the pages do not fit together */
            fprintf(stderr, "maillimitctl: %s: the hierarchy changed while it was listed; "
                            "run it again\n", title);
            exit(1);
        }
        gen = g;
        if (!ents || ents->type != MSGPACK_OBJECT_ARRAY)
            break;
        for (uint32_t i = 0; i < ents->via.array.size; i++) {
            if (json_out) {
                if (offset + i)
                    putchar(',');
                json(&ents->via.array.ptr[i]);
            } else {
                list_row(&t, la->level, &ents->via.array.ptr[i]);
            }
        }
        offset += ents->via.array.size;
        if (ents->via.array.size == 0 || offset >= total)
            break;
    }
    msgpack_unpacked_destroy(&res);
    if (json_out) {
        printf("],\"total\":%lld,\"generation\":%llu}\n", (long long)total,
               (unsigned long long)gen);
        return 0;
    }
    if (t.n == 0) {
        printf("(none)\n");
        return 0;
    }
    /* names left-aligned, numbers right-aligned; nothing after the last column */
    int numeric_from = plan || sysuser ? t.ncols : 3;
    for (int j = 0; j < t.ncols; j++) {
        if (j + 1 == t.ncols)
            printf("%*s\n", j >= numeric_from ? t.w[j] : 0, h[j]);
        else
            printf(j >= numeric_from ? "%*s  " : "%-*s  ", t.w[j], h[j]);
    }
    for (size_t i = 0; i < t.n; i++)
        for (int j = 0; j < t.ncols; j++) {
            if (j + 1 == t.ncols)
                printf("%*s\n", j >= numeric_from ? t.w[j] : 0, t.cell[i][j]);
            else
                printf(j >= numeric_from ? "%*s  " : "%-*s  ", t.w[j], t.cell[i][j]);
        }
    free(t.cell);
    return 0;
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *hostport = NULL;
    int i = 1, implicit = 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            sock = argv[++i];
        else if (strcmp(argv[i], "-H") == 0 && i + 1 < argc)
            hostport = argv[++i];
        else if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
            json_out = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage_text, stderr);
        return 2;
    }
    char *cmd = argv[i++];
    /* options may also follow the command: maillimitctl list mailbox --json */
    char *words[64];
    int n = 0;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
            json_out = 1;
        else if (strcmp(argv[i], "--implicit") == 0 && strcmp(cmd, "list") == 0)
            implicit = 1;
        else if (n < 64)
            words[n++] = argv[i];
        else {
            fprintf(stderr, "maillimitctl: too many arguments\n");
            return 2;
        }
    }
    char **a = words;
    req r;
    memset(&r, 0, sizeof r);
    char stitle[800] = "";
    int status_view = 0;
    list_args la = { NULL, NULL, NULL, 0 };
    snprintf(title, sizeof title, "%s", cmd);

    if (strcmp(cmd, "list") == 0) {
        /* list LEVEL [in LEVEL NAME] */
        if (n != 1 && !(n == 4 && strcmp(a[1], "in") == 0))
            need(n, 1, 1);
        la.level = a[0];
        la.scope_level = n == 4 ? a[2] : NULL;
        la.scope_name = n == 4 ? a[3] : NULL;
        la.implicit = implicit;
        r.method = "list";
    } else if (strcmp(cmd, "status") == 0) {
        r.method = "status";
        int used = level_name(&r, n, a);
        need(n, used, used + 1);
        add(&r, n > used ? a[used] : "hour", K_STR);
        snprintf(stitle, sizeof stitle, "%s%s%s (%s)", a[0], used == 2 ? " " : "",
                 used == 2 ? a[1] : "", n > used ? a[used] : "hour");
        status_view = 1;
    } else if (strcmp(cmd, "reset") == 0) {
        r.method = "reset";
        int used = level_name(&r, n, a);
        need(n, used, used);
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "move") == 0) {
        r.method = cmd[0] == 'a' ? "entity.add" : "entity.move";
        need(n, 2, 3);
        add(&r, a[0], K_STR);
        add(&r, a[1], K_STR);
        if (n == 3)
            add(&r, a[2], strcmp(a[2], "none") == 0 ? K_NIL : K_STR);
    } else if (strcmp(cmd, "remove") == 0) {
        r.method = "entity.remove";
        need(n, 2, 2);
        add(&r, a[0], K_STR);
        add(&r, a[1], K_STR);
    } else if (strcmp(cmd, "limit") == 0 || strcmp(cmd, "flag") == 0) {
        need(n, 2, 99);
        int lim = cmd[0] == 'l';
        const char *sub = a[0];
        snprintf(title, sizeof title, "%s %s", cmd, sub);
        n--;
        a++;
        int used = level_name(&r, n, a);
        int server = strcmp(a[0], "server") == 0;
        if (lim && strcmp(sub, "set") == 0) {
            r.method = "limit.set";
            need(n, used + 2, used + 2);
            char key[64];
            snprintf(key, sizeof key, "%s", a[used]); /* as messages name it: mailbox.day */
            target_window(&r, a[used]);
            check_limit(key, a[used + 1], server);
            add(&r, a[used + 1], K_GUESS);
        } else if (lim && strcmp(sub, "get") == 0) {
            r.method = "limit.effective";
            need(n, used, used + 1);
            add(&r, n > used ? a[used] : "hour", K_STR);
        } else if (lim && strcmp(sub, "value") == 0) {
            r.method = "limit.configured";
            need(n, used + 1, used + 1);
            target_window(&r, a[used]);
        } else if (!lim && strcmp(sub, "set") == 0) {
            r.method = "flag.set";
            need(n, used + 2, used + 2);
            add(&r, a[used], K_STR);
            const char *v = check_flag(a[used], a[used + 1], server);
            add(&r, v, strcmp(v, "default") == 0 ? K_STR : K_BOOL);
        } else if (!lim && strcmp(sub, "get") == 0) {
            r.method = "flag.get";
            need(n, used + 1, used + 1);
            add(&r, a[used], K_STR);
        } else {
            fprintf(stderr, "maillimitctl: %s: unknown subcommand (set, get%s)\n", title,
                    lim ? ", value" : "");
            return 2;
        }
    } else if (strcmp(cmd, "enable") == 0) {
        need(n, 0, 1);
        r.method = n ? "enabled.set" : "enabled.get";
        if (n) {
            const char *v = check_flag("enable", a[0], 1);
            add(&r, v, K_BOOL);
        }
    } else if (strcmp(cmd, "unit") == 0) {
        need(n, 0, 1);
        r.method = n ? "unit.set" : "unit.get";
        if (n && strcmp(a[0], "messages") != 0 && strcmp(a[0], "recipients") != 0)
            usage_error("bad value \"%s\" (expected messages or recipients)", a[0]);
        if (n)
            add(&r, a[0], K_STR);
    } else if (strcmp(cmd, "decide") == 0) {
        need(n, 2, 3);
        r.method = "decide";
        add(&r, a[0], K_STR);
        add(&r, a[1], K_STR);
        if (n == 3)
            add(&r, check_count("COST", a[2], 1, MAILLIMIT_COST_MAX), K_INT);
    } else if (strcmp(cmd, "history") == 0) {
        r.method = "history";
        int used = level_name(&r, n, a);
        need(n, used, used + 1);
        if (n > used)
            add(&r, check_count("HOURS", a[used], 1, 87600), K_INT);
    } else if (strcmp(cmd, "episodes") == 0 || strcmp(cmd, "summary") == 0) {
        r.method = cmd;
        need(n, 0, 3);
        int used = 0;
        if (n >= 1 && !is_int(a[0]))
            used = level_name(&r, n, a);
        else {
            add(&r, "server", K_STR);
            add(&r, NULL, K_NIL);
        }
        need(n, used, used + 1);
        if (n > used)
            add(&r, check_count("HOURS", a[used], 1, 87600), K_INT);
    } else if (strcmp(cmd, "top") == 0) {
        /* top LEVEL [sent|denied] [HOURS] [K] [SCOPE_LEVEL SCOPE_NAME] */
        r.method = "top";
        need(n, 1, 6);
        add(&r, a[0], K_STR);
        int k = 1;
        const char *metric = "sent", *hours = NULL, *count = "10";
        if (k < n && (strcmp(a[k], "sent") == 0 || strcmp(a[k], "denied") == 0))
            metric = a[k++];
        if (k < n && is_int(a[k]))
            hours = check_count("HOURS", a[k++], 1, 87600);
        if (k < n && is_int(a[k]))
            count = check_count("K", a[k++], 1, 1000);
        add(&r, metric, K_STR);
        add(&r, hours, hours ? K_INT : K_NIL);
        add(&r, NULL, K_NIL); /* now */
        add(&r, count, K_INT);
        if (k < n) {
            need(n - k, 1, 2);
            add(&r, a[k], K_STR);
            add(&r, k + 1 < n ? a[k + 1] : NULL, k + 1 < n ? K_STR : K_NIL);
        }
    } else if (strcmp(cmd, "events") == 0) {
        need(n, 0, 1);
        r.method = "events";
        if (n)
            add(&r, check_count("SINCE", a[0], 0, INT64_MAX), K_INT);
    } else if (strcmp(cmd, "retention") == 0) {
        need(n, 0, 1);
        r.method = "retention";
        if (n)
            add(&r, check_count("HOURS", a[0], 1, 87600), K_INT);
    } else if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "snapshot") == 0) {
        need(n, 0, 0);
        r.method = cmd[0] == 'r' ? "config.reload" : "snapshot.save";
    } else if (strcmp(cmd, "stats") == 0 || strcmp(cmd, "ping") == 0 ||
               strcmp(cmd, "version") == 0 || strcmp(cmd, "methods") == 0) {
        need(n, 0, 0);
        r.method = cmd;
    } else if (strcmp(cmd, "call") == 0) {
        need(n, 1, 9);
        r.method = a[0];
        snprintf(title, sizeof title, "%s", a[0]);
        for (int k = 1; k < n; k++)
            add(&r, a[k], strcmp(a[k], "nil") == 0 ? K_NIL : K_GUESS);
    } else {
        fprintf(stderr, "maillimitctl: unknown command %s\n", cmd);
        fputs(usage_text, stderr);
        return 2;
    }

    if (!sock && !hostport)
        sock = getenv("MAILLIMITCTL_SOCKET");
    char path[300];
    if (!sock && !hostport) {
        char dir[256];
        size_t dl = sizeof dir;
        if (maillimit_server_default_dir(dir, &dl, 0) != 0) {
            fprintf(stderr, "maillimitctl: no socket found; use -s SOCKET\n");
            return 3;
        }
        snprintf(path, sizeof path, "%s/maillimitd.sock", dir);
        sock = path;
    }
    if (la.level) {
        int fd = connect_to(sock, hostport);
        int rc = run_list(fd, &la);
        close(fd);
        return rc;
    }
    pack(&r);
    int fd = connect_to(sock, hostport);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    rpc(fd, &r.buf, &res);
    close(fd);
    msgpack_sbuffer_destroy(&r.buf);

    const msgpack_object *o = &res.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4) {
        fprintf(stderr, "maillimitctl: malformed response from maillimitd\n");
        return 3;
    }
    const msgpack_object *error = &o->via.array.ptr[2], *result = &o->via.array.ptr[3];
    if (error->type != MSGPACK_OBJECT_NIL) {
        const msgpack_object *m = field(error, "message");
        if (json_out) {
            json(error);
            putchar('\n');
        }
        fprintf(stderr, "maillimitctl: %s: ", title);
        if (m && m->type == MSGPACK_OBJECT_STR)
            fprintf(stderr, "%.*s\n", (int)m->via.str.size, m->via.str.ptr);
        else {
            msgpack_object_print(stderr, *error);
            fputc('\n', stderr);
        }
        msgpack_unpacked_destroy(&res);
        return 1;
    }
    if (json_out) {
        json(result);
        putchar('\n');
    } else if (status_view) {
        print_status(stitle, result);
    } else if (strcmp(r.method, "limit.effective") == 0 ||
               strcmp(r.method, "limit.configured") == 0) {
        print_limit(ival(result));
        putchar('\n');
    } else {
        print_table(result);
    }
    msgpack_unpacked_destroy(&res);
    return 0;
}
