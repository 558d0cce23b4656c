/* SPDX-License-Identifier: MIT */
/* The server's log: one line per message to stderr, syslog or nothing, and to the embedder's
 * callback (maillimit_server_log_set, maillimit_server_log_callback). */
#define _GNU_SOURCE

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <unistd.h>

#include "server_internal.h"

void maillimit__vslog(maillimit_server *s, int prio, const char *fmt, va_list ap)
{
    if (prio == MAILLIMIT_SERVER_LOG_DEBUG && !s->verbose)
        return;
    char text[1200];
    vsnprintf(text, sizeof text, fmt, ap);
    for (char *c = text; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?'; /* one line, whatever a client sent */
    if (s->log_cb)
        s->log_cb(prio, text, s->log_ud);
    const char *lv = prio <= MAILLIMIT_SERVER_LOG_ERR       ? "error: "
                     : prio == MAILLIMIT_SERVER_LOG_WARNING ? "warning: "
                                                     : "";
    if (s->log_target == MAILLIMIT_SERVER_LOG_STDERR)
        fprintf(stderr, "%s[%ld]: %s%s\n", s->ident, (long)getpid(), lv, text);
    else if (s->log_target == MAILLIMIT_SERVER_LOG_SYSLOG)
        syslog(prio == MAILLIMIT_SERVER_LOG_DEBUG ? LOG_INFO : prio, "%s%s", lv, text);
}

int maillimit_server_log_set(maillimit_server *s, int target, const char *ident, int verbose)
{
    if (!s || target < MAILLIMIT_SERVER_LOG_STDERR || target > MAILLIMIT_SERVER_LOG_NONE)
        return MAILLIMIT_EINVAL;
    if (ident)
        snprintf(s->ident, sizeof s->ident, "%s", ident);
    if (s->log_target == MAILLIMIT_SERVER_LOG_SYSLOG && target != MAILLIMIT_SERVER_LOG_SYSLOG)
        closelog();
    if (target == MAILLIMIT_SERVER_LOG_SYSLOG)
        openlog(s->ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    s->log_target = target;
    s->verbose = verbose ? 1 : 0;
    return 0;
}

int maillimit_server_log_callback(maillimit_server *s, maillimit_server_log_fn cb, void *userdata)
{
    if (!s)
        return MAILLIMIT_EINVAL;
    s->log_cb = cb;
    s->log_ud = userdata;
    return 0;
}
