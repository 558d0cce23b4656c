<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_ERANGE: a number is out of range (cost, counter capacity). */
class RangeException extends \RangeException implements MaillimitException
{
    use ErrorDetails;
}
