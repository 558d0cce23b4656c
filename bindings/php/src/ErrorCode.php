<?php

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
}
