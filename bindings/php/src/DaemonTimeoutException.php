<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * Client only: maillimitd did not answer within the client's timeout (code MAILLIMIT_EIO).
 * The connection is closed, so a late answer is never taken for the next request's; the
 * next call connects again. The request may have been executed.
 */
class DaemonTimeoutException extends IOException
{
}
