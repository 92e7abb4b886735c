"""Exceptions raised for negative uavmail return codes.

Every exception carries what the C library knows about the failure: the code
(and its enum name), the message, a hint saying how to fix it, the SMTP reply
code, the enhanced status code, the server's reply text and the TLS code.
"""
from __future__ import annotations

import threading
from typing import Callable, Dict, List, Optional, Type

from . import _native as N

#: Error code values (enum uavmail_error).
CODES: Dict[str, int] = {
    "ENOMEM": -1, "EINVAL": -2, "ESTATE": -3, "EADDRESS": -4, "EHEADER": -5, "EENCODING": -6,
    "EFILE": -7, "ETOOBIG": -8, "ERESOLVE": -9, "ECONNECT": -10, "ETIMEOUT": -11, "EIO": -12,
    "ETLS": -13, "ECERT": -14, "ENOTLS": -15, "EPROTOCOL": -16, "EINJECTION": -17,
    "EAUTH": -18, "ENOAUTH": -19, "ETEMPFAIL": -20, "EPERMFAIL": -21, "ERECIPIENTS": -22,
    "EUNKNOWN": -23, "ECONFIG": -24, "ECALLBACK": -25, "ECLOSED": -26, "EINTERNAL": -27,
    "EAGAIN": -28, "EFULL": -29,
}
NAMES: Dict[int, str] = {v: k for k, v in CODES.items()}


class UavmailError(Exception):
    """A uavmail call failed.  Attributes: code, name, message, hint, smtp_code,
    enhanced_code, server_reply, tls_code, temporary."""

    def __init__(self, code: int, message: str = "", hint: str = "", smtp_code: int = 0,
                 enhanced_code: str = "", server_reply: str = "", tls_code: int = 0) -> None:
        self.code = code
        self.name = "UAVMAIL_" + NAMES.get(code, "E%d" % -code)
        self.message = message or N.text(N.lib.uavmail_strerror(code))
        self.hint = hint
        self.smtp_code = smtp_code
        self.enhanced_code = enhanced_code
        self.server_reply = server_reply
        self.tls_code = tls_code
        self.temporary = bool(N.lib.uavmail_error_is_temporary(code))
        super().__init__(str(self))

    def __str__(self) -> str:
        s = "%s: %s" % (self.name, self.message)
        if self.smtp_code:
            s += " [%d%s]" % (self.smtp_code, " " + self.enhanced_code if self.enhanced_code
                              else "")
        if self.hint:
            s += " (hint: %s)" % self.hint
        return s


class InvalidArgumentError(UavmailError, ValueError):
    """EINVAL, ESTATE, ECONFIG: the call or configuration cannot work."""


class AddressError(UavmailError, ValueError):
    """EADDRESS: a malformed e-mail address."""


class HeaderError(UavmailError, ValueError):
    """EHEADER, EENCODING: a header or text that cannot go into a message."""


class FileError(UavmailError):
    """EFILE: an attachment, CA file, message file or outbox directory cannot be used."""


class TooBigError(UavmailError):
    """ETOOBIG: a local or server size limit."""


class NetworkError(UavmailError):
    """ERESOLVE, ECONNECT, ETIMEOUT, EIO, ECLOSED: the server could not be reached or the link
    was lost."""


class TlsError(UavmailError):
    """ETLS, ECERT, ENOTLS, EINJECTION: the connection could not be secured."""


class AuthError(UavmailError):
    """EAUTH, ENOAUTH: the server refused the credentials or offers no usable mechanism."""


class ServerError(UavmailError):
    """ETEMPFAIL, EPERMFAIL, EPROTOCOL: the server refused or misbehaved."""


class RecipientsError(ServerError):
    """ERECIPIENTS: some recipients were accepted, others refused; see .recipients."""
    recipients: list = []


class OutcomeUnknownError(UavmailError):
    """EUNKNOWN: the link was lost after the message was sent."""


class OutboxFullError(UavmailError):
    """EFULL: the outbox reached its message or byte limit."""


class CallbackError(UavmailError):
    """ECALLBACK: an application callback aborted the operation (its exception, if one was
    raised, is chained as __cause__)."""


_CLASSES: Dict[int, Type[UavmailError]] = {}
for _cls, _names in (
        (InvalidArgumentError, ("EINVAL", "ESTATE", "ECONFIG")),
        (AddressError, ("EADDRESS",)), (HeaderError, ("EHEADER", "EENCODING")),
        (FileError, ("EFILE",)), (TooBigError, ("ETOOBIG",)),
        (NetworkError, ("ERESOLVE", "ECONNECT", "ETIMEOUT", "EIO", "ECLOSED")),
        (TlsError, ("ETLS", "ECERT", "ENOTLS", "EINJECTION")),
        (AuthError, ("EAUTH", "ENOAUTH")),
        (ServerError, ("ETEMPFAIL", "EPERMFAIL", "EPROTOCOL")),
        (RecipientsError, ("ERECIPIENTS",)), (OutcomeUnknownError, ("EUNKNOWN",)),
        (OutboxFullError, ("EFULL",)), (CallbackError, ("ECALLBACK",))):
    for _n in _names:
        _CLASSES[CODES[_n]] = _cls


def error_class(code: int) -> Type[UavmailError]:
    return _CLASSES.get(code, UavmailError)


def from_detail(code: int, detail: Optional[int]) -> UavmailError:
    """Build the exception for `code` from a uavmail_error_detail pointer (or None)."""
    cls = error_class(code)
    if not detail or N.lib.uavmail_error_code(detail) != code:
        return cls(code)
    L = N.lib
    return cls(code, N.text(L.uavmail_error_message(detail)), N.text(L.uavmail_error_hint(detail)),
               L.uavmail_error_smtp_code(detail), N.text(L.uavmail_error_enhanced_code(detail)),
               N.text(L.uavmail_error_server_reply(detail)), L.uavmail_error_tls_code(detail))


# ---- exceptions raised inside callbacks ---------------------------------------
# A Python exception cannot cross the C frames; a trampoline stores it here and
# returns an abort code, and check() re-raises it once C has returned.  Callbacks
# run on the thread that called the library, so a thread-local list is exact.
_pending = threading.local()


def stash(exc: BaseException) -> None:
    lst: List[BaseException] = getattr(_pending, "items", None) or []
    lst.append(exc)
    _pending.items = lst


def _take() -> Optional[BaseException]:
    lst = getattr(_pending, "items", None)
    _pending.items = []
    return lst[0] if lst else None


def check(rc: int, detail: Callable[[], Optional[int]]) -> int:
    """Raise for a negative return code (detail() gives the handle's error detail);
    re-raise an exception a callback raised during the call."""
    cb_exc = _take()
    if rc >= 0 and cb_exc is None:
        return rc
    if rc >= 0:
        raise cb_exc  # type: ignore[misc]
    err = from_detail(rc, detail())
    if cb_exc is not None:
        if isinstance(cb_exc, (KeyboardInterrupt, SystemExit)):
            raise cb_exc
        raise err from cb_exc
    raise err
