<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * One entity of Limiter::list(). $level is a Level (PLAN, SUBSCRIPTION, DOMAIN, MAILBOX), or
 * the int Limiter::LIST_SYSUSER for a system user. $name is lower case. $parent is the plan
 * of a subscription ('' if none), the subscription of a domain or system user, the domain of
 * a mailbox, '' for a plan. $implicit is true for a mailbox made by its first decision
 * rather than configured.
 */
final class Entity
{
    public function __construct(
        public readonly Level|int $level,
        public readonly string $name,
        public readonly string $parent,
        public readonly bool $implicit,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $e): self
    {
        return new self(Level::tryFrom($e->level) ?? $e->level, \FFI::string($e->name),
            \FFI::string($e->parent), $e->implicit !== 0);
    }
}
