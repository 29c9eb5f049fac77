#!/usr/bin/env python3
"""TCP echo server on w3sock (W3C TCPServerSocket).

    python3 echo_server.py [--port N] [--once]

Prints "listening on ADDRESS:PORT" when ready; echoes every connection;
with --once it exits after the first connection ends.
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bindings", "python"))
import w3sock  # noqa: E402


async def echo(conn: w3sock.TCPSocket) -> int:
    n = 0
    async for chunk in conn.readable:
        n += len(chunk)
        await conn.writable.write(chunk)
    conn.close()
    await conn.closed
    return n


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--once", action="store_true")
    args = ap.parse_args()
    server = w3sock.TCPServerSocket(local_address=args.host, local_port=args.port)
    info = await server.opened
    print(f"listening on {info.local_address}:{info.local_port}", flush=True)
    tasks = set()
    async for conn in server.connections:
        print(f"connection from {conn.remote_address}:{conn.remote_port}", flush=True)
        if args.once:
            n = await echo(conn)
            print(f"echoed {n} bytes", flush=True)
            break
        t = asyncio.ensure_future(echo(conn))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    server.close()
    await server.closed


if __name__ == "__main__":
    asyncio.run(main())
