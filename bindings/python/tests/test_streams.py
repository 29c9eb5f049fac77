"""open_connection / start_server used by code written for asyncio streams."""

from __future__ import annotations

import asyncio

import pytest

import w3sock


# ---- "unchanged asyncio-streams code": written against asyncio's API only ----

async def line_client(open_connection, host, port, lines):
    reader, writer = await open_connection(host, port)
    out = []
    for line in lines:
        writer.write(line.encode() + b"\n")
        await writer.drain()
        out.append((await reader.readline()).decode().rstrip("\n"))
    writer.write_eof()
    rest = await reader.read()
    writer.close()
    await writer.wait_closed()
    return out, rest


async def line_server(start_server, host):
    async def handle(reader, writer):
        peer = writer.get_extra_info("peername")
        assert peer[0] == "127.0.0.1"
        async for line in reader:
            writer.write(line.upper())
            await writer.drain()
        writer.write(b"bye\n")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await start_server(handle, host, 0)
    port = server.sockets[0].getsockname()[1]
    return server, port

# ------------------------------------------------------------------------------


@pytest.mark.parametrize("client_lib,server_lib", [
    ("w3sock", "asyncio"), ("asyncio", "w3sock"), ("w3sock", "w3sock")])
def test_unchanged_streams_code(arun, client_lib, server_lib):
    libs = {"w3sock": w3sock, "asyncio": asyncio}

    async def main():
        server, port = await line_server(libs[server_lib].start_server, "127.0.0.1")
        async with server:
            lines = [f"line {i}" for i in range(50)]
            out, rest = await line_client(libs[client_lib].open_connection, "127.0.0.1",
                                          port, lines)
            assert out == [s.upper() for s in lines]
            assert rest == b"bye\n"

    arun(main)


def test_open_connection_refused_is_connection_refused(run):
    from conftest import free_port

    async def main():
        with pytest.raises(ConnectionRefusedError):
            await w3sock.open_connection("127.0.0.1", free_port())
        with pytest.raises(TypeError):
            import ssl
            await w3sock.open_connection("127.0.0.1", 1, ssl=ssl.create_default_context())

    run(main)


def test_drain_applies_backpressure(run):
    async def main():
        paused = asyncio.Event()
        release = asyncio.Event()
        total = 32 * 1024 * 1024

        async def handle(reader, writer):
            paused.set()
            await release.wait()
            n = 0
            while True:
                d = await reader.read(1 << 20)
                if not d:
                    break
                n += len(d)
            writer.write(str(n).encode())
            await writer.drain()
            writer.close()

        server = await w3sock.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await w3sock.open_connection("127.0.0.1", port)
        await paused.wait()
        block = b"z" * (1 << 20)
        progress = {"i": 0, "max_buffered": 0}
        over_the_mark = asyncio.Event()

        async def write_all():
            for i in range(total // len(block)):
                writer.write(block)
                progress["max_buffered"] = max(progress["max_buffered"],
                                               writer.get_write_buffer_size())
                progress["i"] = i + 1
                if writer.get_write_buffer_size() >= 1 << 20:
                    over_the_mark.set()
                await writer.drain()

        wtask = asyncio.ensure_future(write_all())
        # the server does not read: once the queue is over the 1 MiB mark
        # nothing can empty it, so drain() must hold the writer there
        await asyncio.wait_for(over_the_mark.wait(), 60)
        for _ in range(20):  # loop iterations in which a DRAIN could arrive
            await asyncio.sleep(0)
        assert not wtask.done(), "drain() never blocked"
        i = progress["i"]
        assert i < total // len(block)
        for _ in range(20):
            await asyncio.sleep(0)
        assert progress["i"] == i, "the writer went on past drain()"
        release.set()
        await wtask
        max_buffered = progress["max_buffered"]
        writer.write_eof()
        assert int(await reader.read()) == total
        # drain() kept the buffer near the 1 MiB high-water mark
        assert max_buffered <= 4 * 1024 * 1024
        writer.close()
        server.close()
        await server.wait_closed()

    run(main)
