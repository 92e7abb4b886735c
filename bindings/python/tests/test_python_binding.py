#!/usr/bin/python3
"""The Python binding against the loopback aiosmtpd server over TLS with AUTH:
what was delivered, probe, outbox, the exceptions a user sees, a 50 MiB
attachment in constant memory, and callbacks surviving forced garbage
collection while C can call them."""
import csv
import ctypes
import email.utils
import gc
import io
import json
import math
import os
import shutil
import sys
import threading
import time
import types
import unittest
import weakref
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))                       # the uavmail package
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE.parent.parent / "tests"))     # bindings_common

import uavmail  # noqa: E402
from bindings_common import (BIG, FROM, PASSWORD, RSS_BOUND, SMALL, TO, USER,  # noqa: E402
                             attachments, closed_port, make_file, parse, pki, sha256, tls_server,
                             tmpdir, vm_hwm_bytes)
from layouts import c_layouts  # noqa: E402

try:
    import cbor2  # Debian: python3-cbor2
except ImportError:                                       # pragma: no cover
    cbor2 = None

T0 = 1795356180 * 1_000_000          # 2026-11-22 14:03:00Z, microseconds
EARTH_R = 6371008.8                  # docs/telemetry.md: the sphere the distance uses


def haversine(a, b):
    la1, lo1, la2, lo2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = (math.sin((la2 - la1) / 2) ** 2
         + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2)
    return 2 * EARTH_R * math.asin(math.sqrt(h))


def synthetic_flight(n=600):
    """A 10 Hz flight: a curving track, a climb to ~50 m and back, a draining battery,
    a thermal camera channel."""
    out = []
    for i in range(n):
        out.append(dict(
            time=T0 + i * 100_000, lat=47.3977 + 0.00005 * i,
            lon=8.5456 + 0.0004 * math.sin(i / 60.0), alt_rel=50.0 * math.sin(math.pi * i / (n - 1)),
            voltage=16.8 - 0.003 * i, current=12.0, remaining=100.0 - 0.1 * i, hdop=0.8,
            fix_type=3, satellites=12, armed=True, in_air=10 <= i < n - 10, mode="AUTO",
            ground_speed=5.0, thermal=30.0 + (i % 50)))
        out[-1]["alt_msl"] = 400.0 + out[-1]["alt_rel"]
    return out


def record(samples, tmp, vehicle="UAV-7"):
    tm = uavmail.Telemetry(vehicle, memory_samples=64, spill_dir=tmp)   # spills to a file
    assert tm.add_channel("thermal", "degC") == 0
    for s in samples:
        s = dict(s)
        t, th = s.pop("time"), s.pop("thermal")
        tm.append(t, custom={"thermal": th}, **s)
    tm.add_event(T0 + 30_000_000, uavmail.Severity.WARNING, "Hot spot 79 degC")
    return tm


