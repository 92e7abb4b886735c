#!/usr/bin/python3
"""End-to-end tests of the store-and-forward outbox through the CLI.

- kill -9 torture against the real aiosmtpd server over STARTTLS with AUTH
  (Q-09, Q-10's kill-9 companion, Q-12): enqueuers and flushers are killed at
  random moments; afterwards every acknowledged message has been delivered
  at least once, none is corrupt, and duplicates carry the same Message-ID.
  UAVMAIL_TORTURE_ITERATIONS sets the count (200 by default; the benchmark
  mode, test/bench/torture.sh, runs 1,000).
- link down then up (Q-14): nothing connects; then alerts first, one connection.
- the documented end states in `queue list` for 5xx, 4xx, expiry and an
  unknown outcome (P-09, Q-08, Q-09).
- Q-13: no password, token or their base64 forms anywhere in the queue
  directory; files 0600 in 0700 directories.
"""
import base64
import email
import email.policy
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from e2e_common import (ENV_VAR, PASSWORD, USER, cli_path, pki, run_cli,  # noqa: E402
                        secret_forms)
from scripted_server import ScriptedServer  # noqa: E402
from smtp_server import start_server  # noqa: E402

TOKEN = "ya29.uavmail-test-token-Zq8pLx3R"
TOKEN_VAR = "UAVMAIL_TEST_TOKEN"


def base_args(port, security, ca, user=True):
    a = ["--server", "localhost", "--port", str(port), "--security", security,
         "--cafile", ca]
    if user:
        a += ["--user", USER, "--password-env", ENV_VAR]
    return a


def message_args(subject, body="Flight report\n", priority=None):
    a = ["--from", "uav7@example.test", "--to", "ops@example.test", "--subject", subject,
         "--body", body]
    if priority:
        a += ["--priority", priority]
    return a


def cli_env():
    env = dict(os.environ)
    env[ENV_VAR] = PASSWORD
    env[TOKEN_VAR] = TOKEN
    env["LC_ALL"] = "C"
    return env


