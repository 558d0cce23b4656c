<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EIO: a file could not be read or written. */
class IOException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
