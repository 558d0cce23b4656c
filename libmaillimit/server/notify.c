/* SPDX-License-Identifier: MIT */
/* Events and notifications: the handle's events taken from the core (logged, kept in a ring
 * for the admin "events" method, added to the digest), the minute's tick, and the digest sent
 * to notify_command every notify_interval seconds. */
#define _GNU_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server_internal.h"

enum { EVRING = 1024, DIGEST_MAX = 256 * 1024 };

static void digest_add(maillimit_server *s, const char *line)
{
    size_t n = strlen(line);
    if (s->digest_len + n + 2 > DIGEST_MAX)
        return; /* the digest says how many events there were anyway (by seq) */
    if (s->digest_len + n + 2 > s->digest_cap) {
        size_t cap = s->digest_cap ? s->digest_cap * 2 : 4096;
        while (cap < s->digest_len + n + 2)
            cap *= 2;
        char *d = realloc(s->digest, cap);
        if (!d)
            return;
        s->digest = d;
        s->digest_cap = cap;
    }
    memcpy(s->digest + s->digest_len, line, n);
    s->digest_len += n;
    s->digest[s->digest_len++] = '\n';
    s->digest[s->digest_len] = '\0';
}

/* Take the handle's queued events: log each, keep it for the admin protocol and the digest. */
void maillimit__events_poll(maillimit_server *s)
{
    s->events_polled_ms = uv_now(s->loop);
    int unit = MAILLIMIT_UNIT_MESSAGES;
    maillimit_unit_get(s->ml, &unit);
    int rcpt = unit == MAILLIMIT_UNIT_RECIPIENTS;
#define UNITS(n) ((n) == 1 ? (rcpt ? "recipient" : "message") : (rcpt ? "recipients" : "messages"))
    for (int i = 0; i < 100000; i++) {
        maillimit_event ev;
        maillimit_event_init(&ev, MAILLIMIT_EVENT_VERSION);
        if (maillimit_events_next(s->ml, 0, &ev) != 0)
            break;
        char entity[400], line[700], when[32];
        if (ev.level == MAILLIMIT_LEVEL_SERVER)
            snprintf(entity, sizeof entity, "the server");
        else
            snprintf(entity, sizeof entity, "%s %s", level_word(ev.level), ev.name);
        time_t t = (time_t)ev.time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        if (ev.type == MAILLIMIT_EVENT_LIMIT_REACHED)
            snprintf(line, sizeof line, "limit reached: %s reached its limit of %lld %s per %s",
                     entity, (long long)ev.limit, UNITS(ev.limit),
                     ev.window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        else
            snprintf(line, sizeof line, "back to normal: %s (%lld %s denied while over its "
                     "limit of %lld per %s)", entity, (long long)ev.denied, UNITS(ev.denied),
                     (long long)ev.limit, ev.window == MAILLIMIT_WINDOW_DAY ? "day" : "hour");
        slog(s, ev.type == MAILLIMIT_EVENT_LIMIT_REACHED ? MAILLIMIT_SERVER_LOG_WARNING
                                                         : MAILLIMIT_SERVER_LOG_INFO, "%s", line);
        maillimit__inc(&s->metrics.events[ev.type != MAILLIMIT_EVENT_LIMIT_REACHED], 1);
        char dline[760];
        snprintf(dline, sizeof dline, "%s  %s", when, line);
        digest_add(s, dline);
        if (!s->evring)
            s->evring = calloc(EVRING, sizeof *s->evring);
        if (s->evring) {
            s->evring[s->evring_head] = ev;
            s->evring_head = (s->evring_head + 1) % EVRING;
            if (s->evring_n < EVRING)
                s->evring_n++;
        }
    }
}
#undef UNITS

int maillimit__admin_events(void *ctx, uint64_t since, void *packer)
{
    maillimit_server *s = ctx;
    maillimit__events_poll(s);
    size_t n = 0, first = (s->evring_head + EVRING - s->evring_n) % EVRING;
    for (size_t i = 0; i < s->evring_n; i++)
        n += s->evring[(first + i) % EVRING].seq > since;
    /* pack into the caller's packer: an array of the matching events, oldest first */
    maillimit__admin_pack_array(packer, n);
    for (size_t i = 0; i < s->evring_n; i++) {
        const maillimit_event *ev = &s->evring[(first + i) % EVRING];
        if (ev->seq > since)
            maillimit__admin_pack_event(packer, ev);
    }
    return 0;
}

/* The events, unless a page is reading a report (then the next denial or sweep does it). */
void maillimit__events_poll_try(maillimit_server *s)
{
    if (pthread_mutex_trylock(&s->gate.mu) != 0)
        return;
    maillimit__events_poll(s);
    pthread_mutex_unlock(&s->gate.mu);
}

void maillimit__tick_try(maillimit_server *s)
{
    if (pthread_mutex_trylock(&s->gate.mu) != 0) {
        s->tick_pending = 1; /* a page holds the report lock: the sweep retries in a second */
        return;
    }
    s->tick_pending = 0;
    if (maillimit_tick(s->ml, 0) != 0)
        slog(s, MAILLIMIT_SERVER_LOG_WARNING,
             "maillimit_tick: out of memory (retried next minute)");
    maillimit__events_poll(s);
    pthread_mutex_unlock(&s->gate.mu);
}

void maillimit__on_tick(uv_timer_t *t)
{
    maillimit__tick_try(t->data);
}

static void notify_closed(uv_handle_t *h)
{
    maillimit_server *s = h->data;
    s->closing_handles--;
    if (h == (uv_handle_t *)&s->notify_proc)
        s->notify_running = 0;
}

static void notify_exit(uv_process_t *p, int64_t status, int sig)
{
    maillimit_server *s = p->data;
    if (status != 0 || sig != 0)
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "notify_command exited with status %lld%s%s",
             (long long)status, sig ? ", signal " : "", sig ? strsignal(sig) : "");
    s->closing_handles++;
    uv_close((uv_handle_t *)p, notify_closed);
}

