/* SPDX-License-Identifier: MIT */
/* Name normalisation and hashing: the one-pass (eight bytes at a time) form against a
 * byte-at-a-time model of the rules (SPEC §1, §4.1). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The rules, one byte at a time: length 1..320; no control byte, space or DEL; ASCII lower
 * case; a mailbox has exactly one '@', neither first nor last; a domain has none. */
static int model_norm(int level, const char *name, char *buf)
{
    size_t len = strlen(name);
    if (len == 0 || len > MAILLIMIT_NAME_MAX)
        return MAILLIMIT_EINVAL;
    size_t ats = 0, at = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f)
            return MAILLIMIT_EINVAL;
        if (c == '@') {
            ats++;
            at = i;
        }
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    buf[len] = '\0';
    if (level == MAILLIMIT_LEVEL_MAILBOX && (ats != 1 || at == 0 || at + 1 == len))
        return MAILLIMIT_EINVAL;
    if (level == MAILLIMIT_LEVEL_DOMAIN && ats)
        return MAILLIMIT_EINVAL;
    return (int)len;
}

static void check_one(int level, const char *name)
{
    char want[MAILLIMIT_NAME_MAX + 1], got[MAILLIMIT_NAME_MAX + 1];
    int wl = model_norm(level, name, want);
    uint64_t h = 0;
    int gl = maillimit__name_key(level, name, got, NULL, level, &h);
    cr_assert_eq(gl, wl, "level %d, name \"%s\": %d, want %d", level, name, gl, wl);
    int nl = maillimit__name_norm(level, name, got, NULL);
    cr_assert_eq(nl, wl);
    if (wl < 0)
        return;
    cr_assert_str_eq(got, want);
    cr_assert_eq(h, maillimit__name_hash(level, want, (size_t)wl), "hash of \"%s\"", name);
}

Test(names, every_byte_in_every_position_of_a_word)
{
    /* Each byte value at each position of the first word and of a tail, in names of lengths
     * around the word size: case folding, forbidden bytes and '@' found wherever they are. */
    char name[40];
    for (int level = MAILLIMIT_LEVEL_PLAN; level <= MAILLIMIT_LEVEL_MAILBOX; level++)
        for (size_t len = 1; len <= 19; len++)
            for (size_t pos = 0; pos < len; pos++)
                for (int c = 1; c < 256; c++) {
                    for (size_t i = 0; i < len; i++)
                        name[i] = "aB3@x.Y-z_k@Q.r.st9"[i];
                    for (size_t i = 0; i < len; i++)
                        if (name[i] == '@')
                            name[i] = 'm';
                    if (level == MAILLIMIT_LEVEL_MAILBOX && len >= 3)
                        name[len / 2] = '@';
                    name[pos] = (char)c;
                    name[len] = '\0';
                    check_one(level, name);
                }
}

Test(names, random_names_match_the_model)
{
    static const char alphabet[] = "abcXYZ@.-_09\x7f \x80\xc3\xa9\x01\t";
    char name[MAILLIMIT_NAME_MAX + 8];
    srand(7);
    for (int n = 0; n < 200000; n++) {
        size_t len = (size_t)(rand() % 5 == 0 ? rand() % (MAILLIMIT_NAME_MAX + 3)
                                              : rand() % 40);
        int level = MAILLIMIT_LEVEL_PLAN + rand() % 4;
        for (size_t i = 0; i < len; i++) {
            int r = rand() % 100;
            name[i] = r < 90 ? "abcdefghijKLMNOP.-"[r % 18]
                             : alphabet[(size_t)rand() % (sizeof alphabet - 1)];
        }
        if (level == MAILLIMIT_LEVEL_MAILBOX && len >= 3 && rand() % 2)
            name[1 + (size_t)rand() % (len - 2)] = '@';
        name[len] = '\0';
        check_one(level, name);
    }
}

Test(names, lengths_and_missing_names)
{
    char name[MAILLIMIT_NAME_MAX + 2], buf[MAILLIMIT_NAME_MAX + 1];
    memset(name, 'A', sizeof name);
    name[MAILLIMIT_NAME_MAX] = '\0';
    check_one(MAILLIMIT_LEVEL_DOMAIN, name);               /* 320 bytes: the longest */
    name[MAILLIMIT_NAME_MAX] = 'A';
    name[MAILLIMIT_NAME_MAX + 1] = '\0';
    cr_assert_eq(maillimit__name_key(MAILLIMIT_LEVEL_DOMAIN, name, buf, NULL,
                                     MAILLIMIT_LEVEL_DOMAIN, NULL),
                 MAILLIMIT_EINVAL);                        /* 321 */
    const char *why = NULL;
    cr_assert_eq(maillimit__name_key(MAILLIMIT_LEVEL_DOMAIN, NULL, buf, &why,
                                     MAILLIMIT_LEVEL_DOMAIN, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_str_eq(why, "name is missing");
    cr_assert_eq(maillimit__name_key(MAILLIMIT_LEVEL_MAILBOX, "a b@c", buf, &why,
                                     MAILLIMIT_LEVEL_MAILBOX, NULL),
                 MAILLIMIT_EINVAL);
    cr_assert_str_eq(why, "name contains a space");
    /* a hash level other than the name's (system users are checked as plans) */
    uint64_t h = 0;
    cr_assert_eq(maillimit__name_key(MAILLIMIT_LEVEL_PLAN, "WebUser", buf, NULL,
                                     MAILLIMIT__LEVEL_SYSUSER, &h),
                 7);
    cr_assert_eq(h, maillimit__name_hash(MAILLIMIT__LEVEL_SYSUSER, "webuser", 7));
}
