// P/Invoke declarations, UTF-8 marshalling, handles and the version check.
// Targets .NET Framework 4.7.2 (Mission Planner) and runs on Mono 6.x.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Uavmail
{
    /// <summary>Marks methods C calls back, for Mono's ahead-of-time compiler (iOS/Android);
    /// Mono recognises the attribute by name.</summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType) { DelegateType = delegateType; }
        public Type DelegateType { get; private set; }
    }

    /// <summary>The loaded libuavmail does not fit this binding.</summary>
    public sealed class LibraryVersionException : Exception
    {
        public LibraryVersionException(string message) : base(message) { }
    }

    /// <summary>Version information and the compatibility check.</summary>
    public static class Library
    {
        /// <summary>The library version this binding was written for (packed 0xMMmmpp).</summary>
        public const uint BindingVersion = 0x000300;

        /// <summary>null when a library of packed version <paramref name="runtime"/> fits, else why not.</summary>
        public static string VersionMismatch(uint runtime)
        {
            uint maj = runtime >> 16, min = (runtime >> 8) & 0xff, pat = runtime & 0xff;
            uint wmaj = BindingVersion >> 16, wmin = (BindingVersion >> 8) & 0xff;
            bool ok = maj == wmaj && runtime >= BindingVersion && (maj != 0 || min == wmin);
            if (ok)
                return null;
            return string.Format("uavmail: this C# binding was written for libuavmail {0}.{1}.{2} " +
                                 "but the loaded library is version {3}.{4}.{5}; install a matching " +
                                 "libuavmail (or Uavmail.dll)", wmaj, wmin, BindingVersion & 0xff,
                                 maj, min, pat);
        }

        static string checkedResult;
        static bool isChecked;
        static readonly object gate = new object();

        /// <summary>Throws LibraryVersionException (or a DllNotFoundException with advice) once.</summary>
        public static void EnsureCompatible()
        {
            lock (gate) {
                if (!isChecked) {
                    uint v;
                    try {
                        v = Native.uavmail_version();
                    } catch (DllNotFoundException e) {
                        throw new DllNotFoundException("uavmail: libuavmail.so.1 (uavmail.dll on Windows) " +
                            "was not found: install it, or put its directory in LD_LIBRARY_PATH / next " +
                            "to the program; " + e.Message, e);
                    }
                    checkedResult = VersionMismatch(v);
                    isChecked = true;
                }
            }
            if (checkedResult != null)
                throw new LibraryVersionException(checkedResult);
        }

        static bool flightFound;

        /// <summary>EnsureCompatible, then a DllNotFoundException with advice (once found: nothing)
        /// if libuavmail-flight, which Outbox, Telemetry and Alerts need, cannot be loaded.</summary>
        internal static void EnsureFlight()
        {
            EnsureCompatible();
            lock (gate) {
                if (flightFound)
                    return;
                try {
                    NativeTm.uavmail_encoded_size(0);
                } catch (DllNotFoundException e) {
                    throw new DllNotFoundException("uavmail: Outbox, Telemetry and Alerts need " +
                        "libuavmail-flight.so.1 (uavmail-flight.dll on Windows), which was not found: " +
                        "install it, or put its directory in LD_LIBRARY_PATH / next to the program; " +
                        e.Message, e);
                }
                flightFound = true;
            }
        }

        /// <summary>The loaded library's version text, e.g. "0.1.0 (mbedTLS 2.28.3)".</summary>
        public static string VersionString { get { return Utf8.FromNative(Native.uavmail_version_string()); } }

        public static string StrError(int code) { return Utf8.FromNative(Native.uavmail_strerror(code)); }
    }

    /// <summary>Explicit UTF-8 both ways (the default ANSI marshalling is not UTF-8 on .NET Framework).</summary>
    internal static class Utf8
    {
        /// <summary>NUL-terminated UTF-8 bytes, or null for null.</summary>
        public static byte[] Z(string s)
        {
            if (s == null)
                return null;
            if (s.IndexOf('\0') >= 0)
                throw new ArgumentException("uavmail: strings must not contain NUL");
            int n = Encoding.UTF8.GetByteCount(s);
            byte[] b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        public static string FromNative(IntPtr p)
        {
            if (p == IntPtr.Zero)
                return "";
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0)
                n++;
            return FromNative(p, n);
        }

        public static string FromNative(IntPtr p, int n)
        {
            if (p == IntPtr.Zero || n == 0)
                return "";
            byte[] b = new byte[n];
            Marshal.Copy(p, b, 0, n);
            return Encoding.UTF8.GetString(b);
        }

        /// <summary>An unmanaged NUL-terminated UTF-8 copy (for option structs); free with FreeHGlobal.</summary>
        public static IntPtr Alloc(string s)
        {
            byte[] b = Z(s);
            if (b == null)
                return IntPtr.Zero;
            IntPtr p = Marshal.AllocHGlobal(b.Length);
            Marshal.Copy(b, 0, p, b.Length);
            return p;
        }
    }

    /// <summary>Base of the handles: frees the C object first, then everything C could still call.</summary>
    public abstract class UavmailHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        readonly List<GCHandle> pinnedState = new List<GCHandle>();
        readonly List<IDisposable> owned = new List<IDisposable>();

        protected UavmailHandle() : base(true) { }

        /// <summary>Root `state` until this handle is released; returns the user_data pointer for C.</summary>
        internal IntPtr Keep(object state)
        {
            GCHandle g = GCHandle.Alloc(state);
            pinnedState.Add(g);
            return GCHandle.ToIntPtr(g);
        }

        internal void Own(IDisposable d) { owned.Add(d); }

        protected abstract void Free(IntPtr h);

        protected override bool ReleaseHandle()
        {
            Free(handle);
            foreach (GCHandle g in pinnedState)
                g.Free();
            pinnedState.Clear();
            foreach (IDisposable d in owned)
                d.Dispose();
            owned.Clear();
            return true;
        }
    }

    public sealed class MessageHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { Native.uavmail_message_free(h); }
    }

    public sealed class SessionHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { Native.uavmail_session_free(h); }
    }

    public sealed class OutboxHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { Native.uavmail_outbox_close(h); }
    }

    public sealed class ProbeHandle : UavmailHandle
    {
        protected override void Free(IntPtr h) { Native.uavmail_probe_free(h); }
    }

    // ---- callback signatures (cdecl, as the C library calls them) ----
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate IntPtr ReadCb(IntPtr buf, UIntPtr cap, ulong offset, IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int PasswordCb(IntPtr buf, UIntPtr cap, IntPtr len, IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int TokenCb(IntPtr buf, UIntPtr cap, IntPtr len, int refresh, IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate long TimeCb(IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void TraceCb(int direction, IntPtr line, UIntPtr len, IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void OutcomeCb(IntPtr id, int outcome, int smtpCode, IntPtr reply, IntPtr ud);
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate int EntryCb(IntPtr entry, IntPtr ud);

    [StructLayout(LayoutKind.Sequential)]
    internal struct SessionOptions
    {
        public uint version;
        public IntPtr host;
        public uint port;
        public int security;
        public IntPtr cafile, capath, username;
        public IntPtr password_cb, password_user_data;
        public IntPtr helo_name;
        public uint connect_timeout_ms, command_timeout_ms;
        public IntPtr transport, allocator;
        public IntPtr trace_cb, trace_user_data;
        public uint timeout_greeting_ms, timeout_mail_ms, timeout_rcpt_ms, timeout_data_ms,
                    timeout_block_ms, timeout_data_end_ms;
        public IntPtr tls_session_file;
        public IntPtr token_cb, token_user_data;
        public IntPtr auth_mechanism;
        public int trace_auth_raw;
        public IntPtr time_cb, time_user_data;
        public IntPtr tls_pin_sha256, client_cert, client_key;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct OutboxOptions
    {
        public uint version;
        public IntPtr allocator;
        public uint max_messages;
        public ulong max_bytes;
        public uint retry_initial_s, retry_max_s, rate_per_hour;
        public int drop_oldest_bulk;
        public IntPtr outcome_cb, outcome_user_data;
        public IntPtr time_cb, time_user_data;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct OutboxEntryNative
    {
        public uint version;
        public IntPtr id;
        public int state, priority;
        public uint attempts;
        public int outcome_unknown;
        public long created, next_attempt, expires;
        public ulong size;
        public UIntPtr recipients, delivered, failed;
        public IntPtr message_id, subject, last_error;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct OutboxStatsNative
    {
        public uint version;
        public UIntPtr queued, alerts, dead, corrupt;
        public ulong bytes;
        public uint sent_last_hour;
    }

    internal static class Native
    {
        // The mail core and the flight library (outbox, telemetry, alerts; NativeTm).  On Mono
        // "uavmail" resolves to libuavmail.so and "uavmail-flight" to libuavmail-flight.so
        // through LD_LIBRARY_PATH, or through dllmaps in Uavmail.dll.config (to libuavmail.so.1
        // and libuavmail-flight.so.1); on Windows to uavmail.dll and uavmail-flight.dll.
        const string Lib = "uavmail";
        internal const string FlightLib = "uavmail-flight";
        const CallingConvention C = CallingConvention.Cdecl;

        [DllImport(Lib, CallingConvention = C)] public static extern uint uavmail_version();
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_version_string();
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_strerror(int code);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_error_is_temporary(int code);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_error_code(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_error_message(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_error_hint(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_error_smtp_code(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_error_enhanced_code(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_error_server_reply(IntPtr d);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_error_tls_code(IntPtr d);

        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_new(out MessageHandle m, IntPtr opts);
        [DllImport(Lib, CallingConvention = C)] public static extern void uavmail_message_free(IntPtr m);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_message_last_error(MessageHandle m);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_from(MessageHandle m, byte[] a, byte[] n);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_add_recipient(MessageHandle m, int kind, byte[] a, byte[] n);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_reply_to(MessageHandle m, byte[] a, byte[] n);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_subject(MessageHandle m, byte[] s);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_add_header(MessageHandle m, byte[] n, byte[] v);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_text(MessageHandle m, byte[] t, UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_html(MessageHandle m, byte[] t, UIntPtr len);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_attach_file(MessageHandle m, byte[] path, byte[] ct, byte[] fn);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_attach_memory(MessageHandle m, byte[] data, UIntPtr len, byte[] ct, byte[] fn);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_attach_callback(MessageHandle m, ReadCb cb, long size, byte[] ct, byte[] fn, IntPtr ud);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_add_inline_file(MessageHandle m, byte[] path, byte[] ct, byte[] cid);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_set_prepared_file(MessageHandle m, byte[] path);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_check(MessageHandle m);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_size(MessageHandle m, uint flags, out ulong size);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_message_write_file(MessageHandle m, byte[] path);

        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_options_init(ref SessionOptions o, uint version);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_provider_preset(byte[] name, ref SessionOptions o, IntPtr notes);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_provider_name(UIntPtr index);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_new(out SessionHandle s, ref SessionOptions o);
        [DllImport(Lib, CallingConvention = C)] public static extern void uavmail_session_free(IntPtr s);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_send(SessionHandle s, MessageHandle m);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_send_final(SessionHandle s, MessageHandle m);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_quit(SessionHandle s);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_is_secure(SessionHandle s);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_session_tls_version(SessionHandle s);
        [DllImport(Lib, CallingConvention = C)] public static extern UIntPtr uavmail_session_recipient_count(SessionHandle s);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_session_recipient(SessionHandle s, UIntPtr i, out IntPtr addr, out int code, out IntPtr reply);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_session_last_error(SessionHandle s);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_probe(out ProbeHandle r, ref SessionOptions o, int tryLogin);
        [DllImport(Lib, CallingConvention = C)] public static extern void uavmail_probe_free(IntPtr r);
        [DllImport(Lib, CallingConvention = C)] public static extern int uavmail_probe_verdict(ProbeHandle r);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_probe_text(ProbeHandle r);
        [DllImport(Lib, CallingConvention = C)] public static extern IntPtr uavmail_probe_json(ProbeHandle r);

        // outbox.h: libuavmail-flight
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_open(out OutboxHandle o, byte[] dir, ref OutboxOptions opts);
        [DllImport(FlightLib, CallingConvention = C)] public static extern void uavmail_outbox_close(IntPtr o);
        [DllImport(FlightLib, CallingConvention = C)] public static extern IntPtr uavmail_outbox_last_error(OutboxHandle o);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_enqueue(OutboxHandle o, MessageHandle m, int prio, long expires, byte[] dedup, byte[] id);
        [DllImport(FlightLib, CallingConvention = C)] public static extern void uavmail_outbox_set_link(OutboxHandle o, int up);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_flush(OutboxHandle o, ref SessionOptions opts, out UIntPtr sent);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_list(OutboxHandle o, EntryCb cb, IntPtr ud);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_remove(OutboxHandle o, byte[] id);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_purge(OutboxHandle o, int all);
        [DllImport(FlightLib, CallingConvention = C)] public static extern int uavmail_outbox_stats_get(OutboxHandle o, ref OutboxStatsNative s);
    }
}
