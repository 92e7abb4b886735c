"""A MAVProxy module that e-mails alerts and a flight report on landing.

Install the uavmail package, put this file on PYTHONPATH and, in MAVProxy:

    module load mavproxy_uavmail

MAVProxy calls mavlink_packet() for every MAVLink message and idle_task()
regularly.  Mail goes through the crash-safe outbox, so nothing is lost when
the link to the mail server is down: alerts (STATUSTEXT at CRITICAL or worse)
jump the queue.  A Telemetry recorder records the flight from arming; on disarm
its report (summary bodies, CSV/GPX/CBOR track) is queued.  Alert rules
(battery, GPS, STATUSTEXT at CRITICAL or worse) fire through uavmail.Alerts,
with hysteresis and rate limiting, on GPS time from SYSTEM_TIME.  Settings here come from the environment (UAVMAIL_SMTP_HOST,
UAVMAIL_SMTP_USER, UAVMAIL_SMTP_PASSWORD, UAVMAIL_FROM, UAVMAIL_TO).

Outside MAVProxy (tests, a companion-computer script) the class works without
it: pass settings, sender and recipients to the constructor.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import uavmail

try:                                            # inside MAVProxy
    from MAVProxy.modules.lib import mp_module
    _Base: Any = mp_module.MPModule
except ImportError:                             # stand-alone: a stand-in base class
    class _Base:                                # type: ignore[no-redef]
        def __init__(self, mpstate: Any, name: str, description: str = "") -> None:
            self.mpstate = mpstate
            self.name = name

        def say(self, text: str, priority: str = "important") -> None:
            print(text)

MAV_MODE_FLAG_SAFETY_ARMED = 128
FLUSH_INTERVAL_S = 5.0
#: Alert rules (uavmail_alerts_parse syntax); add your own with the `rules` argument.
DEFAULT_RULES = (
    "battery_low: remaining < 20 clear 25 hold 2 severity critical text Battery low: {value} % left",
    "gps_lost: fix_type < 3 clear 3 hold 2 severity warning text GPS 3D fix lost",
    "statustext: statustext <= critical",
)


class UavmailModule(_Base):
    def __init__(self, mpstate: Any, outbox_dir: Optional[Path] = None,
                 settings: Optional[uavmail.Settings] = None, sender: Optional[str] = None,
                 recipients: Optional[List[str]] = None, vehicle: str = "UAV",
                 rules: Sequence[str] = DEFAULT_RULES,
                 formats: uavmail.Format = uavmail.Format.CSV | uavmail.Format.GPX
                 | uavmail.Format.CBOR) -> None:
        super().__init__(mpstate, "uavmail", "e-mail alerts and flight reports")
        env = os.environ
        self.settings = settings or uavmail.Settings(
            env.get("UAVMAIL_SMTP_HOST", "localhost"), username=env.get("UAVMAIL_SMTP_USER"),
            password=lambda: env["UAVMAIL_SMTP_PASSWORD"])
        self.sender = sender or env.get("UAVMAIL_FROM", "uav@example.com")
        self.recipients = recipients or env.get("UAVMAIL_TO", "ops@example.com").split(",")
        self.vehicle = vehicle
        self.formats = formats
        self.tm: Optional[uavmail.Telemetry] = None     # the flight being recorded
        self.armed = False
        self.boot_offset_us: Optional[int] = None       # UTC = boot time + offset
        self.last_boot_ms = 0
        d = outbox_dir or Path.home() / ".uavmail" / "outbox"
        # The outbox runs on the vehicle's clock too (expiry, retry times).
        self.outbox = uavmail.Outbox(d, on_outcome=self._outcome,
                                     clock=lambda: self._utc_us() // 1_000_000)
        self.alerts = uavmail.Alerts(self._alert, rules=rules)
        self.battery: Dict[str, float] = {}
        self.gps: Dict[str, float] = {}
        self.next_flush = 0.0

    # ---- MAVProxy hooks ----
    def mavlink_packet(self, m: Any) -> None:
        kind = m.get_type()
        if kind == "SYSTEM_TIME" and m.time_unix_usec:
            self.boot_offset_us = m.time_unix_usec - m.time_boot_ms * 1000
        elif kind == "HEARTBEAT":
            armed = bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)
            if armed and not self.armed:
                self.tm = uavmail.Telemetry(self.vehicle)
            elif self.armed and not armed:
                self._landed()
            self.armed = armed
        elif kind == "GLOBAL_POSITION_INT":
            t = self._utc_us(m.time_boot_ms)
            rel = m.relative_alt / 1000.0
            self._value("alt_rel", rel, t)
            if self.tm is not None:
                self.tm.append(t, lat=m.lat / 1e7, lon=m.lon / 1e7, alt_msl=m.alt / 1000.0,
                               alt_rel=rel, armed=self.armed, **self.battery, **self.gps)
        elif kind == "GPS_RAW_INT":
            self.gps = {"fix_type": m.fix_type, "satellites": m.satellites_visible}
            self._value("fix_type", m.fix_type, self._utc_us())
        elif kind == "SYS_STATUS":
            self.battery = {"voltage": m.voltage_battery / 1000.0}
            if m.battery_remaining >= 0:
                self.battery["remaining"] = float(m.battery_remaining)
            for k, v in self.battery.items():
                self._value(k, v, self._utc_us())
        elif kind == "STATUSTEXT":
            t = self._utc_us()
            if self.tm is not None:
                self.tm.add_event(t, m.severity, m.text)
            self.alerts.event("statustext", m.severity, m.text, t)

    def idle_task(self) -> None:
        now = time.monotonic()
        if now < self.next_flush and self.outbox.stats().alerts == 0:
            return
        self.next_flush = now + FLUSH_INTERVAL_S
        try:
            self.outbox.flush(self.settings)
        except uavmail.UavmailError as e:       # kept in the outbox, retried later
            self.say("uavmail: %s" % e)

    def unload(self) -> None:
        self.alerts.close()
        self.outbox.close()

    # ---- internals ----
    def _utc_us(self, time_boot_ms: Optional[int] = None) -> int:
        """UTC microseconds: boot time plus the SYSTEM_TIME offset (GPS time), else the
        local clock."""
        if time_boot_ms is None:
            time_boot_ms = self.last_boot_ms
        self.last_boot_ms = time_boot_ms
        if self.boot_offset_us is None:
            self.boot_offset_us = int(time.time() * 1e6) - time_boot_ms * 1000
        return self.boot_offset_us + time_boot_ms * 1000

    def _value(self, source: str, value: float, t: int) -> None:
        self.alerts.value(source, value, t)

    def _message(self) -> uavmail.Message:
        m = uavmail.Message()
        m.set_from(self.sender, self.vehicle)
        for r in self.recipients:
            m.add_to(r)
        return m.add_header("X-Vehicle-Id", self.vehicle)

    def _alert(self, a: uavmail.Alert) -> None:
        """Alert callback: queue a message that jumps the queue; a value alert is also
        noted in the flight (STATUSTEXT is recorded as it arrives)."""
        if self.tm is not None and a.value is not None:
            self.tm.add_event(a.time_us, a.severity, a.text)
        with self._message() as m:
            m.set_subject("[%s] ALERT: %s" % (self.vehicle, a.text))
            m.set_text("%s\n%s\n" % (a.text, ", ".join("%s %s" % kv for kv in self.battery.items())))
            self.outbox.enqueue(m, uavmail.Priority.ALERT, expires=a.time_us // 1_000_000 + 3600)
        self.next_flush = 0.0

    def _landed(self) -> None:
        tm, self.tm = self.tm, None
        if tm is None:
            return
        self.alerts.flush(self._utc_us())
        with tm, self._message() as m:
            tm.report(m, formats=self.formats)    # subject, bodies, track attachments
            self.outbox.enqueue(m, uavmail.Priority.NORMAL)   # rendered to disk here
        self.next_flush = 0.0

    def _outcome(self, entry_id: str, outcome: uavmail.Outcome, code: int, reply: str) -> None:
        if outcome != uavmail.Outcome.DELIVERED:
            self.say("uavmail: message %s %s: %d %s" % (entry_id, outcome.name.lower(), code,
                                                        reply))


def init(mpstate: Any) -> UavmailModule:
    """MAVProxy's module entry point."""
    return UavmailModule(mpstate)
