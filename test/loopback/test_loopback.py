#!/usr/bin/python3
"""The built-in TCP transport (POSIX sockets, or Winsock under wine) against
the loopback TLS server: implicit TLS and STARTTLS, blocking and stepped,
with a binary attachment that must arrive byte for byte.  A cross build's
runner (qemu, wine) comes from UAVMAIL_EXE_WRAPPER (scripts/cross.sh)."""
import email
import email.policy
import os
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
import testca  # noqa: E402
from smtp_server import start_server  # noqa: E402

USER = "pilot@example.test"
PASSWORD = "correct horse battery staple"


def run_tool(var, *args):
    env = dict(os.environ, LOOPBACK_PW=PASSWORD)
    cmd = os.environ.get("UAVMAIL_EXE_WRAPPER", "").split() + [os.environ[var]]
    return subprocess.run(cmd + [str(a) for a in args], env=env, capture_output=True, text=True,
                          timeout=120)


def send_one(*args):
    return run_tool("UAVMAIL_SEND_ONE", *args)


def queue_one(*args):
    return run_tool("UAVMAIL_QUEUE_ONE", *args)


def cli(*args):
    return run_tool("UAVMAIL_CLI", *args)


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Loopback(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(dir=os.environ.get("UAVMAIL_TEST_TMP"))
        cls.pki = testca.make_pki(os.path.join(os.environ.get("UAVMAIL_TEST_TMP", cls.tmp.name),
                                               "loopback-pki"))  # reused while valid
        cls.payload = bytes(range(256)) * 1200 + b"\r\n.\r\nend"  # 300 KiB, CR/LF and dots
        cls.file = os.path.join(cls.tmp.name, "flight.bin")
        with open(cls.file, "wb") as f:
            f.write(cls.payload)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def roundtrip(self, mode, drive):
        with start_server(mode=mode, cert=self.pki["server_chain"], key=self.pki["server_key"],
                          user=USER, password=PASSWORD, require_auth=True) as srv:
            r = send_one("127.0.0.1", srv.port, "tls" if mode == "tls" else "starttls",
                         self.pki["ca"], USER, "LOOPBACK_PW", self.file, drive)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            [(eml, meta)] = srv.wait_for(1, timeout=30)
            with open(eml, "rb") as f:  # the store goes with the server
                msg = email.message_from_binary_file(f, policy=email.policy.default)
        self.assertEqual(meta["auth_user"], USER)
        self.assertTrue(meta["tls"])
        self.assertEqual(msg["Subject"], "Loopback flight log")
        [att] = list(msg.iter_attachments())
        self.assertEqual(att.get_filename(), "flight.bin")
        self.assertEqual(att.get_content(), self.payload)

    def test_implicit_tls_blocking(self):
        self.roundtrip("tls", "blocking")

    def test_starttls_blocking(self):
        self.roundtrip("starttls", "blocking")

    def test_starttls_stepped(self):
        self.roundtrip("starttls", "step")

    def test_untrusted_server_refused(self):
        with start_server(mode="tls", cert=self.pki["server_chain"], key=self.pki["server_key"],
                          user=USER, password=PASSWORD) as srv:
            r = send_one("127.0.0.1", srv.port, "tls", self.pki["other_ca"], USER, "LOOPBACK_PW",
                         self.file)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("result=-14", r.stdout)  # UAVMAIL_ECERT
            self.assertEqual(srv.messages(), [])

    @unittest.skipUnless(os.environ.get("UAVMAIL_QUEUE_ONE"), "the 'minimal' profile has no outbox")
    def test_outbox_survives_link_loss_and_restarts(self):
        """Q-01/Q-03/Q-04/Q-14 through the platform's own file layer (the Windows one under
        wine): three processes enqueue, a flush meets a dead port, a stray temporary file is
        cleaned up, and the next flush delivers everything, alert first, byte for byte."""
        qdir = os.path.join(self.tmp.name, "outbox")
        ids = {}
        for prio, subject, extra in (("bulk", "Flight log", [self.file]),
                                     ("normal", "Flight report", []),
                                     ("alert", "ALERT battery low", [])):
            r = queue_one(qdir, "enqueue", prio, subject, *extra)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            ids[subject] = r.stdout.strip().removeprefix("id=")
        # The link is down: nothing listens on the port.
        r = queue_one(qdir, "flush", "127.0.0.1", free_port(), "starttls", self.pki["ca"], USER,
                      "LOOPBACK_PW")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("outcome ", r.stdout)
        listed = queue_one(qdir, "list")
        self.assertEqual(listed.returncode, 0, listed.stdout + listed.stderr)
        entries = [line for line in listed.stdout.splitlines() if line.startswith("entry ")]
        self.assertEqual(len(entries), 3, listed.stdout)
        self.assertTrue(all("attempts=1 " in e and "state=0 " in e for e in entries), listed.stdout)
        self.assertIn("error=", listed.stdout)
        # An enqueue interrupted by a crash leaves a temporary file; it is never sent.
        with open(os.path.join(qdir, "tmp", "tmp.0123456789ab.7"), "wb") as f:
            f.write(b"From: half@example.test\r\nSubject: half-written\r\n")
        with start_server(mode="starttls", cert=self.pki["server_chain"],
                          key=self.pki["server_key"], user=USER, password=PASSWORD,
                          require_auth=True) as srv:
            r = queue_one(qdir, "flush", "127.0.0.1", srv.port, "starttls", self.pki["ca"], USER,
                          "LOOPBACK_PW", "now")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("sent=3", r.stdout)
            msgs = srv.wait_for(3, timeout=30)
            delivered = []
            for eml, meta in msgs:
                self.assertTrue(meta["tls"])
                with open(eml, "rb") as f:
                    delivered.append(email.message_from_binary_file(f, policy=email.policy.default))
        self.assertEqual([m["Subject"] for m in delivered],
                         ["ALERT battery low", "Flight report", "Flight log"])
        [att] = list(delivered[2].iter_attachments())
        self.assertEqual(att.get_content(), self.payload)
        for subject, qid in ids.items():
            self.assertIn("outcome id=%s outcome=0 " % qid, r.stdout)
        self.assertEqual(os.listdir(os.path.join(qdir, "tmp")), [])
        listed = queue_one(qdir, "list")
        self.assertEqual(listed.stdout, "", listed.stdout + listed.stderr)

    @unittest.skipUnless(os.environ.get("UAVMAIL_CLI"), "the CLI is not built")
    def test_cli_send_and_queue(self):
        """The CLI on this platform: a password from a command (cmd.exe on Windows), a file
        attachment, then the same through --queue (enqueue durably, deliver at once)."""
        qdir = os.path.join(self.tmp.name, "cli-outbox")
        with start_server(mode="starttls", cert=self.pki["server_chain"],
                          key=self.pki["server_key"], user=USER, password=PASSWORD,
                          require_auth=True) as srv:
            common = ["--server", "127.0.0.1", "--port", srv.port, "--security", "starttls",
                      "--cafile", self.pki["ca"], "--user", USER, "--password-cmd",
                      "echo " + PASSWORD, "--from", "uav7@example.test",
                      "--to", "ops@example.test", "--body", "Log attached.",
                      "--attach", self.file]
            r = cli("send", "--subject", "CLI flight log", *common)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = cli("send", "--queue", qdir, "--priority", "alert", "--subject", "CLI queued",
                    *common)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            msgs = srv.wait_for(2, timeout=30)
            delivered = []
            for eml, meta in msgs:
                self.assertEqual(meta["auth_user"], USER)
                with open(eml, "rb") as f:
                    delivered.append(email.message_from_binary_file(f, policy=email.policy.default))
            # A failing credential command (asked for at AUTH) is reported; nothing is sent.
            bad = list(common)
            bad[bad.index("--password-cmd") + 1] = "exit 3"
            r = cli("send", "--subject", "never", *bad)
            self.assertEqual(r.returncode, 69, r.stdout + r.stderr)  # EX_UNAVAILABLE
            self.assertIn("credential command failed", r.stdout + r.stderr)
            self.assertEqual(len(srv.messages()), 2)
        self.assertEqual([m["Subject"] for m in delivered], ["CLI flight log", "CLI queued"])
        for m in delivered:
            [att] = list(m.iter_attachments())
            self.assertEqual(att.get_content(), self.payload)
        r = cli("queue", "list", "--queue", qdir)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("CLI queued", r.stdout)

    @unittest.skipUnless(os.environ.get("UAVMAIL_MAVLINK_NOTIFY"), "needs the 'full' profile")
    def test_mavlink_bridge_replays_a_flight(self):
        """mavlink-notify on this platform (a Windows ground station under wine): the demo
        flight's .tlog through telemetry, alert rules and the outbox, then flushed over
        STARTTLS: the alerts first, then the flight report with its four attachments."""
        work = os.path.join(self.tmp.name, "bridge")
        os.makedirs(work, exist_ok=True)
        with start_server(mode="starttls", cert=self.pki["server_chain"],
                          key=self.pki["server_key"], user=USER, password=PASSWORD,
                          require_auth=True) as srv:
            conf = os.path.join(work, "uav7.conf")
            with open(conf, "w") as f:
                f.write("vehicle = UAV-7\nfrom = uav7@example.test\nto = ops@example.test\n"
                        "outbox = %s\nformats = csv gpx geojson cbor\nserver = 127.0.0.1\n"
                        "port = %d\nsecurity = starttls\ncafile = %s\nuser = %s\n"
                        "channel = thermal degC\n"
                        "alert = hot_spot: thermal > 80 clear 70 severity warning text Hot spot "
                        "{value} degC\n" % (os.path.join(work, "outbox"), srv.port,
                                             self.pki["ca"], USER))
            env = dict(os.environ, UAVMAIL_PASSWORD=PASSWORD)
            cmd = os.environ.get("UAVMAIL_EXE_WRAPPER", "").split() + [
                os.environ["UAVMAIL_MAVLINK_NOTIFY"], "--config", conf,
                "--tlog", os.environ["UAVMAIL_DEMO_TLOG"], "--flush"]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("reports 1,", r.stdout)
            sent = sum(int(line.split()[1]) for line in r.stdout.splitlines()
                       if line.startswith("sent "))
            msgs = srv.wait_for(sent, timeout=30)
            delivered = []
            for eml, _ in msgs:
                with open(eml, "rb") as f:
                    delivered.append(email.message_from_binary_file(f, policy=email.policy.default))
        self.assertEqual(len(delivered), sent)
        subjects = [m["Subject"] for m in delivered]
        self.assertTrue(all(s.startswith("[ALERT] [UAV-7] ") for s in subjects), subjects)
        self.assertIn("[ALERT] [UAV-7] Hot spot 85.5 degC", subjects)  # the configured rule
        # The report (marked [ALERT] because the flight had alerts) comes after the alerts.
        self.assertIn("Flight report", subjects[-1])
        self.assertFalse(any("Flight report" in s for s in subjects[:-1]), subjects)
        self.assertEqual(sorted(a.get_filename().rsplit(".", 1)[1]
                                for a in delivered[-1].iter_attachments()),
                         ["cbor", "csv", "geojson", "gpx"])
        for m in delivered[:-1]:
            self.assertEqual(list(m.iter_attachments()), [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
