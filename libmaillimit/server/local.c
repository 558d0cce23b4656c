/* SPDX-License-Identifier: MIT */
/* Attribution of local submissions: who is charged for mail a local user handed to the MTA.
 *
 * Postfix's milter (milter.c) knows the envelope sender, made trustworthy by the
 * local_login_sender_maps table (sendermap.c); Exim's request (policy.c) knows the
 * submitting uid. Both end here: a configured system user is charged to its subscription, a
 * script user to its sender's domain, a local_exempt_users login to nobody, and anyone else
 * goes to the server total only (unattributed). The system users' subscriptions are listed
 * from the handle again whenever maillimit_generation() changes.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv_internal.h"

static int in_list(char *const *v, int n, const char *s, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(v[i]) == len && memcmp(v[i], s, len) == 0)
            return 1;
    return 0;
}

static void lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
    dst[n] = '\0';
}

/* The system users' subscriptions, listed again when the hierarchy changed. */
static int sysusers_refresh(maillimit__milter_ctx *c)
{
    uint64_t g;
    if (maillimit_generation(c->ml, &g) != 0)
        return MAILLIMIT_EINVAL;
    if (c->sysusers && g == c->generation)
        return 0;
    maillimit_list *it = NULL;
    int rc = maillimit_list_open(c->ml, MAILLIMIT_LIST_SYSUSER, MAILLIMIT_LEVEL_SERVER, NULL, 0,
                                 &it);
    if (rc)
        return rc;
    size_t n = 0;
    maillimit_list_count(it, &n);
    struct maillimit__sysuser *v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        maillimit_list_close(it);
        return MAILLIMIT_ENOMEM;
    }
    maillimit_entity e;
    maillimit_entity_init(&e, MAILLIMIT_ENTITY_VERSION);
    size_t i = 0;
    while (i < n && maillimit_list_next(it, &e) == 0) {
        v[i].login = strdup(e.name);
        v[i].subscription = strdup(e.parent);
        if (!v[i].login || !v[i].subscription) {
            free(v[i].login);
            free(v[i].subscription);
            rc = MAILLIMIT_ENOMEM;
            break;
        }
        i++;
    }
    maillimit_list_close(it);
    if (rc) {
        for (size_t k = 0; k < i; k++) {
            free(v[k].login);
            free(v[k].subscription);
        }
        free(v);
        return rc;
    }
    maillimit__milter_ctx_clear_sysusers(c);
    c->sysusers = v;
    c->nsysusers = i; /* sorted by login (the listing's order) */
    c->generation = g;
    return 0;
}

