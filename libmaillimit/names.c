/* SPDX-License-Identifier: MIT */
/* Names: validation, ASCII lower-casing and hashing. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <string.h>
#include <stdint.h>

#include "internal.h"

/* ASCII lower case of every byte; bytes >= 0x80 stay as they are. */
static const unsigned char lower[256] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
    48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
    64, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 91, 92, 93, 94, 95,
    96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
    128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
    144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
    160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
    176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
    192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
    208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
    224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
    240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
};

/* Bytes a name may not contain: controls (NUL is the end), space, DEL. */
static const unsigned char forbidden[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* The byte-at-a-time form: the reference, and the one that explains a rejection. */
static int name_norm_slow(int level, const char *name, char *buf, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (!name) {
        *why = "name is missing";
        return MAILLIMIT_EINVAL;
    }
    size_t len = strnlen(name, MAILLIMIT_NAME_MAX + 1);
    if (len > MAILLIMIT_NAME_MAX) {
        *why = "name is longer than 320 bytes";
        return MAILLIMIT_EINVAL;
    }
    if (len == 0) {
        *why = "name is empty";
        return MAILLIMIT_EINVAL;
    }
    const unsigned char *s = (const unsigned char *)name;
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)lower[s[i]];
        bad |= forbidden[s[i]];
    }
    buf[len] = '\0';
    if (bad) {
        *why = memchr(name, ' ', len) ? "name contains a space"
                                      : "name contains a control character";
        return MAILLIMIT_EINVAL;
    }
    const char *at = memchr(buf, '@', len);
    if (level == MAILLIMIT_LEVEL_MAILBOX) {
        if (!at || at == buf || at + 1 == buf + len ||
            memchr(at + 1, '@', len - (size_t)(at + 1 - buf))) {
            *why = "an address must be local@domain with exactly one '@'";
            return MAILLIMIT_EINVAL;
        }
    } else if (level == MAILLIMIT_LEVEL_DOMAIN && at) {
        *why = "a domain name cannot contain '@'";
        return MAILLIMIT_EINVAL;
    }
    return (int)len;
}


/* ---- the one-pass form ------------------------------------------------------------------
 * Eight bytes at a time (SWAR): lower-case, find forbidden bytes and '@', and hash the lower-
 * cased words as maillimit__name_hash() does, in one pass over the name. Bytes >= 0x80 are
 * left alone and allowed, as in the tables above. Any rejection is explained by the byte-at-
 * a-time form. */
#define B(x) (UINT64_C(0x0101010101010101) * (x))

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

/* High bit of each byte of w that is zero. */
static inline uint64_t zero_bytes(uint64_t w)
{
    return ~(((w & B(0x7f)) + B(0x7f)) | w) & B(0x80);
}

/* Lower-case word w; *bad gets the high bit of each forbidden byte, *at of each '@'. */
static inline uint64_t lower_word(uint64_t w, uint64_t *bad, uint64_t *at)
{
    uint64_t ascii = ~w & B(0x80);                 /* bytes < 0x80 */
    uint64_t h7 = w & B(0x7f);
    uint64_t ge_a = h7 + B(0x80 - 'A');            /* high bit: byte >= 'A' */
    uint64_t gt_z = h7 + B(0x80 - 'Z' - 1);        /* high bit: byte > 'Z' */
    uint64_t upper = ge_a & ~gt_z & ascii;
    uint64_t ge_bang = h7 + B(0x80 - 0x21);        /* high bit: byte >= '!' */
    *bad = (~ge_bang & ascii) | zero_bytes(w ^ B(0x7f));
    *at = zero_bytes(w ^ B('@'));
    return w | upper >> 2;                         /* 0x80 >> 2 == 0x20 */
}

static int name_norm_fast(int level, const char *name, char *buf, size_t len, int hash_level,
                          uint64_t *hash)
{
    uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(hash_level + 1) ^ len;
    uint64_t bad = 0, ats = 0, many = 0; /* '@' seen; more than one */
    size_t at = 0, i = 0;
    uint64_t w, b, a;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, name + i, 8);
        w = lower_word(w, &b, &a);
        memcpy(buf + i, &w, 8);
        bad |= b;
        if (a) {
            many |= ats | (a & (a - 1));
            ats = 1;
            at = i + (size_t)(__builtin_ctzll(a) >> 3);
        }
        h = mix(h ^ w) + i;
    }
    size_t tail = len - i;
    w = 0;
    if (tail && len >= 8) {
        memcpy(&w, name + len - 8, 8); /* the last 8 bytes; the tail is their end */
        w >>= 8 * (8 - tail);
    } else if (tail) {
        memcpy(&w, name, tail);
    }
    /* the zero bytes past the end are neither forbidden nor '@' */
    uint64_t valid = tail ? ~UINT64_C(0) >> (64 - 8 * tail) : 0;
    w = lower_word(w, &b, &a);
    if (i + 8 <= MAILLIMIT_NAME_MAX + 1)
        memcpy(buf + i, &w, 8); /* zeros past the end, within buf */
    else
        memcpy(buf + i, &w, tail);
    buf[len] = '\0';
    bad |= b & valid;
    a &= valid;
    if (a) {
        many |= ats | (a & (a - 1));
        ats = 1;
        at = i + (size_t)(__builtin_ctzll(a) >> 3);
    }
    if (bad)
        return MAILLIMIT_EINVAL;
    if (level == MAILLIMIT_LEVEL_MAILBOX) {
        if (!ats || many || at == 0 || at + 1 == len)
            return MAILLIMIT_EINVAL;
    } else if (level == MAILLIMIT_LEVEL_DOMAIN && ats) {
        return MAILLIMIT_EINVAL;
    }
    if (hash)
        *hash = mix(h ^ w ^ (uint64_t)tail << 56);
    return (int)len;
}

int maillimit__name_key(int level, const char *name, char *buf, const char **why,
                        int hash_level, uint64_t *hash)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    size_t len = name ? strnlen(name, MAILLIMIT_NAME_MAX + 1) : 0;
    if (len >= 1 && len <= MAILLIMIT_NAME_MAX) {
        int rc = name_norm_fast(level, name, buf, len, hash_level, hash);
        if (rc >= 0)
            return rc;
    }
#endif
    int rc = name_norm_slow(level, name, buf, why);
    if (rc >= 0 && hash)
        *hash = maillimit__name_hash(hash_level, buf, (size_t)rc);
    return rc;
}

int maillimit__name_norm(int level, const char *name, char *buf, const char **why)
{
    return maillimit__name_key(level, name, buf, why, level, NULL);
}


uint64_t maillimit__name_hash(int level, const char *name, size_t len)
{
    /* Eight bytes at a time: multiply-xorshift over little-endian words. */
    uint64_t h = 0x9e3779b97f4a7c15ull * (uint64_t)(level + 1) ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, name + i, 8);
        h = mix(h ^ w) + i;
    }
    uint64_t w = 0;
    memcpy(&w, name + i, len - i);
    return mix(h ^ w ^ (uint64_t)(len - i) << 56);
}
