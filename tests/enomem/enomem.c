/* SPDX-License-Identifier: MIT */
/* Allocation failure: every configuration call, with its n-th allocation failing, for every
 * n until it succeeds, returns MAILLIMIT_ENOMEM (or succeeds), leaves the handle exactly as it
 * was (its snapshot is byte for byte the same) and usable, and leaks nothing (the ASan build
 * runs this with leak detection).
 *
 * The allocator functions are wrapped at link time (-Wl,--wrap=malloc,...), so the static
 * library's calls go through the counters below; tests/CMakeLists.txt builds it that way.
 */
#define _POSIX_C_SOURCE 200809L

#include <maillimit.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1767261600)

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
char *__wrap_strdup(const char *s);

static long countdown = -1; /* the allocation that fails: 0 = this one; -1 = none */
static long failed;

static int fail_now(void)
{
    if (countdown < 0)
        return 0;
    if (countdown-- == 0) {
        failed++;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return fail_now() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t m) { return fail_now() ? NULL : __real_calloc(n, m); }
void *__wrap_realloc(void *p, size_t n) { return fail_now() ? NULL : __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n)
{
    return fail_now() ? NULL : __real_aligned_alloc(a, n);
}
char *__wrap_strdup(const char *s) { return fail_now() ? NULL : __real_strdup(s); }

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "enomem: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

static const char base_conf[] =
    "server mailbox=100 domain=500 subscription=1000\n"
    "plan basic mailbox=50\n"
    "subscription acme plan=basic subscription=300\n"
    "domain acme.example subscription=acme domain=200\n"
    "mailbox ceo@acme.example mailbox=20\n"
    "sysuser acme_web subscription=acme\n"
    "subscription beta\n"
    "domain beta.example subscription=beta\n";

static const char other_conf[] =
    "server mailbox=90\n"
    "plan gold mailbox=70\n"
    "subscription gamma plan=gold\n"
    "domain gamma.example subscription=gamma domain=40\n"
    "mailbox a@gamma.example\nmailbox b@gamma.example\nmailbox c@gamma.example\n"
    "sysuser gamma_web subscription=gamma\n"
    "domain shop.example subscription=gamma\n";

static maillimit *base(void)
{
    maillimit *ml = NULL;
    if (maillimit_new(&ml) || maillimit_config_load_mem(ml, base_conf, strlen(base_conf),
                                                        NULL, 0))
        fail("base handle");
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 3, T0, &v);
    maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "beta.example", 2, T0, &v);
    return ml;
}

static void *state(maillimit *ml, size_t *len)
{
    void *p = NULL;
    if (maillimit_snapshot_save_mem(ml, &p, len, NULL, 0))
        fail("save");
    return p;
}

typedef int (*op_fn)(maillimit *ml, const void *arg);

static int op_add(maillimit *ml, const void *arg)
{
    (void)arg;
    return maillimit_domain_add(ml, "new.example", "beta");
}
static int op_add_mailbox(maillimit *ml, const void *arg)
{
    (void)arg;
    return maillimit_mailbox_add(ml, "y@acme.example");
}
static int op_remove(maillimit *ml, const void *arg)
{
    (void)arg;
    return maillimit_remove(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "acme");
}
static int op_load(maillimit *ml, const void *arg)
{
    return maillimit_config_load_mem(ml, arg, strlen(arg), NULL, 0);
}
static int op_apply(maillimit *ml, const void *arg)
{
    return maillimit_config_apply_mem(ml, arg, strlen(arg), NULL, 0);
}
static int op_snapload(maillimit *ml, const void *arg)
{
    const struct { void *p; size_t n; } *s = arg;
    return maillimit_snapshot_load_mem(ml, s->p, s->n, NULL, 0);
}
static int op_decide_new(maillimit *ml, const void *arg)
{
    (void)arg;
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    return maillimit_decide(ml, MAILLIMIT_LEVEL_MAILBOX, "first@beta.example", 1, T0, &v);
}

/* Run op with its n-th allocation failing, n = 0, 1, 2... until it succeeds. A failing run
 * must return ENOMEM and change nothing; then the handle must still work. */
static void loop(const char *name, op_fn op, const void *arg, int compare)
{
    long n;
    for (n = 0;; n++) {
        maillimit *ml = base();
        size_t l0, l1;
        void *s0 = state(ml, &l0);
        failed = 0;
        countdown = n;
        int rc = op(ml, arg);
        countdown = -1;
        if (!failed) {
            if (rc)
                fail("%s: returned %d without a failed allocation", name, rc);
            free(s0);
            maillimit_free(ml);
            break;
        }
        if (rc == 0) {
            /* an allocation failed and the call recovered (e.g. a cache): fine if it did
             * its work; nothing to compare */
        } else if (rc != MAILLIMIT_ENOMEM) {
            fail("%s: allocation %ld failed: returned %d, not ENOMEM", name, n, rc);
        } else if (compare) {
            void *s1 = state(ml, &l1);
            if (l0 != l1 || memcmp(s0, s1, l0) != 0)
                fail("%s: allocation %ld failed: the handle changed", name, n);
            free(s1);
        }
        /* still usable */
        maillimit_verdict v;
        maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
        if (maillimit_decide(ml, MAILLIMIT_LEVEL_DOMAIN, "beta.example", 1, T0 + 1, &v) ||
            v.decision != MAILLIMIT_ALLOW)
            fail("%s: allocation %ld failed: the handle no longer decides", name, n);
        if (op(ml, arg) != 0)
            fail("%s: allocation %ld failed: the call does not succeed afterwards", name, n);
        free(s0);
        maillimit_free(ml);
    }
    printf("enomem: %-28s every one of its %ld allocations failed in turn\n", name, n);
}

int main(void)
{
    maillimit *other = NULL;
    if (maillimit_new(&other) ||
        maillimit_config_load_mem(other, other_conf, strlen(other_conf), NULL, 0))
        fail("other");
    struct { void *p; size_t n; } snap;
    snap.p = state(other, &snap.n);
    maillimit_free(other);

    loop("domain_add", op_add, NULL, 1);
    loop("mailbox_add", op_add_mailbox, NULL, 1);
    loop("remove subscription", op_remove, NULL, 1);
    loop("config_load", op_load, other_conf, 1);
    loop("config_apply", op_apply, other_conf, 1);
    loop("snapshot_load", op_snapload, &snap, 1);
    loop("decide (implicit mailbox)", op_decide_new, NULL, 0);
    free(snap.p);
    if (failures) {
        fprintf(stderr, "enomem: FAILED (%d)\n", failures);
        return 1;
    }
    printf("enomem: ok\n");
    return 0;
}
