// Exceptions mapped from the library's error codes, and the carrier for
// exceptions thrown inside callbacks.
using System;

namespace Uavmail
{
    /// <summary>enum uavmail_error.</summary>
    public enum ErrorCode
    {
        Ok = 0, NoMem = -1, Inval = -2, State = -3, Address = -4, Header = -5, Encoding = -6,
        File = -7, TooBig = -8, Resolve = -9, Connect = -10, Timeout = -11, Io = -12, Tls = -13,
        Cert = -14, NoTls = -15, Protocol = -16, Injection = -17, Auth = -18, NoAuth = -19,
        TempFail = -20, PermFail = -21, Recipients = -22, Unknown = -23, Config = -24,
        Callback = -25, Closed = -26, Internal = -27, Again = -28, Full = -29
    }

    /// <summary>A uavmail call failed: the code and everything the library knows about it.</summary>
    public class UavmailException : Exception
    {
        public ErrorCode Code { get; private set; }
        /// <summary>How to fix it, or "".</summary>
        public string Hint { get; private set; }
        /// <summary>The SMTP reply code involved (e.g. 535), or 0.</summary>
        public int SmtpCode { get; private set; }
        /// <summary>The enhanced status code (e.g. "5.7.8"), or "".</summary>
        public string EnhancedCode { get; private set; }
        /// <summary>The server's reply text, or "".</summary>
        public string ServerReply { get; private set; }
        public long TlsCode { get; private set; }
        /// <summary>Worth retrying later unchanged (network trouble, 4xx, outcome unknown).</summary>
        public bool IsTemporary { get { return Native.uavmail_error_is_temporary((int)Code) != 0; } }

        public UavmailException(ErrorCode code, string message, string hint = "", int smtpCode = 0,
                                string enhanced = "", string reply = "", long tls = 0,
                                Exception inner = null)
            : base(Describe(code, message, hint), inner)
        {
            Code = code;
            Hint = hint ?? "";
            SmtpCode = smtpCode;
            EnhancedCode = enhanced ?? "";
            ServerReply = reply ?? "";
            TlsCode = tls;
        }

        static string Describe(ErrorCode code, string message, string hint)
        {
            string s = "UAVMAIL_E" + code.ToString().ToUpperInvariant() + ": " +
                       (string.IsNullOrEmpty(message) ? Library.StrError((int)code) : message);
            return string.IsNullOrEmpty(hint) ? s : s + " (hint: " + hint + ")";
        }
    }

    /// <summary>Address, Header, Encoding: input that cannot go into a message.</summary>
    public class AddressException : UavmailException
    {
        public AddressException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>File: an attachment, CA file or directory cannot be used.</summary>
    public class FileException : UavmailException
    {
        public FileException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>Resolve, Connect, Timeout, Io, Closed: the server is unreachable or the link was lost.</summary>
    public class NetworkException : UavmailException
    {
        public NetworkException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>Tls, Cert, NoTls, Injection: the connection could not be secured.</summary>
    public class TlsException : UavmailException
    {
        public TlsException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>Auth, NoAuth: credentials refused or no usable mechanism.</summary>
    public class AuthException : UavmailException
    {
        public AuthException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>TempFail, PermFail, Recipients, Protocol: the server refused or misbehaved.</summary>
    public class ServerException : UavmailException
    {
        public ServerException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>Full: the outbox reached its limits.</summary>
    public class OutboxFullException : UavmailException
    {
        public OutboxFullException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }
    /// <summary>Callback: an application callback aborted the operation (InnerException says why).</summary>
    public class CallbackException : UavmailException
    {
        public CallbackException(ErrorCode c, string m, string h, int s, string e, string r, long t, Exception i)
            : base(c, m, h, s, e, r, t, i) { }
    }

    internal static class Errors
    {
        // An exception thrown in a callback cannot cross the C frames: the trampoline
        // stores it here and returns an abort code; Check() rethrows it on return.
        // Callbacks run on the calling thread, so thread-static storage is exact.
        [ThreadStatic] static Exception pending;

        public static void Stash(Exception e)
        {
            if (pending == null)
                pending = e;
        }

        public static UavmailException FromDetail(int rc, IntPtr d, Exception inner)
        {
            ErrorCode c = (ErrorCode)rc;
            string m = "", h = "", e = "", r = "";
            int s = 0;
            long t = 0;
            if (d != IntPtr.Zero && Native.uavmail_error_code(d) == rc) {
                m = Utf8.FromNative(Native.uavmail_error_message(d));
                h = Utf8.FromNative(Native.uavmail_error_hint(d));
                s = Native.uavmail_error_smtp_code(d);
                e = Utf8.FromNative(Native.uavmail_error_enhanced_code(d));
                r = Utf8.FromNative(Native.uavmail_error_server_reply(d));
                t = (int)Native.uavmail_error_tls_code(d).ToInt64();
            }
            switch (c) {
            case ErrorCode.Address: case ErrorCode.Header: case ErrorCode.Encoding:
                return new AddressException(c, m, h, s, e, r, t, inner);
            case ErrorCode.File: return new FileException(c, m, h, s, e, r, t, inner);
            case ErrorCode.Resolve: case ErrorCode.Connect: case ErrorCode.Timeout:
            case ErrorCode.Io: case ErrorCode.Closed:
                return new NetworkException(c, m, h, s, e, r, t, inner);
            case ErrorCode.Tls: case ErrorCode.Cert: case ErrorCode.NoTls: case ErrorCode.Injection:
                return new TlsException(c, m, h, s, e, r, t, inner);
            case ErrorCode.Auth: case ErrorCode.NoAuth: return new AuthException(c, m, h, s, e, r, t, inner);
            case ErrorCode.TempFail: case ErrorCode.PermFail: case ErrorCode.Recipients:
            case ErrorCode.Protocol:
                return new ServerException(c, m, h, s, e, r, t, inner);
            case ErrorCode.Full: return new OutboxFullException(c, m, h, s, e, r, t, inner);
            case ErrorCode.Callback: return new CallbackException(c, m, h, s, e, r, t, inner);
            default: return new UavmailException(c, m, h, s, e, r, t, inner);
            }
        }

        /// <summary>Throw for rc &lt; 0 (detail read lazily) or for an exception a callback threw.</summary>
        public static int Check(int rc, Func<IntPtr> detail)
        {
            Exception cb = pending;
            pending = null;
            if (rc >= 0) {
                if (cb != null)
                    throw new CallbackException(ErrorCode.Callback, "a callback threw: " + cb.Message,
                                                "", 0, "", "", 0, cb);
                return rc;
            }
            throw FromDetail(rc, detail != null ? detail() : IntPtr.Zero, cb);
        }
    }
}
