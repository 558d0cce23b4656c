<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** MAILLIMIT_ENOBUFS: a caller buffer was too small (the binding normally retries). */
class BufferTooSmallException extends \LengthException implements MaillimitException
{
    use ErrorDetails;
}
