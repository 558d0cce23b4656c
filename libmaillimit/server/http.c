/* SPDX-License-Identifier: MIT */
/* maillimitd's HTTP listener (http_listen): libmicrohttpd with its own polling thread, in
 * front of the pages and /metrics of http_page.c.
 *
 * libmicrohttpd parses the requests; this file only bounds them and answers. Bounds: at most
 * 64 connections (16 per client address), 32 KiB for a request's line and headers (more is
 * answered 431 by libmicrohttpd), 15 s of inactivity, GET and HEAD only (anything else is
 * answered 405 without reading a body). One thread renders the pages, one request at a
 * time, at SCHED_IDLE (nice +10 where that is refused): on a busy server the loop thread
 * (policy and milter) gets the CPU first. See http.h for what that thread may touch.
 *
 * With http_auth_token every request needs "Authorization: Bearer TOKEN", or HTTP Basic
 * authentication with the token as the password (a browser asks for it: any user name).
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#ifdef MAILLIMIT_HAVE_MHD
#include <microhttpd.h>
#endif
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

enum { TOKEN_MAX = 256 };

/* ---- authorisation ------------------------------------------------------------------------ */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode base64 (padding optional); returns the length or -1. */
static long b64dec(const char *in, char *out, size_t size)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && *p != '='; p++) {
        int v = b64val(*p);
        if (v < 0)
            return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    return (long)n;
}

/* Equal strings, in time that depends on the token's length only. */
static int same(const char *token, const char *given, size_t glen)
{
    size_t n = strlen(token);
    unsigned diff = (unsigned)(glen ^ n);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)token[i] ^ (unsigned char)(i < glen ? given[i] : 0);
    return diff == 0;
}

int maillimit__http_authorized(const char *token, const char *header)
{
    if (!token || !*token)
        return 1;
    if (!header)
        return 0;
    while (*header == ' ')
        header++;
    if (strncasecmp(header, "Bearer ", 7) == 0) {
        const char *t = header + 7;
        while (*t == ' ')
            t++;
        size_t n = strlen(t);
        while (n && t[n - 1] == ' ')
            n--;
        return same(token, t, n);
    }
    if (strncasecmp(header, "Basic ", 6) == 0) {
        const char *t = header + 6;
        while (*t == ' ')
            t++;
        char dec[3 * TOKEN_MAX];
        long n = b64dec(t, dec, sizeof dec);
        const char *colon = n > 0 ? memchr(dec, ':', (size_t)n) : NULL;
        if (!colon)
            return 0;
        return same(token, colon + 1, (size_t)(n - (colon + 1 - dec)));
    }
    return 0;
}

#ifdef MAILLIMIT_HAVE_MHD

enum { CONN_MAX = 64, CONN_PER_IP = 16, CONN_TIMEOUT_S = 15, REQ_MEMORY = 32768,
       LOGQ = 32, HTTP_NICE = 10 };

struct maillimit__http {
    struct MHD_Daemon *d;
    maillimit__pages *pages;
    maillimit__metrics *metrics;
    pthread_mutex_t mu;          /* token, log queue */
    char token[TOKEN_MAX + 1];
    char *logq[LOGQ];
    int logprio[LOGQ];
    int nlog;
    unsigned lost;               /* log lines dropped while the queue was full */
    void (*wake)(void *ud);
    void *ud;
    int niced;                   /* HTTP thread only */
    int64_t last_now;            /* HTTP thread only */
    int port;
};

static void queue_log(maillimit__http *h, int prio, const char *text)
{
    pthread_mutex_lock(&h->mu);
    int was_empty = h->nlog == 0;
    if (h->nlog < LOGQ && (h->logq[h->nlog] = strdup(text)))
        h->logprio[h->nlog++] = prio;
    else
        h->lost++;
    pthread_mutex_unlock(&h->mu);
    if (was_empty && h->wake)
        h->wake(h->ud);
}

