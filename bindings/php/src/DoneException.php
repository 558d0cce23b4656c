<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EDONE: an iterator has no more items (the binding ends the loop). */
class DoneException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
