/* maillimitctl: the command-line client of maillimitd's admin protocol (msgpack-RPC).
 *
 *   maillimitctl [-s SOCKET | -H HOST:PORT] [--json] COMMAND [ARGS...]
 *
 * Human-readable output by default, JSON with --json. Exit status 0 on success, 1 when the
 * daemon answers with an error (its message on stderr), 2 for usage errors, 3 when the
 * daemon cannot be reached. The socket is, in order: -s, -H, $MAILLIMITCTL_SOCKET, then
 * maillimitd.sock in /var/lib/maillimit, $XDG_RUNTIME_DIR/maillimit or /tmp/maillimit-UID
 * (the first that exists: the places maillimitd's built-in configuration uses).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <msgpack.h>
#include <netinet/in.h>
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
    "VALUE is a number, unlimited or default.\n"
    "\n"
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
    "  call METHOD [ARG...]                any method; numeric ARGs are sent as integers\n";

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

typedef struct req {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    const char *method;
    int nparams;
    const char *params[8];
    int kinds[8]; /* 0 string, 1 integer, 2 nil, 3 integer-or-string (guess) */
} req;

static void add(req *r, const char *v, int kind)
{
    if (r->nparams == 8) {
        fprintf(stderr, "maillimitctl: too many arguments\n");
        exit(2);
    }
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
        if (kind == 3)
            kind = is_int(v) ? 1 : 0;
        if (kind == 2) {
            msgpack_pack_nil(&r->pk);
        } else if (kind == 1) {
            if (!is_int(v)) {
                fprintf(stderr, "maillimitctl: %s: a number is needed\n", v);
                exit(2);
            }
            msgpack_pack_int64(&r->pk, strtoll(v, NULL, 10));
        } else {
            msgpack_pack_str(&r->pk, strlen(v));
            msgpack_pack_str_body(&r->pk, v, strlen(v));
        }
    }
}

static void need(int argc, int min, int max)
{
    if (argc < min || argc > max) {
        fputs(usage_text, stderr);
        exit(2);
    }
}

/* LEVEL [NAME]: the server has no name. Returns the number of words used. */
static int level_name(req *r, int argc, char **argv)
{
    need(argc, 1, 99);
    add(r, argv[0], 0);
    if (strcmp(argv[0], "server") == 0) {
        add(r, NULL, 2);
        return 1;
    }
    need(argc, 2, 99);
    add(r, argv[1], 0);
    return 2;
}

/* TARGET[.day] -> target, window */
static void target_window(req *r, char *t)
{
    char *dot = strchr(t, '.');
    if (dot) {
        *dot = '\0';
        add(r, t, 0);
        add(r, dot + 1, 0);
    } else {
        add(r, t, 0);
        add(r, "hour", 0);
    }
}

