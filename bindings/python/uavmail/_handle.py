"""The life cycle every native handle shares: context manager, close(), errors."""
from __future__ import annotations

from typing import Any, Optional, TypeVar

from . import _native as N
from .errors import check

_T = TypeVar("_T", bound="Handle")


class Handle:
    """Owns one C handle.  Subclasses name the C functions that free it and that
    describe its last error, the library they are in, and what it is called in messages."""

    _h: Optional[int] = None
    _WHAT = "handle"
    _FREE = ""        # e.g. "uavmail_outbox_close"
    _LAST_ERROR = ""  # e.g. "uavmail_outbox_last_error"
    _LIB: Any = N.lib  # N.flight for the outbox, telemetry and alerts

    @property
    def handle(self) -> int:
        if not self._h:
            raise ValueError("uavmail: %s is closed" % self._WHAT)
        return self._h

    def close(self) -> None:
        """Free the native handle (again: nothing)."""
        if self._h:
            getattr(self._LIB, self._FREE)(self._h)
            self._h = None
            self._closed()

    def _closed(self) -> None:
        """Hook: drop what only the freed handle needed."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _check(self, rc: int) -> int:
        return check(rc, lambda: getattr(self._LIB, self._LAST_ERROR)(self._h))
