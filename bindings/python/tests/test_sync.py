"""The blocking API after CommonJS Sockets/A."""

from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest

import w3sock
from w3sock import sync
from w3sock.sync import (AF_INET, AF_INET6, AF_UNIX, SHUT_WR, SOCK_DGRAM,
                         SOCK_STREAM, Datagram, Socket)


def _listener(family=AF_INET, host="127.0.0.1"):
    s = Socket(family, SOCK_STREAM)
    s.settimeout(20)
    s.bind(host, 0)
    s.listen()
    assert s.local_port and s.local_port > 0
    return s


def test_blocking_echo_and_predicates():
    srv = _listener()
    payload = os.urandom(2 * 1024 * 1024)

    def serve():
        c = srv.accept()
        try:
            while True:
                d = c.receive(65536)
                if not d:
                    break
                c.send(d)
            c.shutdown(SHUT_WR)
        finally:
            c.close()

    t = threading.Thread(target=serve)
    t.start()
    cli = Socket()
    cli.settimeout(20)
    assert not cli.is_connected()
    cli.connect("127.0.0.1", srv.local_port, timeout=10)
    assert cli.is_connected() and cli.is_writable()
    assert cli.remote_address == "127.0.0.1" and cli.remote_port == srv.local_port
    assert cli.local_address == "127.0.0.1" and cli.local_port > 0
    assert cli.type == SOCK_STREAM
    sender = threading.Thread(target=lambda: (cli.send(payload), cli.shutdown(SHUT_WR)))
    sender.start()
    got = bytearray()
    while True:
        d = cli.receive(100_000)
        if not d:
            break
        got += d
    sender.join(20)
    t.join(20)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    assert cli.is_readable()  # at EOF receive does not block
    cli.close()
    srv.close()
    with pytest.raises(w3sock.InvalidStateError):
        cli.send(b"x")


def test_receive_timeout_and_options():
    srv = _listener()
    cli = Socket(AF_INET, SOCK_STREAM)
    cli.connect("127.0.0.1", srv.local_port, timeout=10)
    conn = srv.accept(timeout=10)
    conn.settimeout(0.2)
    assert not conn.is_readable()
    with pytest.raises(TimeoutError):
        conn.receive(10)
    cli.set_option("no_delay", False)
    assert cli.get_option("no_delay") is False
    cli.set_option("keepalive", True)
    assert cli.get_option("keep_alive") is True
    assert cli.get_option("rcvbuf") > 0
    with pytest.raises(ValueError):
        cli.set_option("bogus", 1)
    cli.send(b"ping")
    conn.settimeout(10)
    assert conn.receive(100) == b"ping"
    for s in (cli, conn, srv):
        s.close()


