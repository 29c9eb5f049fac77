"""Teardown in every Python host: an asyncio loop closed with sockets open,
interpreter exit with sockets open, and os.fork() children (issue 11).

Each must end promptly, leave nothing behind (the library's stats, the
process's descriptors and threads back to where they were) and say nothing
on stderr; where an error is due it is a clear one (AbortError when the
loop went away, InvalidStateError W3S_EFORKED in a forked child).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from typing import Any, Dict, List

import pytest

import w3sock
from conftest import LOOP_KINDS, open_fd_count, run_script

# --------------------------------------------------------------------------
# an asyncio loop closed with sockets still open
# --------------------------------------------------------------------------


def _factory(kind: str) -> Any:
    if kind == "uvloop":
        import uvloop
        return uvloop.new_event_loop
    return asyncio.new_event_loop


async def _open_everything(certs: Any, kept: List[Any]) -> None:
    """Opens one of each kind of socket and leaves them all open and busy:
    a listener, a plain pair with megabytes queued towards a suspended
    reader, a TLS pair, a UDP socket with a datagram unread."""
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
    await srv.opened
    c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
    await c.opened
    conn = await srv.listen()
    conn.suspend()
    c.send(b"q" * (4 << 20))  # far more than the kernel buffers take
    tls_srv = w3sock.TCPServerSocket(
        local_address="127.0.0.1", use_secure_transport=True,
        tls={"cert": certs.text(certs.server_cert), "key": certs.text(certs.server_key)})
    await tls_srv.opened
    tc = w3sock.TCPSocket("127.0.0.1", tls_srv.local_port, use_secure_transport=True,
                          tls={"ca": certs.text(certs.ca), "server_name": "localhost"})
    tconn = await tls_srv.listen()
    await tc.opened
    await tconn.opened
    tc.send(b"t" * 100_000)
    u = w3sock.UDPSocket(local_address="127.0.0.1")
    await u.opened
    u.send(b"unread", "127.0.0.1", u.local_port)
    kept.extend([srv, c, conn, tls_srv, tc, tconn, u])


def _wait_goroutines(base: int) -> int:
    """The library's goroutines end a moment after their sockets are closed
    and nothing reports when; so this waits, bounded, for the count to be
    back (the only polled wait in this file)."""
    deadline = time.monotonic() + 10
    while True:
        n = int(w3sock.stats()["goroutines"])
        if n <= base or time.monotonic() > deadline:
            return n
        time.sleep(0.01)


def _snapshot() -> Dict[str, Any]:
    s = w3sock.stats()
    return {"loops": s["loops"], "sockets": s["sockets"], "fds": open_fd_count(),
            "threads": sorted(t.name for t in threading.enumerate())}


@pytest.mark.parametrize("how", ["asyncio.run", "loop.close"])
@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_closing_the_loop_closes_its_sockets(kind: str, how: str, certs: Any,
                                             caplog: Any) -> None:
    factory = _factory(kind)

    def one_round() -> List[Any]:
        kept: List[Any] = []
        if how == "asyncio.run":
            async def main() -> None:
                await _open_everything(certs, kept)
                # a task still waiting: asyncio.run cancels it before closing
                asyncio.ensure_future(kept[0].listen())
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(asyncio.wait_for(main(), 30))
        else:
            loop = factory()
            loop.run_until_complete(asyncio.wait_for(_open_everything(certs, kept), 30))
            loop.close()
        return kept

    one_round()  # the first round makes what stays for good (Go's poller, libuv's pipe)
    gc.collect()
    base = _snapshot()
    base_goroutines = int(w3sock.stats()["goroutines"])
    with caplog.at_level(logging.WARNING):
        kept = one_round()
        # the loop is closed: nothing of the native side may be left
        assert _snapshot() == base
        assert _wait_goroutines(base_goroutines) <= base_goroutines
        for s in kept:
            assert s.ready_state == "closed", s
            assert s.closed.done()
            exc = s.closed.exception()
            assert isinstance(exc, w3sock.AbortError), (s, exc)
            assert exc.code_name == "W3S_EABORTED"
        for s in kept[1:3] + kept[4:6]:
            assert s.buffered_amount == 0
            with pytest.raises(w3sock.AbortError) as e:
                s.send(b"after the loop closed")
            assert "event loop was closed" in str(e.value)
        with pytest.raises(w3sock.AbortError):
            kept[6].send(b"x", "127.0.0.1", 9)
        del kept
        gc.collect()
    # no "exception was never retrieved", no "Task was destroyed but pending"
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_a_new_loop_after_a_closed_one_works(kind: str) -> None:
    factory = _factory(kind)

    async def echo_once() -> bytes:
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
        conn = await srv.listen()
        await c.opened
        c.send(b"ping")
        data = await conn.readable.readexactly(4)
        return data

    for _ in range(3):  # each loop closed with its three sockets open
        with asyncio.Runner(loop_factory=factory) as runner:
            assert runner.run(asyncio.wait_for(echo_once(), 30)) == b"ping"
        assert w3sock.stats()["sockets"] == 0


# --------------------------------------------------------------------------
# interpreter exit with sockets open
# --------------------------------------------------------------------------

_EXIT_SCRIPT = """
import asyncio, sys, w3sock
kind, ending = sys.argv[1], sys.argv[2]
if kind == "uvloop":
    import uvloop
    factory = uvloop.new_event_loop