void maillimit__http_log_drain(maillimit__http *h,
                               void (*emit)(void *ud, int prio, const char *text), void *ud)
{
    if (!h)
        return;
    char *q[LOGQ];
    int prio[LOGQ];
    pthread_mutex_lock(&h->mu);
    int n = h->nlog;
    unsigned lost = h->lost;
    memcpy(q, h->logq, sizeof q);
    memcpy(prio, h->logprio, sizeof prio);
    h->nlog = 0;
    h->lost = 0;
    pthread_mutex_unlock(&h->mu);
    for (int i = 0; i < n; i++) {
        emit(ud, prio[i], q[i]);
        free(q[i]);
    }
    if (lost) {
        char t[100];
        snprintf(t, sizeof t, "http: %u more messages not logged", lost);
        emit(ud, MAILLIMIT_SERVER_LOG_WARNING, t);
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    maillimit__http *h = cls;
    char text[600] = "http: ";
    vsnprintf(text + 6, sizeof text - 6, fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    queue_log(h, MAILLIMIT_SERVER_LOG_WARNING, text);
}

/* Keep the raw bytes: http_page.c splits the path at '/' before it decodes a segment (a name
 * may hold a '/', written %2F), and decodes query values itself. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

int maillimit__http_token_set(maillimit__http *h, const char *token)
{
    if (!h)
        return 0;
    if (token && strlen(token) > TOKEN_MAX)
        return MAILLIMIT_EINVAL;
    pthread_mutex_lock(&h->mu);
    snprintf(h->token, sizeof h->token, "%s", token ? token : "");
    pthread_mutex_unlock(&h->mu);
    return 0;
}

/* ---- requests ------------------------------------------------------------------------------ */

static const char *get_arg(void *ud, const char *key)
{
    return MHD_lookup_connection_value(ud, MHD_GET_ARGUMENT_KIND, key);
}

static void count_status(maillimit__http *h, int status)
{
    static const int codes[MAILLIMIT__HTTP_CODES] = { 200, 301, 400, 401, 404, 405, 500 };
    for (int i = 0; i < MAILLIMIT__HTTP_CODES; i++)
        if (codes[i] == status)
            maillimit__inc(&h->metrics->http_requests[i], 1); /* this thread is its writer */
}

static enum MHD_Result answer(maillimit__http *h, struct MHD_Connection *conn, int status,
                              const char *ctype, maillimit__buf *body, const char *location)
{
    struct MHD_Response *resp;
    if (body->p && !body->failed) {
        resp = MHD_create_response_from_buffer(body->len, body->p, MHD_RESPMEM_MUST_FREE);
        if (resp)
            body->p = NULL; /* libmicrohttpd frees it */
    } else {
        static char oops[] = "Out of memory.\n";
        if (body->failed) {
            status = 500;
            ctype = "text/plain; charset=utf-8";
        }
        resp = body->failed ? MHD_create_response_from_buffer(sizeof oops - 1, oops,
                                                              MHD_RESPMEM_PERSISTENT)
                            : MHD_create_response_from_buffer(0, (void *)"",
                                                              MHD_RESPMEM_PERSISTENT);
    }
    maillimit__buf_free(body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    /* no script runs on these pages, whatever a name holds */
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                            "form-action 'self'; base-uri 'none'");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Basic realm=\"maillimitd\", charset=\"UTF-8\"");
    if (location)
        MHD_add_response_header(resp, "Location", location);
    count_status(h, status);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    maillimit__http *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    (void)upload_size;
    if (!h->niced) {
        /* this thread only: it runs when the loop thread (and any other work of normal
         * priority) does not need the CPU; where SCHED_IDLE is refused, at nice +10 */
        h->niced = 1;
        struct sched_param sp = { 0 };
        if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
            setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), HTTP_NICE);
    }
    maillimit__buf body = { 0 };
    char token[TOKEN_MAX + 1];
    pthread_mutex_lock(&h->mu);
    memcpy(token, h->token, sizeof token);
    pthread_mutex_unlock(&h->mu);
    if (!maillimit__http_authorized(token,
                                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                MHD_HTTP_HEADER_AUTHORIZATION))) {
        maillimit__buf_puts(&body, "Authorization required.\n");
        return answer(h, conn, 401, "text/plain; charset=utf-8", &body, NULL);
    }
    int64_t now = (int64_t)time(NULL);
    if (now < h->last_now)
        now = h->last_now; /* readers want a time that does not go backwards */
    h->last_now = now;
    maillimit__http_req req = { method, url, get_arg, conn };
    maillimit__http_resp *r = malloc(sizeof *r);
    if (!r) {
        body.failed = 1;
        return answer(h, conn, 500, "text/plain; charset=utf-8", &body, NULL);
    }
    maillimit__pages_handle(h->pages, &req, now, r);
    if (r->status == 500 && !r->body.len) {
        maillimit__buf_free(&r->body);
        maillimit__buf_puts(&r->body, "The page could not be made (out of memory?).\n");
        r->ctype = "text/plain; charset=utf-8";
        queue_log(h, MAILLIMIT_SERVER_LOG_WARNING, "http: a page could not be made");
    }
    enum MHD_Result rc = answer(h, conn, r->status, r->ctype, &r->body,
                                r->status == 301 ? r->location : NULL);
    free(r);
    return rc;
}

