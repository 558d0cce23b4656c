# SPDX-License-Identifier: MIT
"""Pull iterators over the library's readers (history, episodes, the hierarchy listing)."""
from __future__ import annotations

import weakref
from ctypes import byref, c_size_t, c_void_p
from typing import Any, Callable, Generic, Iterator, List, Optional, Type, TypeVar

from ._native import lib
from .constants import ErrorCode
from .errors import error_for

__all__ = ["NativeIterator", "EntityIterator"]

T = TypeVar("T")


def _close_native(close: Callable[[Any], None], ptr: int) -> None:
    close(c_void_p(ptr))


class NativeIterator(Generic[T]):
    """A C iterator (``maillimit_<kind>_open/_next/_close``) as a Python iterator.

    Each row is a fresh ``struct``, passed to ``init`` first when the C reader wants an
    initialised (versioned) row. It is closed when exhausted, by :meth:`close` / ``with``,
    by the garbage collector, or by :meth:`Limiter.close` (an iterator must not outlive its
    limiter's handle). Use it from one thread at a time.
    """

    __slots__ = ("_ptr", "_next", "_struct", "_init", "_convert", "_finalizer", "_cname",
                 "__weakref__")

    def __init__(self, ptr: c_void_p, next_fn: Callable[..., int], close_fn: Callable[..., None],
                 struct: Type[Any], convert: Callable[[Any], T], cname: str,
                 init: Optional[Callable[[Any], None]] = None) -> None:
        self._ptr: Optional[c_void_p] = ptr
        self._next = next_fn
        self._struct = struct
        self._init = init
        self._convert = convert
        self._cname = cname
        self._finalizer = weakref.finalize(self, _close_native, close_fn, ptr.value)

    def __iter__(self) -> "NativeIterator[T]":
        return self

    def __next__(self) -> T:
        ptr = self._ptr
        if ptr is None:
            raise StopIteration
        row = self._struct()
        if self._init is not None:
            self._init(byref(row))
        rc = self._next(ptr, byref(row))
        if rc == ErrorCode.EDONE:
            self.close()
            raise StopIteration
        if rc:
            self.close()
            raise error_for(rc)(rc, lib.maillimit_strerror(rc).decode(), self._cname)
        return self._convert(row)

    def close(self) -> None:
        """Free the C iterator; idempotent."""
        self._ptr = None
        self._finalizer()

    _close = close  # what Limiter.close() calls on its children

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self) -> "NativeIterator[T]":
        if self._ptr is None:
            code = ErrorCode.EINVAL
            raise error_for(code)(code, lib.maillimit_strerror(code).decode(), None,
                                  "the iterator is closed")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def to_list(self) -> List[T]:
        """Every remaining item, then close."""
        with self:
            return list(self)


class EntityIterator(NativeIterator[T]):
    """The iterator of :meth:`Limiter.list_open` (``maillimit_list_*``): a copy of the
    listing taken when it was opened. :meth:`count` is how many entities it holds in all,
    those already read included (``maillimit_list_count``), closed or not."""

    __slots__ = ("_count",)

    def __init__(self, ptr: c_void_p, next_fn: Callable[..., int], close_fn: Callable[..., None],
                 count_fn: Callable[..., int], struct: Type[Any], convert: Callable[[Any], T],
                 cname: str, init: Optional[Callable[[Any], None]] = None) -> None:
        super().__init__(ptr, next_fn, close_fn, struct, convert, cname, init)
        n = c_size_t()
        rc = count_fn(ptr, byref(n))
        if rc:
            self.close()
            raise error_for(rc)(rc, lib.maillimit_strerror(rc).decode(), "maillimit_list_count")
        self._count = n.value

    def count(self) -> int:
        """How many entities the listing holds in all (``maillimit_list_count``)."""
        return self._count
