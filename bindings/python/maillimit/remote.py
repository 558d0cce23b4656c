# SPDX-License-Identifier: MIT
""":class:`Client`: the :class:`MaillimitAPI` of a running maillimitd, over its admin socket.

The admin protocol is msgpack-RPC (examples/maillimitd/README.md, "Admin protocol"); this
module speaks it with the ``msgpack`` package (Debian: ``python3-msgpack``), imported when
the first Client is made, so ``import maillimit`` works without it.

Connections: one per Client, made at the first call and kept. A connection the daemon
closed (a restart) is noticed before the next request is sent and made again, so a panel
survives a restart of maillimitd without doing anything. A request that was sent and not
answered (the daemon stopped, or ``timeout`` passed) raises :class:`DaemonUnavailable` /
:class:`DaemonTimeout` and closes the connection: it is never sent twice, since it may have
been executed. One Client may be shared by threads (a lock keeps one request at a time).
"""
from __future__ import annotations

import operator
import os
import select
import socket
import threading
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .api import MaillimitAPI
from .constants import (LIST_SYSUSER, Decision, ErrorCode, EventType, Flag, Level, Metric,
                        Reason, Unit, Window)
from .errors import DaemonTimeout, DaemonUnavailable, error_for
from .limiter import _i64, _int, _name, _refuse, strerror
from .results import (Entity, EntityDetails, Episode, Event, HistoryRow, ListPage, Status,
                      Summary, TopRow, Verdict)

__all__ = ["Client", "default_socket", "ListIterator"]

Name = Union[str, bytes]
_LEVEL_NAMES = ("server", "plan", "subscription", "domain", "mailbox")
_LEVEL_BY_NAME = {n: Level(i) for i, n in enumerate(_LEVEL_NAMES)}
_WINDOW_BY_NAME = {"hour": Window.HOUR, "day": Window.DAY}
_PAGE = 10000  # entities per request when a whole listing is read


def default_socket() -> str:
    """The admin socket maillimitd's built-in configuration uses, as maillimitctl finds it:
    ``$MAILLIMITCTL_SOCKET``, else ``maillimitd.sock`` in the first existing of
    ``/run/maillimit`` (the systemd unit's), ``/var/lib/maillimit``,
    ``$XDG_RUNTIME_DIR/maillimit``, ``/tmp/maillimit-UID``."""
    env = os.environ.get("MAILLIMITCTL_SOCKET")
    if env:
        return env
    run = "/run/maillimit/maillimitd.sock"
    if os.path.exists(run):
        return run
    dirs = ["/var/lib/maillimit"]
    if os.environ.get("XDG_RUNTIME_DIR"):
        dirs.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "maillimit"))
    dirs.append(f"/tmp/maillimit-{os.getuid()}")
    for d in dirs:
        p = os.path.join(d, "maillimitd.sock")
        if os.path.exists(p):
            return p
    return os.path.join(dirs[0], "maillimitd.sock")


class ListIterator:
    """What :meth:`Client.list_open`, :meth:`Client.history_open` and
    :meth:`Client.episodes_open` return: the rows, read already, with the surface of the
    Limiter's iterators (iteration, ``to_list``, ``close``, ``with``, and ``count`` for
    listings)."""

    __slots__ = ("_rows", "_i", "_closed")

    def __init__(self, rows: List[Any]) -> None:
        self._rows = rows
        self._i = 0
        self._closed = False

    def __iter__(self) -> "ListIterator":
        return self

    def __next__(self) -> Any:
        if self._closed or self._i == len(self._rows):
            self._closed = True
            raise StopIteration
        self._i += 1
        return self._rows[self._i - 1]

    def count(self) -> int:
        """How many rows it holds in all, those already read included."""
        return len(self._rows)

    def close(self) -> None:
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "ListIterator":
        if self._closed:
            _refuse(ErrorCode.EINVAL, "the iterator is closed")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def to_list(self) -> List[Any]:
        """Every remaining row, then close."""
        with self:
            return list(self)


