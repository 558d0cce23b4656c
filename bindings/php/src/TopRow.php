<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** One entity of a top list with its totals over the range. */
final class TopRow
{
    public function __construct(
        public readonly Level $level,
        public readonly string $name,
        public readonly int $sent,
        public readonly int $denied,
        public readonly int $exempt,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $r): self
    {
        return new self(Level::from($r->level), \FFI::string($r->name), $r->sent, $r->denied,
            $r->exempt);
    }
}
