#!/usr/bin/env python3
"""TCP echo client on w3sock: sends a message (or N random bytes), half-closes,
checks that exactly the same bytes come back.

    python3 echo_client.py PORT [--host H] [--bytes N]
"""

import argparse
import asyncio
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bindings", "python"))
import w3sock  # noqa: E402


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--bytes", type=int, default=0)
    args = ap.parse_args()
    payload = os.urandom(args.bytes) if args.bytes else b"hello from w3sock\n"
    async with w3sock.TCPSocket(args.host, args.port) as sock:
        async def send():
            await sock.writable.write(payload)
            sock.half_close()
        sender = asyncio.ensure_future(send())
        reply = await sock.readable.read()
        await sender
    ok = hashlib.sha256(reply).digest() == hashlib.sha256(payload).digest()
    print(f"sent {len(payload)} bytes, got {len(reply)} back: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
