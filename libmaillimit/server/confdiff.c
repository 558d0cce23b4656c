/* SPDX-License-Identifier: MIT */
/* What a configuration file changed since it was last applied (maillimit__conf_delta()).
 *
 * maillimitd applies its file on top of the state (snapshot) at start and on every reload. A
 * panel's change through the admin protocol must survive that unless the file itself changed
 * the same setting since it was last applied, so maillimitd applies only the difference: the
 * lines (entities) that are new, and of changed lines the settings that changed. The result
 * keeps the file's line count (unchanged lines become empty), so the core's messages name
 * the file's own lines.
 *
 * A line is keyed by its directive and name (`domain acme.example`; `server`, `enable` and
 * `unit` by the directive alone); its settings are its `key=value` tokens, later lines of the
 * same key adding to earlier ones. Names, keys and values compare in ASCII lower case, as the
 * core reads them. Only the lexical rules are applied here; the core validates the result.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "confdiff.h"

struct setting {
    char *key, *value;
};

struct entry {
    char *key; /* "domain acme.example" */
    struct setting *set;
    size_t nset, capset;
    char *word; /* enable / unit: the value word */
};

struct table {
    struct entry *v;
    size_t n, cap;
};

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        d[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    d[n] = '\0';
    return d;
}

/* Tokens of one line (up to the first token starting with '#'); at most max. */
static int tokens(const char *line, size_t n, const char **tok, size_t *len, int max)
{
    int nt = 0;
    size_t i = 0;
    while (i < n && nt < max) {
        while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i == n)
            break;
        size_t j = i;
        while (j < n && line[j] != ' ' && line[j] != '\t' && line[j] != '\r')
            j++;
        if (line[i] == '#')
            break;
        tok[nt] = line + i;
        len[nt++] = j - i;
        i = j;
    }
    return nt;
}

static int is_named(const char *w, size_t n)
{
    static const char *const named[] = {"plan", "subscription", "domain", "mailbox", "sysuser"};
    for (size_t k = 0; k < sizeof named / sizeof named[0]; k++)
        if (strlen(named[k]) == n && memcmp(named[k], w, n) == 0)
            return 1;
    return 0;
}

/* The key of a line: directive, or directive and lower-case name; NULL for no directive. */
static char *line_key(const char **tok, const size_t *len, int nt, int *named)
{
    *named = nt >= 2 && is_named(tok[0], len[0]) && !memchr(tok[1], '=', len[1]);
    if (nt == 0)
        return NULL;
    size_t n = len[0] + (*named ? 1 + len[1] : 0);
    char *k = malloc(n + 1);
    if (!k)
        return NULL;
    memcpy(k, tok[0], len[0]);
    if (*named) {
        k[len[0]] = ' ';
        for (size_t i = 0; i < len[1]; i++) {
            char ch = tok[1][i];
            k[len[0] + 1 + i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        }
    }
    k[n] = '\0';
    return k;
}

static struct entry *find(struct table *t, const char *key)
{
    for (size_t i = t->n; i-- > 0;) /* the newest first: files list an entity once */
        if (strcmp(t->v[i].key, key) == 0)
            return &t->v[i];
    return NULL;
}

static const char *setting_of(const struct entry *e, const char *key)
{
    for (size_t i = 0; i < e->nset; i++)
        if (strcmp(e->set[i].key, key) == 0)
            return e->set[i].value;
    return NULL;
}

static int set_put(struct entry *e, const char *k, size_t kn, const char *v, size_t vn)
{
    char *key = lower_dup(k, kn), *value = lower_dup(v, vn);
    if (!key || !value) {
        free(key);
        free(value);
        return MAILLIMIT_ENOMEM;
    }
    for (size_t i = 0; i < e->nset; i++)
        if (strcmp(e->set[i].key, key) == 0) {
            free(e->set[i].value);
            free(key);
            e->set[i].value = value;
            return 0;
        }
    if (e->nset == e->capset) {
        size_t cap = e->capset ? e->capset * 2 : 4;
        struct setting *ns = realloc(e->set, cap * sizeof *ns);
        if (!ns) {
            free(key);
            free(value);
            return MAILLIMIT_ENOMEM;
        }
        e->set = ns;
        e->capset = cap;
    }
    e->set[e->nset].key = key;
    e->set[e->nset++].value = value;
    return 0;
}

static void table_free(struct table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        for (size_t k = 0; k < t->v[i].nset; k++) {
            free(t->v[i].set[k].key);
            free(t->v[i].set[k].value);
        }
        free(t->v[i].set);
        free(t->v[i].key);
        free(t->v[i].word);
    }
    free(t->v);
}

enum { TOK_MAX = 2048 };

