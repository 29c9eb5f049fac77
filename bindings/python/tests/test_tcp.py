"""TCP client and server: echo, half-close, many clients, backpressure."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

import w3sock
from conftest import free_port, rss_bytes


async def _server(**kw):
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1", local_port=0, **kw)
    info = await srv.opened
    assert info.local_port == srv.local_port and srv.local_port > 0
    return srv


def test_echo_checksummed_both_directions(arun):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(payload).hexdigest()

    async def main():
        srv = await _server()

        async def echo_one():
            conn = await srv.listen()
            assert conn.ready_state == "open"
            async for chunk in conn.readable:
                await conn.writable.write(chunk)
            conn.close()
            await conn.closed

        task = asyncio.ensure_future(echo_one())
        sock = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        assert sock.ready_state == "opening"
        info = await sock.opened
        assert sock.ready_state == "open"
        assert info.remote_address == "127.0.0.1" and info.remote_port == srv.local_port
        assert info.local_address == "127.0.0.1" and info.local_port > 0
        assert info.readable is sock.readable and info.writable is sock.writable
        assert sock.writeable is sock.writable

        async def send_all():
            view = memoryview(payload)
            for i in range(0, len(payload), 100_000):
                await sock.writable.write(view[i:i + 100_000])
            sock.half_close()
            assert sock.ready_state == "halfclosed"

        sender = asyncio.ensure_future(send_all())
        got = await sock.readable.read()  # to EOF
        await sender
        assert len(got) == len(payload)
        assert hashlib.sha256(got).hexdigest() == digest
        await task
        await asyncio.wait_for(sock.closed, 10)
        assert sock.ready_state == "closed"
        srv.close()
        await srv.closed

    arun(main)


def test_half_close_keeps_other_direction(arun):
    async def main():
        srv = await _server()
        sock = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        conn = await srv.listen()
        await sock.opened
        await sock.writable.write(b"request")
        await sock.writable.close()  # half-close through the stream
        assert sock.ready_state == "halfclosed"
        assert sock.is_half_closed
        # the server sees EOF after the request, but can still write
        assert await conn.readable.read() == b"request"
        assert conn.readable.at_eof()
        for i in range(5):
            await conn.writable.write(b"reply %d;" % i)
        conn.half_close()
        data = await sock.readable.read()
        assert data == b"".join(b"reply %d;" % i for i in range(5))
        # both directions finished: the core closes both ends by itself
        await asyncio.wait_for(sock.closed, 10)
        await asyncio.wait_for(conn.closed, 10)
        with pytest.raises(w3sock.InvalidStateError):
            sock.send(b"late")
        srv.close()

    arun(main)


def test_200_concurrent_clients(arun):
    n = 200

    async def main():
        srv = await _server(backlog=1024)

        async def handle(conn):
            line = await conn.readable.readuntil(b"\n")
            await conn.writable.write(line.upper())
            conn.close()

        async def acceptor():
            tasks = []
            async for conn in srv.connections:
                tasks.append(asyncio.ensure_future(handle(conn)))
                if len(tasks) == n:
                    break
            await asyncio.gather(*tasks)

        acc = asyncio.ensure_future(acceptor())

        async def client(i):
            async with w3sock.TCPSocket("127.0.0.1", srv.local_port) as s:
                await s.writable.write(b"client %d\n" % i)
                return await s.readable.read()

        replies = await asyncio.gather(*[client(i) for i in range(n)])
        assert replies == [b"CLIENT %d\n" % i for i in range(n)]
        await acc
        srv.close()
        await srv.closed

    arun(main, timeout=120)


SENDER = textwrap.dedent("""
    import hashlib, select, socket, sys
    port, total = int(sys.argv[1]), int(sys.argv[2])
    h = hashlib.sha256()
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    block = bytes(range(256)) * 4096  # 1 MiB
    sent = 0
    reported = -1
    while sent < total:
        chunk = memoryview(block)[: min(len(block), total - sent)]
        try:
            n = s.send(chunk)
        except BlockingIOError:
            # the kernel takes nothing more: the receiver holds back
            if reported != sent:
                print("stalled", sent, flush=True)
                reported = sent
            select.select([], [s], [], 120)
            continue
        h.update(chunk[:n])
        sent += n
    s.setblocking(True)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    print(h.hexdigest(), flush=True)
