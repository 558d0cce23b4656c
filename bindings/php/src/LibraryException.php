<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** A code this binding does not know (a newer library). */
class LibraryException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
