#!/usr/bin/env python3
"""The benchmark's Python echo servers.

    echo.py IMPL tcp|tls|udp PORT [CERT KEY]

IMPL is w3sock or asyncio, each optionally on uvloop (w3sock-uvloop,
uvloop): the w3sock binding's W3C sockets with their readable/writable, or
the standard library's asyncio streams (with ``ssl`` for TLS) and datagram
endpoints. Prints "ready" once listening on 127.0.0.1:PORT, echoes every
byte or datagram back to its sender, runs until killed.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from typing import Any, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "bindings", "python"))

READ_SIZE = 65536


def ready() -> None:
    print("ready", flush=True)


async def forever() -> None:
    await asyncio.Event().wait()


# ------------------------------------------------------------------ w3sock

async def w3sock_tcp(port: int, tls: Optional[Tuple[str, str]]) -> None:
    import w3sock

    opts: dict[str, Any] = {}
    if tls:
        opts = {"use_secure_transport": True,
                "tls": w3sock.TLSOptions(cert=open(tls[0]).read(), key=open(tls[1]).read())}
    server = w3sock.TCPServerSocket(local_address="127.0.0.1", local_port=port,
                                    backlog=4096, **opts)
    await server.opened

    async def echo(conn: "w3sock.TCPSocket") -> None:
        try:
            writable = conn.writable
            async for data in conn.readable:
                await writable.write(data)
        except w3sock.SocketError:
            pass
        conn.close()

    ready()
    async for conn in server.connections:
        asyncio.ensure_future(echo(conn))


async def w3sock_udp(port: int) -> None:
    import w3sock

    sock = w3sock.UDPSocket(local_address="127.0.0.1", local_port=port)
    await sock.opened
    ready()
    async for msg in sock.readable:
        if not sock.send(msg.data, msg.remote_address, msg.remote_port):
            await sock.writable.ready()


# ----------------------------------------------------------------- asyncio

async def asyncio_tcp(port: int, tls: Optional[Tuple[str, str]]) -> None:
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        # follow the client's cipher order (AES-128-GCM from the load
        # generator), as every other server here does
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        writer.close()

    await asyncio.start_server(echo, "127.0.0.1", port, ssl=ctx, backlog=4096)
    ready()
    await forever()


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Tuple[str, int]) -> None:
        self.transport.sendto(data, addr)


async def asyncio_udp(port: int) -> None:
    await asyncio.get_running_loop().create_datagram_endpoint(
        _Echo, local_addr=("127.0.0.1", port))
    ready()
    await forever()


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit("usage: echo.py w3sock|w3sock-uvloop|asyncio|uvloop tcp|tls|udp PORT [CERT KEY]")
    impl, proto, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tls = (sys.argv[4], sys.argv[5]) if proto == "tls" else None
    if impl.endswith("uvloop"):
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    if impl.startswith("w3sock"):
        main_coro = w3sock_udp(port) if proto == "udp" else w3sock_tcp(port, tls)
    else:
        main_coro = asyncio_udp(port) if proto == "udp" else asyncio_tcp(port, tls)
    loop.run_until_complete(main_coro)


if __name__ == "__main__":
    main()
