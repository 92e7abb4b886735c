"""Shared by the binding tests: the loopback TLS + AUTH server, the test PKI,
delivered-mail checks and peak-RSS reading."""
import email
import email.policy
import email.utils
import hashlib
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "test" / "e2e"))
sys.path.insert(0, str(ROOT / "test" / "fixtures"))

from e2e_common import PASSWORD, USER, closed_port, pki  # noqa: E402,F401
from smtp_server import start_server  # noqa: E402

__all__ = ["PASSWORD", "USER", "closed_port", "pki", "start_server", "FROM", "TO", "BIG", "SMALL",
           "RSS_BOUND", "tmpdir", "tls_server", "sha256", "parse", "attachments", "make_file",
           "vm_hwm_bytes", "fixed_dir", "CSV", "NativeScenarios", "skip_if_missing"]

FROM = "uav7@example.test"
TO = "ops@example.test"
BIG = 50 * 1024 * 1024
SMALL = 1024 * 1024
# Peak-RSS growth allowed between the 1 MiB and the 50 MiB send: far below one
# copy of the attachment (50 MiB) or of its base64 (67 MiB).
RSS_BOUND = 16 * 1024 * 1024


def tmpdir(name):
    """A fresh scratch directory (the test removes it)."""
    base = Path(os.environ.get("UAVMAIL_TEST_TMP", tempfile.gettempdir()))
    return Path(tempfile.mkdtemp(prefix=name + "-", dir=base))


def fixed_dir(name):
    """A scratch directory that is reused from run to run (compiled test programs)."""
    d = Path(os.environ.get("UAVMAIL_TEST_TMP", tempfile.gettempdir())) / name
    d.mkdir(exist_ok=True)
    return d


