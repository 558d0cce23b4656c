<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_OK and the MAILLIMIT_E* codes (pinned by the C API). */
enum ErrorCode: int
{
    case OK = 0;
    case EINVAL = -1;
    case ENOMEM = -2;
    case ENOTFOUND = -3;
    case EEXISTS = -4;
    case ERANGE = -5;
    case EIO = -6;
    case EFORMAT = -7;
    case ENOBUFS = -8;
    case EDONE = -9;
    case EBUSY = -10;
    case EVERSION = -11;

    /**
     * The library's text for the code, the same as Library::strerror() (a test keeps them
     * equal) but without FFI: what Client's exceptions carry.
     */
    public function message(): string
    {
        return match ($this) {
            self::OK => 'success',
            self::EINVAL => 'invalid argument',
            self::ENOMEM => 'out of memory',
            self::ENOTFOUND => 'not found',
            self::EEXISTS => 'already exists elsewhere',
            self::ERANGE => 'value out of range',
            self::EIO => 'input/output error',
            self::EFORMAT => 'malformed input',
            self::ENOBUFS => 'buffer too small',
            self::EDONE => 'no more items',
            self::EBUSY => 'resource busy',
            self::EVERSION => 'unsupported version',
        };
    }
}
