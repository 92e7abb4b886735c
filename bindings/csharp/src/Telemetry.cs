// Telemetry recording, flight reports and alert rules (telemetry.h, alert.h).
using System;
using System.Runtime.InteropServices;

namespace Uavmail
{
    /// <summary>enum uavmail_telemetry_format; combine for ReportOptions.Formats.</summary>
    [Flags]
    public enum TelemetryFormat { Csv = 1, Gpx = 2, Kml = 4, GeoJson = 8, Cbor = 16 }

    /// <summary>enum uavmail_severity (the MAVLink MAV_SEVERITY values).</summary>
    public enum Severity { Emergency = 0, Alert = 1, Critical = 2, Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 }

    /// <summary>enum uavmail_flight_flags.</summary>
    [Flags]
    public enum FlightFlags { None = 0, Alert = 1, Crash = 2 }

    /// <summary>enum uavmail_alert_op.</summary>
    public enum AlertOp { Above = 1, Below = 2, Severity = 3 }

    /// <summary>One telemetry sample.  Every value starts unknown (NaN, -1, null).</summary>
    public sealed class Sample
    {
        /// <summary>UTC microseconds since 1970 (required).</summary>
        public long TimeUs;
        public double Lat = double.NaN, Lon = double.NaN, AltMsl = double.NaN, AltRel = double.NaN;
        public double GroundSpeed = double.NaN, Climb = double.NaN, Heading = double.NaN;
        public double Voltage = double.NaN, Current = double.NaN, Remaining = double.NaN, Hdop = double.NaN;
        public int FixType = -1, Satellites = -1;
        /// <summary>null: unknown.</summary>
        public bool? Armed, InAir;
        /// <summary>Flight mode such as "AUTO" (at most 23 bytes are kept), or null.</summary>
        public string Mode;
        /// <summary>Values of the channels added with AddChannel, in that order (NaN: unknown), or null.</summary>
        public double[] Custom;

        public Sample() { }
        public Sample(long timeUs) { TimeUs = timeUs; }
        public Sample(DateTimeOffset time) { TimeUs = Telemetry.ToUs(time); }
    }

    /// <summary>Options of a flight report.</summary>
    public sealed class ReportOptions
    {
        public TelemetryFormat Formats = TelemetryFormat.Csv | TelemetryFormat.Gpx | TelemetryFormat.GeoJson | TelemetryFormat.Cbor;
        /// <summary>Raw log (.ulg, .bin, .tlog) to attach if small enough, or null.</summary>
        public string RawLog;
        /// <summary>Largest encoded size of the raw log; 0: the default (10 MB).</summary>
        public ulong RawLogCap;
        /// <summary>Flags to force on (e.g. Crash).</summary>
        public FlightFlags Flags;
        /// <summary>Operator notes appended to the body, or null.</summary>
        public string Notes;
    }

    /// <summary>Figures of one flight (uavmail_flight_summary): NaN, or -1 for MinSatellites,
    /// where unknown.  Times are UTC microseconds.</summary>
    public sealed class FlightSummary
    {
        public ulong Samples;
        public long StartUs, EndUs, TakeoffUs, LandingUs;
        public double DurationS, AirTimeS, DistanceM, MaxAltRelM, MaxAltMslM, MaxSpeedMps;
        public double BatteryStartV, BatteryEndV, BatteryMinV, BatteryStartPct, BatteryEndPct;
        public double ChargeMah, EnergyWh;
        public int MinSatellites;
        public double MaxHdop, NoFixS;
        public uint FixLosses;
        public double HomeLat, HomeLon, HomeAltMsl, LandLat, LandLon, LandHomeM;
        public uint Events, Warnings;
        public FlightFlags Flags;

        public DateTimeOffset Start { get { return DateTimeOffset.FromUnixTimeMilliseconds(StartUs / 1000); } }
        public DateTimeOffset End { get { return DateTimeOffset.FromUnixTimeMilliseconds(EndUs / 1000); } }
    }

