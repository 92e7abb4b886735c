"""Scripted flights through the MAVLink bridge, end to end.

node-mavlink (an independent MAVLink implementation, pinned in
test/mavlink/package-lock.json) frames a PX4-like and an ArduPilot-like
flight as .tlog files: take-off, a battery sag jittering around the alarm
threshold, a lost GPS fix, a geofence breach, a corrupted frame, landing and
disarm.  examples/mavlink-notify replays each one, queues the alerts and the
flight report in an outbox and flushes it over TLS + AUTH to the loopback
aiosmtpd server.  The test then reads what was delivered and checks:
  * exactly the expected alerts, no duplicates inside the rate window;
  * one report whose summary figures equal those computed here, in Python,
    from the ground truth the generator wrote;
  * the attachments with other tools: gpsbabel (GPX, KML), Python's csv and
    json (CSV, GeoJSON with longitude first) and cbor2 (CBOR, not libcbor).
"""
import csv
import email
import email.policy
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e_common import PASSWORD, USER, pki  # noqa: E402
from smtp_server import start_server  # noqa: E402

HERE = Path(__file__).resolve().parent
MAVDIR = HERE.parent / "mavlink"
BRIDGE = os.environ.get("UAVMAIL_MAVLINK_NOTIFY")
R_EARTH = 6371008.8


def haversine(a, b):
    k = math.pi / 180
    dlat, dlon = (b[0] - a[0]) * k, (b[1] - a[1]) * k
    h = math.sin(dlat / 2) ** 2 + math.cos(a[0] * k) * math.cos(b[0] * k) * math.sin(dlon / 2) ** 2
    return 2 * R_EARTH * math.asin(math.sqrt(min(1.0, h)))


def expected_summary(samples, home):
    """The summary, computed independently from the ground truth."""
    s = {"samples": len(samples), "start_us": samples[0]["time_us"],
         "end_us": samples[-1]["time_us"]}
    s["duration_s"] = (s["end_us"] - s["start_us"]) / 1e6
    air = charge = energy = nofix = dist = 0.0
    losses, had_fix, prev_pos = 0, False, None
    for i, x in enumerate(samples):
        if i:
            p = samples[i - 1]
            dt = (x["time_us"] - p["time_us"]) / 1e6
            air += dt if p["in_air"] == 1 else 0
            charge += (p["current"] + x["current"]) / 2 * dt / 3.6
            energy += (p["voltage"] * p["current"] + x["voltage"] * x["current"]) / 2 * dt / 3600
            nofix += dt if p["armed"] == 1 and p["fix_type"] < 3 else 0
        if x["fix_type"] >= 2:
            if prev_pos:
                dist += haversine(prev_pos, (x["lat"], x["lon"]))
            prev_pos = (x["lat"], x["lon"])
        if x["armed"] != 1:
            pass
        elif x["fix_type"] >= 3:
            had_fix = True
        elif had_fix:
            losses, had_fix = losses + 1, False
    s.update(air_time_s=air, charge_mah=charge, energy_wh=energy, no_fix_s=nofix,
             distance_m=dist, fix_losses=losses,
             max_alt_rel_m=max(x["alt_rel"] for x in samples),
             max_alt_msl_m=max(x["alt_msl"] for x in samples),
             max_speed_mps=max(x["ground_speed"] for x in samples),
             battery_start_v=samples[0]["voltage"], battery_end_v=samples[-1]["voltage"],
             battery_min_v=min(x["voltage"] for x in samples),
             battery_start_pct=samples[0]["remaining"], battery_end_pct=samples[-1]["remaining"],
             min_satellites=min(x["satellites"] for x in samples if x["armed"] == 1),
             max_hdop=max(x["hdop"] for x in samples if x["armed"] == 1),
             home_lat=home["lat"], home_lon=home["lon"], home_alt_msl=home["alt"],
             land_lat=prev_pos[0], land_lon=prev_pos[1])
    s["land_home_m"] = haversine((home["lat"], home["lon"]), prev_pos)
    return s


