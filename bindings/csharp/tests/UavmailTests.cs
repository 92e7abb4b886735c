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
        Expect(Library.VersionMismatch(0x000300) == null, "version.loaded", Library.VersionString);
        Expect(Library.VersionMismatch(0x000305) == null, "version.patch");
        string why = Library.VersionMismatch(0x000400);
        Expect(why != null && why.Contains("written for libuavmail 0.3.0") && why.Contains("version 0.4.0"),
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

    // ---- telemetry and alerts ----
    const long T0 = 1795356180L * 1000000;      // 2026-11-22 14:03:00Z

    /// The synthetic flight every binding records (bindings_common checks the files).
    static Sample FlightSample(int i)
    {
        double rel = 50.0 * Math.Sin(Math.PI * i / 599);
        return new Sample(T0 + i * 100000L) {
            Lat = 47.3977 + 0.00005 * i, Lon = 8.5456 + 0.0004 * Math.Sin(i / 60.0), AltRel = rel,
            AltMsl = 400.0 + rel, Voltage = 16.8 - 0.003 * i, Current = 12.0, Remaining = 100.0 - 0.1 * i,
            Hdop = 0.8, FixType = 3, Satellites = 12, Armed = true, InAir = i >= 10 && i < 590,
            Mode = "AUTO", GroundSpeed = 5.0, Custom = new[] { 30.0 + i % 50 },
        };
    }

    static double Haversine(double lat1, double lon1, double lat2, double lon2)
    {
        const double R = 6371008.8, Rad = Math.PI / 180;
        double dlat = (lat2 - lat1) * Rad, dlon = (lon2 - lon1) * Rad;
        double h = Math.Sin(dlat / 2) * Math.Sin(dlat / 2) +
                   Math.Cos(lat1 * Rad) * Math.Cos(lat2 * Rad) * Math.Sin(dlon / 2) * Math.Sin(dlon / 2);
        return 2 * R * Math.Asin(Math.Sqrt(h));
    }

    /// Records the flight and makes the report; the recorder is referenced only from
    /// here, never disposed: after this returns only the message keeps it alive.
    static Message BuildReport(out FlightSummary sum, out WeakReference recorder)
    {
        var tm = new Telemetry("UAV-7", 64, work);     // spills to a file past 64 samples
        Expect(tm.AddChannel("thermal", "degC") == 0, "tm.channel");
        for (int i = 0; i < 600; i++)
            tm.Append(FlightSample(i));
        tm.AddEvent(T0 + 30000000, Severity.Warning, "Hot spot 79 degC");
        Expect(tm.Count == 600, "tm.count", tm.Count.ToString());
        sum = tm.Summary();
        var m = new Message().SetFrom("uav7@example.test", "UAV 7").AddTo("ops@example.test");
        tm.Report(m, new ReportOptions { Notes = "Inspection flight, north fence" });
        tm.Attach(m, TelemetryFormat.Kml, "track.kml");
        try {
            tm.Append(FlightSample(0));               // time going backwards
            Expect(false, "tm.error_code", "no exception");
        } catch (UavmailException e) {
            Expect(e.Code == ErrorCode.Inval && e.Message.Contains("backwards"), "tm.error_code", e.Message);
        }
        recorder = new WeakReference(tm);
        return m;
    }

    static void RunTelemetry()
    {
        FlightSummary sum;
        WeakReference recorder;
        Message m = BuildReport(out sum, out recorder);
        for (int k = 0; k < 3; k++) {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Expect(!recorder.IsAlive, "tm.collected", "the Telemetry object was finalized before the send");
        double dist = 0, maxRel = double.MinValue, maxMsl = double.MinValue;
        for (int i = 0; i < 600; i++) {
            Sample s = FlightSample(i);
            maxRel = Math.Max(maxRel, s.AltRel);
            maxMsl = Math.Max(maxMsl, s.AltMsl);
            if (i > 0) {
                Sample p = FlightSample(i - 1);
                dist += Haversine(p.Lat, p.Lon, s.Lat, s.Lon);
            }
        }
        Expect(sum.Samples == 600 && sum.StartUs == T0 && sum.EndUs == T0 + 599 * 100000L, "summary.times");
        Expect(Math.Abs(sum.DurationS - 59.9) < 1e-6 && Math.Abs(sum.AirTimeS - 58.0) < 1e-6, "summary.duration",
               sum.DurationS.ToString());
        Expect(Math.Abs(sum.DistanceM - dist) <= dist * 1e-9, "summary.distance", sum.DistanceM + " vs " + dist);
        Expect(Math.Abs(sum.MaxAltRelM - maxRel) < 1e-9 && Math.Abs(sum.MaxAltMslM - maxMsl) < 1e-9,
               "summary.altitude", sum.MaxAltRelM.ToString());
        Expect(sum.MinSatellites == 12 && sum.Events == 1 && sum.Warnings == 1 && sum.Flags == FlightFlags.None,
               "summary.counts");
        Expect(Math.Abs(sum.HomeLat - 47.3977) < 1e-12 && Math.Abs(sum.BatteryStartV - 16.8) < 1e-12 &&
               sum.Start == new DateTimeOffset(2026, 11, 22, 14, 3, 0, TimeSpan.Zero), "summary.home");
        using (m)
        using (var s = new Session(Server(password)))
            s.Send(m);

        // Disposing the recorder while a message still needs it only drops a reference.
        var tm2 = new Telemetry("UAV-8");
        tm2.Append(new Sample(T0) { Lat = 47.3977, Lon = 8.5456, FixType = 3 });
        var m2 = Basic("x");
        tm2.Attach(m2, TelemetryFormat.Csv, "a.csv");
        tm2.Dispose();
        Expect(m2.Size() > 0, "tm.dispose-deferred");
        m2.Dispose();
        try {
            var n = tm2.Count;
            Expect(false, "tm.disposed", n.ToString());
        } catch (ObjectDisposedException) {
            Expect(true, "tm.disposed");
        }
    }

    static void RunAlerts()
    {
        var got = new List<string>();
        using (var al = new Alerts(a => got.Add(a.Key + "@" + (a.TimeUs - T0) / 1000000 + ":" + a.Text +
                                                (a.Digest ? " (digest)" : "")), 0)) {
            al.Parse("battery_low: remaining < 20 clear 25 severity critical text Battery low: {value} % left");
            al.Add(new AlertRule { Key = "hot", Source = "thermal", Op = AlertOp.Above, Trigger = 80, Clear = 70 });
            double[] bat = { 19, 21, 19, 26, 19 };
            for (int i = 0; i < bat.Length; i++)
                al.Value("remaining", bat[i], T0 + i * 1000000L);
            al.Value("remaining", double.NaN, T0 + 6000000);
            double[] th = { 81, 75, 85, 69, 90 };
            for (int i = 0; i < th.Length; i++)
                al.Value("thermal", th[i], T0 + (10 + i) * 1000000L);
            Expect(got.Count == 4, "alerts.hysteresis", string.Concat(got.Select(g => g + "|")));
            try {
                al.Parse("bat remaining < 20");
                Expect(false, "alerts.parse-error", "no exception");
            } catch (UavmailException e) {
                Expect(e.Code == ErrorCode.Inval && e.Message.Contains("column 5: expected ':'"),
                       "alerts.parse-error", e.Message);
            }
        }
        var ev = new List<Alert>();
        using (var al = new Alerts(ev.Add, 60).Parse("warn: statustext <= warning")) {
            for (int i = 0; i < 3; i++)
                al.Event("statustext", Severity.Warning, "Geofence violated", T0 + i * 1000000L);
            al.Event("statustext", Severity.Info, "Takeoff complete", T0 + 4000000);
            al.Flush(T0 + 10000000);
        }
        Expect(ev.Count == 2 && !ev[0].Digest && ev[1].Digest && ev[1].Suppressed == 2 && double.IsNaN(ev[1].Value),
               "alerts.digest", ev.Count.ToString());

        // The callback is a fresh lambda referenced only by the binding; it forces
        // collections and then throws: the exception comes back out of Value().
        var boom = new Alerts(a => {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            throw new InvalidOperationException("mail queue is gone");
        });
        boom.Parse("low: remaining < 20");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        try {
            boom.Value("remaining", 10, T0);
            Expect(false, "alerts.callback", "no exception");
        } catch (CallbackException e) {
            Expect(e.InnerException is InvalidOperationException && e.InnerException.Message == "mail queue is gone",
                   "alerts.callback", e.Message);
        }
        boom.Value("remaining", 30, T0 + 1);        // usable afterwards
        boom.Dispose();
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
            case "telemetry": RunTelemetry(); break;
            case "alerts": RunAlerts(); break;
            case "layout": Console.Write(NativeLayouts.Describe()); break;
            default: Expect(false, "scenario", args[0]); break;
            }
        } catch (Exception e) {
            Expect(false, "uncaught", e.ToString());
        }
        return failures == 0 ? 0 : 1;
    }
}
