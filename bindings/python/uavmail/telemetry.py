"""Telemetry recording, flight reports and alert rules (telemetry.h, alert.h).

    with uavmail.Telemetry("UAV-7") as tm:
        tm.add_channel("thermal", "degC")
        tm.append(time_us, lat=47.1, lon=8.5, alt_rel=12.0, remaining=81, custom=[41.5])
        ...
        m = uavmail.Message().set_from(...).add_to(...)
        tm.report(m)                  # subject, bodies, CSV/GPX/GeoJSON/CBOR attachments
        session.send(m)

A message that carries a telemetry attachment reads the recorder while it is
rendered, so the message keeps the recorder alive: closing the Telemetry (or
dropping it) only frees the C recorder once every such message is closed too.

Times are UTC microseconds since 1970 (GPS time); a timezone-aware datetime is
accepted wherever a time is asked for.
"""
from __future__ import annotations

import ctypes
import dataclasses
import datetime as _dt
import enum
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _native as N
from ._handle import Handle
from .errors import check, stash
from .message import Message, PathLike

Time = Union[int, _dt.datetime]


class Format(enum.IntFlag):
    """enum uavmail_telemetry_format."""
    CSV = 1
    GPX = 2
    KML = 4
    GEOJSON = 8
    CBOR = 16


class Severity(enum.IntEnum):
    """enum uavmail_severity (the MAVLink MAV_SEVERITY values)."""
    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFO = 6
    DEBUG = 7


class FlightFlags(enum.IntFlag):
    """enum uavmail_flight_flags."""
    NONE = 0
    ALERT = 1
    CRASH = 2


class AlertOp(enum.IntEnum):
    """enum uavmail_alert_op."""
    ABOVE = 1
    BELOW = 2
    SEVERITY = 3


def to_us(t: Time) -> int:
    """A time as UTC microseconds since 1970 (int passes through)."""
    if isinstance(t, _dt.datetime):
        if t.tzinfo is None:
            raise ValueError("uavmail: use a timezone-aware datetime (UTC)")
        d = t - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
    return int(t)


def _opt(v: float) -> Optional[float]:
    return None if math.isnan(v) else v


def _nan(v: Optional[float]) -> float:
    return math.nan if v is None else float(v)


@dataclasses.dataclass(frozen=True)
class FlightSummary:
    """uavmail_flight_summary; None where the library says unknown (NaN, or -1 for
    min_satellites).  Times are UTC microseconds (takeoff/landing 0: never flew)."""
    samples: int
    start_us: int
    end_us: int
    takeoff_us: int
    landing_us: int
    duration_s: float
    air_time_s: float
    distance_m: float
    max_alt_rel_m: Optional[float]
    max_alt_msl_m: Optional[float]
    max_speed_mps: Optional[float]
    battery_start_v: Optional[float]
    battery_end_v: Optional[float]
    battery_min_v: Optional[float]
    battery_start_pct: Optional[float]
    battery_end_pct: Optional[float]
    charge_mah: float
    energy_wh: float
    min_satellites: Optional[int]
    max_hdop: Optional[float]
    no_fix_s: float
    fix_losses: int
    home_lat: Optional[float]
    home_lon: Optional[float]
    home_alt_msl: Optional[float]
    land_lat: Optional[float]
    land_lon: Optional[float]
    land_home_m: Optional[float]
    events: int
    warnings: int
    flags: FlightFlags

    @classmethod
    def _from(cls, s: N.FlightSummary) -> "FlightSummary":
        kw: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            v = getattr(s, f.name)
            if isinstance(v, float):
                v = _opt(v)
            kw[f.name] = v
        kw["min_satellites"] = None if s.min_satellites < 0 else s.min_satellites
        kw["flags"] = FlightFlags(s.flags)
        return cls(**kw)

    @property
    def start(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.start_us / 1e6, _dt.timezone.utc)

    @property
    def end(self) -> _dt.datetime:
        return _dt.datetime.fromtimestamp(self.end_us / 1e6, _dt.timezone.utc)