class PythonBinding(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = pki()
        cls.srv = tls_server()
        cls.tmp = tmpdir("py-binding")

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def settings(self, password=PASSWORD, **kw):
        return uavmail.Settings("localhost", port=self.srv.port, security=uavmail.Security.TLS,
                                cafile=Path(self.pki["ca"]), username=USER, password=password,
                                **kw)

    def delivered(self, n_before, n=1):
        msgs = self.srv.wait_for(n_before + n, timeout=60)
        return msgs[n_before:n_before + n]

    # ---- version ----
    def test_version_check(self):
        self.assertEqual(uavmail.library_version().split()[0], uavmail.__version__)
        uavmail.check_version(0x000300)
        uavmail.check_version(0x000305)
        for bad, shown in ((0x000400, "0.4.0"), (0x000200, "0.2.0"), (0x010000, "1.0.0"),
                           (0x000000, "0.0.0")):
            with self.assertRaises(uavmail.LibraryVersionError) as cm:
                uavmail.check_version(bad, "/opt/lib/libuavmail.so")
            text = str(cm.exception)
            self.assertIn("written for libuavmail 0.3.0", text)
            self.assertIn("/opt/lib/libuavmail.so is version " + shown, text)
            self.assertIn("UAVMAIL_LIBRARY", text)

    # ---- the two libraries ----
    def test_flight_library(self):
        self.assertEqual(Path(uavmail.flight_library_path()).resolve(),
                         Path(os.environ["UAVMAIL_FLIGHT_LIBRARY"]).resolve())

    def test_without_flight_library(self):
        """Only the mail core: messages work, Outbox, Telemetry and Alerts raise an
        ImportError naming libuavmail-flight, every time."""
        import subprocess
        script = "\n".join([
            "import sys, uavmail",
            "m = uavmail.Message().set_from('a@example.com').add_to('b@example.com')",
            "assert b'Subject: mail only' in m.set_subject('mail only').render()",
            "for use in (lambda: uavmail.Telemetry('UAV-7'), lambda: uavmail.Alerts(print),",
            "            lambda: uavmail.Outbox(sys.argv[1]), lambda: uavmail.encoded_size(3),",
            "            uavmail.flight_library_path):",
            "    try:",
            "        use()",
            "    except ImportError as e:",
            "        print(e)",
            "    else:",
            "        sys.exit('no ImportError')",
        ])
        missing = str(self.tmp / "nowhere" / "libuavmail-flight.so.1")
        env = dict(os.environ, UAVMAIL_FLIGHT_LIBRARY=missing,
                   PYTHONPATH=str(HERE.parent))
        r = subprocess.run([sys.executable, "-c", script, str(self.tmp / "outbox-none")],
                           env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        errors = r.stdout.split("uavmail: ")[1:]
        self.assertEqual(len(errors), 5, r.stdout)
        for e in errors:
            self.assertIn("cannot load libuavmail-flight, which Outbox, Telemetry and Alerts "
                          "need (set UAVMAIL_FLIGHT_LIBRARY to its path)", e)
            self.assertIn(missing, e)
        self.assertFalse((self.tmp / "outbox-none").exists())

    # ---- send ----
    def test_send_attachments(self):
        n0 = len(self.srv.messages())
        log = make_file(self.tmp / "flight-0042.bin", 300_000)
        csv = b"time,lat,lon\r\n.\r\n1,47.1,8.5\n"
        streamed = os.urandom(200_000)
        trace = []
        gps_time = int(time.time()) - 3600        # the Date header comes from the clock
        st = self.settings(password=lambda: PASSWORD, clock=lambda: gps_time,
                           trace=lambda d, line: trace.append((d, line)))
        with uavmail.Message() as m, uavmail.Session(st) as s:
            (m.set_from(FROM, "UAV 7 \u2708").add_to(TO, "Ops")
              .set_subject("[UAV-7] Flight report \u00e9t\u00e9")
              .set_text("Landed.\n18 min, 6.2 km\n").add_header("X-Vehicle-Id", "7"))
            m.attach_file(log)                                      # pathlib.Path
            m.attach_bytes(csv, "track.csv", "text/csv")
            m.attach_stream(io.BytesIO(streamed), "stream.bin", size=len(streamed))
            m.attach_stream(lambda off, cap: streamed[off:off + min(cap, 1000)], "producer.bin")
            res = s.send(m)
            self.assertTrue(s.is_secure)
            self.assertTrue(s.tls_version.startswith("TLS"))
        self.assertEqual([(r.address, r.smtp_code, r.accepted) for r in res], [(TO, 250, True)])
        [(eml, meta)] = self.delivered(n0)
        self.assertEqual(meta["auth_user"], USER)
        self.assertTrue(meta["tls"])
        msg = parse(eml)
        self.assertEqual(str(msg["Subject"]), "[UAV-7] Flight report \u00e9t\u00e9")
        self.assertEqual(int(email.utils.parsedate_to_datetime(msg["Date"]).timestamp()), gps_time)
        self.assertIn("Landed.", msg.get_body(("plain",)).get_content())
        got = attachments(msg)
        self.assertEqual(sha256(got["flight-0042.bin"]), sha256(log.read_bytes()))
        self.assertEqual(got["track.csv"], csv)
        self.assertEqual(got["stream.bin"], streamed)
        self.assertEqual(got["producer.bin"], streamed)
        lines = [line for d, line in trace if d == uavmail.Trace.CLIENT]
        self.assertTrue(any(line.startswith("AUTH") for line in lines), lines)
        self.assertFalse(any(PASSWORD in line for _, line in trace))

    def test_nonblocking_send(self):
        import select
        n0 = len(self.srv.messages())
        with uavmail.Message() as m, uavmail.Session(self.settings()) as s:
            m.set_from(FROM).add_to(TO).set_subject("nb").set_text("x")
            s.start(m, final=True)
            want = s.step()
            while want is not None:
                fd = s.fileno()
                if fd >= 0:
                    r, w = ([fd], []) if want == "read" else ([], [fd])
                    select.select(r, w, [], s.timeout_ms() / 1000 or 0.05)
                want = s.step()
        self.delivered(n0)

    # ---- probe ----
    def test_probe(self):
        r = uavmail.probe(self.settings())
        self.assertTrue(r.ok, r.text)
        self.assertIn("Verdict:", r.text)
        self.assertIn("login was accepted", r.text)
        self.assertIn("PLAIN", r.json["auth_mechanisms"])
        bad = uavmail.probe(self.settings(password="wrong"))
        self.assertEqual(bad.verdict, -18)
        self.assertIn("Fix:", bad.text)

    # ---- outbox ----
    def test_outbox(self):
        n0 = len(self.srv.messages())
        outcomes = []
        d = self.tmp / "outbox"
        with uavmail.Outbox(d, on_outcome=lambda *a: outcomes.append(a)) as ob:
            ids = []
            for subj, prio in (("routine", uavmail.Priority.NORMAL),
                               ("BATTERY CRITICAL", uavmail.Priority.ALERT)):
                with uavmail.Message() as m:
                    m.set_from(FROM).add_to(TO).set_subject(subj).set_text(subj)
                    m.attach_bytes(b"lat,lon\n1,2\n", "pos.csv")
                    ids.append(ob.enqueue(m, prio))
            entries = ob.entries()
            self.assertEqual(sorted(e.id for e in entries), sorted(ids))
            self.assertEqual(ob.stats().queued, 2)
            self.assertEqual(ob.stats().alerts, 1)
            self.assertEqual(ob.flush(self.settings()), 2)
            self.assertEqual(ob.stats().queued, 0)
        self.assertEqual(sorted((i, o) for i, o, _, _ in outcomes),
                         sorted((i, uavmail.Outcome.DELIVERED) for i in ids))
        msgs = self.delivered(n0, 2)
        self.assertEqual([str(parse(e)["Subject"]) for e, _ in msgs],
                         ["BATTERY CRITICAL", "routine"])          # alerts first

    def test_outbox_wrong_password_keeps_message(self):
        with uavmail.Outbox(self.tmp / "outbox-auth") as ob, uavmail.Message() as m:
            m.set_from(FROM).add_to(TO).set_text("x")
            ob.enqueue(m)
            with self.assertRaises(uavmail.AuthError):
                ob.flush(self.settings(password="wrong"))
            [e] = ob.entries()
            self.assertEqual(e.state, uavmail.EntryState.QUEUED)
            self.assertIn("535", e.last_error)

    # ---- errors ----
    def test_bad_address(self):
        with uavmail.Message() as m:
            with self.assertRaises(uavmail.AddressError) as cm:
                m.add_to("ops@@example.test")
            self.assertIsInstance(cm.exception, ValueError)
            self.assertEqual(cm.exception.code, -4)
            self.assertEqual(cm.exception.name, "UAVMAIL_EADDRESS")
            self.assertIn('"ops@@example.test"', str(cm.exception))

    def test_wrong_password(self):
        with uavmail.Message() as m, uavmail.Session(self.settings(password="wrong")) as s:
            m.set_from(FROM).add_to(TO).set_text("x")
            with self.assertRaises(uavmail.AuthError) as cm:
                s.send(m)
        e = cm.exception
        self.assertEqual((e.code, e.smtp_code), (-18, 535))
        self.assertIn("authentication failed", e.message)
        self.assertIn("Authentication credentials invalid", e.server_reply)
        self.assertIn("password", e.hint)
        self.assertFalse(e.temporary)
        self.assertNotIn("wrong", str(e))

    def test_unreadable_attachment(self):
        gone = self.tmp / "deleted.ulg"
        gone.write_bytes(b"x")
        with uavmail.Message() as m, uavmail.Session(self.settings()) as s:
            m.set_from(FROM).add_to(TO).set_text("x").attach_file(gone)
            gone.unlink()
            with self.assertRaises(uavmail.FileError) as cm:
                s.send(m)
        self.assertIn(f'attachment "{gone}" cannot be opened', str(cm.exception))
        self.assertIn("No such file", str(cm.exception))

    def test_callback_exception_comes_back(self):
        def broken(off, cap):
            raise KeyError("sensor log vanished")
        with uavmail.Message() as m, uavmail.Session(self.settings()) as s:
            m.set_from(FROM).add_to(TO).set_text("x").attach_stream(broken, "a.bin")
            with self.assertRaises(uavmail.CallbackError) as cm:
                s.send(m)
        self.assertIsInstance(cm.exception.__cause__, KeyError)

    def test_unreachable_server(self):
        st = uavmail.Settings("127.0.0.1", port=closed_port(), security=uavmail.Security.TLS,
                              cafile=self.pki["ca"])
        with uavmail.Message() as m, uavmail.Session(st) as s:
            m.set_from(FROM).add_to(TO).set_text("x")
            with self.assertRaises(uavmail.NetworkError) as cm:
                s.send(m)
        self.assertTrue(cm.exception.temporary)

    def test_closed_handles(self):
        m = uavmail.Message()
        m.close()
        m.close()
        with self.assertRaises(ValueError):
            m.set_subject("x")

    # ---- constant memory ----
    def test_big_attachment_constant_memory(self):
        small = make_file(self.tmp / "small.bin", SMALL)
        big = make_file(self.tmp / "big.bin", BIG)
        n0 = len(self.srv.messages())
        peaks = []
        for path in (small, big):
            with uavmail.Message() as m, uavmail.Session(self.settings()) as s, \
                    open(path, "rb") as f:
                m.set_from(FROM).add_to(TO).set_text("log attached")
                m.attach_stream(f, path.name, size=path.stat().st_size)  # Python file object
                s.send(m)
            peaks.append(vm_hwm_bytes())
        growth = peaks[1] - peaks[0]
        print(f"\npython: peak RSS after 1 MiB {peaks[0] >> 20} MiB, after 50 MiB "
              f"{peaks[1] >> 20} MiB, growth {growth / 2**20:.1f} MiB", file=sys.stderr)
        self.assertLess(growth, RSS_BOUND)
        eml, meta = self.delivered(n0, 2)[1]
        self.assertGreater(meta["size"], BIG * 4 // 3)
        os.unlink(big)

    # ---- garbage collection while C holds callbacks ----
    def test_gc_during_send(self):
        """Every callback is created inline with no reference but the binding's; each
        call forces a full collection.  A collected trampoline would crash or corrupt
        the attachment."""
        n0 = len(self.srv.messages())
        payload = os.urandom(150_000)
        calls = {"read": 0, "progress": 0, "trace": 0, "password": 0}

        def count(k):
            calls[k] += 1
            gc.collect()

        def build():
            m = uavmail.Message()
            m.set_from(FROM).add_to(TO).set_subject("gc").set_text("x")
            m.attach_stream(lambda off, cap: (count("read"), payload[off:off + min(cap, 4096)])[1],
                            "gc.bin", progress=lambda n: count("progress"))
            return m

        def session():
            return uavmail.Session(uavmail.Settings(
                "localhost", port=self.srv.port, security=uavmail.Security.TLS,
                cafile=self.pki["ca"], username=USER,
                password=lambda: (count("password"), PASSWORD)[1],
                trace=lambda d, line: count("trace")))

        s = session()
        for _ in range(3):
            m = build()
            gc.collect()
            s.send(m)
            m.close()
        s.close()
        self.assertGreater(calls["read"], 3 * 30)
        self.assertGreater(calls["trace"], 10)
        self.assertEqual(calls["password"], 1)
        for eml, _ in self.delivered(n0, 3):
            self.assertEqual(attachments(parse(eml))["gc.bin"], payload)

    def test_callbacks_released_with_handle(self):
        m = uavmail.Message()
        src = io.BytesIO(b"abc")
        ref = weakref.ref(src)
        m.attach_stream(src, "a.bin")
        del src
        gc.collect()
        self.assertIsNotNone(ref())        # held while C may read it
        m.close()
        gc.collect()
        self.assertIsNone(ref())           # and released with the handle

    def test_threads(self):
        """Callbacks run on the calling thread; two threads send at once."""
        n0 = len(self.srv.messages())
        seen = []

        def worker(i):
            with uavmail.Message() as m, uavmail.Session(self.settings()) as s:
                m.set_from(FROM).add_to(TO).set_subject(f"t{i}").set_text("x")
                m.attach_stream(lambda off, cap: (seen.append(threading.get_ident() == me[i]),
                                                  b"" if off else b"abc")[1], "t.bin")
                s.send(m)
        me = {}
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
        for i, t in enumerate(ts):
            t.start()
            me[i] = t.ident
        for t in ts:
            t.join()
        self.delivered(n0, 2)
        self.assertTrue(seen and all(seen))

    # ---- telemetry and alerts ----
    def test_struct_layouts(self):
        """Every hand-declared ctypes struct has the C compiler's size and offsets."""
        c = c_layouts()
        if c is None:
            self.skipTest("no C compiler")
        from uavmail import _native as N
        py = {"uavmail_sample": N.Sample, "uavmail_telemetry_options": N.TelemetryOptions,
              "uavmail_flight_summary": N.FlightSummary, "uavmail_report_options": N.ReportOptions,
              "uavmail_alert_rule": N.AlertRule, "uavmail_alert": N.Alert,
              "uavmail_alerts_options": N.AlertsOptions}
        for name, cls in py.items():
            got = {"sizeof": ctypes.sizeof(cls)}
            got.update({f: getattr(cls, f).offset for f, _ in cls._fields_})
            self.assertEqual(got, c[name], name)

    def test_telemetry_summary_and_report(self):
        samples = synthetic_flight()
        n0 = len(self.srv.messages())

        def build():
            # The recorder is created here and the caller never sees it: only the
            # message's reference keeps the C recorder alive until the send.
            tm = record(samples, self.tmp)
            self.assertEqual(len(tm), 600)
            self.assertEqual(tm.channels, ["thermal"])
            summary = tm.summary()
            m = uavmail.Message()
            m.set_from(FROM).add_to(TO)
            tm.report(m, notes="Inspection flight, north fence")
            tm.attach(m, uavmail.Format.KML, "track.kml")
            return m, summary, weakref.ref(tm), weakref.ref(m._keep[0])

        m, summary, tm_ref, rec_ref = build()
        gc.collect()
        self.assertIsNone(tm_ref())               # the user's object is gone ...
        self.assertIsNotNone(rec_ref())           # ... the C recorder is held by the message
        gc.collect()
        with uavmail.Session(self.settings()) as s:
            s.send(m)
        m.close()
        gc.collect()
        self.assertIsNone(rec_ref())              # freed with the message

        # The summary against figures computed here.
        pos = [(x["lat"], x["lon"]) for x in samples]
        dist = sum(haversine(a, b) for a, b in zip(pos, pos[1:]))
        self.assertEqual(summary.samples, 600)
        self.assertEqual(summary.start_us, T0)
        self.assertEqual(summary.end_us, T0 + 599 * 100_000)
        self.assertAlmostEqual(summary.duration_s, 59.9, places=6)
        self.assertAlmostEqual(summary.distance_m, dist, delta=dist * 1e-9)
        self.assertAlmostEqual(summary.max_alt_rel_m, max(x["alt_rel"] for x in samples), places=9)
        self.assertAlmostEqual(summary.max_alt_msl_m, max(x["alt_msl"] for x in samples), places=9)
        self.assertAlmostEqual(summary.battery_start_v, 16.8)
        self.assertAlmostEqual(summary.battery_end_v, 16.8 - 0.003 * 599)
        self.assertAlmostEqual(summary.air_time_s, 58.0, places=6)
        self.assertEqual((summary.home_lat, summary.home_lon), pos[0])
        self.assertEqual((summary.land_lat, summary.land_lon), pos[-1])
        self.assertEqual(summary.min_satellites, 12)
        self.assertEqual((summary.events, summary.warnings), (1, 1))
        self.assertEqual(summary.flags, uavmail.FlightFlags.NONE)
        self.assertEqual(summary.start.isoformat(), "2026-11-22T14:03:00+00:00")

        # What arrived.
        [(eml, _)] = self.delivered(n0)
        msg = parse(eml)
        self.assertTrue(str(msg["Subject"]).startswith("[UAV-7] Flight report 2026-11-22 14:03Z"),
                        msg["Subject"])
        body = msg.get_body(("plain",)).get_content()
        self.assertIn("Inspection flight, north fence", body)
        self.assertIn("Hot spot 79 degC", body)
        self.assertIsNotNone(msg.get_body(("html",)))
        parts = {p.get_filename(): p for p in msg.iter_attachments()}
        base = "UAV-7-20261122T1403Z"
        self.assertEqual({k: p.get_content_type() for k, p in parts.items()}, {
            base + ".csv": "text/csv", base + ".gpx": "application/gpx+xml",
            base + ".geojson": "application/geo+json", base + ".cbor": "application/cbor",
            "track.kml": "application/vnd.google-earth.kml+xml"})
        got = {k: p.get_payload(decode=True) for k, p in parts.items()}

        rows = list(csv.DictReader(io.StringIO(got[base + ".csv"].decode("utf-8"))))
        self.assertEqual(len(rows), 600)
        self.assertEqual(rows[0]["time_utc"][:19], "2026-11-22T14:03:00")
        for i in (0, 137, 599):
            self.assertAlmostEqual(float(rows[i]["lat_deg"]), samples[i]["lat"], places=7)
            self.assertAlmostEqual(float(rows[i]["lon_deg"]), samples[i]["lon"], places=7)
            self.assertAlmostEqual(float(rows[i]["alt_rel_m"]), samples[i]["alt_rel"], places=2)
            self.assertEqual(float(rows[i]["thermal_degC"]), samples[i]["thermal"])
            self.assertEqual(rows[i]["mode"], "AUTO")

        gj = json.loads(got[base + ".geojson"])
        self.assertEqual(gj["type"], "FeatureCollection")
        [line] = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
        coords = line["geometry"]["coordinates"]
        self.assertEqual(len(coords), 600)
        for i in (0, 599):                            # RFC 7946: longitude first
            self.assertAlmostEqual(coords[i][0], samples[i]["lon"], places=7)
            self.assertAlmostEqual(coords[i][1], samples[i]["lat"], places=7)
            self.assertAlmostEqual(coords[i][2], samples[i]["alt_msl"], places=2)

        gpx = ET.fromstring(got[base + ".gpx"])
        self.assertEqual(len([e for e in gpx.iter() if e.tag.endswith("trkpt")]), 600)
        self.assertIn(b"<kml", got["track.kml"])

        if cbor2 is None:
            print("\npython: cbor2 not importable, CBOR checked by size only", file=sys.stderr)
            self.assertGreater(len(got[base + ".cbor"]), 600 * 17)
        else:
            doc = cbor2.loads(got[base + ".cbor"])
            self.assertEqual(doc["schema"], "uavmail-flight/1")
            self.assertEqual(doc["vehicle"], "UAV-7")
            self.assertEqual(doc["columns"][-1], ["thermal", "degC"])
            self.assertEqual(len(doc["samples"]), 600)
            self.assertEqual(doc["samples"][42][0], samples[42]["time"])
            self.assertEqual(doc["samples"][42][1], samples[42]["lat"])
            self.assertEqual(doc["samples"][42][-1], samples[42]["thermal"])
            self.assertAlmostEqual(doc["summary"]["distance_m"], dist, delta=dist * 1e-9)
            self.assertEqual(doc["events"][0]["text"], "Hot spot 79 degC")

    def test_telemetry_write_file_and_errors(self):
        with uavmail.Telemetry("UAV-7") as tm:
            tm.append(T0, lat=47.0, lon=8.0, fix_type=3)
            tm.append(T0 + 1_000_000, lat=47.001, lon=8.0, fix_type=3)
            out = self.tmp / "t.geojson"
            tm.write_file(uavmail.Format.GEOJSON, out)
            self.assertEqual(json.loads(out.read_text())["type"], "FeatureCollection")
            with self.assertRaises(uavmail.InvalidArgumentError) as cm:
                tm.append(T0, lat=47.0, lon=8.0)           # time going backwards
            self.assertEqual(cm.exception.code, -2)
            with self.assertRaises(uavmail.InvalidArgumentError):
                tm.add_channel("late")                     # after the first sample
            with self.assertRaises(uavmail.FileError):
                tm.write_file(uavmail.Format.CSV, self.tmp / "no" / "such" / "dir.csv")
            self.assertEqual(uavmail.encoded_size(57), 78)  # 76 characters + CRLF
        with self.assertRaises(ValueError):
            tm.summary()                                   # closed

    def test_alerts(self):
        got = []
        with uavmail.Alerts(got.append, repeat_s=0) as al:
            al.parse("battery_low: remaining < 20 clear 25 severity critical "
                     "text Battery low: {value} % left")
            al.add("hot", "thermal", uavmail.AlertOp.ABOVE, 80, clear=70)
            for i, v in enumerate((19, 21, 19, 26, 19)):
                al.value("remaining", v, T0 + i * 1_000_000)
            al.value("remaining", None, T0 + 6_000_000)    # unknown: nothing
            for i, v in enumerate((81, 75, 85, 69, 90)):
                al.value("thermal", v, T0 + (10 + i) * 1_000_000)
        self.assertEqual([(a.key, a.time_us, a.value, a.severity, a.digest) for a in got], [
            ("battery_low", T0, 19.0, uavmail.Severity.CRITICAL, False),
            ("battery_low", T0 + 4_000_000, 19.0, uavmail.Severity.CRITICAL, False),
            ("hot", T0 + 10_000_000, 81.0, uavmail.Severity.WARNING, False),
            ("hot", T0 + 14_000_000, 90.0, uavmail.Severity.WARNING, False)])
        self.assertEqual(got[0].text, "Battery low: 19 % left")

    def test_alerts_digest_and_events(self):
        got = []
        al = uavmail.Alerts(got.append, repeat_s=60, rules=["warn: statustext <= warning"])
        for i in range(3):
            al.event("statustext", uavmail.Severity.WARNING, "Geofence violated", T0 + i * 1_000_000)
        al.event("statustext", uavmail.Severity.INFO, "Takeoff complete", T0 + 4_000_000)
        al.flush(T0 + 10_000_000)
        del al
        gc.collect()
        self.assertEqual([(a.key, a.digest, a.suppressed) for a in got],
                         [("warn", False, 0), ("warn", True, 2)])
        self.assertIsNone(got[1].value)
        self.assertIn("2 more 'warn' alerts", got[1].text)

    def test_alert_errors(self):
        al = uavmail.Alerts(lambda a: None)
        with self.assertRaises(uavmail.InvalidArgumentError) as cm:
            al.parse("bat remaining < 20")
        self.assertIn("column 5: expected ':'", str(cm.exception))
        with self.assertRaises(uavmail.InvalidArgumentError) as cm:
            al.parse("bat: remaining < twenty")
        self.assertIn("column 18", str(cm.exception))

        def boom(a):
            gc.collect()
            raise RuntimeError("mail queue is gone")
        al2 = uavmail.Alerts(boom, rules=["low: remaining < 20"])
        with self.assertRaises(uavmail.CallbackError) as cm:
            al2.value("remaining", 10, T0)
        self.assertIsInstance(cm.exception.__cause__, RuntimeError)
        al2.value("remaining", 30, T0 + 1)                  # usable afterwards
        al.close()
        al2.close()

    # ---- the MAVProxy-style example ----
    def test_mavproxy_example(self):
        import mavproxy_uavmail as ex
        n0 = len(self.srv.messages())
        mod = ex.UavmailModule(None, outbox_dir=self.tmp / "mav-outbox", settings=self.settings(),
                               sender=FROM, recipients=[TO], vehicle="UAV-7")

        def msg(kind, **f):
            return types.SimpleNamespace(get_type=lambda: kind, **f)
        armed = ex.MAV_MODE_FLAG_SAFETY_ARMED
        mod.mavlink_packet(msg("SYSTEM_TIME", time_unix_usec=T0, time_boot_ms=0))
        mod.mavlink_packet(msg("HEARTBEAT", base_mode=armed, type=2, autopilot=3))
        for i in range(5):
            mod.mavlink_packet(msg("GLOBAL_POSITION_INT", time_boot_ms=1000 * i,
                                   lat=471234567 + i * 100, lon=85432100, alt=500000,
                                   relative_alt=1000 * i * 10))
        mod.mavlink_packet(msg("SYS_STATUS", voltage_battery=14800, battery_remaining=12))
        mod.mavlink_packet(msg("STATUSTEXT", severity=2, text="Battery critical"))
        mod.idle_task()
        mod.mavlink_packet(msg("HEARTBEAT", base_mode=0, type=2, autopilot=3))   # landed
        mod.idle_task()
        mod.unload()
        alert, report = self.delivered(n0, 2)
        a = parse(alert[0])
        self.assertEqual(str(a["Subject"]), "[UAV-7] ALERT: Battery critical")
        r = parse(report[0])
        self.assertTrue(str(r["Subject"]).startswith(   # a CRITICAL event: ALERT flag
            "[ALERT] [UAV-7] Flight report 2026-11-22 14:03Z"),
                        r["Subject"])
        body = r.get_body(("plain",)).get_content()
        self.assertIn("Max altitude  40.0 m above home", body)
        self.assertIn("Events (1)", body)
        self.assertIn("critical   Battery critical", body)
        got = attachments(r)
        self.assertEqual(sorted(k.rsplit(".", 1)[1] for k in got), ["cbor", "csv", "gpx"])
        track = next(v for k, v in got.items() if k.endswith(".csv")).decode()
        self.assertEqual(len(track.strip().splitlines()), 1 + 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
