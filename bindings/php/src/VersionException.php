<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EVERSION: an unsupported struct or file-format version. */
class VersionException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
