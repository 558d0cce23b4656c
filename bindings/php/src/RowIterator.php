<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

/**
 * What Client::listOpen(), historyOpen() and episodesOpen() return: the rows, read already,
 * with the surface of Limiter's iterators (foreach, toArray(), close(), isClosed(), and
 * count() for listings). It can be iterated once.
 *
 * @template T
 * @implements \IteratorAggregate<int, T>
 */
final class RowIterator implements \IteratorAggregate, \Countable
{
    private bool $closed = false;

    /** @param list<T> $rows */
    public function __construct(private readonly array $rows)
    {
    }

    /** @return \Generator<int, T> */
    public function getIterator(): \Generator
    {
        if ($this->closed) {
            return;
        }
        foreach ($this->rows as $i => $r) {
            if ($this->closed) {
                return;
            }
            yield $i => $r;
        }
        $this->closed = true;
    }

    /** @return list<T> every remaining row; closed afterwards. */
    public function toArray(): array
    {
        try {
            return iterator_to_array($this->getIterator(), false);
        } finally {
            $this->close();
        }
    }

    /** How many rows it holds in all, those already read included. */
    public function count(): int
    {
        return count($this->rows);
    }

    public function close(): void
    {
        $this->closed = true;
    }

    public function isClosed(): bool
    {
        return $this->closed;
    }
}
