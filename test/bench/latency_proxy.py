#!/usr/bin/python3
"""TCP proxy on loopback that adds a fixed round-trip time (RTT) to a link.

Run with Debian's /usr/bin/python3 (standard library only).

Model (one-way delay d = RTT/2):
  * Every chunk read from one side is written to the other side exactly d
    after it was read.  Each chunk carries its own deadline (read time + d),
    so delays never accumulate, order is preserved, and a chunk leaves as soon
    as its own deadline passes (no batching to a tick).
  * TCP's handshake (the issue's model, the default): every new connection
    is held for one RTT - nothing moves in either direction - and then
    relayed with d each way: the proxy connects upstream when the hold ends,
    so the server's greeting reaches the client 1.5 RTT after connect() and
    client bytes sent during the hold reach the server at RTT + d.
    With ack_delay=True (CLI --ack-delay) the upstream connect happens d
    later still, when the client's final ACK would reach the server: the
    greeting then arrives 2 RTT after connect(), as on a real network where
    the server only accepts after the three-way handshake completes.
  * A FIN (EOF) is a chunk like any other: it is forwarded as a half-close
    (shutdown(SHUT_WR)) d after it was read, and the other direction keeps
    flowing.  A reset or error on one side aborts the other side d later.
    The connection is closed once both directions have delivered their EOF.
  * ACKs on the two loopback legs are immediate (TCP_QUICKACK after every
    read), and the proxy's own writes are not delayed by Nagle.  An endpoint
    that leaves Nagle on (Postfix does, e.g. NewSessionTicket then the 220
    greeting over implicit TLS) therefore never waits for an ACK: on a real
    link such a write would wait for the peer's ACK, up to one more RTT.
    The emulated link has no loss, no bandwidth limit and ideal ACKs; it
    counts the round trips a protocol exchange needs, not TCP's extras.
  * The per-direction backlog is bounded (BACKLOG_LIMIT): past it the proxy
    stops reading, so TCP flow control reaches the sender instead of the proxy
    buffering an unbounded amount.  The limit is far above what one RTT of
    loopback traffic in these benchmarks needs, so it never adds delay there.

Module:
    from latency_proxy import start_proxy, LatencyProxy
    port, stop = start_proxy(target_port, rtt_ms)     # runs in its own thread
    ...; stop()
    with LatencyProxy(target_port, rtt_ms) as proxy:  # proxy.port
        ...

CLI:
    /usr/bin/python3 latency_proxy.py --target-port P --rtt-ms 200 \
        [--target-host 127.0.0.1] [--listen-port 0] [--no-handshake]
  prints one JSON line {"port": N, "target_host", "target_port", "rtt_ms"} and
  runs until its standard input hits EOF (or SIGTERM/SIGINT).

    /usr/bin/python3 latency_proxy.py --self-test [--rtt-ms 100]
  measures the proxy against a local echo server and prints what it measured:
  connect-to-first-byte time, request/response round trips, that chunks are
  not delayed cumulatively, half-close, and 50 concurrent connections.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

BACKLOG_LIMIT = 4 * 1024 * 1024   # bytes queued per direction before pausing
READ_SIZE = 65536

_EOF = object()     # queue marker: forward a FIN (half-close)
_RESET = object()   # queue marker: abort the destination (propagate an error)


def _nodelay(writer):
    """Nagle off: a small write must go out now, not wait for an ACK."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def _quickack(sock):
    """ACK what was just read now rather than after the delayed-ACK timer.

    The proxy is the peer both real endpoints talk to over loopback.  A
    server that does not disable Nagle (Postfix after its TLS handshake, for
    one: NewSessionTicket, then the 220 greeting) has its next small write
    held until its previous one is ACKed; if the proxy delays that ACK (40 ms
    here) the stall shows up in the measurement although it has nothing to
    do with the emulated link.  Linux clears TCP_QUICKACK by itself, so it is
    set again after every read."""
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except (OSError, AttributeError):
            pass


