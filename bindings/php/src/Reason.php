<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** Why a verdict is what it is (MAILLIMIT_REASON_*). */
enum Reason: int
{
    case NONE = 0;
    case LIMIT = 1;
    case EXEMPT = 2;
    case DISABLED = 3;
    case UNKNOWN = 4;
    case NOT_ALLOWED = 5;
}
