<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_ALLOW / MAILLIMIT_DENY. */
enum Decision: int
{
    case ALLOW = 0;
    case DENY = 1;
}
