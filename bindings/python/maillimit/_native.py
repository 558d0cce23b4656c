# SPDX-License-Identifier: MIT
"""Loading libmaillimit with ctypes and declaring its functions.

The library is looked up, first match wins, in:

1. the ``MAILLIMIT_LIBRARY`` environment variable (a path to ``libmaillimit.so*``);
2. ``pkg-config --variable=libdir maillimit`` (``libmaillimit.so.<SOVERSION>`` or
   ``libmaillimit.so`` in that directory);
3. the system search path (``ctypes.util.find_library("maillimit")``, then the plain
   soname ``libmaillimit.so.1``).

At import the run-time ``maillimit_version_number()`` is checked: its major version must be
the one this binding was written for. Functions that a (compatible, older) library does not
export are left out of :data:`lib` and raise :class:`NotImplementedError` when used.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from ctypes import (POINTER, Structure, c_char, c_char_p, c_int, c_int32, c_int64, c_size_t,
                    c_uint32, c_uint64, c_void_p)
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .constants import HEADER_VERSION_MAJOR
from .errors import LibraryNotFound

__all__ = ["lib", "library_path", "VerdictC", "StatusC", "RequestC", "HistoryRowC", "EpisodeC", "TopRowC",
           "SummaryC", "EventC", "EntityC", "has", "function", "check_version"]

SONAME = "libmaillimit.so.1"


class VerdictC(Structure):
    """``struct maillimit_verdict`` (version 1)."""
    _c_name_ = "maillimit_verdict"
    _fields_ = [
        ("version", c_uint32),
        ("decision", c_int32),
        ("reason", c_int32),
        ("level", c_int32),
        ("window", c_int32),
        ("reserved_", c_int32),
        ("limit", c_int64),
        ("count", c_int64),
        ("retry_after", c_int64),
        ("token", c_uint64),
    ]


class RequestC(Structure):
    """``struct maillimit_request`` (version 1)."""
    _c_name_ = "maillimit_request"
    _fields_ = [
        ("version", c_uint32),
        ("level", c_int32),
        ("sender", c_char_p),
        ("cost", c_int64),
    ]


class StatusC(Structure):
    """``struct maillimit_status`` (version 1)."""
    _c_name_ = "maillimit_status"
    _fields_ = [
        ("version", c_uint32),
        ("sending", c_int32),
        ("blocked_by", c_int32),
        ("reserved_", c_int32),
        ("count", c_int64),
        ("limit", c_int64),
        ("remaining", c_int64),
        ("retry_after", c_int64),
        ("reset_after", c_int64),
    ]


NAME_BUFFER = 321  # MAILLIMIT_NAME_BUFFER: a name and its NUL


class HistoryRowC(Structure):
    """``struct maillimit_history_row`` (version 1)."""
    _c_name_ = "maillimit_history_row"
    _fields_ = [
        ("version", c_uint32),
        ("reserved_", c_int32),
        ("hour_start", c_int64),
        ("sent", c_int64),
        ("denied", c_int64),
        ("exempt", c_int64),
    ]


class EpisodeC(Structure):
    """``struct maillimit_episode`` (version 1)."""
    _c_name_ = "maillimit_episode"
    _fields_ = [
        ("version", c_uint32),
        ("level", c_int32),
        ("window", c_int32),
        ("ongoing", c_int32),
        ("started", c_int64),
        ("ended", c_int64),
        ("limit", c_int64),
        ("denied", c_int64),
        ("name", c_char * NAME_BUFFER),
    ]


class TopRowC(Structure):
    """``struct maillimit_top_row`` (version 1)."""
    _c_name_ = "maillimit_top_row"
    _fields_ = [
        ("version", c_uint32),
        ("level", c_int32),
        ("sent", c_int64),
        ("denied", c_int64),
        ("exempt", c_int64),
        ("name", c_char * NAME_BUFFER),
    ]


class SummaryC(Structure):
    """``struct maillimit_summary`` (version 1)."""
    _c_name_ = "maillimit_summary"
    _fields_ = [
        ("version", c_uint32),
        ("reserved_", c_int32),
        ("sent", c_int64),
        ("denied", c_int64),
        ("exempt", c_int64),
        ("unattributed", c_int64),
        ("limited_entities", c_int64),
    ]


class EventC(Structure):
    """``struct maillimit_event`` (version 1)."""
    _c_name_ = "maillimit_event"
    _fields_ = [
        ("version", c_uint32),
        ("type", c_int32),
        ("level", c_int32),
        ("window", c_int32),
        ("time", c_int64),
        ("limit", c_int64),
        ("denied", c_int64),
        ("seq", c_uint64),
        ("name", c_char * NAME_BUFFER),
    ]


class EntityC(Structure):
    """``struct maillimit_entity`` (version 1)."""
    _c_name_ = "maillimit_entity"
    _fields_ = [
        ("version", c_uint32),
        ("level", c_int32),
        ("implicit", c_int32),
        ("reserved_", c_int32),
        ("name", c_char * NAME_BUFFER),
        ("parent", c_char * NAME_BUFFER),
    ]


# The handle is opaque: a void pointer is all the binding needs.
handle_p = c_void_p

# name -> (restype, argtypes). Every MAILLIMIT_API function of include/maillimit.h.
PROTOTYPES: Dict[str, Tuple[Any, Sequence[Any]]] = {
    # Library information
    "maillimit_strerror": (c_char_p, [c_int]),
    "maillimit_errname": (c_char_p, [c_int]),
    "maillimit_version_number": (c_uint32, []),
    "maillimit_version_string": (c_char_p, []),
    # Lifecycle
    "maillimit_new": (c_int, [POINTER(handle_p)]),
    "maillimit_free": (None, [handle_p]),
    # Hierarchy
    "maillimit_plan_add": (c_int, [handle_p, c_char_p]),
    "maillimit_subscription_add": (c_int, [handle_p, c_char_p, c_char_p]),
    "maillimit_domain_add": (c_int, [handle_p, c_char_p, c_char_p]),
    "maillimit_mailbox_add": (c_int, [handle_p, c_char_p]),
    "maillimit_sysuser_add": (c_int, [handle_p, c_char_p, c_char_p]),
    "maillimit_remove": (c_int, [handle_p, c_int, c_char_p]),
    "maillimit_sysuser_remove": (c_int, [handle_p, c_char_p]),
    "maillimit_sysuser_move": (c_int, [handle_p, c_char_p, c_char_p]),
    "maillimit_domain_move": (c_int, [handle_p, c_char_p, c_char_p]),
    "maillimit_subscription_plan_set": (c_int, [handle_p, c_char_p, c_char_p]),
    # Limits, flags and server settings
    "maillimit_limit_set": (c_int, [handle_p, c_int, c_char_p, c_int, c_int, c_int64]),
    "maillimit_limit_configured": (c_int, [handle_p, c_int, c_char_p, c_int, c_int,
                                      POINTER(c_int64)]),
    "maillimit_limit_effective": (c_int, [handle_p, c_int, c_char_p, c_int, POINTER(c_int64)]),
    "maillimit_enabled_set": (c_int, [handle_p, c_int]),
    "maillimit_enabled_get": (c_int, [handle_p, POINTER(c_int)]),
    "maillimit_flag_set": (c_int, [handle_p, c_int, c_char_p, c_int, c_int]),
    "maillimit_flag_effective": (c_int, [handle_p, c_int, c_char_p, c_int, POINTER(c_int)]),
    "maillimit_flag_configured": (c_int, [handle_p, c_int, c_char_p, c_int, POINTER(c_int)]),
    "maillimit_unit_set": (c_int, [handle_p, c_int]),
    "maillimit_unit_get": (c_int, [handle_p, POINTER(c_int)]),
    # Decisions
    "maillimit_verdict_init": (c_int, [POINTER(VerdictC), c_uint32]),
    "maillimit_decide": (c_int, [handle_p, c_int, c_char_p, c_int64, c_int64,
                                 POINTER(VerdictC)]),
    "maillimit_reserve": (c_int, [handle_p, c_int, c_char_p, c_int64, c_int64,
                                  POINTER(VerdictC)]),
    "maillimit_request_init": (c_int, [POINTER(RequestC), c_uint32]),
    "maillimit_decide_many": (c_int, [handle_p, POINTER(RequestC), c_size_t, c_int64,
                                      POINTER(VerdictC), POINTER(c_size_t)]),
    "maillimit_commit": (c_int, [handle_p, c_uint64]),
    "maillimit_release": (c_int, [handle_p, c_uint64]),
    "maillimit_reset": (c_int, [handle_p, c_int, c_char_p]),
    "maillimit_status_init": (c_int, [POINTER(StatusC), c_uint32]),
    "maillimit_status_get": (c_int, [handle_p, c_int, c_char_p, c_int, c_int64,
                                     POINTER(StatusC)]),
    # Configuration text
    "maillimit_config_load": (c_int, [handle_p, c_char_p, c_char_p, c_size_t]),
    "maillimit_config_load_mem": (c_int, [handle_p, c_char_p, c_size_t, c_char_p, c_size_t]),
    "maillimit_config_apply": (c_int, [handle_p, c_char_p, c_char_p, c_size_t]),
    "maillimit_config_apply_mem": (c_int, [handle_p, c_char_p, c_size_t, c_char_p, c_size_t]),
    # Snapshots
    "maillimit_snapshot_save": (c_int, [handle_p, c_char_p, c_char_p, c_size_t]),
    "maillimit_snapshot_load": (c_int, [handle_p, c_char_p, c_char_p, c_size_t]),
    "maillimit_snapshot_save_mem": (c_int, [handle_p, POINTER(c_void_p), POINTER(c_size_t),
                                            c_char_p, c_size_t]),
    "maillimit_snapshot_load_mem": (c_int, [handle_p, c_char_p, c_size_t, c_char_p, c_size_t]),
    "maillimit_buffer_free": (None, [c_void_p]),
    # Reports and events (iterators are opaque pointers too)
    "maillimit_tick": (c_int, [handle_p, c_int64]),
    "maillimit_retention_set": (c_int, [handle_p, c_int64]),
    "maillimit_retention_get": (c_int, [handle_p, POINTER(c_int64)]),
    "maillimit_history_open": (c_int, [handle_p, c_int, c_char_p, c_int64, c_int64, c_int64,
                                       POINTER(c_void_p)]),
    "maillimit_history_row_init": (c_int, [POINTER(HistoryRowC), c_uint32]),
    "maillimit_history_next": (c_int, [c_void_p, POINTER(HistoryRowC)]),
    "maillimit_history_close": (None, [c_void_p]),
    "maillimit_episodes_open": (c_int, [handle_p, c_int, c_char_p, c_int64, c_int64, c_int64,
                                        POINTER(c_void_p)]),
    "maillimit_episode_init": (c_int, [POINTER(EpisodeC), c_uint32]),
    "maillimit_episodes_next": (c_int, [c_void_p, POINTER(EpisodeC)]),
    "maillimit_episodes_close": (None, [c_void_p]),
    "maillimit_top_row_init": (c_int, [POINTER(TopRowC), c_uint32]),
    "maillimit_top": (c_int, [handle_p, c_int, c_int, c_int64, c_int64, c_int, c_char_p,
                              c_int64, POINTER(TopRowC), POINTER(c_size_t)]),
    "maillimit_summary_init": (c_int, [POINTER(SummaryC), c_uint32]),
    "maillimit_summary_get": (c_int, [handle_p, c_int, c_char_p, c_int64, c_int64, c_int64,
                                      POINTER(SummaryC)]),
    "maillimit_event_init": (c_int, [POINTER(EventC), c_uint32]),
    "maillimit_events_next": (c_int, [handle_p, c_int64, POINTER(EventC)]),
    "maillimit_events_dropped": (c_int, [handle_p, POINTER(c_uint64)]),
    # Listing the hierarchy
    "maillimit_entity_init": (c_int, [POINTER(EntityC), c_uint32]),
    "maillimit_list_open": (c_int, [handle_p, c_int, c_int, c_char_p, c_int, POINTER(c_void_p)]),
    "maillimit_list_next": (c_int, [c_void_p, POINTER(EntityC)]),
    "maillimit_list_count": (c_int, [c_void_p, POINTER(c_size_t)]),
    "maillimit_list_close": (None, [c_void_p]),
    "maillimit_generation": (c_int, [handle_p, POINTER(c_uint64)]),
}


def _pkg_config_libdir() -> Optional[str]:
    exe = shutil.which("pkg-config")
    if not exe:
        return None
    try:
        r = subprocess.run([exe, "--variable=libdir", "maillimit"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    libdir = r.stdout.strip()
    return libdir if r.returncode == 0 and libdir else None


def _candidates() -> List[Tuple[str, str]]:
    """(how it was found, path or name) in the order they are tried."""
    out: List[Tuple[str, str]] = []
    env = os.environ.get("MAILLIMIT_LIBRARY")
    if env:
        return [("MAILLIMIT_LIBRARY", env)]  # an explicit choice is never second-guessed
    libdir = _pkg_config_libdir()
    if libdir:
        for name in (SONAME, "libmaillimit.so"):
            path = os.path.join(libdir, name)
            if os.path.exists(path):
                out.append(("pkg-config", path))
                break
    found = ctypes.util.find_library("maillimit")
    if found:
        out.append(("system path", found))
    out.append(("system path", SONAME))
    return out


def _load() -> Tuple[ctypes.CDLL, str]:
    tried = []
    for how, what in _candidates():
        try:
            return ctypes.CDLL(what), what
        except OSError as e:
            tried.append(f"{what} ({how}): {e}")
    raise LibraryNotFound("libmaillimit not found; set MAILLIMIT_LIBRARY to the path of "
                          "libmaillimit.so, or install it where pkg-config or the dynamic "
                          "loader finds it. Tried: " + "; ".join(tried))


lib, library_path = _load()

_missing: Dict[str, str] = {}
for _name, (_res, _args) in PROTOTYPES.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError:
        _missing[_name] = library_path
        continue
    _f.restype = _res
    _f.argtypes = list(_args)

for _required in ("maillimit_version_number", "maillimit_strerror", "maillimit_new",
                  "maillimit_free"):
    if _required in _missing:
        raise LibraryNotFound(f"{library_path} does not export {_required}: not libmaillimit?")



def check_version(number: int, path: str) -> None:
    """Raise LibraryNotFound unless @p number has the major version this binding needs."""
    if number // 10000 != HEADER_VERSION_MAJOR:
        raise LibraryNotFound(
            f"{path} is libmaillimit {number // 10000}.{number // 100 % 100}.{number % 100}; "
            f"this binding needs major version {HEADER_VERSION_MAJOR}")


_version = lib.maillimit_version_number()
check_version(_version, library_path)


def has(name: str) -> bool:
    """Whether the loaded library exports the C function @p name."""
    return name in PROTOTYPES and name not in _missing


def function(name: str) -> Callable[..., Any]:
    """The declared C function @p name; NotImplementedError if the library lacks it."""
    if name in _missing or name not in PROTOTYPES:
        raise NotImplementedError(f"{library_path} (version {_version}) does not export {name}")
    return getattr(lib, name)
