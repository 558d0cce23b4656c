/* Names: validation, ASCII lower-casing and hashing. */
#include <string.h>

#include "internal.h"

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
    for (; name[len]; len++) {
        unsigned char c = (unsigned char)name[len];
        if (len >= MAILLIMIT_NAME_MAX) {
            *why = "name is longer than 320 bytes";
            return MAILLIMIT_EINVAL;
        }
        if (c < 0x20 || c == 0x7f) {
            *why = "name contains a control character";
            return MAILLIMIT_EINVAL;
        }
        if (c == ' ') {
            *why = "name contains a space";
            return MAILLIMIT_EINVAL;
        }
        if (c == '@') {
            ats++;
            at = len;
        }
        buf[len] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
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

uint64_t maillimit__name_hash(int level, const char *name, size_t len)
{
    /* FNV-1a over the level and the bytes, then a final mix so the low bits spread well. */
    uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)level;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}
