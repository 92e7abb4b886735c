#!/usr/bin/python3
"""The "test connection" probe diagnoses each misconfiguration with the right
verdict, in text and in JSON, without printing a secret: tls on a STARTTLS
port, starttls on a TLS port, a closed port, a wrong CA, a wrong password,
and a provider's 534 5.7.9 (app password required)."""
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from e2e_common import (ENV_VAR, PASSWORD, USER, assert_no_secret, closed_port, pki,  # noqa: E402
                        run_cli)
from scripted_server import ScriptedServer  # noqa: E402
from smtp_server import start_server  # noqa: E402


class Probe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = pki()

    def probe(self, port, security, ca=None, login=True, extra=()):
        args = ["probe", "--server", "localhost", "--port", str(port), "--security", security,
                "--cafile", ca or self.pki["ca"], "--timeout", "3"] + list(extra)
        if login:
            args += ["--user", USER, "--password-env", ENV_VAR]
        text = run_cli(args)
        js = run_cli(args + ["--json"])
        assert_no_secret(self, text.stdout, text.stderr, js.stdout, js.stderr)
        return text, js, json.loads(js.stdout)

    def server(self, mode):
        return start_server(mode=mode, cert=self.pki["server_chain"], key=self.pki["server_key"],
                            user=USER, password=PASSWORD, require_auth=True)

    def test_ok_with_login(self):
        with self.server("starttls") as srv:
            text, js, j = self.probe(srv.port, "starttls")
        self.assertEqual(text.returncode, 0, text.stdout + text.stderr)
        self.assertIn("Login:        accepted", text.stdout)
        self.assertTrue(j["verdict"]["ok"])
        self.assertEqual(j["verdict"]["code"], "ok")
        self.assertTrue(j["tls"]["verified"])
        self.assertIn("PLAIN", j["auth_mechanisms"])
        self.assertIn("PIPELINING", j["capabilities"])
        self.assertEqual(j["dns"]["addresses"], ["127.0.0.1"])
        self.assertEqual(j["tls"]["certificate"]["subject"], "O=uavmail tests, CN=localhost")

    def test_tls_on_starttls_port(self):
        with self.server("starttls") as srv:
            text, js, j = self.probe(srv.port, "tls")
        self.assertEqual(j["verdict"]["code"], "use_starttls")
        self.assertIn("speaks plain SMTP: use security starttls", text.stdout)
        self.assertNotEqual(text.returncode, 0)

    def test_starttls_on_tls_port(self):
        with self.server("tls") as srv:
            text, js, j = self.probe(srv.port, "starttls")
        self.assertEqual(j["verdict"]["code"], "use_tls")
        self.assertIn("expects implicit TLS: use security tls", text.stdout)

    def test_closed_port(self):
        text, js, j = self.probe(closed_port(), "starttls")
        self.assertEqual(j["verdict"]["code"], "connection_refused")
        self.assertFalse(j["tcp"]["ok"])
        self.assertIn("nothing accepts connections", text.stdout)
        self.assertEqual(text.returncode, 75)

    def test_wrong_ca(self):
        with self.server("tls") as srv:
            text, js, j = self.probe(srv.port, "tls", ca=self.pki["other_ca"])
        self.assertEqual(j["verdict"]["code"], "certificate")
        self.assertIn("not a trusted CA", j["verdict"]["message"])
        self.assertEqual(j["tls"]["certificate"]["subject"], "O=uavmail tests, CN=localhost")
        self.assertFalse(j["tls"]["verified"])
        self.assertFalse(j["login"]["ok"])
        self.assertEqual(text.returncode, 69)

    def test_wrong_password(self):
        with self.server("tls") as srv:
            args = ["probe", "--server", "localhost", "--port", str(srv.port), "--security",
                    "tls", "--cafile", self.pki["ca"], "--user", USER, "--password-env", ENV_VAR,
                    "--json"]
            r = run_cli(args, password="not the password")
        j = json.loads(r.stdout)
        self.assertEqual(j["verdict"]["code"], "login_refused")
        self.assertEqual(j["verdict"]["smtp_code"], 535)
        self.assertTrue(j["login"]["attempted"])
        self.assertNotIn("not the password", r.stdout + r.stderr)

    def test_provider_534_app_password(self):
        script = [("send", b"220 smtp.example ESMTP\r\n"), ("line",),
                  ("send", b"250-smtp.example\r\n250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN\r\n"),
                  ("line",),
                  ("send", b"534-5.7.9 Application-specific password required. Learn more at\r\n"
                           b"534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor\r\n"),
                  ("line",), ("send", b"221 bye\r\n")]
        runs = []
        for as_json in (False, True):
            with ScriptedServer(script, tls=(self.pki["server_chain"], self.pki["server_key"])) as srv:
                args = ["probe", "--server", "localhost", "--port", str(srv.port), "--security",
                        "tls", "--cafile", self.pki["ca"], "--user", USER, "--password-env",
                        ENV_VAR] + (["--json"] if as_json else [])
                runs.append(run_cli(args))
        text, js = runs
        j = json.loads(js.stdout)
        self.assertEqual(j["verdict"]["code"], "login_refused")
        self.assertEqual(j["verdict"]["enhanced_code"], "5.7.9")
        self.assertIn("application-specific password", j["verdict"]["fix"])
        self.assertIn("Fix:          the provider requires an application-specific password",
                      text.stdout)
        assert_no_secret(self, text.stdout, text.stderr, js.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