""")


def _tcp_receive_queue(local_port: int, remote_port: int) -> int:
    """Bytes the kernel holds unread for a loopback TCP connection."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == local_port
                    and int(fields[2].split(":")[1], 16) == remote_port):
                return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no TCP connection {local_port} -> {remote_port}")


def test_backpressure_paused_reader_100mb(run, tmp_path):
    """A 100 MB sender against a reader that does not read: the binding
    pauses the native socket, TCP holds the sender back, RSS stays bounded;
    then everything arrives intact."""
    total = 100 * 1024 * 1024
    script = tmp_path / "sender.py"
    script.write_text(SENDER)

    async def main():
        srv = await _server()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), str(srv.local_port), str(total),
            stdout=asyncio.subprocess.PIPE)
        conn = await srv.listen()
        rss0 = rss_bytes()
        # do not read. The sender reports each time the kernel refuses its
        # bytes; wait for a report made while the native socket is paused
        # and the kernel holds bytes the library has not taken.
        while True:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.startswith(b"stalled"), f"the sender never stalled: {line!r}"
            info = conn.get_info()
            if info["paused"] and _tcp_receive_queue(conn.local_port, conn.remote_port) > 0:
                break
        assert info["bytes_received"] < total // 2, info
        assert conn.readable.buffered <= 4 * 1024 * 1024
        grown = rss_bytes() - rss0
        assert grown < 48 * 1024 * 1024, f"RSS grew by {grown} bytes"
        # now read it all
        h = hashlib.sha256()
        n = 0
        peak = 0
        async for chunk in conn.readable:
            h.update(chunk)
            n += len(chunk)
            if n % (8 << 20) < len(chunk):
                peak = max(peak, rss_bytes() - rss0)
        conn.close()
        out = await asyncio.wait_for(proc.stdout.read(), 60)
        await proc.wait()
        assert n == total
        digest = [ln for ln in out.decode().split("\n") if ln and not ln.startswith("stalled")]
        assert digest == [h.hexdigest()]
        assert peak < 64 * 1024 * 1024, f"RSS peak growth {peak}"
        w3sock.release_memory()
        srv.close()

    run(main, timeout=180)


def test_writer_backpressure_waits_for_drain(arun):
    async def main():
        srv = await _server()
        sock = w3sock.TCPSocket("127.0.0.1", srv.local_port, high_water_send=256 * 1024)
        conn = await srv.listen()
        await sock.opened
        conn.suspend()  # the peer does not read
        block = b"x" * (1 << 20)

        waiting = asyncio.Event()

        async def writer():
            for _ in range(64):
                write = asyncio.ensure_future(sock.writable.write(block))
                await asyncio.sleep(0)  # the write runs up to its wait
                if sock.buffered_amount > 0:
                    waiting.set()  # bytes the kernel did not take: must wait
                await write

        task = asyncio.ensure_future(writer())
        # the peer does not read: once bytes wait in the library's queue
        # nothing can empty it, so write() must not return
        await asyncio.wait_for(waiting.wait(), 60)
        for _ in range(20):  # loop iterations in which a DRAIN could arrive
            await asyncio.sleep(0)
        assert not task.done(), "write() never waited although the peer did not read"
        # write() waits for the flush of what the kernel did not take, so
        # what waits may be below the mark; send() reports crossing it.
        assert 0 < sock.buffered_amount <= 256 * 1024 + len(block)
        extra = b"y" * (256 * 1024)
        assert sock.send(extra) is False  # at/above the high-water mark
        conn.resume()
        n = 0
        while n < 64 * len(block) + len(extra):
            chunk = await conn.readable.read(1 << 20)
            assert chunk
            n += len(chunk)
        await task
        sock.close()
        conn.close()
        srv.close()
        await sock.closed

    arun(main, timeout=120)