class _Recorder:
    """Owns the C recorder: freed when the last holder (the Telemetry object or a
    Message with one of its attachments) lets go."""

    def __init__(self, h: int) -> None:
        self.h: Optional[int] = h

    def __del__(self) -> None:
        if self.h:
            N.flight.uavmail_telemetry_free(self.h)
            self.h = None


def encoded_size(raw: int) -> int:
    """Size of `raw` bytes once base64-encoded in a MIME part (76-column CRLF lines)."""
    return int(N.flight.uavmail_encoded_size(int(raw)))


class Telemetry:
    """A telemetry recorder for one flight (uavmail_telemetry).  Past `memory_samples`
    samples spill to an unlinked temporary file in `spill_dir`, so memory stays flat.
    Not thread-safe.  Use as a context manager or call close()."""

    def __init__(self, vehicle: Optional[str] = None, memory_samples: int = 0,
                 spill_dir: Optional[PathLike] = None) -> None:
        o = N.TelemetryOptions()
        N.flight.uavmail_telemetry_options_init(ctypes.byref(o), N.TELEMETRY_OPTIONS_VERSION)
        veh, sd = N.cstr(vehicle), N.cstr(spill_dir)
        o.vehicle = veh
        o.spill_dir = sd
        if memory_samples:
            o.memory_samples = int(memory_samples)
        h = ctypes.c_void_p()
        check(N.flight.uavmail_telemetry_new(ctypes.byref(h), ctypes.byref(o)), lambda: None)
        self._rec: Optional[_Recorder] = _Recorder(h.value)  # type: ignore[arg-type]
        self._channels: List[str] = []

    # ---- life cycle ----
    @property
    def handle(self) -> int:
        if self._rec is None or not self._rec.h:
            raise ValueError("uavmail: telemetry recorder is closed")
        return self._rec.h

    def close(self) -> None:
        """Stop using the recorder.  Messages it was attached to keep it until they close."""
        self._rec = None

    def __enter__(self) -> "Telemetry":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check(self, rc: int) -> int:
        rec = self._rec
        return check(rc, lambda: N.flight.uavmail_telemetry_last_error(rec.h) if rec else None)

    # ---- recording ----
    @property
    def channels(self) -> List[str]:
        """The custom channels, in the order of Sample.custom."""
        return list(self._channels)

    def add_channel(self, name: str, unit: Optional[str] = None) -> int:
        """Declare a custom value channel (before the first sample); returns its index."""
        idx = ctypes.c_size_t()
        self._check(N.flight.uavmail_telemetry_add_channel(self.handle, N.cstr(name), N.cstr(unit),
                                                           ctypes.byref(idx)))
        self._channels.append(name)
        return idx.value

    def append(self, time: Time, *, lat: Optional[float] = None, lon: Optional[float] = None,
               alt_msl: Optional[float] = None, alt_rel: Optional[float] = None,
               ground_speed: Optional[float] = None, climb: Optional[float] = None,
               heading: Optional[float] = None, voltage: Optional[float] = None,
               current: Optional[float] = None, remaining: Optional[float] = None,
               hdop: Optional[float] = None, fix_type: Optional[int] = None,
               satellites: Optional[int] = None, armed: Optional[bool] = None,
               in_air: Optional[bool] = None, mode: Optional[str] = None,
               custom: Union[None, Sequence[Optional[float]],
                             Mapping[str, Optional[float]]] = None) -> None:
        """Record a sample; None (the default) means unknown.  `custom` is a sequence in
        channel order or a mapping channel name -> value."""
        s = N.Sample()
        N.flight.uavmail_sample_init(ctypes.byref(s), N.SAMPLE_VERSION)
        s.time_us = to_us(time)
        for name, v in (("lat", lat), ("lon", lon), ("alt_msl", alt_msl), ("alt_rel", alt_rel),
                        ("ground_speed", ground_speed), ("climb", climb), ("heading", heading),
                        ("voltage", voltage), ("current", current), ("remaining", remaining),
                        ("hdop", hdop)):
            if v is not None:
                setattr(s, name, float(v))
        for name, iv in (("fix_type", fix_type), ("satellites", satellites), ("armed", armed),
                         ("in_air", in_air)):
            if iv is not None:
                setattr(s, name, int(iv))
        md = N.cstr(mode)
        s.mode = md
        if custom is not None:
            if isinstance(custom, Mapping):
                unknown = set(custom) - set(self._channels)
                if unknown:
                    raise ValueError("uavmail: no such channel: %s" % ", ".join(sorted(unknown)))
                vals = [_nan(custom.get(c)) for c in self._channels]
            else:
                vals = [_nan(v) for v in custom]
            arr = (ctypes.c_double * len(vals))(*vals)
            s.custom = ctypes.cast(arr, ctypes.POINTER(ctypes.c_double))
            s.custom_count = len(vals)
        self._check(N.flight.uavmail_telemetry_append(self.handle, ctypes.byref(s)))

    def __len__(self) -> int:
        return int(N.flight.uavmail_telemetry_count(self.handle))

    @property
    def count(self) -> int:
        return len(self)

    def set_home(self, lat: float, lon: float, alt_msl: Optional[float] = None) -> None:
        self._check(N.flight.uavmail_telemetry_set_home(self.handle, float(lat), float(lon),
                                                        _nan(alt_msl)))

    def add_event(self, time: Time, severity: Severity, text: str) -> None:
        """Record an event (warning, geofence breach, an alert that fired) at the last position."""
        self._check(N.flight.uavmail_telemetry_add_event(self.handle, to_us(time), int(severity),
                                                         N.cstr(text)))

    def summary(self) -> FlightSummary:
        s = N.FlightSummary()
        s.version = N.FLIGHT_SUMMARY_VERSION
        self._check(N.flight.uavmail_telemetry_summary(self.handle, ctypes.byref(s)))
        return FlightSummary._from(s)

    # ---- output ----
    def write_file(self, fmt: Format, path: PathLike) -> None:
        """Write what was recorded so far in one format."""
        self._check(N.flight.uavmail_telemetry_write_file(self.handle, int(fmt), N.cstr(path)))

    def attach(self, msg: Message, fmt: Format, filename: Optional[str] = None) -> Message:
        """Attach the samples recorded so far in one format, streamed while `msg` is sent.
        `msg` keeps this recorder alive until it is closed."""
        rec = self._rec
        self._check(N.flight.uavmail_telemetry_attach(self.handle, msg.handle, int(fmt),
                                                      N.cstr(filename)))
        msg._keep.append(rec)
        return msg

    def report(self, msg: Message, formats: Format = Format.CSV | Format.GPX | Format.GEOJSON
               | Format.CBOR, raw_log: Optional[PathLike] = None,
               raw_log_cap: Optional[int] = None, flags: FlightFlags = FlightFlags.NONE,
               notes: Optional[str] = None) -> Message:
        """Make `msg` the flight report: subject, text and HTML bodies, the attachments in
        `formats`, and the raw log if its encoded size is within `raw_log_cap` (default 10 MB).
        `msg` keeps this recorder alive until it is closed."""
        o = N.ReportOptions()
        N.flight.uavmail_report_options_init(ctypes.byref(o), N.REPORT_OPTIONS_VERSION)
        o.formats = int(formats)
        raw, nt = N.cstr(raw_log), N.cstr(notes)
        o.raw_log = raw
        o.notes = nt
        if raw_log_cap is not None:
            o.raw_log_cap = int(raw_log_cap)
        o.flags = int(flags)
        rec = self._rec
        self._check(N.flight.uavmail_telemetry_report(self.handle, msg.handle, ctypes.byref(o)))
        msg._keep.append(rec)
        return msg