def test_send_file(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(5 * 1024 * 1024 + 3)
    path.write_bytes(data)
    srv = _listener()
    cli = Socket()
    cli.connect("127.0.0.1", srv.local_port, timeout=10)
    conn = srv.accept()
    result = {}

    def reader():
        buf = bytearray()
        while True:
            d = conn.receive(1 << 20)
            if not d:
                break
            buf += d
        result["data"] = bytes(buf)

    t = threading.Thread(target=reader)
    t.start()
    assert cli.send_file(str(path)) == len(data)
    assert cli.send_file(path, offset=len(data) - 3) == 3
    with pytest.raises(w3sock.NetworkError) as ei:
        cli.send_file(str(tmp_path / "missing"))
    assert isinstance(ei.value, FileNotFoundError) and ei.value.code_name == "W3S_ENOENT"
    cli.shutdown(SHUT_WR)
    t.join(30)
    assert result["data"] == data + data[-3:]
    for s in (cli, conn, srv):
        s.close()


def test_af_unix(tmp_path):
    path = str(tmp_path / "sync.sock")
    srv = Socket(AF_UNIX, SOCK_STREAM)
    srv.settimeout(10)
    srv.bind(path)
    srv.listen()
    assert srv.local_address == path
    cli = Socket(AF_UNIX)
    cli.settimeout(10)
    with pytest.raises(TypeError):
        cli.connect(path, 80)
    cli.connect(path)
    conn = srv.accept()
    cli.send(b"unix data")
    assert conn.receive(100) == b"unix data"
    conn.send(b"back")
    assert cli.receive(100) == b"back"
    # interop with the stdlib on the same path
    std = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    std.settimeout(10)
    std.connect(path)
    conn2 = srv.accept()
    std.sendall(b"from stdlib")
    assert conn2.receive(100) == b"from stdlib"
    std.close()
    for s in (cli, conn, conn2, srv):
        s.close()
    assert not os.path.exists(path)


def test_udp_send_to_receive_from():
    a = Socket(AF_INET, SOCK_DGRAM)
    a.settimeout(10)
    a.bind("127.0.0.1", 0)
    b = Socket(AF_INET, SOCK_DGRAM)
    b.settimeout(10)
    b.bind("127.0.0.1", 0)
    # CommonJS Sockets/A: sendTo(host, port, data), receiveFrom() -> {data, address, port}
    assert b.send_to("127.0.0.1", a.local_port, b"datagram") == 8
    d = a.receive_from(100)
    assert isinstance(d, Datagram)
    assert d.data == b"datagram" and d.address == "127.0.0.1" and d.port == b.local_port
    a.connect("127.0.0.1", b.local_port)
    assert a.is_connected()
    a.send(b"connected")
    d = b.receive_from(4)
    assert d.data == b"conn" and d.port == a.local_port  # truncated to maxlen
    # the 0.1 order is refused with a message saying the new one
    with pytest.raises(TypeError, match=r"\(host, port, data\)"):
        b.send_to(b"x", "127.0.0.1", a.local_port)  # type: ignore[arg-type]
    a.settimeout(0.2)
    with pytest.raises(TimeoutError):
        a.receive_from(10)
    a.close()
    b.close()


def test_sync_errors():
    with pytest.raises(ValueError):
        Socket(12345)
    with pytest.raises(ValueError):
        Socket(AF_UNIX, SOCK_DGRAM)
    s = Socket()
    with pytest.raises(TypeError):
        s.connect(None, 80)
    with pytest.raises(ValueError):
        s.connect("127.0.0.1", 0)
    with pytest.raises(w3sock.InvalidStateError):
        s.receive(10)
    with pytest.raises(w3sock.InvalidStateError):
        s.accept()
    import socket as std
    with std.socket() as tmp:
        tmp.bind(("127.0.0.1", 0))
        port = tmp.getsockname()[1]
    with pytest.raises(ConnectionRefusedError) as ei:
        s.connect("127.0.0.1", port, timeout=10)
    assert isinstance(ei.value, w3sock.NetworkError)
    assert ei.value.code_name == "W3S_ECONNREFUSED"
    s.close()
    s6 = Socket(AF_INET6, SOCK_STREAM)
    s6.settimeout(10)
    s6.bind("::1", 0)
    s6.listen()
    c6 = Socket(AF_INET6)
    c6.connect("::1", s6.local_port, timeout=10)
    c = s6.accept()
    assert c.remote_address == "::1"
    for x in (c6, c, s6):
        x.close()
    assert sync  # the module is importable as w3sock.sync


def test_close_wakes_a_blocked_accept():
    srv = _listener()
    result = {}

    def blocked():
        try:
            srv.accept(timeout=30)
        except Exception as e:  # noqa: BLE001 - the test inspects it
            result["error"] = e

    t = threading.Thread(target=blocked)
    t.start()
    # whether accept() is already waiting or not yet called, it must end
    # with InvalidStateError instead of hanging
    srv.close()
    t.join(30)
    assert not t.is_alive()
    assert isinstance(result.get("error"), w3sock.InvalidStateError), result
