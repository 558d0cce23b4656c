"""maillimit: Python binding of libmaillimit (outgoing mail limits per mailbox, domain,
subscription and server), in pure ctypes over the installed shared library.

    from maillimit import Limiter, Level, Window
    with Limiter() as ml:
        ml.subscription_add("acme")
        ml.domain_add("acme.example", "acme")
        ml.limit_set(Level.DOMAIN, "acme.example", Level.MAILBOX, Window.HOUR, 100)
        verdict = ml.decide(Level.MAILBOX, "ceo@acme.example", now=1704103200)

The library is found through MAILLIMIT_LIBRARY, pkg-config or the system path (see
maillimit._native); its major version is checked at import.
"""
from ._native import library_path
from .constants import (COST_MAX, DEFAULT, ENTITY_VERSION, HEADER_VERSION_MAJOR,
                        HEADER_VERSION_MINOR, HEADER_VERSION_NUMBER, LIST_SYSUSER, NAME_MAX,
                        STATUS_VERSION, UNLIMITED, VERDICT_VERSION, Decision, ErrorCode,
                        EventType, Flag, Level, Metric, Reason, Unit, Window)
from .errors import (Busy, BufferTooSmall, Done, Exists, FileError, FormatError,
                     InvalidArgument, LibraryNotFound, MaillimitError, NotFound, OutOfMemory,
                     RangeError, VersionError)
from .limiter import Limiter, Name, strerror, version_number, version_string
from .iterators import EntityIterator, NativeIterator
from .results import Entity, Episode, Event, HistoryRow, Status, Summary, TopRow, Verdict

__version__ = "0.2.0"

__all__ = [
    "Limiter", "Verdict", "Status", "HistoryRow", "Episode", "TopRow", "Summary", "Event",
    "Entity", "NativeIterator", "EntityIterator", "Name",
    "UNLIMITED", "DEFAULT", "COST_MAX", "NAME_MAX", "VERDICT_VERSION", "STATUS_VERSION",
    "ENTITY_VERSION", "LIST_SYSUSER",
    "HEADER_VERSION_MAJOR", "HEADER_VERSION_MINOR", "HEADER_VERSION_NUMBER",
    "ErrorCode", "Level", "Window", "Decision", "Reason", "Flag", "Unit",
    "EventType", "Metric",
    "MaillimitError", "InvalidArgument", "OutOfMemory", "NotFound", "Exists", "RangeError",
    "FileError", "FormatError", "BufferTooSmall", "Done", "Busy", "VersionError",
    "LibraryNotFound",
    "strerror", "version_number", "version_string", "library_path",
]
