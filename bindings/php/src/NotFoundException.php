<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_ENOTFOUND: the named entity, file or token does not exist. */
class NotFoundException extends \OutOfBoundsException implements MaillimitException
{
    use ErrorDetails;
}
