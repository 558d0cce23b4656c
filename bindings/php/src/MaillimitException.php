<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * Implemented by every exception the binding throws for a library error, so
 * `catch (MaillimitException $e)` catches them all. Each class also extends the closest SPL
 * exception (InvalidArgumentException, OutOfBoundsException, RangeException, ...).
 * getCode() is the negative MAILLIMIT_E* code.
 */
interface MaillimitException extends \Throwable
{
    /** The library's static text for the code (maillimit_strerror()). */
    public function getLibraryMessage(): string;

    /** The C function that failed, e.g. "maillimit_domain_add". */
    public function getFunction(): ?string;

    /** The library's detailed message (configuration errors: "FILE:LINE: problem"). */
    public function getDetail(): ?string;

    /** The code as an ErrorCode (null for a code this binding does not know). */
    public function getErrorCode(): ?ErrorCode;
}
