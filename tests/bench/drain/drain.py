#!/usr/bin/env python3
"""Events drained per second through the Python binding.

    drain.py [events]      (default 200000)

Queues N 64-byte datagrams in the library while the asyncio loop is kept
busy (so the binding does not take them yet), then times reading them all
through the receiving UDPSocket's readable: the library's poll, the
binding's dispatch and the readable's queue, per event. Prints
"drain: N events in T s = R events/s" like tests/bench/c/poll_rate.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bindings", "python"))

import w3sock  # noqa: E402


async def main(n: int) -> int:
    rx = w3sock.UDPSocket(local_address="127.0.0.1", receive_buffer_size=64 << 20,
                          high_water_receive=1 << 32)
    tx = w3sock.UDPSocket(local_address="127.0.0.1")
    await rx.opened
    await tx.opened
    port = rx.local_port
    msg = b"w3sock drain rate".ljust(64, b".")
    sent = 0
    deadline = time.monotonic() + 60
    info = rx.get_info()
    # the loop does not run in here: the library queues what it receives
    while sent < n and time.monotonic() < deadline:
        for _ in range(min(2000, n - sent)):
            tx.send(msg, "127.0.0.1", port)
            sent += 1
        while time.monotonic() < deadline:
            info = rx.get_info()
            if info["messages_received"] + info["messages_dropped"] >= sent:
                break
    queued = info["messages_received"]
    t0 = time.perf_counter()
    reader = rx.readable
    for _ in range(queued):
        await reader.read()
    dt = time.perf_counter() - t0
    print(f"queued {queued} datagrams ({info['messages_dropped']} dropped)")
    print(f"drain: {queued} events in {dt:.4f} s = {queued / dt:.0f} events/s")
    rx.close()
    tx.close()
    return 0 if queued > 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200000)))
