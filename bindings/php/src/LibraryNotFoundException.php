<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** The shared library or its header could not be loaded, or has another major version. */
class LibraryNotFoundException extends \RuntimeException
{
}