    /// <summary>A telemetry recorder for one flight.  Past MemorySamples samples spill to an
    /// unlinked temporary file, so memory stays flat.  Not thread-safe.
    /// A message with one of its attachments (Attach, Report) holds a reference on the
    /// recorder: disposing the Telemetry, or letting the GC finalize it, frees the C
    /// recorder only once every such message is disposed or finalized too.</summary>
    public sealed class Telemetry : IDisposable
    {
        internal readonly TelemetryHandle Handle;

        public Telemetry(string vehicle = null, ulong memorySamples = 0, string spillDir = null)
        {
            Library.EnsureFlight();
            var o = new TelemetryOptionsNative();
            NativeTm.uavmail_telemetry_options_init(ref o, 1);
            IntPtr v = Utf8.Alloc(vehicle), d = Utf8.Alloc(spillDir);
            try {
                o.vehicle = v;
                o.spill_dir = d;
                if (memorySamples != 0)
                    o.memory_samples = (UIntPtr)memorySamples;
                TelemetryHandle h;
                Errors.Check(NativeTm.uavmail_telemetry_new(out h, ref o), null);
                Handle = h;
            } finally {
                Marshal.FreeHGlobal(v);
                Marshal.FreeHGlobal(d);
            }
        }

        public void Dispose() { Handle.Dispose(); }

        internal static long ToUs(DateTimeOffset t) { return (t.UtcTicks - 621355968000000000L) / 10; }

        int Check(int rc) { return Errors.Check(rc, () => NativeTm.uavmail_telemetry_last_error(Handle)); }

        /// <summary>Declare a custom channel (before the first sample); returns its index in Sample.Custom.</summary>
        public int AddChannel(string name, string unit = null)
        {
            UIntPtr idx;
            Check(NativeTm.uavmail_telemetry_add_channel(Handle, Utf8.Z(name), Utf8.Z(unit), out idx));
            return (int)idx;
        }

        /// <summary>Record a sample; times must not go backwards.</summary>
        public void Append(Sample s)
        {
            if (s == null)
                throw new ArgumentNullException("s");
            var n = new SampleNative();
            NativeTm.uavmail_sample_init(ref n, 1);
            n.time_us = s.TimeUs;
            n.lat = s.Lat; n.lon = s.Lon; n.alt_msl = s.AltMsl; n.alt_rel = s.AltRel;
            n.ground_speed = s.GroundSpeed; n.climb = s.Climb; n.heading = s.Heading;
            n.voltage = s.Voltage; n.current = s.Current; n.remaining = s.Remaining; n.hdop = s.Hdop;
            n.fix_type = s.FixType; n.satellites = s.Satellites;
            n.armed = s.Armed.HasValue ? (s.Armed.Value ? 1 : 0) : -1;
            n.in_air = s.InAir.HasValue ? (s.InAir.Value ? 1 : 0) : -1;
            GCHandle mode = default(GCHandle), custom = default(GCHandle);
            try {
                if (s.Mode != null) {
                    mode = GCHandle.Alloc(Utf8.Z(s.Mode), GCHandleType.Pinned);
                    n.mode = mode.AddrOfPinnedObject();
                }
                if (s.Custom != null && s.Custom.Length > 0) {
                    custom = GCHandle.Alloc(s.Custom, GCHandleType.Pinned);
                    n.custom = custom.AddrOfPinnedObject();
                    n.custom_count = (UIntPtr)s.Custom.Length;
                }
                Check(NativeTm.uavmail_telemetry_append(Handle, ref n));
            } finally {
                if (mode.IsAllocated) mode.Free();
                if (custom.IsAllocated) custom.Free();
            }
        }

        /// <summary>Samples recorded so far.</summary>
        public ulong Count { get { return NativeTm.uavmail_telemetry_count(Handle); } }

        /// <summary>Set home (MAVLink HOME_POSITION); without it the first 3D fix is home.</summary>
        public void SetHome(double lat, double lon, double altMsl = double.NaN)
        { Check(NativeTm.uavmail_telemetry_set_home(Handle, lat, lon, altMsl)); }

