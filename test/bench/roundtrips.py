#!/usr/bin/python3
"""Round trips to deliver mail over a high-latency link: uavmail vs curl vs
msmtp, against real Postfix (+ Dovecot SASL) behind latency_proxy.py.

Run as root with Debian's Python, from the repository root:

    /usr/bin/python3 test/bench/roundtrips.py [--rtt-ms 200] [--runs 3]
        [--warmup 1] [--baseline-runs 3] [--json FILE]
        [--uavmail build/cli/uavmail] [--keep]

It takes about 2.5 minutes at the defaults (most of it curl's 20 messages).

For every client and scenario it measures the wall time from process start to
process exit and reports it divided by the RTT ("round trips"), median of
--runs runs (after --warmup unmeasured runs, which also start Postfix's smtpd
processes).  Passes are interleaved (scenario by scenario, client by client)
so slow drift affects every client alike.  Scenarios:

  tls               1 message, implicit TLS (Postfix's smtps listener)
  starttls          1 message, STARTTLS (submission listener, TLS required)
  starttls_resumed  1 message, STARTTLS, resuming the TLS session that the
                    previous process saved (uavmail --tls-session-file)
  starttls_20       20 messages over one STARTTLS connection

Every client sends the same ~2 KB RFC 5322 message (Date and Message-ID
headers; each run gets a fresh tag of fixed length in Subject/Message-ID), to
the same recipient, with AUTH PLAIN/LOGIN after TLS, verifying the server
certificate against the test CA for host name "localhost".  Every run is
checked: exit status 0, each tagged message delivered to the maildir exactly
once, and from Postfix's log the number of SMTP connections, TLS version,
whether the TLS session was resumed and the SMTP command counts.  Any failure
aborts the benchmark with the client's output and the log tail.

Postfix's smtpd_tls_loglevel is raised to 2 in the fixture's private config
(in the temporary workdir; nothing outside it changes) so that its log says
"Reusing old session" when a client resumes a TLS session.

Then --baseline-runs passes go through proxies that add nothing (0 ms), to
show each client's local cost (process start, TLS and SASL computation,
Postfix's work) and the round trips net of it.  (Not straight to Postfix: on
direct loopback, Nagle on one side plus a 40 ms delayed ACK on the other adds
stalls that belong to neither client nor link.)

Output: a Markdown table (ready for README) preceded by the command line that
produced it, the local-cost table, per-run SMTP details, and with --json the
raw numbers.  Progress lines go to stderr.  Exit status 1 if any run failed.

Clients that cannot do a scenario are reported "n/a (why)": curl 7.88 and
msmtp keep TLS sessions only inside one process; msmtp sends one message per
process.  curl sends several messages over one connection when given several
--upload-file/--url pairs in one invocation (it reuses the connection; the
log check confirms one connection).  If the uavmail binary predates
--message/--tls-session-file (looked up in `uavmail send --help`), it sends
its own composed message (--subject/--body, same body text) and the
scenarios that need those options are n/a.
"""

import argparse
import email.utils
import json
import os
import re
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "test", "fixtures"))
sys.path.insert(0, HERE)

from latency_proxy import start_proxy          # noqa: E402
from postfix_fixture import PostfixFixture     # noqa: E402
from testca import make_pki                    # noqa: E402

USER = "bench@example.test"
# No blanks or quotes: it goes into a netrc file and an msmtp config as is.
PASSWORD = "Bench-pass-2025"
RCPT = "ops@example.test"
PASSWORD_ENV = "UAVMAIL_BENCH_PASSWORD"
MULTI = 20                   # messages in the one-connection scenario
MESSAGE_SIZE = 2048          # bytes of every .eml, headers included
# Children get a fixed, minimal environment: no ~/.curlrc, no proxy variables.
BASE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}


class BenchError(Exception):
    pass


class NA:
    """A client that cannot do a scenario, and why."""

    def __init__(self, reason):
        self.reason = reason


class Scenario:
    def __init__(self, key, title, listener, messages, resumed=False):
        self.key, self.title, self.listener = key, title, listener
        self.messages, self.resumed = messages, resumed