# ---- alert rules ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Alert:
    """One alert handed to the callback (a copy: it stays valid after the call)."""
    key: str
    text: str
    severity: Severity
    value: Optional[float]     # None for events and digests
    time_us: int
    suppressed: int            # alerts of this key suppressed since the last one sent
    digest: bool               # a digest of suppressed alerts, not a new event


#: Receives each alert; raising stops processing, and the exception comes back out of
#: the value()/event()/tick()/flush() call that fed it (chained to a CallbackError).
AlertFn = Callable[[Alert], Any]


class Alerts(Handle):
    """A set of alert rules and their state (uavmail_alerts).  The callback runs on the
    calling thread, inside value(), event(), tick() and flush().  Not thread-safe."""

    _WHAT, _FREE, _LAST_ERROR = "alert set", "uavmail_alerts_free", "uavmail_alerts_last_error"
    _LIB = N.flight

    def __init__(self, on_alert: AlertFn, repeat_s: Optional[float] = None,
                 rules: Sequence[str] = ()) -> None:
        self._fn = on_alert
        self._cfunc = N.ALERT_CB(self._tramp)     # alive as long as this object
        o = N.AlertsOptions()
        N.flight.uavmail_alerts_options_init(ctypes.byref(o), N.ALERTS_OPTIONS_VERSION)
        if repeat_s is not None:
            o.repeat_s = float(repeat_s)
        o.cb = self._cfunc
        h = ctypes.c_void_p()
        check(N.flight.uavmail_alerts_new(ctypes.byref(h), ctypes.byref(o)), lambda: None)
        self._h = h.value
        for r in rules:
            self.parse(r)

    def _tramp(self, a: Any, _ud: Any) -> int:
        try:
            x = a.contents
            self._fn(Alert(N.text(x.key), N.text(x.text), Severity(x.severity), _opt(x.value),
                           x.time_us, x.suppressed, bool(x.digest)))
            return 0
        except BaseException as e:  # noqa: B902 - must not unwind through C
            stash(e)
            return 1


    def parse(self, line: str) -> "Alerts":
        """Add a rule written as one line, e.g.
        "battery_low: remaining < 20 clear 25 hold 2 severity critical text Battery {value} %".
        A syntax error raises InvalidArgumentError whose text gives the column."""
        self._check(N.flight.uavmail_alerts_parse(self.handle, N.cstr(line)))
        return self

    def add(self, key: str, source: str, op: AlertOp, trigger: float,
            clear: Optional[float] = None, hold_s: float = 0.0,
            repeat_s: Optional[float] = None, severity: Severity = Severity.WARNING,
            text: Optional[str] = None) -> "Alerts":
        """Add a rule; `clear` None re-arms at the trigger, `repeat_s` None uses the set's
        default, `text` None is generated ("{value}" in it is replaced)."""
        r = N.AlertRule()
        N.flight.uavmail_alert_rule_init(ctypes.byref(r), N.ALERT_RULE_VERSION)
        k, s, t = N.cstr(key), N.cstr(source), N.cstr(text)
        r.key, r.source, r.text = k, s, t
        r.op = int(op)
        r.trigger = float(trigger)
        r.clear = _nan(clear)
        r.hold_s = float(hold_s)
        if repeat_s is not None:
            r.repeat_s = float(repeat_s)
        r.severity = int(severity)
        self._check(N.flight.uavmail_alerts_add(self.handle, ctypes.byref(r)))
        return self

    def value(self, source: str, value: Optional[float], time: Time) -> None:
        """Feed a value (None: unknown, changes nothing)."""
        self._check(N.flight.uavmail_alerts_value(self.handle, N.cstr(source), _nan(value),
                                                  to_us(time)))

    def event(self, source: str, severity: Severity, text: str, time: Time) -> None:
        """Feed an event such as a STATUSTEXT."""
        self._check(N.flight.uavmail_alerts_event(self.handle, N.cstr(source), int(severity),
                                                  N.cstr(text), to_us(time)))

    def tick(self, time: Time) -> None:
        """Let time pass: digests for keys whose repeat interval has ended."""
        self._check(N.flight.uavmail_alerts_tick(self.handle, to_us(time)))

    def flush(self, time: Time) -> None:
        """Digests for everything still suppressed (end of flight)."""
        self._check(N.flight.uavmail_alerts_flush(self.handle, to_us(time)))
