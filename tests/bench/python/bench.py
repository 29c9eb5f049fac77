#!/usr/bin/env python3
"""Ping-pong round trips/s and bulk MB/s: w3sock vs asyncio streams (and uvloop).

Each kind runs its own echo/sink server in a child process and its client in
this process, on 127.0.0.1, one after the other in the same run.

    python3 bench.py [--roundtrips N] [--megabytes M] [--kinds w3sock,asyncio,uvloop]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bindings", "python"))

MSG = 64
CHUNK = 256 * 1024


def new_loop(kind):
    if kind in ("uvloop", "w3sock-uvloop"):
        import uvloop
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# ---------------------------------------------------------------- servers

async def serve_asyncio():
    async def handle(reader, writer):
        mode = await reader.readexactly(1)
        if mode == b"P":  # echo
            while True:
                d = await reader.read(65536)
                if not d:
                    break
                writer.write(d)
                await writer.drain()
        else:  # sink: count, answer the total at EOF
            n = 0
            while True:
                d = await reader.read(1 << 20)
                if not d:
                    break
                n += len(d)
            writer.write(b"%d\n" % n)
            await writer.drain()
        writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def serve_w3sock():
    import w3sock
    srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
    await srv.opened
    print(srv.local_port, flush=True)

    async def handle(conn):
        r = conn.readable
        mode = await r.readexactly(1)
        if mode == b"P":
            async for d in r:
                if not conn.send(d):
                    await conn.writable.ready()
        else:
            n = 0
            async for d in r:
                n += len(d)
            conn.send(b"%d\n" % n)
        conn.close()

    async def accept():
        async for conn in srv.connections:
            asyncio.ensure_future(handle(conn))

    acc = asyncio.ensure_future(accept())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    srv.close()
    await acc


# ---------------------------------------------------------------- clients

async def client_asyncio(port, roundtrips, total):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"P")
    msg = b"x" * MSG
    t0 = time.perf_counter()
    for _ in range(roundtrips):
        w.write(msg)
        await r.readexactly(MSG)
    pp = roundtrips / (time.perf_counter() - t0)
    w.close()
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"B")
    block = b"b" * CHUNK
    t0 = time.perf_counter()
    sent = 0
    while sent < total:
        w.write(block)
        sent += len(block)
        await w.drain()
    w.write_eof()
    n = int(await r.readline())
    bulk = n / (time.perf_counter() - t0) / 1e6
    assert n == sent
    w.close()
    return pp, bulk


async def client_w3sock(port, roundtrips, total):
    import w3sock
    s = w3sock.TCPSocket("127.0.0.1", port)
    await s.opened
    s.send(b"P")
    msg = b"x" * MSG
    rd = s.readable
    t0 = time.perf_counter()
    for _ in range(roundtrips):
        s.send(msg)
        await rd.readexactly(MSG)
    pp = roundtrips / (time.perf_counter() - t0)
    s.close()
    s = w3sock.TCPSocket("127.0.0.1", port)
    await s.opened
    s.send(b"B")
    block = b"b" * CHUNK
    wr = s.writable
    t0 = time.perf_counter()
    sent = 0
    while sent < total:
        await wr.write(block)
        sent += len(block)
    s.half_close()
    n = int(await s.readable.readuntil(b"\n"))
    bulk = n / (time.perf_counter() - t0) / 1e6
    assert n == sent
    s.close()
    return pp, bulk


def run_kind(kind, roundtrips, total):
    server_kind = kind
    env = dict(os.environ)
    p = subprocess.Popen([sys.executable, __file__, "--serve", server_kind],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    try:
        port = int(p.stdout.readline())
        loop = new_loop(kind)
        try:
            client = client_w3sock if kind.startswith("w3sock") else client_asyncio
            return loop.run_until_complete(
                asyncio.wait_for(client(port, roundtrips, total), 300))
        finally:
            loop.close()
    finally:
        p.stdin.close()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve")
    ap.add_argument("--roundtrips", type=int, default=10000)
    ap.add_argument("--megabytes", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--kinds", default="w3sock,asyncio,w3sock-uvloop,uvloop",
                    help="w3sock / w3sock-uvloop: the binding on the default loop / on "
                         "uvloop; asyncio / uvloop: asyncio streams on that loop")
    args = ap.parse_args()
    if args.serve:
        loop = new_loop(args.serve)
        fn = serve_w3sock if args.serve.startswith("w3sock") else serve_asyncio
        loop.run_until_complete(fn())
        return
    kinds = [k for k in args.kinds.split(",") if k]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        kinds = [k for k in kinds if "uvloop" not in k]
        print("(uvloop not installed: its kinds are left out)")
    total = args.megabytes * 1024 * 1024
    runs = {k: [] for k in kinds}
    # the kinds take turns, so a burst of load elsewhere hits them alike
    for _ in range(args.repeat):
        for k in kinds:
            runs[k].append(run_kind(k, args.roundtrips, total))
    results = {}
    print(f"best of {args.repeat} runs each ({args.roundtrips} round trips of {MSG} bytes; "
          f"{args.megabytes} MiB bulk), server in a child process, 127.0.0.1")
    print(f"{'kind':14s} {'ping-pong rt/s':>16s} {'bulk MB/s':>12s}   all runs (rt/s | MB/s)")
    for k in kinds:
        pp = max(r[0] for r in runs[k])
        bulk = max(r[1] for r in runs[k])
        results[k] = (pp, bulk)
        every = " ".join(f"{r[0]:.0f}" for r in runs[k]) + " | " + \
            " ".join(f"{r[1]:.0f}" for r in runs[k])
        print(f"{k:14s} {pp:16.0f} {bulk:12.1f}   {every}")
    if "w3sock" in results and "asyncio" in results:
        w, a = results["w3sock"], results["asyncio"]
        print(f"ratio w3sock/asyncio: ping-pong {w[0] / a[0]:.2f}x, bulk {w[1] / a[1]:.2f}x")

        def median(k, i):
            v = sorted(r[i] for r in runs[k])
            return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2

        # best-of-N favours whichever kind had one quiet moment: the medians
        # say more on a shared machine
        print(f"ratio of medians w3sock/asyncio: ping-pong "
              f"{median('w3sock', 0) / median('asyncio', 0):.2f}x, "
              f"bulk {median('w3sock', 1) / median('asyncio', 1):.2f}x")
    if "w3sock-uvloop" in results and "asyncio" in results:
        w, a = results["w3sock-uvloop"], results["asyncio"]
        print(f"ratio w3sock-uvloop/asyncio: ping-pong {w[0] / a[0]:.2f}x, "
              f"bulk {w[1] / a[1]:.2f}x")
    if "w3sock-uvloop" in results and "uvloop" in results:
        w, u = results["w3sock-uvloop"], results["uvloop"]
        print(f"ratio w3sock-uvloop/uvloop: ping-pong {w[0] / u[0]:.2f}x, "
              f"bulk {w[1] / u[1]:.2f}x")

if __name__ == "__main__":
    main()
