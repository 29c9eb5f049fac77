"""asyncio-streams compatible entry points on w3sock.

``reader, writer = await w3sock.open_connection(host, port)`` and
``server = await w3sock.start_server(cb, host, port)`` behave like their
:mod:`asyncio` namesakes, so code written for asyncio streams runs on w3sock
unchanged (the ``ssl`` argument takes ``True`` or a :class:`TLSOptions`
instead of an :class:`ssl.SSLContext`).
"""

from __future__ import annotations

import asyncio
import socket as _socket
from typing import Any, Awaitable, Callable, List, Optional, Tuple, Union

from . import _ffi as F
from ._errors import SocketError
from ._sockets import StreamReader, TCPServerSocket, TCPSocket
from ._tls import TLSOptions, tls_options

__all__ = ["open_connection", "start_server", "open_unix_connection",
           "start_unix_server", "StreamReader", "StreamWriter", "Server"]

SSLArg = Union[None, bool, TLSOptions, dict]


def _tls_args(ssl: SSLArg, server_hostname: Optional[str]) -> Tuple[bool, Optional[TLSOptions]]:
    if ssl is None or ssl is False:
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        return False, None
    if ssl is True:
        return True, TLSOptions(server_name=server_hostname) if server_hostname else None
    if isinstance(ssl, (TLSOptions, dict)):
        t = tls_options(ssl)
        assert t is not None
        if server_hostname is not None:
            t.server_name = server_hostname
        return True, t
    raise TypeError("ssl must be True, a w3sock.TLSOptions or a dict "
                    "(ssl.SSLContext objects cannot be used by w3sock)")


class _SockName:
    """Stands in for the socket objects of asyncio's Server.sockets."""

    def __init__(self, address: Optional[str], port: Optional[int], family: int) -> None:
        self._address = address
        self._port = port
        self.family = family
        self.type = _socket.SOCK_STREAM

    def getsockname(self) -> Any:
        if self.family == _socket.AF_UNIX:
            return self._address
        return (self._address, self._port)


class StreamWriter:
    """An asyncio.StreamWriter look-alike over a :class:`TCPSocket`."""

    def __init__(self, sock: TCPSocket, reader: StreamReader) -> None:
        self._sock = sock
        self._reader = reader
        self._last_buffered = 0

    @property
    def socket(self) -> TCPSocket:
        return self._sock

    @property
    def transport(self) -> "StreamWriter":
        return self

    def write(self, data: Any) -> None:
        self._last_buffered = self._sock._send_bytes(data)

    def writelines(self, data: Any) -> None:
        for d in data:
            self.write(d)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self._sock.half_close()

    def get_write_buffer_size(self) -> int:
        return self._sock.buffered_amount

    def is_closing(self) -> bool:
        return self._sock.ready_state in ("closing", "closed")

    def close(self) -> None:
        self._sock.close()

    def abort(self) -> None:
        self._sock.abort()

    async def wait_closed(self) -> None:
        try:
            await asyncio.shield(self._sock.closed)
        except SocketError:
            pass

    async def drain(self) -> None:
        sock = self._sock
        if sock._error is not None:
            raise sock._error
        if sock.ready_state == "closed":
            raise ConnectionResetError("Connection lost")
        if self._last_buffered >= sock._hw_send:
            self._last_buffered = 0
            await sock._wait_drain()
        else:
            await asyncio.sleep(0)

    async def start_tls(self, sslcontext: SSLArg = None, *,
                        server_hostname: Optional[str] = None,
                        ssl_handshake_timeout: Optional[float] = None) -> None:
        _, t = _tls_args(sslcontext if sslcontext is not None else True, server_hostname)
        fut = self._sock.start_tls(t)
        if ssl_handshake_timeout is not None:
            await asyncio.wait_for(fut, ssl_handshake_timeout)
        else:
            await fut

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        s = self._sock
        if name == "peername":
            if s.remote_address and s.remote_address.startswith("unix:"):
                return s.remote_address[5:]
            return (s.remote_address, s.remote_port) if s.remote_address else default
        if name == "sockname":
            return (s.local_address, s.local_port) if s.local_address else default
        if name == "socket":
            return default
        if name in ("sslcontext", "ssl_object"):
            return default
        if name == "cipher" and s.ssl:
            i = s.get_info()
            return (i["tls_cipher"], i["tls_version"], None)
        if name == "w3sock":
            return s
        return default

    def __repr__(self) -> str:
        return f"<w3sock StreamWriter {self._sock!r}>"


