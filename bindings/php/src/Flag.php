<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** Inherited flags (MAILLIMIT_FLAG_*). */
enum Flag: int
{
    case SENDMAIL = 0;
    case EXEMPT = 1;
}
