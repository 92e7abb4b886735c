#!/usr/bin/python3
"""Public-API behaviour over real TLS (test/tools/apitest.c): secrets wiped
before the library frees them (A-05), the application's time source for
certificate validity and Date (clock unset on a drone without RTC), and
public-key pinning."""
import base64
import hashlib
import os
import subprocess
import sys
import time
import unittest
from email.utils import formatdate
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from e2e_common import ENV_VAR, PASSWORD, USER, pki  # noqa: E402
from smtp_server import start_server  # noqa: E402


def apitest(*args):
    env = dict(os.environ, **{ENV_VAR: PASSWORD})
    r = subprocess.run([os.environ["UAVMAIL_APITEST"]] + [str(a) for a in args], env=env,
                       capture_output=True, text=True, timeout=60)
    fields = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line
                  and not line.startswith("Date"))
    date = [line for line in r.stdout.splitlines() if line.startswith("Date: ")]
    return r, int(fields.get("result", "999")), fields.get("message", ""), date


class Api(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = pki()
        cls.srv = start_server(mode="tls", cert=cls.pki["server_chain"], key=cls.pki["server_key"],
                               user=USER, password=PASSWORD)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_a05_secrets_wiped_before_free(self):
        r, rc, msg, _ = apitest("secrets", "localhost", self.srv.port, self.pki["ca"], USER,
                                ENV_VAR)
        self.assertEqual(rc, 0, msg)
        self.assertEqual(r.returncode, 0, r.stderr)   # no block held a secret when freed

    def test_clock_unset_is_named(self):
        r, rc, msg, _ = apitest("clock", "localhost", self.srv.port, self.pki["ca"], 0)
        self.assertEqual(rc, -14, msg)                # UAVMAIL_ECERT
        self.assertIn("system clock is not set", msg)

    def test_gps_time_for_date_and_validity(self):
        now = int(time.time()) - 3600                 # the "GPS" clock, not the system's
        r, rc, msg, date = apitest("clock", "localhost", self.srv.port, self.pki["ca"], now)
        self.assertEqual(rc, 0, msg)
        self.assertEqual(date, ["Date: " + formatdate(now, usegmt=False).replace("-0000",
                                                                                    "+0000")])

    def test_kept_connection_ended_by_idle_timeout(self):
        # The server drops a connection idle for 1 s (Postfix: smtpd_timeout, with a 421;
        # aiosmtpd: close_notify and FIN).  The next send on the session connects afresh.
        srv = start_server(mode="tls", cert=self.pki["server_chain"], key=self.pki["server_key"],
                           extra_args=["--timeout", "1"])
        try:
            r, rc, msg, _ = apitest("idle", "localhost", srv.port, self.pki["ca"], 3)
            self.assertIn("first=0", r.stdout)
            self.assertEqual(rc, 0, msg)
            self.assertEqual(len(srv.wait_for(2)), 2)
        finally:
            srv.stop()

    def test_pin(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        cert = x509.load_pem_x509_certificate(Path(self.pki["server"]).read_bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        good = hashlib.sha256(spki).hexdigest()
        r, rc, msg, _ = apitest("pin", "localhost", self.srv.port, self.pki["ca"],
                                "00" * 32 + "," + good)
        self.assertEqual(rc, 0, msg)
        r, rc, msg, _ = apitest("pin", "localhost", self.srv.port, self.pki["ca"], "ab" * 32)
        self.assertEqual(rc, -14, msg)
        self.assertIn("does not match the configured pin", msg)


if __name__ == "__main__":
    unittest.main(verbosity=2)