        /// <summary>Record an event (a warning, a geofence breach, an alert) at the last position.</summary>
        public void AddEvent(long timeUs, Severity severity, string text)
        { Check(NativeTm.uavmail_telemetry_add_event(Handle, timeUs, (int)severity, Utf8.Z(text))); }

        public FlightSummary Summary()
        {
            var n = new FlightSummaryNative { version = 1 };
            Check(NativeTm.uavmail_telemetry_summary(Handle, ref n));
            return new FlightSummary {
                Samples = n.samples, StartUs = n.start_us, EndUs = n.end_us, TakeoffUs = n.takeoff_us,
                LandingUs = n.landing_us, DurationS = n.duration_s, AirTimeS = n.air_time_s,
                DistanceM = n.distance_m, MaxAltRelM = n.max_alt_rel_m, MaxAltMslM = n.max_alt_msl_m,
                MaxSpeedMps = n.max_speed_mps, BatteryStartV = n.battery_start_v, BatteryEndV = n.battery_end_v,
                BatteryMinV = n.battery_min_v, BatteryStartPct = n.battery_start_pct,
                BatteryEndPct = n.battery_end_pct, ChargeMah = n.charge_mah, EnergyWh = n.energy_wh,
                MinSatellites = n.min_satellites, MaxHdop = n.max_hdop, NoFixS = n.no_fix_s,
                FixLosses = n.fix_losses, HomeLat = n.home_lat, HomeLon = n.home_lon,
                HomeAltMsl = n.home_alt_msl, LandLat = n.land_lat, LandLon = n.land_lon,
                LandHomeM = n.land_home_m, Events = n.events, Warnings = n.warnings, Flags = (FlightFlags)n.flags,
            };
        }

        /// <summary>Write what was recorded so far in one format.</summary>
        public void WriteFile(TelemetryFormat format, string path)
        { Check(NativeTm.uavmail_telemetry_write_file(Handle, (int)format, Utf8.Z(path))); }

        /// <summary>Attach the samples recorded so far in one format, streamed while the
        /// message is sent; the message keeps the recorder alive.</summary>
        public Message Attach(Message m, TelemetryFormat format, string fileName = null)
        {
            Check(NativeTm.uavmail_telemetry_attach(Handle, m.Handle, (int)format, Utf8.Z(fileName)));
            HoldBy(m);
            return m;
        }

        /// <summary>Make the message the flight report: subject, text and HTML bodies and the
        /// attachments asked for; the message keeps the recorder alive.</summary>
        public Message Report(Message m, ReportOptions options = null)
        {
            options = options ?? new ReportOptions();
            var o = new ReportOptionsNative();
            NativeTm.uavmail_report_options_init(ref o, 1);
            o.formats = (uint)options.Formats;
            if (options.RawLogCap != 0)
                o.raw_log_cap = options.RawLogCap;
            o.flags = (uint)options.Flags;
            IntPtr raw = Utf8.Alloc(options.RawLog), notes = Utf8.Alloc(options.Notes);
            try {
                o.raw_log = raw;
                o.notes = notes;
                Check(NativeTm.uavmail_telemetry_report(Handle, m.Handle, ref o));
            } finally {
                Marshal.FreeHGlobal(raw);
                Marshal.FreeHGlobal(notes);
            }
            HoldBy(m);
            return m;
        }

        /// <summary>A reference count on the recorder's SafeHandle, released by the message's
        /// handle after uavmail_message_free: the recorder is freed after the last message.</summary>
        void HoldBy(Message m)
        {
            bool added = false;
            Handle.DangerousAddRef(ref added);
            if (added)
                m.Handle.Own(new Ref(Handle));
        }

        sealed class Ref : IDisposable
        {
            SafeHandle h;
            public Ref(SafeHandle handle) { h = handle; }
            public void Dispose()
            {
                if (h != null) {
                    h.DangerousRelease();
                    h = null;
                }
            }
        }

        /// <summary>Size of raw bytes once base64-encoded in a MIME part.</summary>
        public static ulong EncodedSize(ulong raw)
        {
            Library.EnsureFlight();
            return NativeTm.uavmail_encoded_size(raw);
        }
    }

