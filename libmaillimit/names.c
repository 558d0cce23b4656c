/* Names: validation, ASCII lower-casing and hashing. */
#include <string.h>

#include "internal.h"

/* Byte classes: 0 plain, 1 upper case, 2 forbidden (control, space, DEL), 3 '@'. */
static const unsigned char cls[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

int maillimit__name_norm(int level, const char *name, char *buf, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (!name) {
        *why = "name is missing";
        return MAILLIMIT_EINVAL;
    }
    size_t len = 0, at = 0, ats = 0;
    for (;; len++) {
        unsigned char c = (unsigned char)name[len];
        unsigned k = cls[c];
        if (k == 0) {
            if (len == MAILLIMIT_NAME_MAX)
                break;
            buf[len] = (char)c;
            continue;
        }
        if (k == 1) {
            if (len == MAILLIMIT_NAME_MAX)
                break;
            buf[len] = (char)(c + ('a' - 'A'));
            continue;
        }
        if (k == 3) {
            if (len == MAILLIMIT_NAME_MAX)
                break;
            ats++;
            at = len;
            buf[len] = '@';
            continue;
        }
        if (c == 0)
            break;
        *why = c == ' ' ? "name contains a space" : "name contains a control character";
        return MAILLIMIT_EINVAL;
    }
    if (len == MAILLIMIT_NAME_MAX && name[len]) {
        *why = "name is longer than 320 bytes";
        return MAILLIMIT_EINVAL;
    }
    buf[len] = '\0';
    if (len == 0) {
        *why = "name is empty";
        return MAILLIMIT_EINVAL;
    }
    if (level == MAILLIMIT_LEVEL_MAILBOX) {
        if (ats != 1 || at == 0 || at + 1 == len) {
            *why = "an address must be local@domain with exactly one '@'";
            return MAILLIMIT_EINVAL;
        }
    } else if (level == MAILLIMIT_LEVEL_DOMAIN && ats) {
        *why = "a domain name cannot contain '@'";
        return MAILLIMIT_EINVAL;
    }
    return (int)len;
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
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
