<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** Levels of the hierarchy, top to bottom (MAILLIMIT_LEVEL_*). */
enum Level: int
{
    case SERVER = 0;
    case PLAN = 1;
    case SUBSCRIPTION = 2;
    case DOMAIN = 3;
    case MAILBOX = 4;
}
