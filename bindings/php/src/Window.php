<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** Sliding windows (MAILLIMIT_WINDOW_*). */
enum Window: int
{
    case HOUR = 0;
    case DAY = 1;
}