    /// <summary>An alert handed to the callback (a copy: valid after the call).</summary>
    public sealed class Alert
    {
        public string Key, Text;
        public Severity Severity;
        /// <summary>The value that fired it; NaN for events and digests.</summary>
        public double Value;
        public long TimeUs;
        /// <summary>Alerts of this key suppressed since the last one sent.</summary>
        public uint Suppressed;
        /// <summary>A digest of suppressed alerts, not a new event.</summary>
        public bool Digest;
    }

    /// <summary>One rule; see also Alerts.Parse for the one-line syntax.</summary>
    public sealed class AlertRule
    {
        public string Key, Source;
        public AlertOp Op = AlertOp.Above;
        public double Trigger;
        /// <summary>Re-arm level; NaN: the trigger itself.</summary>
        public double Clear = double.NaN;
        public double HoldS;
        /// <summary>Minimum interval between alerts of this key; negative: the set's default.</summary>
        public double RepeatS = -1;
        public Severity Severity = Severity.Warning;
        /// <summary>"{value}" is replaced; null: generated.</summary>
        public string Text;
    }

    /// <summary>A set of alert rules and their state.  The callback runs on the calling thread
    /// inside Value, Event, Tick and Flush (a WinForms handler must BeginInvoke to the UI
    /// thread); an exception it throws stops processing and comes back out of that call as a
    /// CallbackException (InnerException).  Not thread-safe.</summary>
    public sealed class Alerts : IDisposable
    {
        readonly AlertsHandle handle;

        sealed class State { public Action<Alert> OnAlert; }

        /// <param name="onAlert">receives every alert.</param>
        /// <param name="repeatS">default minimum interval between alerts of a key; null: 300 s.</param>
        public Alerts(Action<Alert> onAlert, double? repeatS = null)
        {
            if (onAlert == null)
                throw new ArgumentNullException("onAlert");
            Library.EnsureFlight();
            var o = new AlertsOptionsNative();
            NativeTm.uavmail_alerts_options_init(ref o, 1);
            if (repeatS.HasValue)
                o.repeat_s = repeatS.Value;
            GCHandle g = GCHandle.Alloc(new State { OnAlert = onAlert });
            o.cb = TrampolinePtr;
            o.user_data = GCHandle.ToIntPtr(g);
            AlertsHandle h;
            int rc = NativeTm.uavmail_alerts_new(out h, ref o);
            if (rc < 0) {
                g.Free();
                Errors.Check(rc, null);
            }
            h.Own(new Rooted(g));
            handle = h;
        }

        sealed class Rooted : IDisposable
        {
            GCHandle g;
            public Rooted(GCHandle h) { g = h; }
            public void Dispose() { if (g.IsAllocated) g.Free(); }
        }

        public void Dispose() { handle.Dispose(); }

        int Check(int rc) { return Errors.Check(rc, () => NativeTm.uavmail_alerts_last_error(handle)); }

        /// <summary>Add a rule written as one line, e.g. "battery_low: remaining &lt; 20 clear 25".
        /// A syntax error throws UavmailException (Inval) whose message gives the column.</summary>
        public Alerts Parse(string line) { Check(NativeTm.uavmail_alerts_parse(handle, Utf8.Z(line))); return this; }

        public Alerts Add(AlertRule rule)
        {
            var r = new AlertRuleNative();
            NativeTm.uavmail_alert_rule_init(ref r, 1);
            IntPtr key = Utf8.Alloc(rule.Key), src = Utf8.Alloc(rule.Source), text = Utf8.Alloc(rule.Text);
            try {
                r.key = key;
                r.source = src;
                r.text = text;
                r.op = (int)rule.Op;
                r.trigger = rule.Trigger;
                r.clear = rule.Clear;
                r.hold_s = rule.HoldS;
                r.repeat_s = rule.RepeatS;
                r.severity = (int)rule.Severity;
                Check(NativeTm.uavmail_alerts_add(handle, ref r));
            } finally {
                Marshal.FreeHGlobal(key);
                Marshal.FreeHGlobal(src);
                Marshal.FreeHGlobal(text);
            }
            return this;
        }