/* Read one line into the table (the entry of its key, made or merged). */
static int read_line(struct table *t, const char *line, size_t n, const char **tok,
                     size_t *len)
{
    int nt = tokens(line, n, tok, len, TOK_MAX), named;
    char *key = line_key(tok, len, nt, &named);
    if (!key)
        return nt == 0 ? 0 : MAILLIMIT_ENOMEM;
    struct entry *e = find(t, key);
    if (e) {
        free(key);
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            struct entry *nv = realloc(t->v, cap * sizeof *nv);
            if (!nv) {
                free(key);
                return MAILLIMIT_ENOMEM;
            }
            t->v = nv;
            t->cap = cap;
        }
        e = &t->v[t->n++];
        memset(e, 0, sizeof *e);
        e->key = key;
    }
    for (int i = named ? 2 : 1; i < nt; i++) {
        const char *eq = memchr(tok[i], '=', len[i]);
        int rc;
        if (eq)
            rc = set_put(e, tok[i], (size_t)(eq - tok[i]), eq + 1,
                         len[i] - (size_t)(eq - tok[i]) - 1);
        else {
            free(e->word);
            rc = (e->word = lower_dup(tok[i], len[i])) ? 0 : MAILLIMIT_ENOMEM;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int read_text(struct table *t, const char *text, const char **tok, size_t *len)
{
    size_t n = strlen(text);
    for (size_t pos = 0; pos < n;) {
        const char *nl = memchr(text + pos, '\n', n - pos);
        size_t ln = nl ? (size_t)(nl - (text + pos)) : n - pos;
        int rc = read_line(t, text + pos, ln, tok, len);
        if (rc)
            return rc;
        pos += ln + (nl != NULL);
    }
    return 0;
}

/* Keys that place an entity (plan= of a subscription, subscription= of a domain or system
 * user): kept on a changed line, the core needs them there. On other lines (a subscription's
 * own subscription=, a plan's defaults) the same words are settings. */
static int placement_of(const char *directive, const char *key)
{
    if (strncmp(directive, "subscription ", 13) == 0)
        return strcmp(key, "plan") == 0;
    if (strncmp(directive, "domain ", 7) == 0 || strncmp(directive, "sysuser ", 8) == 0)
        return strcmp(key, "subscription") == 0;
    return 0;
}

/* Whether key k differs between the applied and the new text (both merged over their lines). */
static int differs(const struct entry *was, const struct entry *now, const char *k)
{
    const char *a = setting_of(was, k), *b = setting_of(now, k);
    return !a || !b || strcmp(a, b) != 0;
}

int maillimit__conf_delta(const char *prev, const char *next, char **out)
{
    *out = NULL;
    const char **tok = malloc(TOK_MAX * sizeof *tok);
    size_t *len = malloc(TOK_MAX * sizeof *len);
    struct table old = {0}, neu = {0};
    size_t n = strlen(next);
    char *res = malloc(n + 1), *w = res;
    int rc = !tok || !len || !res ? MAILLIMIT_ENOMEM : read_text(&old, prev, tok, len);
    if (rc == 0)
        rc = read_text(&neu, next, tok, len);
    for (size_t pos = 0; rc == 0 && pos < n;) {
        const char *line = next + pos;
        const char *nl = memchr(line, '\n', n - pos);
        size_t ln = nl ? (size_t)(nl - line) : n - pos;
        pos += ln + (nl != NULL);
        struct table cur = {0};
        rc = read_line(&cur, line, ln, tok, len);
        const struct entry *was = rc == 0 && cur.n ? find(&old, cur.v[0].key) : NULL;
        if (rc == 0 && cur.n && !was) {
            memcpy(w, line, ln); /* a new entity or directive: the whole line */
            w += ln;
        } else if (rc == 0 && cur.n) {
            /* what the line says, judged by the whole texts: a key repeated on several lines
             * counts with its last value in each text, as the core applies it */
            const struct entry *line_e = &cur.v[0], *now = find(&neu, line_e->key);
            int word_changed = (now->word || was->word) &&
                               (!now->word || !was->word || strcmp(now->word, was->word) != 0);
            int changed = word_changed && line_e->word;
            for (size_t i = 0; i < line_e->nset && !changed; i++)
                changed = differs(was, now, line_e->set[i].key);
            if (changed) {
                /* the directive (and name), the placement, and what changed */
                int nt = tokens(line, ln, tok, len, TOK_MAX), named;
                free(line_key(tok, len, nt, &named));
                int head = named ? 2 : 1;
                for (int i = 0; i < nt; i++) {
                    int keep = i < head;
                    if (!keep) {
                        const char *eq = memchr(tok[i], '=', len[i]);
                        if (!eq) {
                            keep = word_changed; /* enable / unit value */
                        } else {
                            char *k = lower_dup(tok[i], (size_t)(eq - tok[i]));
                            keep = !k || placement_of(line_e->key, k) || differs(was, now, k);
                            free(k);
                        }
                    }
                    if (keep) {
                        if (w > res && w[-1] != '\n')
                            *w++ = ' ';
                        memcpy(w, tok[i], len[i]);
                        w += len[i];
                    }
                }
            }
        }
        table_free(&cur);
        if (nl)
            *w++ = '\n';
    }
    table_free(&old);
    table_free(&neu);
    free(tok);
    free(len);
    if (rc) {
        free(res);
        return rc;
    }
    *w = '\0';
    *out = res;
    return 0;
}
