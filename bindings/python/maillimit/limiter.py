# SPDX-License-Identifier: MIT
"""The :class:`Limiter`: one ``maillimit`` handle and a method per C function."""
from __future__ import annotations

import operator
import os
import weakref
from ctypes import (byref, c_int, c_int64, c_size_t, c_uint64, c_void_p, create_string_buffer,
                    string_at)
from typing import Any, Callable, Dict, Iterable, Iterator, List, NoReturn, Optional, Tuple, Union

from ._native import (EntityC, EpisodeC, EventC, HistoryRowC, RequestC, StatusC, SummaryC,
                      TopRowC, VerdictC, function, lib)
from .api import MaillimitAPI
from .constants import (DEFAULT, ENTITY_VERSION, EPISODE_VERSION, EVENT_VERSION,
                        HISTORY_ROW_VERSION, LIST_SYSUSER, REQUEST_VERSION, STATUS_VERSION,
                        SUMMARY_VERSION,
                        TOP_ROW_VERSION, VERDICT_VERSION, ErrorCode, Flag, Level, Metric, Unit,
                        Window)
from .errors import NotFound, error_for
from .iterators import EntityIterator, NativeIterator
from .results import (Entity, EntityDetails, Episode, Event, HistoryRow, ListPage, Status,
                      Summary, TopRow, Verdict)

__all__ = ["Limiter", "errname", "strerror", "version_number", "version_string", "Name"]

#: A name as the C API takes it: text (encoded as UTF-8) or raw bytes (names may carry any
#: byte >= 0x80). None names the server where a call takes a name.
Name = Union[str, bytes]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_ERRLEN = 1024  # the (err, errlen) buffer for detailed messages
_verdict_init = lib.maillimit_verdict_init


def _init_or_raise(cname: str, struct: Any, version: int) -> None:
    """``cname(struct, version)``; EVERSION (a library older than this binding) raises."""
    rc = function(cname)(struct, version)
    if rc:
        _raise(rc, cname, f"version {version}")


def _initialiser(cname: str, version: int) -> Callable[[Any], None]:
    """A row initialiser for the iterators: ``cname(row, version)``, the version of the
    layout this binding declares (``_native``)."""
    init = function(cname)

    def run(row: Any) -> None:
        rc = init(row, version)
        if rc:
            _raise(rc, cname, f"version {version}")
    return run
_verdict_from_c = Verdict._from_c


def errname(code: int) -> str:
    """The name of an error code, e.g. ``"MAILLIMIT_ENOTFOUND"`` (``maillimit_errname()``);
    ``"MAILLIMIT_E?"`` for unknown codes."""
    code = operator.index(code)
    if not _I32_MIN <= code <= _I32_MAX:
        return lib.maillimit_errname(-(1 << 31)).decode()
    return lib.maillimit_errname(code).decode()


def strerror(code: int) -> str:
    """The library's static text for an error code (``maillimit_strerror()``)."""
    code = operator.index(code)
    if not _I32_MIN <= code <= _I32_MAX:
        return lib.maillimit_strerror(-(1 << 31)).decode()  # "unknown error", as in C
    return lib.maillimit_strerror(code).decode()


def version_number() -> int:
    """The run-time library version, ``major*10000 + minor*100 + patch``."""
    return lib.maillimit_version_number()


def version_string() -> str:
    """The run-time library version, ``"major.minor.patch"``."""
    return lib.maillimit_version_string().decode()


def _raise(rc: int, function: str, context: Optional[str] = None,
           detail: Optional[bytes] = None) -> NoReturn:
    text = detail.decode("utf-8", "replace") if detail else None
    raise error_for(rc)(rc, strerror(rc), function, text, context)


def _refuse(code: int, detail: str, context: Optional[str] = None) -> NoReturn:
    """An argument the binding refuses before C sees it, as the code C would return."""
    raise error_for(code)(code, strerror(code), None, detail, context)


def _name(name: Optional[Name], what: str = "name") -> Optional[bytes]:
    """A name for a `const char *` parameter: bytes, or None (NULL)."""
    if name is None:
        return None
    if isinstance(name, str):
        data = name.encode("utf-8", "surrogateescape")
    elif isinstance(name, (bytes, bytearray, memoryview)):
        data = bytes(name)
    else:
        raise TypeError(f"{what} must be str or bytes, not {type(name).__name__}")
    if b"\0" in data:
        # C would see the name cut at the NUL: refuse instead of acting on another name.
        _refuse(ErrorCode.EINVAL, f"{what} contains a NUL byte", repr(name))
    return data


