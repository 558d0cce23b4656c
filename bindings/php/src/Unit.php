<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** What one unit of cost is (MAILLIMIT_UNIT_*). */
enum Unit: int
{
    case MESSAGES = 0;
    case RECIPIENTS = 1;
}
