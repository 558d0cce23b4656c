<?php
// SPDX-License-Identifier: MIT

declare(strict_types=1);

namespace Maillimit;

use FFI;
use FFI\CData;

/**
 * The iterator of Limiter::listOpen() (maillimit_list_*): a copy of the listing taken when
 * it was opened, for foreach. count() is how many entities it holds in all, those already
 * read included (maillimit_list_count()), closed or not.
 *
 * @extends NativeIterator<Entity>
 */
final class EntityIterator extends NativeIterator implements \Countable
{
    private int $count;

    /** @internal */
    public function __construct(FFI $ffi, CData $it)
    {
        parent::__construct($ffi, $it, 'maillimit_list_next', 'maillimit_list_close',
            'maillimit_entity', Entity::fromC(...), 'maillimit_entity_init',
            Limiter::ENTITY_VERSION);
        $n = $ffi->new('size_t');
        $rc = $ffi->maillimit_list_count($it, FFI::addr($n));
        if ($rc !== 0) {
            $this->close();
            Library::raise($rc, 'maillimit_list_count');
        }
        $this->count = $n->cdata;
    }

    /** maillimit_list_count(): the number of entities listed, those already read included. */
    public function count(): int
    {
        return $this->count;
    }
}
