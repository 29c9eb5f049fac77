#!/usr/bin/env python3
"""A minimal SMTP STARTTLS server on Python's standard library only (socket +
ssl), as an independent peer for our STARTTLS client.

    starttls_server.py CERT KEY [--require-client-cert CA] [--tls12]

Listens on 127.0.0.1 (ephemeral port, printed on the first line), serves
one connection: 220 greeting, EHLO -> 250-STARTTLS, STARTTLS -> "220 Ready"
then ssl.wrap_socket(server_side=True); after the handshake EHLO again,
NOOP [text] echoes text, QUIT -> 221. Prints a transcript line per command
with "plain" or the TLS version, and exits 0 only if a NOOP was answered
over TLS after the upgrade. Every socket operation has a timeout."""
import socket
import ssl
import sys


def main():
    cert, key = sys.argv[1], sys.argv[2]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if "--require-client-cert" in sys.argv:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(sys.argv[sys.argv.index("--require-client-cert") + 1])
    if "--tls12" in sys.argv:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(30)
    print(srv.getsockname()[1], flush=True)
    conn, _ = srv.accept()
    conn.settimeout(15)
    f = conn.makefile("rwb", buffering=0)
    sock = conn
    secure_noop = False
    state = "plain"

    def send(line):
        sock.sendall(line.encode() + b"\r\n")

    def readline():
        buf = b""
        while not buf.endswith(b"\n"):
            c = sock.recv(1)
            if not c:
                return None
            buf += c
        return buf.decode().rstrip("\r\n")

    send("220 python.test ESMTP")
    while True:
        line = readline()  # byte by byte: nothing after STARTTLS is read as plaintext
        if line is None:
            break
        verb = line.split(" ", 1)[0].upper()
        print(f"{state}: {line}", flush=True)
        if verb == "EHLO":
            send("250-python.test")
            send("250 AUTH PLAIN" if state != "plain" else "250 STARTTLS")
        elif verb == "STARTTLS" and state == "plain":
            send("220 Ready to start TLS")
            sock = ctx.wrap_socket(conn, server_side=True)
            state = sock.version()
            peer = sock.getpeercert()
            if peer:
                print(f"client certificate: {dict(x[0] for x in peer['subject'])}", flush=True)
        elif verb == "NOOP":
            send("250 OK " + line[5:])
            secure_noop = secure_noop or state != "plain"
        elif verb == "QUIT":
            send("221 Bye")
            break
        else:
            send("502 unknown command")
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock.unwrap()
    except (OSError, ssl.SSLError):
        pass
    conn.close()
    del f
    sys.exit(0 if secure_noop else 1)


if __name__ == "__main__":
    main()
