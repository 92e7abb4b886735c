// Composing a message.
using System;
using System.IO;
using System.Runtime.InteropServices;

namespace Uavmail
{
    public enum RecipientKind { To = 0, Cc = 1, Bcc = 2 }

    /// <summary>A message under construction.  Attachments are read only while it is sent,
    /// so a file or stream of any size costs constant memory.  Not thread-safe.</summary>
    public sealed class Message : IDisposable
    {
        internal readonly MessageHandle Handle;

        /// <summary>An empty message (the Message-ID domain is the From address's).</summary>
        public Message()
        {
            Library.EnsureCompatible();
            MessageHandle h;
            Errors.Check(Native.uavmail_message_new(out h, IntPtr.Zero), null);
            Handle = h;
        }

        public void Dispose() { Handle.Dispose(); }

        int Check(int rc) { return Errors.Check(rc, () => Native.uavmail_message_last_error(Handle)); }

        public Message SetFrom(string address, string name = null)
        { Check(Native.uavmail_message_set_from(Handle, Utf8.Z(address), Utf8.Z(name))); return this; }

        public Message AddRecipient(string address, string name = null, RecipientKind kind = RecipientKind.To)
        { Check(Native.uavmail_message_add_recipient(Handle, (int)kind, Utf8.Z(address), Utf8.Z(name))); return this; }

        public Message AddTo(string address, string name = null) { return AddRecipient(address, name, RecipientKind.To); }
        public Message AddCc(string address, string name = null) { return AddRecipient(address, name, RecipientKind.Cc); }
        public Message AddBcc(string address, string name = null) { return AddRecipient(address, name, RecipientKind.Bcc); }

        public Message SetReplyTo(string address, string name = null)
        { Check(Native.uavmail_message_set_reply_to(Handle, Utf8.Z(address), Utf8.Z(name))); return this; }

        public Message SetSubject(string subject)
        { Check(Native.uavmail_message_set_subject(Handle, Utf8.Z(subject))); return this; }

        public Message AddHeader(string name, string value)
        { Check(Native.uavmail_message_add_header(Handle, Utf8.Z(name), Utf8.Z(value))); return this; }

        public Message SetText(string text)
        {
            byte[] b = System.Text.Encoding.UTF8.GetBytes(text);
            Check(Native.uavmail_message_set_text(Handle, b, (UIntPtr)b.Length));
            return this;
        }

        public Message SetHtml(string html)
        {
            byte[] b = System.Text.Encoding.UTF8.GetBytes(html);
            Check(Native.uavmail_message_set_html(Handle, b, (UIntPtr)b.Length));
            return this;
        }

        public Message SetPreparedFile(string path)
        { Check(Native.uavmail_message_set_prepared_file(Handle, Utf8.Z(path))); return this; }

        /// <summary>Attach a file by path; it is streamed by the library while sending.</summary>
        public Message AttachFile(string path, string contentType = null, string fileName = null)
        { Check(Native.uavmail_message_attach_file(Handle, Utf8.Z(path), Utf8.Z(contentType), Utf8.Z(fileName))); return this; }

        /// <summary>Attach bytes (the array is pinned for the call; the library keeps its own copy).</summary>
        public Message AttachBytes(byte[] data, string fileName, string contentType = null)
        { Check(Native.uavmail_message_attach_memory(Handle, data, (UIntPtr)data.Length, Utf8.Z(contentType), Utf8.Z(fileName))); return this; }

        public Message AddInlineFile(string path, string contentId, string contentType = null)
        { Check(Native.uavmail_message_add_inline_file(Handle, Utf8.Z(path), Utf8.Z(contentType), Utf8.Z(contentId))); return this; }

        /// <summary>Attach a readable (and, for retries, seekable) stream, read while sending through
        /// one reusable buffer: no copy of the content on the managed heap.  The stream is
        /// referenced until the message is disposed (not closed by it).  <paramref name="size"/>
        /// null: unknown.  <paramref name="progress"/> receives the bytes read so far.</summary>
        public Message AttachStream(Stream stream, string fileName, long? size = null,
                                    string contentType = null, Action<long> progress = null)
        {
            if (stream == null)
                throw new ArgumentNullException("stream");
            IntPtr ud = Handle.Keep(new StreamState { Stream = stream, Progress = progress });
            Check(Native.uavmail_message_attach_callback(Handle, ReadTrampoline, size ?? -1,
                                                         Utf8.Z(contentType), Utf8.Z(fileName), ud));
            return this;
        }

        /// <summary>Validate without sending (From, recipients, attachments readable).</summary>
        public void Validate() { Check(Native.uavmail_message_check(Handle)); }

        public ulong Size(bool eightBit = false)
        {
            ulong n;
            Check(Native.uavmail_message_size(Handle, eightBit ? 1u : 0u, out n));
            return n;
        }

        public void WriteFile(string path) { Check(Native.uavmail_message_write_file(Handle, Utf8.Z(path))); }

        // ---- the read trampoline: one static delegate for every stream ----
        sealed class StreamState
        {
            public Stream Stream;
            public Action<long> Progress;
            public byte[] Buffer;
        }

        // Static: never collected, so the function pointer C holds stays valid.
        static readonly ReadCb ReadTrampoline = Read;

        [MonoPInvokeCallback(typeof(ReadCb))]
        static IntPtr Read(IntPtr buf, UIntPtr cap, ulong offset, IntPtr ud)
        {
            try {
                var st = (StreamState)GCHandle.FromIntPtr(ud).Target;
                if (st.Stream.CanSeek && st.Stream.Position != (long)offset)
                    st.Stream.Seek((long)offset, SeekOrigin.Begin);
                int want = (int)Math.Min((ulong)cap, 1 << 20);
                if (st.Buffer == null || st.Buffer.Length < want)
                    st.Buffer = new byte[want];
                int n = 0;
                while (n < want) {
                    int k = st.Stream.Read(st.Buffer, n, want - n);
                    if (k <= 0)
                        break;
                    n += k;
                }
                Marshal.Copy(st.Buffer, 0, buf, n);
                if (st.Progress != null)
                    st.Progress((long)offset + n);
                return (IntPtr)n;
            } catch (Exception e) {
                Errors.Stash(e);
                return (IntPtr)(-1);
            }
        }
    }
}
