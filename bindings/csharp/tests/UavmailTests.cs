// Scenarios for the C# binding, driven by bindings/tests/run_csharp.py against the
// loopback TLS + AUTH server (which then checks what was delivered):
//
//   mono UavmailTests.exe SCENARIO PORT CAFILE USER PASSWORD WORKDIR
//
// Prints "ok NAME: detail" per check and exits non-zero if any failed.
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using Uavmail;

static class UavmailTests
{
    static int failures;
    static uint port;
    static string cafile, user, password, work;

    static void Expect(bool cond, string name, string detail = "")
    {
        Console.WriteLine((cond ? "ok " : "FAIL ") + name + ": " + (detail ?? "").Replace("\n", " | "));
        if (!cond)
            failures++;
    }

    static Settings Server(string pw)
    {
        return new Settings {
            Host = "localhost", Port = port, Security = Security.Tls, CaFile = cafile,
            Username = user, Password = () => pw,
        };
    }

    static Message Basic(string subject)
    {
        return new Message().SetFrom("uav7@example.test", "UAV 7").AddTo("ops@example.test")
                            .SetSubject(subject).SetText("Landed.\n");
    }

    static long VmHwm()
    {
        foreach (string line in File.ReadAllLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:"))
                return long.Parse(line.Substring(6).Trim().Split(' ')[0]) * 1024;
        return -1;
    }

    static void Version()
    {
        Expect(Library.VersionMismatch(0x000100) == null, "version.loaded", Library.VersionString);
        Expect(Library.VersionMismatch(0x000105) == null, "version.patch");
        string why = Library.VersionMismatch(0x000200);
        Expect(why != null && why.Contains("written for libuavmail 0.1.0") && why.Contains("version 0.2.0"),
               "version.mismatch", why);
        Expect(Library.VersionMismatch(0x010000) != null, "version.major");
    }

    static void Send()
    {
        var lines = new List<string>();
        var s = Server(password);
        s.Trace = (d, line) => { if (d == TraceDirection.Client) lines.Add(line); };
        long gpsTime = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 3600;
        s.Clock = () => gpsTime;                  // the Date header comes from here
        Console.WriteLine("clock " + gpsTime);
        using (var m = Basic("[UAV-7] Flight report \u00e9t\u00e9"))
        using (var stream = File.OpenRead(Path.Combine(work, "stream.bin")))
        using (var session = new Session(s)) {
            m.AddHeader("X-Vehicle-Id", "7");
            m.AttachFile(Path.Combine(work, "flight.bin"));
            m.AttachBytes(Encoding.ASCII.GetBytes("time,lat,lon\r\n.\r\n1,47.1,8.5\n"), "track.csv", "text/csv");
            m.AttachStream(stream, "stream.bin", stream.Length);
            Recipient[] r = session.Send(m);
            Expect(r.Length == 1 && r[0].Accepted && r[0].Address == "ops@example.test", "send.recipients",
                   r[0].SmtpCode.ToString());
            Expect(session.IsSecure && session.TlsVersion.StartsWith("TLS"), "send.secure", session.TlsVersion);
            Expect(lines.Any(l => l.StartsWith("AUTH")), "send.trace");
            using (var m2 = Basic("second on the session"))
                session.Send(m2, true);
        }
    }

    static void RunProbe()
    {
        ProbeReport r = Probe.Run(Server(password));
        Expect(r.Ok && r.Text.Contains("login was accepted"), "probe.ok", r.Text.Substring(0, 60));
        Expect(r.Json.Contains("\"auth_mechanisms\""), "probe.json");
        ProbeReport bad = Probe.Run(Server("wrong"));
        Expect(bad.Verdict == ErrorCode.Auth && bad.Text.Contains("Fix:"), "probe.wrong-password",
               ((int)bad.Verdict).ToString());
    }

    static void RunOutbox()
    {
        var delivered = new List<string>();
        var opts = new OutboxSettings { OnOutcome = (id, o, code, reply) => { if (o == Outcome.Delivered) delivered.Add(id); } };
        using (var ob = new Outbox(Path.Combine(work, "outbox"), opts)) {
            using (var m = Basic("routine"))
                ob.Enqueue(m);
            using (var m = Basic("BATTERY CRITICAL"))
                ob.Enqueue(m, Priority.Alert);
            var entries = ob.Entries();
            Expect(entries.Count == 2 && ob.Stats().Alerts == 1, "outbox.enqueue", entries.Count.ToString());
            var alert = entries.Single(e => e.Priority == Priority.Alert);
            Expect(alert.Subject == "BATTERY CRITICAL" && alert.State == EntryState.Queued &&
                   alert.Recipients == 1 && alert.Size > 100 && alert.MessageId.Contains("@"),
                   "outbox.entry", alert.Subject + " " + alert.MessageId + " " + alert.Size);
            int sent = ob.Flush(Server(password));
            Expect(sent == 2 && delivered.Count == 2, "outbox.flush", sent.ToString());
            Expect(ob.Stats().Queued == 0, "outbox.empty");
        }
    }

    static void Errors()
    {
        try {
            using (var m = new Message()) m.AddTo("ops@@example.test");
            Expect(false, "error.address", "no exception");
        } catch (AddressException e) {
            Expect(e.Code == ErrorCode.Address && e.Message.Contains("\"ops@@example.test\""), "error.address", e.Message);
        }
        try {
            using (var m = Basic("x"))
            using (var s = new Session(Server("wrong"))) s.Send(m);
            Expect(false, "error.auth", "no exception");
        } catch (AuthException e) {
            Expect(e.Code == ErrorCode.Auth && e.SmtpCode == 535 && e.Message.Contains("authentication failed") &&
                   e.Hint.Contains("password") && !e.IsTemporary && !e.Message.Contains("wrong"),
                   "error.auth", e.Message);
        }
        try {
            string gone = Path.Combine(work, "deleted.ulg");
            File.WriteAllText(gone, "x");
            using (var m = Basic("x"))
            using (var s = new Session(Server(password))) {
                m.AttachFile(gone);
                File.Delete(gone);
                s.Send(m);
            }
            Expect(false, "error.file", "no exception");
        } catch (FileException e) {
            Expect(e.Message.Contains("cannot be opened"), "error.file", e.Message);
        }
        try {
            using (var m = Basic("x"))
            using (var s = new Session(Server(password))) {
                m.AttachStream(new ThrowingStream(), "a.bin");
                s.Send(m);
            }
            Expect(false, "error.callback", "no exception");
        } catch (CallbackException e) {
            Expect(e.InnerException is IOException && e.InnerException.Message == "sensor log vanished",
                   "error.callback", e.Message);
        }
        try {
            var m = Basic("x");
            m.Dispose();
            m.SetSubject("y");
            Expect(false, "error.disposed", "no exception");
        } catch (ObjectDisposedException e) {
            Expect(true, "error.disposed", e.Message);
        }
    }

    sealed class ThrowingStream : MemoryStream
    {
        public override int Read(byte[] b, int o, int n) { throw new IOException("sensor log vanished"); }
    }

    static void Big()
    {
        long heapPeak = 0;
        foreach (string name in new[] { "small.bin", "big.bin" }) {
            using (var m = Basic(name))
            using (var f = File.OpenRead(Path.Combine(work, name)))
            using (var s = new Session(Server(password))) {
                m.AttachStream(f, name, f.Length, null,
                               n => heapPeak = Math.Max(heapPeak, GC.GetTotalMemory(false)));
                s.Send(m);
            }
            Console.WriteLine("hwm " + name + " " + VmHwm());
        }
        Console.WriteLine("managed heap peak " + (heapPeak >> 20) + " MiB");
        Expect(heapPeak < 32L << 20, "big.managed-heap", heapPeak.ToString());
    }

    /// Every callback is a fresh lambda referenced only by the binding; each call
    /// forces a full collection and runs finalizers.  A collected delegate or a
    /// freed GCHandle would crash or corrupt the attachment.
    static void Gc()
    {
        int reads = 0, traces = 0, passwords = 0;
        Action collect = () => { GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); };
        byte[] payload = new byte[150000];
        for (int i = 0; i < payload.Length; i++)
            payload[i] = (byte)(i % 251);
        using (var s = new Session(new Settings {
                   Host = "localhost", Port = port, Security = Security.Tls, CaFile = cafile, Username = user,
                   Password = () => { passwords++; collect(); return password; },
                   Trace = (d, l) => { traces++; collect(); } })) {
            for (int k = 0; k < 3; k++) {
                using (var m = Basic("gc " + k)) {
                    m.AttachStream(new SlowStream(payload), "gc.bin", null, null, n => { reads++; collect(); });
                    collect();
                    s.Send(m);
                }
                // Messages dropped without Dispose: their finalizers free them (the
                // SafeHandle path) while the session keeps sending.
                for (int j = 0; j < 50; j++)
                    Basic("garbage").AttachStream(new MemoryStream(new byte[10]), "g.bin");
                collect();
            }
        }
        Expect(reads > 3 * 20 && traces > 10 && passwords == 1, "gc.callbacks",
               "reads " + reads + ", traces " + traces + ", passwords " + passwords);
    }

    /// Hands out at most 4 KiB per read, so the send makes many callbacks.
    sealed class SlowStream : MemoryStream
    {
        public SlowStream(byte[] b) : base(b, false) { }
        public override int Read(byte[] b, int o, int n) { return base.Read(b, o, Math.Min(n, 4096)); }
    }

    static int Main(string[] args)
    {
        if (args.Length != 6) {
            Console.Error.WriteLine("usage: UavmailTests.exe SCENARIO PORT CAFILE USER PASSWORD WORKDIR");
            return 2;
        }
        port = uint.Parse(args[1]);
        cafile = args[2];
        user = args[3];
        password = args[4];
        work = args[5];
        try {
            switch (args[0]) {
            case "version": Version(); break;
            case "send": Send(); break;
            case "probe": RunProbe(); break;
            case "outbox": RunOutbox(); break;
            case "errors": Errors(); break;
            case "big": Big(); break;
            case "gc": Gc(); break;
            default: Expect(false, "scenario", args[0]); break;
            }
        } catch (Exception e) {
            Expect(false, "uncaught", e.ToString());
        }
        return failures == 0 ? 0 : 1;
    }
}
