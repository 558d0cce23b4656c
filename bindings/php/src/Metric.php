<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** What a top list ranks by (MAILLIMIT_METRIC_*). */
enum Metric: int
{
    case SENT = 0;
    case DENIED = 1;
}
