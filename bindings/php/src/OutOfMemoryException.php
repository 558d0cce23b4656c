<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_ENOMEM: the library could not allocate; nothing changed. */
class OutOfMemoryException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