static void notify_written(uv_write_t *w, int status)
{
    maillimit_server *s = w->data;
    (void)status;
    free(s->notify_buf);
    s->notify_buf = NULL;
    s->closing_handles++;
    uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
}

/* Run notify_command with the digest on its standard input. */
static void notify_send(maillimit_server *s)
{
    if (!s->digest_len || !s->conf.notify_command)
        return;
    if (s->notify_running) {
        slog(s, MAILLIMIT_SERVER_LOG_WARNING, "notify_command still running; the digest waits");
        return;
    }
    char host[256] = "localhost", since[32], head[600];
    gethostname(host, sizeof host - 1);
    time_t t = (time_t)s->digest_since;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", &tm);
    int64_t now = (int64_t)time(NULL);
    maillimit_summary sm;
    maillimit_summary_init(&sm, MAILLIMIT_SUMMARY_VERSION);
    int have_sum = maillimit_summary_get(s->ml, MAILLIMIT_LEVEL_SERVER, NULL,
                                         (s->digest_since / 3600) * 3600, now + 1, now, &sm) == 0;
    int n = snprintf(head, sizeof head,
                     "Subject: maillimitd on %s: outgoing mail limits reached\n\n"
                     "maillimitd on %s, since %s:\n", host, host, since);
    if (have_sum)
        n += snprintf(head + n, sizeof head - (size_t)n,
                      "sent %lld, denied %lld, exempt %lld, unattributed %lld; %lld entities "
                      "reached a limit\n", (long long)sm.sent, (long long)sm.denied,
                      (long long)sm.exempt, (long long)sm.unattributed,
                      (long long)sm.limited_entities);
    n += snprintf(head + n, sizeof head - (size_t)n, "\n");
    size_t total = (size_t)n + s->digest_len;
    char *buf = malloc(total);
    if (!buf)
        return;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, s->digest, s->digest_len);

    uv_pipe_init(s->loop, &s->notify_pipe, 0);
    s->notify_pipe.data = s;
    uv_stdio_container_t io[3];
    io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    io[0].data.stream = (uv_stream_t *)&s->notify_pipe;
    io[1].flags = UV_IGNORE;
    io[2].flags = UV_INHERIT_FD;
    io[2].data.fd = 2;
    char *argv[] = { "/bin/sh", "-c", s->conf.notify_command, NULL };
    uv_process_options_t opt;
    memset(&opt, 0, sizeof opt);
    opt.file = "/bin/sh";
    opt.args = argv;
    opt.stdio = io;
    opt.stdio_count = 3;
    opt.exit_cb = notify_exit;
    s->notify_proc.data = s;
    int rc = uv_spawn(s->loop, &s->notify_proc, &opt);
    if (rc != 0) {
        slog(s, MAILLIMIT_SERVER_LOG_ERR, "cannot run notify_command: %s", uv_strerror(rc));
        free(buf);
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
        return;
    }
    s->notify_running = 1;
    s->notify_buf = buf;
    s->notify_wr.data = s;
    uv_buf_t b = uv_buf_init(buf, (unsigned)total);
    if (uv_write(&s->notify_wr, (uv_stream_t *)&s->notify_pipe, &b, 1, notify_written) != 0) {
        free(buf);
        s->notify_buf = NULL;
        s->closing_handles++;
        uv_close((uv_handle_t *)&s->notify_pipe, notify_closed);
    }
    slog(s, MAILLIMIT_SERVER_LOG_INFO, "notify_command run with a digest of %zu bytes", total);
    s->digest_len = 0;
    s->digest_since = now;
}

void maillimit__on_notify(uv_timer_t *t)
{
    maillimit_server *s = t->data;
    maillimit__events_poll(s);
    notify_send(s);
}
