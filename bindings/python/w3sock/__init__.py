"""w3sock: the W3C TCP and UDP Socket API for Python, on asyncio.

    import asyncio, w3sock

    async def main():
        async with w3sock.TCPSocket("127.0.0.1", 7) as sock:
            await sock.writable.write(b"hello")
            print(await sock.readable.read(5))

    asyncio.run(main())

Everything runs on one native w3sock core (libw3sock, Go) loaded with
ctypes; see :mod:`w3sock.sync` for a blocking API and :mod:`w3sock.streams`
for asyncio-streams compatible ``open_connection``/``start_server``.
"""

from __future__ import annotations

import atexit as _atexit
from typing import Any, Dict

from . import _ffi
from ._errors import (AbortError, InvalidAccessError, InvalidStateError,
                      NetworkError, SocketError)
from ._sockets import (OpenInfo, Readable, TCPServerSocket, TCPSocket,
                       UDPMessage, UDPReadable, UDPSocket, UDPWritable, Writable,
                       network_interfaces)
from ._tls import TLSOptions
from .streams import (Server, StreamReader, StreamWriter, open_connection,
                      open_unix_connection, start_server, start_unix_server)

__all__ = [
    "TCPSocket", "TCPServerSocket", "UDPSocket", "UDPMessage", "TLSOptions",
    "OpenInfo", "Readable", "Writable", "UDPReadable", "UDPWritable",
    "SocketError", "NetworkError", "InvalidAccessError", "InvalidStateError",
    "AbortError", "network_interfaces", "open_connection", "start_server",
    "open_unix_connection", "start_unix_server", "StreamReader", "StreamWriter",
    "Server", "library_version", "library_path", "stats", "shutdown", "release_memory",
    "__version__",
]

__version__ = "0.2.0"
library_path: str = _ffi.library_path


def library_version() -> str:
    """The loaded native library's version string."""
    return _ffi.VERSION_STRING


def stats() -> Dict[str, Any]:
    """Live counts from the native core (loops, sockets, goroutines, fds)."""
    return _ffi.stats()


def release_memory() -> None:
    """Returns memory the native core no longer uses to the operating system
    (after a burst of traffic; never required). Blocks for milliseconds."""
    if not _ffi.HAVE_RELEASE_MEMORY:
        raise RuntimeError(f"{_ffi.library_path} predates w3s_release_memory; rebuild it")
    rc = _ffi.lib.w3s_release_memory()
    if rc < 0:
        from ._errors import error_from_code
        raise error_from_code(rc, context="release_memory")


def shutdown() -> None:
    """Closes every native loop and socket; afterwards every call fails with
    InvalidStateError. Runs by itself at interpreter exit."""
    from . import _loop, sync

    sync._stop_engine()
    _ffi.lib.w3s_shutdown()
    _loop.close_all()


_atexit.register(shutdown)
