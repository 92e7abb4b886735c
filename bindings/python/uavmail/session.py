"""Server settings, SMTP sessions and the connection probe."""
from __future__ import annotations

import ctypes
import dataclasses
import enum
import json
from typing import Any, Callable, Dict, List, Optional, Union

from . import _native as N
from ._handle import Handle
from .errors import RecipientsError, check, stash
from .message import Message, PathLike

#: Returns the password (called at AUTH time; the library wipes its copy after use).
PasswordFn = Callable[[], Union[str, bytes]]
#: Returns an OAuth2 access token; the argument is True when the last one was refused.
TokenFn = Callable[[bool], Union[str, bytes]]
#: Receives (direction, line) for every protocol line; credentials are redacted.
TraceFn = Callable[["Trace", str], None]
#: Returns the time in seconds since 1970 UTC (e.g. GPS time), or a negative value.
ClockFn = Callable[[], int]


class Security(enum.IntEnum):
    AUTO = 0
    TLS = 1
    STARTTLS = 2
    NONE = 3


class Trace(enum.IntEnum):
    CLIENT = 0
    SERVER = 1
    INFO = 2


def _write_secret(secret: Union[str, bytes], buf: int, cap: int, outlen: Any) -> int:
    b = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if len(b) > cap:
        raise ValueError("uavmail: credential longer than the library's buffer (%d bytes)" % cap)
    ctypes.memmove(buf, b, len(b))
    outlen[0] = len(b)
    return 0


class _Callbacks:
    """The trampolines of one Settings object.  Each ctypes function object lives
    here, and every handle that may call it keeps this object alive."""

    def __init__(self, s: "Settings") -> None:
        self.password = s.password
        self.token = s.token
        self.trace = s.trace
        self.clock = s.clock
        self.c_password = N.PASSWORD_CB(self._password) if s.password is not None \
            else N.PASSWORD_CB()
        self.c_token = N.TOKEN_CB(self._token) if s.token is not None else N.TOKEN_CB()
        self.c_trace = N.TRACE_CB(self._trace) if s.trace is not None else N.TRACE_CB()
        self.c_time = N.TIME_CB(self._time) if s.clock is not None else N.TIME_CB()

    def _password(self, buf: int, cap: int, outlen: Any, _ud: Any) -> int:
        try:
            p = self.password
            return _write_secret(p() if callable(p) else p, buf, cap, outlen)  # type: ignore
        except BaseException as e:  # noqa: B902
            stash(e)
            return 1

    def _token(self, buf: int, cap: int, outlen: Any, refresh: int, _ud: Any) -> int:
        try:
            return _write_secret(self.token(bool(refresh)), buf, cap, outlen)  # type: ignore
        except BaseException as e:  # noqa: B902
            stash(e)
            return 1

    def _trace(self, direction: int, line: int, n: int, _ud: Any) -> None:
        try:
            self.trace(Trace(direction), ctypes.string_at(line, n).decode("utf-8", "replace"))  # type: ignore
        except BaseException as e:  # noqa: B902
            stash(e)

    def _time(self, _ud: Any) -> int:
        try:
            return int(self.clock())  # type: ignore[misc]
        except BaseException as e:  # noqa: B902
            stash(e)
            return -1


@dataclasses.dataclass
class Settings:
    """How to reach and log in to the submission server (uavmail_session_options).

    `password` is a str or a function returning it when needed; `token` a function
    (refresh: bool) -> access token for XOAUTH2/OAUTHBEARER."""
    host: str
    port: int = 0
    security: Security = Security.AUTO
    cafile: Optional[PathLike] = None
    capath: Optional[PathLike] = None
    username: Optional[str] = None
    password: Union[None, str, PasswordFn] = dataclasses.field(default=None, repr=False)
    token: Optional[TokenFn] = dataclasses.field(default=None, repr=False)
    auth_mechanism: Optional[str] = None
    helo_name: Optional[str] = None
    connect_timeout_ms: int = 0
    command_timeout_ms: int = 0
    trace: Optional[TraceFn] = None
    clock: Optional[ClockFn] = None
    tls_session_file: Optional[PathLike] = None
    tls_pin_sha256: Optional[str] = None
    client_cert: Optional[PathLike] = None
    client_key: Optional[PathLike] = None

    @classmethod
    def provider(cls, name: str, **kw: Any) -> "Settings":
        """Settings for a known provider ("gmail", "office365", ...) plus your fields."""
        o = N.SessionOptions()
        N.lib.uavmail_session_options_init(ctypes.byref(o), N.SESSION_OPTIONS_VERSION)
        check(N.lib.uavmail_provider_preset(N.cstr(name), ctypes.byref(o), None), lambda: None)
        return cls(host=N.text(o.host), port=o.port, security=Security(o.security), **kw)

    def _native(self) -> "_NativeSettings":
        return _NativeSettings(self)


def provider_names() -> List[str]:
    out, i = [], 0
    while True:
        p = N.lib.uavmail_provider_name(i)
        if not p:
            return out
        out.append(N.text(p))
        i += 1


