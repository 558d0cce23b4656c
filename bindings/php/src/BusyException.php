<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EBUSY: the resource is in use. */
class BusyException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