        /// <summary>Feed a value (NaN: unknown) at UTC microseconds (not going backwards).</summary>
        public Alerts Value(string source, double value, long timeUs)
        { Check(NativeTm.uavmail_alerts_value(handle, Utf8.Z(source), value, timeUs)); return this; }

        /// <summary>Feed an event such as a STATUSTEXT.</summary>
        public Alerts Event(string source, Severity severity, string text, long timeUs)
        { Check(NativeTm.uavmail_alerts_event(handle, Utf8.Z(source), (int)severity, Utf8.Z(text), timeUs)); return this; }

        /// <summary>Let time pass: digests for keys whose repeat interval has ended.</summary>
        public Alerts Tick(long timeUs) { Check(NativeTm.uavmail_alerts_tick(handle, timeUs)); return this; }

        /// <summary>Digests for everything still suppressed (end of a flight).</summary>
        public Alerts Flush(long timeUs) { Check(NativeTm.uavmail_alerts_flush(handle, timeUs)); return this; }

        // Static: never collected, so the function pointer C holds stays valid.
        static readonly AlertCb Trampoline = OnAlertNative;
        static readonly IntPtr TrampolinePtr = Marshal.GetFunctionPointerForDelegate(Trampoline);

        [MonoPInvokeCallback(typeof(AlertCb))]
        static int OnAlertNative(IntPtr alert, IntPtr ud)
        {
            try {
                var st = (State)GCHandle.FromIntPtr(ud).Target;
                var a = (AlertNative)Marshal.PtrToStructure(alert, typeof(AlertNative));
                st.OnAlert(new Alert {
                    Key = Utf8.FromNative(a.key), Text = Utf8.FromNative(a.text), Severity = (Severity)a.severity,
                    Value = a.value, TimeUs = a.time_us, Suppressed = a.suppressed, Digest = a.digest != 0,
                });
                return 0;
            } catch (Exception e) {
                Errors.Stash(e);
                return 1;
            }
        }
    }

