# SPDX-License-Identifier: MIT
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

A panel that manages a running maillimitd uses ``Client`` instead of ``Limiter``: the same
methods (the interface ``MaillimitAPI``) over the daemon's admin socket (needs msgpack)::

    from maillimit import Client, Level
    with Client("/var/lib/maillimit/maillimitd.sock") as ml:
        page = ml.list_page(Level.MAILBOX, Level.SUBSCRIPTION, "acme", count=50)
"""
from ._native import library_path
from .constants import (COST_MAX, DEFAULT, ENTITY_VERSION, HEADER_VERSION_MAJOR,
                        HEADER_VERSION_MINOR, HEADER_VERSION_NUMBER, LIST_SYSUSER, NAME_MAX,
                        REQUEST_VERSION, STATUS_VERSION, UNLIMITED, VERDICT_VERSION, Decision,
                        ErrorCode, EventType, Flag, Level, Metric, Reason, Unit, Window)
from .errors import (Busy, BufferTooSmall, DaemonTimeout, DaemonUnavailable, Done, Exists,
                     FileError, FormatError, InvalidArgument, LibraryNotFound, MaillimitError,
                     NotFound, OutOfMemory, RangeError, VersionError)
from .api import MaillimitAPI
from .limiter import Limiter, Name, errname, strerror, version_number, version_string
from .iterators import EntityIterator, NativeIterator
from .remote import Client, ListIterator, default_socket
from .results import (Entity, EntityDetails, Episode, Event, HistoryRow, ListPage, Status,
                      Summary, TopRow, Verdict)

__version__ = "1.0.0"

__all__ = [
    "MaillimitAPI", "Limiter", "Client", "ListIterator", "default_socket",
    "EntityDetails", "ListPage", "DaemonUnavailable", "DaemonTimeout", "Verdict", "Status", "HistoryRow", "Episode", "TopRow", "Summary", "Event",
    "Entity", "NativeIterator", "EntityIterator", "Name",
    "UNLIMITED", "DEFAULT", "COST_MAX", "NAME_MAX", "VERDICT_VERSION", "STATUS_VERSION",
    "REQUEST_VERSION", "ENTITY_VERSION", "LIST_SYSUSER",
    "HEADER_VERSION_MAJOR", "HEADER_VERSION_MINOR", "HEADER_VERSION_NUMBER",
    "ErrorCode", "Level", "Window", "Decision", "Reason", "Flag", "Unit",
    "EventType", "Metric",
    "MaillimitError", "InvalidArgument", "OutOfMemory", "NotFound", "Exists", "RangeError",
    "FileError", "FormatError", "BufferTooSmall", "Done", "Busy", "VersionError",
    "LibraryNotFound",
    "errname", "strerror", "version_number", "version_string", "library_path",
]