def _int(value: Any, what: str) -> int:
    """An `int` parameter (level, window, flag, flag value): must fit 32 bits."""
    v = operator.index(value)
    if not _I32_MIN <= v <= _I32_MAX:
        _refuse(ErrorCode.EINVAL, f"{what} {v} does not fit an int")
    return v


def _i64(value: Any, what: str) -> int:
    """An `int64_t` parameter (cost, time, limit): must fit 64 bits."""
    v = operator.index(value)
    if not _I64_MIN <= v <= _I64_MAX:
        _refuse(ErrorCode.ERANGE, f"{what} {v} does not fit int64_t")
    return v


def _u64(value: Any, what: str) -> int:
    v = operator.index(value)
    if not 0 <= v <= (1 << 64) - 1:
        _refuse(ErrorCode.EINVAL, f"{what} {v} does not fit uint64_t")
    return v


def _free_handle(free: Callable[[Any], None], handle: int, children: "weakref.WeakSet") -> None:
    # Runs once (close(), garbage collection or interpreter exit, whichever comes first).
    # It holds its own references to the C function and the handle, so it works whatever
    # has already been torn down; children (iterators) are closed before the handle goes.
    for child in list(children):
        child._close()
    free(c_void_p(handle))


class Limiter(MaillimitAPI):
    """A libmaillimit handle: the hierarchy, limits, flags and counters.

    It implements :class:`maillimit.MaillimitAPI`, as :class:`maillimit.Client` does for a
    running maillimitd: a panel written against that interface takes either.

    Use it as a context manager, or call :meth:`close`; a limiter that is neither closed
    nor referenced is freed by the garbage collector or at interpreter exit. Methods mirror
    the C functions (``maillimit_<name>`` becomes ``Limiter.<name>``); errors raise the
    :class:`MaillimitError` subclass of the code. ``now`` arguments are Unix seconds, 0 for
    the system clock. The hot-path methods (decide, decide_many, reserve, commit, release,
    status, reset, the getters) may be called from many threads at once; :meth:`close` must
    not race with anything.

    Example::

        with Limiter() as ml:
            ml.subscription_add("acme")
            ml.domain_add("acme.example", "acme")
            ml.limit_set(Level.DOMAIN, "acme.example", Level.MAILBOX, Window.HOUR, 100)
            print(ml.decide(Level.MAILBOX, "ceo@acme.example").allowed)
    """

    __slots__ = ("_h", "_finalizer", "_children", "__weakref__")

    def __init__(self) -> None:
        h = c_void_p()
        rc = lib.maillimit_new(byref(h))
        if rc:
            _raise(rc, "maillimit_new")
        self._h: Optional[c_void_p] = h
        self._children: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self._finalizer = weakref.finalize(self, _free_handle, lib.maillimit_free, h.value,
                                           self._children)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Free the handle (``maillimit_free()``); further calls raise InvalidArgument.
        Closing twice is a no-op. Open report iterators are closed first."""
        self._h = None
        self._finalizer()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._h is None

    def __enter__(self) -> "Limiter":
        self._handle()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<maillimit.Limiter {'closed' if self._h is None else hex(self._h.value or 0)}>"

    def _handle(self) -> c_void_p:
        h = self._h
        if h is None:
            _refuse(ErrorCode.EINVAL, "the limiter is closed")
        return h

    def _adopt(self, child: Any) -> None:
        """Register a native child (iterator) to close before the handle is freed."""
        self._children.add(child)

    def _call(self, cname: str, *args: Any, context: Optional[str] = None) -> None:
        rc = function(cname)(self._handle(), *args)
        if rc:
            _raise(rc, cname, context)

    # -- hierarchy ---------------------------------------------------------------------------
    def plan_add(self, plan: Name) -> None:
        """Add a plan (``maillimit_plan_add``); re-adding is a no-op."""
        self._call("maillimit_plan_add", _name(plan, "plan"), context=repr(plan))

    def subscription_add(self, subscription: Name, plan: Optional[Name] = None) -> None:
        """Add a subscription, optionally in a plan (``maillimit_subscription_add``)."""
        self._call("maillimit_subscription_add", _name(subscription, "subscription"),
                   _name(plan, "plan"), context=f"{subscription!r}, {plan!r}")

    def domain_add(self, domain: Name, subscription: Name) -> None:
        """Add a domain to a subscription (``maillimit_domain_add``)."""
        self._call("maillimit_domain_add", _name(domain, "domain"),
                   _name(subscription, "subscription"), context=f"{domain!r}, {subscription!r}")

    def mailbox_add(self, address: Name) -> None:
        """Add a mailbox ``local@domain``; its domain must exist (``maillimit_mailbox_add``)."""
        self._call("maillimit_mailbox_add", _name(address, "address"), context=repr(address))

    def sysuser_add(self, login: Name, subscription: Name) -> None:
        """Add a system user of a subscription (``maillimit_sysuser_add``)."""
        self._call("maillimit_sysuser_add", _name(login, "login"),
                   _name(subscription, "subscription"), context=f"{login!r}, {subscription!r}")

    def remove(self, level: int, name: Name) -> None:
        """Remove an entity and its subtree (``maillimit_remove``)."""
        self._call("maillimit_remove", _int(level, "level"), _name(name),
                   context=f"{_lvl(level)}, {name!r}")

    def sysuser_remove(self, login: Name) -> None:
        """Remove a system user (``maillimit_sysuser_remove``)."""
        self._call("maillimit_sysuser_remove", _name(login, "login"), context=repr(login))

    def sysuser_move(self, login: Name, subscription: Name) -> None:
        """Attach a system user to another subscription; its mail counts there from now on
        (``maillimit_sysuser_move``)."""
        self._call("maillimit_sysuser_move", _name(login, "login"),
                   _name(subscription, "subscription"), context=f"{login!r}, {subscription!r}")

    def domain_move(self, domain: Name, subscription: Name) -> None:
        """Move a domain to another subscription (``maillimit_domain_move``)."""
        self._call("maillimit_domain_move", _name(domain, "domain"),
                   _name(subscription, "subscription"), context=f"{domain!r}, {subscription!r}")

    def subscription_plan_set(self, subscription: Name, plan: Optional[Name]) -> None:
        """Put a subscription in a plan, or in none with None
        (``maillimit_subscription_plan_set``)."""
        self._call("maillimit_subscription_plan_set", _name(subscription, "subscription"),
                   _name(plan, "plan"), context=f"{subscription!r}, {plan!r}")

    # -- limits, flags, settings -------------------------------------------------------------
    def limit_set(self, level: int, name: Optional[Name], target_level: int, window: int,
                  value: int) -> None:
        """Set the limit on ``target_level`` counters as seen from entity (level, name);
        ``value`` is N >= 0, :data:`UNLIMITED` or :data:`DEFAULT` (``maillimit_limit_set``)."""
        self._call("maillimit_limit_set", _int(level, "level"), _name(name),
                   _int(target_level, "target_level"), _int(window, "window"),
                   _i64(value, "value"),
                   context=f"{_lvl(level)}, {name!r}, {_lvl(target_level)}, {_win(window)}, "
                           f"{value}")

    def limit_configured(self, level: int, name: Optional[Name], target_level: int,
                    window: int) -> int:
        """The value as set at that entity, possibly :data:`DEFAULT`
        (``maillimit_limit_configured``)."""
        out = c_int64()
        self._call("maillimit_limit_configured", _int(level, "level"), _name(name),
                   _int(target_level, "target_level"), _int(window, "window"), byref(out),
                   context=f"{_lvl(level)}, {name!r}, {_lvl(target_level)}, {_win(window)}")
        return out.value

    def limit_effective(self, level: int, name: Optional[Name], window: int = Window.HOUR) -> int:
        """The effective limit of the entity's own counter, or :data:`UNLIMITED`
        (``maillimit_limit_effective``)."""
        out = c_int64()
        self._call("maillimit_limit_effective", _int(level, "level"), _name(name),
                   _int(window, "window"), byref(out),
                   context=f"{_lvl(level)}, {name!r}, {_win(window)}")
        return out.value

    def enabled_set(self, on: bool = True) -> None:
        """Turn the master switch on or off (``maillimit_enabled_set``)."""
        self._call("maillimit_enabled_set", 1 if on else 0)

    def enabled_get(self) -> bool:
        """The master switch (``maillimit_enabled_get``)."""
        out = c_int()
        self._call("maillimit_enabled_get", byref(out))
        return bool(out.value)

    def flag_set(self, level: int, name: Optional[Name], flag: int,
                 value: Union[bool, int]) -> None:
        """Set a flag to True, False or :data:`DEFAULT` (``maillimit_flag_set``)."""
        self._call("maillimit_flag_set", _int(level, "level"), _name(name), _int(flag, "flag"),
                   _int(value, "value"),
                   context=f"{_lvl(level)}, {name!r}, {_flg(flag)}, {value!r}")

    def flag_effective(self, level: int, name: Optional[Name], flag: int) -> bool:
        """The effective value of a flag (``maillimit_flag_effective``)."""
        out = c_int()
        self._call("maillimit_flag_effective", _int(level, "level"), _name(name),
                   _int(flag, "flag"), byref(out), context=f"{_lvl(level)}, {name!r}, {_flg(flag)}")
        return bool(out.value)

    def flag_configured(self, level: int, name: Optional[Name], flag: int) -> int:
        """A flag as set at the entity: 0, 1 or :data:`DEFAULT` (``maillimit_flag_configured``)."""
        out = c_int()
        self._call("maillimit_flag_configured", _int(level, "level"), _name(name),
                   _int(flag, "flag"), byref(out),
                   context=f"{_lvl(level)}, {name!r}, {_flg(flag)}")
        return out.value

    def unit_set(self, unit: int) -> None:
        """Set what one unit of cost is (``maillimit_unit_set``)."""
        self._call("maillimit_unit_set", _int(unit, "unit"), context=repr(unit))

    def unit_get(self) -> Unit:
        """The unit setting (``maillimit_unit_get``)."""
        out = c_int()
        self._call("maillimit_unit_get", byref(out))
        return Unit(out.value)

    # -- decisions ---------------------------------------------------------------------------
    def decide(self, level: int, sender: Name, cost: int = 1, now: int = 0) -> Verdict:
        """Decide whether ``sender`` may send ``cost`` units now and count them if so
        (``maillimit_decide``). Over a limit is a DENY verdict, not an exception."""
        return self._verdict(lib.maillimit_decide, "maillimit_decide", level, sender, cost, now)

    def reserve(self, level: int, sender: Name, cost: int = 1, now: int = 0) -> Verdict:
        """Like :meth:`decide`, but the units stay a reservation until :meth:`commit` or
        :meth:`release` of ``verdict.token`` (``maillimit_reserve``)."""
        return self._verdict(lib.maillimit_reserve, "maillimit_reserve", level, sender, cost,
                             now)

    def decide_many(self, requests: Iterable[Tuple[Any, ...]], now: int = 0) -> List[Verdict]:
        """Decide a batch of requests at one time, in order (``maillimit_decide_many``):
        the same verdicts and counts as :meth:`decide` called for each in turn, faster when
        the senders are many. ``requests`` are ``(level, sender)`` or ``(level, sender,
        cost)`` tuples; the result has a :class:`Verdict` for each.

        A bad request (or an error deciding it) raises its error after the requests before
        it were decided and counted; the exception's ``index`` is its position and its
        ``verdicts`` the verdicts of those before it. Nothing after it is decided. What the
        binding refuses itself (not such a tuple, a sender with a NUL byte, a number that
        does not fit its C type) raises before anything is decided."""
        h = self._handle()
        items = list(requests)
        n = len(items)
        reqs = (RequestC * max(n, 1))()
        keep = []  # the encoded senders, alive until the call returns
        for i, item in enumerate(items):
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                _refuse(ErrorCode.EINVAL, f"{item!r} is not (level, sender[, cost])",
                        f"decide_many, request {i}")
            _init_or_raise("maillimit_request_init", byref(reqs[i]), REQUEST_VERSION)
            r = reqs[i]
            r.level = _int(item[0], "level")
            s = _name(item[1], "sender")
            keep.append(s)
            r.sender = s
            r.cost = _i64(item[2], "cost") if len(item) == 3 else 1
        out = (VerdictC * max(n, 1))()
        _init_or_raise("maillimit_verdict_init", byref(out[0]), VERDICT_VERSION)
        done = c_size_t(0)
        rc = lib.maillimit_decide_many(h, reqs, n, _i64(now, "now"), out, byref(done))
        verdicts = [_verdict_from_c(out[i]) for i in range(min(done.value, n))]
        if rc:
            k = done.value
            what = (f"request {k} {items[k]!r}" if k < n else "the call")
            err = error_for(rc)(rc, strerror(rc), "maillimit_decide_many", None,
                                f"{what}; {k} of {n} decided")
            err.index = k  # type: ignore[attr-defined]
            err.verdicts = verdicts  # type: ignore[attr-defined]
            raise err
        return verdicts

    def _verdict(self, fn: Any, cname: str, level: int, sender: Name, cost: int,
                 now: int) -> Verdict:
        # The hot path: the checks of _int/_name/_i64 inlined for the common argument types,
        # the general helpers for everything else (and for the error messages).
        h = self._h
        if h is None:
            h = self._handle()  # raises
        lv = level if type(level) is Level else _int(level, "level")
        if type(sender) is str:
            s = sender.encode("utf-8", "surrogateescape")
            if b"\0" in s:
                s = _name(sender, "sender")  # raises
        else:
            s = _name(sender, "sender")
        if type(cost) is not int or not _I64_MIN <= cost <= _I64_MAX:
            cost = _i64(cost, "cost")
        if type(now) is not int or not _I64_MIN <= now <= _I64_MAX:
            now = _i64(now, "now")
        v = VerdictC()
        if _verdict_init(v, VERDICT_VERSION):
            _raise(ErrorCode.EVERSION, "maillimit_verdict_init", f"version {VERDICT_VERSION}")
        rc = fn(h, lv, s, cost, now, v)
        if rc:
            _raise(rc, cname, f"{_lvl(level)}, {sender!r}, cost={cost}, now={now}")
        return _verdict_from_c(v)

    def commit(self, token: int) -> None:
        """Make a reservation final (``maillimit_commit``)."""
        self._call("maillimit_commit", _u64(token, "token"), context=str(token))

    def release(self, token: int) -> None:
        """Give a reservation's units back (``maillimit_release``)."""
        self._call("maillimit_release", _u64(token, "token"), context=str(token))

    def reset(self, level: int, name: Optional[Name]) -> None:
        """Forget the entity's own window counts (``maillimit_reset``); None: the server."""
        self._call("maillimit_reset", _int(level, "level"), _name(name),
                   context=f"{_lvl(level)}, {name!r}")

    def status_get(self, level: int, name: Optional[Name], window: int = Window.HOUR,
                   now: int = 0) -> Status:
        """The status of the entity's own counter in ``window`` (``maillimit_status_get``)."""
        h = self._handle()
        s = StatusC()
        _init_or_raise("maillimit_status_init", byref(s), STATUS_VERSION)
        rc = lib.maillimit_status_get(h, _int(level, "level"), _name(name),
                                      _int(window, "window"), _i64(now, "now"), byref(s))
        if rc:
            _raise(rc, "maillimit_status_get", f"{_lvl(level)}, {name!r}, {_win(window)}")
        return Status._from_c(s)

    status = status_get

    def status_many(self, items: Iterable[Tuple[int, Optional[Name]]],
                    window: int = Window.HOUR, now: int = 0) -> List[Status]:
        """The status of each ``(level, name)`` in ``window`` at ``now``, in order (what
        the admin protocol's ``status.many`` answers in one request). All or nothing: the
        first entity that fails raises."""
        return [self.status_get(level, name, window, now) for level, name in items]

    # -- reports and events --------------------------------------------------------------------
    def tick(self, now: int = 0) -> None:
        """Move closed hours into history, notice ended episodes and queue their events
        (``maillimit_tick``). Call it at least every 23 hours; readers do it themselves."""
        self._call("maillimit_tick", _i64(now, "now"), context=f"now={now}")

    def retention_set(self, hours: int) -> None:
        """How many hours of history are kept, 1..87600 (``maillimit_retention_set``)."""
        self._call("maillimit_retention_set", _i64(hours, "hours"), context=str(hours))

    def retention_get(self) -> int:
        """The history retention in hours (``maillimit_retention_get``)."""
        out = c_int64()
        self._call("maillimit_retention_get", byref(out))
        return out.value

    def history_open(self, level: int, name: Optional[Name], start: int, end: int,
                     now: int = 0) -> "NativeIterator[HistoryRow]":
        """An iterator over the hours with traffic starting in [start, end), oldest first
        (``maillimit_history_open``); PLAN sums its subscriptions, SERVER takes name None."""
        return self._open("maillimit_history_open", "maillimit_history_next",
                          "maillimit_history_close", HistoryRowC, HistoryRow._from_c,
                          _initialiser("maillimit_history_row_init", HISTORY_ROW_VERSION),
                          level, name, start, end, now)

    def history(self, level: int, name: Optional[Name], start: int, end: int,
                now: int = 0) -> List[HistoryRow]:
        """:meth:`history_open` as a list."""
        return self.history_open(level, name, start, end, now).to_list()

    def episodes_open(self, level: int, name: Optional[Name], start: int, end: int,
                      now: int = 0) -> "NativeIterator[Episode]":
        """An iterator over the episodes of an entity and everything below it that overlap
        [start, end), by start time (``maillimit_episodes_open``); SERVER/None: all."""
        return self._open("maillimit_episodes_open", "maillimit_episodes_next",
                          "maillimit_episodes_close", EpisodeC, Episode._from_c,
                          _initialiser("maillimit_episode_init", EPISODE_VERSION),
                          level, name, start, end, now)

    def episodes(self, level: int, name: Optional[Name], start: int, end: int,
                 now: int = 0) -> List[Episode]:
        """:meth:`episodes_open` as a list."""
        return self.episodes_open(level, name, start, end, now).to_list()

    def _open(self, open_name: str, next_name: str, close_name: str, struct: Any,
              convert: Any, init: Callable[[Any], None], level: int, name: Optional[Name],
              start: int, end: int, now: int) -> NativeIterator[Any]:
        it = c_void_p()
        self._call(open_name, _int(level, "level"), _name(name), _i64(start, "start"),
                   _i64(end, "end"), _i64(now, "now"), byref(it),
                   context=f"{_lvl(level)}, {name!r}, {start}, {end}, now={now}")
        out: NativeIterator[Any] = NativeIterator(it, function(next_name),
                                                  function(close_name), struct, convert,
                                                  next_name, init)
        self._adopt(out)
        return out

    def top(self, level: int, metric: int, start: int, end: int, k: int = 10,
            scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
            now: int = 0) -> List[TopRow]:
        """The ``k`` entities of ``level`` with the most units sent (or denied) in hours
        starting in [start, end), within a scope (``maillimit_top``)."""
        k = operator.index(k)
        if k < 0:
            _refuse(ErrorCode.EINVAL, f"k={k} < 0", "top")
        rows = (TopRowC * max(k, 1))()
        _init_or_raise("maillimit_top_row_init", byref(rows[0]), TOP_ROW_VERSION)
        n = c_size_t(k)
        self._call("maillimit_top", _int(level, "level"), _int(metric, "metric"),
                   _i64(start, "start"), _i64(end, "end"), _int(scope_level, "scope_level"),
                   _name(scope_name, "scope_name"), _i64(now, "now"), rows, byref(n),
                   context=f"{_lvl(level)}, {_metric(metric)}, {start}, {end}, k={k}, "
                           f"{_lvl(scope_level)}, {scope_name!r}")
        return [TopRow._from_c(rows[i]) for i in range(min(n.value, k))]

    def summary_get(self, scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
                    start: int = 0, end: int = 0, now: int = 0) -> Summary:
        """Totals for hours starting in [start, end) within a scope
        (``maillimit_summary_get``)."""
        s = SummaryC()
        _init_or_raise("maillimit_summary_init", byref(s), SUMMARY_VERSION)
        self._call("maillimit_summary_get", _int(scope_level, "scope_level"),
                   _name(scope_name, "scope_name"), _i64(start, "start"), _i64(end, "end"),
                   _i64(now, "now"), byref(s),
                   context=f"{_lvl(scope_level)}, {scope_name!r}, {start}, {end}")
        return Summary._from_c(s)

    summary = summary_get

    def events_next(self, now: int = 0) -> Optional[Event]:
        """The oldest queued event, or None when the queue is empty
        (``maillimit_events_next``)."""
        ev = EventC()
        _init_or_raise("maillimit_event_init", byref(ev), EVENT_VERSION)
        rc = lib.maillimit_events_next(self._handle(), _i64(now, "now"), byref(ev))
        if rc == ErrorCode.EDONE:
            return None
        if rc:
            _raise(rc, "maillimit_events_next", f"now={now}")
        return Event._from_c(ev)

    def events(self, now: int = 0) -> Iterator[Event]:
        """Drain the event queue: yields events until it is empty."""
        while True:
            ev = self.events_next(now)
            if ev is None:
                return
            yield ev

    def events_dropped(self) -> int:
        """How many events were dropped because the queue was full
        (``maillimit_events_dropped``)."""
        out = c_uint64()
        self._call("maillimit_events_dropped", byref(out))
        return out.value

    # -- listing the hierarchy ---------------------------------------------------------------
    def list_open(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None,
                  implicit: bool = False) -> "EntityIterator[Entity]":
        """An iterator over the entities of ``level`` (PLAN, SUBSCRIPTION, DOMAIN, MAILBOX or
        :data:`LIST_SYSUSER`) in bytewise order of their names (``maillimit_list_open``).

        ``scope_level``/``scope_name`` restrict it to a subtree: SERVER/None (everything),
        or a PLAN (its subscriptions and what is below them), SUBSCRIPTION or DOMAIN.
        ``implicit`` lists the mailboxes made by their first decision too. The iterator is a
        copy taken now: later changes do not show in it. A bad level or scope raises
        InvalidArgument, a scope entity that does not exist NotFound."""
        it = c_void_p()
        self._call("maillimit_list_open", _int(level, "level"),
                   _int(scope_level, "scope_level"), _name(scope_name, "scope_name"),
                   1 if implicit else 0, byref(it),
                   context=f"{_list_lvl(level)}, {_lvl(scope_level)}, {scope_name!r}, "
                           f"implicit={bool(implicit)}")
        out: EntityIterator[Entity] = EntityIterator(
            it, function("maillimit_list_next"), function("maillimit_list_close"),
            function("maillimit_list_count"), EntityC, Entity._from_c, "maillimit_list_next",
            _initialiser("maillimit_entity_init", ENTITY_VERSION))
        self._adopt(out)
        return out

    def list(self, level: int, scope_level: int = Level.SERVER,
             scope_name: Optional[Name] = None, implicit: bool = False) -> List[Entity]:
        """:meth:`list_open` as a list (the C iterator is closed before it returns)."""
        return self.list_open(level, scope_level, scope_name, implicit).to_list()

    def list_page(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None, implicit: bool = False, offset: int = 0,
                  count: Optional[int] = None, window: int = Window.HOUR,
                  now: int = 0) -> ListPage:
        """A page of :meth:`list` with what a panel shows per entity: ``count`` entities
        (None: all) from ``offset``, each with the limits and flags it sets as set and the
        status of its own counter in ``window`` at ``now`` (:class:`EntityDetails`), the
        ``total`` of the listing and its ``generation``. What the admin protocol's ``list``
        answers in one request."""
        offset = operator.index(offset)
        if offset < 0:
            _refuse(ErrorCode.EINVAL, f"offset={offset} < 0", "list_page")
        if count is not None:
            count = operator.index(count)
            if count < 0:
                _refuse(ErrorCode.EINVAL, f"count={count} < 0", "list_page")
        window = _int(window, "window")
        now = _i64(now, "now")
        gen = self.generation()
        rows: List[EntityDetails] = []
        with self.list_open(level, scope_level, scope_name, implicit) as it:
            total = it.count()
            for i, e in enumerate(it):
                if i < offset:
                    continue
                if count is not None and len(rows) == count:
                    break
                rows.append(self._details(e, window, now))
        return ListPage(gen, total, offset, rows)

    def _details(self, e: Entity, window: int, now: int) -> EntityDetails:
        lv = e.level
        limits: Dict[Tuple[Level, Window], Optional[int]] = {}
        flags: Dict[Flag, Optional[int]] = {}
        status: Optional[Status] = None
        if lv != LIST_SYSUSER or type(lv) is not int:
            first = Level.SUBSCRIPTION if lv <= Level.SUBSCRIPTION else Level(lv)
            for t in range(first, Level.MAILBOX + 1):
                for w in Window:
                    limits[Level(t), w] = _gone(self.limit_configured, lv, e.name, t, w)
            for f in ((Flag.SENDMAIL, Flag.EXEMPT) if lv <= Level.SUBSCRIPTION
                      else (Flag.EXEMPT,)):
                flags[f] = _gone(self.flag_configured, lv, e.name, f)
            if lv != Level.PLAN:
                status = _gone(self.status_get, lv, e.name, window, now)
        return EntityDetails(lv, e.name, e.parent, e.implicit, limits, flags, status)

    def generation(self) -> int:
        """A number that grows whenever the hierarchy changes: an entity or system user
        added (implicit mailboxes excepted), removed or moved, a subscription's plan changed,
        a snapshot loaded; limits and flags do not change it. Equal numbers mean an earlier
        listing is still true (``maillimit_generation``)."""
        out = c_uint64()
        self._call("maillimit_generation", byref(out))
        return out.value

    # -- configuration text ------------------------------------------------------------------
    def config_load(self, path: PathLike) -> None:
        """Load a configuration file (``maillimit_config_load``): entities are created or
        moved, the values it sets are set, nothing is removed. A file with an error changes
        nothing and raises FormatError whose ``detail`` is ``"FILE:LINE: problem"``."""
        self._config_file("maillimit_config_load", path)

    def config_load_mem(self, text: Union[str, bytes]) -> None:
        """Load configuration text (``maillimit_config_load_mem``); errors name
        ``"<memory>:LINE"``."""
        self._config_mem("maillimit_config_load_mem", text)

    def config_apply(self, path: PathLike) -> None:
        """Make a configuration file the whole configuration, a reload
        (``maillimit_config_apply``): as :meth:`config_load`, then values the file does not
        set go back to their defaults and entities it does not define are removed. Counters
        of the entities that remain are kept; a file with an error changes nothing."""
        self._config_file("maillimit_config_apply", path)

    def config_apply_mem(self, text: Union[str, bytes]) -> None:
        """:meth:`config_apply` on text (``maillimit_config_apply_mem``)."""
        self._config_mem("maillimit_config_apply_mem", text)

    # -- snapshots ---------------------------------------------------------------------------
    def snapshot_save(self, path: PathLike) -> None:
        """Save the whole state to a file, atomically (``maillimit_snapshot_save``)."""
        self._config_file("maillimit_snapshot_save", path)

    def snapshot_load(self, path: PathLike) -> None:
        """Replace the whole state by a snapshot file (``maillimit_snapshot_load``). A file
        that does not exist raises NotFound (a first start) and changes nothing; a bad one
        raises FormatError / VersionError / RangeError and changes nothing. Outstanding
        reservation tokens are forgotten."""
        self._config_file("maillimit_snapshot_load", path)

    def snapshot_save_mem(self) -> bytes:
        """The whole state as bytes, the same as the file (``maillimit_snapshot_save_mem``;
        the library's buffer is freed with ``maillimit_buffer_free``)."""
        save, free = function("maillimit_snapshot_save_mem"), function("maillimit_buffer_free")
        buf, n = c_void_p(), c_size_t()
        err = create_string_buffer(_ERRLEN)
        rc = save(self._handle(), byref(buf), byref(n), err, _ERRLEN)
        try:
            if rc:
                _raise(rc, "maillimit_snapshot_save_mem", None, err.value)
            return string_at(buf, n.value) if n.value else b""
        finally:
            free(buf)  # NULL after an error: a no-op

    def snapshot_load_mem(self, data: bytes) -> None:
        """Replace the whole state by a snapshot in memory (``maillimit_snapshot_load_mem``);
        messages name ``"<memory>"``."""
        self._config_mem("maillimit_snapshot_load_mem", bytes(data))

    def _config_file(self, cname: str, path: PathLike) -> None:
        # A call (ml, path, err, errlen): configuration files and snapshot files.
        err = create_string_buffer(_ERRLEN)
        p = _name(os.fsencode(path), "path")
        rc = function(cname)(self._handle(), p, err, _ERRLEN)
        if rc:
            _raise(rc, cname, repr(os.fsdecode(path)), err.value)

    def _config_mem(self, cname: str, text: Union[str, bytes]) -> None:
        # A call (ml, data, len, err, errlen): configuration text and snapshot bytes.
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        err = create_string_buffer(_ERRLEN)
        rc = function(cname)(self._handle(), data, len(data), err, _ERRLEN)
        if rc:
            _raise(rc, cname, None, err.value)


def _gone(fn: Callable[..., Any], *args: Any) -> Any:
    """A value of an entity that may have been removed since it was listed: None then."""
    try:
        return fn(*args)
    except NotFound:
        return None


def _lvl(level: Any) -> str:
    try:
        return Level(level).name
    except (ValueError, TypeError):
        return repr(level)


def _list_lvl(level: Any) -> str:
    return "LIST_SYSUSER" if level == LIST_SYSUSER and type(level) is int else _lvl(level)


def _win(window: Any) -> str:
    try:
        return Window(window).name
    except (ValueError, TypeError):
        return repr(window)


def _flg(flag: Any) -> str:
    try:
        return Flag(flag).name
    except (ValueError, TypeError):
        return repr(flag)


def _metric(metric: Any) -> str:
    try:
        return Metric(metric).name
    except (ValueError, TypeError):
        return repr(metric)
