<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * A limit edge: LIMIT_REACHED (an episode starts) or BACK_TO_NORMAL (it ends). $seq runs
 * 1, 2, 3... in queue order; $denied is the units denied during the episode for
 * BACK_TO_NORMAL, else 0. The server is named "".
 */
final class Event
{
    public function __construct(
        public readonly EventType $type,
        public readonly Level $level,
        public readonly string $name,
        public readonly Window $window,
        public readonly int $time,
        public readonly int $limit,
        public readonly int $denied,
        public readonly int $seq,
    ) {
    }

    /** @internal */
    public static function fromC(\FFI\CData $e): self
    {
        return new self(EventType::from($e->type), Level::from($e->level), \FFI::string($e->name),
            Window::from($e->window), $e->time, $e->limit, $e->denied, $e->seq);
    }
}
