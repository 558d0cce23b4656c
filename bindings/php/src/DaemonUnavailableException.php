<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * Client only: maillimitd cannot be reached, or the connection broke while a request was
 * answered (code MAILLIMIT_EIO; getDetail() says why). A request that was sent may have
 * been executed.
 */
class DaemonUnavailableException extends IOException
{
}
