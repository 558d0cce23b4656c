/* SPDX-License-Identifier: MIT */
/* Error texts, version, small shared helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "internal.h"

const char *maillimit_strerror(int err)
{
    switch (err) {
    case MAILLIMIT_OK: return "success";
    case MAILLIMIT_EINVAL: return "invalid argument";
    case MAILLIMIT_ENOMEM: return "out of memory";
    case MAILLIMIT_ENOTFOUND: return "not found";
    case MAILLIMIT_EEXISTS: return "already exists elsewhere";
    case MAILLIMIT_ERANGE: return "value out of range";
    case MAILLIMIT_EIO: return "input/output error";
    case MAILLIMIT_EFORMAT: return "malformed input";
    case MAILLIMIT_ENOBUFS: return "buffer too small";
    case MAILLIMIT_EDONE: return "no more items";
    case MAILLIMIT_EBUSY: return "resource busy";
    case MAILLIMIT_EVERSION: return "unsupported version";
    default: return "unknown error";
    }
}

const char *maillimit_errname(int err)
{
    switch (err) {
    case MAILLIMIT_OK: return "MAILLIMIT_OK";
    case MAILLIMIT_EINVAL: return "MAILLIMIT_EINVAL";
    case MAILLIMIT_ENOMEM: return "MAILLIMIT_ENOMEM";
    case MAILLIMIT_ENOTFOUND: return "MAILLIMIT_ENOTFOUND";
    case MAILLIMIT_EEXISTS: return "MAILLIMIT_EEXISTS";
    case MAILLIMIT_ERANGE: return "MAILLIMIT_ERANGE";
    case MAILLIMIT_EIO: return "MAILLIMIT_EIO";
    case MAILLIMIT_EFORMAT: return "MAILLIMIT_EFORMAT";
    case MAILLIMIT_ENOBUFS: return "MAILLIMIT_ENOBUFS";
    case MAILLIMIT_EDONE: return "MAILLIMIT_EDONE";
    case MAILLIMIT_EBUSY: return "MAILLIMIT_EBUSY";
    case MAILLIMIT_EVERSION: return "MAILLIMIT_EVERSION";
    default: return "MAILLIMIT_E?";
    }
}

uint32_t maillimit_version_number(void)
{
    return MAILLIMIT_VERSION_NUMBER;
}

const char *maillimit_version_string(void)
{
    return MAILLIMIT_VERSION_STRING;
}

void maillimit__errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int64_t maillimit__now(int64_t now)
{
    return now ? now : (int64_t)time(NULL);
}