def _text(v: Optional[Union[str, bytes]]) -> str:
    if v is None:
        return ""
    return v if isinstance(v, str) else v.decode("utf-8", "surrogateescape")


def _wire_name(name: Optional[Name], what: str = "name") -> Any:
    """A name as the protocol carries it: str when it is UTF-8 text, else bin (bytes)."""
    data = _name(name, what)  # None, or bytes without NUL (refused as the Limiter does)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _wire_level(level: Any, what: str = "level") -> Any:
    v = _int(level, what)
    return _LEVEL_NAMES[v] if 0 <= v < len(_LEVEL_NAMES) else v


def _level(v: Any) -> Optional[Union[Level, int]]:
    if v is None:
        return None
    if v == "sysuser":
        return LIST_SYSUSER
    return _LEVEL_BY_NAME.get(v, v)


def _window(v: Any) -> Optional[Window]:
    return None if v is None else _WINDOW_BY_NAME.get(v, v)


def _status(m: Optional[Dict[str, Any]]) -> Optional[Status]:
    if m is None:
        return None
    return Status(bool(m["sending"]), _level(m["blocked_by"]), m["count"], m["limit"],
                  m["remaining"], m["retry_after"], m["reset_after"])


class Client(MaillimitAPI):
    """A client of maillimitd's admin socket with the methods of :class:`Limiter`.

    ``Client(path)`` talks to a unix socket (default: :func:`default_socket`);
    ``Client(address=("127.0.0.1", 10032))`` to an ``admin_listen inet:`` one. ``timeout``
    (seconds, default 10) bounds connecting and each request; ``None`` waits forever.

    Arguments, results and exceptions are those of the :class:`Limiter` methods of the same
    name: a missing entity raises :class:`NotFound`, a bad argument
    :class:`InvalidArgument`, each with the daemon's message in ``detail`` (``"mailbox
    joe@x.example: not found"``) and the admin method in ``function``. Transport failures
    raise :class:`DaemonUnavailable` and :class:`DaemonTimeout` (both :class:`FileError`
    with code EIO, and :class:`ConnectionError` / :class:`TimeoutError`).

    Differences a panel may notice: ``top`` takes ``k`` up to 1000; ``events_next`` and
    ``events`` return the events this client has not seen yet from the daemon's log (the
    daemon notices ended episodes itself; ``now`` is not used); the daemon-only calls are
    :meth:`ping`, :meth:`version`, :meth:`stats`, :meth:`config_reload` and
    :meth:`snapshot`.
    """

    __slots__ = ("_path", "_address", "_timeout", "_sock", "_unpacker", "_msgid", "_lock",
                 "_closed", "_since", "_pending", "_msgpack", "_packer", "__weakref__")

    def __init__(self, path: Optional[Union[str, "os.PathLike[str]"]] = None, *,
                 address: Optional[Tuple[str, int]] = None,
                 timeout: Optional[float] = 10.0) -> None:
        try:
            import msgpack  # type: ignore
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise ImportError("maillimit.Client needs the msgpack package (Debian: "
                              "apt-get install python3-msgpack)") from e
        self._msgpack = msgpack
        self._packer = msgpack.Packer(use_bin_type=True)
        self._path = None if address else os.fspath(path) if path else default_socket()
        self._address = address
        self._timeout = timeout
        self._sock: Optional[socket.socket] = None
        self._unpacker: Any = None
        self._msgid = 0
        self._lock = threading.Lock()
        self._closed = False
        self._since = 0
        self._pending: List[Event] = []

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; further calls raise InvalidArgument. Idempotent."""
        with self._lock:
            self._closed = True
            self._disconnect()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Client":
        if self._closed:
            _refuse(ErrorCode.EINVAL, "the client is closed")
        return self

    def __repr__(self) -> str:
        where = self._path if self._path else f"{self._address[0]}:{self._address[1]}"
        return f"<maillimit.Client {where}{' closed' if self._closed else ''}>"

    # -- transport ---------------------------------------------------------------------------
    def _where(self) -> str:
        return self._path if self._path else "%s:%d" % tuple(self._address)  # type: ignore

    def _disconnect(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._unpacker = None

    def _connect(self) -> None:
        try:
            if self._path:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(self._timeout)
                s.connect(self._path)
            else:
                s = socket.create_connection(self._address, self._timeout)  # type: ignore
                s.settimeout(self._timeout)
        except socket.timeout as e:
            raise DaemonTimeout(ErrorCode.EIO, strerror(ErrorCode.EIO), None,
                                f"cannot connect to {self._where()}: timed out") from e
        except OSError as e:
            raise DaemonUnavailable(ErrorCode.EIO, strerror(ErrorCode.EIO), None,
                                    f"cannot connect to {self._where()}: {e.strerror or e} "
                                    "(is maillimitd running?)") from e
        self._sock = s
        self._unpacker = self._msgpack.Unpacker(raw=False, unicode_errors="surrogateescape",
                                                strict_map_key=False,
                                                max_buffer_size=1 << 30)

    def _peer_closed(self) -> bool:
        """Did the daemon close this connection (a restart) since the last answer?"""
        s = self._sock
        if s is None:
            return True
        try:
            r, _, _ = select.select([s], [], [], 0)
            if not r:
                return False
            return s.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def call(self, method: str, *params: Any, **named: Any) -> Any:
        """Call an admin method; positional ``params``, or ``named`` ones (not both).
        Returns its result; an error answer raises the exception of its code."""
        if params and named:
            _refuse(ErrorCode.EINVAL, "positional or named params, not both", method)
        body = [named] if named else list(params)
        with self._lock:
            if self._closed:
                _refuse(ErrorCode.EINVAL, "the client is closed", method)
            if self._sock is not None and self._peer_closed():
                self._disconnect()
            if self._sock is None:
                self._connect()
            self._msgid = (self._msgid + 1) & 0xFFFFFFFF
            msgid = self._msgid
            data = self._packer.pack([0, msgid, method, body])
            try:
                self._sock.sendall(data)  # type: ignore
                reply = self._read(msgid)
            except socket.timeout as e:
                self._disconnect()
                raise DaemonTimeout(ErrorCode.EIO, strerror(ErrorCode.EIO), method,
                                    f"no answer from {self._where()} within "
                                    f"{self._timeout} s") from e
            except OSError as e:
                self._disconnect()
                raise DaemonUnavailable(ErrorCode.EIO, strerror(ErrorCode.EIO), method,
                                        f"connection to {self._where()} lost: "
                                        f"{e.strerror or e}") from e
        err, result = reply[2], reply[3]
        if err is not None:
            code = err.get("code", ErrorCode.EINVAL) if isinstance(err, dict) else -1
            detail = err.get("message") if isinstance(err, dict) else repr(err)
            raise error_for(code)(code, strerror(code), method, detail)
        return result

    def _read(self, msgid: int) -> Any:
        u = self._unpacker
        while True:
            for msg in u:
                if (isinstance(msg, list) and len(msg) == 4 and msg[0] == 1
                        and msg[1] == msgid):
                    return msg
                # not the answer to this request: the connection cannot be trusted
                raise OSError(0, "an answer that is not msgpack-RPC for this request")
            chunk = self._sock.recv(1 << 16)  # type: ignore
            if not chunk:
                raise OSError(0, "closed by maillimitd")
            u.feed(chunk)

    # -- daemon ------------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when the daemon answers."""
        return self.call("ping") == "pong"

    def version(self) -> Dict[str, Any]:
        """The daemon's library version: ``{"library": "1.0.0", "number": 10000}``."""
        return self.call("version")

    def stats(self) -> Dict[str, int]:
        """The daemon's request counters (``maillimitctl stats``)."""
        return self.call("stats")

    def config_reload(self) -> None:
        """Re-read maillimitd's configuration file (a file with an error raises FormatError
        whose detail is ``"FILE:LINE: problem"`` and changes nothing)."""
        self.call("config.reload")

    def snapshot(self) -> None:
        """Make the daemon save its state file now."""
        self.call("snapshot.save")

    # -- hierarchy ---------------------------------------------------------------------------
    def _entity(self, method: str, level: str, name: Name, parent: Optional[Name] = None,
                with_parent: bool = False, what: str = "name", pwhat: str = "parent") -> None:
        args = [level, _wire_name(name, what)]
        if with_parent:
            args.append(_wire_name(parent, pwhat))
        self.call(method, *args)

    def plan_add(self, plan: Name) -> None:
        self._entity("entity.add", "plan", plan, what="plan")

    def subscription_add(self, subscription: Name, plan: Optional[Name] = None) -> None:
        self._entity("entity.add", "subscription", subscription, plan, True, "subscription",
                     "plan")

    def domain_add(self, domain: Name, subscription: Name) -> None:
        self._entity("entity.add", "domain", domain, subscription, True, "domain",
                     "subscription")

    def mailbox_add(self, address: Name) -> None:
        self._entity("entity.add", "mailbox", address, what="address")

    def sysuser_add(self, login: Name, subscription: Name) -> None:
        self._entity("entity.add", "sysuser", login, subscription, True, "login",
                     "subscription")

    def remove(self, level: int, name: Name) -> None:
        self.call("entity.remove", _wire_level(level), _wire_name(name))

    def sysuser_remove(self, login: Name) -> None:
        self._entity("entity.remove", "sysuser", login, what="login")

    def sysuser_move(self, login: Name, subscription: Name) -> None:
        self._entity("entity.move", "sysuser", login, subscription, True, "login",
                     "subscription")

    def domain_move(self, domain: Name, subscription: Name) -> None:
        self._entity("entity.move", "domain", domain, subscription, True, "domain",
                     "subscription")

    def subscription_plan_set(self, subscription: Name, plan: Optional[Name]) -> None:
        self._entity("entity.move", "subscription", subscription, plan, True, "subscription",
                     "plan")

    # -- limits, flags, settings -------------------------------------------------------------
    def limit_set(self, level: int, name: Optional[Name], target_level: int, window: int,
                  value: int) -> None:
        self.call("limit.set", _wire_level(level), _wire_name(name),
                  _wire_level(target_level, "target_level"), _int(window, "window"),
                  _i64(value, "value"))

    def limit_configured(self, level: int, name: Optional[Name], target_level: int,
                    window: int) -> int:
        return self.call("limit.configured", _wire_level(level), _wire_name(name),
                         _wire_level(target_level, "target_level"), _int(window, "window"))

    def limit_effective(self, level: int, name: Optional[Name], window: int = Window.HOUR) -> int:
        return self.call("limit.effective", _wire_level(level), _wire_name(name),
                         _int(window, "window"))

    def enabled_set(self, on: bool = True) -> None:
        self.call("enabled.set", bool(on))

    def enabled_get(self) -> bool:
        return bool(self.call("enabled.get"))

    def _flag(self, flag: int) -> Any:
        f = _int(flag, "flag")
        return ("sendmail", "exempt")[f] if f in (0, 1) else f

    def flag_set(self, level: int, name: Optional[Name], flag: int,
                 value: Union[bool, int]) -> None:
        self.call("flag.set", _wire_level(level), _wire_name(name), self._flag(flag),
                  _int(value, "value"))

    def flag_effective(self, level: int, name: Optional[Name], flag: int) -> bool:
        r = self.call("flag.get", _wire_level(level), _wire_name(name), self._flag(flag))
        return bool(r["effective"])

    def flag_configured(self, level: int, name: Optional[Name], flag: int) -> int:
        r = self.call("flag.get", _wire_level(level), _wire_name(name), self._flag(flag))
        return r["configured"]

    def unit_set(self, unit: int) -> None:
        u = _int(unit, "unit")
        self.call("unit.set", ("messages", "recipients")[u] if u in (0, 1) else u)

    def unit_get(self) -> Unit:
        return Unit.RECIPIENTS if self.call("unit.get") == "recipients" else Unit.MESSAGES

    # -- decisions and status ----------------------------------------------------------------
    def decide(self, level: int, sender: Name, cost: int = 1, now: int = 0) -> Verdict:
        """Decide and count, as :meth:`Limiter.decide` (the daemon counts it for real)."""
        r = self.call("decide", _wire_level(level), _wire_name(sender, "sender"),
                      _i64(cost, "cost"), _i64(now, "now"))
        return Verdict(Decision.DENY if r["decision"] == "deny" else Decision.ALLOW,
                       Reason[r["reason"].upper()], _level(r["level"]), _window(r["window"]),
                       r["limit"], r["count"], r["retry_after"], r.get("token", 0))

    def reset(self, level: int, name: Optional[Name]) -> None:
        self.call("reset", _wire_level(level), _wire_name(name))

    def status_get(self, level: int, name: Optional[Name], window: int = Window.HOUR,
                   now: int = 0) -> Status:
        return _status(self.call("status", _wire_level(level), _wire_name(name),
                                 _int(window, "window"), _i64(now, "now")))  # type: ignore

    status = status_get

    def status_many(self, items: Iterable[Tuple[int, Optional[Name]]],
                    window: int = Window.HOUR, now: int = 0) -> List[Status]:
        """The status of each ``(level, name)``, in order, in one request."""
        wire = [[_wire_level(lv), _wire_name(n)] for lv, n in items]
        return [_status(m) for m in self.call("status.many", wire, _int(window, "window"),
                                               _i64(now, "now"))]  # type: ignore

    # -- reports and events ------------------------------------------------------------------
    def retention_set(self, hours: int) -> None:
        self.call("retention", _i64(hours, "hours"))

    def retention_get(self) -> int:
        return self.call("retention")

    def _range(self, level: int, name: Optional[Name], start: int, end: int,
               now: int) -> Dict[str, Any]:
        return {"level": _wire_level(level), "name": _wire_name(name),
                "from": _i64(start, "start"), "to": _i64(end, "end"), "now": _i64(now, "now")}

    def history_open(self, level: int, name: Optional[Name], start: int, end: int,
                     now: int = 0) -> ListIterator:
        rows = self.call("history", **self._range(level, name, start, end, now))
        return ListIterator([HistoryRow(r["hour_start"], r["sent"], r["denied"], r["exempt"])
                             for r in rows])

    def episodes_open(self, level: int, name: Optional[Name], start: int, end: int,
                      now: int = 0) -> ListIterator:
        rows = self.call("episodes", **self._range(level, name, start, end, now))
        return ListIterator([Episode(_level(r["level"]), _text(r["name"]), _window(r["window"]),
                                     bool(r["ongoing"]), r["started"], r["ended"], r["limit"],
                                     r["denied"]) for r in rows])

    def top(self, level: int, metric: int, start: int, end: int, k: int = 10,
            scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
            now: int = 0) -> List[TopRow]:
        m = _int(metric, "metric")
        k = operator.index(k)
        if k < 0:
            _refuse(ErrorCode.EINVAL, f"k={k} < 0", "top")
        if k == 0:
            return []
        rows = self.call("top", level=_wire_level(level),
                         metric=("sent", "denied")[m] if m in (0, 1) else m,
                         **{"from": _i64(start, "start")}, to=_i64(end, "end"),
                         now=_i64(now, "now"), k=k,
                         scope_level=_wire_level(scope_level, "scope_level"),
                         scope_name=_wire_name(scope_name, "scope_name"))
        return [TopRow(_level(r["level"]), _text(r["name"]), r["sent"], r["denied"],
                       r["exempt"]) for r in rows]

    def summary_get(self, scope_level: int = Level.SERVER, scope_name: Optional[Name] = None,
                    start: int = 0, end: int = 0, now: int = 0) -> Summary:
        r = self.call("summary", **self._range(scope_level, scope_name, start, end, now))
        return Summary(r["sent"], r["denied"], r["exempt"], r["unattributed"],
                       r["limited_entities"])

    summary = summary_get

    def events_next(self, now: int = 0) -> Optional[Event]:
        """The oldest event of the daemon's log this client has not returned yet, or None.
        (The daemon keeps the recent events for every client; ``now`` is not used.)"""
        if not self._pending:
            for r in self.call("events", self._since):
                ev = Event(EventType.LIMIT_REACHED if r["type"] == "limit_reached"
                           else EventType.BACK_TO_NORMAL, _level(r["level"]), _text(r["name"]),
                           _window(r["window"]), r["time"], r["limit"], r["denied"], r["seq"])
                self._pending.append(ev)
        if not self._pending:
            return None
        ev = self._pending.pop(0)
        self._since = max(self._since, ev.seq)
        return ev

    # -- listing -----------------------------------------------------------------------------
    def _list_call(self, level: int, scope_level: int, scope_name: Optional[Name],
                   implicit: bool, offset: int, count: int, details: bool, window: int = 0,
                   now: int = 0) -> Dict[str, Any]:
        lv = _int(level, "level")
        return self.call("list", level="sysuser" if lv == LIST_SYSUSER else _wire_level(lv),
                         scope_level=_wire_level(scope_level, "scope_level"),
                         scope_name=_wire_name(scope_name, "scope_name"),
                         implicit=bool(implicit), offset=offset, count=count, details=details,
                         window=window, now=now)

    def list_open(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None, implicit: bool = False) -> ListIterator:
        """The whole listing, read in pages of 10000 that belong to one generation of the
        hierarchy (read again from the start if it changed in between)."""
        for _ in range(10):
            rows: List[Entity] = []
            gen = None
            while True:
                r = self._list_call(level, scope_level, scope_name, implicit, len(rows), _PAGE,
                                    False)
                if gen is not None and r["generation"] != gen:
                    break
                gen = r["generation"]
                rows += [Entity(_level(e["level"]), _text(e["name"]), _text(e["parent"]),
                                bool(e["implicit"])) for e in r["entities"]]
                if not r["entities"] or len(rows) >= r["total"]:
                    return ListIterator(rows)
        _refuse(ErrorCode.EBUSY, "the hierarchy kept changing while it was listed", "list")

    def list_page(self, level: int, scope_level: int = Level.SERVER,
                  scope_name: Optional[Name] = None, implicit: bool = False, offset: int = 0,
                  count: Optional[int] = None, window: int = Window.HOUR,
                  now: int = 0) -> ListPage:
        """One request: ``count`` entities (None: all, at most 100000) from ``offset`` with
        their limits, flags and status."""
        offset = operator.index(offset)
        if offset < 0:
            _refuse(ErrorCode.EINVAL, f"offset={offset} < 0", "list_page")
        if count is not None:
            count = operator.index(count)
            if count < 0:
                _refuse(ErrorCode.EINVAL, f"count={count} < 0", "list_page")
        r = self._list_call(level, scope_level, scope_name, implicit, offset,
                            100000 if count is None else count, True, _int(window, "window"),
                            _i64(now, "now"))
        out = []
        for e in r["entities"]:
            limits = {(_LEVEL_BY_NAME[t], _WINDOW_BY_NAME[w]): v
                      for t, ws in e.get("limits", {}).items() for w, v in ws.items()}
            flags = {Flag.SENDMAIL if f == "sendmail" else Flag.EXEMPT: v
                     for f, v in e.get("flags", {}).items()}
            out.append(EntityDetails(_level(e["level"]), _text(e["name"]), _text(e["parent"]),
                                     bool(e["implicit"]), limits, flags,
                                     _status(e.get("status"))))
        return ListPage(r["generation"], r["total"], offset, out)

    def generation(self) -> int:
        return self.call("generation")