else:
    factory = asyncio.new_event_loop

async def main():
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
    await srv.opened
    c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
    await c.opened
    conn = await srv.listen()
    conn.suspend()
    c.send(b"x" * (4 << 20))
    u = w3sock.UDPSocket(local_address="127.0.0.1")
    await u.opened
    print("done", flush=True)
    if ending == "sys.exit":
        sys.exit(0)  # from inside the coroutine, sockets open
    return c, conn, srv, u

if ending == "unclosed":  # the loop is never closed either
    loop = factory()
    keep = loop.run_until_complete(main())
else:
    with asyncio.Runner(loop_factory=factory) as runner:
        keep = runner.run(main())
"""


@pytest.mark.parametrize("ending", ["returns", "sys.exit", "unclosed"])
@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_interpreter_exit_with_sockets_open(kind: str, ending: str) -> None:
    p = run_script(_EXIT_SCRIPT, kind, ending, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "done\n", "")


# --------------------------------------------------------------------------
# os.fork()
# --------------------------------------------------------------------------

_FORK_SCRIPT = """
import asyncio, os, sys, warnings, w3sock
from w3sock import sync
# Python 3.12+ warns about fork() in a process with threads (the library's)
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")
kind, mode = sys.argv[1], sys.argv[2]
if kind == "uvloop":
    import uvloop
    factory = uvloop.new_event_loop
else:
    factory = asyncio.new_event_loop

def expect_forked(what, fn):
    try:
        fn()
    except w3sock.InvalidStateError as e:
        assert e.code_name == "W3S_EFORKED", (what, e)
        print("child:", what, e.code_name, flush=True)
    else:
        raise AssertionError(what + " worked in a forked child")

async def main():
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
    await srv.opened
    c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
    await c.opened
    conn = await srv.listen()
    # unread data at the fork: the native loop's descriptor is readable in
    # both processes, so the child's copy of the running loop will wake on it
    c.send(b"before")
    # the blocking API's engine thread runs in the parent too
    blocking = sync.Socket()
    blocking.bind("127.0.0.1", 0)
    blocking.listen()
    before = w3sock.stats()
    pid = os.fork()
    if pid == 0:
        if mode == "use":
            expect_forked("send", lambda: c.send(b"from the child"))
            expect_forked("stats", w3sock.stats)
            expect_forked("TCPSocket", lambda: w3sock.TCPSocket("127.0.0.1", srv.local_port))
            expect_forked("UDPSocket", lambda: w3sock.UDPSocket(local_address="127.0.0.1"))
            expect_forked("sync connect", lambda: sync.Socket().connect(
                "127.0.0.1", srv.local_port, timeout=5))
        print("child: exit", flush=True)
        sys.exit(0)  # through asyncio's own cleanup and atexit, in the child
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    # the parent's sockets did not notice
    assert await asyncio.wait_for(conn.readable.readexactly(6), 10) == b"before"
    c.send(b"after")
    assert await asyncio.wait_for(conn.readable.readexactly(5), 10) == b"after"
    assert w3sock.stats()["sockets"] == before["sockets"]
    blocking.close()
    for s in (c, conn, srv):
        s.close()
    await asyncio.wait_for(asyncio.gather(c.closed, conn.closed, srv.closed), 10)
    print("parent: ok", flush=True)

with asyncio.Runner(loop_factory=factory) as runner:
    runner.run(main())
"""


@pytest.mark.parametrize("mode", ["use", "idle"])
@pytest.mark.parametrize("kind", LOOP_KINDS)
def test_fork_child(kind: str, mode: str) -> None:
    p = run_script(_FORK_SCRIPT, kind, mode, timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    lines = p.stdout.splitlines()
    expected = ["child: exit", "parent: ok"]
    if mode == "use":
        expected[:0] = [f"child: {w} W3S_EFORKED" for w in
                        ("send", "stats", "TCPSocket", "UDPSocket", "sync connect")]
    assert lines == expected


_FORK_DURING_GC_SCRIPT = """
import asyncio, os, sys, threading, warnings, w3sock
warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")
stop = threading.Event()

def collect():
    while not stop.is_set():
        w3sock.release_memory()  # a Go garbage collection, over and over

async def main():
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
    await srv.opened
    c = w3sock.TCPSocket("127.0.0.1", srv.local_port)
    await c.opened
    conn = await srv.listen()
    collector = threading.Thread(target=collect)
    collector.start()
    try:
        for _ in range(20):
            c.send(b"x")  # the native loop's descriptor is readable at the fork
            pid = os.fork()
            if pid == 0:
                try:
                    w3sock.stats()
                except w3sock.InvalidStateError:
                    pass
                sys.exit(0)  # asyncio's cleanup polls the inherited loop
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            assert await asyncio.wait_for(conn.readable.readexactly(1), 10) == b"x"
    finally:
        stop.set()
        collector.join()
    print("ok", flush=True)

asyncio.run(main())
"""


def test_fork_during_garbage_collection_does_not_hang() -> None:
    """The library's Go runtime cannot be entered in a child forked while it
    collects garbage (it spins forever): the binding must answer W3S_EFORKED
    itself there, for every call (before the fix: a hang in 3 of 3 runs)."""
    p = run_script(_FORK_DURING_GC_SCRIPT, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, "ok\n", "")
