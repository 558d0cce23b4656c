<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

use FFI;
use FFI\CData;

/**
 * A C iterator (maillimit_history_*, maillimit_episodes_* or maillimit_list_*) for foreach.
 * Each row is a fresh $struct, passed to the C function $initName first when the reader
 * wants an initialised (versioned) row.
 *
 * It is closed when exhausted, by close(), when the object is destroyed, or by
 * Limiter::close() (an iterator must not outlive its handle). It can be iterated once.
 *
 * @template T
 * @implements \IteratorAggregate<int, T>
 */
class NativeIterator implements \IteratorAggregate
{
    private ?CData $it;

    /** @param \Closure(CData): T $convert */
    public function __construct(
        private readonly FFI $ffi,
        CData $it,
        private readonly string $nextName,
        private readonly string $closeName,
        private readonly string $struct,
        private readonly \Closure $convert,
        private readonly ?string $initName = null,
        private readonly int $initVersion = 0,
    ) {
        $this->it = $it;
    }

    /** @return \Generator<int, T> */
    public function getIterator(): \Generator
    {
        $i = 0;
        while ($this->it !== null) {
            $row = $this->ffi->new($this->struct);
            if ($this->initName !== null) {
                $rc = $this->ffi->{$this->initName}(FFI::addr($row), $this->initVersion);
                if ($rc !== 0) {
                    $this->close();
                    Library::raise($rc, $this->initName, "version {$this->initVersion}");
                }
            }
            $rc = $this->ffi->{$this->nextName}($this->it, FFI::addr($row));
            if ($rc === ErrorCode::EDONE->value) {
                $this->close();
                return;
            }
            if ($rc !== 0) {
                $this->close();
                Library::raise($rc, $this->nextName);
            }
            yield $i++ => ($this->convert)($row);
        }
    }

    /** @return list<T> every remaining item; the iterator is closed afterwards. */
    public function toArray(): array
    {
        try {
            return iterator_to_array($this->getIterator(), false);
        } finally {
            $this->close();
        }
    }

    /** Free the C iterator; idempotent. */
    public function close(): void
    {
        if ($this->it !== null) {
            $it = $this->it;
            $this->it = null;
            $this->ffi->{$this->closeName}($it);
        }
    }

    public function isClosed(): bool
    {
        return $this->it === null;
    }

    public function __destruct()
    {
        $this->close();
    }
}