def test_stream_reader_methods(arun):
    async def main():
        srv = await _server()
        sock = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        conn = await srv.listen()
        await sock.opened
        sock.send(b"line one\nline two\r\nABCDEFGH12345")
        sock.half_close()
        r = conn.readable
        assert await r.readline() == b"line one\n"
        assert await r.readuntil(b"\r\n") == b"line two\r\n"
        assert await r.readexactly(4) == b"ABCD"
        assert await r.read(3) == b"EFG"
        with pytest.raises(asyncio.IncompleteReadError) as ei:
            await r.readexactly(100)
        assert ei.value.partial == b"H12345"
        assert await r.read() == b""
        assert r.at_eof()
        conn.close()
        await sock.closed

    arun(main)


def test_async_with_closes_and_attributes(arun):
    async def main():
        srv = await _server()
        async with w3sock.TCPSocket("127.0.0.1", srv.local_port, no_delay=False,
                                    keep_alive_delay=30) as s:
            assert s.no_delay is False and s.address_reuse is True
            assert s.get_option("no_delay") is False
            assert s.get_option("keep_alive") is True
            s.set_option("no_delay", True)
            assert s.get_option("no_delay") is True
            info = s.get_info()
            assert info["kind"] == "tcp" and info["ready_state"] == "open"
            conn = await srv.listen()
        assert s.ready_state == "closed"
        assert await conn.readable.read() == b""
        conn.close()
        async with srv:
            pass
        assert srv.ready_state == "closed"

    arun(main)


def test_listen_pending_is_aborted_on_close(arun):
    async def main():
        srv = await _server()
        port = srv.local_port
        pending = asyncio.ensure_future(srv.listen())
        await asyncio.sleep(0)
        srv.close()
        with pytest.raises(w3sock.AbortError):
            await pending
        await srv.closed
        # the port is free again
        srv2 = w3sock.TCPServerSocket(local_address="127.0.0.1", local_port=port)
        await srv2.opened
        srv2.close()

    arun(main)


def test_errors_have_w3c_names(arun):
    async def main():
        port = free_port()
        # refused
        s = w3sock.TCPSocket("127.0.0.1", port)
        with pytest.raises(w3sock.NetworkError) as ei:
            await s.opened
        e = ei.value
        assert e.name == "NetworkError" and e.code_name == "W3S_ECONNREFUSED"
        assert isinstance(e, ConnectionRefusedError) and isinstance(e, OSError)
        assert e.code == -9
        with pytest.raises(w3sock.NetworkError):
            await s.closed
        assert s.ready_state == "closed"
        # bad address
        with pytest.raises(w3sock.InvalidAccessError) as ei2:
            w3sock.TCPSocket("127.0.0.1", 80, local_address="not-an-ip")
        assert ei2.value.code_name == "W3S_EADDR"
        # bad arguments never reach C
        with pytest.raises(ValueError):
            w3sock.TCPSocket("127.0.0.1", 70000)
        with pytest.raises(TypeError):
            w3sock.TCPSocket("127.0.0.1", "80")
        with pytest.raises(TypeError):
            w3sock.TCPSocket(None, 80)
        with pytest.raises(ValueError):
            w3sock.TCPSocket("", 80)
        with pytest.raises(TypeError):
            w3sock.TCPSocket("127.0.0.1", 80, no_delay="yes")
        with pytest.raises(ValueError):
            w3sock.TCPServerSocket(local_port=-1)
        # unknown host
        s2 = w3sock.TCPSocket("no-such-host.invalid", 80)
        with pytest.raises(w3sock.NetworkError) as ei3:
            await s2.opened
        assert ei3.value.code_name == "W3S_ENOTFOUND"
        # closed socket / wrong state
        srv = await _server()
        c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        await c.opened
        conn = await srv.listen()
        c.close()
        assert c.ready_state == "closing"
        with pytest.raises(w3sock.InvalidStateError):
            c.send(b"after close")
        with pytest.raises(w3sock.InvalidStateError):
            c.half_close()
        await c.closed
        with pytest.raises(w3sock.InvalidStateError):
            c.start_tls()
        with pytest.raises(TypeError):
            conn.send("text is not bytes")
        # address in use: rejects opened (the constructor does not raise)
        busy = w3sock.TCPServerSocket(local_address="127.0.0.1", local_port=srv.local_port)
        with pytest.raises(w3sock.NetworkError) as ei4:
            await busy.opened
        assert ei4.value.code_name == "W3S_EADDRINUSE"
        conn.close()
        srv.close()
        await srv.closed
        with pytest.raises(w3sock.InvalidStateError):
            await srv.listen()
        with pytest.raises(ValueError):
            srv.get_option("no_such_option")

    arun(main)