/* ---- start and stop ------------------------------------------------------------------------ */

int maillimit__http_start(maillimit__http **out, const maillimit__listen *addr, maillimit *ml,
                          const maillimit__metrics *metrics, maillimit__gate *gate,
                          const char *token, void (*wake)(void *ud), void *ud, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (addr->unix_) {
        snprintf(err, errlen, "http_listen %s: only inet:HOST:PORT", addr->spec);
        return MAILLIMIT_EIO;
    }
    maillimit__http *h = calloc(1, sizeof *h);
    if (!h)
        return MAILLIMIT_ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    h->metrics = (maillimit__metrics *)metrics;
    h->wake = wake;
    h->ud = ud;
    maillimit__http_token_set(h, token);
    if (maillimit__pages_new(&h->pages, ml, metrics, gate) != 0) {
        maillimit__http_stop(h);
        return MAILLIMIT_ENOMEM;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    int v6 = strchr(addr->host, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)addr->port);
        inet_pton(AF_INET6, addr->host, &s6->sin6_addr);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)addr->port);
        inet_pton(AF_INET, addr->host, &s4->sin_addr);
    }
    unsigned flags = MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* the thread inherits this mask: signals stay with the loop thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (maillimit__pages_reader_start(h->pages) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        maillimit__http_stop(h);
        return MAILLIMIT_ENOMEM;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)addr->port, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, (void *)h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_MAX,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONN_PER_IP,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQ_MEMORY,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape_none, (void *)NULL,
                            MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->d) {
        /* libmicrohttpd said why through the logger */
        char why[600] = "cannot listen (address in use?)";
        pthread_mutex_lock(&h->mu);
        if (h->nlog)
            snprintf(why, sizeof why, "%s", h->logq[h->nlog - 1] + 6);
        pthread_mutex_unlock(&h->mu);
        snprintf(err, errlen, "http_listen %s: %s", addr->spec, why);
        h->wake = NULL;
        maillimit__http_stop(h);
        return MAILLIMIT_EIO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : addr->port;
    *out = h;
    return 0;
}

int maillimit__http_port(const maillimit__http *h)
{
    return h ? h->port : 0;
}

void maillimit__http_stop(maillimit__http *h)
{
    if (!h)
        return;
    if (h->d)
        MHD_stop_daemon(h->d);
    maillimit__pages_free(h->pages);
    for (int i = 0; i < h->nlog; i++)
        free(h->logq[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

#else /* no libmicrohttpd: http_listen is refused */

int maillimit__http_start(maillimit__http **out, const maillimit__listen *addr, maillimit *ml,
                          const maillimit__metrics *metrics, maillimit__gate *gate,
                          const char *token, void (*wake)(void *ud), void *ud, char *err,
                          size_t errlen)
{
    (void)ml;
    (void)metrics;
    (void)gate;
    (void)token;
    (void)wake;
    (void)ud;
    *out = NULL;
    snprintf(err, errlen, "http_listen %s: this maillimitd was built without libmicrohttpd "
             "(libmicrohttpd-dev)", addr->spec);
    return MAILLIMIT_EIO;
}

int maillimit__http_token_set(maillimit__http *h, const char *token)
{
    (void)h;
    (void)token;
    return 0;
}

void maillimit__http_log_drain(maillimit__http *h,
                               void (*emit)(void *ud, int prio, const char *text), void *ud)
{
    (void)h;
    (void)emit;
    (void)ud;
}

void maillimit__http_stop(maillimit__http *h)
{
    (void)h;
}

int maillimit__http_port(const maillimit__http *h)
{
    (void)h;
    return 0;
}

#endif
