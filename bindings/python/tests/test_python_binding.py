#!/usr/bin/python3
"""The Python binding against the loopback aiosmtpd server over TLS with AUTH:
what was delivered, probe, outbox, the exceptions a user sees, a 50 MiB
attachment in constant memory, and callbacks surviving forced garbage
collection while C can call them."""
import email.utils
import gc
import io
import os
import shutil
import sys
import threading
import time
import types
import unittest
import weakref
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))                       # the uavmail package
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE.parent.parent / "tests"))     # bindings_common

import uavmail  # noqa: E402
from bindings_common import (BIG, FROM, PASSWORD, RSS_BOUND, SMALL, TO, USER,  # noqa: E402
                             attachments, closed_port, make_file, parse, pki, sha256, tls_server,
                             tmpdir, vm_hwm_bytes)


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
        uavmail.check_version(0x000100)
        uavmail.check_version(0x000105)
        for bad, shown in ((0x000200, "0.2.0"), (0x010000, "1.0.0"), (0x000000, "0.0.0")):
            with self.assertRaises(uavmail.LibraryVersionError) as cm:
                uavmail.check_version(bad, "/opt/lib/libuavmail.so")
            text = str(cm.exception)
            self.assertIn("written for libuavmail 0.1.0", text)
            self.assertIn("/opt/lib/libuavmail.so is version " + shown, text)
            self.assertIn("UAVMAIL_LIBRARY", text)

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

    # ---- the MAVProxy-style example ----
    def test_mavproxy_example(self):
        import mavproxy_uavmail as ex
        n0 = len(self.srv.messages())
        mod = ex.UavmailModule(None, outbox_dir=self.tmp / "mav-outbox", settings=self.settings(),
                               sender=FROM, recipients=[TO], vehicle="UAV-7")

        def msg(kind, **f):
            return types.SimpleNamespace(get_type=lambda: kind, **f)
        armed = ex.MAV_MODE_FLAG_SAFETY_ARMED
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
        self.assertIn("Battery critical", str(a["Subject"]))
        r = parse(report[0])
        self.assertIn("Flight report", str(r["Subject"]))
        body = r.get_body(("plain",)).get_content()
        self.assertIn("max relative altitude: 40.0 m", body)
        track = attachments(r)["track.csv"].decode()
        self.assertEqual(len(track.strip().splitlines()), 1 + 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