def tls_server(store=None):
    p = pki()
    return start_server(mode="tls", cert=p["server_chain"], key=p["server_key"], user=USER,
                        password=PASSWORD, store=store)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def parse(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def attachments(msg):
    return {p.get_filename(): p.get_payload(decode=True) or b"" for p in msg.iter_attachments()}


def make_file(path, size, seed=7):
    """A file of `size` pseudo-random bytes, written in 1 MiB blocks."""
    block = hashlib.sha256(b"%d" % seed).digest() * (1 << 15)   # 1 MiB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= len(block)
    return path


def vm_hwm_bytes(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


import shutil  # noqa: E402
import subprocess  # noqa: E402
import unittest  # noqa: E402

CSV = b"time,lat,lon\r\n.\r\n1,47.1,8.5\n"


class NativeScenarios:
    """Tests shared by the C++ and C# bindings.  A subclass (also a TestCase)
    sets cls.cmd (the scenario program as an argv prefix) and cls.example_cmd,
    and may list scenarios it does not have in cls.skip."""
    cmd: list = []
    example_cmd: list = []
    skip: tuple = ()
    label = "native"

    @classmethod
    def start(cls):
        cls.pki = pki()
        cls.srv = tls_server()
        cls.work = tmpdir(cls.label)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        shutil.rmtree(cls.work, ignore_errors=True)

    def run_scenario(self, name, timeout=120):
        if name in self.skip:
            raise unittest.SkipTest(f"{name} not run in this variant")
        r = subprocess.run(self.cmd + [name, str(self.srv.port), self.pki["ca"], USER, PASSWORD,
                                       str(self.work)], capture_output=True, text=True,
                           timeout=timeout)
        out = r.stdout
        self.assertEqual(r.returncode, 0, f"{name} failed:\n{out}\n{r.stderr[-3000:]}")
        self.assertNotIn("FAIL", out)
        return out

    def lines(self, out, prefix):
        return {line.split(":", 1)[0][len(prefix):]: line.split(":", 1)[1].strip()
                for line in out.splitlines() if line.startswith(prefix)}

    def delivered(self, n0, n=1):
        return self.srv.wait_for(n0 + n, timeout=60)[n0:n0 + n]

    def test_version(self):
        ok = self.lines(self.run_scenario("version"), "ok ")
        self.assertIn("written for libuavmail 0.3.0", ok["version.mismatch"])
        self.assertIn("version 0.4.0", ok["version.mismatch"])
        self.assertIn("version.major", ok)

    def test_send(self):
        make_file(self.work / "flight.bin", 300_000)
        make_file(self.work / "stream.bin", 200_000, seed=3)
        n0 = len(self.srv.messages())
        out = self.run_scenario("send")
        clock = int(next(line.split()[1] for line in out.splitlines() if line.startswith("clock ")))
        (eml, meta), (eml2, _) = self.delivered(n0, 2)
        self.assertEqual(meta["auth_user"], USER)
        self.assertTrue(meta["tls"])
        msg = parse(eml)
        self.assertEqual(str(msg["Subject"]), "[UAV-7] Flight report \u00e9t\u00e9")
        self.assertEqual(int(email.utils.parsedate_to_datetime(msg["Date"]).timestamp()), clock)
        self.assertEqual(str(msg["X-Vehicle-Id"]), "7")
        got = attachments(msg)
        self.assertEqual(sha256(got["flight.bin"]),
                         sha256((self.work / "flight.bin").read_bytes()))
        self.assertEqual(got["track.csv"], CSV)
        self.assertEqual(sha256(got["stream.bin"]),
                         sha256((self.work / "stream.bin").read_bytes()))
        self.assertEqual(str(parse(eml2)["Subject"]), "second on the session")

    def test_probe(self):
        ok = self.lines(self.run_scenario("probe"), "ok ")
        self.assertIn("probe.ok", ok)
        self.assertEqual(ok["probe.wrong-password"], "-18")

    def test_outbox(self):
        n0 = len(self.srv.messages())
        self.run_scenario("outbox")
        msgs = self.delivered(n0, 2)
        self.assertEqual([str(parse(e)["Subject"]) for e, _ in msgs],
                         ["BATTERY CRITICAL", "routine"])          # alerts first

    def test_errors(self):
        ok = self.lines(self.run_scenario("errors"), "ok ")
        self.assertIn('"ops@@example.test"', ok["error.address"])
        self.assertIn("invalid local part", ok["error.address"])
        self.assertIn("authentication failed", ok["error.auth"])
        self.assertIn("535 5.7.8", ok["error.auth"])
        self.assertIn("app password", ok["error.auth"])
        self.assertIn("deleted.ulg\" cannot be opened: No such file", ok["error.file"])
        self.assertIn("error.callback", ok)

    def test_big_attachment_constant_memory(self):
        make_file(self.work / "small.bin", SMALL)
        make_file(self.work / "big.bin", BIG)
        n0 = len(self.srv.messages())
        try:
            out = self.run_scenario("big", timeout=300)
        finally:
            (self.work / "big.bin").unlink()
        hwm = {k: int(v) for k, v in (line.split()[1:] for line in out.splitlines()
                                      if line.startswith("hwm "))}
        growth = hwm["big.bin"] - hwm["small.bin"]
        extra = "".join(line + "; " for line in out.splitlines() if line.startswith("managed"))
        print(f"\n{self.label}: peak RSS after 1 MiB {hwm['small.bin'] >> 20} MiB, after 50 MiB "
              f"{hwm['big.bin'] >> 20} MiB, growth {growth / 2**20:.1f} MiB; {extra}",
              file=sys.stderr)
        self.assertLess(growth, RSS_BOUND)
        _, (eml, meta) = self.delivered(n0, 2)
        self.assertGreater(meta["size"], BIG * 4 // 3)

    def test_telemetry(self):
        """A 600-sample flight recorded in the binding's language; the scenario checks the
        summary against its own haversine figures, then sends the report with the
        recorder already dropped by the caller (the message keeps it alive)."""
        import csv
        import io
        import json
        n0 = len(self.srv.messages())
        ok = self.lines(self.run_scenario("telemetry"), "ok ")
        for k in ("summary.times", "summary.duration", "summary.distance", "summary.altitude",
                  "summary.counts", "summary.home", "tm.error_code"):
            self.assertIn(k, ok)
        [(eml, _)] = self.delivered(n0)
        msg = parse(eml)
        self.assertTrue(str(msg["Subject"]).startswith("[UAV-7] Flight report 2026-11-22 14:03Z"),
                        msg["Subject"])
        body = msg.get_body(("plain",)).get_content()
        self.assertIn("Inspection flight, north fence", body)
        self.assertIn("Hot spot 79 degC", body)
        parts = {p.get_filename(): p for p in msg.iter_attachments()}
        base = "UAV-7-20261122T1403Z"
        self.assertEqual({k: p.get_content_type() for k, p in parts.items()}, {
            base + ".csv": "text/csv", base + ".gpx": "application/gpx+xml",
            base + ".geojson": "application/geo+json", base + ".cbor": "application/cbor",
            "track.kml": "application/vnd.google-earth.kml+xml"})
        got = {k: p.get_payload(decode=True) for k, p in parts.items()}
        rows = list(csv.reader(io.StringIO(got[base + ".csv"].decode())))
        self.assertEqual(rows[0][:3], ["time_utc", "lat_deg", "lon_deg"])
        self.assertEqual(rows[0][-1], "thermal_degC")
        self.assertEqual(len(rows), 601)
        self.assertEqual(rows[1][:3], ["2026-11-22T14:03:00.000Z", "47.3977000", "8.5456000"])
        self.assertEqual((rows[1][-2], rows[1][-1]), ("AUTO", "30.0000"))
        coords = next(f["geometry"]["coordinates"] for f in json.loads(got[base + ".geojson"])
                      ["features"] if f["geometry"]["type"] == "LineString")
        self.assertEqual(len(coords), 600)
        self.assertEqual(coords[0][:2], [8.5456, 47.3977])          # longitude first
        self.assertEqual(got[base + ".gpx"].count(b"<trkpt "), 600)
        self.assertTrue(got["track.kml"].startswith(b"<?xml"))
        try:
            import cbor2
        except ImportError:
            return
        doc = cbor2.loads(got[base + ".cbor"])
        self.assertEqual((doc["schema"], doc["vehicle"], len(doc["samples"])),
                         ("uavmail-flight/1", "UAV-7", 600))
        self.assertEqual(doc["samples"][0][-1], 30.0)

    def test_alerts(self):
        ok = self.lines(self.run_scenario("alerts"), "ok ")
        self.assertEqual(ok["alerts.hysteresis"],
                         "battery_low@0:Battery low: 19 % left|battery_low@4:Battery low: 19 % "
                         "left|hot@10:hot: thermal is 81 (above 80)|hot@14:hot: thermal is 90 "
                         "(above 80)|")
        self.assertIn("column 5: expected ':'", ok["alerts.parse-error"])
        self.assertIn("alerts.callback", ok)
        self.assertIn("alerts.digest", ok)

    def test_example(self):
        n0 = len(self.srv.messages())
        r = subprocess.run(self.example_cmd + [str(self.srv.port), self.pki["ca"], USER,
                                               PASSWORD, str(self.work)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        alert, report = self.delivered(n0, 2)
        self.assertIn("ALERT: Battery critical", str(parse(alert[0])["Subject"]))
        rep = parse(report[0])
        # The recorder's report: a STATUSTEXT at CRITICAL sets the ALERT flag.
        self.assertTrue(str(rep["Subject"]).startswith(
            "[ALERT] [UAV-7] Flight report 2026-11-22 14:03Z"), rep["Subject"])
        body = rep.get_body(("plain",)).get_content()
        self.assertIn("Max altitude  40.0 m above home", body)
        self.assertIn("Battery critical", body)
        got = attachments(rep)
        track = next(v for k, v in got.items() if k.endswith(".csv")).decode()
        self.assertEqual(len(track.strip().splitlines()), 1 + 5)
        self.assertEqual(len(got), 3, sorted(got))


def skip_if_missing(tool):
    """Exit with meson's SKIP status when a tool the test needs is absent."""
    import shutil
    if not tool or not (os.path.isabs(tool) and os.access(tool, os.X_OK) or shutil.which(tool)):
        print(f"SKIP: {tool or 'tool'} not found", file=sys.stderr)
        sys.exit(77)