def ensure_node_mavlink():
    """Install the pinned node-mavlink (npm ci) once; None if impossible."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node and npm are not installed"
    if not (MAVDIR / "node_modules" / "node-mavlink").is_dir():
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MAVDIR,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            return "npm ci failed (registry unreachable?): " + r.stderr[-300:]
    return None


class Flight:
    """One generated flight replayed through the bridge to a real server."""

    def __init__(self, profile, tmp):
        self.tlog = tmp / f"{profile}.tlog"
        truth = tmp / f"{profile}.json"
        r = subprocess.run(["node", "gen_flight.js", profile, str(self.tlog), str(truth)],
                           cwd=MAVDIR, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        self.truth = json.loads(truth.read_text())
        p = pki()
        pw = tmp / f"{profile}.pw"
        pw.write_text(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        with start_server(mode="tls", cert=p["server_chain"], key=p["server_key"],
                          user=USER, password=PASSWORD, require_auth=True) as srv:
            cfg = tmp / f"{profile}.conf"
            cfg.write_text(
                "# scripted flight\nvehicle = UAV-7\nfrom = uav7@example.test\n"
                "to = ops@example.test\n"
                f"outbox = {tmp / (profile + '-outbox')}\nformats = csv gpx kml geojson cbor\n"
                f"server = localhost\nport = {srv.port}\nsecurity = tls\n"
                f"cafile = {p['ca']}\nuser = {USER}\npassword_file = {pw}\n"
                "channel = thermal degC\n"
                "alert = thermal: thermal > 80 clear 70 severity warning text Hot spot "
                "{value} degC\n")
            self.run = subprocess.run([BRIDGE, "--config", str(cfg), "--tlog", str(self.tlog),
                                       "--flush"], capture_output=True, text=True, timeout=120)
            self.messages = [email.message_from_bytes(Path(e).read_bytes(),
                                                      policy=email.policy.default)
                             for e, _ in srv.messages()]
        self.reports = [m for m in self.messages if "Flight report" in m["Subject"]]
        self.alerts = [m for m in self.messages if "Flight report" not in m["Subject"]]
        self.files = {}
        if self.reports:
            for part in self.reports[0].iter_attachments():
                data = part.get_payload(decode=True)
                self.files[part.get_filename().rsplit(".", 1)[1]] = (part.get_content_type(),
                                                                     data, part)
        self.dir = tmp


class ScriptedFlights(unittest.TestCase):
    flights = {}

    @classmethod
    def setUpClass(cls):
        if not BRIDGE:
            raise unittest.SkipTest("UAVMAIL_MAVLINK_NOTIFY is not set")
        why = ensure_node_mavlink()
        if why:
            raise unittest.SkipTest(why)
        cls.tmp = Path(tempfile.mkdtemp(prefix="uavmail-flight-"))
        for profile in ("px4", "ardupilot", "crash"):
            cls.flights[profile] = Flight(profile, cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(getattr(cls, "tmp", "/nonexistent"), ignore_errors=True)

    def each(self):
        """The flights, each checked in its own subTest (a failure in one
        does not hide the other)."""
        return [(p, f) for p, f in self.flights.items()]

    def test_bridge_ran_clean(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                self.assertEqual(f.run.returncode, 0, f.run.stdout + f.run.stderr)
                self.assertEqual(f.run.stderr, "")
                self.assertIn("reports 1,", f.run.stdout)

    def test_exactly_the_expected_alerts(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                raised = [m.group(1) + ("(digest)" if m.group(2) else "")
                          for m in re.finditer(r"^alert (\S+?)( \(digest\))?: ", f.run.stdout, re.M)]
                self.assertEqual(raised, f.truth["expected_alerts"])
                # each one delivered once, in the order raised; alerts ahead of the report
                self.assertEqual(len(f.alerts), len(raised))
                self.assertTrue(all(m["Subject"].startswith("[ALERT] [UAV-7] ") for m in f.alerts))
                self.assertEqual(len({m["Message-ID"] for m in f.messages}), len(f.messages))
                self.assertIn("Flight report", f.messages[-1]["Subject"])
                battery = [m for m in f.alerts if "Battery low" in m["Subject"]]
                self.assertEqual(len(battery), 1, "hysteresis: 19/21/19/22 % must alert once")

    def test_one_report_with_matching_summary(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                self.assertEqual(len(f.reports), 1)
                cbor2 = __import__("cbor2")
                doc = cbor2.loads(f.files["cbor"][1])
                got = doc["summary"]
                want = expected_summary(f.truth["samples"], f.truth["home"])
                for k, v in want.items():
                    self.assertTrue(math.isclose(got[k], v, rel_tol=1e-9, abs_tol=1e-6),
                                    f"{k}: report {got[k]} computed {v}")
                body = f.reports[0].get_body(("plain",)).get_content()
                self.assertIn("Distance      %.2f km" % (want["distance_m"] / 1000), body)
                self.assertIn("in the air %d min %02d s" % divmod(round(want["air_time_s"]), 60),
                              body)
                html = f.reports[0].get_body(("html",)).get_content()
                self.assertIn("<th align=\"left\">Distance</th><td>%.2f km</td>"
                              % (want["distance_m"] / 1000), html)

    def test_subject(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                subj = f.reports[0]["Subject"]
                self.assertLessEqual(len(subj), 78)
                want = self.expected_subject(f)
                self.assertEqual(subj, want)

    @staticmethod
    def expected_subject(f):
        s = f.truth["samples"]
        minutes = round((s[-1]["time_us"] - s[0]["time_us"]) / 60e6)
        km = expected_summary(s, f.truth["home"])["distance_m"] / 1000
        # CRASH: disarmed while the autopilot still said "in the air"
        prefix = "[CRASH]" if f.truth["profile"] == "crash" else "[ALERT]"
        return prefix + " [UAV-7] Flight report 2026-11-22 14:03Z, %d min, %.1f km" % (minutes, km)

    def test_hostile_stream(self):
        """ArduPilot-like stream: another component's position and a second battery are
        ignored (the summary test checks the figures), home comes from HOME_POSITION sent
        before arming, chunked texts with lost chunks are reported marked, not dropped."""
        f = self.flights["ardupilot"]
        cbor2 = __import__("cbor2")
        doc = cbor2.loads(f.files["cbor"][1])
        texts = [e["text"] for e in doc["events"]]
        self.assertIn("A" * 50 + " [...]", texts)
        self.assertIn("[...] tail of text 7", texts)
        self.assertIn("Battery 2 is critically low, land immediately. Che [...]", texts)
        self.assertEqual((doc["summary"]["home_lat"], doc["summary"]["home_lon"]),
                         (f.truth["home"]["lat"], f.truth["home"]["lon"]))
        self.assertLess(doc["summary"]["distance_m"], 2000)   # not 10 000 km via (0.5, 0.5)
        self.assertGreater(doc["summary"]["battery_min_v"], 13.9)  # not battery 1's 11 V

    def positioned(self, f):
        return [x for x in f.truth["samples"] if x["fix_type"] >= 2]

    def gpsbabel_points(self, f, fmt):
        src = f.dir / f"{id(f)}.{fmt}"
        src.write_bytes(f.files[fmt][1])
        out = f.dir / f"{id(f)}-{fmt}.gpx"
        r = subprocess.run(["gpsbabel", "-t", "-i", fmt, "-f", str(src), "-o", "gpx",
                            "-F", str(out)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        root = ET.parse(out).getroot()
        pts = []
        for p in root.iter():
            if p.tag.endswith("}trkpt"):
                ele = [c for c in p if c.tag.endswith("}ele")]
                pts.append((float(p.get("lat")), float(p.get("lon")), float(ele[0].text)))
        return pts

    def test_gpsbabel_reads_gpx_and_kml(self):
        if not shutil.which("gpsbabel"):
            self.skipTest("gpsbabel is not installed")
        for profile, f in self.each():
            with self.subTest(profile=profile):
                want = [(x["lat"], x["lon"], x["alt_msl"]) for x in self.positioned(f)]
                for fmt in ("gpx", "kml"):
                    got = self.gpsbabel_points(f, fmt)
                    self.assertEqual(len(got), len(want), fmt)
                    for g, w in zip(got, want):
                        self.assertAlmostEqual(g[0], w[0], places=7)
                        self.assertAlmostEqual(g[1], w[1], places=7)
                        self.assertAlmostEqual(g[2], w[2], places=2)
                self.assertEqual(f.files["gpx"][0], "application/gpx+xml")
                self.assertEqual(f.files["kml"][0], "application/vnd.google-earth.kml+xml")

    def test_csv_module_reads_csv(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                self.assertEqual(f.files["csv"][0], "text/csv")
                # RFC 4180's parameters (DRONE-NOTES): UTF-8 text with a header row
                self.assertEqual(f.files["csv"][2].get_param("charset"), "utf-8")
                self.assertEqual(f.files["csv"][2].get_param("header"), "present")
                rows = list(csv.DictReader(io.StringIO(f.files["csv"][1].decode(), newline="")))
                truth = f.truth["samples"]
                self.assertEqual(len(rows), len(truth))
                self.assertIn("voltage_V", rows[0])
                self.assertIn("alt_rel_m", rows[0])
                for row, t in zip(rows, truth):
                    self.assertAlmostEqual(float(row["lat_deg"]), t["lat"], places=7)
                    self.assertAlmostEqual(float(row["lon_deg"]), t["lon"], places=7)
                    self.assertAlmostEqual(float(row["voltage_V"]), t["voltage"], places=3)
                if t["thermal"] is None:
                    self.assertEqual(row["thermal_degC"], "")
                else:   # a custom channel from NAMED_VALUE_FLOAT (a float32 on the wire)
                    self.assertAlmostEqual(float(row["thermal_degC"]), t["thermal"],
                                           places=4)
                    self.assertEqual(int(row["fix_type"]), t["fix_type"])
                self.assertTrue(f.files["csv"][1].endswith(b"\r\n"))

    def test_json_module_reads_geojson_lon_first(self):
        for profile, f in self.each():
            with self.subTest(profile=profile):
                self.assertEqual(f.files["geojson"][0], "application/geo+json")
                doc = json.loads(f.files["geojson"][1])
                self.assertEqual(doc["type"], "FeatureCollection")
                track = doc["features"][0]["geometry"]
                self.assertEqual(track["type"], "LineString")
                want = self.positioned(f)
                self.assertEqual(len(track["coordinates"]), len(want))
                for c, w in zip(track["coordinates"], want):
                    self.assertEqual(c[:2], [w["lon"], w["lat"]])   # RFC 7946: longitude first
                points = {ft["properties"]["name"]: ft for ft in doc["features"][1:]}
                self.assertEqual(points["home"]["geometry"]["coordinates"][:2],
                                 [f.truth["home"]["lon"], f.truth["home"]["lat"]])
                events = [ft for ft in doc["features"] if ft["properties"]["name"] == "event"]
                self.assertTrue(any("GPS 3D fix lost" in e["properties"]["text"] for e in events))

    def test_cbor2_reads_cbor(self):
        cbor2 = __import__("cbor2")
        for profile, f in self.each():
            with self.subTest(profile=profile):
                self.assertEqual(f.files["cbor"][0], "application/cbor")
                doc = cbor2.loads(f.files["cbor"][1])
                self.assertEqual(doc["schema"], "uavmail-flight/1")
                self.assertEqual(doc["vehicle"], "UAV-7")
                cols = [c[0] for c in doc["columns"]]
                self.assertEqual(cols[:3], ["time_us", "lat", "lon"])
                self.assertEqual(len(doc["samples"]), len(f.truth["samples"]))
                for row, t in zip(doc["samples"], f.truth["samples"]):
                    self.assertEqual(row[0], t["time_us"])
                    self.assertEqual(row[cols.index("lat")], t["lat"])
                    self.assertEqual(row[cols.index("armed")], t["armed"] == 1)
                self.assertTrue(any("Armed" == e["text"] for e in doc["events"]))


class LiveUdp(unittest.TestCase):
    """The same flight sent live over UDP (as a flight controller or router
    would, to 127.0.0.1:PORT): the bridge queues the same alerts and report."""

    def test_udp_flight(self):
        if not BRIDGE:
            self.skipTest("UAVMAIL_MAVLINK_NOTIFY is not set")
        why = ensure_node_mavlink()
        if why:
            self.skipTest(why)
        import signal
        import socket
        tmp = Path(tempfile.mkdtemp(prefix="uavmail-udp-"))
        try:
            tlog, truth = tmp / "f.tlog", tmp / "f.json"
            # GPS time starting now, as a live vehicle's would (the bridge's clock is the
            # host's until SYSTEM_TIME arrives, and never runs backwards)
            subprocess.run(["node", "gen_flight.js", "ardupilot", str(tlog), str(truth),
                            str(int(time.time()) - 1)],
                           cwd=MAVDIR, check=True, capture_output=True, timeout=120)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            cfg = tmp / "b.conf"
            cfg.write_text("vehicle = UAV-7\nfrom = uav7@example.test\nto = ops@example.test\n"
                           f"outbox = {tmp / 'outbox'}\nchannel = thermal degC\n"
                           "alert = thermal: thermal > 80 clear 70\n")
            proc = subprocess.Popen([BRIDGE, "--config", str(cfg), "--udp",
                                     f"127.0.0.1:{port}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            try:
                self.assertIn("listening on UDP", proc.stdout.readline())
                data = tlog.read_bytes()
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
                    i = sent = 0
                    while i < len(data):   # strip the 8-byte .tlog timestamps
                        i += 8
                        n = 12 + data[i + 1] + (13 if data[i + 2] & 1 else 0)
                        tx.sendto(data[i:i + n], ("127.0.0.1", port))
                        i += n
                        sent += 1
                        if sent % 200 == 0:
                            time.sleep(0.02)   # a socket buffer, not a radio: pace a little
                time.sleep(0.5)
            finally:
                proc.send_signal(signal.SIGTERM)
                out, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, out + err)
            raised = [m.group(1) + ("(digest)" if m.group(2) else "")
                      for m in re.finditer(r"^alert (\S+?)( \(digest\))?: ", out, re.M)]
            self.assertEqual(raised, json.loads(truth.read_text())["expected_alerts"])
            self.assertIn("flight finished (Disarmed)", out)
            subjects = sorted(email.message_from_bytes(p.read_bytes())["Subject"]
                              for p in (tmp / "outbox" / "msg").glob("*.eml"))
            self.assertEqual(len(subjects), len(raised) + 1)
            self.assertEqual(sum("Flight report" in s for s in subjects), 1)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class BridgeErrors(unittest.TestCase):
    """Bad input to the bridge: a clear message naming what and where, and a
    sysexits code, before anything is queued."""

    def run_bridge(self, config, *args):
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "b.conf"
            cfg.write_text(config.replace("OUTBOX", str(Path(d) / "outbox")))
            r = subprocess.run([BRIDGE, "--config", str(cfg)] + list(args),
                               capture_output=True, text=True, timeout=30)
            queued = list((Path(d) / "outbox" / "msg").glob("*.eml")) \
                if (Path(d) / "outbox" / "msg").is_dir() else []
            return r, cfg, queued

    def setUp(self):
        if not BRIDGE:
            self.skipTest("UAVMAIL_MAVLINK_NOTIFY is not set")

    GOOD = "from = uav7@example.test\nto = ops@example.test\noutbox = OUTBOX\n"

    def test_errors(self):
        cases = [
            (self.GOOD + "colour = red\n", ("--tlog", "/dev/null"), 78,
             r"b\.conf:4: unknown setting 'colour'"),
            (self.GOOD + "just words\n", ("--tlog", "/dev/null"), 78,
             r"b\.conf:4: expected 'name = value'"),
            ("to = ops@example.test\noutbox = OUTBOX\n", ("--tlog", "/dev/null"), 78,
             r"'from', 'to' and 'outbox' are required"),
            (self.GOOD.replace("uav7@example.test", "uav7@@example"), ("--tlog", "/dev/null"),
             78, r"From address \"uav7@@example\": invalid local part\n"
                 r".*b\.conf: fix .from. / .to."),
            (self.GOOD + "alert = bat: remaining < low\n", ("--tlog", "/dev/null"), 78,
             r"alert 'bat: remaining < low': alert rule, column 18: expected a number"),
            (self.GOOD, ("--tlog", "/nonexistent/flight.tlog"), 66,
             r"cannot read /nonexistent/flight\.tlog"),
            (self.GOOD, ("--udp", "300.1.1.1:14550"), 64, r"bad UDP address"),
            (self.GOOD, ("--bogus",), 64, r"usage: mavlink-notify"),
        ]
        for config, args, code, pattern in cases:
            with self.subTest(args=args, config=config.splitlines()[-1]):
                r, _, queued = self.run_bridge(config, *args)
                self.assertEqual(r.returncode, code, r.stdout + r.stderr)
                self.assertRegex(r.stderr, pattern)
                self.assertEqual(queued, [])

    def test_garbage_tlog_is_survived(self):
        with tempfile.NamedTemporaryFile(suffix=".tlog") as f:
            f.write(os.urandom(200000))
            f.flush()
            r, _, queued = self.run_bridge(self.GOOD, "--tlog", f.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("reports 0, alerts 0", r.stdout)
        self.assertEqual(queued, [])


if __name__ == "__main__":
    # A skipped part (no node/npm, no gpsbabel) is reported to meson as SKIP (77), not OK.
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped:
        print("skipped: " + "; ".join(sorted({why for _, why in result.skipped})))
        sys.exit(77)
