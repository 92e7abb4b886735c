"""A MAVProxy module that e-mails alerts and a flight report on landing.

Install the uavmail package, put this file on PYTHONPATH and, in MAVProxy:

    module load mavproxy_uavmail

MAVProxy calls mavlink_packet() for every MAVLink message and idle_task()
regularly.  Mail goes through the crash-safe outbox, so nothing is lost when
the link to the mail server is down: alerts (STATUSTEXT at CRITICAL or worse)
jump the queue, and the flight report with the track as CSV is queued when the
vehicle disarms.  Settings here come from the environment (UAVMAIL_SMTP_HOST,
UAVMAIL_SMTP_USER, UAVMAIL_SMTP_PASSWORD, UAVMAIL_FROM, UAVMAIL_TO).

Outside MAVProxy (tests, a companion-computer script) the class works without
it: pass settings, sender and recipients to the constructor.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any, List, Optional

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
MAV_SEVERITY_CRITICAL = 2
FLUSH_INTERVAL_S = 5.0


class UavmailModule(_Base):
    def __init__(self, mpstate: Any, outbox_dir: Optional[Path] = None,
                 settings: Optional[uavmail.Settings] = None, sender: Optional[str] = None,
                 recipients: Optional[List[str]] = None, vehicle: str = "UAV") -> None:
        super().__init__(mpstate, "uavmail", "e-mail alerts and flight reports")
        env = os.environ
        self.settings = settings or uavmail.Settings(
            env.get("UAVMAIL_SMTP_HOST", "localhost"), username=env.get("UAVMAIL_SMTP_USER"),
            password=lambda: env["UAVMAIL_SMTP_PASSWORD"])
        self.sender = sender or env.get("UAVMAIL_FROM", "uav@example.com")
        self.recipients = recipients or env.get("UAVMAIL_TO", "ops@example.com").split(",")
        self.vehicle = vehicle
        d = outbox_dir or Path.home() / ".uavmail" / "outbox"
        self.outbox = uavmail.Outbox(d, on_outcome=self._outcome)
        self.armed = False
        self.flight_start = 0.0
        self.track = io.StringIO()
        self.points = 0
        self.max_rel_alt = 0.0
        self.battery = ""
        self.next_flush = 0.0

    # ---- MAVProxy hooks ----
    def mavlink_packet(self, m: Any) -> None:
        kind = m.get_type()
        if kind == "HEARTBEAT":
            armed = bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)
            if armed and not self.armed:
                self._takeoff()
            elif self.armed and not armed:
                self._landed()
            self.armed = armed
        elif kind == "GLOBAL_POSITION_INT" and self.armed:
            rel = m.relative_alt / 1000.0
            self.max_rel_alt = max(self.max_rel_alt, rel)
            # The telemetry writers (issue 7) will replace this CSV with a .tlog/CBOR log.
            self.track.write("%d,%.7f,%.7f,%.1f\n" % (m.time_boot_ms, m.lat / 1e7, m.lon / 1e7,
                                                      rel))
            self.points += 1
        elif kind == "SYS_STATUS":
            self.battery = "%.2f V, %d %%" % (m.voltage_battery / 1000.0, m.battery_remaining)
        elif kind == "STATUSTEXT" and m.severity <= MAV_SEVERITY_CRITICAL:
            self._alert(m.text)

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
        self.outbox.close()

    # ---- internals ----
    def _message(self, subject: str, text: str) -> uavmail.Message:
        m = uavmail.Message()
        m.set_from(self.sender, self.vehicle)
        for r in self.recipients:
            m.add_to(r)
        return m.set_subject(subject).set_text(text).add_header("X-Vehicle-Id", self.vehicle)

    def _takeoff(self) -> None:
        self.flight_start = time.time()
        self.track = io.StringIO()
        self.track.write("time_boot_ms,lat,lon,relative_alt_m\n")
        self.points = 0
        self.max_rel_alt = 0.0

    def _alert(self, text: str) -> None:
        with self._message("[%s] ALERT: %s" % (self.vehicle, text),
                           "%s\nbattery: %s\n" % (text, self.battery or "unknown")) as m:
            self.outbox.enqueue(m, uavmail.Priority.ALERT, expires=int(time.time()) + 3600)
        self.next_flush = 0.0

    def _landed(self) -> None:
        minutes = (time.time() - self.flight_start) / 60.0
        text = ("Flight report for %s\nduration: %.1f min\nmax relative altitude: %.1f m\n"
                "track points: %d\nbattery: %s\n"
                % (self.vehicle, minutes, self.max_rel_alt, self.points, self.battery))
        with self._message("[%s] Flight report" % self.vehicle, text) as m:
            m.attach_bytes(self.track.getvalue().encode(), "track.csv", "text/csv")
            self.outbox.enqueue(m, uavmail.Priority.NORMAL)
        self.next_flush = 0.0

    def _outcome(self, entry_id: str, outcome: uavmail.Outcome, code: int, reply: str) -> None:
        if outcome != uavmail.Outcome.DELIVERED:
            self.say("uavmail: message %s %s: %d %s" % (entry_id, outcome.name.lower(), code,
                                                        reply))


def init(mpstate: Any) -> UavmailModule:
    """MAVProxy's module entry point."""
    return UavmailModule(mpstate)
