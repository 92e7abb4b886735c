"""Shared helpers for the end-to-end tests: run the CLI, inspect what the
loopback server stored, compare attachments byte for byte."""
import base64
import email
import email.policy
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))

import mailcheck  # noqa: E402
import testca  # noqa: E402

PASSWORD = "correct horse battery staple"
USER = "pilot@example.test"
ENV_VAR = "UAVMAIL_TEST_PASSWORD"


def cli_path():
    p = os.environ.get("UAVMAIL_CLI")
    if not p:
        raise SystemExit("UAVMAIL_CLI is not set")
    return p


def cli_cmd():
    """The CLI as a command list; a cross build's runner (qemu-aarch64, wine)
    comes first when scripts/cross.sh sets UAVMAIL_EXE_WRAPPER."""
    return os.environ.get("UAVMAIL_EXE_WRAPPER", "").split() + [cli_path()]


def pki():
    """The test PKI, generated once per build directory."""
    d = Path(os.environ.get("UAVMAIL_TEST_TMP", tempfile.gettempdir())) / "uavmail-pki"
    return testca.make_pki(str(d))


def run_cli(args, password=PASSWORD, timeout=120):
    env = dict(os.environ)
    env[ENV_VAR] = password
    env.setdefault("LC_ALL", "C")
    r = subprocess.run(cli_cmd() + args, env=env, capture_output=True, text=True,
                       timeout=timeout)
    return r


def send_args(port, security, cafile, extra=(), user=True):
    a = ["send", "--server", "localhost", "--port", str(port), "--security", security,
         "--cafile", cafile, "--from", "uav7@example.test", "--to", "ops@example.test",
         "--subject", "Flight report"]
    if user:
        a += ["--user", USER, "--password-env", ENV_VAR]
    return a + list(extra)


def secret_forms(secret=PASSWORD, user=USER):
    """The secret and its encodings that must never appear in output (A-03)."""
    plain = f"\0{user}\0{secret}".encode()
    forms = {secret, base64.b64encode(secret.encode()).decode(),
             base64.b64encode(plain).decode()}
    # Any 8-byte window of the base64 PLAIN blob past the user part.
    b = base64.b64encode(plain).decode()
    forms |= {b[i:i + 12] for i in range(len(base64.b64encode(f"\0{user}\0".encode())), len(b) - 12, 4)}
    return forms


def assert_no_secret(testcase, *texts):
    for t in texts:
        for f in secret_forms():
            testcase.assertNotIn(f, t)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_files(tmp):
    """Attachments that exercise the encoders: random binary, every byte
    value, CSV with dot lines, an empty file."""
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    files = {}
    files["flight.bin"] = os.urandom(1 << 20)
    files["allbytes.dat"] = bytes(range(256)) * 64
    files["track.csv"] = b"time,lat,lon\r\n.\r\n..x\r\n1,47.1,8.5\n"
    files["empty.txt"] = b""
    for name, data in files.items():
        (tmp / name).write_bytes(data)
    return {str(tmp / n): d for n, d in files.items()}


def check_delivered(testcase, eml_bytes, files):
    msg = email.message_from_bytes(eml_bytes, policy=email.policy.default)
    got = {}
    for part in msg.iter_attachments():
        got[part.get_filename()] = part.get_payload(decode=True) or b""
    for path, data in files.items():
        name = Path(path).name
        testcase.assertIn(name, got, f"attachment {name} missing")
        testcase.assertEqual(sha256(got[name]), sha256(data), f"attachment {name} differs")
    problems = mailcheck.raw_problems(eml_bytes)
    testcase.assertEqual(problems, [], problems)
    return msg


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