async def open_connection(host: Optional[str] = None, port: Optional[int] = None, *,
                          limit: int = 2 ** 16, ssl: SSLArg = None,
                          server_hostname: Optional[str] = None,
                          local_addr: Optional[Tuple[str, int]] = None,
                          ssl_handshake_timeout: Optional[float] = None,
                          happy_eyeballs_delay: Optional[float] = None,
                          **kwds: Any) -> Tuple[StreamReader, StreamWriter]:
    """Connects and returns ``(reader, writer)`` like :func:`asyncio.open_connection`."""
    if host is None:
        raise ValueError("host is required")
    secure, tls = _tls_args(ssl, server_hostname)
    la, lp = (local_addr if local_addr else (None, None))
    timeout = kwds.pop("connect_timeout", None)
    if kwds:
        raise TypeError(f"unsupported argument(s): {', '.join(kwds)}")
    sock = TCPSocket(host, port, use_secure_transport=secure, tls=tls, local_address=la,
                     local_port=lp, connect_timeout=timeout, _reader_class=StreamReader)
    sock._readable._limit = limit
    if ssl_handshake_timeout is not None and secure:
        await asyncio.wait_for(asyncio.shield(sock.opened), ssl_handshake_timeout)
    else:
        await sock.opened
    reader = sock.readable
    assert isinstance(reader, StreamReader)
    return reader, StreamWriter(sock, reader)


async def open_unix_connection(path: Optional[str] = None, *, limit: int = 2 ** 16,
                               **kwds: Any) -> Tuple[StreamReader, StreamWriter]:
    if not isinstance(path, str):
        raise TypeError("path must be a str")
    return await open_connection("unix:" + path, None, limit=limit, **kwds)


ClientCallback = Callable[[StreamReader, StreamWriter], Optional[Awaitable[None]]]


class Server:
    """An asyncio.Server look-alike."""

    def __init__(self, cb: ClientCallback, servers: List[TCPServerSocket], limit: int) -> None:
        self._cb = cb
        self._servers = servers
        self._limit = limit
        self._tasks: "set[asyncio.Task[Any]]" = set()
        self._accepting: List["asyncio.Task[None]"] = []
        self._serving = False
        self._closed = False

    @property
    def sockets(self) -> List[_SockName]:
        out = []
        for s in self._servers:
            la = s.local_address or ""
            if la.startswith("unix:"):
                out.append(_SockName(la[5:], None, _socket.AF_UNIX))
            else:
                out.append(_SockName(la, s.local_port,
                                     _socket.AF_INET6 if ":" in la else _socket.AF_INET))
        return out

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def is_serving(self) -> bool:
        return self._serving and not self._closed

    async def start_serving(self) -> None:
        if self._serving or self._closed:
            return
        self._serving = True
        for s in self._servers:
            self._accepting.append(asyncio.ensure_future(self._accept_loop(s)))

    async def _accept_loop(self, server: TCPServerSocket) -> None:
        async for sock in server.connections:
            sock._readable._limit = self._limit
            reader = sock.readable
            assert isinstance(reader, StreamReader)
            writer = StreamWriter(sock, reader)
            try:
                res = self._cb(reader, writer)
            except Exception as exc:
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "w3sock: client_connected_cb raised", "exception": exc})
                sock.abort()
                continue
            if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
                t = asyncio.ensure_future(res)
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for s in self._servers:
            s.close()

    async def wait_closed(self) -> None:
        for s in self._servers:
            try:
                await asyncio.shield(s.closed)
            except SocketError:
                pass
        if self._accepting:
            await asyncio.gather(*self._accepting, return_exceptions=True)

    async def serve_forever(self) -> None:
        await self.start_serving()
        try:
            await asyncio.gather(*[asyncio.shield(s.closed) for s in self._servers])
        finally:
            self.close()

    async def __aenter__(self) -> "Server":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()
        await self.wait_closed()


async def start_server(client_connected_cb: ClientCallback, host: Optional[str] = None,
                       port: Optional[int] = None, *, limit: int = 2 ** 16,
                       ssl: SSLArg = None, backlog: int = 100,
                       reuse_address: Optional[bool] = None, reuse_port: Optional[bool] = None,
                       start_serving: bool = True, **kwds: Any) -> Server:
    """Starts a server like :func:`asyncio.start_server`. ``host`` None
    listens on every address; a list of hosts listens on each."""
    if not callable(client_connected_cb):
        raise TypeError("client_connected_cb must be callable")
    if kwds:
        raise TypeError(f"unsupported argument(s): {', '.join(kwds)}")
    secure, tls = _tls_args(ssl, None)
    hosts: List[Optional[str]]
    if host is None or isinstance(host, str):
        hosts = [host if host != "" else None]
    else:
        hosts = list(host)
    servers: List[TCPServerSocket] = []
    try:
        for h in hosts:
            s = TCPServerSocket(local_address=h, local_port=port or 0,
                                address_reuse=True if reuse_address is None else reuse_address,
                                reuse_port=bool(reuse_port), use_secure_transport=secure,
                                tls=tls, backlog=backlog, _reader_class=StreamReader)
            servers.append(s)
            if not port and s.local_port:
                port = s.local_port  # the same port on every host, like asyncio
        for s in servers:
            await s.opened
    except BaseException:
        for s in servers:
            s.close()
        raise
    srv = Server(client_connected_cb, servers, limit)
    if start_serving:
        await srv.start_serving()
    return srv


async def start_unix_server(client_connected_cb: ClientCallback, path: Optional[str] = None,
                            *, limit: int = 2 ** 16, **kwds: Any) -> Server:
    if not isinstance(path, str):
        raise TypeError("path must be a str")
    return await start_server(client_connected_cb, "unix:" + path, None, limit=limit, **kwds)


_ = F  # the module is imported for its side effect of loading the library
