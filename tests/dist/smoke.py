"""The installed-wheel smoke test: a TCP echo over loopback through the
w3sock package as a user gets it (library inside the package, no Go, no
repository). Run from outside the repository by tests/dist/run.sh with the
venv's interpreter; argv[1] is the expected version. Kept to the syntax of
the oldest Python the package claims (requires-python)."""
import asyncio
import os
import sys

import w3sock


async def echo() -> bytes:
    server = w3sock.TCPServerSocket(local_address="127.0.0.1", local_port=0)
    await asyncio.wait_for(server.opened, 30)
    client = w3sock.TCPSocket("127.0.0.1", server.local_port)
    await asyncio.wait_for(client.opened, 30)
    conn = await asyncio.wait_for(server.listen(), 30)
    await client.writable.write(b"echo from the installed wheel")
    got = await asyncio.wait_for(conn.readable.readexactly(29), 30)
    await conn.writable.write(got)
    back = await asyncio.wait_for(client.readable.readexactly(29), 30)
    client.close()
    conn.close()
    server.close()
    await asyncio.wait_for(client.closed, 30)
    return back


def main() -> None:
    package_dir = os.path.dirname(os.path.abspath(w3sock.__file__))
    if not os.path.abspath(w3sock.library_path).startswith(package_dir + os.sep):
        sys.exit("smoke: library loaded from %s, not from the package" % w3sock.library_path)
    if w3sock.__version__ != sys.argv[1] or w3sock.library_version() != sys.argv[1]:
        sys.exit("smoke: version %s, library %s, expected %s"
                 % (w3sock.__version__, w3sock.library_version(), sys.argv[1]))
    loop = asyncio.new_event_loop()  # asyncio.run() would do, from 3.7 on
    try:
        back = loop.run_until_complete(echo())
    finally:
        loop.close()
    if back != b"echo from the installed wheel":
        sys.exit("smoke: bad echo %r" % back)
    print("smoke: Python %s: TCP echo through %s" % (sys.version.split()[0], w3sock.library_path))


main()
