<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * A page of MaillimitApi::listPage(): $entities from $offset of $total in all, listed at
 * hierarchy $generation (pages of equal generation fit together).
 */
final class ListPage
{
    /** @param list<EntityDetails> $entities */
    public function __construct(
        public readonly int $generation,
        public readonly int $total,
        public readonly int $offset,
        public readonly array $entities,
    ) {
    }
}