SCENARIOS = [
    Scenario("tls", "1 message, implicit TLS (smtps)", "smtps", 1),
    Scenario("starttls", "1 message, STARTTLS (submission)", "submission", 1),
    Scenario("starttls_resumed",
             "1 message, STARTTLS, TLS session resumed from the previous run",
             "submission", 1, resumed=True),
    Scenario("starttls_20", "%d messages on one STARTTLS connection: total"
             % MULTI, "submission", MULTI),
]


# -- the message ---------------------------------------------------------------

def make_message(tag):
    """A text/plain message of exactly MESSAGE_SIZE bytes (CRLF line ends),
    carrying `tag` in its Subject and Message-ID."""
    head = ("From: UAV 7 <%s>\r\n"
            "To: Operations <%s>\r\n"
            "Subject: [UAV-7] Flight report %s\r\n"
            "Date: %s\r\n"
            "Message-ID: <%s@uav7.example.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n" % (USER, RCPT, tag,
                      email.utils.formatdate(time.time(), localtime=False),
                      tag)).encode()
    lines, i = [b"Flight 0042: 18 min, 6.2 km, max altitude 120 m, "
                b"battery 23 % at landing.\r\n", b"\r\n"], 0
    body = b"".join(lines)
    while len(head) + len(body) < MESSAGE_SIZE:
        lines.append(b"t+%04ds lat 47.%06d lon 8.%06d alt %03d m v %04.1f m/s"
                     b"\r\n" % (i * 10, 397000 + i * 37, 541000 + i * 29,
                                100 + i % 20, 12.0 + (i % 7) / 2))
        body = b"".join(lines)
        i += 1
    data = head + body
    # Trim the last line's payload so the total is exact and it ends in CRLF.
    excess = len(data) - MESSAGE_SIZE
    if excess:
        data = data[:-(excess + 2)] + b"\r\n"
    assert len(data) == MESSAGE_SIZE
    return data


def body_of(eml):
    """The body text of a message made by make_message (for --body)."""
    return eml.split(b"\r\n\r\n", 1)[1].decode("ascii").replace("\r\n", "\n")


class Tags:
    """Unique, fixed-length tags (so every message has the same size)."""

    def __init__(self):
        self.prefix = secrets.token_hex(3)
        self.n = 0

    def next(self):
        self.n += 1
        return "rt-%s-%05d" % (self.prefix, self.n)


# -- the clients ---------------------------------------------------------------

