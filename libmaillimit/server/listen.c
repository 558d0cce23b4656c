/* SPDX-License-Identifier: MIT */
/* The listeners: the sockets of policy_listen, admin_listen, milter_listen and
 * local_milter_listen (opened at start, closed at stop), and http_listen's thread (http.c). */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "server_internal.h"

/* ---- listeners --------------------------------------------------------------------------- */

static void on_listener_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    maillimit_server *s = l->s;
    if (l->addr.unix_ && l->addr.path)
        unlink(l->addr.path);
    maillimit__listen_free(&l->addr);
    free(l);
    s->closing_handles--;
    if (s->stopping)
        s->handles_closed(s);
}

void maillimit__listeners_close(maillimit_server *s)
{
    for (struct listener *l = s->listeners, *next; l; l = next) {
        next = l->next;
        s->closing_handles++;
        uv_close(&l->u.h, on_listener_closed);
    }
    s->listeners = NULL;
}

int maillimit__listener_open(maillimit_server *s, const maillimit__listen *a, int admin,
                             int milter, char *err, size_t errlen)
{
    struct listener *l = calloc(1, sizeof *l);
    if (!l)
        return MAILLIMIT_ENOMEM;
    l->s = s;
    l->admin = admin;
    l->milter = milter;
    l->addr = *a;
    l->addr.spec = strdup(a->spec);
    l->addr.host = a->host ? strdup(a->host) : NULL;
    l->addr.path = a->path ? strdup(a->path) : NULL;
    if (!l->addr.spec || (a->host && !l->addr.host) || (a->path && !l->addr.path)) {
        maillimit__listen_free(&l->addr);
        free(l);
        return MAILLIMIT_ENOMEM;
    }
    int rc;
    const char *what = admin                    ? "admin_listen"
                       : milter == MILTER_SMTP  ? "milter_listen"
                       : milter == MILTER_LOCAL ? "local_milter_listen"
                                                : "policy_listen";
    if (a->unix_) {
        rc = uv_pipe_init(s->loop, &l->u.pipe, 0);
        if (rc == 0) {
            /* a stale socket from an earlier run goes; anything else stays and fails */
            struct stat st;
            if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode))
                unlink(a->path);
            mode_t old = umask(0177);
            rc = uv_pipe_bind(&l->u.pipe, a->path);
            umask(old);
            if (rc == 0 && chmod(a->path, a->mode) != 0)
                rc = uv_translate_sys_error(errno);
        }
    } else {
        rc = uv_tcp_init(s->loop, &l->u.tcp);
        if (rc == 0) {
            struct sockaddr_storage ss;
            if (strchr(a->host, ':'))
                rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss);
            else
                rc = uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
            if (rc == 0)
                rc = uv_tcp_bind(&l->u.tcp, (const struct sockaddr *)&ss, 0);
        }
    }
    l->u.h.data = l;
    if (rc == 0)
        rc = uv_listen(&l->u.s, 511, maillimit__on_connection);
    /* on the list even if it failed: maillimit__listeners_close() closes (and frees) it */
    l->next = s->listeners;
    s->listeners = l;
    if (rc != 0) {
        emsg(err, errlen, "%s %s: %s", what, a->spec, uv_strerror(rc));
        if (a->unix_) {
            free(l->addr.path); /* do not unlink what we did not create */
            l->addr.path = NULL;
        }
        return MAILLIMIT_EIO;
    }
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "%s %s",
         admin                    ? "admin protocol on"
         : milter == MILTER_SMTP  ? "milter (SMTP mail) on"
         : milter == MILTER_LOCAL ? "milter (local submissions) on"
                                  : "policy service on",
         a->spec);
    return 0;
}

/* ---- the HTTP listener (http.c) ------------------------------------------------------------ */

static void http_emit(void *ud, int prio, const char *text)
{
    slog(ud, prio, "%s", text);
}

static void on_http_async(uv_async_t *a)
{
    maillimit_server *s = a->data;
    maillimit__http_log_drain(s->http, http_emit, s);
}

/* Runs on the HTTP thread: uv_async_send() is the one libuv call safe from another thread. */
static void http_wake(void *ud)
{
    maillimit_server *s = ud;
    uv_async_send(&s->http_async);
}

int maillimit__http_open(maillimit_server *s, char *err, size_t errlen)
{
    if (!s->conf.nhttp)
        return 0;
    if (uv_async_init(s->loop, &s->http_async, on_http_async) != 0)
        return MAILLIMIT_ENOMEM;
    s->http_async.data = s;
    s->http_async_on = 1;
    uv_unref((uv_handle_t *)&s->http_async);
    int rc = maillimit__http_start(&s->http, &s->conf.http, s->ml, &s->metrics, &s->gate,
                                   s->conf.http_token, http_wake, s, err, errlen);
    if (rc)
        return rc;
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "pages and metrics on %s (port %d)%s", s->conf.http.spec,
         maillimit__http_port(s->http), s->conf.http_token ? ", with a token" : "");
    return 0;
}
void maillimit__http_close(maillimit_server *s)
{
    if (s->http) {
        maillimit__http_stop(s->http); /* waits for a page being made */
        s->http = NULL;
    }
    if (s->http_async_on) {
        s->http_async_on = 0;
        maillimit__close_handle(s, (uv_handle_t *)&s->http_async);
    }
}

/* ---- closing the server's own handles ---------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    maillimit_server *s = h->data;
    s->closing_handles--;
}

void maillimit__close_handle(maillimit_server *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        s->closing_handles++;
        h->data = s;
        uv_close(h, on_timer_closed);
    }
}
