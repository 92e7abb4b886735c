#!/usr/bin/python3
"""The built-in TCP transport (POSIX sockets, or Winsock under wine) against
the loopback TLS server: implicit TLS and STARTTLS, blocking and stepped,
with a binary attachment that must arrive byte for byte.  A cross build's
runner (qemu, wine) comes from UAVMAIL_EXE_WRAPPER (scripts/cross.sh)."""
import email
import email.policy
import os
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


def send_one(*args):
    env = dict(os.environ, LOOPBACK_PW=PASSWORD)
    cmd = os.environ.get("UAVMAIL_EXE_WRAPPER", "").split() + [os.environ["UAVMAIL_SEND_ONE"]]
    return subprocess.run(cmd + [str(a) for a in args], env=env, capture_output=True, text=True,
                          timeout=120)


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


if __name__ == "__main__":
    unittest.main(verbosity=2)
