// A Mission Planner plugin that e-mails warnings and a flight report on landing.
//
// In Mission Planner the class derives from MissionPlanner.Plugin.Plugin and is
// dropped into plugins/ as a DLL (or as this .cs file with
// "//loadassembly: Uavmail" at the top); Host.cs is the vehicle's CurrentState and
// WarningEngine.WarningMessage carries user-defined warnings (DRONE-NOTES 1.1).
// Built here without Mission Planner, so the few types it touches are
// stand-ins with the same shape (compile with -define:STANDALONE); the uavmail
// part is what a real plugin contains: a Uavmail.Telemetry recorder fed from
// CurrentState every Loop(), Uavmail.Alerts rules fed with the same values and the
// WarningEngine's warnings, and on disarm the recorder's flight report (summary
// bodies, CSV/GPX/CBOR track) queued in the crash-safe outbox.
//
//   mono MissionPlannerPlugin.exe PORT CAFILE USER PASSWORD WORKDIR   (simulates one flight)
using System;
using System.IO;
using Uavmail;

#if STANDALONE
namespace MissionPlanner.Plugin
{
    public class CurrentState
    {
        public bool armed;
        public float alt, altasl, groundspeed, battery_voltage, battery_remaining, gpshdop, satcount, gpsstatus;
        public double lat, lng;
        public string mode = "";
        public DateTime gpstime;
    }
    public class PluginHost { public CurrentState cs = new CurrentState(); }
    public abstract class Plugin
    {
        public PluginHost Host;
        public abstract string Name { get; }
        public abstract string Version { get; }
        public abstract string Author { get; }
        public float loopratehz = 1;
        public abstract bool Init();
        public abstract bool Loaded();
        public virtual bool Loop() { return true; }
        public abstract bool Exit();
    }
}
namespace MissionPlanner.Warnings
{
    public static class WarningEngine { public static event EventHandler<string> WarningMessage;
        public static void Raise(string text) { var h = WarningMessage; if (h != null) h(null, text); } }
}
#endif

namespace UavmailPlugin
{
    public class UavmailPlugin : MissionPlanner.Plugin.Plugin
    {
        public override string Name { get { return "uavmail"; } }
        public override string Version { get { return "0.2.0"; } }
        public override string Author { get { return "uavmail"; } }

        public Settings Server;
        public string OutboxDir, From = "uav@example.com", To = "ops@example.com", Vehicle = "UAV";
        /// <summary>Alert rules (uavmail_alerts_parse syntax), e.g. from the plugin's settings page.</summary>
        public string[] Rules = {
            "battery_low: remaining < 20 clear 25 hold 2 severity critical text Battery low: {value} % left",
            "gps_lost: fix_type < 3 clear 3 hold 2 severity warning text GPS 3D fix lost",
            "warnings: statustext <= critical",
        };
        public int Delivered;
        Outbox outbox;
        Alerts alerts;
        Telemetry flight;                            // the flight being recorded, or null
        bool wasArmed;

        public override bool Init()
        {
            loopratehz = 1;                          // Loop() once a second
            return true;
        }

        public override bool Loaded()
        {
            outbox = new Outbox(OutboxDir, new OutboxSettings {
                OnOutcome = (id, outcome, code, reply) => { if (outcome == Outcome.Delivered) Delivered++; },
                Clock = () => NowUs() / 1000000,     // expiry and retries on GPS time
            });
            alerts = new Alerts(OnAlert);
            foreach (string r in Rules)
                alerts.Parse(r);
            MissionPlanner.Warnings.WarningEngine.WarningMessage += OnWarning;
            return true;
        }

        /// <summary>UTC microseconds from the autopilot's GPS time, else the local clock.</summary>
        long NowUs()
        {
            DateTime t = Host.cs.gpstime.Year > 2000 ? Host.cs.gpstime : DateTime.UtcNow;
            return (DateTime.SpecifyKind(t, DateTimeKind.Utc).Ticks - 621355968000000000L) / 10;
        }

