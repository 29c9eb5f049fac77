"""UDP: unconnected and connected sockets, UDPMessage, errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

import w3sock


def test_udp_unconnected_round_trip(arun):
    async def main():
        a = w3sock.UDPSocket(local_address="127.0.0.1", local_port=0)
        b = w3sock.UDPSocket(local_address="127.0.0.1")
        ia = await a.opened
        await b.opened
        assert ia.local_port == a.local_port and a.local_port > 0
        assert a.ready_state == "open"
        assert b.send(b"hello a", "127.0.0.1", a.local_port) is True
        m = await a.readable.read()
        assert isinstance(m, w3sock.UDPMessage)
        assert m.data == b"hello a"
        assert m.remote_address == "127.0.0.1" and m.remote_port == b.local_port
        await a.writable.write(w3sock.UDPMessage(b"reply", m.remote_address, m.remote_port))
        async for m2 in b.readable:
            assert m2.data == b"reply" and m2.remote_port == a.local_port
            break
        # many datagrams, in order on loopback, each one whole
        for i in range(100):
            b.send(b"%d" % i + b"." * i, "127.0.0.1", a.local_port)
        got = [(await a.readable.read()).data for _ in range(100)]
        assert got == [b"%d" % i + b"." * i for i in range(100)]
        info = a.get_info()
        assert info["kind"] == "udp" and info["messages_received"] >= 101
        a.close()
        b.close()
        await a.closed
        await b.closed
        assert await a.readable.read() is None

    arun(main)


def test_udp_connected(arun):
    async def main():
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        peer.settimeout(10)
        pport = peer.getsockname()[1]
        try:
            u = w3sock.UDPSocket(local_address="127.0.0.1", remote_address="127.0.0.1",
                                 remote_port=pport)
            await u.opened
            assert u.remote_address == "127.0.0.1" and u.remote_port == pport
            await u.writable.write(b"to the connected peer")
            loop = asyncio.get_running_loop()
            data, addr = await loop.run_in_executor(None, peer.recvfrom, 2048)
            assert data == b"to the connected peer" and addr[1] == u.local_port
            peer.sendto(b"back", addr)
            m = await u.readable.read()
            assert m.data == b"back" and m.remote_port == pport
            u.set_peer(None)
            assert u.remote_address is None
            with pytest.raises(w3sock.SocketError):
                u.send(b"no destination")
            u.set_peer("127.0.0.1", pport)
            u.send(b"again")
            data, _ = await loop.run_in_executor(None, peer.recvfrom, 2048)
            assert data == b"again"
            u.close()
            await u.closed
        finally:
            peer.close()

    arun(main)


def test_udp_errors(run):
    async def main():
        with pytest.raises(ValueError):
            w3sock.UDPSocket(remote_address="127.0.0.1")  # port missing
        with pytest.raises(TypeError):
            w3sock.UDPSocket(loopback=1)
        with pytest.raises(ValueError):
            w3sock.UDPSocket(multicast_ttl=300)
        with pytest.raises(w3sock.InvalidAccessError):
            w3sock.UDPSocket(local_address="300.1.1.1")
        u = w3sock.UDPSocket(local_address="127.0.0.1")
        await u.opened
        with pytest.raises(w3sock.InvalidAccessError) as ei:
            u.join_multicast("127.0.0.1")
        assert ei.value.code_name == "W3S_ENOTMULTICAST"
        with pytest.raises(TypeError):
            u.send("str")
        with pytest.raises(ValueError):
            u.send(b"x", "127.0.0.1", 0)
        with pytest.raises(w3sock.InvalidAccessError):
            u.send(b"x", "not an address", 9)
        u.close()
        await u.closed
        with pytest.raises(w3sock.InvalidStateError):
            u.send(b"x", "127.0.0.1", 9)

    run(main)


def test_network_interfaces_lists_loopback(run):
    async def main():
        ifs = w3sock.network_interfaces()
        lo = [i for i in ifs if i["loopback"]]
        assert lo and any(i["address"] == "127.0.0.1" and i["prefix_length"] == 8 for i in lo)

    run(main)


def test_udp_connected_refuses_other_destination(run):
    # (found failing against the library of 01:00: fixed in the core by 6619336)
    async def main():
        u = w3sock.UDPSocket(local_address="127.0.0.1", remote_address="127.0.0.1",
                             remote_port=9)
        await u.opened
        try:
            with pytest.raises(w3sock.SocketError) as ei:
                u.send(b"x", "127.0.0.1", 10)
            assert ei.value.code_name == "W3S_EISCONN"
        finally:
            u.close()

    run(main)
