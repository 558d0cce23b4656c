<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EINVAL: a bad level, window, name or value, or a closed Limiter. */
class InvalidArgumentException extends \InvalidArgumentException implements MaillimitException
{
    use ErrorDetails;
}
