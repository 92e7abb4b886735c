"""Shared by the binding tests: the loopback TLS + AUTH server, the test PKI,
delivered-mail checks and peak-RSS reading."""
import email
import email.policy
import hashlib
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "test" / "e2e"))
sys.path.insert(0, str(ROOT / "test" / "fixtures"))

from e2e_common import PASSWORD, USER, closed_port, pki  # noqa: E402,F401
from smtp_server import start_server  # noqa: E402

FROM = "uav7@example.test"
TO = "ops@example.test"
BIG = 50 * 1024 * 1024
SMALL = 1024 * 1024
# Peak-RSS growth allowed between the 1 MiB and the 50 MiB send: far below one
# copy of the attachment (50 MiB) or of its base64 (67 MiB).
RSS_BOUND = 16 * 1024 * 1024


def tmpdir(name):
    base = Path(os.environ.get("UAVMAIL_TEST_TMP", tempfile.gettempdir()))
    d = Path(tempfile.mkdtemp(prefix=name + "-", dir=base))
    return d


def tls_server(store=None):
    p = pki()
    return start_server(mode="tls", cert=p["server_chain"], key=p["server_key"], user=USER,
                        password=PASSWORD, store=store)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def parse(path):
    with open(path, "rb") as f:
        return email.message_from_binary_file(f, policy=email.policy.default)


def attachments(msg):
    return {p.get_filename(): p.get_payload(decode=True) or b"" for p in msg.iter_attachments()}


def make_file(path, size, seed=7):
    """A file of `size` pseudo-random bytes, written in 1 MiB blocks."""
    block = hashlib.sha256(b"%d" % seed).digest() * (1 << 15)   # 1 MiB
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[:min(left, len(block))])
            left -= len(block)
    return path


def vm_hwm_bytes(pid="self"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")
