#!/usr/bin/python3
"""Big-attachment benchmark: uavmail vs curl over implicit TLS to a local Postfix.

Run as root with Debian's /usr/bin/python3 (standard library only, plus the
`cryptography` package the test PKI uses), from anywhere:

    /usr/bin/python3 test/bench/bigfile.py [--build build] [--sizes 1M,100M]
        [--repeat 3] [--json FILE]

For every attachment size (random bytes, default 1 MiB and 100 MiB) it sends
one message with that file attached through

  * uavmail:  build/cli/uavmail send --security tls ... --attach FILE
  * curl:     curl smtps://... -F '=body' -F 'file=@FILE;encoder=base64'
              (curl builds the MIME message and base64-encodes it itself)

to a private Postfix instance (test/fixtures/postfix_fixture.py) over implicit
TLS (port 465 style), `--repeat` times each, and reports the median of:

  CPU s       user + sys CPU time of the client (os.wait4 rusage, µs)
  max RSS     peak resident set of the client, KiB (ru_maxrss)
  wall s      spawn to exit
  payload     message bytes the client pushed through TLS: the delivered
              message minus Postfix's trace headers, with LF put back to
              CRLF.  The SMTP commands, and DATA's dot-stuffing and final
              ".\r\n" or BDAT's command lines, add a few hundred bytes more
              (none of a base64 attachment's lines starts with a dot)

Each client runs under GNU time (/usr/bin/time, package "time"), because
ru_maxrss cannot be taken from a child of this script: Linux carries the
high-water RSS of the pre-exec image across execve(), and a child that
Python forks or vforks starts with this (large) Python image, so its
ru_maxrss is never below Python's.  GNU time's own image is ~1 MB, below any
TLS client's, so the max RSS it reports (%M) is the client's.  CPU comes from
os.wait4 on the time process, which includes the reaped client and the
launcher's own ~1-2 ms (measured on /bin/true and printed with the table).

Then test/bench/cipher_cost encrypts each client's payload byte count as
16 KiB TLS 1.2 records with the mbedTLS cipher uavmail negotiated (learned
from a `--trace` probe run), and "CPU / cipher" is the client's CPU time over
that pure-cipher cost.  For curl (OpenSSL, usually TLS 1.3 AES-256-GCM) the
same mbedTLS figure is only a yardstick: OpenSSL's AES-GCM is much faster.

Every run is checked: the client exits 0, exactly one new message lands in
the maildir, and the attachment in it (parsed with the email package)
decodes to the SHA-256 of the source file.  Delivered messages are then
truncated to 0 bytes (kept, so the maildir count stays checkable) to save
disk space.  Cipher costs are measured after Postfix has stopped.

Acceptance targets printed at the end (README "Performance"):
  uavmail CPU <= 1.4 x cipher cost for the largest size, and
  uavmail max RSS(largest) - max RSS(smallest) <= 256 KiB.
The exit status is 0 when every run was delivered intact, whatever the
targets say (they are reported, not enforced), and 1 otherwise.
"""

import argparse
import email
import email.policy
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "test", "fixtures"))

from postfix_fixture import FixtureError, PostfixFixture  # noqa: E402
from testca import make_pki  # noqa: E402

USER = "pilot@example.test"
PASSWORD = "correct horse battery staple"
RCPT = "gs@example.test"
PW_VAR = "UAVMAIL_BENCH_PASSWORD"
BODY = "Flight log attached."
# Headers Postfix puts in front of a delivered message (cleanup adds
# Received, virtual(8) the other three); stripped to recover what the client sent.
POSTFIX_TRACE = (b"return-path", b"x-original-to", b"delivered-to", b"received")
GNU_TIME = "/usr/bin/time"
TARGET_CPU_RATIO = 1.4
TARGET_RSS_GROWTH_KIB = 256


class BenchError(Exception):
    pass


