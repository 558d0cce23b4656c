# SPDX-License-Identifier: MIT
"""The interface a control panel programs against: :class:`MaillimitAPI`.

Two classes implement it with the same methods, arguments, results and exceptions:

- :class:`maillimit.Limiter`, a handle of the library in this process;
- :class:`maillimit.Client`, a client of a running maillimitd's admin socket.

A panel written against this interface switches between them by its constructor::

    ml = Client("/var/lib/maillimit/maillimitd.sock")   # or: Limiter()

What only makes sense in one of them stays outside the interface: two-phase decisions
(``reserve``/``commit``/``release``), batches of decisions (``decide_many``), ``tick``,
configuration files and snapshots of the handle (``config_load``, ``snapshot_save``...) in
the Limiter; ``ping``, ``config_reload``, ``snapshot`` and ``stats`` of the daemon in the
Client."""
from __future__ import annotations

import abc
from typing import Any, Iterable, Iterator, List, Optional, Tuple, Union

from .constants import Level, Window
from .results import (Entity, Episode, Event, HistoryRow, ListPage, Status, Summary, TopRow,
                      Verdict)

__all__ = ["MaillimitAPI"]

Name = Union[str, bytes]


class MaillimitAPI(abc.ABC):
    """The methods :class:`Limiter` and :class:`Client` share (see each for the details)."""

    __slots__ = ()

    # -- lifecycle ---------------------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def closed(self) -> bool: ...

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- hierarchy ---------------------------------------------------------------------------
    @abc.abstractmethod
    def plan_add(self, plan: Name) -> None: ...

    @abc.abstractmethod
    def subscription_add(self, subscription: Name, plan: Optional[Name] = None) -> None: ...

    @abc.abstractmethod
    def domain_add(self, domain: Name, subscription: Name) -> None: ...

    @abc.abstractmethod
    def mailbox_add(self, address: Name) -> None: ...

    @abc.abstractmethod
    def sysuser_add(self, login: Name, subscription: Name) -> None: ...

    @abc.abstractmethod
    def remove(self, level: int, name: Name) -> None: ...

    @abc.abstractmethod
    def sysuser_remove(self, login: Name) -> None: ...

    @abc.abstractmethod
    def sysuser_move(self, login: Name, subscription: Name) -> None: ...

    @abc.abstractmethod
    def domain_move(self, domain: Name, subscription: Name) -> None: ...

    @abc.abstractmethod
    def subscription_plan_set(self, subscription: Name, plan: Optional[Name]) -> None: ...

    # -- limits, flags, settings -------------------------------------------------------------
    @abc.abstractmethod
    def limit_set(self, level: int, name: Optional[Name], target_level: int, window: int,
                  value: int) -> None: ...

    @abc.abstractmethod
    def limit_configured(self, level: int, name: Optional[Name], target_level: int,
                    window: int) -> int: ...

    @abc.abstractmethod
    def limit_effective(self, level: int, name: Optional[Name],
                        window: int = Window.HOUR) -> int: ...

    @abc.abstractmethod
    def enabled_set(self, on: bool = True) -> None: ...

    @abc.abstractmethod
    def enabled_get(self) -> bool: ...

    @abc.abstractmethod
    def flag_set(self, level: int, name: Optional[Name], flag: int,
                 value: Union[bool, int]) -> None: ...

    @abc.abstractmethod
    def flag_effective(self, level: int, name: Optional[Name], flag: int) -> bool: ...

    @abc.abstractmethod
    def flag_configured(self, level: int, name: Optional[Name], flag: int) -> int: ...

    @abc.abstractmethod
    def unit_set(self, unit: int) -> None: ...

    @abc.abstractmethod
    def unit_get(self) -> Any: ...

    # -- decisions and status ----------------------------------------------------------------
    @abc.abstractmethod
    def decide(self, level: int, sender: Name, cost: int = 1, now: int = 0) -> Verdict: ...

    @abc.abstractmethod
    def reset(self, level: int, name: Optional[Name]) -> None: ...

    @abc.abstractmethod
    def status_get(self, level: int, name: Optional[Name], window: int = Window.HOUR,
                   now: int = 0) -> Status: ...

    def status(self, level: int, name: Optional[Name], window: int = Window.HOUR,
               now: int = 0) -> Status:
        """Alias of :meth:`status_get`."""
        return self.status_get(level, name, window, now)

    @abc.abstractmethod
    def status_many(self, items: Iterable[Tuple[int, Optional[Name]]],
                    window: int = Window.HOUR, now: int = 0) -> List[Status]: ...

    # -- reports and events ------------------------------------------------------------------
    @abc.abstractmethod
    def retention_set(self, hours: int) -> None: ...

    @abc.abstractmethod
    def retention_get(self) -> int: ...

    @abc.abstractmethod
    def history_open(self, level: int, name: Optional[Name], start: int, end: int,
                     now: int = 0) -> Iterator[HistoryRow]: ...

    def history(self, level: int, name: Optional[Name], start: int, end: int,
                now: int = 0) -> List[HistoryRow]:
        """:meth:`history_open` as a list."""
        return self.history_open(level, name, start, end, now).to_list()  # type: ignore

    @abc.abstractmethod
    def episodes_open(self, level: int, name: Optional[Name], start: int, end: int,
                      now: int = 0) -> Iterator[Episode]: ...

    def episodes(self, level: int, name: Optional[Name], start: int, end: int,
                 now: int = 0) -> List[Episode]:
        """:meth:`episodes_open` as a list."""
        return self.episodes_open(level, name, start, end, now).to_list()  # type: ignore

    @abc.abstractmethod
    def top(self, level: int, metric: int, start: int, end: int, k: int = 10,
            scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
            now: int = 0) -> List[TopRow]: ...

    @abc.abstractmethod
    def summary_get(self, scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
                    start: int = 0, end: int = 0, now: int = 0) -> Summary: ...

    def summary(self, scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
                start: int = 0, end: int = 0, now: int = 0) -> Summary:
        """Alias of :meth:`summary_get`."""
        return self.summary_get(scope_level, scope_name, start, end, now)

    @abc.abstractmethod
    def events_next(self, now: int = 0) -> Optional[Event]: ...

    def events(self, now: int = 0) -> Iterator[Event]:
        """Yield the events not taken yet until there are none."""
        while True:
            ev = self.events_next(now)
            if ev is None:
                return
            yield ev

    # -- listing -----------------------------------------------------------------------------
    @abc.abstractmethod
    def list_open(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None,
                  implicit: bool = False) -> Iterator[Entity]: ...

    def list(self, level: int, scope_level: int = Level.SERVER,
             scope_name: Optional[Name] = None, implicit: bool = False) -> List[Entity]:
        """:meth:`list_open` as a list."""
        return self.list_open(level, scope_level, scope_name, implicit).to_list()  # type: ignore

    @abc.abstractmethod
    def list_page(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None, implicit: bool = False, offset: int = 0,
                  count: Optional[int] = None, window: int = Window.HOUR,
                  now: int = 0) -> ListPage: ...

    @abc.abstractmethod
    def generation(self) -> int: ...
