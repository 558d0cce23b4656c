/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the snapshot loader (maillimit_snapshot_load_mem).
 *
 * Each input is loaded twice, each time into a handle that already holds a small state
 * (loaded from a snapshot made once): once as it is, and once with its trailer resealed (the
 * CRC-32C recomputed), so that mutations reach the body decoder instead of stopping at the
 * checksum. Invariants checked (abort on violation, so the fuzzer reports them):
 * - the call returns 0, MAILLIMIT_EFORMAT, MAILLIMIT_EVERSION, MAILLIMIT_ERANGE or
 *   MAILLIMIT_ENOMEM; on error the message is NUL-terminated and starts with "<memory>: ",
 *   on success it is cleared;
 * - a load that fails changes nothing (the handle saves the same bytes as before);
 * - what a successful load produced saves, loads into a fresh handle and saves again to the
 *   same bytes (the loader accepts everything the saver writes, and loses nothing of it).
 *
 * The seed corpus (corpus/snapshot/) holds valid snapshots of several states and a few
 * broken ones. Regenerate it with the generator at the end of this file:
 *   cc -DFUZZ_SNAPSHOT_SEEDS -Iinclude -Ilibmaillimit tests/fuzz/fuzz_snapshot.c \
 *      BUILD/libmaillimit/libmaillimit.a -lmsgpackc -lpthread -o make_seeds
 *   ./make_seeds tests/fuzz/corpus/snapshot
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "maillimit.h"

#define T 1767261600LL /* 2026-01-01 10:00:00 UTC */

static void check(int ok, const char *what, const char *err)
{
    if (!ok) {
        fprintf(stderr, "fuzz_snapshot: %s (err: %s)\n", what, err);
        abort();
    }
}

