<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EFORMAT: malformed configuration text or snapshot. */
class FormatException extends \UnexpectedValueException implements MaillimitException
{
    use ErrorDetails;
}
