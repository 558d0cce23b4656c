<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_EEXISTS: the entity exists with another placement (use a move call). */
class ExistsException extends \RuntimeException implements MaillimitException
{
    use ErrorDetails;
}
