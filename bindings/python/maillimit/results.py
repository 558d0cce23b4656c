# SPDX-License-Identifier: MIT
"""Frozen dataclasses for what the library returns in its versioned structs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

from .constants import Decision, EventType, Flag, Level, Reason, Window

__all__ = ["Verdict", "Status", "HistoryRow", "Episode", "TopRow", "Summary", "Event",
           "Entity", "EntityDetails", "ListPage"]


# Enum members by value: indexing a tuple is ~20x faster than calling the enum class, and
# verdicts are built on the hot path. A value this binding does not know (a newer library)
# comes back as the plain int.
_LEVELS = tuple(Level)
_WINDOWS = tuple(Window)
_DECISIONS = tuple(Decision)
_REASONS = tuple(Reason)
_EVENT_TYPES = {e.value: e for e in EventType}


def _member(table, v: int):
    return table[v] if 0 <= v < len(table) else v


def _level(v: int) -> Optional[Level]:
    return None if v < 0 else _member(_LEVELS, v)


def _window(v: int) -> Optional[Window]:
    return None if v < 0 else _member(_WINDOWS, v)


_new = object.__new__


def _text(b: bytes) -> str:
    # Names are bytes (any byte >= 0x80 is allowed); surrogateescape makes every name a str
    # that the binding encodes back to the very same bytes.
    return b.decode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Verdict:
    """The outcome of :meth:`Limiter.decide` / :meth:`Limiter.reserve`.

    ``level`` and ``window`` name the denying counter (None when allowed or when no counter
    denied). ``limit`` and ``count`` are the denying counter's (when allowed: the sender's own
    hourly counter's), ``count`` being the count before this request; ``limit`` is
    :data:`UNLIMITED` (-1) for no limit. ``retry_after`` is in seconds, -1 for never, 0 when
    allowed. ``token`` is for :meth:`Limiter.commit` / :meth:`Limiter.release` (0 when denied).
    """
    decision: Decision
    reason: Reason
    level: Optional[Level]
    window: Optional[Window]
    limit: int
    count: int
    retry_after: int
    token: int

    @property
    def allowed(self) -> bool:
        """True when the decision is ALLOW."""
        return self.decision == Decision.ALLOW

    @property
    def denied(self) -> bool:
        """True when the decision is DENY."""
        return self.decision == Decision.DENY

    @classmethod
    def _from_c(cls, v) -> "Verdict":
        # The hot path: fill the frozen instance directly (what the generated __init__
        # does, minus a call per field).
        self = _new(cls)
        lv, win = v.level, v.window
        self.__dict__.update(
            decision=_member(_DECISIONS, v.decision), reason=_member(_REASONS, v.reason),
            level=None if lv < 0 else _member(_LEVELS, lv),
            window=None if win < 0 else _member(_WINDOWS, win),
            limit=v.limit, count=v.count, retry_after=v.retry_after, token=v.token)
        return self


@dataclass(frozen=True)
class Status:
    """The state of one entity's own counter in one window (:meth:`Limiter.status`).

    ``sending`` is True when one more unit would be allowed now (every level and window
    considered); ``blocked_by`` names the blocking level (own or ancestor) or is None.
    ``limit`` and ``remaining`` are -1 when unlimited; ``retry_after`` is -1 for never and 0
    when sending; ``reset_after`` is the seconds until the own window count is back to 0.
    """
    sending: bool
    blocked_by: Optional[Level]
    count: int
    limit: int
    remaining: int
    retry_after: int
    reset_after: int

    @classmethod
    def _from_c(cls, s) -> "Status":
        return cls(bool(s.sending), _level(s.blocked_by), s.count, s.limit, s.remaining,
                   s.retry_after, s.reset_after)


@dataclass(frozen=True)
class HistoryRow:
    """One clock hour (UTC) of an entity's history: units sent (counted against limits),
    denied and sent exempt."""
    hour_start: int
    sent: int
    denied: int
    exempt: int

    @classmethod
    def _from_c(cls, r) -> "HistoryRow":
        return cls(r.hour_start, r.sent, r.denied, r.exempt)


@dataclass(frozen=True)
class Episode:
    """A period during which an entity was over one of its limits.

    ``started`` is the time of the first denial; ``ended`` the time it was back to normal,
    or, while ``ongoing``, when it will be (-1: not before a limit change or reset).
    ``denied`` counts the units denied by this entity's limit during the episode. The server
    is named ``""``.
    """
    level: Level
    name: str
    window: Window
    ongoing: bool
    started: int
    ended: int
    limit: int
    denied: int

    @classmethod
    def _from_c(cls, e) -> "Episode":
        return cls(_level(e.level), _text(e.name), _window(e.window), bool(e.ongoing),
                   e.started, e.ended, e.limit, e.denied)


@dataclass(frozen=True)
class TopRow:
    """One entity of a top list with its totals over the range."""
    level: Level
    name: str
    sent: int
    denied: int
    exempt: int

    @classmethod
    def _from_c(cls, r) -> "TopRow":
        return cls(_level(r.level), _text(r.name), r.sent, r.denied, r.exempt)


@dataclass(frozen=True)
class Summary:
    """Totals over a range and scope; ``unattributed`` is non-zero in server scope only;
    ``limited_entities`` counts entities with an episode overlapping the range."""
    sent: int
    denied: int
    exempt: int
    unattributed: int
    limited_entities: int

    @classmethod
    def _from_c(cls, s) -> "Summary":
        return cls(s.sent, s.denied, s.exempt, s.unattributed, s.limited_entities)


@dataclass(frozen=True)
class Event:
    """A limit edge: LIMIT_REACHED (an episode starts) or BACK_TO_NORMAL (it ends).

    ``seq`` runs 1, 2, 3... in queue order; a gap means events were dropped. ``denied`` is
    the units denied during the episode for BACK_TO_NORMAL, else 0. The server is ``""``.
    """
    type: EventType
    level: Level
    name: str
    window: Window
    time: int
    limit: int
    denied: int
    seq: int

    @classmethod
    def _from_c(cls, e) -> "Event":
        return cls(_EVENT_TYPES.get(e.type, e.type), _level(e.level), _text(e.name),
                   _window(e.window), e.time, e.limit, e.denied, e.seq)


@dataclass(frozen=True)
class Entity:
    """One entity of :meth:`Limiter.list`.

    ``level`` is a :class:`Level` (PLAN, SUBSCRIPTION, DOMAIN, MAILBOX), or the plain int
    :data:`LIST_SYSUSER` for a system user. ``name`` is lower case. ``parent`` is the plan
    of a subscription (``""`` if none), the subscription of a domain or system user, the
    domain of a mailbox, ``""`` for a plan. ``implicit`` is True for a mailbox made by its
    first decision rather than configured.
    """
    level: Union[Level, int]
    name: str
    parent: str
    implicit: bool

    @classmethod
    def _from_c(cls, e) -> "Entity":
        return cls(_level(e.level), _text(e.name), _text(e.parent), bool(e.implicit))


@dataclass(frozen=True)
class EntityDetails:
    """One entity of :meth:`Limiter.list_page`: its placement (as :class:`Entity`), the
    limits and flags it sets as set, and the status of its own counter.

    ``limits`` maps ``(target level, window)`` to the value as set there (:data:`DEFAULT`
    -2 when it inherits, :data:`UNLIMITED` -1) for the limits the level sets: a mailbox its
    mailbox limit; a domain its domain and mailbox limits; a plan or subscription the
    subscription, domain and mailbox limits; a system user none. ``flags`` maps the flags
    the level has (EXEMPT; SENDMAIL too for plans and subscriptions) to 0, 1 or DEFAULT.
    ``status`` is None for plans and system users (no counter). A value, or the status, of
    an entity removed while the page was read is None.
    """
    level: Union[Level, int]
    name: str
    parent: str
    implicit: bool
    limits: Dict[Tuple[Level, Window], Optional[int]]
    flags: Dict[Flag, Optional[int]]
    status: Optional[Status]

    @property
    def entity(self) -> Entity:
        """The placement alone, as :meth:`Limiter.list` gives it."""
        return Entity(self.level, self.name, self.parent, self.implicit)


@dataclass(frozen=True)
class ListPage:
    """A page of :meth:`Limiter.list_page`: ``entities`` from ``offset`` of ``total`` in
    all, listed at hierarchy ``generation`` (pages of equal generation fit together)."""
    generation: int
    total: int
    offset: int
    entities: List[EntityDetails]
