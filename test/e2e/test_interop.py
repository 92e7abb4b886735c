#!/usr/bin/python3
"""Interop: the uavmail CLI against real Postfix + Dovecot SASL on loopback
(submission with STARTTLS required and AUTH only after TLS; smtps with
implicit TLS).  Needs root; exits 77 (skipped) otherwise."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from e2e_common import (ENV_VAR, PASSWORD, USER, assert_no_secret, check_delivered,
                        make_files, pki, run_cli, send_args)

if os.geteuid() != 0 or not shutil.which("postfix", path="/usr/sbin:/usr/bin") or \
        not os.path.exists("/usr/sbin/dovecot"):
    print("interop needs root, postfix and dovecot-core; skipped")
    sys.exit(77)

from postfix_fixture import PostfixFixture  # noqa: E402


class Postfix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = pki()
        cls.tmp = tempfile.mkdtemp(prefix="uavmail-pf-", dir="/tmp")
        os.chmod(cls.tmp, 0o755)
        cls.files = make_files(os.path.join(cls.tmp, "files"))
        cls.pf = PostfixFixture(os.path.join(cls.tmp, "pf"), cls.pki["server_chain"],
                                cls.pki["server_key"], user=USER, password=PASSWORD,
                                domain="example.test",
                                mechanisms="plain login scram-sha-256")
        cls.pf.__enter__()
        cls.delivered = 0

    @classmethod
    def tearDownClass(cls):
        cls.pf.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def send_and_fetch(self, port, security):
        extra = ["--body", "Flight 0042 landed.\r\n.\r\n", "--trace"]
        for path in self.files:
            extra += ["--attach", path]
        r = run_cli(send_args(port, security, self.pki["ca"], extra))
        self.assertEqual(r.returncode, 0, r.stderr + self.pf.log_text()[-3000:])
        assert_no_secret(self, r.stdout, r.stderr)
        type(self).delivered += 1
        paths = self.pf.wait_for_messages(self.delivered, timeout=30)
        return check_delivered(self, Path(paths[-1]).read_bytes().replace(b"\r\n", b"\n")
                               .replace(b"\n", b"\r\n"), self.files), r

    def test_starttls_submission_1mb_attachment(self):
        msg, r = self.send_and_fetch(self.pf.submission_port, "starttls")
        self.assertIn("C: STARTTLS", r.stderr)
        # The strongest mechanism offered after TLS: SCRAM-SHA-256 (Dovecot).
        self.assertIn("C: AUTH SCRAM-SHA-256 <redacted>", r.stderr)
        # AUTH was not offered before STARTTLS, and not used before it.
        self.assertLess(r.stderr.index("C: STARTTLS"), r.stderr.index("C: AUTH"))
        self.assertEqual(msg["Subject"], "Flight report")

    def test_implicit_tls_smtps_1mb_attachment(self):
        msg, r = self.send_and_fetch(self.pf.smtps_port, "tls")
        self.assertNotIn("C: STARTTLS", r.stderr)
        self.assertIn("TLS established", r.stderr)

    def test_prepared_messages_one_connection_bdat(self):
        # Three prepared messages, envelope from their headers (-t), one
        # connection: envelope and BDAT LAST pipelined, QUIT behind the last.
        paths = []
        for i in range(3):
            p = os.path.join(self.tmp, f"prep{i}.eml")
            Path(p).write_bytes(
                f"From: UAV 7 <uav7@example.test>\nTo: \"Ops, HQ\" <ops@example.test>\n"
                f"Bcc: hidden@example.test\nSubject: prepared {i}\n\n.line {i}\r\nend\n".encode())
            paths.append(p)
        args = send_args(self.pf.submission_port, "starttls", self.pki["ca"], ["--trace", "-t"])
        for flag in ("--from", "--to", "--subject"):
            i = args.index(flag)
            del args[i:i + 2]
        for p in paths:
            args += ["--message", p]
        r = run_cli(args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("* connected to"), 1)
        self.assertEqual(r.stderr.count("C: BDAT "), 3)
        self.assertNotIn("C: DATA", r.stderr)
        self.assertLess(r.stderr.rindex("C: BDAT"), r.stderr.index("C: QUIT"))
        # Pipelined across messages (RFC 2920 3.1 + RFC 3030): all three went
        # out before the first reply was read, each further one led by RSET.
        first_bdat = r.stderr.index("C: BDAT")
        self.assertLess(r.stderr.rindex("C: BDAT"), r.stderr.index("S: ", first_bdat))
        self.assertEqual(r.stderr.count("C: RSET"), 2)
        self.assertEqual(r.stdout.count("accepted for 2 of 2 recipient(s)"), 3, r.stdout)
        type(self).delivered += 6  # ops and hidden, three times
        got = [Path(p).read_bytes() for p in self.pf.wait_for_messages(self.delivered, 30)]
        prepared = [g for g in got if b"Subject: prepared" in g]
        self.assertEqual(len(prepared), 6)
        for g in prepared:
            self.assertNotIn(b"Bcc:", g)            # D-10
            self.assertIn(b"\n.line ", g)            # not dot-stuffed by BDAT, CRLF-normalised

    def test_event_loop_batch_pipelined_1mb(self):
        # Four messages with a 1 MiB attachment through the non-blocking
        # interface, pipelined across messages (Postfix offers PIPELINING
        # and CHUNKING): each delivered once, byte-exact.
        big = [p for p in self.files if p.endswith("flight.bin")][0]
        env = dict(os.environ, NB_SEND_BATCH="4", **{ENV_VAR: PASSWORD})
        r = subprocess.run([os.environ["UAVMAIL_NB_SEND"], "localhost",
                            str(self.pf.submission_port), "starttls", self.pki["ca"], USER,
                            ENV_VAR, "uav7@example.test", "ops@example.test", big], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.pf.log_text()[-3000:])
        self.assertIn("results=0,0,0,0", r.stdout)
        type(self).delivered += 4
        paths = self.pf.wait_for_messages(self.delivered, timeout=60)
        mine = [Path(p).read_bytes() for p in paths if b"Subject: non-blocking" in
                Path(p).read_bytes()]
        self.assertEqual(len(mine), 4)
        for m in mine:
            check_delivered(self, m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                            {big: self.files[big]})
        self.assertIn("rset=3", self.pf.log_text())

    def test_kept_connection_after_postfix_idle_timeout(self):
        # This listener gives up on a client idle for 2 s (smtpd_timeout) with "421 4.4.2 ...
        # Error: timeout exceeded" and hangs up.  The application keeps its session; its next
        # send finds the connection ended and connects again instead of failing.
        r = subprocess.run([os.environ["UAVMAIL_APITEST"], "idle", "localhost",
                            str(self.pf.smtps_idle_port), self.pki["ca"], "4", USER, ENV_VAR],
                           env=dict(os.environ, **{ENV_VAR: PASSWORD}), capture_output=True,
                           text=True, timeout=60)
        self.assertIn("first=0", r.stdout, r.stdout + r.stderr)
        self.assertIn("result=0", r.stdout, r.stdout + r.stderr + self.pf.log_text()[-3000:])
        type(self).delivered += 2
        self.pf.wait_for_messages(self.delivered, timeout=30)
        self.assertIn("postfix/smtps-idle/smtpd", self.pf.log_text())
        self.assertRegex(self.pf.log_text(), r"smtps-idle/smtpd\[\d+\]: timeout after \S+ from")

    def test_tls_session_resumed_across_processes(self):
        sess = os.path.join(self.tmp, "tls-session")
        args = send_args(self.pf.submission_port, "starttls", self.pki["ca"],
                         ["--body", "x", "--trace", "--tls-session-file", sess])
        first = run_cli(args)
        second = run_cli(args)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertIn("certificate verified", first.stderr)
        self.assertIn("resumed session", second.stderr)
        self.assertEqual(os.stat(sess).st_mode & 0o777, 0o600)
        # A different CA setting never reuses the session (TLS-11).
        third = run_cli(send_args(self.pf.submission_port, "starttls", self.pki["server_chain"],
                                  ["--body", "x", "--trace", "--tls-session-file", sess]))
        self.assertIn("certificate verified", third.stderr)
        type(self).delivered += 3

    def test_each_mechanism_both_ports(self):
        # PLAIN, LOGIN and SCRAM-SHA-256, forced, over STARTTLS and implicit TLS.
        for mech in ("PLAIN", "LOGIN", "SCRAM-SHA-256"):
            for port, security in ((self.pf.submission_port, "starttls"),
                                   (self.pf.smtps_port, "tls")):
                with self.subTest(mech=mech, security=security):
                    r = run_cli(send_args(port, security, self.pki["ca"],
                                          ["--body", "x", "--trace", "--auth", mech]))
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertIn("C: AUTH %s" % mech, r.stderr)
                    self.assertIn("S: 235", r.stderr)
                    assert_no_secret(self, r.stdout, r.stderr)
                    type(self).delivered += 1
                    r = run_cli(send_args(port, security, self.pki["ca"],
                                          ["--body", "x", "--auth", mech]),
                                password="wrong password 42")
                    self.assertEqual(r.returncode, 69, r.stderr)
                    self.assertIn("hint:", r.stderr)

    def test_wrong_password_exit_69(self):
        r = run_cli(send_args(self.pf.submission_port, "starttls", self.pki["ca"], ["--body", "x"]),
                    password="not the password")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("535", r.stderr)
        self.assertIn("5.7.8", r.stderr)
        self.assertIn("hint:", r.stderr)
        self.assertNotIn("not the password", r.stdout + r.stderr)

    def test_wrong_ca_fails_before_auth(self):
        r = run_cli(send_args(self.pf.smtps_port, "tls", self.pki["other_ca"], ["--body", "x",
                                                                                "--trace"]))
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("not a trusted CA", r.stderr)
        self.assertNotIn("C: AUTH", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
