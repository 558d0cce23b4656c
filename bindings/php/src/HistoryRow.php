<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/** One clock hour (UTC) of an entity's history: units sent, denied and sent exempt. */
final class HistoryRow
{
    public function __construct(
        public readonly int $hourStart,
        public readonly int $sent,
        public readonly int $denied,
        public readonly int $exempt,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $r): self
    {
        return new self($r->hour_start, $r->sent, $r->denied, $r->exempt);
    }
}
