<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * A period during which an entity was over one of its limits. $started is the first
 * denial; $ended is when it was back to normal, or, while $ongoing, when it will be (-1:
 * not before a limit change or reset). $denied counts the units denied during it. The
 * server is named "".
 */
final class Episode
{
    public function __construct(
        public readonly Level $level,
        public readonly string $name,
        public readonly Window $window,
        public readonly bool $ongoing,
        public readonly int $started,
        public readonly int $ended,
        public readonly int $limit,
        public readonly int $denied,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $e): self
    {
        return new self(Level::from($e->level), \FFI::string($e->name), Window::from($e->window),
            $e->ongoing !== 0, $e->started, $e->ended, $e->limit, $e->denied);
    }
}