class _Pipe:
    """One direction of a proxied connection: src reader -> dst writer, each
    chunk delivered `delay` seconds after it was read."""

    def __init__(self, loop, delay, not_before=0.0):
        self.loop = loop
        self.delay = delay
        # Nothing is delivered before this loop.time() (end of the handshake).
        self.not_before = not_before
        self.queue = asyncio.Queue()
        self.queued_bytes = 0
        self.room = asyncio.Event()   # set while queued_bytes < BACKLOG_LIMIT
        self.room.set()

    def _put(self, item, size=0):
        deadline = max(self.loop.time(), self.not_before) + self.delay
        self.queued_bytes += size
        if self.queued_bytes >= BACKLOG_LIMIT:
            self.room.clear()
        self.queue.put_nowait((deadline, item, size))

    async def read_side(self, reader, sock=None):
        """Read chunks as they arrive and stamp each with its deadline."""
        try:
            while True:
                await self.room.wait()
                chunk = await reader.read(READ_SIZE)
                if not chunk:
                    self._put(_EOF)
                    return
                self._put(chunk, len(chunk))
                _quickack(sock)
        except (ConnectionError, OSError):
            self._put(_RESET)
        except asyncio.CancelledError:
            self._put(_RESET)
            raise

    async def write_side(self, writer_future):
        """Deliver queued items in order, each at its own deadline.  Returns
        True after a clean half-close, False after a reset/error."""
        writer = None
        while True:
            deadline, item, size = await self.queue.get()
            wait = deadline - self.loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if writer is None:
                # Upstream connect may still be in progress (it completes at
                # the end of the handshake hold, before any deadline here).
                writer = await writer_future
                if writer is None:      # upstream connect failed
                    return False
            if item is _RESET:
                writer.transport.abort()
                return False
            try:
                if item is _EOF:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return True
                writer.write(item)
                await writer.drain()   # real backpressure only
            except (ConnectionError, OSError):
                writer.transport.abort()
                return False
            self.queued_bytes -= size
            if self.queued_bytes < BACKLOG_LIMIT:
                self.room.set()


class LatencyProxy:
    """Listen on listen_host:listen_port (0 = any free port), forward to
    target_host:target_port with rtt_ms of added round-trip time."""

    def __init__(self, target_port, rtt_ms, target_host="127.0.0.1",
                 listen_host="127.0.0.1", listen_port=0, handshake=True, ack_delay=False):
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.rtt = rtt_ms / 1000.0
        self.handshake = handshake
        self.ack_delay = ack_delay
        self.port = None
        self.connections = 0          # accepted so far (for tests/benchmarks)
        self._loop = None
        self._server = None
        self._tasks = set()
        self._thread = None
        self._stopped = None

    # -- asyncio side ------------------------------------------------------
    async def serve(self):
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._handle, self.listen[0], self.listen[1],
            reuse_address=True, backlog=512)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def aclose(self):
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, c_reader, c_writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self._proxy(c_reader, c_writer)
        finally:
            self._tasks.discard(task)

    async def _proxy(self, c_reader, c_writer):
        loop = asyncio.get_running_loop()
        self.connections += 1
        _nodelay(c_writer)
        d = self.rtt / 2
        accepted = loop.time()
        # End of the modelled handshake from the client's point of view: its
        # bytes are treated as sent no earlier than this.
        established = accepted + (self.rtt if self.handshake else 0.0)
        up_pipe = _Pipe(loop, d, not_before=established)     # client -> server
        down_pipe = _Pipe(loop, d)                           # server -> client
        upstream = loop.create_future()   # resolves to the upstream writer
        client_done = loop.create_future()
        client_done.set_result(c_writer)

        async def connect_upstream():
            # The server sees the connection when the client's ACK arrives.
            wait = established + (d if self.handshake and self.ack_delay else 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                s_reader, s_writer = await asyncio.open_connection(*self.target)
            except OSError:
                upstream.set_result(None)
                c_writer.transport.abort()
                return None
            _nodelay(s_writer)
            upstream.set_result(s_writer)
            return s_reader

        # Read the client from the start (bytes it sends during the hold are
        # stamped with the hold's end); its writer waits for `upstream`.
        tasks = [asyncio.ensure_future(up_pipe.read_side(
                     c_reader, c_writer.get_extra_info("socket"))),
                 asyncio.ensure_future(up_pipe.write_side(upstream))]
        try:
            s_reader = await connect_upstream()
            if s_reader is None:
                return
            tasks.append(asyncio.ensure_future(down_pipe.read_side(
                s_reader, upstream.result().get_extra_info("socket"))))
            tasks.append(asyncio.ensure_future(
                down_pipe.write_side(client_done)))
            # Both writers finished = both directions delivered EOF or reset.
            await asyncio.gather(tasks[1], tasks[3])
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not upstream.done():
                upstream.cancel()
            elif upstream.result() is not None:
                upstream.result().close()
            c_writer.close()

    # -- thread side (module use) ------------------------------------------
    def start(self):
        """Run the proxy's event loop in a daemon thread; return the port."""
        ready = threading.Event()
        errors = []

        def run():
            loop = asyncio.new_event_loop()
            self._stopped = loop.create_future()
            try:
                loop.run_until_complete(self.serve())
            except BaseException as e:   # report bind errors to start()
                errors.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._stopped)
                loop.run_until_complete(self.aclose())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="latency-proxy",
                                        daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self.port

    def stop(self):
        if self._thread is None:
            return
        loop, fut = self._loop, self._stopped
        if not loop.is_closed():
            loop.call_soon_threadsafe(
                lambda: fut.done() or fut.set_result(None))
        self._thread.join(10)
        self._thread = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def start_proxy(target_port, rtt_ms, target_host="127.0.0.1", **kw):
    """Start a proxy in a background thread; return (port, stop_fn)."""
    proxy = LatencyProxy(target_port, rtt_ms, target_host=target_host, **kw)
    return proxy.start(), proxy.stop


