#!/usr/bin/python3
"""MIME round trip through two independent parsers.  test/tools/mime_matrix
writes a matrix of messages (text only; text+html; html+inline image; many
attachments; non-ASCII everywhere, 7-bit and 8-bit; every source empty and
with every byte value; long lines and names) plus what each must decode to.
Python's email package must recover every body, attachment, name and subject
exactly; munpack (mpack) must recover every attachment byte for byte.
munpack neither decodes RFC 2047/2231 names nor shows subjects, so names
are compared with it only where they are plain ASCII."""
import email
import email.policy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))
import mailcheck  # noqa: E402

OUT = None


def norm(s):
    return s.replace("\r\n", "\n").replace("\r", "\n")


class RoundTrip(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        global OUT
        OUT = tempfile.mkdtemp(prefix="uavmail-mime-")
        subprocess.run([os.environ["UAVMAIL_MIME_MATRIX"], OUT], check=True)
        cls.cases = sorted(p.stem for p in Path(OUT).glob("*.eml"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(OUT, ignore_errors=True)

    def load(self, case):
        raw = Path(OUT, case + ".eml").read_bytes()
        exp = json.loads(Path(OUT, case + ".json").read_text())
        return raw, exp

    def test_matrix_present(self):
        self.assertGreaterEqual(len(self.cases), 8)

    def test_python_email(self):
        for case in self.cases:
            with self.subTest(case=case):
                raw, exp = self.load(case)
                self.assertEqual(mailcheck.raw_problems(raw) if not case.endswith("8bit")
                                 else [p for p in mailcheck.raw_problems(raw)
                                       if "8-bit" not in p], [])
                if not case.endswith("8bit"):
                    self.assertTrue(all(b < 0x80 for b in raw), "7-bit rendering has 8-bit bytes")
                msg = email.message_from_bytes(raw, policy=email.policy.default)
                self.assertEqual(str(msg["Subject"]), exp["subject"])
                self.assertEqual(msg["From"].addresses[0].display_name, exp["from_name"])
                self.assertEqual(msg["To"].addresses[0].display_name, exp["to_name"])
                self.assertIsNone(msg["Bcc"])
                if exp["text"] is not None:
                    got_text = norm(msg.get_body(("plain",)).get_content())
                    if not msg.is_multipart() and not exp["text"].endswith("\n"):
                        got_text = got_text[:-1] if got_text.endswith("\n") else got_text + "?"
                    self.assertEqual(got_text, norm(exp["text"]))
                if exp["html"] is not None:
                    self.assertEqual(norm(msg.get_body(("html",)).get_content()),
                                     norm(exp["html"]))
                got = []
                for part in msg.walk():
                    if part.get_content_disposition() in ("attachment", "inline") and \
                            not part.is_multipart():
                        got.append((part.get_filename(), part.get_payload(decode=True) or b"",
                                    (part["Content-ID"] or "").strip("<>")))
                want = [(a["filename"], Path(OUT, a["data"]).read_bytes(), a["cid"])
                        for a in exp["attachments"]]
                self.assertEqual(len(got), len(want))
                for g, w in zip(got, want):
                    self.assertEqual(g[0], w[0])
                    self.assertEqual(hashlib.sha256(g[1]).hexdigest(),
                                     hashlib.sha256(w[1]).hexdigest(), g[0])
                    self.assertEqual(g[2], w[2])

    def test_munpack(self):
        if not shutil.which("munpack"):
            self.skipTest("munpack (package mpack) not installed")
        for case in self.cases:
            raw, exp = self.load(case)
            if not exp["attachments"]:
                continue
            with self.subTest(case=case), tempfile.TemporaryDirectory() as d:
                # munpack skips empty parts and leaves bodies as partN files.
                subprocess.run(["munpack", "-q", "-f", "-C", d, os.path.join(OUT, case + ".eml")],
                               check=True, capture_output=True)
                files = {p.name: p.read_bytes() for p in Path(d).iterdir()}
                digests = {hashlib.sha256(v).hexdigest() for v in files.values()}
                for a in exp["attachments"]:
                    data = Path(OUT, a["data"]).read_bytes()
                    if not data or len(a["filename"].encode()) > 100:
                        # munpack keeps RFC 2047 words verbatim in file names,
                        # so a long non-ASCII name exceeds NAME_MAX for it.
                        continue
                    if a["filename"].endswith(".csv"):
                        data = data.replace(b"\r\n", b"\n")  # munpack: text/* to local EOLs
                    self.assertIn(hashlib.sha256(data).hexdigest(), digests, a["filename"])
                    if a["filename"].isascii() and "@" not in a["filename"]:  # ASCII names
                        self.assertEqual(files.get(a["filename"]), data, a["filename"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
