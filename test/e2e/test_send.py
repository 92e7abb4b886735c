#!/usr/bin/python3
"""End-to-end: the uavmail CLI against the aiosmtpd loopback server over
real TLS with AUTH; what arrived is parsed with Python's email package and
compared byte for byte."""
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

from e2e_common import (ENV_VAR, PASSWORD, USER, assert_no_secret, check_delivered,
                        closed_port, make_files, pki, run_cli, send_args)
from smtp_server import start_server


class Base(unittest.TestCase):
    mode = "starttls"

    @classmethod
    def setUpClass(cls):
        cls.pki = pki()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.files = make_files(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def server(self, mode=None, cert="server_chain", key="server_key"):
        return start_server(mode=mode or self.mode, cert=self.pki[cert], key=self.pki[key],
                            user=USER, password=PASSWORD, require_auth=True)


class Delivery(Base):
    def deliver(self, mode, security):
        with self.server(mode) as srv:
            extra = ["--body", "Flight UAV-7 landed.\n.\nBattery 15.1 V\n", "--trace"]
            for path in self.files:
                extra += ["--attach", path]
            r = run_cli(send_args(srv.port, security, self.pki["ca"], extra))
            self.assertEqual(r.returncode, 0, r.stderr)
            (eml, meta), = srv.wait_for(1)
            data = Path(eml).read_bytes()
            msg = check_delivered(self, data, self.files)
            self.assertEqual(meta["mail_from"], "uav7@example.test")
            self.assertEqual(meta["rcpt_tos"], ["ops@example.test"])
            self.assertTrue(meta["tls"])
            self.assertEqual(meta["auth_user"], USER)
            body = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
            self.assertEqual(body, "Flight UAV-7 landed.\n.\nBattery 15.1 V\n")
            self.assertEqual(msg["Subject"], "Flight report")
            self.assertIn("C: AUTH PLAIN <redacted>", r.stderr)
            assert_no_secret(self, r.stdout, r.stderr)

    def test_starttls_attachments_byte_exact(self):
        self.deliver("starttls", "starttls")

    def test_implicit_tls_attachments_byte_exact(self):
        self.deliver("tls", "tls")

    def test_client_certificate_mutual_tls(self):
        """A server that requires a client certificate (mutual TLS): with
        --client-cert/--client-key the message goes and the server saw our
        certificate; without, the handshake is refused with a clear error."""
        with start_server(mode="tls", cert=self.pki["server_chain"], key=self.pki["server_key"],
                          user=USER, password=PASSWORD, require_auth=True,
                          extra_args=["--client-ca", self.pki["ca"]]) as srv:
            r = run_cli(send_args(srv.port, "tls", self.pki["ca"],
                                  ["--body", "hi", "--client-cert", self.pki["client"],
                                   "--client-key", self.pki["client_key"]]))
            self.assertEqual(r.returncode, 0, r.stderr)
            (_, meta), = srv.wait_for(1)
            self.assertEqual(meta["client_cert"], "uav7 companion")
            r = run_cli(send_args(srv.port, "tls", self.pki["ca"], ["--body", "hi"]))
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("TLS handshake failed", r.stderr)
            self.assertIn("the server asked for a client certificate", r.stderr)
            self.assertEqual(len(srv.messages()), 1)
        r = run_cli(send_args(1, "tls", self.pki["ca"], ["--body", "hi", "--client-cert",
                                                          self.pki["client"]]))
        self.assertEqual(r.returncode, 64)
        self.assertIn("--client-cert and --client-key go together", r.stderr)

    def test_auto_security_on_tls_port_requires_starttls(self):
        # TLS-01: "auto" on a non-465 port means STARTTLS required; the
        # implicit-TLS server never answers a plaintext greeting, so this
        # must fail (quickly, with the timeout given) and never send AUTH.
        with self.server("tls") as srv:
            r = run_cli(send_args(srv.port, "auto", self.pki["ca"],
                                  ["--body", "x", "--timeout", "2", "--trace"]))
            self.assertEqual(r.returncode, 75, r.stderr)
            self.assertNotIn("C: AUTH", r.stderr)
            self.assertEqual(srv.messages(), [])


class NonBlocking(Base):
    def test_event_loop_send(self):
        # The non-blocking interface driven by a poll() loop, over STARTTLS
        # and implicit TLS with AUTH, a 1 MiB attachment byte-exact.
        big = [p for p in self.files if p.endswith("flight.bin")][0]
        for mode in ("starttls", "tls"):
            with self.subTest(mode=mode), self.server(mode) as srv:
                env = dict(os.environ, UAVMAIL_TEST_PASSWORD=PASSWORD)
                r = subprocess.run([os.environ["UAVMAIL_NB_SEND"], "localhost", str(srv.port),
                                    mode, self.pki["ca"], USER, ENV_VAR, "uav7@example.test",
                                    "ops@example.test", big], env=env, capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                waits = int(r.stdout.split("waits=")[1])
                # it really waited on the descriptor (how often depends on how replies
                # coalesce on a loaded machine: 3 to 8 seen)
                self.assertGreaterEqual(waits, 2)
                secure = int(r.stdout.split("secure_steps=")[1].split()[0])
                steps = int(r.stdout.split("steps=")[1].split()[0])
                self.assertTrue(0 < secure < steps)  # TLS-10: insecure first, then secure
                (eml, meta), = srv.wait_for(1)
                check_delivered(self, Path(eml).read_bytes(), {big: self.files[big]})

    def test_event_loop_batch(self):
        # A batch through the non-blocking interface (aiosmtpd offers no
        # CHUNKING: the messages go one after the other with DATA).
        big = [p for p in self.files if p.endswith("flight.bin")][0]
        with self.server("starttls") as srv:
            env = dict(os.environ, UAVMAIL_TEST_PASSWORD=PASSWORD, NB_SEND_BATCH="3")
            r = subprocess.run([os.environ["UAVMAIL_NB_SEND"], "localhost", str(srv.port),
                                "starttls", self.pki["ca"], USER, ENV_VAR, "uav7@example.test",
                                "ops@example.test", big], env=env, capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("results=0,0,0", r.stdout)
            got = srv.wait_for(3)
            self.assertEqual(len(got), 3)
            for eml, _ in got:
                check_delivered(self, Path(eml).read_bytes(), {big: self.files[big]})


class Failures(Base):
    def test_wrong_ca_fails_before_auth(self):
        with self.server() as srv:
            r = run_cli(send_args(srv.port, "starttls", self.pki["other_ca"],
                                  ["--body", "x", "--trace"]))
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertIn("certificate", r.stderr)
            self.assertIn("not a trusted CA", r.stderr)
            self.assertNotIn("C: AUTH", r.stderr)
            assert_no_secret(self, r.stdout, r.stderr)
            self.assertEqual(srv.messages(), [])

    def test_bad_certificates_named(self):
        cases = {
            "selfsigned": "self-signed",
            "wronghost": "not for localhost",
            "expired": "expired",
            "untrusted": "not a trusted CA",
        }
        for name, words in cases.items():
            with self.subTest(cert=name), self.server("tls", name, name + "_key") as srv:
                r = run_cli(send_args(srv.port, "tls", self.pki["ca"], ["--body", "x", "--trace"]))
                self.assertEqual(r.returncode, 69, r.stderr)
                self.assertIn(words, r.stderr)
                self.assertNotIn("C: AUTH", r.stderr)

    def test_ip_literal_needs_ip_san(self):
        with self.server("tls", "noipsan", "noipsan_key") as srv:
            args = send_args(srv.port, "tls", self.pki["ca"], ["--body", "x"])
            args[args.index("localhost")] = "127.0.0.1"
            r = run_cli(args)
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertIn("IP address needs an IP SAN", r.stderr)
        with self.server("tls") as srv:  # server.pem has IP:127.0.0.1
            args = send_args(srv.port, "tls", self.pki["ca"], ["--body", "x"])
            args[args.index("localhost")] = "127.0.0.1"
            r = run_cli(args)
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_wrong_password(self):
        with self.server() as srv:
            r = run_cli(send_args(srv.port, "starttls", self.pki["ca"], ["--body", "x", "--trace"]),
                        password="wrong password 123")
            self.assertEqual(r.returncode, 69, r.stderr)
            self.assertIn("535", r.stderr)
            self.assertIn("hint:", r.stderr)
            self.assertNotIn("wrong password 123", r.stdout + r.stderr)
            self.assertEqual(srv.messages(), [])

    def test_missing_attachment_before_connecting(self):
        r = run_cli(send_args(closed_port(), "starttls", self.pki["ca"],
                              ["--body", "x", "--attach", "/nonexistent/flight-0042.ulg", "--trace"]))
        self.assertEqual(r.returncode, 66, r.stderr)
        self.assertIn("/nonexistent/flight-0042.ulg", r.stderr)
        self.assertNotIn("connected", r.stderr)

    def test_password_on_command_line_refused(self):
        r = run_cli(send_args(closed_port(), "starttls", self.pki["ca"],
                              ["--password", "hunter2", "--body", "x"]))
        self.assertEqual(r.returncode, 64)
        self.assertIn("--password-env", r.stderr)

    def test_bad_address_is_data_error(self):
        args = send_args(closed_port(), "starttls", self.pki["ca"], ["--body", "x"])
        args[args.index("ops@example.test")] = "ops@example.test\r\nRCPT TO:<evil@x>"
        r = run_cli(args)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("To ", r.stderr)
        self.assertIn("line break", r.stderr)

    def test_security_none_only_to_loopback(self):
        args = send_args(25, "none", self.pki["ca"], ["--body", "x"], user=False)
        args[args.index("localhost")] = "mail.example.com"
        r = run_cli(args)
        self.assertEqual(r.returncode, 78, r.stderr)

    def test_connection_refused_is_temporary(self):
        r = run_cli(send_args(closed_port(), "starttls", self.pki["ca"], ["--body", "x"]))
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("refused", r.stderr)
        self.assertIn("hint:", r.stderr)

    def test_missing_password_variable(self):
        args = send_args(closed_port(), "starttls", self.pki["ca"], ["--body", "x"])
        args[args.index(ENV_VAR)] = "UAVMAIL_NO_SUCH_VARIABLE"
        r = run_cli(args)
        self.assertEqual(r.returncode, 78, r.stderr)


class Config(Base):
    def write_config(self, port, mode=0o600, account_user=USER):
        path = os.path.join(self.tmp.name, "config")
        Path(path).write_text(
            "# uavmail test configuration\n"
            "default = ops\n"
            "cafile = %s\n\n"
            "[account ops]\n"
            "server = localhost\nport = %d\nsecurity = starttls\n"
            "user = %s\npassword = %s\n"
            "from = UAV 7 <uav7@example.test>\nto = ops@example.test\n\n"
            "[account other]\nserver = localhost\nport = 1\n"
            % (self.pki["ca"], port, account_user, PASSWORD))
        os.chmod(path, mode)
        return path

    def test_config_account_and_override(self):
        with self.server() as srv:
            cfg = self.write_config(srv.port)
            r = run_cli(["send", "--config", cfg, "--subject", "from config", "--body", "x",
                         "--trace"], password="unused")
            self.assertEqual(r.returncode, 0, r.stderr)
            assert_no_secret(self, r.stdout, r.stderr)
            # The command line overrides the file; another account is selectable.
            r = run_cli(["send", "--config", cfg, "--account", "other", "--port", str(srv.port),
                         "--security", "starttls", "--user", USER, "--password-env", ENV_VAR,
                         "--from", "a@example.test", "--to", "b@example.test", "--subject", "s",
                         "--body", "x"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(len(srv.wait_for(2)), 2)

    def test_config_must_be_private(self):
        cfg = self.write_config(25, mode=0o644)
        r = run_cli(["send", "--config", cfg, "--subject", "s", "--body", "x"])
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("chmod 600", r.stderr)
        self.assertNotIn(PASSWORD, r.stdout + r.stderr)

    def test_password_file_must_be_private(self):
        pw = os.path.join(self.tmp.name, "pw")
        Path(pw).write_text(PASSWORD + "\n")
        os.chmod(pw, 0o640)
        args = send_args(closed_port(), "starttls", self.pki["ca"], ["--body", "x"], user=False)
        r = run_cli(args + ["--user", USER, "--password-file", pw])
        self.assertEqual(r.returncode, 78, r.stderr)
        os.chmod(pw, 0o600)
        with self.server() as srv:
            args = send_args(srv.port, "starttls", self.pki["ca"], ["--body", "x"], user=False)
            r = run_cli(args + ["--user", USER, "--password-file", pw])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run_cli(args + ["--user", USER, "--password-cmd", "printf '%s'" % PASSWORD])
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_credential_too_long_is_named(self):
        """A credential source longer than any AUTH line is refused as too long, not as a
        failed command or an unreadable file, and nothing is sent."""
        pw = os.path.join(self.tmp.name, "long-pw")
        Path(pw).write_text("x" * 100000)
        os.chmod(pw, 0o600)
        with self.server() as srv:
            args = send_args(srv.port, "starttls", self.pki["ca"], ["--body", "x"], user=False)
            r = run_cli(args + ["--user", USER, "--password-file", pw])
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertIn("too long for a credential", r.stderr)
            r = run_cli(args + ["--user", USER, "--password-cmd", "head -c 100000 " + pw])
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stderr, r"credential command printed more than \d+ bytes")
            self.assertEqual(srv.messages(), [])


class Output(Base):
    def test_write_eml(self):
        out = os.path.join(self.tmp.name, "out.eml")
        extra = ["--body", "hello", "--output", out]
        for path in self.files:
            extra += ["--attach", path]
        r = run_cli(["send", "--from", "uav7@example.test", "--to", "ops@example.test",
                     "--subject", "S"] + extra)
        self.assertEqual(r.returncode, 0, r.stderr)
        check_delivered(self, Path(out).read_bytes(), self.files)


if __name__ == "__main__":
    unittest.main(verbosity=2)