def queue_list(qdir):
    r = run_cli(["queue", "list", "--json", "--queue", qdir])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class Torture(unittest.TestCase):
    """kill -9 at random points of enqueue and flush, against a real server."""

    def test_kill9_torture_no_acknowledged_message_lost(self):
        iterations = int(os.environ.get("UAVMAIL_TORTURE_ITERATIONS", "200"))
        seed = int(os.environ.get("UAVMAIL_TORTURE_SEED", str(int(time.time()))))
        rnd = random.Random(seed)
        p = pki()
        acked = {}      # subject -> sha256 of its attachment
        spawned = {}    # every subject a process was started for
        killed = 0
        lifetime = {"send": 0.1, "flush": 0.1}   # seconds, refined as we go
        with tempfile.TemporaryDirectory() as tmp, \
                start_server(mode="starttls", cert=p["server_chain"], key=p["server_key"],
                             user=USER, password=PASSWORD, require_auth=True) as srv:
            qdir = os.path.join(tmp, "outbox")
            server = base_args(srv.port, "starttls", p["ca"])
            env = cli_env()
            t_start = time.monotonic()
            for i in range(iterations):
                procs = []
                # Two enqueue-and-deliver processes and, every other round,
                # a separate flusher, all racing for the queue.
                for k in range(2):
                    subject = f"torture {seed}-{i}-{k}"
                    payload = rnd.randbytes(rnd.choice([10, 3000, 40000, 200000]))
                    att = os.path.join(tmp, f"a{k}.bin")
                    with open(att, "wb") as f:
                        f.write(payload)
                    digest = hashlib.sha256(payload).hexdigest()
                    spawned[subject] = digest
                    args = ["send", "--queue", qdir] + server + \
                        message_args(subject, f"sha256 {digest}\n",
                                     rnd.choice(["alert", "normal", "bulk"])) + \
                        ["--attach", att]
                    procs.append((subject, subprocess.Popen(
                        [cli_path()] + args, env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL)))
                if i % 2:
                    procs.append((None, subprocess.Popen(
                        [cli_path(), "queue", "flush", "--queue", qdir] + server, env=env,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
                # Kill each somewhere in rendering, fsync, handshake, DATA or
                # cleanup: at a random point of its typical lifetime (learnt
                # from the ones that are left alone), one in five never.
                t0 = time.monotonic()
                plan = []
                for subject, proc in procs:
                    kind = "send" if subject else "flush"
                    at = rnd.uniform(0.0, 1.2 * lifetime[kind]) if rnd.random() < 0.8 else None
                    plan.append([subject, proc, kind, at, None])
                while any(pl[1].poll() is None for pl in plan):
                    now = time.monotonic() - t0
                    for pl in plan:
                        if pl[4] is None and pl[1].returncode is not None:
                            pl[4] = now             # when it ended
                        if pl[3] is not None and now >= pl[3] and pl[1].poll() is None:
                            pl[1].send_signal(signal.SIGKILL)
                            killed += 1
                            pl[3] = -1.0
                    time.sleep(0.001)
                for subject, proc, kind, at, ended in plan:
                    out = proc.communicate()[0] if subject else proc.wait()
                    if at is None and proc.returncode == 0:
                        ended = ended or time.monotonic() - t0
                        lifetime[kind] = 0.7 * lifetime[kind] + 0.3 * ended
                    if subject and b"queued " in out:
                        acked[subject] = spawned[subject]
            # Drain what is left with an undisturbed flusher.
            for _ in range(5):
                left = [e for e in queue_list(qdir) if e["state"] == "queued"]
                if not left:
                    break
                r = run_cli(["queue", "flush", "--queue", qdir] + server)
                self.assertEqual(r.returncode, 0, r.stderr)
            entries = queue_list(qdir)
            self.assertEqual(entries, [], "entries left or dead after draining")
            self.assertEqual(os.listdir(os.path.join(qdir, "corrupt")), [])
            elapsed = time.monotonic() - t_start

            delivered = {}  # subject -> set of Message-IDs
            for eml, _meta in srv.messages():
                msg = email.message_from_bytes(Path(eml).read_bytes(),
                                               policy=email.policy.default)
                subject = str(msg["Subject"])
                self.assertIn(subject, spawned, "a message nobody sent was delivered")
                body = msg.get_body(("plain",)).get_content()
                [part] = list(msg.iter_attachments())
                got = hashlib.sha256(part.get_payload(decode=True) or b"").hexdigest()
                self.assertEqual(body.strip(), f"sha256 {spawned[subject]}",
                                 f"{subject}: body corrupt")
                self.assertEqual(got, spawned[subject], f"{subject}: attachment corrupt")
                delivered.setdefault(subject, set()).add(str(msg["Message-ID"]))
            lost = sorted(set(acked) - set(delivered))
            self.assertEqual(lost, [], f"acknowledged but never delivered (seed {seed})")
            for subject, ids in delivered.items():
                self.assertEqual(len(ids), 1, f"{subject}: duplicates with different "
                                 f"Message-IDs {ids} (seed {seed})")
            copies = len(srv.messages())
            summary = {"iterations": iterations, "seed": seed, "processes_killed": killed,
                       "acknowledged": len(acked), "delivered_unique": len(delivered),
                       "deliveries": copies, "duplicates": copies - len(delivered),
                       "lost": len(lost), "seconds": round(elapsed, 1)}
            print("torture:", json.dumps(summary), file=sys.stderr)
            out = os.environ.get("UAVMAIL_TORTURE_JSON")
            if out:
                Path(out).write_text(json.dumps(summary, indent=1) + "\n")
            self.assertGreater(len(acked), iterations // 4, "too few acknowledgements to "
                               "mean anything; is the CLI failing?")


class LinkAndStates(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.qdir = os.path.join(self.tmp.name, "outbox")
        self.pki = pki()

    def tearDown(self):
        self.tmp.cleanup()

    def test_q14_link_down_no_connection_then_alerts_first_one_connection(self):
        with ScriptedServer([("send", b"220 hi\r\n")], timeout=2) as nobody:
            for subject, prio in (("bulk log", "bulk"), ("normal report", "normal"),
                                  ("ALERT battery", "alert")):
                r = run_cli(["send", "--queue", self.qdir, "--link-down"] +
                            base_args(nobody.port, "tls", self.pki["ca"]) +
                            message_args(subject, priority=prio))
                self.assertEqual(r.returncode, 0, r.stderr)     # safely on disk
                self.assertIn("queued ", r.stdout)
        self.assertEqual(nobody.connections, 0)
        self.assertEqual(len(queue_list(self.qdir)), 3)
        with start_server(mode="tls", cert=self.pki["server_chain"], key=self.pki["server_key"],
                          user=USER, password=PASSWORD, require_auth=True) as srv:
            r = run_cli(["queue", "flush", "--queue", self.qdir, "--trace"] +
                        base_args(srv.port, "tls", self.pki["ca"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("3 message(s) finished", r.stdout)
            self.assertEqual(r.stderr.count("C: EHLO"), 1, "more than one connection")
            self.assertEqual(r.stderr.count("C: QUIT"), 1)
            msgs = srv.wait_for(3)
            subjects = [email.message_from_bytes(Path(e).read_bytes())["Subject"]
                        for e, _ in msgs]
            self.assertEqual(subjects, ["ALERT battery", "normal report", "bulk log"])
        self.assertEqual(queue_list(self.qdir), [])

    def flush_scripted(self, steps, extra=()):
        with ScriptedServer(steps, tls=(self.pki["server_chain"], self.pki["server_key"])) as srv:
            r = run_cli(["queue", "flush", "--queue", self.qdir] +
                        base_args(srv.port, "tls", self.pki["ca"], user=False) + list(extra))
        return r, srv

    def enqueue(self, subject, extra=()):
        r = run_cli(["queue", "add", "--queue", self.qdir] + message_args(subject) + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split("queued ")[1].strip()

    @staticmethod
    def script(final):
        ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        steps = [("send", b"220 mx\r\n"), ("line",), ("send", ehlo), ("line",), ("line",),
                 ("line",), ("send", b"250 ok\r\n250 ok\r\n354 go\r\n"), ("data",)]
        if final is None:
            return steps + [("close",)]           # link lost after the final "."
        return steps + [("send", final), ("line",), ("send", b"221 bye\r\n")]

    def test_p09_5xx_is_a_dead_letter_with_the_reply(self):
        qid = self.enqueue("rejected")
        r, _ = self.flush_scripted(self.script(b"554 5.7.1 message refused by policy\r\n"))
        self.assertEqual(r.returncode, 0, r.stderr)
        [e] = queue_list(self.qdir)
        self.assertEqual((e["id"], e["state"], e["failed"]), (qid, "bounced", 1))
        self.assertIn("554 5.7.1 message refused by policy", e["last_error"])
        text = run_cli(["queue", "list", "--queue", self.qdir]).stdout
        self.assertIn("bounced", text)
        self.assertIn("554 5.7.1", text)

    def test_4xx_stays_queued_with_back_off(self):
        qid = self.enqueue("deferred")
        before = time.time()
        self.flush_scripted(self.script(b"451 4.3.0 mailbox busy\r\n"))
        [e] = queue_list(self.qdir)
        self.assertEqual((e["id"], e["state"], e["attempts"]), (qid, "queued", 1))
        self.assertGreater(e["next_attempt"], before + 10)      # backing off
        self.assertIn("451 4.3.0 mailbox busy", e["last_error"])
        self.assertIn("next in", run_cli(["queue", "list", "--queue", self.qdir]).stdout)

    def test_expiry_is_a_dead_letter(self):
        qid = self.enqueue("stale", ["--expires", "1"])
        time.sleep(2.1)
        with ScriptedServer([("send", b"220 hi\r\n")], timeout=2) as srv:
            r = run_cli(["queue", "flush", "--queue", self.qdir] +
                        base_args(srv.port, "tls", self.pki["ca"], user=False))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(srv.connections, 0)    # nothing due: no connection at all
        [e] = queue_list(self.qdir)
        self.assertEqual((e["id"], e["state"]), (qid, "expired"))
        self.assertIn("expired", run_cli(["queue", "list", "--queue", self.qdir]).stdout)

    def test_q09_outcome_unknown_is_resent_with_the_same_message_id(self):
        qid = self.enqueue("unknown")
        r, srv = self.flush_scripted(self.script(None))
        self.assertNotEqual(r.returncode, 0)     # the flush reports the lost link
        [e] = queue_list(self.qdir)
        self.assertEqual((e["id"], e["state"], e["outcome_unknown"]), (qid, "queued", True))
        self.assertIn("same Message-ID", run_cli(["queue", "list", "--queue", self.qdir]).stdout)
        # The Message-ID fixed at enqueue is the one the server saw, and stays.
        self.assertIn(f"Message-ID: <{e['message_id']}>".encode(), srv.received)
        self.assertEqual(queue_list(self.qdir)[0]["message_id"], e["message_id"])


def can_mount():
    if os.geteuid() != 0:
        return False
    d = tempfile.mkdtemp(prefix="uavmail-mnt-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", d],
                            capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", d], check=True)
        return ok
    finally:
        os.rmdir(d)


@unittest.skipUnless(can_mount(), "needs root and mount(2) for a small tmpfs")
class RealFileSystemFaults(unittest.TestCase):
    """Q-06 on a real file system: a tmpfs that fills up, then goes read-only."""

    def setUp(self):
        self.mnt = tempfile.mkdtemp(prefix="uavmail-q06-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k,mode=0700", "tmpfs", self.mnt],
                       check=True)
        self.qdir = os.path.join(self.mnt, "q")
        self.att = os.path.join(tempfile.gettempdir(), "uavmail-q06-%d.bin" % os.getpid())
        with open(self.att, "wb") as f:
            f.write(os.urandom(100000))

    def tearDown(self):
        subprocess.run(["umount", self.mnt], check=False)
        os.rmdir(self.mnt)
        os.unlink(self.att)

    def add(self, subject):
        return run_cli(["queue", "add", "--queue", self.qdir] + message_args(subject) +
                       ["--attach", self.att])

    def test_q06_disk_full_then_read_only(self):
        acked, full = [], None
        for i in range(6):
            r = self.add(f"log {i}")
            if r.returncode == 0:
                acked.append(r.stdout.split("queued ")[1].strip())
            else:
                full = r
                break
        self.assertIsNotNone(full, "the 320 KiB file system never filled up")
        self.assertGreaterEqual(len(acked), 1)
        self.assertEqual(full.returncode, 74, full.stderr)
        self.assertIn("no space left on the device", full.stderr)
        # Nothing partial: exactly the acknowledged entries, no temp files.
        self.assertEqual(sorted(e["id"] for e in queue_list(self.qdir)), sorted(acked))
        self.assertEqual(os.listdir(os.path.join(self.qdir, "tmp")), [])
        self.assertEqual(len(os.listdir(os.path.join(self.qdir, "msg"))), 2 * len(acked))

        subprocess.run(["mount", "-o", "remount,ro", self.mnt], check=True)
        r = self.add("read-only")
        self.assertEqual(r.returncode, 74, r.stderr)
        self.assertIn("read-only file system", r.stderr)
        self.assertEqual(sorted(e["id"] for e in queue_list(self.qdir)), sorted(acked))
        subprocess.run(["mount", "-o", "remount,rw", self.mnt], check=True)

        # What was acknowledged is delivered intact once there is room again.
        p = pki()
        with start_server(mode="tls", cert=p["server_chain"], key=p["server_key"],
                          user=USER, password=PASSWORD, require_auth=True) as srv:
            r = run_cli(["queue", "flush", "--queue", self.qdir] +
                        base_args(srv.port, "tls", p["ca"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            msgs = srv.wait_for(len(acked))
            with open(self.att, "rb") as f:
                want = hashlib.sha256(f.read()).hexdigest()
            for eml, _ in msgs:
                msg = email.message_from_bytes(Path(eml).read_bytes(),
                                               policy=email.policy.default)
                [part] = list(msg.iter_attachments())
                self.assertEqual(hashlib.sha256(part.get_payload(decode=True)).hexdigest(),
                                 want)
        self.assertEqual(queue_list(self.qdir), [])


class Secrets(unittest.TestCase):
    """Q-13: the queue holds no credential in any form, and is private."""

    def test_q13_no_secret_in_queue_files_and_private_modes(self):
        p = pki()
        ehlo = b"250-mx.example\r\n250-PIPELINING\r\n250-AUTH PLAIN XOAUTH2\r\n250 8BITMIME\r\n"

        def auth_then_defer():
            return [("send", b"220 mx\r\n"), ("line",), ("send", ehlo), ("line",),
                    ("send", b"235 2.7.0 ok\r\n"), ("line",), ("line",), ("line",),
                    ("send", b"451 4.3.0 try later\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"),
                    ("line",), ("send", b"221 bye\r\n")]

        with tempfile.TemporaryDirectory() as tmp:
            qdir = os.path.join(tmp, "outbox")
            for creds in (["--user", USER, "--password-env", ENV_VAR],
                          ["--user", USER, "--oauth2-token-env", TOKEN_VAR]):
                with ScriptedServer(auth_then_defer(), tls=(p["server_chain"],
                                                            p["server_key"])) as srv:
                    args = ["send", "--queue", qdir] + \
                        base_args(srv.port, "tls", p["ca"], user=False) + creds + \
                        message_args("secret check")
                    r = subprocess.run([cli_path()] + args, env=cli_env(), capture_output=True,
                                       text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn(b"AUTH ", srv.received)   # the secret really was used
            entries = queue_list(qdir)
            self.assertEqual(len(entries), 2)
            self.assertTrue(all(e["attempts"] == 1 for e in entries))
            forms = secret_forms() | secret_forms(TOKEN)
            xo = f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode()
            forms |= {base64.b64encode(xo).decode(), TOKEN,
                      base64.b64encode(TOKEN.encode()).decode()}
            self.assertEqual(stat.S_IMODE(os.stat(qdir).st_mode), 0o700)
            for root, dirs, files in os.walk(qdir):
                for d in dirs:
                    self.assertEqual(stat.S_IMODE(os.stat(os.path.join(root, d)).st_mode),
                                     0o700, d)
                for name in files:
                    path = os.path.join(root, name)
                    self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
                    data = Path(path).read_bytes()
                    for f in forms:
                        self.assertNotIn(f.encode(), data, f"{path} holds a secret form")


if __name__ == "__main__":
    unittest.main(verbosity=2)
