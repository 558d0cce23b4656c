<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * The state of one entity's own counter in one window (Limiter::status()).
 *
 * $sending: one more unit would be allowed now (every level and window considered);
 * $blockedBy: the blocking level (own or ancestor) or null. $limit and $remaining are -1
 * when unlimited; $retryAfter is -1 for never and 0 when sending; $resetAfter is the
 * seconds until the own window count is back to 0.
 */
final class Status
{
    public function __construct(
        public readonly bool $sending,
        public readonly ?Level $blockedBy,
        public readonly int $count,
        public readonly int $limit,
        public readonly int $remaining,
        public readonly int $retryAfter,
        public readonly int $resetAfter,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $s): self
    {
        return new self($s->sending !== 0, $s->blocked_by < 0 ? null : Level::from($s->blocked_by),
            $s->count, $s->limit, $s->remaining, $s->retry_after, $s->reset_after);
    }
}
