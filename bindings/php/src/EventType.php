<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** Limit edges (MAILLIMIT_EVENT_*). */
enum EventType: int
{
    case LIMIT_REACHED = 1;
    case BACK_TO_NORMAL = 2;
}
