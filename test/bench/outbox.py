#!/usr/bin/python3
"""Outbox benchmarks (issue 6, README "Performance"):

1. durable enqueue rate of ~10 KB messages (build/test/bench/bench_outbox:
   every enqueue returns after its files and directory entries are fsynced),
   into a directory on the repository's file system;
2. flush of 100 queued messages to real Postfix (STARTTLS, AUTH, certificate
   verified) with `uavmail queue flush`, against curl sending the same 100
   messages over one connection (-T FILE --url URL pairs in one invocation),
   through latency_proxy.py with 200 ms RTT and with 0 ms (local cost).

Run as root with Debian's Python, from the repository root:

    /usr/bin/python3 test/bench/outbox.py [--rtt-ms 200] [--messages 100]
        [--runs 1] [--baseline-runs 3] [--json FILE]

Every run is checked: exit 0, each tagged message delivered to the maildir
exactly once, one SMTP connection (from Postfix's log).  The outbox is filled
before the clock starts (`uavmail queue add`, not timed); its flush is timed
from process start to exit, like curl.  Both send the same body text; curl
sends a prepared 2,048-byte file, uavmail its own rendering of it (a few
header bytes differ).  Takes about 2 minutes at 200 ms (curl needs ~4 round
trips per message).
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import roundtrips as rt  # noqa: E402
from roundtrips import (BASE_ENV, PASSWORD, PASSWORD_ENV, REPO, USER, BenchError,  # noqa: E402
                        PostfixFixture, Runner, Scenario, make_ctx, make_message, make_pki,
                        start_proxy)


def enqueue_rate(bench, n):
    d = tempfile.mkdtemp(prefix="uavmail-enqueue-", dir=REPO)
    try:
        out = subprocess.run([bench, os.path.join(d, "q"), str(n)], check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class Flush:
    def __init__(self, uavmail, runner, n):
        self.uavmail, self.runner, self.n = uavmail, runner, n
        self.scenario = Scenario("flush_%d" % n, "%d queued messages" % n, "submission", n)

    def _files(self):
        tags = [self.runner.tags.next() for _ in range(self.n)]
        files = []
        for tag in tags:
            path = os.path.join(self.runner.msgdir, tag + ".eml")
            with open(path, "wb") as f:
                f.write(make_message(tag))
            files.append(path)
        return tags, files

    def _timed(self, name, argv, env, tags):
        r = self.runner
        before = set(os.listdir(r.newdir))
        offset = os.path.getsize(r.pf.maillog)
        t0 = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, env=env,
                              timeout=120 + 10 * (r.rtt or 0) * self.n)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            raise BenchError("%s failed (exit %d)\n%s\n%s" % (
                name, proc.returncode, shlex.join(argv),
                proc.stderr.decode(errors="replace")[-3000:]))

        class C:
            pass
        c = C()
        c.name = name
        r._check_delivered(c, self.scenario, before, tags)
        facts = r._log_facts(offset)
        if facts["connections"] != 1:
            raise BenchError("%s used %d connections" % (name, facts["connections"]))
        rec = {"wall_s": round(wall, 3), "messages_per_s": round(self.n / wall, 2),
               "connections": facts["connections"], "command": shlex.join(argv)}
        if r.rtt:
            rec["round_trips_per_message"] = round(wall / r.rtt / self.n, 3)
        return rec

    def uavmail_run(self, work):
        tags, files = self._files()
        qdir = tempfile.mkdtemp(prefix="q-", dir=work)
        env = dict(BASE_ENV, HOME=self.runner.ctx["home"], **{PASSWORD_ENV: PASSWORD})
        for tag, path in zip(tags, files):           # fill the outbox: not timed
            with open(path, "rb") as f:
                body = rt.body_of(f.read())
            subprocess.run([self.uavmail, "queue", "add", "--queue", qdir, "--from", USER,
                            "--to", rt.RCPT, "--subject", "[UAV-7] Flight report %s" % tag,
                            "--body", body], check=True, capture_output=True, env=env)
        port = self.runner.ports["submission"]
        argv = [self.uavmail, "queue", "flush", "--queue", qdir, "--server", "localhost",
                "--port", str(port), "--security", "starttls", "--cafile",
                self.runner.ctx["ca"], "--user", USER, "--password-env", PASSWORD_ENV]
        rec = self._timed("uavmail", argv, env, tags)
        shutil.rmtree(qdir, ignore_errors=True)
        return rec

    def curl_run(self):
        tags, files = self._files()
        argv, _, extra = rt.Curl().command(self.scenario, self.runner.ports["submission"],
                                           files, tags, self.runner.ctx)
        env = dict(BASE_ENV, HOME=self.runner.ctx["home"], **extra)
        return self._timed("curl", argv, env, tags)


def measure(flush, work, runs, label):
    out = {"uavmail": [], "curl": []}
    for i in range(runs):
        for name in ("uavmail", "curl"):
            rec = flush.uavmail_run(work) if name == "uavmail" else flush.curl_run()
            out[name].append(rec)
            print("%-8s %d/%d %-8s %8.3f s  %7.2f msg/s%s" % (
                label, i + 1, runs, name, rec["wall_s"], rec["messages_per_s"],
                "  %.3f RTT/msg" % rec["round_trips_per_message"]
                if "round_trips_per_message" in rec else ""), file=sys.stderr, flush=True)
    summary = {}
    for name, recs in out.items():
        wall = statistics.median(r["wall_s"] for r in recs)
        summary[name] = {"median_wall_s": round(wall, 3),
                         "messages_per_s": round(flush.n / wall, 2)}
        if flush.runner.rtt:
            summary[name]["round_trips_per_message"] = round(wall / flush.runner.rtt / flush.n, 3)
    summary["uavmail_time_vs_curl"] = round(summary["uavmail"]["median_wall_s"] /
                                            summary["curl"]["median_wall_s"], 3)
    return {"runs": out, "summary": summary}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rtt-ms", type=float, default=200.0)
    ap.add_argument("--messages", type=int, default=100)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--baseline-runs", type=int, default=3)
    ap.add_argument("--enqueue", type=int, default=1000, help="messages for the enqueue rate")
    ap.add_argument("--json")
    ap.add_argument("--uavmail", default=os.path.join(REPO, "build", "cli", "uavmail"))
    ap.add_argument("--bench", default=os.path.join(REPO, "build", "test", "bench",
                                                     "bench_outbox"))
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("outbox.py: must run as root (it starts Postfix)")
    command = shlex.join(["/usr/bin/python3", "test/bench/outbox.py"] + sys.argv[1:])
    result = {"command": command, "rtt_ms": args.rtt_ms, "messages": args.messages,
              "curl": rt.Curl().version}
    result["enqueue_10k"] = enqueue_rate(args.bench, args.enqueue)
    print("enqueue: %s" % json.dumps(result["enqueue_10k"]), file=sys.stderr)
    work = tempfile.mkdtemp(prefix="ob-", dir="/tmp")
    os.chmod(work, 0o755)
    stops = []
    try:
        pki = make_pki(os.path.join(work, "pki"))
        home = os.path.join(work, "home")
        msgdir = os.path.join(work, "msgs")
        for d in (home, msgdir):
            os.makedirs(d, mode=0o700)
        with PostfixFixture(os.path.join(work, "pf"), pki["server_chain"], pki["server_key"],
                            user=USER, password=PASSWORD, domain="example.test") as pf:
            for label, rtt_ms, runs in (("rtt", args.rtt_ms, args.runs),
                                        ("local", 0, args.baseline_runs)):
                if runs == 0:
                    continue
                port, stop = start_proxy(pf.submission_port, rtt_ms)
                stops.append(stop)
                ports = {"submission": port, "smtps": pf.smtps_port}
                runner = Runner(pf, ports, make_ctx(work, label, ports, pki, home),
                                rtt_ms / 1000.0 if rtt_ms else None, msgdir)
                flush = Flush(os.path.abspath(args.uavmail), runner, args.messages)
                flush.uavmail_run(work)        # warm-up: starts Postfix's smtpd processes
                result["flush_%s" % label] = measure(flush, work, runs, label)
    except BenchError as e:
        print("outbox.py: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        for stop in stops:
            stop()
        shutil.rmtree(work, ignore_errors=True)
    print(command)
    e = result["enqueue_10k"]
    print("\nDurable enqueue, ~10 KB messages: %.0f msg/s (median %.2f ms, p99 %.2f ms)"
          % (e["per_second"], e["median_ms"], e["p99_ms"]))
    print("\n| flush of %d messages | uavmail queue flush | curl (one connection) | "
          "uavmail time / curl |" % args.messages)
    print("|---|---|---|---|")
    for label, title in (("rtt", "%g ms RTT" % args.rtt_ms), ("local", "0 ms (local)")):
        if "flush_" + label not in result:
            continue
        s = result["flush_" + label]["summary"]

        def cell(c):
            t = "%.2f s, %.1f msg/s" % (c["median_wall_s"], c["messages_per_s"])
            if "round_trips_per_message" in c:
                t += ", %.2f RTT/msg" % c["round_trips_per_message"]
            return t
        print("| %s | %s | %s | %.0f %% |" % (title, cell(s["uavmail"]), cell(s["curl"]),
                                             100 * s["uavmail_time_vs_curl"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
