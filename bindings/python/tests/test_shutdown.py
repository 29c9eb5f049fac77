"""Clean shutdown at interpreter exit, w3s_shutdown, and no leaks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import w3sock
from conftest import PKG_ROOT


def _run_script(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(PKG_ROOT))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_exit_with_open_sockets_is_clean():
    p = _run_script("""
        import asyncio, threading, w3sock
        from w3sock import sync

        async def main():
            srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
            await srv.opened
            c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
            await c.opened
            conn = await srv.listen()
            c.send(b"x" * 100000)
            asyncio.ensure_future(srv.listen())       # left pending
            u = w3sock.UDPSocket(local_address="127.0.0.1")
            await u.opened
            return srv.local_port

        port = asyncio.run(main())
        s = sync.Socket()
        s.settimeout(10)
        s.bind("127.0.0.1", 0)
        s.listen()
        c = sync.Socket()
        c.connect("127.0.0.1", s.local_port, timeout=10)
        # a thread blocked in accept() must not hold up the exit either
        t = threading.Thread(target=lambda: s.accept(), daemon=True)
        t.start()
        print("done", flush=True)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "done"
    assert "Traceback" not in p.stderr and "Exception ignored" not in p.stderr, p.stderr


def test_after_shutdown_every_call_is_invalid_state():
    p = _run_script("""
        import asyncio, w3sock
        from w3sock import sync

        async def main():
            srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
            await srv.opened
            w3sock.shutdown()
            try:
                w3sock.TCPSocket("127.0.0.1", srv.local_port)
            except w3sock.InvalidStateError as e:
                assert e.code_name == "W3S_ESHUTDOWN", e
            else:
                raise AssertionError("connect after shutdown worked")
            try:
                srv.get_option("address_reuse")
            except w3sock.InvalidStateError:
                pass
            else:
                raise AssertionError("get_option after shutdown worked")

        asyncio.run(main())
        try:
            sync.Socket().connect("127.0.0.1", 9, timeout=1)
        except w3sock.InvalidStateError:
            pass
        else:
            raise AssertionError("sync connect after shutdown worked")
        print("ok", flush=True)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "ok"


def test_no_leaked_sockets(run):
    async def main():
        base = w3sock.stats()["sockets"]
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        clients = [w3sock.TCPSocket("127.0.0.1", srv.local_port) for _ in range(30)]
        conns = [await srv.listen() for _ in clients]
        for c in clients:
            await c.opened
            c.send(b"bye")
            c.close()
        for c in conns:
            assert await c.readable.read() == b"bye"
            c.close()
        srv.close()
        await asyncio.gather(*(s.closed for s in clients + conns + [srv]))
        assert w3sock.stats()["sockets"] == base

    run(main)


def test_sockets_left_on_a_closed_loop_are_reclaimed():
    from conftest import run_async

    async def leave_open():
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        await c.opened
        await srv.listen()
        return srv.local_port

    async def count():
        # a new loop's first socket reclaims what the closed loop left
        u = w3sock.UDPSocket(local_address="127.0.0.1")
        await u.opened
        n = w3sock.stats()["sockets"]
        u.close()
        await u.closed
        return n

    base = run_async(count)
    run_async(leave_open)  # asyncio.run-style: the loop closes, 3 sockets left
    assert run_async(count) == base
