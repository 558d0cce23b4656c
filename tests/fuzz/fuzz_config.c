/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the configuration text loader.
 *
 * Each input is loaded into a handle that already holds a small configuration (so the
 * "exists in the handle" and "move" paths are reached too). Invariants checked (abort on
 * violation, so the fuzzer reports them):
 * - the call returns 0, MAILLIMIT_EFORMAT or MAILLIMIT_ENOMEM, and always a NUL-terminated
 *   message starting with "<memory>" on error;
 * - a text that loaded once loads again (loading is idempotent);
 * - a text that failed changed nothing the base configuration set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "maillimit.h"

static const char base[] =
    "server mailbox=100 domain=500\n"
    "plan basic mailbox=50 domain=200\n"
    "plan gold mailbox=70 domain=300\n"
    "subscription acme plan=basic\n"
    "subscription beta\n"
    "domain acme.example subscription=acme\n"
    "mailbox ceo@acme.example mailbox=20\n"
    "sysuser acme_web subscription=acme\n";

static void check(int ok, const char *what, const char *err)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: %s (err: %s)\n", what, err);
        abort();
    }
}

/* A few values the base configuration sets; a failed load must leave them. */
static void fingerprint(maillimit *ml, int64_t out[6])
{
    int on = -1;
    memset(out, 0, 6 * sizeof out[0]);
    maillimit_limit_configured(ml, MAILLIMIT_LEVEL_SERVER, NULL, MAILLIMIT_LEVEL_MAILBOX,
                          MAILLIMIT_WINDOW_HOUR, &out[0]);
    maillimit_limit_configured(ml, MAILLIMIT_LEVEL_PLAN, "basic", MAILLIMIT_LEVEL_MAILBOX,
                          MAILLIMIT_WINDOW_HOUR, &out[1]);
    maillimit_limit_configured(ml, MAILLIMIT_LEVEL_MAILBOX, "ceo@acme.example",
                          MAILLIMIT_LEVEL_MAILBOX, MAILLIMIT_WINDOW_HOUR, &out[2]);
    /* placement of the domain, seen through inheritance */
    maillimit_limit_effective(ml, MAILLIMIT_LEVEL_DOMAIN, "acme.example", MAILLIMIT_WINDOW_HOUR,
                        &out[3]);
    maillimit_enabled_get(ml, &on);
    out[4] = on;
    int64_t unused;
    out[5] = maillimit_limit_configured(ml, MAILLIMIT_LEVEL_PLAN, "fuzz", MAILLIMIT_LEVEL_MAILBOX,
                                   MAILLIMIT_WINDOW_HOUR, &unused) == MAILLIMIT_ENOTFOUND;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    maillimit *ml = NULL;
    char err[256];
    if (maillimit_new(&ml) != 0)
        return 0;
    int rc = maillimit_config_load_mem(ml, base, sizeof base - 1, err, sizeof err);
    check(rc == 0, "the base configuration does not load", err);

    int64_t before[6], after[6];
    fingerprint(ml, before);
    memset(err, 'Z', sizeof err);
    rc = maillimit_config_load_mem(ml, (const char *)data, size, err, sizeof err);
    check(rc == 0 || rc == MAILLIMIT_EFORMAT || rc == MAILLIMIT_ENOMEM, "unexpected code",
          "-");
    check(memchr(err, '\0', sizeof err) != NULL, "message not terminated", "-");
    if (rc == 0) {
        check(err[0] == '\0', "message not cleared on success", err);
        rc = maillimit_config_load_mem(ml, (const char *)data, size, err, sizeof err);
        check(rc == 0 || rc == MAILLIMIT_ENOMEM, "a loaded text does not load again", err);
    } else if (rc == MAILLIMIT_EFORMAT) {
        check(strncmp(err, "<memory>:", 9) == 0, "message does not name <memory>", err);
        fingerprint(ml, after);
        check(memcmp(before, after, sizeof before) == 0, "a failed load changed something",
              err);
    }
    maillimit_free(ml);
    return 0;
}
