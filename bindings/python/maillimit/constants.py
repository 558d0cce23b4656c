# SPDX-License-Identifier: MIT
"""Constants and enums of include/maillimit.h (values pinned by the C API)."""
from __future__ import annotations

from enum import IntEnum

__all__ = [
    "UNLIMITED", "DEFAULT", "COST_MAX", "NAME_MAX", "VERDICT_VERSION", "STATUS_VERSION",
    "REQUEST_VERSION",
    "HEADER_VERSION_MAJOR", "HEADER_VERSION_MINOR", "HEADER_VERSION_NUMBER",
    "NAME_BUFFER", "HISTORY_ROW_VERSION", "EPISODE_VERSION", "TOP_ROW_VERSION",
    "SUMMARY_VERSION", "EVENT_VERSION", "ENTITY_VERSION", "LIST_SYSUSER",
    "ErrorCode", "Level", "Window", "Decision", "Reason", "Flag", "Unit", "EventType", "Metric",
]

#: A limit value: no limit (also what limit_effective() and Status.limit report for "unlimited").
UNLIMITED: int = -1
#: A limit or flag value: inherit from the level above.
DEFAULT: int = -2
#: Largest cost of one request (MAILLIMIT_COST_MAX).
COST_MAX: int = 1000000
#: Longest name in bytes (MAILLIMIT_NAME_MAX).
NAME_MAX: int = 320
#: Struct versions this binding's ctypes layouts describe.
VERDICT_VERSION: int = 1
STATUS_VERSION: int = 1
REQUEST_VERSION: int = 1
HISTORY_ROW_VERSION: int = 1
EPISODE_VERSION: int = 1
TOP_ROW_VERSION: int = 1
SUMMARY_VERSION: int = 1
EVENT_VERSION: int = 1
ENTITY_VERSION: int = 1
#: What Limiter.list() can list besides the levels of Level: system users
#: (MAILLIMIT_LIST_SYSUSER; an Entity of a system user has this plain int as its level).
LIST_SYSUSER: int = 5
#: Size of the name buffers in report structs (MAILLIMIT_NAME_BUFFER).
NAME_BUFFER: int = 321
#: The header version this binding was written against; the library's major must match.
HEADER_VERSION_MAJOR: int = 1
HEADER_VERSION_MINOR: int = 0
HEADER_VERSION_NUMBER: int = 10000


class ErrorCode(IntEnum):
    """``MAILLIMIT_OK`` and the ``MAILLIMIT_E*`` codes."""
    OK = 0
    EINVAL = -1
    ENOMEM = -2
    ENOTFOUND = -3
    EEXISTS = -4
    ERANGE = -5
    EIO = -6
    EFORMAT = -7
    ENOBUFS = -8
    EDONE = -9
    EBUSY = -10
    EVERSION = -11


class Level(IntEnum):
    """Levels of the hierarchy, top to bottom (``MAILLIMIT_LEVEL_*``)."""
    SERVER = 0
    PLAN = 1
    SUBSCRIPTION = 2
    DOMAIN = 3
    MAILBOX = 4


class Window(IntEnum):
    """Sliding windows (``MAILLIMIT_WINDOW_*``)."""
    HOUR = 0
    DAY = 1


class Decision(IntEnum):
    """``MAILLIMIT_ALLOW`` / ``MAILLIMIT_DENY``."""
    ALLOW = 0
    DENY = 1


class Reason(IntEnum):
    """Why a verdict is what it is (``MAILLIMIT_REASON_*``)."""
    NONE = 0
    LIMIT = 1
    EXEMPT = 2
    DISABLED = 3
    UNKNOWN = 4
    NOT_ALLOWED = 5


class Flag(IntEnum):
    """Inherited flags (``MAILLIMIT_FLAG_*``)."""
    SENDMAIL = 0
    EXEMPT = 1


class Unit(IntEnum):
    """What one unit of cost is (``MAILLIMIT_UNIT_*``)."""
    MESSAGES = 0
    RECIPIENTS = 1


class EventType(IntEnum):
    """Limit edges (``MAILLIMIT_EVENT_*``)."""
    LIMIT_REACHED = 1
    BACK_TO_NORMAL = 2


class Metric(IntEnum):
    """What a top list ranks by (``MAILLIMIT_METRIC_*``)."""
    SENT = 0
    DENIED = 1
