# SPDX-License-Identifier: MIT
"""Exceptions: every negative ``MAILLIMIT_E*`` code maps to one class.

All of them derive from :class:`MaillimitError`, which carries the code (``.code``), the
library's text for it (``.message``, from ``maillimit_strerror()``), the C function that
failed (``.function``) and, when the library wrote one, its detailed message (``.detail``,
e.g. ``"panel.conf:7: bad value ..."`` from the configuration loader). Each class also
derives from the closest built-in exception, so ``except ValueError`` or ``except OSError``
work as a Python programmer expects.
"""
from __future__ import annotations

from typing import Dict, Optional, Type

from .constants import ErrorCode

__all__ = [
    "MaillimitError", "InvalidArgument", "OutOfMemory", "NotFound", "Exists", "RangeError",
    "FileError", "FormatError", "BufferTooSmall", "Done", "Busy", "VersionError",
    "LibraryNotFound", "DaemonUnavailable", "DaemonTimeout", "error_for",
]


class MaillimitError(Exception):
    """Base class of every error the library reports.

    Attributes:
        code: the negative ``MAILLIMIT_E*`` code (an :class:`ErrorCode` when known).
        message: the library's static text for the code (``maillimit_strerror()``).
        function: the C function that returned the code, e.g. ``"maillimit_domain_add"``.
        detail: the library's detailed message (configuration and snapshot errors), or None.
    """

    code: int
    message: str
    function: Optional[str]
    detail: Optional[str]

    def __init__(self, code: int, message: str, function: Optional[str] = None,
                 detail: Optional[str] = None, context: Optional[str] = None) -> None:
        try:
            code = ErrorCode(code)
        except ValueError:
            pass
        self.code = code
        self.message = message
        self.function = function
        self.detail = detail or None
        self.context = context
        super().__init__(self._text())

    def _text(self) -> str:
        where = self.function or "maillimit"
        if self.context:
            where += f"({self.context})"
        if self.detail and self.detail.endswith(self.message):
            # a daemon's message names the object and ends with the reason already:
            # "limit.set: mailbox joe@x.example: not found"
            return f"{where}: {self.detail}"
        text = f"{where}: {self.message}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return self._text()

    def __reduce__(self):  # picklable despite the custom __init__
        return (self.__class__, (int(self.code), self.message, self.function, self.detail,
                                 self.context))


class InvalidArgument(MaillimitError, ValueError):
    """``MAILLIMIT_EINVAL``: a bad level, window, name or value, or a closed limiter."""


class OutOfMemory(MaillimitError, MemoryError):
    """``MAILLIMIT_ENOMEM``: the library could not allocate; nothing changed."""


class NotFound(MaillimitError, LookupError):
    """``MAILLIMIT_ENOTFOUND``: the named entity, file or token does not exist."""


class Exists(MaillimitError):
    """``MAILLIMIT_EEXISTS``: the entity exists with another placement (use a move call)."""


class RangeError(MaillimitError, ValueError):
    """``MAILLIMIT_ERANGE``: a number is out of range (cost, counter capacity)."""


class FileError(MaillimitError, OSError):
    """``MAILLIMIT_EIO``: a file could not be read or written."""


class FormatError(MaillimitError, ValueError):
    """``MAILLIMIT_EFORMAT``: malformed configuration text or snapshot."""


class BufferTooSmall(MaillimitError):
    """``MAILLIMIT_ENOBUFS``: a caller buffer was too small (the binding normally retries)."""


class Done(MaillimitError):
    """``MAILLIMIT_EDONE``: an iterator has no more items (the binding ends the loop)."""


class Busy(MaillimitError):
    """``MAILLIMIT_EBUSY``: the resource is in use."""


class VersionError(MaillimitError):
    """``MAILLIMIT_EVERSION``: an unsupported struct or file-format version."""


class DaemonUnavailable(FileError, ConnectionError):
    """:class:`maillimit.Client` only: maillimitd cannot be reached, or the connection broke
    while a request was answered (``code`` is ``MAILLIMIT_EIO``; ``detail`` says why). A
    request that was sent may have been executed."""


class DaemonTimeout(FileError, TimeoutError):
    """:class:`maillimit.Client` only: maillimitd did not answer within the client's timeout
    (``code`` is ``MAILLIMIT_EIO``). The connection is closed (a late answer is never taken
    for the next request's); the next call connects again. The request may have been
    executed."""


class LibraryNotFound(ImportError):
    """The shared library could not be found or is an incompatible version."""


_BY_CODE: Dict[int, Type[MaillimitError]] = {
    ErrorCode.EINVAL: InvalidArgument,
    ErrorCode.ENOMEM: OutOfMemory,
    ErrorCode.ENOTFOUND: NotFound,
    ErrorCode.EEXISTS: Exists,
    ErrorCode.ERANGE: RangeError,
    ErrorCode.EIO: FileError,
    ErrorCode.EFORMAT: FormatError,
    ErrorCode.ENOBUFS: BufferTooSmall,
    ErrorCode.EDONE: Done,
    ErrorCode.EBUSY: Busy,
    ErrorCode.EVERSION: VersionError,
}


def error_for(code: int) -> Type[MaillimitError]:
    """The exception class for a negative code (:class:`MaillimitError` if unknown)."""
    return _BY_CODE.get(code, MaillimitError)