def _first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                           env=BASE_ENV)
        return (r.stdout or r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


class Client:
    name = ""
    version = ""
    note = None        # footnote for the table, or None

    def command(self, scenario, port, files, tags, ctx):
        """(argv, stdin_path or None, extra env) or NA."""
        raise NotImplementedError


class Uavmail(Client):
    name = "uavmail"

    def __init__(self, path):
        self.path = path
        self.version = _first_line([path, "version"])
        r = subprocess.run([path, "send", "--help"], capture_output=True,
                           text=True, env=BASE_ENV)
        usage = r.stdout + r.stderr
        # "--message" must not match e.g. "--message-id".
        self.has_message = re.search(r"--message(?![-\w])", usage) is not None
        self.has_session_file = "--tls-session-file" in usage
        if not self.has_message:
            self.note = ("uavmail lacks --message: it composed its own message "
                         "from --subject/--body (same body text)")

    def command(self, scenario, port, files, tags, ctx):
        if scenario.messages > 1 and not self.has_message:
            return NA("n/a (uavmail lacks --message)")
        if scenario.resumed and not self.has_session_file:
            return NA("n/a (uavmail lacks --tls-session-file)")
        argv = [self.path, "send", "--server", "localhost", "--port", str(port),
                "--security", "tls" if scenario.listener == "smtps"
                else "starttls",
                "--cafile", ctx["ca"], "--user", USER,
                "--password-env", PASSWORD_ENV, "--from", USER, "--to", RCPT]
        if self.has_message:
            for f in files:
                argv += ["--message", f]
        else:
            with open(files[0], "rb") as f:
                body = body_of(f.read())
            argv += ["--subject", "[UAV-7] Flight report %s" % tags[0],
                     "--body", body]
        if scenario.resumed:
            argv += ["--tls-session-file", ctx["session_file"]]
        return argv, None, {PASSWORD_ENV: PASSWORD}


class Curl(Client):
    name = "curl"

    def __init__(self):
        self.version = " ".join(_first_line(["curl", "--version"]).split()[:2])

    def command(self, scenario, port, files, tags, ctx):
        if scenario.resumed:
            return NA("n/a (keeps TLS sessions only within one process)")
        scheme = "smtps" if scenario.listener == "smtps" else "smtp"
        # An explicit path ("/bench.example", the EHLO name): without one curl
        # appends the upload's file name to the URL and uses that for EHLO.
        url = "%s://localhost:%d/bench.example" % (scheme, port)
        # -q first: ignore any .curlrc.  The credentials come from a 0600
        # netrc file so the password is not on the command line (ps).
        argv = ["curl", "-q", "--silent", "--show-error", "--ssl-reqd",
                "--cacert", ctx["ca"], "--netrc-file", ctx["netrc"],
                "--mail-from", USER, "--mail-rcpt", RCPT]
        # Several -T FILE URL pairs in one invocation: curl runs the transfers
        # one after the other and re-uses the open SMTP connection (verified
        # from Postfix's log: one connect per run).
        for f in files:
            argv += ["--upload-file", f, "--url", url]
        return argv, None, {}


class Msmtp(Client):
    name = "msmtp"

    def __init__(self):
        # "msmtp version 1.8.23" -> "msmtp 1.8.23"
        self.version = " ".join(_first_line(["msmtp", "--version"]).split()
                                [:3]).replace(" version", "")

    def command(self, scenario, port, files, tags, ctx):
        if scenario.resumed:
            return NA("n/a (keeps no TLS session between processes)")
        if scenario.messages > 1:
            return NA("n/a (one message per process)")
        conf = ctx["msmtprc"][scenario.listener]
        return (["msmtp", "-C", conf, "-a", "bench", RCPT], files[0], {})


def write_private(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def msmtp_config(path, port, starttls, ca):
    # msmtp refuses a config holding a password unless it is 0600.
    return write_private(path, (
        "defaults\n"
        "account bench\n"
        "host localhost\n"
        "port %d\n"
        "tls on\n"
        "tls_starttls %s\n"
        "tls_trust_file %s\n"
        "auth on\n"
        "user %s\n"
        "password %s\n"
        "from %s\n") % (port, "on" if starttls else "off", ca, USER,
                        PASSWORD, USER))


# -- Postfix's log ------------------------------------------------------------

SMTPD_LINE = re.compile(r"postfix/(?:submission|smtps)/smtpd\[\d+\]: (.*)$")
TLS_LINE = re.compile(r"TLS connection established from .*?: (TLSv[\d.]+) "
                      r"with cipher (\S+)")


def parse_log(text):
    """Facts about the smtpd connections in a slice of the maillog."""
    facts = {"connections": 0, "disconnects": 0, "tls": [], "resumed": 0,
             "commands": []}
    for line in text.splitlines():
        m = SMTPD_LINE.search(line)
        if not m:
            continue
        msg = m.group(1)
        if msg.startswith("connect from "):
            facts["connections"] += 1
        elif msg.startswith("disconnect from "):
            facts["disconnects"] += 1
            facts["commands"].append(msg.split("] ", 1)[-1])
        elif "Reusing old session" in msg:
            facts["resumed"] += 1
        else:
            t = TLS_LINE.search(msg)
            if t:
                facts["tls"].append("%s %s" % t.groups())
    return facts


def raise_tls_loglevel(pf):
    """smtpd_tls_loglevel=2 in the fixture's own config, then reload."""
    env = {"PATH": BASE_ENV["PATH"], "LANG": "C"}
    subprocess.run(["postconf", "-c", pf.confdir, "-e",
                    "smtpd_tls_loglevel=2"], check=True, env=env)
    # Postfix dozes on a just-written main.cf; backdate it (as the fixture).
    past = time.time() - 60
    os.utime(os.path.join(pf.confdir, "main.cf"), (past, past))
    subprocess.run(["postfix", "-c", pf.confdir, "reload"], check=True,
                   env=env, capture_output=True)


# -- one measured run ----------------------------------------------------------

class Runner:
    def __init__(self, pf, ports, ctx, rtt_s, msgdir):
        self.pf, self.ports, self.ctx, self.rtt = pf, ports, ctx, rtt_s
        self.msgdir = msgdir
        self.tags = Tags()
        self.newdir = os.path.join(pf.maildir, "new")

    def run(self, client, scenario):
        """Run client once for scenario; return the run's record or NA."""
        tags = [self.tags.next() for _ in range(scenario.messages)]
        files = []
        for tag in tags:
            path = os.path.join(self.msgdir, tag + ".eml")
            with open(path, "wb") as f:
                f.write(make_message(tag))
            files.append(path)
        port = self.ports[scenario.listener]
        cmd = client.command(scenario, port, files, tags, self.ctx)
        if isinstance(cmd, NA):
            return cmd
        argv, stdin_path, extra_env = cmd
        env = dict(BASE_ENV, HOME=self.ctx["home"], **extra_env)

        before = set(os.listdir(self.newdir))
        log_offset = os.path.getsize(self.pf.maillog)
        stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
        timeout = 60 + 30 * (self.rtt or 0) * scenario.messages
        try:
            t0 = time.monotonic()
            proc = subprocess.run(argv, stdin=stdin, capture_output=True,
                                  env=env, timeout=timeout)
            wall = time.monotonic() - t0
        finally:
            if stdin_path:
                stdin.close()
        if proc.returncode != 0:
            raise BenchError(
                "%s failed in scenario %s (exit %d)\ncommand: %s\nstdout:\n%s"
                "\nstderr:\n%s\nmaillog tail:\n%s" % (
                    client.name, scenario.key, proc.returncode,
                    shlex.join(argv), proc.stdout.decode(errors="replace"),
                    proc.stderr.decode(errors="replace")[-4000:],
                    self._log_tail()))
        self._check_delivered(client, scenario, before, tags)
        facts = self._log_facts(log_offset)
        return {"wall_s": round(wall, 4),
                "round_trips": (round(wall / self.rtt, 3) if self.rtt
                                else None),
                "connections": facts["connections"],
                "tls": sorted(set(facts["tls"])),
                "resumed_sessions": facts["resumed"],
                "smtp_commands": facts["commands"],
                "command": shlex.join(argv)}

    def _check_delivered(self, client, scenario, before, tags):
        """Every tag delivered exactly once, and nothing else."""
        deadline = time.monotonic() + 30
        while True:
            new = sorted(set(os.listdir(self.newdir)) - before)
            if len(new) >= len(tags) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        found = {}
        for name in new:
            with open(os.path.join(self.newdir, name), "rb") as f:
                data = f.read()
            hits = [t for t in tags if t.encode() in data]
            if len(hits) != 1:
                raise BenchError("%s/%s: unexpected message %s in the maildir"
                                 % (client.name, scenario.key, name))
            found[hits[0]] = found.get(hits[0], 0) + 1
        missing = [t for t in tags if found.get(t) != 1]
        if missing or len(new) != len(tags):
            raise BenchError(
                "%s/%s: %d of %d messages delivered (%d files); missing or "
                "duplicated: %s\nmaillog tail:\n%s" % (
                    client.name, scenario.key, len(found), len(tags), len(new),
                    ", ".join(missing[:5]), self._log_tail()))

    def _log_facts(self, offset):
        """Wait until Postfix logged the disconnect of every connection
        opened during the run (log lines come through postlogd, a little
        after the client exits), then parse that slice of the log."""
        deadline = time.monotonic() + 10
        while True:
            with open(self.pf.maillog, errors="replace") as f:
                f.seek(offset)
                facts = parse_log(f.read())
            if (facts["connections"] and facts["disconnects"]
                    >= facts["connections"]) or time.monotonic() > deadline:
                return facts
            time.sleep(0.05)

    def _log_tail(self):
        return "\n".join(self.pf.log_text().splitlines()[-25:])


# -- report ------------------------------------------------------------------

def summarize(records, rtt_s):
    walls = [r["wall_s"] for r in records]
    summary = {"median_wall_s": round(statistics.median(walls), 4),
               "min_wall_s": min(walls), "max_wall_s": max(walls)}
    if rtt_s:
        rts = [r["round_trips"] for r in records]
        summary.update({"median_round_trips": round(statistics.median(rts), 3),
                        "min_round_trips": min(rts),
                        "max_round_trips": max(rts)})
    return summary


def fmt(summary):
    return "%.2f (%.2f–%.2f)" % (summary["median_round_trips"],
                                 summary["min_round_trips"],
                                 summary["max_round_trips"])


def cell(result, scenario):
    """Table cell for one client in one scenario."""
    if result["status"] == "n/a":
        return result["reason"]
    text = fmt(result["summary"])
    runs = result["runs"]
    conns = {r["connections"] for r in runs}
    if conns != {1}:
        text += " **(%s connections!)**" % "/".join(map(str, sorted(conns)))
    if scenario.resumed:
        not_resumed = sum(1 for r in runs if not r["resumed_sessions"])
        if not_resumed:
            text += " **(session not resumed in %d of %d runs)**" % (
                not_resumed, len(runs))
    return text


def baseline_cell(result, base, scenario, rtt_s):
    if base["status"] == "n/a" or result["status"] == "n/a":
        return base.get("reason") or result.get("reason")
    wall = base["summary"]["median_wall_s"]
    net = (result["summary"]["median_wall_s"] - wall) / rtt_s
    text = "%.0f ms (net %.2f)" % (wall * 1000, net)
    if scenario.resumed and not all(r["resumed_sessions"]
                                    for r in base["runs"]):
        text += " **(not resumed)**"
    return text


def render(results, baseline, clients, args, command, postfix_version,
           elapsed):
    out = []
    out.append("Produced by `%s` (as root, from the repository root), "
               "against Postfix %s + Dovecot SASL on loopback behind "
               "`test/bench/latency_proxy.py` adding %g ms of round-trip time "
               "(TCP handshake included). Each cell: wall time from process "
               "start to exit ÷ RTT, median of %d runs (min–max)."
               % (command, postfix_version, args.rtt_ms, args.runs))
    out.append("")
    out.append("| scenario | " + " | ".join(c.version for c in clients)
               + " |")
    out.append("|---" * (len(clients) + 1) + "|")
    for sc in SCENARIOS:
        out.append("| %s | %s |" % (sc.title, " | ".join(
            cell(results[sc.key][c.name], sc) for c in clients)))
        if sc.key == "starttls_20":
            extra = []
            for c in clients:
                e = results["per_extra_message"][c.name]
                extra.append(e if isinstance(e, str) else "%.2f" % e)
            out.append("| each extra message on that connection "
                       "((total(%d) − total(1)) / %d) | %s |"
                       % (MULTI, MULTI - 1, " | ".join(extra)))
    tls = []
    for c in clients:
        seen = set()
        for sc in SCENARIOS:
            r = results[sc.key][c.name]
            for run in r.get("runs", []):
                seen.update(t.split()[0] for t in run["tls"])
        tls.append(", ".join(sorted(seen)) or "?")
    out.append("| TLS version negotiated (Postfix's log) | %s |"
               % " | ".join(tls))
    if baseline:
        out.append("")
        out.append("Local cost: the same runs through the proxy with 0 ms "
                   "added (median wall time of %d runs: process start, TLS "
                   "and SASL computation, Postfix's work), and the round "
                   "trips net of it, (wall − local) ÷ RTT:"
                   % args.baseline_runs)
        out.append("")
        out.append("| scenario | " + " | ".join(c.version for c in clients)
                   + " |")
        out.append("|---" * (len(clients) + 1) + "|")
        for sc in SCENARIOS:
            out.append("| %s | %s |" % (sc.title, " | ".join(
                baseline_cell(results[sc.key][c.name],
                              baseline[sc.key][c.name], sc,
                              args.rtt_ms / 1000.0) for c in clients)))
    notes = [c.note for c in clients if c.note]
    for n in notes:
        out.append("")
        out.append("Note: " + n + ".")
    out.append("")
    out.append("Details (SMTP commands per connection as counted by "
               "Postfix, from the last run):")
    out.append("")
    for sc in SCENARIOS:
        for c in clients:
            r = results[sc.key][c.name]
            if r["status"] == "ok":
                last = r["runs"][-1]
                out.append("- %s / %s: %s; %s%s" % (
                    sc.key, c.name, "; ".join(last["smtp_commands"]),
                    ", ".join(last["tls"]),
                    ", session resumed" if last["resumed_sessions"] else ""))
    out.append("")
    out.append("Benchmark wall time: %.0f s." % elapsed)
    return "\n".join(out)


# -- main ----------------------------------------------------------------------

def make_ctx(work, name, ports, pki, home):
    """Per-setup client files: msmtp configs name the port, and a uavmail
    session is bound to host and port, so each setup has its own."""
    d = os.path.join(work, name)
    os.makedirs(d, mode=0o700)
    return {
        "ca": pki["ca"], "home": home,
        "session_file": os.path.join(d, "uavmail-tls-session"),
        "netrc": write_private(os.path.join(d, "netrc"),
                               "machine localhost login %s password %s\n"
                               % (USER, PASSWORD)),
        "msmtprc": {
            "smtps": msmtp_config(os.path.join(d, "msmtprc-tls"),
                                  ports["smtps"], False, pki["ca"]),
            "submission": msmtp_config(os.path.join(d, "msmtprc-starttls"),
                                       ports["submission"], True, pki["ca"])},
    }


def measure_all(runner, clients, warmup, runs, label):
    """warmup + runs interleaved passes over every scenario and client."""
    results = {sc.key: {c.name: {"status": "ok", "runs": [],
                                 "warmup_runs": []}
                        for c in clients} for sc in SCENARIOS}
    total = warmup + runs
    for i in range(total):
        phase = "warm-up" if i < warmup else label
        for sc in SCENARIOS:
            for c in clients:
                res = results[sc.key][c.name]
                if res["status"] == "n/a":
                    continue
                if sc.resumed and "priming_run" not in res:
                    # Unmeasured full handshake that saves the session the
                    # measured runs resume.
                    rec = runner.run(c, sc)
                    if not isinstance(rec, NA):
                        res["priming_run"] = rec
                rec = runner.run(c, sc)
                if isinstance(rec, NA):
                    results[sc.key][c.name] = {"status": "n/a",
                                               "reason": rec.reason}
                    continue
                res["warmup_runs" if i < warmup else "runs"].append(rec)
                rt = ("= %6.2f RTT" % rec["round_trips"]
                      if rec["round_trips"] is not None else "")
                print("%-8s %d/%d  %-17s %-8s %7.3f s %s  conn=%d %s%s" % (
                    phase, i + 1, total, sc.key, c.name, rec["wall_s"], rt,
                    rec["connections"], ",".join(rec["tls"]),
                    " resumed" if rec["resumed_sessions"] else ""),
                    file=sys.stderr, flush=True)
    for sc in SCENARIOS:
        for c in clients:
            r = results[sc.key][c.name]
            if r["status"] == "ok":
                r["summary"] = summarize(r["runs"], runner.rtt)
    return results


def per_extra_message(results, clients):
    per_extra = {}
    for c in clients:
        one = results["starttls"][c.name]
        many = results["starttls_20"][c.name]
        if one["status"] == "ok" and many["status"] == "ok":
            per_extra[c.name] = round(
                (many["summary"]["median_round_trips"]
                 - one["summary"]["median_round_trips"]) / (MULTI - 1), 3)
        else:
            per_extra[c.name] = many.get("reason") or one.get("reason")
    return per_extra


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rtt-ms", type=float, default=200.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1,
                    help="unmeasured runs per client and scenario first")
    ap.add_argument("--baseline-runs", type=int, default=3,
                    help="runs through a 0 ms proxy (no added latency) to "
                    "show each client's local cost; 0 to skip")
    ap.add_argument("--json", help="write the raw numbers to this file")
    ap.add_argument("--uavmail", default=os.path.join(REPO, "build", "cli",
                                                      "uavmail"))
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary work directory")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.rtt_ms <= 0 or args.warmup < 0 \
            or args.baseline_runs < 0:
        ap.error("need --runs >= 1, --rtt-ms > 0, --warmup >= 0 and "
                 "--baseline-runs >= 0")
    if os.geteuid() != 0:
        sys.exit("roundtrips.py: must run as root (it starts Postfix)")
    for tool in ("curl", "msmtp", "postconf"):
        if shutil.which(tool, path=BASE_ENV["PATH"]) is None:
            sys.exit("roundtrips.py: %s not found (apt-get install curl msmtp "
                     "postfix dovecot-core)" % tool)
    if not os.access(args.uavmail, os.X_OK):
        sys.exit("roundtrips.py: %s not found: meson setup build && ninja -C "
                 "build" % args.uavmail)
    command = shlex.join(["/usr/bin/python3", "test/bench/roundtrips.py"]
                         + sys.argv[1:])
    started = time.monotonic()

    clients = [Uavmail(os.path.abspath(args.uavmail)), Curl(), Msmtp()]
    work = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    os.chmod(work, 0o755)   # postfix/dovecot/nobody must traverse it
    stops = []
    baseline = None
    try:
        pki = make_pki(os.path.join(work, "pki"))
        home = os.path.join(work, "home")
        msgdir = os.path.join(work, "msgs")
        for d in (home, msgdir):
            os.makedirs(d, mode=0o700)
        with PostfixFixture(os.path.join(work, "pf"), pki["server_chain"],
                            pki["server_key"], user=USER, password=PASSWORD,
                            domain="example.test") as pf:
            raise_tls_loglevel(pf)
            direct = {"submission": pf.submission_port,
                      "smtps": pf.smtps_port}
            proxied = {}
            for listener, target in direct.items():
                port, stop = start_proxy(target, args.rtt_ms)
                stops.append(stop)
                proxied[listener] = port
            runner = Runner(pf, proxied,
                            make_ctx(work, "proxied", proxied, pki, home),
                            args.rtt_ms / 1000.0, msgdir)
            results = measure_all(runner, clients, args.warmup, args.runs,
                                  "run")
            results["per_extra_message"] = per_extra_message(results, clients)
            if args.baseline_runs:
                # Through 0 ms proxies rather than straight to Postfix: on
                # direct loopback, Nagle on one side and a delayed ACK (40 ms)
                # on the other add stalls that are not the client's cost; the
                # proxy ACKs at once (see latency_proxy._quickack).
                relays = {}
                for listener, target in direct.items():
                    port, stop = start_proxy(target, 0)
                    stops.append(stop)
                    relays[listener] = port
                runner = Runner(pf, relays,
                                make_ctx(work, "relayed", relays, pki, home),
                                None, msgdir)
                baseline = measure_all(runner, clients, 0,
                                       args.baseline_runs, "baseline")
    except BenchError as e:
        print("roundtrips.py: FAILED: %s" % e, file=sys.stderr)
        return 1
    finally:
        for stop in stops:
            stop()
        if args.keep:
            print("work directory kept: %s" % work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    elapsed = time.monotonic() - started
    postfix_version = _first_line(["postconf", "-d", "-h", "mail_version"])
    print(render(results, baseline, clients, args, command, postfix_version,
                 elapsed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": command, "rtt_ms": args.rtt_ms,
                       "runs": args.runs, "warmup": args.warmup,
                       "baseline_runs": args.baseline_runs,
                       "message_size": MESSAGE_SIZE,
                       "postfix": postfix_version,
                       "clients": {c.name: c.version for c in clients},
                       "scenarios": {sc.key: sc.title for sc in SCENARIOS},
                       "results": results,
                       "baseline_no_added_latency": baseline,
                       "elapsed_s": round(elapsed, 1)}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