static const struct maillimit__sysuser *sysuser_find(const maillimit__milter_ctx *c,
                                                     const char *login)
{
    size_t lo = 0, hi = c->nsysusers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(c->sysusers[mid].login, login);
        if (d == 0)
            return &c->sysusers[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

void maillimit__milter_ctx_clear_sysusers(maillimit__milter_ctx *c)
{
    for (size_t i = 0; i < c->nsysusers; i++) {
        free(c->sysusers[i].login);
        free(c->sysusers[i].subscription);
    }
    free(c->sysusers);
    c->sysusers = NULL;
    c->nsysusers = 0;
}

int maillimit__milter_local_attribute(maillimit__milter_ctx *c, const char *sender,
                                      maillimit__milter_event *ev)
{
    char low[MAILLIMIT_NAME_MAX + 1];
    size_t n = strlen(sender);
    if (n > MAILLIMIT_NAME_MAX) {
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
        ev->level = MAILLIMIT_LEVEL_DOMAIN;
        snprintf(ev->name, sizeof ev->name, "%s", MAILLIMIT__UNATTRIBUTED);
        return 0;
    }
    lower_copy(low, sender, n);
    const char *at = strrchr(low, '@');
    const char *local = low, *domain = at ? at + 1 : c->origin;
    size_t llen = at ? (size_t)(at - low) : n;
    int from_origin = c->origin[0] && strcmp(domain, c->origin) == 0;
    if (n == 0) {
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
        ev->level = MAILLIMIT_LEVEL_DOMAIN;
        snprintf(ev->name, sizeof ev->name, "%s", MAILLIMIT__UNATTRIBUTED);
        return 0;
    }
    if (from_origin && llen > 0) {
        char login[MAILLIMIT_NAME_MAX + 1];
        memcpy(login, local, llen);
        login[llen] = '\0';
        if (!in_list(c->script_users, c->nscript_users, login, llen)) {
            int rc = sysusers_refresh(c);
            if (rc)
                return rc;
            const struct maillimit__sysuser *u = sysuser_find(c, login);
            if (u) {
                ev->who = MAILLIMIT__WHO_SYSUSER;
                ev->level = MAILLIMIT_LEVEL_SUBSCRIPTION;
                snprintf(ev->login, sizeof ev->login, "%s", login);
                snprintf(ev->name, sizeof ev->name, "%s", u->subscription);
                return 0;
            }
        }
        if (in_list(c->exempt_users, c->nexempt_users, login, llen)) {
            ev->who = MAILLIMIT__WHO_EXEMPT_USER;
            snprintf(ev->login, sizeof ev->login, "%s", login);
            return 0;
        }
    }
    /* script mail of the sender's domain; the core calls an unknown domain unattributed */
    ev->who = MAILLIMIT__WHO_DOMAIN;
    ev->level = MAILLIMIT_LEVEL_DOMAIN;
    if (!*domain || strlen(domain) >= sizeof ev->name) {
        ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
        domain = MAILLIMIT__UNATTRIBUTED;
    }
    snprintf(ev->name, sizeof ev->name, "%s", domain);
    return 0;
}

static void unattributed(maillimit__milter_event *ev)
{
    ev->who = MAILLIMIT__WHO_UNATTRIBUTED;
    ev->level = MAILLIMIT_LEVEL_DOMAIN;
    snprintf(ev->name, sizeof ev->name, "%s", MAILLIMIT__UNATTRIBUTED);
}

int maillimit__local_attribute_login(maillimit__milter_ctx *c, const char *login,
                                     const char *sender, maillimit__milter_event *ev)
{
    char low[MAILLIMIT_NAME_MAX + 1];
    size_t n = login ? strlen(login) : 0;
    if (n == 0 || n > MAILLIMIT_NAME_MAX) {
        unattributed(ev);
        return 0;
    }
    lower_copy(low, login, n);
    snprintf(ev->login, sizeof ev->login, "%s", low);
    if (in_list(c->script_users, c->nscript_users, low, n)) {
        const char *at = strrchr(sender, '@');
        if (!at || !at[1] || strlen(at + 1) >= sizeof ev->name) {
            unattributed(ev);
            return 0;
        }
        ev->who = MAILLIMIT__WHO_DOMAIN;
        ev->level = MAILLIMIT_LEVEL_DOMAIN;
        lower_copy(ev->name, at + 1, strlen(at + 1));
        return 0;
    }
    int rc = sysusers_refresh(c);
    if (rc)
        return rc;
    const struct maillimit__sysuser *u = sysuser_find(c, low);
    if (u) {
        ev->who = MAILLIMIT__WHO_SYSUSER;
        ev->level = MAILLIMIT_LEVEL_SUBSCRIPTION;
        snprintf(ev->name, sizeof ev->name, "%s", u->subscription);
        return 0;
    }
    if (in_list(c->exempt_users, c->nexempt_users, low, n)) {
        ev->who = MAILLIMIT__WHO_EXEMPT_USER;
        return 0;
    }
    unattributed(ev);
    return 0;
}

void maillimit__milter_ctx_free(maillimit__milter_ctx *c)
{
    if (!c)
        return;
    maillimit__milter_ctx_clear_sysusers(c);
    memset(c, 0, sizeof *c);
}