def parse_size(text):
    """'100M' -> 104857600 (K/M/G are binary multiples)."""
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip(), re.I)
    if not m:
        raise argparse.ArgumentTypeError("bad size: %r" % text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def size_label(n):
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d %s" % (n >> shift, unit)
    return "%d B" % n


def make_attachment(path, size):
    """Random (incompressible) file; returns its SHA-256 hex digest."""
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            h.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return h.hexdigest()


def run_measured(argv, env, log_path):
    """Run argv under GNU time to completion; return its resource usage
    (see the module docstring for why GNU time is in between)."""
    rss_path = log_path + ".rss"
    with open(log_path, "wb") as log:
        t0 = time.monotonic()
        proc = subprocess.Popen([GNU_TIME, "-f", "%M %x", "-o", rss_path] + argv, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(proc.pid, 0)   # rusage includes the reaped client
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    with open(rss_path) as f:
        # The last line: GNU time puts "Command exited with non-zero status" first.
        maxrss, code = f.read().split("\n")[-2].split()
    return {
        "exit": int(code),
        "cpu_s": ru.ru_utime + ru.ru_stime,
        "user_s": ru.ru_utime,
        "sys_s": ru.ru_stime,
        "maxrss_kib": int(maxrss),
        "wall_s": wall,
        "minor_faults": ru.ru_minflt,
        "vol_ctx_switches": ru.ru_nvcsw,
        "invol_ctx_switches": ru.ru_nivcsw,
    }


def curl_version_string(curl):
    """'curl 7.88.1 OpenSSL/3.0.22' out of `curl --version`'s first line."""
    words = subprocess.run([curl, "--version"], capture_output=True,
                           text=True).stdout.split()
    return " ".join(words[:2] + [w for w in words if "SSL" in w or "TLS" in w][:1])


def launcher_overhead(env, workdir, n=5):
    """Median CPU s that run_measured() reports for /bin/true."""
    log = os.path.join(workdir, "true.log")
    return statistics.median(run_measured(["/bin/true"], env, log)["cpu_s"] for _ in range(n))


def message_bytes(raw):
    """Size of the message as the client sent it, from the delivered raw.

    Postfix stores lines with LF endings and puts its own trace headers in
    front; undo both.
    """
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    i = 0
    while i < len(lines) and lines[i].split(b":", 1)[0].lower() in POSTFIX_TRACE:
        i += 1
        while i < len(lines) and lines[i][:1] in (b" ", b"\t"):  # folded
            i += 1
    return sum(len(line) + 2 for line in lines[i:])


def check_delivery(path, filename, sha256):
    """Return (payload bytes, ok, detail) for one delivered message file."""
    with open(path, "rb") as f:
        raw = f.read()
    payload = message_bytes(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    del raw
    for part in msg.walk():
        if part.get_filename() == filename:
            got = hashlib.sha256(part.get_payload(decode=True)).hexdigest()
            if got == sha256:
                return payload, True, "attachment SHA-256 matches"
            return payload, False, "attachment SHA-256 %s != %s" % (got, sha256)
    return payload, False, "no part with filename %r" % filename


class Bench:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.uavmail = args.uavmail or os.path.join(args.build, "cli", "uavmail")
        self.cipher_cost = args.cipher_cost or os.path.join(
            args.build, "test", "bench", "cipher_cost")
        for exe in (self.uavmail, self.cipher_cost, args.curl, GNU_TIME):
            if not os.access(exe, os.X_OK):
                raise BenchError("not executable: %s (build with: ninja -C %s; GNU time "
                                 "is apt-get install time)" % (exe, args.build))
        self.env = {"PATH": "/usr/bin:/bin", "LANG": "C", PW_VAR: PASSWORD}
        self.netrc = os.path.join(workdir, "netrc")
        fd = os.open(self.netrc, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:  # quoted: the password has spaces (curl >= 7.84)
            f.write('machine localhost login %s password "%s"\n' % (USER, PASSWORD))
        self.seen = set()   # maildir files already checked
        self.cipher_cache = {}  # (bytes, suite) -> cipher() result

    # -- client command lines ----------------------------------------------
    def uavmail_argv(self, port, attach, trace=False):
        argv = [self.uavmail, "send", "--server", "localhost", "--port", str(port),
                "--security", "tls", "--cafile", self.pki["ca"],
                "--user", USER, "--password-env", PW_VAR,
                "--from", USER, "--to", RCPT, "--subject", "bigfile benchmark",
                "--body", BODY, "--attach", attach]
        return argv + ["--trace"] if trace else argv

    def curl_argv(self, port, attach, verbose=False):
        # -q: ignore ~/.curlrc.  The top level of curl's SMTP MIME is already
        # multipart/mixed, so a text part and the attachment are all it needs.
        return [self.args.curl, "-q", "-sS"] + (["-v"] if verbose else []) + [
            "--ssl-reqd", "smtps://localhost:%d" % port,
            "--cacert", self.pki["ca"], "--netrc-file", self.netrc,
            "--mail-from", USER, "--mail-rcpt", RCPT,
            "-H", "From: <%s>" % USER, "-H", "To: <%s>" % RCPT,
            "-H", "Subject: bigfile benchmark",
            "-F", "=%s" % BODY,
            "-F", "file=@%s;encoder=base64" % attach]

    # -- one send ------------------------------------------------------------
    def send(self, client, argv, attach, sha256, label):
        log = os.path.join(self.workdir, "%s.log" % label)
        res = run_measured(argv, self.env, log)
        with open(log, "rb") as f:
            output = f.read().decode(errors="replace")
        if res["exit"] != 0:
            raise BenchError("%s exited %d:\n%s" % (client, res["exit"], output[-3000:]))
        paths = set(self.pf.wait_for_messages(len(self.seen) + 1, timeout=300))
        new = paths - self.seen
        if len(paths) != len(self.seen) + 1 or len(new) != 1:
            raise BenchError("%d messages in the maildir, expected %d"
                             % (len(paths), len(self.seen) + 1))
        path = new.pop()
        self.seen.add(path)
        payload, ok, detail = check_delivery(path, os.path.basename(attach), sha256)
        if not ok:
            raise BenchError("%s (%s): delivered message is wrong: %s"
                             % (client, label, detail))
        res["payload_bytes"] = payload
        res["output"] = output
        # Keep the count, drop the bulk: empty the file instead of deleting it.
        open(path, "wb").close()
        return res

    def cipher(self, nbytes, suite):
        """Median of several cipher_cost runs (at least 5: it is cheap, and the
        ratio's denominator should be the steadier of the two)."""
        if (nbytes, suite) in self.cipher_cache:
            return self.cipher_cache[(nbytes, suite)]
        runs = []
        for _ in range(max(5, self.args.repeat)):
            out = subprocess.run([self.cipher_cost, str(nbytes), suite], check=True,
                                 capture_output=True, text=True).stdout
            runs.append(dict((k, v) for k, v in re.findall(r"(\w+)=(\S+)", out)))
        mid = sorted(runs, key=lambda r: float(r["cpu_s"]))[len(runs) // 2]
        res = {"cipher": mid["cipher"], "cpu_s": float(mid["cpu_s"]),
               "MB_per_s": float(mid["MB_per_s"]), "records": int(mid["records"]),
               "all_cpu_s": [float(r["cpu_s"]) for r in runs]}
        self.cipher_cache[(nbytes, suite)] = res
        return res

    # -- the whole benchmark ---------------------------------------------------
    def run(self):
        a = self.args
        self.pki = make_pki(os.path.join(self.workdir, "pki"))
        files = {}
        for size in a.sizes:
            path = os.path.join(self.workdir, "att-%d.bin" % size)
            files[size] = (path, make_attachment(path, size))
        self.pf = PostfixFixture(os.path.join(self.workdir, "pf"), self.pki["server_chain"],
                                 self.pki["server_key"], user=USER, password=PASSWORD)
        with self.pf:
            port = self.pf.smtps_port
            # Probes (not measured): which suites do the clients negotiate?
            probe = os.path.join(self.workdir, "probe.txt")
            with open(probe, "wb") as f:
                f.write(b"probe\n")
            probe_sha = hashlib.sha256(b"probe\n").hexdigest()
            out = self.send("uavmail", self.uavmail_argv(port, probe, trace=True),
                            probe, probe_sha, "probe-uavmail")["output"]
            m = re.search(r"TLS established: ([^,]+), ([^,\s]+)", out)
            if not m:
                raise BenchError("no 'TLS established' line in uavmail --trace:\n" + out)
            uav_version, uav_suite = m.group(1), m.group(2)
            out = self.send("curl", self.curl_argv(port, probe, verbose=True),
                            probe, probe_sha, "probe-curl")["output"]
            m = re.search(r"SSL connection using (\S+) / (\S+)", out)
            curl_version, curl_suite = (m.group(1), m.group(2)) if m else ("?", "?")

            results = []
            for size in a.sizes:
                path, sha = files[size]
                for client in ("uavmail", "curl"):
                    runs = []
                    for i in range(a.repeat):
                        argv = (self.uavmail_argv(port, path) if client == "uavmail"
                                else self.curl_argv(port, path))
                        label = "%s-%d-%d" % (client, size, i)
                        r = self.send(client, argv, path, sha, label)
                        del r["output"]
                        runs.append(r)
                        print("  %-7s %-8s run %d: CPU %.3f s, max RSS %d KiB, wall %.2f s"
                              % (client, size_label(size), i + 1, r["cpu_s"],
                                 r["maxrss_kib"], r["wall_s"]), file=sys.stderr)
                    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]
                           if k != "exit"}
                    med["payload_bytes"] = int(med["payload_bytes"])
                    results.append({"client": client, "size": size,
                                    "command": shlex.join(argv), "median": med,
                                    "runs": runs})
        # Cipher cost after Postfix has stopped: nothing else competes for CPU.
        for r in results:
            r["cipher"] = self.cipher(r["median"]["payload_bytes"], uav_suite)
            r["cpu_over_cipher"] = r["median"]["cpu_s"] / r["cipher"]["cpu_s"]
        return {
            "command": shlex.join([sys.executable] + sys.argv),
            "launcher_overhead_cpu_s": launcher_overhead(self.env, self.workdir),
            "uavmail": {"binary": os.path.abspath(self.uavmail), "tls": uav_version,
                        "suite": uav_suite},
            "curl": {"binary": a.curl, "version": curl_version_string(a.curl),
                     "tls": curl_version, "suite": curl_suite},
            "repeat": a.repeat,
            "results": results,
        }


def acceptance(report):
    """The README targets, evaluated on the uavmail rows."""
    rows = sorted((r for r in report["results"] if r["client"] == "uavmail"),
                  key=lambda r: r["size"])
    if not rows:
        return []
    big, small = rows[-1], rows[0]
    ratio = big["cpu_over_cipher"]
    growth = big["median"]["maxrss_kib"] - small["median"]["maxrss_kib"]
    marginal = []
    if big is not small:
        # Per-byte cost without the fixed part (exec, handshake, AUTH): the slope
        # between the smallest and the largest size, client vs cipher.
        d_cpu = big["median"]["cpu_s"] - small["median"]["cpu_s"]
        d_cipher = big["cipher"]["cpu_s"] - small["cipher"]["cpu_s"]
        marginal = [{"target": "(info) uavmail marginal CPU / cipher, %s..%s" % (
            size_label(small["size"]), size_label(big["size"])),
            "value": "%.2f x" % (d_cpu / d_cipher) if d_cipher > 0 else "n/a",
            "pass": None}]
    return [
        {"target": "uavmail CPU <= %.1f x cipher cost (%s)" % (TARGET_CPU_RATIO,
                                                               size_label(big["size"])),
         "value": "%.2f x" % ratio, "pass": ratio <= TARGET_CPU_RATIO},
        {"target": "uavmail max RSS %s - %s <= %d KiB" % (
            size_label(big["size"]), size_label(small["size"]), TARGET_RSS_GROWTH_KIB),
         "value": "%+d KiB" % growth, "pass": growth <= TARGET_RSS_GROWTH_KIB},
    ] + marginal


def markdown(report):
    suite = report["uavmail"]["suite"]
    out = ["| client | attachment | payload MB | CPU s (user+sys) | max RSS KiB | wall s "
           "| cipher cost s | CPU / cipher |",
           "|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in report["results"]:
        m = r["median"]
        out.append("| %s | %s | %.2f | %.3f | %d | %.2f | %.3f | %.2f |" % (
            r["client"], size_label(r["size"]), m["payload_bytes"] / 1e6, m["cpu_s"],
            m["maxrss_kib"], m["wall_s"], r["cipher"]["cpu_s"], r["cpu_over_cipher"]))
    # Throughput as measured on the largest payload (the steadiest figure).
    ciphers = {r["cipher"]["cipher"]: r["cipher"]["MB_per_s"]
               for r in sorted(report["results"], key=lambda r: r["median"]["payload_bytes"])}
    out += ["",
            "Median of %d runs per cell, over implicit TLS to a local Postfix 3.7. "
            "uavmail negotiated %s %s; curl (%s) negotiated %s %s. "
            "\"cipher cost\" = CPU time of test/bench/cipher_cost sealing the same payload "
            "as 16 KiB TLS records with mbedTLS %s (%s MB/s). CPU includes %.1f ms of the "
            "GNU time launcher." % (
                report["repeat"], report["uavmail"]["tls"], suite,
                report["curl"]["version"], report["curl"]["tls"], report["curl"]["suite"],
                ", ".join(ciphers), ", ".join("%.0f" % v for v in ciphers.values()),
                report["launcher_overhead_cpu_s"] * 1e3),
            "", "Targets:"]
    for a in acceptance(report):
        verdict = {True: " — PASS", False: " — FAIL", None: ""}[a["pass"]]
        out.append("- %s: %s%s" % (a["target"], a["value"], verdict))
    out += ["", "Command: `%s`" % report["command"], "", "Client commands (largest size):"]
    seen = set()
    for r in reversed(report["results"]):
        if r["client"] not in seen:
            seen.add(r["client"])
            out.append("- `%s`" % r["command"])
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="meson build dir with cli/uavmail and test/bench/cipher_cost")
    ap.add_argument("--uavmail", help="uavmail binary (default BUILD/cli/uavmail)")
    ap.add_argument("--cipher-cost", help="default BUILD/test/bench/cipher_cost")
    ap.add_argument("--curl", default="/usr/bin/curl")
    ap.add_argument("--sizes", default=[1 << 20, 100 << 20],
                    type=lambda s: [parse_size(x) for x in s.split(",")],
                    help="comma-separated attachment sizes, e.g. 1M,100M (default)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell (median)")
    ap.add_argument("--json", metavar="FILE", help="also write the full report as JSON")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bigfile.py: must run as root (Postfix fixture)", file=sys.stderr)
        return 1
    # Short path in a world-searchable directory: Postfix/Dovecot daemons must
    # traverse it, and unix socket paths are limited to 107 bytes.
    workdir = tempfile.mkdtemp(prefix="uavbig-", dir="/tmp")
    os.chmod(workdir, 0o755)
    try:
        report = Bench(args, workdir).run()
    except (BenchError, FixtureError, TimeoutError) as e:
        print("bigfile.py: %s\n(work directory kept: %s)" % (e, workdir), file=sys.stderr)
        return 1
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print("work directory: %s" % workdir, file=sys.stderr)
    print(markdown(report))
    if args.json:
        report["targets"] = acceptance(report)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