    public sealed class TelemetryHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { NativeTm.uavmail_telemetry_free(h); }
    }

    public sealed class AlertsHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { NativeTm.uavmail_alerts_free(h); }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int AlertCb(IntPtr alert, IntPtr ud);

    // ---- native layouts: field names and order exactly as in telemetry.h / alert.h ----
    [StructLayout(LayoutKind.Sequential)]
    internal struct SampleNative
    {
        public uint version;
        public long time_us;
        public double lat, lon, alt_msl, alt_rel, ground_speed, climb, heading, voltage, current, remaining, hdop;
        public int fix_type, satellites, armed, in_air;
        public IntPtr mode, custom;
        public UIntPtr custom_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct TelemetryOptionsNative
    {
        public uint version;
        public IntPtr vehicle;
        public UIntPtr memory_samples;
        public IntPtr spill_dir, allocator;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct FlightSummaryNative
    {
        public uint version;
        public ulong samples;
        public long start_us, end_us, takeoff_us, landing_us;
        public double duration_s, air_time_s, distance_m, max_alt_rel_m, max_alt_msl_m, max_speed_mps;
        public double battery_start_v, battery_end_v, battery_min_v, battery_start_pct, battery_end_pct;
        public double charge_mah, energy_wh;
        public int min_satellites;
        public double max_hdop, no_fix_s;
        public uint fix_losses;
        public double home_lat, home_lon, home_alt_msl, land_lat, land_lon, land_home_m;
        public uint events, warnings, flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct ReportOptionsNative
    {
        public uint version, formats;
        public IntPtr raw_log;
        public ulong raw_log_cap;
        public uint flags;
        public IntPtr notes;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct AlertRuleNative
    {
        public uint version;
        public IntPtr key, source;
        public int op;
        public double trigger, clear, hold_s, repeat_s;
        public int severity;
        public IntPtr text;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct AlertNative
    {
        public IntPtr key, text;
        public int severity;
        public double value;
        public long time_us;
        public uint suppressed;
        public int digest;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct AlertsOptionsNative
    {
        public uint version;
        public double repeat_s;
        public IntPtr cb, user_data, allocator;
    }

    /// <summary>Struct sizes and field offsets as this binding marshals them (checked
    /// against the C compiler by the tests).</summary>
    public static class NativeLayouts
    {
        public static string Describe()
        {
            var sb = new System.Text.StringBuilder();
            foreach (var t in new[] {
                         Tuple.Create("uavmail_sample", typeof(SampleNative)),
                         Tuple.Create("uavmail_telemetry_options", typeof(TelemetryOptionsNative)),
                         Tuple.Create("uavmail_flight_summary", typeof(FlightSummaryNative)),
                         Tuple.Create("uavmail_report_options", typeof(ReportOptionsNative)),
                         Tuple.Create("uavmail_alert_rule", typeof(AlertRuleNative)),
                         Tuple.Create("uavmail_alert", typeof(AlertNative)),
                         Tuple.Create("uavmail_alerts_options", typeof(AlertsOptionsNative)) }) {
                sb.Append("layout ").Append(t.Item1).Append(" sizeof ").Append(Marshal.SizeOf(t.Item2)).Append('\n');
                foreach (var f in t.Item2.GetFields())
                    sb.Append("layout ").Append(t.Item1).Append(' ').Append(f.Name).Append(' ')
                      .Append(Marshal.OffsetOf(t.Item2, f.Name).ToInt64()).Append('\n');
            }
            return sb.ToString();
        }
    }

    /// <summary>telemetry.h and alert.h: in libuavmail-flight (see Native).</summary>
    internal static class NativeTm
    {
        const string FlightLib = Native.FlightLib;
        const CallingConvention C = CallingConvention.Cdecl;

        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_sample_init(ref SampleNative s, uint version);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_options_init(ref TelemetryOptionsNative o, uint version);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_new(out TelemetryHandle t, ref TelemetryOptionsNative o);
        [DllImport(FlightLib, CallingConvention = C)] public static extern void uavmail_telemetry_free(IntPtr t);
        [DllImport(FlightLib, CallingConvention = C)] public static extern IntPtr uavmail_telemetry_last_error(TelemetryHandle t);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_add_channel(TelemetryHandle t, byte[] name, byte[] unit, out UIntPtr index);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_append(TelemetryHandle t, ref SampleNative s);
        [DllImport(FlightLib, CallingConvention = C)] public static extern ulong uavmail_telemetry_count(TelemetryHandle t);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_set_home(TelemetryHandle t, double lat, double lon, double alt);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_add_event(TelemetryHandle t, long timeUs, int severity, byte[] text);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_summary(TelemetryHandle t, ref FlightSummaryNative s);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_write_file(TelemetryHandle t, int format, byte[] path);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_attach(TelemetryHandle t, MessageHandle m, int format, byte[] fileName);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_report_options_init(ref ReportOptionsNative o, uint version);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_telemetry_report(TelemetryHandle t, MessageHandle m, ref ReportOptionsNative o);
        [DllImport(FlightLib, CallingConvention = C)] public static extern ulong uavmail_encoded_size(ulong raw);

        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alert_rule_init(ref AlertRuleNative r, uint version);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_options_init(ref AlertsOptionsNative o, uint version);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_new(out AlertsHandle a, ref AlertsOptionsNative o);
        [DllImport(FlightLib, CallingConvention = C)] public static extern void uavmail_alerts_free(IntPtr a);
        [DllImport(FlightLib, CallingConvention = C)] public static extern IntPtr uavmail_alerts_last_error(AlertsHandle a);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_add(AlertsHandle a, ref AlertRuleNative r);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_parse(AlertsHandle a, byte[] line);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_value(AlertsHandle a, byte[] source, double value, long timeUs);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_event(AlertsHandle a, byte[] source, int severity, byte[] text, long timeUs);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_tick(AlertsHandle a, long timeUs);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_alerts_flush(AlertsHandle a, long timeUs);
    }
}
