#!/usr/bin/python3
"""Protocol tests over real sockets against scripted servers: what a real
server will not do (delays around the timeouts, split and LF-only replies,
oversized and hostile replies, a link dropped after the end of data, EAST
STARTTLS cases).  Each asserts the exact client bytes and the exit status.
IDs cite CONFORMANCE.md."""
import os
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from e2e_common import pki, run_cli  # noqa: E402
from scripted_server import ScriptedServer  # noqa: E402

EHLO_REPLY = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


def relay_args(port, extra=()):
    # A loopback relay without TLS or AUTH: the plain protocol is under test.
    return ["send", "--server", "127.0.0.1", "--port", str(port), "--security", "none",
            "--helo", "uav7.example.com", "--from", "uav7@example.test",
            "--to", "ops@example.test", "--subject", "S", "--body", "hi"] + list(extra)


def happy(delay_on_mail=0.0, greeting=b"220 mx\r\n"):
    return [("send", greeting), ("line",), ("send", EHLO_REPLY),
            ("line",), ("line",), ("line",), ("delay", delay_on_mail),
            ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("data",),
            ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")]


class Scripted(unittest.TestCase):
    def run_script(self, steps, extra=(), args=None):
        with ScriptedServer(steps) as srv:
            r = run_cli(args(srv.port) if args else relay_args(srv.port, extra))
        return r, srv

    def test_exact_transcript(self):
        r, srv = self.run_script(happy())
        self.assertEqual(r.returncode, 0, r.stderr)
        head, body = srv.received.split(b"DATA\r\n", 1)
        self.assertEqual(head, b"EHLO uav7.example.com\r\nMAIL FROM:<uav7@example.test>\r\n"
                               b"RCPT TO:<ops@example.test>\r\n")
        self.assertTrue(body.endswith(b"\r\nhi\r\n.\r\nQUIT\r\n"))   # QUIT pipelined
        self.assertNotIn(b"\n", body.replace(b"\r\n", b""))               # D-01

    def test_p07_delay_under_timeout_succeeds(self):
        r, _ = self.run_script(happy(delay_on_mail=1.0), ["--timeout", "3"])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_p07_delay_over_timeout_names_phase(self):
        r, _ = self.run_script(happy(delay_on_mail=4.0), ["--timeout", "2"])
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("within 2 s during MAIL/RCPT/DATA", r.stderr)

    def test_split_replies_byte_by_byte(self):
        steps = [("send_split", b"220-first\r\n220 mx\r\n", 0.002), ("line",),
                 ("send_split", EHLO_REPLY, 0.002)] + happy()[3:]
        r, _ = self.run_script(steps)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_p04_lf_only_replies_rejected(self):
        r, srv = self.run_script([("send", b"220 mx\n"), ("line",)])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("bare LF", r.stderr)
        self.assertEqual(srv.received, b"")

    def test_p03_oversized_reply_line(self):
        r, _ = self.run_script([("send", b"220 mx\r\n"), ("line",),
                                ("send", b"250-" + b"A" * 10000 + b"\r\n250 ok\r\n")])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("exceeds the size limits", r.stderr)

    def test_p04_nul_in_reply(self):
        r, _ = self.run_script([("send", b"220 mx\x00evil\r\n")])
        self.assertEqual(r.returncode, 69, r.stderr)

    def test_p05_421_mid_transaction(self):
        r, srv = self.run_script([("send", b"220 mx\r\n"), ("line",), ("send", EHLO_REPLY),
                                  ("line",), ("line",), ("line",),
                                  ("send", b"421 4.3.2 shutting down\r\n"), ("close",)])
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertNotIn(b"hi\r\n.", srv.received)

    def test_p08_link_lost_after_end_of_data(self):
        steps = happy()[:-3] + [("close",)]
        r, _ = self.run_script(steps)
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("may or may not have been delivered", r.stderr)

    def test_p09_permanent_after_end_of_data(self):
        steps = happy()[:-3] + [("send", b"554 5.7.1 rejected as spam\r\n"), ("line",),
                                ("send", b"221 bye\r\n")]
        r, _ = self.run_script(steps)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("554", r.stderr)


class PipelinedBatch(unittest.TestCase):
    """Several prepared messages over one connection to a server offering
    PIPELINING and CHUNKING (RFC 2920 3.1, RFC 3030): the server reads all of
    them before it answers anything, so a client that waited for a reply
    between messages would time out.  Replies are attributed in order."""

    EHLO = b"250-mx.example\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"

    def setUp(self):
        self.tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"uavmail-batch-{os.getpid()}"
        self.tmp.mkdir(exist_ok=True)
        self.files, self.bodies = [], []
        for i in range(3):
            body = (f"From: uav7@example.test\r\nTo: ops@example.test\r\nSubject: m{i}\r\n"
                    f"\r\n.body {i}\r\n").encode()
            p = self.tmp / f"m{i}.eml"
            p.write_bytes(body)
            self.files.append(str(p))
            self.bodies.append(body)

    def tearDown(self):
        for f in self.files:
            os.unlink(f)
        self.tmp.rmdir()

    def args(self, port):
        a = ["send", "--server", "127.0.0.1", "--port", str(port), "--security", "none",
             "--helo", "uav7.example.com", "--from", "uav7@example.test",
             "--to", "ops@example.test", "--timeout", "5"]
        for f in self.files:
            a += ["--message", f]
        return a

    def expected(self):
        env = b"MAIL FROM:<uav7@example.test>\r\nRCPT TO:<ops@example.test>\r\n"
        out = b"EHLO uav7.example.com\r\n"
        for i, body in enumerate(self.bodies):
            out += (b"RSET\r\n" if i else b"") + env
            out += b"BDAT %d LAST\r\n" % len(body) + body
        return out + b"QUIT\r\n"

    def run_batch(self, replies):
        steps = [("send", b"220 mx\r\n"), ("line",), ("send", self.EHLO),
                 ("line",), ("line",), ("chunk",),
                 ("line",), ("line",), ("line",), ("chunk",),
                 ("line",), ("line",), ("line",), ("chunk",), ("line",),
                 ("send", replies)]
        with ScriptedServer(steps, timeout=10) as srv:
            r = run_cli(self.args(srv.port))
        self.assertIsNone(srv.error, r.stderr)
        return r, srv

    def test_p13_three_messages_before_any_reply(self):
        ok = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n"
        r, srv = self.run_batch(ok + b"250 reset\r\n" + ok + b"250 reset\r\n" + ok +
                                b"221 bye\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(srv.received, self.expected())
        self.assertEqual(r.stdout.count("accepted for 1 of 1 recipient(s)"), 3, r.stdout)

    def test_p09_middle_message_refused_others_delivered(self):
        ok = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n"
        bad = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n554 5.6.0 content rejected\r\n"
        r, srv = self.run_batch(ok + b"250 reset\r\n" + bad + b"250 reset\r\n" + ok +
                                b"221 bye\r\n")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertEqual(srv.received, self.expected())
        self.assertIn("m0.eml accepted for 1 of 1", r.stdout)
        self.assertIn("m2.eml accepted for 1 of 1", r.stdout)
        self.assertIn("m1.eml:", r.stderr)
        self.assertIn("554", r.stderr)

    def test_p05_421_after_first_message(self):
        ok = b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued\r\n"
        r, srv = self.run_batch(ok + b"421 4.3.2 shutting down\r\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("m0.eml accepted for 1 of 1", r.stdout)
        self.assertIn("m1.eml:", r.stderr)
        self.assertIn("m2.eml:", r.stderr)
        self.assertNotIn("may or may not", r.stderr)   # 421: known not delivered


class East(unittest.TestCase):
    """STARTTLS stripping and injection over sockets (TLS-02, TLS-03, TLS-06;
    FZ-02).  The client is configured with STARTTLS required and a password."""

    @classmethod
    def setUpClass(cls):
        cls.pki = pki()

    def run_case(self, steps):
        def args(port):
            return ["send", "--server", "localhost", "--port", str(port), "--security",
                    "starttls", "--cafile", self.pki["ca"], "--user", "pilot@example.test",
                    "--password-env", "UAVMAIL_TEST_PASSWORD", "--from", "uav7@example.test",
                    "--to", "ops@example.test", "--subject", "S", "--body", "hi", "--timeout",
                    "3"]
        with ScriptedServer(steps) as srv:
            r = run_cli(args(srv.port))
        for verb in (b"AUTH", b"MAIL", b"RCPT", b"DATA"):
            self.assertNotIn(verb, srv.received)
        return r, srv

    def test_o1_no_starttls(self):
        r, _ = self.run_case([("send", b"220 mx\r\n"), ("line",),
                              ("send", b"250-mx\r\n250 AUTH PLAIN LOGIN\r\n")])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("does not offer STARTTLS", r.stderr)

    def test_o3_starttls_454_is_temporary(self):
        r, _ = self.run_case([("send", b"220 mx\r\n"), ("line",),
                              ("send", b"250-mx\r\n250 STARTTLS\r\n"), ("line",),
                              ("send", b"454 TLS not available due to temporary reason\r\n")])
        self.assertEqual(r.returncode, 75, r.stderr)

    def test_b1_step2_injected_reply(self):
        r, _ = self.run_case([("send", b"220 mx\r\n"), ("line",),
                              ("send", b"250-mx\r\n250 STARTTLS\r\n"), ("line",),
                              ("send", b"220 Ready\r\n250-x\r\n250 AUTH LOGIN\r\n")])
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("before the TLS handshake", r.stderr)

    def test_tls06_220_without_tls(self):
        r, _ = self.run_case([("send", b"220 mx\r\n"), ("line",),
                              ("send", b"250-mx\r\n250 STARTTLS\r\n"), ("line",),
                              ("send", b"220 go ahead\r\n"), ("delay", 0.2),
                              ("send", b"250 this is not TLS\r\n")])
        self.assertIn(r.returncode, (69, 75), r.stderr)
        self.assertIn("TLS", r.stderr)


class OAuth(unittest.TestCase):
    """XOAUTH2 / OAUTHBEARER against scripted TLS servers through the CLI:
    success, the error exchange, one token refresh on a new connection then
    success or failure (no loop), and no refresh for status 400 (A-10..A-13)."""

    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.pki = pki()
        cls.tmp = tempfile.mkdtemp(prefix="uavmail-oauth-")

    @staticmethod
    def b64(data):
        import base64
        return base64.b64encode(data).decode()

    def xoauth2_line(self, token):
        return ("AUTH XOAUTH2 " + self.b64(b"user=pilot@example.test\x01auth=Bearer "
                                           + token.encode() + b"\x01\x01") + "\r\n").encode()

    def token_cmd(self, tokens):
        # Prints the next token of the list on each run (a refresh).
        state = os.path.join(self.tmp, "n-%d" % id(tokens))
        script = os.path.join(self.tmp, "tok-%d.sh" % id(tokens))
        Path(script).write_text("#!/bin/sh\nn=$(cat %s 2>/dev/null || echo 0)\n"
                                "echo $((n+1)) > %s\ncase $n in\n%s\nesac\n"
                                % (state, state, "\n".join(
                                    "%d) echo %s;;" % (i, t) for i, t in enumerate(tokens))))
        os.chmod(script, 0o700)
        return script, state

    def conn_fail(self, status="401"):
        import json
        challenge = self.b64(json.dumps({"status": status, "schemes": "Bearer",
                                         "scope": "https://mail.google.com/"}).encode())
        return [("send", b"220 mx\r\n"), ("line",),
                ("send", b"250-mx\r\n250 AUTH XOAUTH2\r\n"), ("line",),
                ("send", ("334 " + challenge + "\r\n").encode()), ("line",),
                ("send", b"535 5.7.8 Username and Password not accepted\r\n"), ("line",),
                ("send", b"221 bye\r\n")]

    def conn_ok(self):
        return [("send", b"220 mx\r\n"), ("line",),
                ("send", b"250-mx\r\n250-PIPELINING\r\n250 AUTH XOAUTH2\r\n"), ("line",),
                ("send", b"235 2.7.0 ok\r\n"), ("line",), ("line",), ("line",),
                ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("data",),
                ("send", b"250 queued\r\n"), ("line",), ("send", b"221 bye\r\n")]

    def run_oauth(self, scripts, tokens):
        script, state = self.token_cmd(tokens)
        with ScriptedServer(scripts, tls=(self.pki["server_chain"], self.pki["server_key"])) as srv:
            r = run_cli(["send", "--server", "localhost", "--port", str(srv.port), "--security",
                         "tls", "--cafile", self.pki["ca"], "--user", "pilot@example.test",
                         "--oauth2-token-cmd", script, "--from", "uav7@example.test", "--to",
                         "ops@example.test", "--subject", "S", "--body", "hi", "--trace",
                         "--timeout", "5"])
        calls = int(Path(state).read_text()) if os.path.exists(state) else 0
        return r, srv, calls

    def assert_no_tokens(self, r, tokens):
        for t in tokens:
            self.assertNotIn(t, r.stdout + r.stderr)

    def test_a10_success(self):
        tokens = ["ya29.good-token"]
        r, srv, calls = self.run_oauth([self.conn_ok()], tokens)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(self.xoauth2_line("ya29.good-token"), srv.received)
        self.assertIn("C: AUTH XOAUTH2 <redacted>", r.stderr)
        self.assert_no_tokens(r, tokens)

    def test_a13_refresh_once_then_success(self):
        tokens = ["ya29.expired-token", "ya29.fresh-token"]
        r, srv, calls = self.run_oauth([self.conn_fail(), self.conn_ok()], tokens)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(srv.connections, 2)
        self.assertEqual(calls, 2)
        self.assertIn(self.xoauth2_line("ya29.fresh-token"), srv.received)
        self.assertIn(b"\r\n\r\n", srv.received)   # the empty SASL response
        self.assert_no_tokens(r, tokens)

    def test_a13_refresh_once_then_failure_no_loop(self):
        tokens = ["ya29.expired-token", "ya29.still-bad"]
        r, srv, calls = self.run_oauth([self.conn_fail(), self.conn_fail()], tokens)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertEqual(srv.connections, 2)
        self.assertEqual(calls, 2)
        self.assertIn("token status 401", r.stderr)
        self.assert_no_tokens(r, tokens)

    def test_a13_status_400_not_retried(self):
        tokens = ["ya29.bad-request"]
        r, srv, calls = self.run_oauth([self.conn_fail("400")], tokens)
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertEqual(srv.connections, 1)
        self.assertEqual(calls, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
