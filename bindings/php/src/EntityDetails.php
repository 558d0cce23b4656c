<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * One entity of MaillimitApi::listPage(): its placement (as Entity), what it sets and its
 * status.
 *
 * $limits maps "TARGET/WINDOW" (e.g. "mailbox/hour", "domain/day") to the value as set
 * there (Limiter::DEFAULT -2 when it inherits, Limiter::UNLIMITED -1) for the limits the
 * level sets: a mailbox its mailbox limit; a domain its domain and mailbox limits; a plan or
 * subscription the subscription, domain and mailbox limits; a system user none. $flags maps
 * "sendmail" (plans, subscriptions) and "exempt" to 0, 1 or DEFAULT. $status is null for
 * plans and system users. A value, or the status, of an entity removed while the page was
 * read is null.
 */
final class EntityDetails
{
    /**
     * @param array<string, ?int> $limits
     * @param array<string, ?int> $flags
     */
    public function __construct(
        public readonly Level|int $level,
        public readonly string $name,
        public readonly string $parent,
        public readonly bool $implicit,
        public readonly array $limits,
        public readonly array $flags,
        public readonly ?Status $status,
    ) {
    }

    /** The placement alone, as list() gives it. */
    public function entity(): Entity
    {
        return new Entity($this->level, $this->name, $this->parent, $this->implicit);
    }
}