static uint32_t crc32c(const unsigned char *p, size_t n)
{
    uint32_t c = ~0u;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

static void decide(maillimit *ml, int level, const char *sender, int64_t cost, int64_t now)
{
    maillimit_verdict v;
    maillimit_verdict_init(&v, MAILLIMIT_VERDICT_VERSION);
    maillimit_decide(ml, level, sender, cost, now, &v);
}

/* A small state with settings, limits, flags, implicit mailboxes, system users and counters
 * over several hours. `traffic` 0: none; 1: mailboxes and domains; 2: also the server. */
static maillimit *state(int traffic)
{
    maillimit *ml = NULL;
    if (maillimit_new(&ml) != 0)
        return NULL;
    maillimit_unit_set(ml, MAILLIMIT_UNIT_RECIPIENTS);
    maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                        MAILLIMIT_WINDOW_HOUR, 40);
    maillimit_limit_set(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_SERVER,
                        MAILLIMIT_WINDOW_DAY, 100000);
    maillimit_plan_add(ml, "basic");
    maillimit_limit_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_DOMAIN,
                        MAILLIMIT_WINDOW_HOUR, 300);
    maillimit_flag_set(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_FLAG_SENDMAIL, 0);
    maillimit_subscription_add(ml, "acme", "basic");
    maillimit_subscription_add(ml, "beta", NULL);
    maillimit_flag_set(ml, MAILLIMIT_LEVEL_SUBSCRIPTION, "beta", MAILLIMIT_FLAG_EXEMPT, 1);
    maillimit_domain_add(ml, "acme.example", "acme");
    maillimit_domain_add(ml, "beta.example", "beta");
    maillimit_limit_set(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_LEVEL_MAILBOX,
                        MAILLIMIT_WINDOW_DAY, 500);
    maillimit_mailbox_add(ml, "ceo@acme.example");
    maillimit_mailbox_add(ml, "news@beta.example");
    maillimit_flag_set(ml, MAILLIMIT_LEVEL_MAILBOX, "news@beta.example",
                       MAILLIMIT_FLAG_EXEMPT, 0);
    maillimit_sysuser_add(ml, "acme_web", "acme");
    if (traffic >= 1)
        for (int64_t t = T - 3 * 3600; t <= T; t += 7 * 60 + 13) {
            decide(ml, MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example", 2, t);
            decide(ml, MAILLIMIT_LEVEL_MAILBOX, "new@acme.example", 1, t);
            decide(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", 3, t);
            decide(ml, MAILLIMIT_LEVEL_MAILBOX, "news@beta.example", 1, t);
        }
    if (traffic >= 2)
        for (int64_t t = T - 90 * 60; t <= T; t += 5 * 60)
            decide(ml, MAILLIMIT_LEVEL_MAILBOX, "x@unknown.example", 5, t);
    return ml;
}

struct bytes {
    void *p;
    size_t n;
};

static struct bytes save(maillimit *ml)
{
    struct bytes b = {NULL, 0};
    char err[256];
    int rc = maillimit_snapshot_save_mem(ml, &b.p, &b.n, err, sizeof err);
    check(rc == 0 || rc == MAILLIMIT_ENOMEM, "save_mem failed", err);
    return b;
}

/* The base state's snapshot, made once: every pass starts from a handle loaded with it. */
static struct bytes base;

static maillimit *base_handle(void)
{
    char err[256];
    if (!base.p) {
        maillimit *ml = state(1);
        check(ml != NULL, "cannot build the base state", "-");
        base = save(ml);
        check(base.p != NULL, "cannot save the base state", "-");
        maillimit_free(ml);
    }
    maillimit *ml = NULL;
    if (maillimit_new(&ml) != 0)
        return NULL;
    int rc = maillimit_snapshot_load_mem(ml, base.p, base.n, err, sizeof err);
    check(rc == 0 || rc == MAILLIMIT_ENOMEM, "the base state does not load", err);
    if (rc) {
        maillimit_free(ml);
        return NULL;
    }
    return ml;
}

static void one(const unsigned char *data, size_t size)
{
    char err[256];
    maillimit *ml = base_handle();
    if (!ml)
        return;
    memset(err, 'Z', sizeof err);
    int rc = maillimit_snapshot_load_mem(ml, data, size, err, sizeof err);
    check(rc == 0 || rc == MAILLIMIT_EFORMAT || rc == MAILLIMIT_EVERSION ||
              rc == MAILLIMIT_ERANGE || rc == MAILLIMIT_ENOMEM,
          "unexpected code", "-");
    check(memchr(err, '\0', sizeof err) != NULL, "message not terminated", "-");
    if (rc != 0) {
        check(strncmp(err, "<memory>: ", 10) == 0, "message does not name <memory>", err);
        struct bytes after = save(ml);
        check(!after.p || (after.n == base.n && memcmp(after.p, base.p, after.n) == 0),
              "a failed load changed the handle", err);
        maillimit_buffer_free(after.p);
    } else {
        check(err[0] == '\0', "message not cleared on success", err);
        struct bytes first = save(ml);
        maillimit *again = NULL;
        if (first.p && maillimit_new(&again) == 0) {
            rc = maillimit_snapshot_load_mem(again, first.p, first.n, err, sizeof err);
            check(rc == 0 || rc == MAILLIMIT_ENOMEM, "a saved state does not load", err);
            if (rc == 0) {
                struct bytes second = save(again);
                check(!second.p || (second.n == first.n &&
                                    memcmp(second.p, first.p, first.n) == 0),
                      "a reloaded state saves other bytes", "-");
                maillimit_buffer_free(second.p);
            }
            maillimit_free(again);
        }
        maillimit_buffer_free(first.p);
    }
    maillimit_free(ml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one(data, size);
    if (size >= 20) {
        unsigned char *copy = malloc(size);
        if (copy) {
            memcpy(copy, data, size);
            uint32_t c = crc32c(copy, size - 4);
            copy[size - 4] = (unsigned char)(c >> 24);
            copy[size - 3] = (unsigned char)(c >> 16);
            copy[size - 2] = (unsigned char)(c >> 8);
            copy[size - 1] = (unsigned char)c;
            one(copy, size);
            free(copy);
        }
    }
    return 0;
}

#ifdef FUZZ_SNAPSHOT_SEEDS
/* Seed generator: valid snapshots of several states, and a few broken files. */
static void put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    maillimit *empty = NULL;
    maillimit_new(&empty);
    struct bytes b = save(empty);
    put(argv[1], "empty.snap", b.p, b.n);
    maillimit_buffer_free(b.p);
    static const char *const names[] = {"config-only.snap", "traffic.snap",
                                        "traffic-server.snap"};
    for (int i = 0; i < 3; i++) {
        maillimit *ml = state(i);
        b = save(ml);
        put(argv[1], names[i], b.p, b.n);
        if (i == 2) {
            unsigned char *p = b.p;
            put(argv[1], "truncated.snap", p, b.n / 2);
            p[11] = 2; /* format version 2, resealed: EVERSION */
            uint32_t c = crc32c(p, b.n - 4);
            p[b.n - 4] = (unsigned char)(c >> 24);
            p[b.n - 3] = (unsigned char)(c >> 16);
            p[b.n - 2] = (unsigned char)(c >> 8);
            p[b.n - 1] = (unsigned char)c;
            put(argv[1], "newer-version.snap", p, b.n);
        }
        maillimit_buffer_free(b.p);
        maillimit_free(ml);
    }
    put(argv[1], "foreign.txt", "server mailbox=100\n", 19);
    maillimit_free(empty);
    return 0;
}
#endif
