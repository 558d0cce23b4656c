<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * Totals over a range and scope. $unattributed is non-zero in server scope only;
 * $limitedEntities counts entities with an episode overlapping the range.
 */
final class Summary
{
    public function __construct(
        public readonly int $sent,
        public readonly int $denied,
        public readonly int $exempt,
        public readonly int $unattributed,
        public readonly int $limitedEntities,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $s): self
    {
        return new self($s->sent, $s->denied, $s->exempt, $s->unattributed, $s->limited_entities);
    }
}
