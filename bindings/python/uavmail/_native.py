"""Loading libuavmail and libuavmail-flight and declaring their C functions (ctypes,
no compiler).

libuavmail, the mail core (messages, sessions, probe), is loaded on import.
libuavmail-flight (outbox, telemetry, alerts; it needs the core) is loaded on
first use, so the mail API works where only the core is installed; without it,
Outbox, Telemetry and Alerts raise an ImportError that names it.  Each is looked
for, in order (the flight library's names in parentheses):
  1. the path in the environment variable UAVMAIL_LIBRARY (UAVMAIL_FLIGHT_LIBRARY);
     (for the flight library, next: the directory the core was loaded from;)
  2. a copy shipped next to this package: ``uavmail/lib/libuavmail.so*``
     (``libuavmail-flight.so*``), or the ``.dylib`` of that name, or ``uavmail.dll``
     (``uavmail-flight.dll``);
  3. a freshly built tree: ``<repo>/build*/lib/libuavmail.so`` (``libuavmail-flight.so``)
     when this package still sits in ``<repo>/bindings/python``;
  4. the system library, through ``ctypes.util.find_library("uavmail")``
     (``"uavmail-flight"``);
  5. the ABI's file name for the loader's own search: ``libuavmail.so.1``
     (``libuavmail-flight.so.1``) on Linux, ``uavmail.dll`` (``uavmail-flight.dll``)
     on Windows.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_int64, c_long,
                    c_size_t, c_uint, c_uint64, c_void_p)
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

#: The library version this binding was written for (major, minor, patch).
BINDING_VERSION: Tuple[int, int, int] = (0, 3, 0)

#: The ABI version in both libraries' Linux file names (libuavmail.so.1; Windows DLLs carry none).
SOVERSION = 1

ENV_LIBRARY = "UAVMAIL_LIBRARY"
ENV_FLIGHT_LIBRARY = "UAVMAIL_FLIGHT_LIBRARY"

SESSION_OPTIONS_VERSION = 3
MESSAGE_OPTIONS_VERSION = 1
OUTBOX_OPTIONS_VERSION = 1
SAMPLE_VERSION = 1
TELEMETRY_OPTIONS_VERSION = 1
FLIGHT_SUMMARY_VERSION = 1
REPORT_OPTIONS_VERSION = 1
ALERT_RULE_VERSION = 1
ALERTS_OPTIONS_VERSION = 1


class LibraryVersionError(ImportError):
    """The loaded libuavmail is not the version this binding was written for."""


class _Library(NamedTuple):
    """One of the two libraries: its name without ``lib`` and suffix (as find_library
    takes it), the environment variable that overrides the search, and what needs it."""
    name: str
    env: str
    needed_by: str


CORE = _Library("uavmail", ENV_LIBRARY, "")
FLIGHT = _Library("uavmail-flight", ENV_FLIGHT_LIBRARY, "Outbox, Telemetry and Alerts")


def _candidates(which: _Library) -> List[str]:
    out: List[str] = []
    env = os.environ.get(which.env)
    if env:
        return [env]          # an explicit choice is never second-guessed
    stem = "lib" + which.name
    if which is FLIGHT and os.path.dirname(path):
        # Beside the core that was loaded first: the two come from the same release.
        near = Path(path).resolve().parent
        out += [str(near / n) for n in ("%s.so.%d" % (stem, SOVERSION), stem + ".so",
                                         stem + ".dylib", which.name + ".dll")
                if (near / n).exists()]
    here = Path(__file__).resolve().parent
    # The patterns never match the other library: "libuavmail." and "uavmail.dll" are not
    # prefixes of "libuavmail-flight" and "uavmail-flight.dll".
    out += sorted(str(p) for p in (here / "lib").glob(stem + ".so*"))
    out += sorted(str(p) for p in (here / "lib").glob(stem + ".*dylib"))
    out += [str(p) for p in (here / "lib").glob(which.name + ".dll")]
    if here.parent.name == "python" and here.parent.parent.name == "bindings":
        repo = here.parent.parent.parent      # still inside the source tree
        for build in sorted(repo.glob("build*")):
            lib = build / "lib" / (stem + ".so")
            if lib.exists():
                out.append(str(lib))
    found = ctypes.util.find_library(which.name)
    if found:
        out.append(found)
    if sys.platform.startswith("linux"):
        out.append("%s.so.%d" % (stem, SOVERSION))
    elif sys.platform == "win32":
        out.append(which.name + ".dll")
    return out


def _load(which: _Library) -> Tuple[ctypes.CDLL, str]:
    errors = []
    for cand in _candidates(which):
        try:
            return ctypes.CDLL(cand), cand
        except OSError as e:
            errors.append(f"{cand}: {e}")
    need = f", which {which.needed_by} need" if which.needed_by else ""
    raise ImportError("uavmail: cannot load lib%s%s (set %s to its path); tried:\n  %s"
                      % (which.name, need, which.env, "\n  ".join(errors) or "nothing found"))


def check_version(runtime: int, where: str = "libuavmail") -> None:
    """Refuse a library whose packed version (0xMMmmpp) does not fit this binding:
    the major must match, and so must the minor while the major is 0 (0.x makes no
    promise across minors); an older patch level or minor is refused too."""
    major, minor, patch = runtime >> 16, (runtime >> 8) & 0xFF, runtime & 0xFF
    want = BINDING_VERSION
    ok = major == want[0] and (minor, patch) >= want[1:] and (major != 0 or minor == want[1])
    if not ok:
        raise LibraryVersionError(
            "uavmail: this Python binding was written for libuavmail %d.%d.%d but %s is "
            "version %d.%d.%d; install a matching library or binding, or point %s at one"
            % (want + (where, major, minor, patch, ENV_LIBRARY)))


# ---- callback types ---------------------------------------------------------
READ_CB = CFUNCTYPE(c_long, c_void_p, c_size_t, c_uint64, c_void_p)
PASSWORD_CB = CFUNCTYPE(c_int, c_void_p, c_size_t, POINTER(c_size_t), c_void_p)
TOKEN_CB = CFUNCTYPE(c_int, c_void_p, c_size_t, POINTER(c_size_t), c_int, c_void_p)
TIME_CB = CFUNCTYPE(c_int64, c_void_p)
TRACE_CB = CFUNCTYPE(None, c_int, c_void_p, c_size_t, c_void_p)
OUTCOME_CB = CFUNCTYPE(None, c_char_p, c_int, c_int, c_char_p, c_void_p)


class SessionOptions(Structure):
    _fields_ = [
        ("version", c_uint), ("host", c_char_p), ("port", c_uint), ("security", c_int),
        ("cafile", c_char_p), ("capath", c_char_p), ("username", c_char_p),
        ("password_cb", PASSWORD_CB), ("password_user_data", c_void_p),
        ("helo_name", c_char_p), ("connect_timeout_ms", c_uint), ("command_timeout_ms", c_uint),
        ("transport", c_void_p), ("allocator", c_void_p),
        ("trace_cb", TRACE_CB), ("trace_user_data", c_void_p),
        ("timeout_greeting_ms", c_uint), ("timeout_mail_ms", c_uint),
        ("timeout_rcpt_ms", c_uint), ("timeout_data_ms", c_uint),
        ("timeout_block_ms", c_uint), ("timeout_data_end_ms", c_uint),
        ("tls_session_file", c_char_p),
        ("token_cb", TOKEN_CB), ("token_user_data", c_void_p),
        ("auth_mechanism", c_char_p), ("trace_auth_raw", c_int),
        ("time_cb", TIME_CB), ("time_user_data", c_void_p),
        ("tls_pin_sha256", c_char_p), ("client_cert", c_char_p), ("client_key", c_char_p),
    ]


class MessageOptions(Structure):
    _fields_ = [("version", c_uint), ("allocator", c_void_p), ("message_id_domain", c_char_p)]


class OutboxOptions(Structure):
    _fields_ = [
        ("version", c_uint), ("allocator", c_void_p), ("max_messages", c_uint),
        ("max_bytes", c_uint64), ("retry_initial_s", c_uint), ("retry_max_s", c_uint),
        ("rate_per_hour", c_uint), ("drop_oldest_bulk", c_int),
        ("outcome_cb", OUTCOME_CB), ("outcome_user_data", c_void_p),
        ("time_cb", TIME_CB), ("time_user_data", c_void_p),
    ]


class OutboxEntry(Structure):
    _fields_ = [
        ("version", c_uint), ("id", c_char_p), ("state", c_int), ("priority", c_int),
        ("attempts", c_uint), ("outcome_unknown", c_int),
        ("created", c_int64), ("next_attempt", c_int64), ("expires", c_int64),
        ("size", c_uint64), ("recipients", c_size_t), ("delivered", c_size_t),
        ("failed", c_size_t), ("message_id", c_char_p), ("subject", c_char_p),
        ("last_error", c_char_p),
    ]


class OutboxStats(Structure):
    _fields_ = [
        ("version", c_uint), ("queued", c_size_t), ("alerts", c_size_t), ("dead", c_size_t),
        ("corrupt", c_size_t), ("bytes", c_uint64), ("sent_last_hour", c_uint),
    ]


ENTRY_CB = CFUNCTYPE(c_int, POINTER(OutboxEntry), c_void_p)


# ---- telemetry.h ----
class Sample(Structure):
    _fields_ = [
        ("version", c_uint), ("time_us", c_int64),
        ("lat", c_double), ("lon", c_double), ("alt_msl", c_double), ("alt_rel", c_double),
        ("ground_speed", c_double), ("climb", c_double), ("heading", c_double),
        ("voltage", c_double), ("current", c_double), ("remaining", c_double), ("hdop", c_double),
        ("fix_type", c_int), ("satellites", c_int), ("armed", c_int), ("in_air", c_int),
        ("mode", c_char_p), ("custom", POINTER(c_double)), ("custom_count", c_size_t),
    ]


class TelemetryOptions(Structure):
    _fields_ = [("version", c_uint), ("vehicle", c_char_p), ("memory_samples", c_size_t),
                ("spill_dir", c_char_p), ("allocator", c_void_p)]


class FlightSummary(Structure):
    _fields_ = [
        ("version", c_uint), ("samples", c_uint64), ("start_us", c_int64), ("end_us", c_int64),
        ("takeoff_us", c_int64), ("landing_us", c_int64),
        ("duration_s", c_double), ("air_time_s", c_double), ("distance_m", c_double),
        ("max_alt_rel_m", c_double), ("max_alt_msl_m", c_double), ("max_speed_mps", c_double),
        ("battery_start_v", c_double), ("battery_end_v", c_double), ("battery_min_v", c_double),
        ("battery_start_pct", c_double), ("battery_end_pct", c_double),
        ("charge_mah", c_double), ("energy_wh", c_double),
        ("min_satellites", c_int), ("max_hdop", c_double), ("no_fix_s", c_double),
        ("fix_losses", c_uint),
        ("home_lat", c_double), ("home_lon", c_double), ("home_alt_msl", c_double),
        ("land_lat", c_double), ("land_lon", c_double), ("land_home_m", c_double),
        ("events", c_uint), ("warnings", c_uint), ("flags", c_uint),
    ]


class ReportOptions(Structure):
    _fields_ = [("version", c_uint), ("formats", c_uint), ("raw_log", c_char_p),
                ("raw_log_cap", c_uint64), ("flags", c_uint), ("notes", c_char_p)]


# ---- alert.h ----
class AlertRule(Structure):
    _fields_ = [("version", c_uint), ("key", c_char_p), ("source", c_char_p), ("op", c_int),
                ("trigger", c_double), ("clear", c_double), ("hold_s", c_double),
                ("repeat_s", c_double), ("severity", c_int), ("text", c_char_p)]


class Alert(Structure):
    _fields_ = [("key", c_char_p), ("text", c_char_p), ("severity", c_int), ("value", c_double),
                ("time_us", c_int64), ("suppressed", c_uint), ("digest", c_int)]


ALERT_CB = CFUNCTYPE(c_int, POINTER(Alert), c_void_p)


class AlertsOptions(Structure):
    _fields_ = [("version", c_uint), ("repeat_s", c_double), ("cb", ALERT_CB),
                ("user_data", c_void_p), ("allocator", c_void_p)]


_VP = c_void_p
# name: (restype, argtypes); libuavmail: common.h, error.h, message.h, session.h
_PROTOS = {
    "uavmail_version": (c_uint, []),
    "uavmail_version_string": (c_char_p, []),
    "uavmail_strerror": (c_char_p, [c_int]),
    "uavmail_error_is_temporary": (c_int, [c_int]),
    "uavmail_error_code": (c_int, [_VP]),
    "uavmail_error_message": (c_char_p, [_VP]),
    "uavmail_error_hint": (c_char_p, [_VP]),
    "uavmail_error_smtp_code": (c_int, [_VP]),
    "uavmail_error_enhanced_code": (c_char_p, [_VP]),
    "uavmail_error_server_reply": (c_char_p, [_VP]),
    "uavmail_error_tls_code": (c_long, [_VP]),
    "uavmail_message_options_init": (c_int, [POINTER(MessageOptions), c_uint]),
    "uavmail_message_new": (c_int, [POINTER(_VP), POINTER(MessageOptions)]),
    "uavmail_message_free": (None, [_VP]),
    "uavmail_message_last_error": (_VP, [_VP]),
    "uavmail_message_set_from": (c_int, [_VP, c_char_p, c_char_p]),
    "uavmail_message_add_recipient": (c_int, [_VP, c_int, c_char_p, c_char_p]),
    "uavmail_message_set_subject": (c_int, [_VP, c_char_p]),
    "uavmail_message_set_text": (c_int, [_VP, c_char_p, c_size_t]),
    "uavmail_message_set_html": (c_int, [_VP, c_char_p, c_size_t]),
    "uavmail_message_attach_file": (c_int, [_VP, c_char_p, c_char_p, c_char_p]),
    "uavmail_message_attach_memory": (c_int, [_VP, _VP, c_size_t, c_char_p, c_char_p]),
    "uavmail_message_attach_fd": (c_int, [_VP, c_int, c_char_p, c_char_p]),
    "uavmail_message_attach_callback": (c_int, [_VP, READ_CB, c_int64, c_char_p, c_char_p,
                                                _VP]),
    "uavmail_message_add_inline_file": (c_int, [_VP, c_char_p, c_char_p, c_char_p]),
    "uavmail_message_add_inline_memory": (c_int, [_VP, _VP, c_size_t, c_char_p, c_char_p]),
    "uavmail_message_set_reply_to": (c_int, [_VP, c_char_p, c_char_p]),
    "uavmail_message_add_header": (c_int, [_VP, c_char_p, c_char_p]),
    "uavmail_message_set_dsn": (c_int, [_VP, c_uint, c_int, c_char_p]),
    "uavmail_message_set_prepared_file": (c_int, [_VP, c_char_p]),
    "uavmail_message_size": (c_int, [_VP, c_uint, POINTER(c_uint64)]),
    "uavmail_message_render": (c_int, [_VP, c_uint, _VP, c_size_t, POINTER(c_size_t)]),
    "uavmail_message_check": (c_int, [_VP]),
    "uavmail_message_write_file": (c_int, [_VP, c_char_p]),
    "uavmail_session_options_init": (c_int, [POINTER(SessionOptions), c_uint]),
    "uavmail_session_new": (c_int, [POINTER(_VP), POINTER(SessionOptions)]),
    "uavmail_session_free": (None, [_VP]),
    "uavmail_session_send": (c_int, [_VP, _VP]),
    "uavmail_session_send_final": (c_int, [_VP, _VP]),
    "uavmail_session_quit": (c_int, [_VP]),
    "uavmail_session_is_secure": (c_int, [_VP]),
    "uavmail_session_tls_version": (c_char_p, [_VP]),
    "uavmail_session_tls_ciphersuite": (c_char_p, [_VP]),
    "uavmail_session_start": (c_int, [_VP, _VP, c_int]),
    "uavmail_session_step": (c_int, [_VP, POINTER(c_int)]),
    "uavmail_session_fd": (c_int, [_VP]),
    "uavmail_session_timeout_ms": (c_uint, [_VP]),
    "uavmail_session_recipient": (c_int, [_VP, c_size_t, POINTER(c_char_p), POINTER(c_int),
                                          POINTER(c_char_p)]),
    "uavmail_session_recipient_count": (c_size_t, [_VP]),
    "uavmail_session_last_error": (_VP, [_VP]),
    "uavmail_provider_preset": (c_int, [c_char_p, POINTER(SessionOptions), POINTER(c_char_p)]),
    "uavmail_provider_name": (c_char_p, [c_size_t]),
    "uavmail_probe": (c_int, [POINTER(_VP), POINTER(SessionOptions), c_int]),
    "uavmail_probe_free": (None, [_VP]),
    "uavmail_probe_verdict": (c_int, [_VP]),
    "uavmail_probe_text": (c_char_p, [_VP]),
    "uavmail_probe_json": (c_char_p, [_VP]),
}

# libuavmail-flight: outbox.h, telemetry.h, alert.h
_FLIGHT_PROTOS = {
    "uavmail_outbox_open": (c_int, [POINTER(_VP), c_char_p, POINTER(OutboxOptions)]),
    "uavmail_outbox_close": (None, [_VP]),
    "uavmail_outbox_last_error": (_VP, [_VP]),
    "uavmail_outbox_enqueue": (c_int, [_VP, _VP, c_int, c_int64, c_char_p, c_char_p]),
    "uavmail_outbox_set_link": (None, [_VP, c_int]),
    "uavmail_outbox_flush": (c_int, [_VP, POINTER(SessionOptions), POINTER(c_size_t)]),
    "uavmail_outbox_list": (c_int, [_VP, ENTRY_CB, _VP]),
    "uavmail_outbox_remove": (c_int, [_VP, c_char_p]),
    "uavmail_outbox_purge": (c_int, [_VP, c_int]),
    "uavmail_outbox_stats_get": (c_int, [_VP, POINTER(OutboxStats)]),
    "uavmail_sample_init": (c_int, [POINTER(Sample), c_uint]),
    "uavmail_telemetry_options_init": (c_int, [POINTER(TelemetryOptions), c_uint]),
    "uavmail_telemetry_new": (c_int, [POINTER(_VP), POINTER(TelemetryOptions)]),
    "uavmail_telemetry_free": (None, [_VP]),
    "uavmail_telemetry_last_error": (_VP, [_VP]),
    "uavmail_telemetry_add_channel": (c_int, [_VP, c_char_p, c_char_p, POINTER(c_size_t)]),
    "uavmail_telemetry_append": (c_int, [_VP, POINTER(Sample)]),
    "uavmail_telemetry_count": (c_uint64, [_VP]),
    "uavmail_telemetry_set_home": (c_int, [_VP, c_double, c_double, c_double]),
    "uavmail_telemetry_add_event": (c_int, [_VP, c_int64, c_int, c_char_p]),
    "uavmail_telemetry_summary": (c_int, [_VP, POINTER(FlightSummary)]),
    "uavmail_telemetry_write_file": (c_int, [_VP, c_int, c_char_p]),
    "uavmail_telemetry_attach": (c_int, [_VP, _VP, c_int, c_char_p]),
    "uavmail_report_options_init": (c_int, [POINTER(ReportOptions), c_uint]),
    "uavmail_telemetry_report": (c_int, [_VP, _VP, POINTER(ReportOptions)]),
    "uavmail_encoded_size": (c_uint64, [c_uint64]),
    "uavmail_alert_rule_init": (c_int, [POINTER(AlertRule), c_uint]),
    "uavmail_alerts_options_init": (c_int, [POINTER(AlertsOptions), c_uint]),
    "uavmail_alerts_new": (c_int, [POINTER(_VP), POINTER(AlertsOptions)]),
    "uavmail_alerts_free": (None, [_VP]),
    "uavmail_alerts_last_error": (_VP, [_VP]),
    "uavmail_alerts_add": (c_int, [_VP, POINTER(AlertRule)]),
    "uavmail_alerts_parse": (c_int, [_VP, c_char_p]),
    "uavmail_alerts_value": (c_int, [_VP, c_char_p, c_double, c_int64]),
    "uavmail_alerts_event": (c_int, [_VP, c_char_p, c_int, c_char_p, c_int64]),
    "uavmail_alerts_tick": (c_int, [_VP, c_int64]),
    "uavmail_alerts_flush": (c_int, [_VP, c_int64]),
}


def _declare(lib: ctypes.CDLL, protos: Dict[str, Tuple[Any, List[Any]]]) -> None:
    for name, (res, args) in protos.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


class _FlightLibrary:
    """libuavmail-flight, loaded and declared on first use.  Its C functions are read as
    attributes (``flight.uavmail_outbox_open``); when it cannot be loaded, every use
    raises the ImportError that says what was tried, and the search is not repeated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._error = ""
        self._path = ""

    def load(self) -> str:
        """Load the library if that has not been tried yet; returns the path it was
        loaded from or raises the ImportError saying why it cannot be."""
        with self._lock:
            if not self._path and not self._error:
                self._error = self._open()
        if self._error:
            raise ImportError(self._error)
        return self._path

    def _open(self) -> str:
        """Loads and declares; "" on success, else the error text."""
        try:
            dll, where = _load(FLIGHT)
        except ImportError as e:
            return str(e)
        try:
            _declare(dll, _FLIGHT_PROTOS)
        except AttributeError as e:
            return ("uavmail: %s is not the libuavmail-flight this binding was written for "
                    "(%s); point %s at a matching one" % (where, e, ENV_FLIGHT_LIBRARY))
        # Plain attributes from now on: __getattr__ is not reached again.
        self.__dict__.update((name, getattr(dll, name)) for name in _FLIGHT_PROTOS)
        self._path = where
        return ""

    def __getattr__(self, name: str) -> Any:
        if name not in _FLIGHT_PROTOS:
            raise AttributeError(name)
        self.load()
        return self.__dict__[name]


lib, path = _load(CORE)
_declare(lib, _PROTOS)
check_version(lib.uavmail_version(), path)
flight = _FlightLibrary()


def text(p: Optional[bytes]) -> str:
    """A C string from the library as str (the library speaks UTF-8)."""
    return p.decode("utf-8", "replace") if p else ""


def cstr(s: Optional[object]) -> Optional[bytes]:
    """A str, bytes or os.PathLike argument as a NUL-terminated UTF-8 C string."""
    if s is None:
        return None
    if isinstance(s, bytes):
        b = s
    elif isinstance(s, os.PathLike):
        b = os.fsencode(s)
    else:
        b = str(s).encode("utf-8")
    if b"\0" in b:
        raise ValueError("uavmail: strings must not contain NUL")
    return b
