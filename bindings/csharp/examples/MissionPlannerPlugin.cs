// A Mission Planner plugin that e-mails warnings and a flight report on landing.
//
// In Mission Planner the class derives from MissionPlanner.Plugin.Plugin and is
// dropped into plugins/ as a DLL (or as this .cs file with
// "//loadassembly: Uavmail" at the top); Host.cs is the vehicle's CurrentState and
// WarningEngine.WarningMessage carries user-defined warnings (DRONE-NOTES 1.1).
// Built here without Mission Planner, so the few types it touches are
// stand-ins with the same shape (compile with -define:STANDALONE); the uavmail
// part is what a real plugin contains.
//
//   mono MissionPlannerPlugin.exe PORT CAFILE USER PASSWORD WORKDIR   (simulates one flight)
using System;
using System.IO;
using System.Text;
using Uavmail;

#if STANDALONE
namespace MissionPlanner.Plugin
{
    public class CurrentState { public bool armed; public float alt; public float battery_voltage; public double lat, lng; }
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
        public override string Version { get { return "0.1.0"; } }
        public override string Author { get { return "uavmail"; } }

        public Settings Server;
        public string OutboxDir, From = "uav@example.com", To = "ops@example.com";
        public int Delivered;
        Outbox outbox;
        bool wasArmed;
        float maxAlt;
        StringBuilder track = new StringBuilder();

        public override bool Init()
        {
            loopratehz = 1;                          // Loop() once a second
            return true;
        }

        public override bool Loaded()
        {
            outbox = new Outbox(OutboxDir, new OutboxSettings {
                OnOutcome = (id, outcome, code, reply) => { if (outcome == Outcome.Delivered) Delivered++; },
            });
            MissionPlanner.Warnings.WarningEngine.WarningMessage += OnWarning;
            return true;
        }

        public override bool Loop()
        {
            var cs = Host.cs;
            if (cs.armed && !wasArmed) {
                track.Clear().Append("lat,lng,alt_m\n");
                maxAlt = 0;
            }
            if (cs.armed) {
                maxAlt = Math.Max(maxAlt, cs.alt);
                track.AppendFormat(System.Globalization.CultureInfo.InvariantCulture, "{0:F7},{1:F7},{2:F1}\n",
                                   cs.lat, cs.lng, cs.alt);
            } else if (wasArmed) {
                Report(cs);
            }
            wasArmed = cs.armed;
            Flush();
            return true;
        }

        public override bool Exit()
        {
            MissionPlanner.Warnings.WarningEngine.WarningMessage -= OnWarning;
            outbox.Dispose();
            return true;
        }

        Message NewMessage(string subject, string text)
        {
            return new Message().SetFrom(From, "Mission Planner").AddTo(To).SetSubject(subject).SetText(text);
        }

        void OnWarning(object sender, string text)
        {
            using (var m = NewMessage("ALERT: " + text, text + "\n"))
                outbox.Enqueue(m, Priority.Alert, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 3600);
            Flush();
        }

        void Report(MissionPlanner.Plugin.CurrentState cs)
        {
            string body = string.Format(System.Globalization.CultureInfo.InvariantCulture,
                "Flight report\nmax altitude: {0:F1} m\nbattery: {1:F2} V\n", maxAlt, cs.battery_voltage);
            // The telemetry writers (issue 7) will add a .tlog / CBOR log here.
            using (var m = NewMessage("Flight report", body))
            using (var csv = new MemoryStream(Encoding.ASCII.GetBytes(track.ToString()))) {
                m.AttachStream(csv, "track.csv", csv.Length, "text/csv");
                outbox.Enqueue(m);                   // rendered to disk here: csv may go
            }
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
                To = "ops@example.test",
                Server = new Settings { Host = "localhost", Port = uint.Parse(args[0]), Security = Security.Tls,
                                        CaFile = args[1], Username = args[2], Password = () => pw },
            };
            p.Init();
            p.Loaded();
            host.cs.armed = true;
            host.cs.battery_voltage = 14.8f;
            for (int i = 0; i < 5; i++) {
                host.cs.lat = 47.1234567 + i * 1e-5;
                host.cs.lng = 8.5432100;
                host.cs.alt = 10 * i;
                p.Loop();
            }
            MissionPlanner.Warnings.WarningEngine.Raise("Battery critical");
            host.cs.armed = false;
            p.Loop();
            p.Exit();
            Console.WriteLine("delivered " + p.Delivered);
            return p.Delivered == 2 ? 0 : 1;
        }
    }
#endif
}
