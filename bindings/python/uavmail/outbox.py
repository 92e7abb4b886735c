"""The crash-safe store-and-forward outbox."""
from __future__ import annotations

import ctypes
import dataclasses
import enum
from typing import Any, Callable, List, Optional

from . import _native as N
from ._handle import Handle
from .errors import check, stash
from .message import Message, PathLike
from .session import ClockFn, Settings


class Priority(enum.IntEnum):
    ALERT = 0
    NORMAL = 1
    BULK = 2


class EntryState(enum.IntEnum):
    QUEUED = 0
    BOUNCED = 1
    EXPIRED = 2
    DROPPED = 3


class Outcome(enum.IntEnum):
    DELIVERED = 0
    BOUNCED = 1
    EXPIRED = 2
    DROPPED = 3


#: Receives (entry id, outcome, smtp_code, reply) for every message finished.
OutcomeFn = Callable[[str, Outcome, int, str], None]


@dataclasses.dataclass
class Entry:
    id: str
    state: EntryState
    priority: Priority
    attempts: int
    outcome_unknown: bool
    created: int
    next_attempt: int
    expires: int
    size: int
    recipients: int
    delivered: int
    failed: int
    message_id: str
    subject: str
    last_error: str


@dataclasses.dataclass
class Stats:
    queued: int
    alerts: int
    dead: int
    corrupt: int
    bytes: int
    sent_last_hour: int


class Outbox(Handle):
    """An outbox directory (uavmail_outbox).  enqueue() returns once the message is
    on disk; flush() sends what is due.  Use as a context manager or call close()."""

    _WHAT, _FREE, _LAST_ERROR = "outbox", "uavmail_outbox_close", "uavmail_outbox_last_error"
    _LIB = N.flight

    def __init__(self, directory: PathLike, *, max_messages: int = 0, max_bytes: int = 0,
                 retry_initial_s: int = 0, retry_max_s: int = 0, rate_per_hour: int = 0,
                 drop_oldest_bulk: bool = False, on_outcome: Optional[OutcomeFn] = None,
                 clock: Optional[ClockFn] = None) -> None:
        self._on_outcome = on_outcome
        self._clock = clock
        # Both trampolines live as long as this object: C calls them from open,
        # enqueue and flush, never after close.
        self._c_outcome = N.OUTCOME_CB(self._outcome) if on_outcome else N.OUTCOME_CB()
        self._c_time = N.TIME_CB(self._time) if clock else N.TIME_CB()
        o = N.OutboxOptions()
        o.version = N.OUTBOX_OPTIONS_VERSION
        o.max_messages, o.max_bytes = max_messages, max_bytes
        o.retry_initial_s, o.retry_max_s = retry_initial_s, retry_max_s
        o.rate_per_hour, o.drop_oldest_bulk = rate_per_hour, int(drop_oldest_bulk)
        o.outcome_cb, o.time_cb = self._c_outcome, self._c_time
        self._opts = o
        h = ctypes.c_void_p()
        self._h: Optional[int] = None
        check(N.flight.uavmail_outbox_open(ctypes.byref(h), N.cstr(directory), ctypes.byref(o)),
              lambda: None)
        self._h = h.value

    def _outcome(self, id_: bytes, outcome: int, code: int, reply: bytes, _ud: Any) -> None:
        try:
            self._on_outcome(N.text(id_), Outcome(outcome), code, N.text(reply))  # type: ignore
        except BaseException as e:  # noqa: B902
            stash(e)

    def _time(self, _ud: Any) -> int:
        try:
            return int(self._clock())  # type: ignore[misc]
        except BaseException as e:  # noqa: B902
            stash(e)
            return -1


    def enqueue(self, msg: Message, priority: Priority = Priority.NORMAL, expires: int = 0,
                dedup_key: Optional[str] = None) -> str:
        """Store `msg` durably; returns the entry id."""
        buf = ctypes.create_string_buffer(64)
        rc = N.flight.uavmail_outbox_enqueue(self.handle, msg.handle, int(priority), int(expires),
                                             N.cstr(dedup_key), buf)
        if rc < 0 and N.lib.uavmail_error_code(N.flight.uavmail_outbox_last_error(self._h)) != rc:
            msg._check(rc)                     # a message error: detail is on the message
        self._check(rc)
        return N.text(buf.value)

    def set_link(self, up: bool) -> None:
        N.flight.uavmail_outbox_set_link(self.handle, int(up))

    def flush(self, settings: Settings) -> int:
        """Send what is due over one connection; returns how many messages finished."""
        ns = settings._native()                # alive for the duration of the call
        sent = ctypes.c_size_t()
        self._check(N.flight.uavmail_outbox_flush(self.handle, ns.ref(), ctypes.byref(sent)))
        return sent.value

    def entries(self) -> List[Entry]:
        out: List[Entry] = []

        def each(p: Any, _ud: Any) -> int:
            e = p.contents
            out.append(Entry(N.text(e.id), EntryState(e.state), Priority(e.priority), e.attempts,
                             bool(e.outcome_unknown), e.created, e.next_attempt, e.expires,
                             e.size, e.recipients, e.delivered, e.failed, N.text(e.message_id),
                             N.text(e.subject), N.text(e.last_error)))
            return 0
        cb = N.ENTRY_CB(each)                  # referenced until the call returns
        self._check(N.flight.uavmail_outbox_list(self.handle, cb, None))
        return out

    def remove(self, entry_id: str) -> None:
        self._check(N.flight.uavmail_outbox_remove(self.handle, N.cstr(entry_id)))

    def purge(self, all: bool = False) -> None:
        self._check(N.flight.uavmail_outbox_purge(self.handle, int(all)))

    def stats(self) -> Stats:
        s = N.OutboxStats()
        s.version = 1
        self._check(N.flight.uavmail_outbox_stats_get(self.handle, ctypes.byref(s)))
        return Stats(s.queued, s.alerts, s.dead, s.corrupt, s.bytes, s.sent_last_hour)
