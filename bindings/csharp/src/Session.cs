// Server settings, SMTP sessions and the connection probe.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Uavmail
{
    public enum Security { Auto = 0, Tls = 1, StartTls = 2, None = 3 }
    public enum TraceDirection { Client = 0, Server = 1, Info = 2 }

    /// <summary>How to reach and log in to the submission server.  null means "not set".</summary>
    public sealed class Settings
    {
        public string Host;
        public uint Port;
        public Security Security = Security.Auto;
        public string CaFile, CaPath;
        public string Username;
        /// <summary>Called at AUTH time; the library wipes its copy right after use.</summary>
        public Func<string> Password;
        /// <summary>OAuth2 access token; the argument is true when the last one was refused.</summary>
        public Func<bool, string> Token;
        public string AuthMechanism, HeloName;
        public uint ConnectTimeoutMs, CommandTimeoutMs;
        /// <summary>Every protocol line (credentials redacted).</summary>
        public Action<TraceDirection, string> Trace;
        /// <summary>Seconds since 1970 UTC from the application's clock (GPS time).</summary>
        public Func<long> Clock;
        public string TlsSessionFile, TlsPinSha256, ClientCert, ClientKey;

        /// <summary>Host, port and security of a known provider ("gmail", "office365", ...).</summary>
        public static Settings FromProvider(string name)
        {
            Library.EnsureCompatible();
            var o = new SessionOptions();
            Native.uavmail_session_options_init(ref o, NativeSettings.Version);
            Errors.Check(Native.uavmail_provider_preset(Utf8.Z(name), ref o, IntPtr.Zero), null);
            return new Settings { Host = Utf8.FromNative(o.host), Port = o.port, Security = (Security)o.security };
        }

        public static IList<string> ProviderNames()
        {
            var out_ = new List<string>();
            for (int i = 0; ; i++) {
                IntPtr p = Native.uavmail_provider_name((UIntPtr)i);
                if (p == IntPtr.Zero)
                    return out_;
                out_.Add(Utf8.FromNative(p));
            }
        }
    }

    /// <summary>A filled uavmail_session_options: unmanaged UTF-8 copies of the strings and a
    /// GCHandle to the callbacks, both released by Dispose (after the C side is done).</summary>
    internal sealed class NativeSettings : IDisposable
    {
        public const uint Version = 3;
        public SessionOptions Options;
        readonly List<IntPtr> strings = new List<IntPtr>();
        GCHandle self;
        readonly Settings s;

        public NativeSettings(Settings settings)
        {
            s = settings;
            Native.uavmail_session_options_init(ref Options, Version);
            Options.host = Str(s.Host);
            Options.port = s.Port;
            Options.security = (int)s.Security;
            Options.cafile = Str(s.CaFile);
            Options.capath = Str(s.CaPath);
            Options.username = Str(s.Username);
            Options.auth_mechanism = Str(s.AuthMechanism);
            Options.helo_name = Str(s.HeloName);
            Options.connect_timeout_ms = s.ConnectTimeoutMs;
            Options.command_timeout_ms = s.CommandTimeoutMs;
            Options.tls_session_file = Str(s.TlsSessionFile);
            Options.tls_pin_sha256 = Str(s.TlsPinSha256);
            Options.client_cert = Str(s.ClientCert);
            Options.client_key = Str(s.ClientKey);
            self = GCHandle.Alloc(this);
            IntPtr ud = GCHandle.ToIntPtr(self);
            if (s.Password != null) { Options.password_cb = PasswordPtr; Options.password_user_data = ud; }
            if (s.Token != null) { Options.token_cb = TokenPtr; Options.token_user_data = ud; }
            if (s.Trace != null) { Options.trace_cb = TracePtr; Options.trace_user_data = ud; }
            if (s.Clock != null) { Options.time_cb = TimePtr; Options.time_user_data = ud; }
        }

        IntPtr Str(string v)
        {
            IntPtr p = Utf8.Alloc(v);
            if (p != IntPtr.Zero)
                strings.Add(p);
            return p;
        }

        public void Dispose()
        {
            foreach (IntPtr p in strings)
                Marshal.FreeHGlobal(p);
            strings.Clear();
            if (self.IsAllocated)
                self.Free();
        }

        // Static delegates: alive for the whole process, so their function pointers too.
        static readonly PasswordCb PasswordTramp = OnPassword;
        static readonly TokenCb TokenTramp = OnToken;
        static readonly TraceCb TraceTramp = OnTrace;
        static readonly TimeCb TimeTramp = OnTime;
        static readonly IntPtr PasswordPtr = Marshal.GetFunctionPointerForDelegate(PasswordTramp);
        static readonly IntPtr TokenPtr = Marshal.GetFunctionPointerForDelegate(TokenTramp);
        static readonly IntPtr TracePtr = Marshal.GetFunctionPointerForDelegate(TraceTramp);
        static readonly IntPtr TimePtr = Marshal.GetFunctionPointerForDelegate(TimeTramp);

        static Settings Of(IntPtr ud) { return ((NativeSettings)GCHandle.FromIntPtr(ud).Target).s; }

        static int WriteSecret(string v, IntPtr buf, UIntPtr cap, IntPtr len)
        {
            byte[] b = System.Text.Encoding.UTF8.GetBytes(v ?? "");
            if ((ulong)b.Length > (ulong)cap)
                throw new ArgumentException("uavmail: credential longer than the library's buffer");
            Marshal.Copy(b, 0, buf, b.Length);
            Array.Clear(b, 0, b.Length);
            Marshal.WriteIntPtr(len, (IntPtr)b.Length);
            return 0;
        }

        [MonoPInvokeCallback(typeof(PasswordCb))]
        static int OnPassword(IntPtr buf, UIntPtr cap, IntPtr len, IntPtr ud)
        {
            try { return WriteSecret(Of(ud).Password(), buf, cap, len); }
            catch (Exception e) { Errors.Stash(e); return 1; }
        }

        [MonoPInvokeCallback(typeof(TokenCb))]
        static int OnToken(IntPtr buf, UIntPtr cap, IntPtr len, int refresh, IntPtr ud)
        {
            try { return WriteSecret(Of(ud).Token(refresh != 0), buf, cap, len); }
            catch (Exception e) { Errors.Stash(e); return 1; }
        }

        [MonoPInvokeCallback(typeof(TraceCb))]
        static void OnTrace(int direction, IntPtr line, UIntPtr len, IntPtr ud)
        {
            try { Of(ud).Trace((TraceDirection)direction, Utf8.FromNative(line, (int)len)); }
            catch (Exception e) { Errors.Stash(e); }
        }

        [MonoPInvokeCallback(typeof(TimeCb))]
        static long OnTime(IntPtr ud)
        {
            try { return Of(ud).Clock(); }
            catch (Exception e) { Errors.Stash(e); return -1; }
        }
    }

    /// <summary>The result for one recipient of the last message sent.</summary>
    public sealed class Recipient
    {
        public string Address { get; internal set; }
        public int SmtpCode { get; internal set; }
        public string Reply { get; internal set; }
        public bool Accepted { get { return SmtpCode >= 200 && SmtpCode < 300; } }
    }

    /// <summary>An SMTP session: connects on the first send, keeps the connection for later
    /// ones; Dispose says QUIT.  Callbacks run on the thread that calls Send.</summary>
    public sealed class Session : IDisposable
    {
        readonly SessionHandle handle;

        public Session(Settings settings)
        {
            Library.EnsureCompatible();
            var ns = new NativeSettings(settings);
            SessionHandle h;
            int rc = Native.uavmail_session_new(out h, ref ns.Options);
            if (rc < 0) {
                ns.Dispose();
                Errors.Check(rc, null);
            }
            h.Own(ns);            // released only after uavmail_session_free
            handle = h;
        }

        public void Dispose() { handle.Dispose(); }

        int Check(int rc) { return Errors.Check(rc, () => Native.uavmail_session_last_error(handle)); }

        /// <summary>Send; returns every recipient's result.  ServerException with
        /// ErrorCode.Recipients when only some were accepted.</summary>
        public Recipient[] Send(Message message, bool final = false)
        {
            int rc = final ? Native.uavmail_session_send_final(handle, message.Handle)
                           : Native.uavmail_session_send(handle, message.Handle);
            Check(rc);
            return Recipients();
        }

        public Recipient[] Recipients()
        {
            int n = (int)Native.uavmail_session_recipient_count(handle);
            var r = new Recipient[n];
            for (int i = 0; i < n; i++) {
                IntPtr a, t;
                int c;
                Native.uavmail_session_recipient(handle, (UIntPtr)i, out a, out c, out t);
                r[i] = new Recipient { Address = Utf8.FromNative(a), SmtpCode = c, Reply = Utf8.FromNative(t) };
            }
            return r;
        }

        public void Quit() { Check(Native.uavmail_session_quit(handle)); }
        public bool IsSecure { get { return Native.uavmail_session_is_secure(handle) != 0; } }
        public string TlsVersion { get { return Utf8.FromNative(Native.uavmail_session_tls_version(handle)); } }
    }

    /// <summary>The result of Probe.Run: Verdict 0 means a send would work.</summary>
    public sealed class ProbeReport
    {
        public ErrorCode Verdict { get; internal set; }
        public string Text { get; internal set; }
        public string Json { get; internal set; }
        public bool Ok { get { return Verdict == ErrorCode.Ok; } }
    }

    public static class Probe
    {
        /// <summary>Test a configuration without sending, and say what to fix.</summary>
        public static ProbeReport Run(Settings settings, bool tryLogin = true)
        {
            Library.EnsureCompatible();
            using (var ns = new NativeSettings(settings)) {
                ProbeHandle h;
                Errors.Check(Native.uavmail_probe(out h, ref ns.Options, tryLogin ? 1 : 0), null);
                using (h) {
                    return new ProbeReport {
                        Verdict = (ErrorCode)Native.uavmail_probe_verdict(h),
                        Text = Utf8.FromNative(Native.uavmail_probe_text(h)),
                        Json = Utf8.FromNative(Native.uavmail_probe_json(h)),
                    };
                }
            }
        }
    }
}