# -- self-test ---------------------------------------------------------------

def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("connection closed after %d of %d bytes"
                           % (len(data), n))
        data += chunk
    return data


def self_test(rtt_ms, ack_delay=False):
    """Measure the proxy against a local greeting+echo server; return the
    number of failed checks (each check prints its measurement)."""
    rtt = rtt_ms / 1000.0
    greet = (2.0 if ack_delay else 1.5) * rtt
    failures = 0

    def close_to(measured, expected):
        """Within 5% (at least 5 ms): covers timer wake-up (~1 ms per leg)
        and the test's own threads, not a missing or extra half-RTT."""
        return abs(measured - expected) <= max(0.005, 0.05 * expected)

    def check(name, measured, expected, ok=None):
        nonlocal failures
        ok = close_to(measured, expected) if ok is None else ok
        failures += not ok
        print("%-4s %-52s measured %8.1f ms  expected %8.1f ms"
              % ("ok" if ok else "FAIL", name, measured * 1000,
                 expected * 1000), flush=True)

    # Echo server: sends "HELLO\n" on accept (like an SMTP greeting), echoes
    # everything, and on EOF from the client sends "BYE\n" and half-closes.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)

    def serve_one(conn):
        with conn:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.sendall(b"HELLO\n")
                while True:
                    data = conn.recv(65536)
                    if not data:
                        conn.sendall(b"BYE\n")
                        conn.shutdown(socket.SHUT_WR)
                        return
                    conn.sendall(data)
            except OSError:   # the proxy was stopped under us: fine
                return

    def acceptor():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,),
                             daemon=True).start()

    threading.Thread(target=acceptor, daemon=True).start()
    # The proxy under test runs as its own process (through the CLI), so the
    # test's 100+ client/server threads do not compete with it for the GIL.
    with subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--target-port",
             str(srv.getsockname()[1]), "--rtt-ms", str(rtt_ms)]
            + (["--ack-delay"] if ack_delay else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        port = json.loads(proc.stdout.readline())["port"]

        def connect():
            s = socket.create_connection(("127.0.0.1", port))
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s

        # 1. Greeting: 1.5 RTT after connect() (hold, then d back); 2 RTT
        #    with --ack-delay.
        t0 = time.monotonic()
        s = connect()
        _recv_exact(s, 6)
        check("connect() -> server greeting", time.monotonic() - t0, greet)

        # 2. Request/response: each echo costs exactly one RTT.
        times = []
        for i in range(10):
            t = time.monotonic()
            s.sendall(b"ping %d\n" % i)
            _recv_exact(s, len(b"ping %d\n" % i))
            times.append(time.monotonic() - t)
        times.sort()
        check("echo round trip (median of 10)", times[5], rtt)
        check("echo round trip (max of 10)", times[-1], rtt)

        # 3. No accumulation: 20 chunks sent 10 ms apart each arrive one RTT
        #    after they were sent (not 20 x delay, not batched).  A separate
        #    thread receives, so arrival times are taken as bytes arrive.
        sent, got, buf = [], [], bytearray()

        def receive():
            while len(got) < 20:
                chunk = s.recv(65536)
                if not chunk:
                    return
                now = time.monotonic()
                buf.extend(chunk)
                got.extend([now] * (len(buf) // 2 - len(got)))

        rx = threading.Thread(target=receive)
        rx.start()
        for i in range(20):
            sent.append(time.monotonic())
            s.sendall(b"%02d" % i)
            time.sleep(0.010)
        rx.join(10 + 5 * rtt)
        order_ok = bytes(buf) == b"".join(b"%02d" % i for i in range(20))
        lat = [g - t for g, t in zip(got, sent)] or [0.0]
        check("burst of 20 chunks 10 ms apart: worst latency",
              max(lat), rtt, ok=len(got) == 20 and close_to(max(lat), rtt))
        check("burst of 20 chunks 10 ms apart: best latency", min(lat), rtt)
        check("burst preserved byte order", 0, 0, ok=order_ok)

        # 4. Half-close: client FIN reaches the server d later, server's
        #    final bytes come back, then EOF: BYE arrives one RTT after FIN.
        t = time.monotonic()
        s.shutdown(socket.SHUT_WR)
        tail = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            tail += chunk
        elapsed = time.monotonic() - t
        check("half-close: FIN -> server reply + EOF", elapsed, rtt,
              ok=close_to(elapsed, rtt) and tail == b"BYE\n")
        s.close()

        # 5. 50 concurrent connections, each greeting + one echo: every one
        #    takes the greeting's time plus 1 RTT for the echo, as if alone.
        results = []

        def one(i):
            try:
                t = time.monotonic()
                c = connect()
                _recv_exact(c, 6)
                c.sendall(b"conn %03d\n" % i)
                ok = _recv_exact(c, 9) == b"conn %03d\n" % i
                results.append((ok, time.monotonic() - t))
                c.close()
            except OSError:
                results.append((False, 0.0))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        slowest = max(r[1] for r in results) if results else 0.0
        check("50 concurrent connections: slowest greeting+echo", slowest,
              greet + rtt, ok=len(results) == 50 and all(r[0] for r in results)
              # 50 set-ups at once cost the test's threads a few ms more
              and abs(slowest - (greet + rtt)) <= max(0.015, 0.05 * (greet + rtt)))
        proc.stdin.close()          # EOF on stdin stops the proxy
        check("proxy exits on stdin EOF", 0, 0, ok=proc.wait(10) == 0)

    # 6. The in-process API (start_proxy in a thread) behaves the same.
    port, stop = start_proxy(srv.getsockname()[1], rtt_ms, ack_delay=ack_delay)
    try:
        t = time.monotonic()
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _recv_exact(s, 6)
        greeting = time.monotonic() - t
        t = time.monotonic()
        s.sendall(b"x")
        _recv_exact(s, 1)
        echo = time.monotonic() - t
        s.close()
    finally:
        stop()
    check("start_proxy(): connect() -> greeting", greeting, greet)
    check("start_proxy(): echo round trip", echo, rtt)
    srv.close()
    print("%d check(s) failed" % failures if failures else "all checks passed")
    return failures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target-port", type=int)
    ap.add_argument("--target-host", default="127.0.0.1")
    ap.add_argument("--listen-port", type=int, default=0)
    ap.add_argument("--rtt-ms", type=float, default=200.0)
    ap.add_argument("--ack-delay", action="store_true",
                    help="connect upstream RTT/2 after the hold (greeting at 2 RTT)")
    ap.add_argument("--no-handshake", action="store_true",
                    help="do not model TCP's connection handshake")
    ap.add_argument("--self-test", action="store_true",
                    help="measure the proxy against a local echo server")
    args = ap.parse_args(argv)
    if args.self_test:
        return 1 if self_test(args.rtt_ms, args.ack_delay) else 0
    if args.target_port is None:
        ap.error("--target-port is required")

    async def run():
        proxy = LatencyProxy(args.target_port, args.rtt_ms,
                             target_host=args.target_host,
                             listen_port=args.listen_port,
                             handshake=not args.no_handshake, ack_delay=args.ack_delay)
        await proxy.serve()
        print(json.dumps({"port": proxy.port, "target_host": args.target_host,
                          "target_port": args.target_port,
                          "rtt_ms": args.rtt_ms}), flush=True)
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def finish():
            if not done.done():
                done.set_result(None)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, finish)

        # Run until stdin reaches EOF (the parent closed its end or exited).
        def stdin_ready():
            try:
                if not os.read(sys.stdin.fileno(), 65536):
                    loop.remove_reader(sys.stdin.fileno())
                    finish()
            except OSError:
                loop.remove_reader(sys.stdin.fileno())
                finish()
        try:
            loop.add_reader(sys.stdin.fileno(), stdin_ready)
        except (OSError, ValueError, PermissionError):
            # stdin is a regular file or /dev/null: not pollable; treat a
            # read returning nothing as EOF right away.
            threading.Thread(target=lambda: (
                [None for _ in iter(lambda: os.read(0, 65536), b"")],
                loop.call_soon_threadsafe(finish)), daemon=True).start()
        await done
        await proxy.aclose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
