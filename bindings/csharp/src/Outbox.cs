// The crash-safe store-and-forward outbox.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;

namespace Uavmail
{
    public enum Priority { Alert = 0, Normal = 1, Bulk = 2 }
    public enum EntryState { Queued = 0, Bounced = 1, Expired = 2, Dropped = 3 }
    public enum Outcome { Delivered = 0, Bounced = 1, Expired = 2, Dropped = 3 }

    public sealed class OutboxEntry
    {
        public string Id, MessageId, Subject, LastError;
        public EntryState State;
        public Priority Priority;
        public uint Attempts;
        public bool OutcomeUnknown;
        public long Created, NextAttempt, Expires;
        public ulong Size;
        public ulong Recipients, Delivered, Failed;
    }

    public sealed class OutboxStats
    {
        public ulong Queued, Alerts, Dead, Corrupt, Bytes;
        public uint SentLastHour;
    }

    public sealed class OutboxSettings
    {
        public uint MaxMessages;
        public ulong MaxBytes;
        public uint RetryInitialS, RetryMaxS, RatePerHour;
        public bool DropOldestBulk;
        /// <summary>(entry id, outcome, SMTP code, reply) for every message finished.</summary>
        public Action<string, Outcome, int, string> OnOutcome;
        /// <summary>Seconds since 1970 UTC (GPS time); null: the system clock.</summary>
        public Func<long> Clock;
    }

    /// <summary>An outbox directory: Enqueue returns once the message is on disk, Flush sends
    /// what is due.  Callbacks run inside Open, Enqueue and Flush on the calling thread.</summary>
    public sealed class Outbox : IDisposable
    {
        readonly OutboxHandle handle;

        public Outbox(string directory, OutboxSettings settings = null)
        {
            Library.EnsureFlight();
            settings = settings ?? new OutboxSettings();
            var o = new OutboxOptions {
                version = 1, max_messages = settings.MaxMessages, max_bytes = settings.MaxBytes,
                retry_initial_s = settings.RetryInitialS, retry_max_s = settings.RetryMaxS,
                rate_per_hour = settings.RatePerHour, drop_oldest_bulk = settings.DropOldestBulk ? 1 : 0,
            };
            // The settings object is rooted by a GCHandle that the OutboxHandle frees
            // after uavmail_outbox_close; until it exists, by this local one.
            GCHandle g = GCHandle.Alloc(settings);
            IntPtr ud = GCHandle.ToIntPtr(g);
            if (settings.OnOutcome != null) { o.outcome_cb = OutcomePtr; o.outcome_user_data = ud; }
            if (settings.Clock != null) { o.time_cb = TimePtr; o.time_user_data = ud; }
            OutboxHandle h;
            int rc = Native.uavmail_outbox_open(out h, Utf8.Z(directory), ref o);
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

        int Check(int rc) { return Errors.Check(rc, () => Native.uavmail_outbox_last_error(handle)); }

        /// <summary>Store the message durably; returns the entry id.</summary>
        public string Enqueue(Message message, Priority priority = Priority.Normal, long expires = 0,
                              string dedupKey = null)
        {
            byte[] id = new byte[64];
            int rc = Native.uavmail_outbox_enqueue(handle, message.Handle, (int)priority, expires,
                                                   Utf8.Z(dedupKey), id);
            if (rc < 0 && Native.uavmail_error_code(Native.uavmail_outbox_last_error(handle)) != rc)
                Errors.Check(rc, () => Native.uavmail_message_last_error(message.Handle));
            Check(rc);
            int n = Array.IndexOf(id, (byte)0);
            return System.Text.Encoding.ASCII.GetString(id, 0, n < 0 ? id.Length : n);
        }

        public void SetLink(bool up) { Native.uavmail_outbox_set_link(handle, up ? 1 : 0); }

        /// <summary>Send what is due over one connection; returns how many messages finished.</summary>
        public int Flush(Settings settings)
        {
            using (var ns = new NativeSettings(settings)) {
                UIntPtr sent;
                Check(Native.uavmail_outbox_flush(handle, ref ns.Options, out sent));
                return (int)sent;
            }
        }

        public List<OutboxEntry> Entries()
        {
            var list = new List<OutboxEntry>();
            GCHandle g = GCHandle.Alloc(list);
            try {
                Check(Native.uavmail_outbox_list(handle, EntryTramp, GCHandle.ToIntPtr(g)));
            } finally {
                g.Free();
            }
            return list;
        }

        public void Remove(string id) { Check(Native.uavmail_outbox_remove(handle, Utf8.Z(id))); }
        public void Purge(bool all = false) { Check(Native.uavmail_outbox_purge(handle, all ? 1 : 0)); }

        public OutboxStats Stats()
        {
            var s = new OutboxStatsNative { version = 1 };
            Check(Native.uavmail_outbox_stats_get(handle, ref s));
            return new OutboxStats {
                Queued = (ulong)s.queued, Alerts = (ulong)s.alerts, Dead = (ulong)s.dead,
                Corrupt = (ulong)s.corrupt, Bytes = s.bytes, SentLastHour = s.sent_last_hour,
            };
        }

        // ---- trampolines ----
        static readonly OutcomeCb OutcomeTramp = OnOutcome;
        static readonly TimeCb TimeTramp = OnTime;
        static readonly EntryCb EntryTramp = OnEntry;
        static readonly IntPtr OutcomePtr = Marshal.GetFunctionPointerForDelegate(OutcomeTramp);
        static readonly IntPtr TimePtr = Marshal.GetFunctionPointerForDelegate(TimeTramp);

        [MonoPInvokeCallback(typeof(OutcomeCb))]
        static void OnOutcome(IntPtr id, int outcome, int code, IntPtr reply, IntPtr ud)
        {
            try {
                var s = (OutboxSettings)GCHandle.FromIntPtr(ud).Target;
                s.OnOutcome(Utf8.FromNative(id), (Outcome)outcome, code, Utf8.FromNative(reply));
            } catch (Exception e) {
                Errors.Stash(e);
            }
        }

        [MonoPInvokeCallback(typeof(TimeCb))]
        static long OnTime(IntPtr ud)
        {
            try { return ((OutboxSettings)GCHandle.FromIntPtr(ud).Target).Clock(); }
            catch (Exception e) { Errors.Stash(e); return -1; }
        }

        [MonoPInvokeCallback(typeof(EntryCb))]
        static int OnEntry(IntPtr p, IntPtr ud)
        {
            try {
                var e = (OutboxEntryNative)Marshal.PtrToStructure(p, typeof(OutboxEntryNative));
                ((List<OutboxEntry>)GCHandle.FromIntPtr(ud).Target).Add(new OutboxEntry {
                    Id = Utf8.FromNative(e.id), State = (EntryState)e.state, Priority = (Priority)e.priority,
                    Attempts = e.attempts, OutcomeUnknown = e.outcome_unknown != 0, Created = e.created,
                    NextAttempt = e.next_attempt, Expires = e.expires, Size = e.size,
                    Recipients = (ulong)e.recipients, Delivered = (ulong)e.delivered, Failed = (ulong)e.failed,
                    MessageId = Utf8.FromNative(e.message_id), Subject = Utf8.FromNative(e.subject),
                    LastError = Utf8.FromNative(e.last_error),
                });
                return 0;
            } catch (Exception ex) {
                Errors.Stash(ex);
                return 1;
            }
        }
    }
}
