"""The behavioural net through the public binding (issue 11): what the data
path must keep doing whatever its implementation.

- DRAIN: once a write()/ready()/drain() that had to wait returns, nothing is
  left queued and every byte handed over before was written.
- Writes queued without waiting keep their order, up to a close().
- A paused UDP socket reads nothing; receive high-water drops are counted.
- Large checksummed TLS and STARTTLS streams, both ways at once, with pause,
  backpressure and half-close.
- abort() closes the descriptor; close- and abort-heavy rounds end with the
  library's counts and the process's descriptors where they started.

Every wait is on the event that proves the behaviour, with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

import w3sock
from conftest import open_fd_count

# Small kernel buffers, so that a few hundred KiB already wait in the
# library's own queue instead of disappearing into the kernel.
SMALL = {"send_buffer_size": 16 << 10, "receive_buffer_size": 16 << 10}
TIMEOUT = 30


def _tls_server_opts(certs: Any) -> Dict[str, str]:
    return {"cert": certs.text(certs.server_cert), "key": certs.text(certs.server_key)}


def _tls_client_opts(certs: Any) -> Dict[str, str]:
    return {"ca": certs.text(certs.ca), "server_name": "localhost"}


async def _pair(certs: Any = None, secure: bool = False, **client_kw: Any
                ) -> Tuple[w3sock.TCPServerSocket, w3sock.TCPSocket, w3sock.TCPSocket]:
    """A listener, a client and the connection it accepted, all open."""
    skw: Dict[str, Any] = {}
    if secure:
        skw = {"use_secure_transport": True, "tls": _tls_server_opts(certs)}
        client_kw.update(use_secure_transport=True, tls=_tls_client_opts(certs))
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1", **skw)
    await srv.opened
    c = w3sock.TCPSocket("127.0.0.1", srv.local_port, **client_kw)
    conn = await asyncio.wait_for(srv.listen(), TIMEOUT)
    await asyncio.wait_for(asyncio.gather(c.opened, conn.opened), TIMEOUT)
    return srv, c, conn


async def _close_all(*socks: Any) -> None:
    for s in socks:
        if s.ready_state not in ("closing", "closed"):
            s.close()
    await asyncio.wait_for(asyncio.gather(*(s.closed for s in socks),
                                          return_exceptions=True), TIMEOUT)


class Source:
    """A deterministic byte stream cut into pieces of random sizes, with
    the SHA-256 of everything it produced."""

    def __init__(self, seed: int, total: int, max_piece: int = 256 << 10) -> None:
        self.rng = random.Random(seed)
        self.block = self.rng.randbytes(1 << 20)
        self.left = total
        self.max_piece = max_piece
        self.digest = hashlib.sha256()
        self.produced = 0

    def next(self) -> Optional[bytes]:
        if self.left == 0:
            return None
        n = min(self.left, self.rng.randint(1, self.max_piece))
        at = self.rng.randrange(0, len(self.block) - n + 1)
        piece = self.block[at:at + n]
        self.left -= n
        self.produced += n
        self.digest.update(piece)
        return piece


async def _sink(sock: w3sock.TCPSocket, pause_every: int = 0) -> Tuple[int, str]:
    """Reads to EOF; returns (bytes, SHA-256). With pause_every, suspends
    reading every so many chunks and resumes once a timer has run the loop
    (the peer meanwhile meets backpressure)."""
    h = hashlib.sha256()
    n = 0
    chunks = 0
    async for chunk in sock.readable:
        h.update(chunk)
        n += len(chunk)
        chunks += 1
        if pause_every and chunks % pause_every == 0:
            sock.suspend()
            assert sock.get_info()["paused"] is True
            await asyncio.sleep(0.001)  # lets the writer run into the pause
            sock.resume()
    return n, h.hexdigest()


# --------------------------------------------------------------------------
# DRAIN
# --------------------------------------------------------------------------

@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls"])
def test_write_returns_only_when_everything_is_written(arun: Any, certs: Any,
                                                       secure: bool) -> None:
    async def main() -> None:
        srv, c, conn = await _pair(certs, secure, **SMALL)
        conn.suspend()  # the reader holds back: the kernel buffers fill
        src = Source(1, 6 << 20)
        reader: Optional[asyncio.Task] = None
        rounds = 0
        while (piece := src.next()) is not None:
            # a plain send() first, then a write() that must wait for both
            c.send(piece[: len(piece) // 2])
            write = asyncio.ensure_future(c.writable.write(piece[len(piece) // 2:]))
            if reader is None and c.buffered_amount > 0:
                # backpressure proven (bytes wait in the library's queue):
                # now let the reader consume, with pauses of its own
                await asyncio.sleep(0)
                assert not write.done()
                conn.resume()
                reader = asyncio.ensure_future(_sink(conn, pause_every=16))
            await asyncio.wait_for(write, TIMEOUT)
            # the DRAIN that ended the wait came with an empty queue
            assert c.buffered_amount == 0
            assert c.get_info()["bytes_sent"] == src.produced
            rounds += 1
        assert reader is not None, "the writer never met backpressure"
        c.half_close()
        assert await asyncio.wait_for(reader, TIMEOUT) == (src.produced,
                                                           src.digest.hexdigest())
        assert rounds > 10
        await _close_all(c, conn, srv)

    arun(main, timeout=120)


def test_ready_and_stream_drain_return_with_an_empty_queue(arun: Any) -> None:
    async def main() -> None:
        hw = 64 << 10
        srv, c, conn = await _pair(high_water_send=hw, **SMALL)
        reader = asyncio.ensure_future(_sink(conn))
        src = Source(2, 4 << 20, max_piece=8 << 10)
        waited = 0
        while (piece := src.next()) is not None:
            if not c.send(piece):  # at the high-water mark: wait for room
                assert c.writable.desired_size <= 0
                await asyncio.wait_for(c.writable.ready(), TIMEOUT)
                assert c.buffered_amount == 0
                assert c.get_info()["bytes_sent"] == src.produced
                waited += 1
        assert waited > 3
        c.half_close()
        assert await asyncio.wait_for(reader, TIMEOUT) == (src.produced,
                                                           src.digest.hexdigest())
        await _close_all(c, conn, srv)

        # the asyncio-streams writer: drain() once past its high-water mark
        # (1 MiB); the reader starts once the writer first has to wait
        done: asyncio.Future = asyncio.get_running_loop().create_future()
        start = asyncio.Event()

        async def handle(r: Any, w: Any) -> None:
            await start.wait()
            h = hashlib.sha256()
            n = 0
            while chunk := await r.read(1 << 16):
                h.update(chunk)
                n += len(chunk)
            done.set_result((n, h.hexdigest()))
            w.close()

        server = await w3sock.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        r, w = await w3sock.open_connection("127.0.0.1", port)
        src = Source(3, 24 << 20)
        drains = 0
        while (piece := src.next()) is not None:
            w.write(piece)
            if w.get_write_buffer_size() >= 1 << 20:
                start.set()
                await asyncio.wait_for(w.drain(), TIMEOUT)
                assert w.get_write_buffer_size() == 0
                drains += 1
        w.write_eof()
        assert await asyncio.wait_for(done, TIMEOUT) == (src.produced,
                                                         src.digest.hexdigest())
        assert drains > 0
        w.close()
        await w.wait_closed()
        server.close()
        await server.wait_closed()

    arun(main, timeout=120)


# --------------------------------------------------------------------------
# ordering of writes queued without waiting
# --------------------------------------------------------------------------

def _record(seq: int, rng: random.Random) -> bytes:
    body = rng.randbytes(rng.choice((1, 7, 100, 1500, 16 << 10, 70 << 10)))
    return seq.to_bytes(4, "big") + len(body).to_bytes(4, "big") + body


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls"])
def test_queued_writes_keep_their_order_through_close(arun: Any, certs: Any,
                                                      secure: bool) -> None:
    async def main() -> None:
        srv, c, conn = await _pair(certs, secure, **SMALL)
        conn.suspend()  # everything below queues up in the library
        rng = random.Random(4)
        records = [_record(i, rng) for i in range(600)]
        writes = []
        for i, rec in enumerate(records):
            how = i % 4
            if how == 0:
                c.send(rec)
            elif how == 1:
                c.send(bytearray(rec))
            elif how == 2:
                c.send(memoryview(rec))
            else:  # a write() left waiting for its DRAIN while more follow
                writes.append(asyncio.ensure_future(c.writable.write(rec)))
                await asyncio.sleep(0)  # the task runs up to that wait
        assert c.buffered_amount > 0
        c.close()  # queued bytes are still delivered, then FIN
        conn.resume()
        data = await asyncio.wait_for(conn.readable.read(), TIMEOUT)
        at = 0
        for i, rec in enumerate(records):
            seq = int.from_bytes(data[at:at + 4], "big")
            assert seq == i, f"record {i} arrived as {seq}"
            assert data[at:at + len(rec)] == rec, f"record {i} damaged"
            at += len(rec)
        assert at == len(data)
        await asyncio.wait_for(c.closed, TIMEOUT)
        # the writes were all flushed (or ended by the close, never lost)
        await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), TIMEOUT)
        await _close_all(conn, srv)

    arun(main, timeout=120)


# --------------------------------------------------------------------------
# UDP: pause and receive high-water drops
# --------------------------------------------------------------------------

def test_udp_pause_is_honoured(arun: Any) -> None:
    async def main() -> None:
        control = w3sock.UDPSocket(local_address="127.0.0.1", receive_buffer_size=1 << 20)
        await control.opened
        n = 100  # more than the library reads at once (64)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            # rounds, each on a new socket: a pause that loses a race with
            # the reader already waiting for data fails only now and then
            # (mostly on a socket just opened)
            for rnd in range(30):
                paused = w3sock.UDPSocket(local_address="127.0.0.1",
                                          receive_buffer_size=1 << 20)
                await paused.opened
                paused.suspend()  # and the datagrams right after it
                for i in range(n):
                    for dst in (paused, control):
                        tx.sendto(b"%02d%04d" % (rnd, i) + b"." * 200,
                                  ("127.0.0.1", dst.local_port))
                # the unpaused twin, read by the same library on the same
                # loop, got every datagram: the paused one had the same
                # chance and took none
                got = [(await asyncio.wait_for(control.readable.read(), TIMEOUT)).data[:6]
                       for _ in range(n)]
                assert got == [b"%02d%04d" % (rnd, i) for i in range(n)]
                info = paused.get_info()
                assert info["messages_received"] == 0, f"round {rnd}: read while paused"
                assert info["paused"] is True
                assert _udp_rx_queue(paused.local_port) > 0  # still in the kernel
                paused.resume()
                got = [(await asyncio.wait_for(paused.readable.read(), TIMEOUT)).data[:6]
                       for _ in range(n)]
                assert got == [b"%02d%04d" % (rnd, i) for i in range(n)]
                info = paused.get_info()
                assert info["messages_received"] == n and info["messages_dropped"] == 0
                await _close_all(paused)
        await _close_all(control)

    arun(main)


def _udp_rx_queue(port: int) -> int:
    """Bytes the kernel holds for the local UDP port (/proc/net/udp)."""
    with open("/proc/net/udp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no UDP socket on port {port}")


def test_udp_receive_high_water_drops_are_counted(arun: Any) -> None:
    async def main() -> None:
        size, keep, n = 1000, 10, 40
        u = w3sock.UDPSocket(local_address="127.0.0.1", receive_buffer_size=1 << 20,
                             high_water_receive=size * keep)
        await u.opened
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i in range(n):
                tx.sendto(b"%04d" % i + b"d" * (size - 4), ("127.0.0.1", u.local_port))
        # The event loop is blocked here, so nothing is handed to Python:
        # the library reads every datagram, queues `keep` of them (up to the
        # mark) and drops the rest. Wait (bounded) until it has seen them all.
        deadline = time.monotonic() + TIMEOUT
        while True:
            info = u.get_info()
            if info["messages_received"] + info["messages_dropped"] == n:
                break
            assert time.monotonic() < deadline, info
            time.sleep(0.001)
        assert (info["messages_received"], info["messages_dropped"]) == (keep, n - keep)
        got = [(await asyncio.wait_for(u.readable.read(), TIMEOUT)).data[:4]
               for _ in range(keep)]
        assert got == [b"%04d" % i for i in range(keep)]  # the first ones, in order
        # with room again, nothing more is dropped
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(b"last", ("127.0.0.1", u.local_port))
        assert (await asyncio.wait_for(u.readable.read(), TIMEOUT)).data == b"last"
        assert u.get_info()["messages_dropped"] == n - keep
        await _close_all(u)

    arun(main)


# --------------------------------------------------------------------------
# large checksummed TLS and STARTTLS streams
# --------------------------------------------------------------------------

async def _pump(sock: w3sock.TCPSocket, src: Source) -> None:
    """Writes the whole source with write() (waiting on backpressure), then
    half-closes."""
    while (piece := src.next()) is not None:
        await sock.writable.write(piece)
    assert sock.buffered_amount == 0
    sock.half_close()


async def _both_ways(a: w3sock.TCPSocket, b: w3sock.TCPSocket, size: int) -> None:
    """size bytes from a to b and a quarter of that back at the same time;
    b pauses its reading now and then; each side half-closes when done and
    reads the other's stream to its end; the SHA-256s must match."""
    ab, ba = Source(5, size), Source(6, size // 4)
    results = await asyncio.wait_for(asyncio.gather(
        _pump(a, ab), _pump(b, ba), _sink(b, pause_every=64), _sink(a)), 120)
    assert results[2] == (size, ab.digest.hexdigest())
    assert results[3] == (size // 4, ba.digest.hexdigest())
    # both halves closed: the sockets end on their own, cleanly
    await asyncio.wait_for(asyncio.gather(a.closed, b.closed), TIMEOUT)


def test_large_tls_stream(arun: Any, certs: Any) -> None:
    async def main() -> None:
        srv, c, conn = await _pair(certs, True, high_water_receive=256 << 10)
        assert c.ssl and conn.ssl
        await _both_ways(c, conn, 32 << 20)
        await _close_all(srv)

    arun(main, timeout=180)


def test_large_starttls_stream(arun: Any, certs: Any) -> None:
    async def main() -> None:
        srv, c, conn = await _pair(high_water_receive=256 << 10)
        # a plaintext exchange, then both ends upgrade
        await c.writable.write(b"STARTTLS\r\n")
        assert await asyncio.wait_for(conn.readable.readline(), TIMEOUT) == b"STARTTLS\r\n"
        await conn.writable.write(b"220 go ahead\r\n")
        assert await asyncio.wait_for(c.readable.readline(), TIMEOUT) == b"220 go ahead\r\n"
        await asyncio.wait_for(asyncio.gather(
            conn.start_tls(_tls_server_opts(certs)), c.start_tls(_tls_client_opts(certs))),
            TIMEOUT)
        assert c.ssl and conn.ssl
        await _both_ways(conn, c, 32 << 20)
        await _close_all(srv)

    arun(main, timeout=180)


# --------------------------------------------------------------------------
# descriptors and counts after abort- and close-heavy rounds
# --------------------------------------------------------------------------

def test_abort_closes_the_descriptor(arun: Any) -> None:
    async def main() -> None:
        anchor = w3sock.UDPSocket(local_address="127.0.0.1")  # keeps the native loop
        await anchor.opened
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        base_fds = open_fd_count()
        base_sockets = w3sock.stats()["sockets"]
        c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        conn = await asyncio.wait_for(srv.listen(), TIMEOUT)
        await asyncio.wait_for(asyncio.gather(c.opened, conn.opened), TIMEOUT)
        assert open_fd_count() == base_fds + 2
        c.send(b"x" * (1 << 20))
        c.abort()
        await asyncio.wait_for(asyncio.gather(c.closed, conn.closed,
                                              return_exceptions=True), TIMEOUT)
        assert c.ready_state == conn.ready_state == "closed"
        # the peer saw the reset that only closing the descriptor sends
        exc = conn.closed.exception()
        assert isinstance(exc, w3sock.NetworkError) and exc.code_name == "W3S_ECONNRESET"
        assert open_fd_count() == base_fds
        assert w3sock.stats()["sockets"] == base_sockets
        await _close_all(srv, anchor)

    arun(main)


@pytest.mark.parametrize("secure", [False, True], ids=["plain", "tls"])
def test_counts_back_to_baseline_after_abort_and_close_rounds(arun: Any, certs: Any,
                                                              secure: bool) -> None:
    async def main() -> None:
        anchor = w3sock.UDPSocket(local_address="127.0.0.1")  # keeps the native loop
        await anchor.opened
        skw: Dict[str, Any] = {}
        ckw: Dict[str, Any] = {}
        if secure:
            skw = {"use_secure_transport": True, "tls": _tls_server_opts(certs)}
            ckw = {"use_secure_transport": True, "tls": _tls_client_opts(certs)}
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1", backlog=512, **skw)
        await srv.opened
        base = (open_fd_count(), w3sock.stats()["sockets"], w3sock.stats()["loops"])
        pairs = 100 if not secure else 40
        for rnd in range(3):
            clients = [w3sock.TCPSocket("127.0.0.1", srv.local_port, **ckw)
                       for _ in range(pairs)]
            accepted = [await asyncio.wait_for(srv.listen(), TIMEOUT) for _ in clients]
            await asyncio.wait_for(asyncio.gather(*(s.opened for s in clients + accepted)),
                                   TIMEOUT)
            by_port = {s.remote_port: s for s in accepted}
            conns = [by_port[c.local_port] for c in clients]  # each client's peer
            assert open_fd_count() == base[0] + 2 * pairs
            ends: List[Any] = []
            for i, (c, conn) in enumerate(zip(clients, conns)):
                c.send(b"z" * (64 << 10))
                kind = (i + rnd) % 4
                if kind == 0:
                    c.abort()                   # local abort with data queued
                elif kind == 1:
                    conn.abort()                # the peer aborts
                elif kind == 2:
                    c.close()                   # graceful, queue flushed first
                else:
                    c.half_close()              # half-close, peer reads and closes
                    ends.append(conn.readable.read())
            await asyncio.wait_for(asyncio.gather(*ends, return_exceptions=True), TIMEOUT)
            for s in clients + conns:
                if s.ready_state not in ("closing", "closed"):
                    s.close()
            await asyncio.wait_for(asyncio.gather(*(s.closed for s in clients + conns),
                                                  return_exceptions=True), TIMEOUT)
            now = (open_fd_count(), w3sock.stats()["sockets"], w3sock.stats()["loops"])
            assert now == base, f"round {rnd}: fds, sockets, loops {now} != {base}"
        await _close_all(srv, anchor)

    arun(main, timeout=120)