int main(int argc, char **argv)
{
    const char *sock = NULL, *hostport = NULL;
    int i = 1;
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
    int n = argc - i;
    char **a = argv + i;
    req r;
    memset(&r, 0, sizeof r);
    char title[800] = "";
    int status_view = 0;

    if (strcmp(cmd, "status") == 0) {
        r.method = "status";
        int used = level_name(&r, n, a);
        need(n, used, used + 1);
        add(&r, n > used ? a[used] : "hour", 0);
        snprintf(title, sizeof title, "%s%s%s (%s)", a[0], used == 2 ? " " : "",
                 used == 2 ? a[1] : "", n > used ? a[used] : "hour");
        status_view = 1;
    } else if (strcmp(cmd, "reset") == 0) {
        r.method = "reset";
        int used = level_name(&r, n, a);
        need(n, used, used);
    } else if (strcmp(cmd, "add") == 0 || strcmp(cmd, "move") == 0) {
        r.method = cmd[0] == 'a' ? "entity.add" : "entity.move";
        need(n, 2, 3);
        add(&r, a[0], 0);
        add(&r, a[1], 0);
        if (n == 3)
            add(&r, a[2], strcmp(a[2], "none") == 0 ? 2 : 0);
    } else if (strcmp(cmd, "remove") == 0) {
        r.method = "entity.remove";
        need(n, 2, 2);
        add(&r, a[0], 0);
        add(&r, a[1], 0);
    } else if (strcmp(cmd, "limit") == 0 || strcmp(cmd, "flag") == 0) {
        need(n, 2, 99);
        int lim = cmd[0] == 'l';
        const char *sub = a[0];
        n--;
        a++;
        int used = level_name(&r, n, a);
        if (lim && strcmp(sub, "set") == 0) {
            r.method = "limit.set";
            need(n, used + 2, used + 2);
            target_window(&r, a[used]);
            add(&r, a[used + 1], 3);
        } else if (lim && strcmp(sub, "get") == 0) {
            r.method = "limit.get";
            need(n, used, used + 1);
            add(&r, n > used ? a[used] : "hour", 0);
        } else if (lim && strcmp(sub, "value") == 0) {
            r.method = "limit.value";
            need(n, used + 1, used + 1);
            target_window(&r, a[used]);
        } else if (!lim && strcmp(sub, "set") == 0) {
            r.method = "flag.set";
            need(n, used + 2, used + 2);
            add(&r, a[used], 0);
            add(&r, a[used + 1], 3);
        } else if (!lim && strcmp(sub, "get") == 0) {
            r.method = "flag.get";
            need(n, used + 1, used + 1);
            add(&r, a[used], 0);
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    } else if (strcmp(cmd, "enable") == 0) {
        need(n, 0, 1);
        r.method = n ? "enable" : "enabled";
        if (n)
            add(&r, a[0], 0);
    } else if (strcmp(cmd, "unit") == 0) {
        need(n, 0, 1);
        r.method = n ? "unit.set" : "unit.get";
        if (n)
            add(&r, a[0], 0);
    } else if (strcmp(cmd, "decide") == 0) {
        need(n, 2, 3);
        r.method = "decide";
        add(&r, a[0], 0);
        add(&r, a[1], 0);
        if (n == 3)
            add(&r, a[2], 1);
    } else if (strcmp(cmd, "history") == 0) {
        r.method = "history";
        int used = level_name(&r, n, a);
        need(n, used, used + 1);
        if (n > used)
            add(&r, a[used], 1);
    } else if (strcmp(cmd, "episodes") == 0 || strcmp(cmd, "summary") == 0) {
        r.method = cmd;
        need(n, 0, 3);
        int used = 0;
        if (n >= 1 && !is_int(a[0]))
            used = level_name(&r, n, a);
        else {
            add(&r, "server", 0);
            add(&r, NULL, 2);
        }
        need(n, used, used + 1);
        if (n > used)
            add(&r, a[used], 1);
    } else if (strcmp(cmd, "top") == 0) {
        /* top LEVEL [sent|denied] [HOURS] [K] [SCOPE_LEVEL SCOPE_NAME] */
        r.method = "top";
        need(n, 1, 6);
        add(&r, a[0], 0);
        int k = 1;
        const char *metric = "sent", *hours = NULL, *count = "10";
        if (k < n && (strcmp(a[k], "sent") == 0 || strcmp(a[k], "denied") == 0))
            metric = a[k++];
        if (k < n && is_int(a[k]))
            hours = a[k++];
        if (k < n && is_int(a[k]))
            count = a[k++];
        add(&r, metric, 0);
        add(&r, hours, hours ? 1 : 2);
        add(&r, NULL, 2); /* now */
        add(&r, count, 1);
        if (k < n) {
            need(n - k, 1, 2);
            add(&r, a[k], 0);
            add(&r, k + 1 < n ? a[k + 1] : NULL, k + 1 < n ? 0 : 2);
        }
    } else if (strcmp(cmd, "events") == 0) {
        need(n, 0, 1);
        r.method = "events";
        if (n)
            add(&r, a[0], 1);
    } else if (strcmp(cmd, "retention") == 0) {
        need(n, 0, 1);
        r.method = "retention";
        if (n)
            add(&r, a[0], 1);
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
        for (int k = 1; k < n; k++)
            add(&r, a[k], strcmp(a[k], "nil") == 0 ? 2 : 3);
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
        fprintf(stderr, "maillimitctl: ");
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
        print_status(title, result);
    } else if (strcmp(r.method, "limit.get") == 0 || strcmp(r.method, "limit.value") == 0) {
        print_limit(ival(result));
        putchar('\n');
    } else {
        print_table(result);
    }
    msgpack_unpacked_destroy(&res);
    return 0;
}
