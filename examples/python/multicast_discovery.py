#!/usr/bin/env python3
"""Service discovery over UDP multicast on w3sock.

    python3 multicast_discovery.py responder NAME [--group G] [--port P] [--count N]
    python3 multicast_discovery.py seek [--group G] [--port P] [--expect N]

A responder joins the group and answers each "WHO?" query with "I AM NAME"
sent by unicast to the asker. A seeker sends "WHO?" to the group (repeating
a few times, since UDP may lose packets) and prints the answers it collects.
Run it only where multicast stays local (the demo uses a network namespace).
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bindings", "python"))
import w3sock  # noqa: E402


async def responder(name: str, group: str, port: int, count: int) -> None:
    sock = w3sock.UDPSocket(local_address="0.0.0.0", local_port=port)
    await sock.opened
    sock.join_multicast(group)
    print(f"{name}: joined {group}:{port}", flush=True)
    answered = 0
    async for msg in sock.readable:
        if msg.data == b"WHO?":
            await sock.writable.write(w3sock.UDPMessage(f"I AM {name}".encode(),
                                                        msg.remote_address, msg.remote_port))
            answered += 1
            if count and answered >= count:
                break
    sock.leave_multicast(group)
    sock.close()


async def seek(group: str, port: int, expect: int) -> int:
    sock = w3sock.UDPSocket(local_address="0.0.0.0", loopback=True, multicast_ttl=1)
    await sock.opened
    found = set()

    async def collect():
        async for msg in sock.readable:
            if msg.data.startswith(b"I AM "):
                found.add((msg.data[5:].decode(), msg.remote_address, msg.remote_port))
                if len(found) >= expect:
                    return

    task = asyncio.ensure_future(collect())
    for _ in range(50):  # bounded: ask again until everyone answered
        sock.send(b"WHO?", group, port)
        done, _ = await asyncio.wait({task}, timeout=0.2)
        if done:
            break
    task.cancel()
    sock.close()
    for name, addr, p in sorted(found):
        print(f"found {name} at {addr}:{p}")
    return 0 if len(found) >= expect else 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("role", choices=["responder", "seek"])
    ap.add_argument("name", nargs="?", default="service")
    ap.add_argument("--group", default="239.255.77.77")
    ap.add_argument("--port", type=int, default=47777)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--expect", type=int, default=1)
    args = ap.parse_args()
    if args.role == "responder":
        asyncio.run(responder(args.name, args.group, args.port, args.count))
        return 0
    return asyncio.run(seek(args.group, args.port, args.expect))


if __name__ == "__main__":
    sys.exit(main())