def test_connect_timeout_is_network_error(run):
    async def main():
        # a loopback listener that never accepts, its backlog full: the kernel
        # drops further SYNs, so the connect can only time out
        import socket
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(0)
        port = ls.getsockname()[1]
        fillers = []
        try:
            for _ in range(8):
                f = socket.socket()
                f.setblocking(False)
                try:
                    f.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                fillers.append(f)
            s = w3sock.TCPSocket("127.0.0.1", port, connect_timeout=0.3)
            try:
                await s.opened
            except w3sock.NetworkError as e:
                assert e.code_name == "W3S_ETIMEDOUT"
                assert isinstance(e, TimeoutError)
            else:
                pytest.fail("connected although the listener's backlog was full")
        finally:
            for f in fillers:
                f.close()
            ls.close()

    run(main)


def test_unix_socket(arun, tmp_path):
    path = str(tmp_path / "s.sock")

    async def main():
        srv = w3sock.TCPServerSocket(local_address="unix:" + path)
        await srv.opened
        c = w3sock.TCPSocket("unix:" + path)
        await c.opened
        conn = await srv.listen()
        await c.writable.write(b"over unix")
        c.half_close()
        assert await conn.readable.read() == b"over unix"
        conn.close()
        await c.closed
        srv.close()

    arun(main)


def test_send_while_opening_queues(arun):
    async def main():
        srv = await _server()
        sock = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        assert sock.ready_state == "opening"
        assert sock.send(b"early ") is True
        await sock.writable.write(bytearray(b"bird"))
        conn = await srv.listen()
        assert await conn.readable.readexactly(10) == b"early bird"
        await sock.opened
        # a cancelled listen() does not lose a connection
        pending = asyncio.ensure_future(srv.listen())
        await asyncio.sleep(0)
        pending.cancel()
        other = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        await other.opened
        c2 = await asyncio.wait_for(srv.listen(), 10)
        assert c2.remote_port == other.local_port
        for s in (sock, conn, other, c2, srv):
            s.close()
        await srv.closed

    arun(main)


def test_dual_stack_server_and_ipv6(arun):
    async def main():
        srv = w3sock.TCPServerSocket(local_port=0)  # any address, both families
        await srv.opened
        for host in ("127.0.0.1", "::1", "localhost"):
            c = w3sock.TCPSocket(host, srv.local_port)
            await c.opened
            conn = await srv.listen()
            c.send(host.encode())
            c.half_close()
            assert await conn.readable.read() == host.encode()
            if host == "::1":
                assert conn.remote_address == "::1" and c.remote_address == "::1"
            conn.close()
            await c.closed
        srv.close()
        await srv.closed

    arun(main)