        public override bool Loop()
        {
            var cs = Host.cs;
            long now = NowUs();
            if (cs.armed && !wasArmed)
                flight = new Telemetry(Vehicle);
            if (flight != null && cs.armed) {
                flight.Append(new Sample(now) {
                    Lat = cs.lat, Lon = cs.lng, AltRel = cs.alt, AltMsl = cs.altasl, GroundSpeed = cs.groundspeed,
                    Voltage = cs.battery_voltage, Remaining = cs.battery_remaining, Hdop = cs.gpshdop,
                    FixType = (int)cs.gpsstatus, Satellites = (int)cs.satcount, Armed = cs.armed, Mode = cs.mode,
                });
            }
            alerts.Value("remaining", cs.battery_remaining, now);
            alerts.Value("fix_type", cs.gpsstatus, now);
            if (!cs.armed && wasArmed)
                Report();
            wasArmed = cs.armed;
            Flush();
            return true;
        }

        public override bool Exit()
        {
            MissionPlanner.Warnings.WarningEngine.WarningMessage -= OnWarning;
            alerts.Dispose();
            outbox.Dispose();
            return true;
        }

        Message NewMessage()
        {
            return new Message().SetFrom(From, "Mission Planner").AddTo(To).AddHeader("X-Vehicle-Id", Vehicle);
        }

        /// <summary>WarningEngine (user-defined warnings) feeds the event rules and the flight log.</summary>
        void OnWarning(object sender, string text)
        {
            long now = NowUs();
            if (flight != null)
                flight.AddEvent(now, Severity.Critical, text);
            alerts.Event("statustext", Severity.Critical, text, now);
            Flush();
        }

        /// <summary>Alert callback: runs inside alerts.Value/Event on the calling (UI) thread.</summary>
        void OnAlert(Alert a)
        {
            if (flight != null && !double.IsNaN(a.Value))   // value alerts go into the flight too
                flight.AddEvent(a.TimeUs, a.Severity, a.Text);
            using (var m = NewMessage().SetSubject("[" + Vehicle + "] ALERT: " + a.Text).SetText(a.Text + "\n"))
                outbox.Enqueue(m, Priority.Alert, a.TimeUs / 1000000 + 3600);
        }

        void Report()
        {
            alerts.Flush(NowUs());
            using (var m = NewMessage()) {
                flight.Report(m, new ReportOptions {
                    Formats = TelemetryFormat.Csv | TelemetryFormat.Gpx | TelemetryFormat.Cbor });
                outbox.Enqueue(m);                   // rendered to disk here
            }
            flight.Dispose();                        // (a message still holding it would keep it alive)
            flight = null;
        }

        void Flush()
        {
            try {
                outbox.Flush(Server);
            } catch (UavmailException e) {           // stays queued; retried next Loop()
                Console.Error.WriteLine("uavmail: " + e.Message);
            }
        }
    }

#if STANDALONE
    static class Simulation
    {
        static int Main(string[] args)
        {
            var host = new MissionPlanner.Plugin.PluginHost();
            string pw = args[3];
            var p = new UavmailPlugin {
                Host = host, OutboxDir = Path.Combine(args[4], "mp-outbox"), From = "uav7@example.test",
                To = "ops@example.test", Vehicle = "UAV-7",
                Server = new Settings { Host = "localhost", Port = uint.Parse(args[0]), Security = Security.Tls,
                                        CaFile = args[1], Username = args[2], Password = () => pw },
            };
            p.Init();
            p.Loaded();
            host.cs.armed = true;
            host.cs.battery_voltage = 14.8f;
            host.cs.battery_remaining = 64;
            host.cs.gpsstatus = 3;
            host.cs.satcount = 14;
            host.cs.mode = "AUTO";
            var t0 = new DateTime(2026, 11, 22, 14, 3, 0, DateTimeKind.Utc);
            for (int i = 0; i < 5; i++) {
                host.cs.gpstime = t0.AddSeconds(i);
                host.cs.altasl = 500 + 10 * i;
                host.cs.lat = 47.1234567 + i * 1e-5;
                host.cs.lng = 8.5432100;
                host.cs.alt = 10 * i;
                p.Loop();
            }
            MissionPlanner.Warnings.WarningEngine.Raise("Battery critical");
            host.cs.armed = false;
            host.cs.gpstime = t0.AddSeconds(5);
            p.Loop();
            p.Exit();
            Console.WriteLine("delivered " + p.Delivered);
            return p.Delivered == 2 ? 0 : 1;
        }
    }
#endif
}
