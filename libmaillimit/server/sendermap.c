/* SPDX-License-Identifier: MIT */
/* The table for Postfix's local_login_sender_maps (texthash format), which the set-gid
 * postdrop enforces on every local submission: a system user may submit mail only with its
 * own address or an address in one of its subscription's domains. That makes the envelope
 * sender of a local submission trustworthy, so the local milter can attribute by it
 * (docs/milter.md). Logins not in the table (script users, everyone else) fall through to
 * main.cf's `static:*`.
 *
 *   # maillimitd: local_login_sender_maps (texthash); replaced whenever the hierarchy changes
 *   acme_web	acme_web, acme_web@mx.example, @acme.example, @shop.example
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "srv_internal.h"

struct dom {
    const char *sub, *name;
};

static int dom_cmp(const void *a, const void *b)
{
    const struct dom *x = a, *y = b;
    int d = strcmp(x->sub, y->sub);
    return d ? d : strcmp(x->name, y->name);
}

struct buf {
    char *p;
    size_t n, cap;
    int oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A listing as an array of rows (copied); NULL with *n 0 on ENOMEM. */
static maillimit_entity *list_all(maillimit *ml, int level, size_t *n, int *rc)
{
    maillimit_list *it = NULL;
    *n = 0;
    *rc = maillimit_list_open(ml, level, MAILLIMIT_LEVEL_SERVER, NULL, 0, &it);
    if (*rc)
        return NULL;
    size_t total = 0;
    maillimit_list_count(it, &total);
    maillimit_entity *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) {
        maillimit_list_close(it);
        *rc = MAILLIMIT_ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < total; i++) {
        maillimit_entity_init(&v[i], MAILLIMIT_ENTITY_VERSION);
        if (maillimit_list_next(it, &v[i]) != 0)
            break;
        (*n)++;
    }
    maillimit_list_close(it);
    return v;
}

int maillimit__sendermap_build(maillimit *ml, const char *origin, char *const *script_users,
                               int nscript, char **out, size_t *outlen, char *warn,
                               size_t warnlen)
{
    *out = NULL;
    *outlen = 0;
    if (warn && warnlen)
        warn[0] = '\0';
    int rc;
    size_t nu = 0, nd = 0;
    maillimit_entity *users = list_all(ml, MAILLIMIT_LIST_SYSUSER, &nu, &rc);
    if (!users)
        return rc;
    maillimit_entity *doms = list_all(ml, MAILLIMIT_LEVEL_DOMAIN, &nd, &rc);
    if (!doms) {
        free(users);
        return rc;
    }
    struct dom *d = malloc((nd ? nd : 1) * sizeof *d);
    if (!d) {
        free(users);
        free(doms);
        return MAILLIMIT_ENOMEM;
    }
    for (size_t i = 0; i < nd; i++) {
        d[i].sub = doms[i].parent;
        d[i].name = doms[i].name;
    }
    qsort(d, nd, sizeof *d, dom_cmp);

    struct buf b = { 0 };
    puts_(&b, "# maillimitd: Postfix local_login_sender_maps (texthash), replaced whenever the\n"
              "# hierarchy changes; do not edit. main.cf: local_login_sender_maps =\n"
              "#     texthash:THIS_FILE, static:*\n");
    size_t wl = 0;
    for (size_t i = 0; i < nu; i++) {
        const char *login = users[i].name;
        int script = 0;
        for (int k = 0; k < nscript; k++)
            script |= strcmp(script_users[k], login) == 0;
        if (script) {
            if (warn && warnlen > wl) {
                int w = snprintf(warn + wl, warnlen - wl, "%s%s", wl ? ", " : "", login);
                if (w > 0)
                    wl += (size_t)w < warnlen - wl ? (size_t)w : warnlen - wl - 1;
            }
            continue;
        }
        puts_(&b, login);
        puts_(&b, "\t");
        puts_(&b, login);
        if (origin && *origin) {
            puts_(&b, ", ");
            puts_(&b, login);
            puts_(&b, "@");
            puts_(&b, origin);
        }
        /* the subscription's domains: a run in d[] sorted by subscription */
        size_t lo = 0, hi = nd;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp(d[mid].sub, users[i].parent) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t k = lo; k < nd && strcmp(d[k].sub, users[i].parent) == 0; k++) {
            puts_(&b, ", @");
            puts_(&b, d[k].name);
        }
        puts_(&b, "\n");
    }
    free(d);
    free(users);
    free(doms);
    if (b.oom) {
        free(b.p);
        return MAILLIMIT_ENOMEM;
    }
    *out = b.p;
    *outlen = b.n;
    return 0;
}

int maillimit__sendermap_write(const char *path, const char *text, size_t len, char *err,
                               size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "%s: path too long", path);
        return MAILLIMIT_EINVAL;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        return MAILLIMIT_EIO;
    }
    const char *step = NULL;
    int e = 0;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            step = "write";
            e = errno;
            break;
        }
        off += (size_t)w;
    }
    if (!step && fchmod(fd, 0644) != 0) {
        step = "chmod";
        e = errno;
    }
    if (!step && fsync(fd) != 0) {
        step = "fsync";
        e = errno;
    }
    if (close(fd) != 0 && !step) {
        step = "close";
        e = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        e = errno;
    }
    if (step) {
        unlink(tmp);
        snprintf(err, errlen, "%s: %s: %s", path, step, strerror(e));
        return MAILLIMIT_EIO;
    }
    /* the rename itself is durable once the directory is synced */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}
