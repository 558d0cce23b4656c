<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * The outcome of Limiter::decide() / Limiter::reserve().
 *
 * $level and $window name the denying counter (null when allowed or when no counter
 * denied). $limit and $count are that counter's (allowed: the sender's own hourly counter),
 * $count before this request; $limit is -1 for no limit. $retryAfter is in seconds, -1 for
 * never, 0 when allowed. $token is for commit()/release() (0 when denied); it is an
 * unsigned 64-bit value, so tokens of decide() (bit 63 set) read as negative PHP integers:
 * treat tokens as opaque.
 */
final class Verdict
{
    public function __construct(
        public readonly Decision $decision,
        public readonly Reason $reason,
        public readonly ?Level $level,
        public readonly ?Window $window,
        public readonly int $limit,
        public readonly int $count,
        public readonly int $retryAfter,
        public readonly int $token,
    ) {
    }

    public function allowed(): bool
    {
        return $this->decision === Decision::ALLOW;
    }

    public function denied(): bool
    {
        return $this->decision === Decision::DENY;
    }

    /** @internal */
    public static function fromC(\FFI\CData $v): self
    {
        return new self(Decision::from($v->decision), Reason::from($v->reason),
            $v->level < 0 ? null : Level::from($v->level),
            $v->window < 0 ? null : Window::from($v->window),
            $v->limit, $v->count, $v->retry_after, $v->token);
    }
}