class _NativeSettings:
    """A filled uavmail_session_options plus everything its pointers point to."""

    def __init__(self, s: Settings) -> None:
        self.callbacks = _Callbacks(s)
        o = N.SessionOptions()
        N.lib.uavmail_session_options_init(ctypes.byref(o), N.SESSION_OPTIONS_VERSION)
        self.strings = {k: N.cstr(getattr(s, k)) for k in (
            "host", "cafile", "capath", "username", "auth_mechanism", "helo_name",
            "tls_session_file", "tls_pin_sha256", "client_cert", "client_key")}
        for k, v in self.strings.items():
            setattr(o, k, v)
        o.port = int(s.port)
        o.security = int(s.security)
        o.connect_timeout_ms = int(s.connect_timeout_ms)
        o.command_timeout_ms = int(s.command_timeout_ms)
        cb = self.callbacks
        o.password_cb, o.token_cb, o.trace_cb, o.time_cb = (cb.c_password, cb.c_token,
                                                            cb.c_trace, cb.c_time)
        self.opts = o

    def ref(self) -> Any:
        return ctypes.byref(self.opts)


@dataclasses.dataclass
class Recipient:
    address: str
    smtp_code: int
    reply: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.smtp_code < 300


class Session(Handle):
    """An SMTP session (uavmail_session): connects on the first send and keeps the
    connection for later ones; closing says QUIT.  One thread at a time."""

    _WHAT, _FREE, _LAST_ERROR = "session", "uavmail_session_free", "uavmail_session_last_error"

    def __init__(self, settings: Settings) -> None:
        self._native = settings._native()      # keeps callbacks alive for the handle's life
        h = ctypes.c_void_p()
        check(N.lib.uavmail_session_new(ctypes.byref(h), self._native.ref()), lambda: None)
        self._h: Optional[int] = h.value
        self._msg: Optional[Message] = None    # the message of a non-blocking send


    def send(self, msg: Message, final: bool = False) -> List[Recipient]:
        """Send `msg`; returns every recipient's result.  Raises RecipientsError (with
        .recipients) when only some were accepted, another UavmailError otherwise."""
        fn = N.lib.uavmail_session_send_final if final else N.lib.uavmail_session_send
        rc = fn(self.handle, msg.handle)
        try:
            self._check(rc)
        except RecipientsError as e:
            e.recipients = self.recipients()
            raise
        return self.recipients()

    def recipients(self) -> List[Recipient]:
        out = []
        for i in range(N.lib.uavmail_session_recipient_count(self.handle)):
            a, r, c = ctypes.c_char_p(), ctypes.c_char_p(), ctypes.c_int()
            N.lib.uavmail_session_recipient(self.handle, i, ctypes.byref(a), ctypes.byref(c),
                                            ctypes.byref(r))
            out.append(Recipient(N.text(a.value), c.value, N.text(r.value)))
        return out

    def quit(self) -> None:
        self._check(N.lib.uavmail_session_quit(self.handle))

    # ---- non-blocking use from an event loop (asyncio, Qt, select) ----
    def start(self, msg: Message, final: bool = False) -> None:
        """Begin a send; then call step() whenever fileno() is ready as it asks."""
        self._check(N.lib.uavmail_session_start(self.handle, msg.handle, int(final)))
        self._msg = msg                        # must outlive the operation

    def step(self) -> Optional[str]:
        """Make progress: returns "read" or "write" (what to wait for), or None when done
        (raising on failure, as send() does)."""
        want = ctypes.c_int()
        rc = N.lib.uavmail_session_step(self.handle, ctypes.byref(want))
        if rc == -28:
            return "read" if want.value == 1 else "write"
        self._msg = None
        self._check(rc)
        return None

    def fileno(self) -> int:
        return N.lib.uavmail_session_fd(self.handle)

    def timeout_ms(self) -> int:
        return N.lib.uavmail_session_timeout_ms(self.handle)

    @property
    def is_secure(self) -> bool:
        return bool(N.lib.uavmail_session_is_secure(self.handle))

    @property
    def tls_version(self) -> str:
        return N.text(N.lib.uavmail_session_tls_version(self.handle))

    @property
    def tls_ciphersuite(self) -> str:
        return N.text(N.lib.uavmail_session_tls_ciphersuite(self.handle))


@dataclasses.dataclass
class ProbeReport:
    """The result of probe(): verdict 0 means a send would work."""
    verdict: int
    text: str
    json: Dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.verdict == 0


def probe(settings: Settings, try_login: bool = True) -> ProbeReport:
    """Test a configuration without sending (DNS, TCP, TLS mode, certificate,
    capabilities, login) and say what to fix."""
    ns = settings._native()
    h = ctypes.c_void_p()
    check(N.lib.uavmail_probe(ctypes.byref(h), ns.ref(), int(try_login)), lambda: None)
    try:
        return ProbeReport(N.lib.uavmail_probe_verdict(h), N.text(N.lib.uavmail_probe_text(h)),
                           json.loads(N.text(N.lib.uavmail_probe_json(h)) or "{}"))
    finally:
        N.lib.uavmail_probe_free(h)
