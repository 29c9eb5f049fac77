#!/usr/bin/env python3
"""SMTP client that upgrades with STARTTLS on w3sock and sends one message.

    python3 starttls_client.py PORT --ca ca.pem [--host 127.0.0.1] [--server-name localhost]
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "bindings", "python"))
import w3sock  # noqa: E402


async def reply(sock: w3sock.TCPSocket) -> bytes:
    """Reads one (possibly multi-line) SMTP reply; returns its last line."""
    while True:
        line = await sock.readable.readuntil(b"\r\n")
        print("S:", line.decode().rstrip())
        if line[3:4] != b"-":
            return line


async def command(sock: w3sock.TCPSocket, cmd: bytes, expect: bytes) -> bytes:
    print("C:", cmd.decode().rstrip())
    await sock.writable.write(cmd)
    last = await reply(sock)
    if not last.startswith(expect):
        raise SystemExit(f"unexpected reply to {cmd!r}: {last!r}")
    return last


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--ca", required=True)
    ap.add_argument("--server-name", default="localhost")
    args = ap.parse_args()
    sock = w3sock.TCPSocket(args.host, args.port, connect_timeout=10)
    await sock.opened
    await reply(sock)
    await command(sock, b"EHLO w3sock.example\r\n", b"250")
    await command(sock, b"STARTTLS\r\n", b"220")
    await sock.start_tls(w3sock.TLSOptions(ca_file=args.ca, server_name=args.server_name))
    info = sock.get_info()
    print(f"-- TLS established: {info['tls_version']} {info['tls_cipher']}, "
          f"peer {info['peer_subject']}")
    await command(sock, b"EHLO w3sock.example\r\n", b"250")
    await command(sock, b"MAIL FROM:<demo@w3sock.example>\r\n", b"250")
    await command(sock, b"RCPT TO:<someone@example.org>\r\n", b"250")
    await command(sock, b"DATA\r\n", b"354")
    await command(sock, b"Subject: w3sock STARTTLS demo\r\n\r\nHello over TLS.\r\n.\r\n", b"250")
    await command(sock, b"QUIT\r\n", b"221")
    sock.close()
    await sock.closed
    print("STARTTLS demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(), 60)))
