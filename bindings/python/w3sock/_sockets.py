"""The W3C TCP and UDP Socket API on asyncio."""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
from collections import deque
from dataclasses import dataclass
from typing import (Any, AsyncIterator, Deque, Dict, List, Mapping, Optional,
                    Tuple, Union)

from . import _ffi as F
from ._errors import (AbortError, InvalidAccessError, InvalidStateError,
                      NetworkError, SocketError, argument_error, error_from_code)
from ._loop import NativeLoop, get_native_loop
from ._tls import TLSOptions, tls_options

__all__ = [
    "TCPSocket", "TCPServerSocket", "UDPSocket", "UDPMessage", "OpenInfo",
    "Readable", "Writable", "UDPReadable", "UDPWritable", "network_interfaces",
]

_lib = F.lib
_send = _lib.w3s_send
# w3s_send without argtypes, for bytes shorter than 2 GiB: the handle goes as
# a ready c_int64 and the length as a C int, which libffi widens (with sign
# extension) to the size_t register on x86-64 and arm64; that skips about
# 0.5 us of argument conversion per call. Elsewhere the declared one is used.
_raw_send = F.raw.w3s_send
_raw_send.restype = ctypes.c_int64
_RAW_SEND_MAX = (1 << 31) - 1 if (
    platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")
    and ctypes.sizeof(ctypes.c_size_t) == 8) else -1
DEFAULT_READ_HIGH_WATER = 1 << 20
DEFAULT_LIMIT = 1 << 16

TLSArg = Union[None, TLSOptions, Mapping[str, Any]]

_OPTIONS = {
    "no_delay": F.OPT_NO_DELAY,
    "keep_alive": F.OPT_KEEP_ALIVE,
    "keep_alive_delay_ms": F.OPT_KEEP_ALIVE_DELAY_MS,
    "send_buffer_size": F.OPT_SEND_BUFFER_SIZE,
    "receive_buffer_size": F.OPT_RECEIVE_BUFFER_SIZE,
    "ttl": F.OPT_TTL,
    "multicast_ttl": F.OPT_MULTICAST_TTL,
    "multicast_loopback": F.OPT_MULTICAST_LOOPBACK,
    "broadcast": F.OPT_BROADCAST,
    "high_water_send": F.OPT_HIGH_WATER_SEND,
    "high_water_receive": F.OPT_HIGH_WATER_RECEIVE,
    "address_reuse": F.OPT_ADDRESS_REUSE,
    "reuse_port": F.OPT_REUSE_PORT,
    "multicast_interface": F.OPT_MULTICAST_INTERFACE,
}
_BOOL_OPTIONS = {"no_delay", "keep_alive", "multicast_loopback", "broadcast",
                 "address_reuse", "reuse_port"}


# --------------------------------------------------------------------------
# argument checks (before anything reaches C)
# --------------------------------------------------------------------------

def _check_bool(name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{name} must be a bool, not {type(v).__name__}")
    return v


def _check_port(name: str, v: Any, *, allow_zero: bool, optional: bool = True) -> Optional[int]:
    if v is None:
        if optional:
            return None
        raise TypeError(f"{name} is required")
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, not {type(v).__name__}")
    lo = 0 if allow_zero else 1
    if not lo <= v <= 65535:
        raise ValueError(f"{name} must be in {lo}..65535, got {v}")
    return v


def _check_address(name: str, v: Any, *, optional: bool = True) -> Optional[str]:
    if v is None:
        if optional:
            return None
        raise TypeError(f"{name} is required")
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a str, not {type(v).__name__}")
    if not v or "\0" in v:
        raise ValueError(f"{name} must be a non-empty string without NUL")
    if len(v.encode()) > 1023:
        raise ValueError(f"{name} is too long")
    return v


def _check_seconds(name: str, v: Any) -> Optional[float]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number of seconds")
    if v != v or v < 0 or v > 2_000_000:
        raise ValueError(f"{name} must be between 0 and 2e6 seconds")
    return float(v)


def _check_size(name: str, v: Any, *, maximum: int = 1 << 31) -> Optional[int]:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int")
    if not 0 < v <= maximum:
        raise ValueError(f"{name} must be in 1..{maximum}")
    return v


def _bytes_like(data: Any, what: str = "data") -> Union[bytes, bytearray, memoryview]:
    if isinstance(data, (bytes, bytearray)):
        return data
    if isinstance(data, memoryview):
        return data if data.contiguous and data.format in ("B", "b", "c") else data.tobytes()
    if isinstance(data, str):
        raise TypeError(f"{what} must be bytes-like, not str (encode it first)")
    try:
        return memoryview(data).cast("B")
    except TypeError:
        raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}") from None


def _ptr_len(data: Union[bytes, bytearray, memoryview]) -> Tuple[Any, int]:
    """A (pointer-ish argument, length) pair for w3s_send without copying bytes."""
    if isinstance(data, bytes):
        return data, len(data)
    n = len(data) if not isinstance(data, memoryview) else data.nbytes
    if n == 0:
        return b"", 0
    if isinstance(data, memoryview) and data.readonly:
        data = bytes(data)
        return data, n
    buf = (ctypes.c_char * n).from_buffer(data)
    return buf, n


def _silence(fut: "asyncio.Future[Any]") -> None:
    """Marks a future's exception retrieved so an unobserved one is not logged."""
    def _cb(f: "asyncio.Future[Any]") -> None:
        if not f.cancelled():
            f.exception()
    fut.add_done_callback(_cb)


def _mirror(src: "asyncio.Future[None]", dst: "asyncio.Future[None]") -> None:
    """Settles dst as src settled, its exception marked retrieved."""
    if dst.done():
        return
    if src.cancelled():
        dst.cancel()
        return
    exc = src.exception()
    if exc is None:
        dst.set_result(None)
    else:
        dst.set_exception(exc)
        dst.exception()  # retrieved: whoever awaits dst still gets it raised


def _follow(src: "asyncio.Future[None]") -> "asyncio.Future[None]":
    """A new future that settles as src does. A fresh one per caller, so a
    caller cancelling its await cannot cancel src (the socket's ``closed``).
    Works on a closed loop too when src has settled (no callback needed)."""
    dst: asyncio.Future[None] = src.get_loop().create_future()
    if src.done():
        _mirror(src, dst)
    else:
        src.add_done_callback(lambda f: _mirror(f, dst))
    return dst


def _settled(loop: asyncio.AbstractEventLoop,
             exc: Optional[BaseException]) -> "asyncio.Future[None]":
    """An already settled future (rejected with exc when given)."""
    fut: asyncio.Future[None] = loop.create_future()
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)
        fut.exception()
    return fut


def _enc(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else s.encode("utf-8")


# --------------------------------------------------------------------------
# streams
# --------------------------------------------------------------------------

class _Waiting:
    """What the TCP and UDP readable sides share: one reader waiting at a
    time, woken by data, end of stream or an error."""

    _waiter: "Optional[asyncio.Future[None]]"
    _eof: bool
    _exc: Optional[BaseException]

    def _wake(self) -> None:
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    def _feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        self._eof = True
        self._wake()


class Readable(_Waiting):
    """The readable side of a TCP socket: an async iterator of ``bytes`` chunks
    with the reading methods of :class:`asyncio.StreamReader`.

    When the application leaves more than the high-water mark unread, the
    native socket is paused, so TCP flow control holds the sender back.
    """

    def __init__(self, owner: "TCPSocket", high_water: int, limit: int = DEFAULT_LIMIT) -> None:
        self._owner = owner
        self._loop = owner._loop
        self._chunks: Deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._exc: Optional[BaseException] = None
        self._waiter: Optional[asyncio.Future[None]] = None
        self._paused = False
        self._hw = high_water
        self._limit = limit
        # bytes in all that a waiting reader needs (0: nobody waits); the
        # socket is not paused below it, whatever the high-water mark
        self._need = 0

    # -- fed by the socket --------------------------------------------------
    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)
        if self._size >= self._hw and self._size >= self._need and not self._paused:
            self._paused = True
            self._owner._flow_pause()

    def _want(self, n: int) -> None:
        """A reader is about to wait until n bytes are buffered: let data
        flow until they are, even past the high-water mark (asyncio's
        StreamReader likewise resumes reading while a reader waits);
        otherwise a read larger than the mark would wait forever."""
        self._need = n
        if self._paused:
            self._paused = False
            self._owner._flow_resume()

    def _consumed(self) -> None:
        if self._paused and self._size <= self._hw // 2:
            self._paused = False
            self._owner._flow_resume()

    def _clear(self) -> None:
        self._chunks.clear()
        self._size = 0
        self._consumed()

    async def _wait(self, what: str) -> None:
        if self._waiter is not None:
            raise RuntimeError(f"{what}() called while another coroutine is already "
                               "waiting for incoming data")
        self._want(self._size + 1)
        w = self._loop.create_future()
        self._waiter = w
        try:
            await w
        finally:
            self._waiter = None
            self._need = 0

    def _take(self, n: int) -> bytes:
        """Removes and returns up to n bytes (n > 0) from the buffer."""
        chunks = self._chunks
        first = chunks[0]
        if len(first) == n:
            chunks.popleft()
            self._size -= n
            out = first
        elif len(first) > n:
            out = first[:n]
            chunks[0] = first[n:]
            self._size -= n
        else:
            parts = []
            need = n
            while chunks and need > 0:
                c = chunks[0]
                if len(c) <= need:
                    parts.append(c)
                    chunks.popleft()
                    need -= len(c)
                else:
                    parts.append(c[:need])
                    chunks[0] = c[need:]
                    need = 0
            out = b"".join(parts)
            self._size -= len(out)
        self._consumed()
        return out

    def _take_all(self) -> bytes:
        if not self._chunks:
            return b""
        out = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        self._chunks.clear()
        self._size = 0
        self._consumed()
        return out

    def _raise_if_error(self) -> None:
        if self._exc is not None:
            raise self._exc

    # -- public ---------------------------------------------------------
    @property
    def buffered(self) -> int:
        """Bytes received and not read yet."""
        return self._size

    def exception(self) -> Optional[BaseException]:
        return self._exc

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def read(self, n: int = -1) -> bytes:
        """Up to n bytes (at least one unless at EOF); n = -1 reads to EOF."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("n must be an int")
        if n == 0:
            return b""
        if n < 0:
            # to EOF: move what arrives into our own list as we go, so the
            # socket's buffer stays under its high-water mark (reading on)
            parts = []
            while True:
                if self._chunks:
                    parts.append(self._take_all())
                if self._eof:
                    break
                await self._wait("read")
            if self._exc is not None and not parts:
                raise self._exc
            # data that arrived before an error is handed out; the error next
            return parts[0] if len(parts) == 1 else b"".join(parts)
        while not self._chunks:
            if self._eof:
                self._raise_if_error()
                return b""
            if self._waiter is not None:
                raise RuntimeError("read() called while another coroutine is "
                                   "already waiting for incoming data")
            w = self._loop.create_future()
            self._waiter = w
            try:
                await w
            finally:
                self._waiter = None
        return self._take(n)

    async def readexactly(self, n: int) -> bytes:
        if type(n) is not int and (isinstance(n, bool) or not isinstance(n, int)):
            raise TypeError("n must be an int")
        if n <= 0:
            if n < 0:
                raise ValueError("readexactly size can not be less than zero")
            return b""
        while self._size < n:
            if self._eof:
                if self._exc is not None:
                    raise self._exc
                partial = self._take_all()
                raise asyncio.IncompleteReadError(partial, n)
            # self._wait("readexactly"), inlined: this is the hot path
            if self._waiter is not None:
                raise RuntimeError("readexactly() called while another coroutine is "
                                   "already waiting for incoming data")
            self._need = n
            if self._paused:
                self._want(n)
            w = self._loop.create_future()
            self._waiter = w
            try:
                await w
            finally:
                self._waiter = None
                self._need = 0
        chunks = self._chunks
        first = chunks[0]
        if len(first) == n:
            chunks.popleft()
            self._size -= n
            if self._paused:
                self._consumed()
            return first
        return self._take(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        if not isinstance(separator, (bytes, bytearray)):
            raise TypeError("separator must be bytes")
        seplen = len(separator)
        if seplen == 0:
            raise ValueError("Separator should be at least one-byte string")
        offset = 0
        while True:
            if self._chunks:
                if len(self._chunks) > 1:
                    joined = b"".join(self._chunks)
                    self._chunks.clear()
                    self._chunks.append(joined)
                buf = self._chunks[0]
                idx = buf.find(separator, offset)
                if idx != -1:
                    end = idx + seplen
                    if end > self._limit:
                        raise asyncio.LimitOverrunError(
                            "Separator is found, but chunk is longer than limit", idx)
                    return self._take(end)
                offset = max(0, len(buf) + 1 - seplen)
                if offset > self._limit:
                    raise asyncio.LimitOverrunError(
                        "Separator is not found, and chunk exceed the limit", offset)
            if self._eof:
                if self._exc is not None and not self._chunks:
                    raise self._exc
                partial = self._take_all()
                raise asyncio.IncompleteReadError(partial, None)
            await self._wait("readuntil")

    async def readline(self) -> bytes:
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as e:
            return e.partial
        except asyncio.LimitOverrunError as e:
            if self._chunks and self._chunks[0].startswith(b"\n", e.consumed):
                self._take(e.consumed + 1)
            else:
                self._clear()
            raise ValueError(e.args[0])

    def __aiter__(self) -> "Readable":
        return self

    async def __anext__(self) -> bytes:
        chunks = self._chunks
        while not chunks:
            if self._eof:
                self._raise_if_error()
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError("__anext__() called while another coroutine is "
                                   "already waiting for incoming data")
            w = self._loop.create_future()
            self._waiter = w
            try:
                await w
            finally:
                self._waiter = None
        c = chunks.popleft()
        self._size -= len(c)
        if self._paused:
            self._consumed()
        return c


class StreamReader(Readable):
    """:class:`Readable` whose async iteration yields lines, like asyncio's."""

    async def __anext__(self) -> bytes:  # type: ignore[override]
        line = await self.readline()
        if line == b"":
            raise StopAsyncIteration
        return line


class Writable:
    """The writable side: ``await write(data)`` applies backpressure;
    ``close()`` half-closes (FIN after queued data).

    ``write()`` hands the bytes to the kernel at once; when the kernel cannot
    take all of them, it returns once the library has flushed the rest. So at
    most one write's worth ever waits in user space, and the bytes of a
    stream of writes go from the caller's buffer straight to the kernel
    instead of through a queue and a writer thread (``send()`` still queues up
    to the high-water mark without waiting).
    """

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    async def write(self, data: Any) -> None:
        owner = self._owner
        if owner._send_bytes(data) > 0:
            # a DRAIN follows every flush (the native mark is 1, see _tcp_opts)
            await owner._wait_drain()
            # ... but one made before these bytes were queued (a library
            # thread flushes TLS sockets while the host is busy) ends that
            # wait early: wait on until the queue is empty
            while owner.buffered_amount > 0:
                await owner._wait_drain()

    async def ready(self) -> None:
        """Waits until the send buffer is below its high-water mark."""
        await self._owner._wait_drain_if_needed()

    @property
    def desired_size(self) -> int:
        return self._owner._hw_send - self._owner.buffered_amount

    def close(self) -> "asyncio.Future[None]":
        """Half-closes the socket; returns an already-resolved awaitable."""
        self._owner.half_close()
        f = self._owner._loop.create_future()
        f.set_result(None)
        return f

    def abort(self, reason: Any = None) -> None:
        self._owner.abort()


class UDPWritable(Writable):
    async def write(self, data: Any) -> None:  # type: ignore[override]
        owner: UDPSocket = self._owner  # type: ignore[assignment]
        if isinstance(data, UDPMessage):
            buffered = owner._send_dgram(data.data, data.remote_address, data.remote_port)
        else:
            buffered = owner._send_dgram(data, None, None)
        if buffered >= owner._hw_send:
            await owner._wait_drain()

    def close(self) -> "asyncio.Future[None]":
        """Closes the socket (a datagram socket has no half-close); settles
        as the socket's ``closed`` does."""
        return self._owner.close()


@dataclass(frozen=True)
class UDPMessage:
    """One datagram: ``data`` and the peer it came from or goes to."""

    data: bytes
    remote_address: Optional[str] = None
    remote_port: Optional[int] = None


@dataclass(frozen=True)
class OpenInfo:
    """What ``await sock.opened`` resolves with."""

    readable: Any
    writable: Any
    remote_address: Optional[str]
    remote_port: Optional[int]
    local_address: Optional[str]
    local_port: Optional[int]
    alpn: Optional[str] = None


# --------------------------------------------------------------------------
# base
# --------------------------------------------------------------------------

class _Base:
    _handle: int
    # TCP: the native send high-water mark is 1, so the library emits DRAIN
    # after every flush of queued bytes; the mark the user sets is kept here
    # (_hw_send) for send()'s answer and ready() (see Writable.write)
    _flush_drain = False

    def __init__(self, nl: NativeLoop) -> None:
        self._nl = nl
        self._loop = nl.aloop
        self._handle = 0
        self._hc = ctypes.c_int64(0)
        self._ready_state = "opening"
        self._error: Optional[SocketError] = None
        self._opened: asyncio.Future[OpenInfo] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        _silence(self._opened)
        _silence(self._closed)
        self._drain_waiter: Optional[asyncio.Future[None]] = None
        self._hw_send = F.DEFAULT_HIGH_WATER
        self._local_address: Optional[str] = None
        self._local_port: Optional[int] = None
        self._remote_address: Optional[str] = None
        self._remote_port: Optional[int] = None

    # -- public, common ------------------------------------------------------
    @property
    def ready_state(self) -> str:
        return self._ready_state

    @property
    def opened(self) -> "asyncio.Future[OpenInfo]":
        return self._opened

    @property
    def closed(self) -> "asyncio.Future[None]":
        return self._closed

    @property
    def local_address(self) -> Optional[str]:
        return self._local_address

    @property
    def local_port(self) -> Optional[int]:
        return self._local_port

    @property
    def handle(self) -> int:
        return self._handle

    @property
    def buffered_amount(self) -> int:
        if self._ready_state == "closed":
            return 0
        info = F.get_info(self._handle)
        return int(info.buffered_amount) if info is not None else 0

    def close(self) -> "asyncio.Future[None]":
        """Graceful close: queued data is sent, then the socket closes.

        Returns an awaitable that settles as :attr:`closed` does (the W3C
        ``Promise close()``). The close happens whether or not it is awaited,
        and an unawaited failure is never logged as unretrieved."""
        if self._ready_state not in ("closing", "closed"):
            self._ready_state = "closing"
            rc = _lib.w3s_close(self._handle)
            if rc < 0 and rc != F.W3S_EBADF:
                return _settled(self._loop, error_from_code(rc, context="close"))
        return _follow(self._closed)

    def abort(self) -> None:
        """Immediate close; TCP peers see a reset."""
        if self._ready_state == "closed":
            return
        self._ready_state = "closing"
        _lib.w3s_abort(self._handle)

    def set_option(self, name: str, value: Union[int, bool]) -> None:
        opt = _OPTIONS.get(name) if isinstance(name, str) else None
        if opt is None:
            raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(_OPTIONS))}")
        if isinstance(value, bool):
            value = int(value)
        elif not isinstance(value, int):
            raise TypeError("option value must be an int or a bool")
        if name == "high_water_send" and self._flush_drain:
            # the binding keeps this mark; the native one stays 1 (see _tcp_opts)
            if value < 1:
                raise error_from_code(F.W3S_EINVAL, context=f"set_option({name})",
                                      detail="high-water mark must be at least 1")
            rc = _lib.w3s_set_option(self._handle, opt, 1)
            if rc < 0:
                raise error_from_code(rc, context=f"set_option({name})")
            self._hw_send = value
            return
        rc = _lib.w3s_set_option(self._handle, opt, value)
        if rc < 0:
            raise error_from_code(rc, context=f"set_option({name})")
        if name == "high_water_send" and value > 0:
            self._hw_send = value
        elif name == "high_water_receive" and value > 0:
            readable = getattr(self, "_readable", None)
            if isinstance(readable, Readable):
                readable._hw = value  # the binding's own unread threshold too

    def get_option(self, name: str) -> Union[int, bool]:
        opt = _OPTIONS.get(name) if isinstance(name, str) else None
        if opt is None:
            raise ValueError(f"unknown option {name!r}; known: {', '.join(sorted(_OPTIONS))}")
        v = ctypes.c_int64()
        rc = _lib.w3s_get_option(self._handle, opt, ctypes.byref(v))
        if rc < 0:
            raise error_from_code(rc, context=f"get_option({name})")
        if name == "high_water_send" and self._flush_drain:
            return self._hw_send
        return bool(v.value) if name in _BOOL_OPTIONS else int(v.value)

    def get_info(self) -> Dict[str, Any]:
        """The native ``w3s_get_info``: addresses, counters, TLS details, RTT."""
        info = F.get_info(self._handle)
        if info is None:
            raise InvalidStateError("socket is closed", F.W3S_EBADF, "W3S_EBADF")
        c = F.cstr
        return {
            "kind": {1: "tcp", 2: "tcp-server", 3: "udp"}.get(info.kind, "unknown"),
            "ready_state": F.READY_STATES[info.ready_state]
            if 0 <= info.ready_state < 5 else "unknown",
            "family": info.family,
            "local_address": c(info.local_address),
            "local_port": info.local_port,
            "remote_address": c(info.remote_address),
            "remote_port": info.remote_port,
            "buffered_amount": info.buffered_amount,
            "bytes_received": info.bytes_received,
            "bytes_sent": info.bytes_sent,
            "messages_received": info.messages_received,
            "messages_sent": info.messages_sent,
            "messages_dropped": info.messages_dropped,
            "paused": bool(info.paused),
            "peer_ended": bool(info.peer_ended),
            "rtt_us": info.rtt_us,
            "secure": bool(info.secure),
            "tls_version": c(info.tls_version),
            "tls_cipher": c(info.tls_cipher),
            "alpn": c(info.alpn),
            "server_name": c(info.server_name),
            "peer_subject": c(info.peer_subject),
            "peer_issuer": c(info.peer_issuer),
        }

    # -- internals -----------------------------------------------------------
    def _refresh_addresses(self) -> None:
        info = F.get_info(self._handle)
        if info is None:
            return
        la = F.cstr(info.local_address)
        if la:
            self._local_address = la
            self._local_port = info.local_port
        ra = F.cstr(info.remote_address)
        if ra:
            self._remote_address = ra
            self._remote_port = info.remote_port

    def _open_failed(self, code: int, context: str) -> SocketError:
        """A native open call failed. Failures that come from the network or
        the OS (address in use, not available, permission denied, ...) are
        delivered through ``opened`` and ``closed``, as the W3C API does for
        connect failures; a refused argument or state raises at once."""
        self._nl._maybe_release()
        exc = error_from_code(code, context=context)
        if not isinstance(exc, NetworkError):
            raise exc
        self._error = exc
        self._ready_state = "closed"
        self._opened.set_exception(exc)
        self._closed.set_exception(exc)
        return exc

    def _register(self, handle: int) -> None:
        self._handle = handle
        self._hc = ctypes.c_int64(handle)  # for _raw_send
        self._nl.register(handle, self)

    async def _wait_drain(self) -> None:
        if self._error is not None:
            raise self._error
        if self._ready_state == "closed":
            raise InvalidStateError("socket is closed", F.W3S_ESTATE, "W3S_ESTATE")
        w = self._drain_waiter
        if w is None:
            w = self._loop.create_future()
            _silence(w)
            self._drain_waiter = w
        await asyncio.shield(w)

    async def _wait_drain_if_needed(self) -> None:
        # a loop: a DRAIN may come from an earlier flush (TCP sockets get one
        # after every flush, see _flush_drain)
        while self.buffered_amount >= self._hw_send:
            await self._wait_drain()

    def _resolve_drain(self, exc: Optional[BaseException] = None) -> None:
        w = self._drain_waiter
        if w is not None:
            self._drain_waiter = None
            if not w.done():
                if exc is None:
                    w.set_result(None)
                else:
                    w.set_exception(exc)

    def _on_data(self, data: bytes) -> None:  # pragma: no cover - TCP/UDP override
        pass

    def _on_message(self, data: bytes, address: str, port: int) -> None:  # pragma: no cover
        pass

    def _on_connection(self, handle: int, address: str, port: int) -> None:
        _lib.w3s_abort(handle)

    def _fail(self, code: int, message: str) -> SocketError:
        exc = error_from_code(code, detail=message)
        if self._error is None:
            self._error = exc
        return exc

    def _finish_close(self, code: int) -> None:
        self._ready_state = "closed"
        if not self._opened.done():
            exc: BaseException = self._error or AbortError(
                "the socket was closed before it opened", F.W3S_EABORTED, "W3S_EABORTED")
            self._opened.set_exception(exc)
        if not self._closed.done():
            if self._error is not None:
                self._closed.set_exception(self._error)
            else:
                self._closed.set_result(None)
        self._resolve_drain(self._error or InvalidStateError(
            "socket closed", F.W3S_ESTATE, "W3S_ESTATE"))
        self._nl.unregister(self._handle)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} handle={self._handle} {self._ready_state} "
                f"local={self._local_address}:{self._local_port} "
                f"remote={self._remote_address}:{self._remote_port}>")


def _tcp_opts(*, local_address: Optional[str], local_port: Optional[int],
              address_reuse: bool = True, no_delay: bool = True,
              keep_alive_delay: Optional[float] = None,
              connect_timeout: Optional[float] = None,
              use_secure_transport: bool = False, tls: Optional[TLSOptions] = None,
              backlog: Optional[int] = None, reuse_port: bool = False,
              send_buffer_size: Optional[int] = None,
              receive_buffer_size: Optional[int] = None,
              high_water_send: Optional[int] = None,
              high_water_receive: Optional[int] = None):
    o = F.TCPOptionsC()
    _lib.w3s_tcp_options_init(ctypes.byref(o))
    keep: List[Any] = []
    if local_address is not None:
        b = local_address.encode()
        keep.append(b)
        o.local_address = b
    if local_port is not None:
        o.local_port = local_port
    o.address_reuse = 1 if address_reuse else 0
    o.reuse_port = 1 if reuse_port else 0
    o.no_delay = 1 if no_delay else 0
    if keep_alive_delay is not None:
        o.keep_alive = 1
        o.keep_alive_delay_ms = int(keep_alive_delay * 1000)
    if connect_timeout is not None:
        o.connect_timeout_ms = max(1, int(connect_timeout * 1000))
    if backlog is not None:
        o.backlog = backlog
    if send_buffer_size is not None:
        o.send_buffer_size = send_buffer_size
    if receive_buffer_size is not None:
        o.receive_buffer_size = receive_buffer_size
    # DRAIN after every flush of queued bytes (Writable.write waits for it);
    # the binding applies the user's mark itself (_Base._hw_send)
    o.high_water_send = 1
    o.high_water_receive = high_water_receive or 0
    o.use_secure_transport = 1 if use_secure_transport else 0
    if tls is not None:
        t = tls._to_c()
        keep.append(t)
        o.tls = ctypes.pointer(t)
    return o, keep


# --------------------------------------------------------------------------
# TCP
# --------------------------------------------------------------------------

class TCPSocket(_Base):
    """A TCP client connection (or one accepted by :class:`TCPServerSocket`).

    ``TCPSocket(remote_address, remote_port, **options)`` starts connecting at
    once; ``await sock.opened`` waits for the connection (and the TLS
    handshake with ``use_secure_transport``). ``remote_address`` may be
    ``"unix:/path"`` for an AF_UNIX stream socket (the port is then ignored).
    ``keep_alive_delay`` (enables keep-alive) and ``connect_timeout`` are in
    seconds; ``high_water_send`` / ``high_water_receive`` are in bytes (1 MiB
    by default); ``tls`` is a :class:`TLSOptions` or a dict of its fields.
    """

    _flush_drain = True

    def __init__(self, remote_address: str, remote_port: Optional[int] = None, *,
                 local_address: Optional[str] = None,
                 local_port: Optional[int] = None,
                 address_reuse: bool = True,
                 no_delay: bool = True,
                 use_secure_transport: bool = False,
                 keep_alive_delay: Optional[float] = None,
                 connect_timeout: Optional[float] = None,
                 tls: TLSArg = None,
                 send_buffer_size: Optional[int] = None,
                 receive_buffer_size: Optional[int] = None,
                 high_water_send: Optional[int] = None,
                 high_water_receive: Optional[int] = None,
                 _reader_class: type = Readable,
                 _accepted: Optional[tuple] = None) -> None:
        if _accepted is not None:
            nl, handle, address, port, server = _accepted
            super().__init__(nl)
            self._init_common(server._no_delay, server._use_secure_transport,
                              server._hw_receive, _reader_class)
            self._address_reuse = server._address_reuse
            self._remote_address = address or None
            self._remote_port = port
            self._hw_send = server._hw_send
            self._register(handle)
            self._ready_state = "open"
            self._refresh_addresses()
            if not self._secure_expected:
                self._opened.set_result(self._open_info())
            return
        _check_address("remote_address", remote_address, optional=False)
        is_unix = remote_address.startswith("unix:")
        if is_unix:
            if remote_port is not None:
                _check_port("remote_port", remote_port, allow_zero=True)
        else:
            _check_port("remote_port", remote_port, allow_zero=False, optional=False)
        local_address = _check_address("local_address", local_address)
        local_port = _check_port("local_port", local_port, allow_zero=True)
        _check_bool("address_reuse", address_reuse)
        _check_bool("no_delay", no_delay)
        _check_bool("use_secure_transport", use_secure_transport)
        keep_alive_delay = _check_seconds("keep_alive_delay", keep_alive_delay)
        connect_timeout = _check_seconds("connect_timeout", connect_timeout)
        tlso = tls_options(tls)
        send_buffer_size = _check_size("send_buffer_size", send_buffer_size)
        receive_buffer_size = _check_size("receive_buffer_size", receive_buffer_size)
        high_water_send = _check_size("high_water_send", high_water_send, maximum=1 << 40)
        high_water_receive = _check_size("high_water_receive", high_water_receive,
                                         maximum=1 << 40)
        nl = get_native_loop()
        super().__init__(nl)
        self._address_reuse = address_reuse
        self._init_common(no_delay, use_secure_transport,
                          high_water_receive or DEFAULT_READ_HIGH_WATER, _reader_class)
        self._hw_send = high_water_send or F.DEFAULT_HIGH_WATER
        self._remote_address = remote_address
        self._remote_port = remote_port
        opts, keep = _tcp_opts(
            local_address=local_address, local_port=local_port,
            address_reuse=address_reuse, no_delay=no_delay,
            keep_alive_delay=keep_alive_delay, connect_timeout=connect_timeout,
            use_secure_transport=use_secure_transport, tls=tlso,
            send_buffer_size=send_buffer_size, receive_buffer_size=receive_buffer_size,
            high_water_send=high_water_send, high_water_receive=high_water_receive)
        h = _lib.w3s_tcp_connect(nl.handle, remote_address.encode(),
                                 remote_port or 0, ctypes.byref(opts), 0)
        del keep
        if h < 0:
            self._readable._set_exception(
                self._open_failed(h, f"connect {remote_address}:{remote_port}"))
            return
        self._register(h)

    def _init_common(self, no_delay: bool, secure: bool, hw_receive: int,
                     reader_class: type) -> None:
        self._no_delay = no_delay
        self._use_secure_transport = secure
        self._secure_expected = secure
        self._secure = False
        self._alpn: Optional[str] = None
        self._readable = reader_class(self, hw_receive)
        self._writable = Writable(self)
        # the loop hands DATA events to _on_data: skip a call per event
        self._on_data = self._readable._feed  # type: ignore[method-assign]
        self._native_paused = False
        self._suspended = False
        self._start_tls_waiter: Optional[asyncio.Future[None]] = None
        self._peer_ended = False
        self._half_closed = False

    # -- W3C attributes -----------------------------------------------------
    @property
    def remote_address(self) -> Optional[str]:
        return self._remote_address

    @property
    def remote_port(self) -> Optional[int]:
        return self._remote_port

    @property
    def address_reuse(self) -> bool:
        return self._address_reuse

    @property
    def no_delay(self) -> bool:
        return self._no_delay

    @property
    def use_secure_transport(self) -> bool:
        return self._use_secure_transport

    @property
    def ssl(self) -> bool:
        """True once TLS is established."""
        return self._secure

    @property
    def is_half_closed(self) -> bool:
        return self._half_closed

    @property
    def alpn(self) -> Optional[str]:
        return self._alpn

    @property
    def readable(self) -> Readable:
        return self._readable

    @property
    def writable(self) -> Writable:
        return self._writable

    @property
    def writeable(self) -> Writable:
        """The W3C draft's spelling of :attr:`writable`."""
        return self._writable

    # -- W3C methods -------------------------------------------------------
    def send(self, data: Any) -> bool:
        """Queues data; False when the caller should wait (buffer at high water)."""
        if type(data) is bytes:
            n = len(data)
            r = _raw_send(self._hc, data, n) if n <= _RAW_SEND_MAX \
                else _send(self._handle, data, n)
            if r >= 0:
                return r < self._hw_send
            self._send_failed(r)
        return self._send_bytes(data) < self._hw_send

    def half_close(self) -> None:
        st = self._ready_state
        if st in ("closing", "closed"):
            raise InvalidStateError(f"half_close() on a {st} socket", F.W3S_ESTATE, "W3S_ESTATE")
        if self._half_closed:
            return
        rc = _lib.w3s_half_close(self._handle)
        if rc < 0:
            raise error_from_code(rc, context="half_close")
        self._half_closed = True
        self._ready_state = "halfclosed"

    def suspend(self) -> None:
        """Stops reading from the network until :meth:`resume`."""
        self._suspended = True
        self._apply_pause()

    def resume(self) -> None:
        self._suspended = False
        self._apply_pause()

    def start_tls(self, tls: TLSArg = None) -> "asyncio.Future[None]":
        """STARTTLS: upgrades the open connection to TLS (client role for a
        socket that connected, server role for an accepted one). Bytes the
        application has not read yet are handed to the handshake (a racing
        ClientHello still works; plaintext injected after the command fails
        the handshake instead of being read as protected data). Returns an
        awaitable that resolves once secure."""
        tlso = tls_options(tls)
        if self._ready_state not in ("open",):
            raise InvalidStateError(f"start_tls() on a {self._ready_state} socket",
                                    F.W3S_ESTATE, "W3S_ESTATE")
        if self._secure or self._start_tls_waiter is not None:
            raise InvalidStateError("TLS is already established or starting",
                                    F.W3S_ESTATE, "W3S_ESTATE")
        c = tlso._to_c() if tlso is not None else None
        cref = ctypes.byref(c) if c is not None else None
        unread = self._readable._take_all() if self._readable._chunks else b""
        if F.HAVE_START_TLS_WITH:
            rc = _lib.w3s_start_tls_with(self._handle, cref, unread, len(unread))
        else:  # pragma: no cover - older library: unread plaintext is dropped
            rc = _lib.w3s_start_tls(self._handle, cref)
        if rc < 0:
            if unread:  # nothing happened: give the bytes back
                self._readable._chunks.appendleft(unread)
                self._readable._size += len(unread)
            raise error_from_code(rc, context="start_tls")
        fut = self._loop.create_future()
        _silence(fut)
        self._start_tls_waiter = fut
        self._secure_expected = True
        return fut

    async def __aenter__(self) -> "TCPSocket":
        await self._opened
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ready_state != "closed":
            self.close()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), 30)
            except (SocketError, asyncio.TimeoutError):
                pass

    # -- internals -----------------------------------------------------------
    def _open_info(self) -> OpenInfo:
        return OpenInfo(self._readable, self._writable, self._remote_address,
                        self._remote_port, self._local_address, self._local_port, self._alpn)

    def _send_bytes(self, data: Any) -> int:
        if type(data) is bytes:
            n = len(data)
            r = _raw_send(self._hc, data, n) if n <= _RAW_SEND_MAX \
                else _send(self._handle, data, n)
        else:
            p, n = _ptr_len(_bytes_like(data))
            r = _send(self._handle, p, n)
        if r < 0:
            self._send_failed(r)
        return r

    def _send_failed(self, r: int) -> None:
        if self._error is not None and r in (F.W3S_ESTATE, F.W3S_EBADF):
            raise self._error
        raise error_from_code(r, context="send")

    def _flow_pause(self) -> None:
        self._apply_pause()

    def _flow_resume(self) -> None:
        self._apply_pause()

    def _apply_pause(self) -> None:
        want = self._suspended or self._readable._paused
        if want == self._native_paused or self._ready_state == "closed":
            return
        self._native_paused = want
        (_lib.w3s_pause if want else _lib.w3s_resume)(self._handle)

    def _on_data(self, data: bytes) -> None:
        self._readable._feed(data)

    def _on_event(self, et: int, err: int, msg: str) -> None:
        if et == F.EV_OPEN:
            if self._ready_state == "opening":
                self._ready_state = "open"
            self._refresh_addresses()
            if not self._secure_expected and not self._opened.done():
                self._opened.set_result(self._open_info())
        elif et == F.EV_SECURE:
            self._secure = True
            info = F.get_info(self._handle)
            if info is not None:
                self._alpn = F.cstr(info.alpn) or None
            if self._ready_state == "opening":
                self._ready_state = "open"
            if not self._opened.done():
                self._refresh_addresses()
                self._opened.set_result(self._open_info())
            w = self._start_tls_waiter
            if w is not None:
                self._start_tls_waiter = None
                if not w.done():
                    w.set_result(None)
        elif et == F.EV_END:
            self._peer_ended = True
            self._readable._feed_eof()
        elif et == F.EV_DRAIN:
            self._resolve_drain()
        elif et == F.EV_ERROR:
            exc = self._fail(err, msg)
            self._readable._set_exception(exc)
            self._resolve_drain(exc)
            w = self._start_tls_waiter
            if w is not None:
                self._start_tls_waiter = None
                if not w.done():
                    w.set_exception(exc)
        elif et == F.EV_CLOSE:
            self._readable._feed_eof()
            w = self._start_tls_waiter
            if w is not None:
                self._start_tls_waiter = None
                if not w.done():
                    w.set_exception(self._error or AbortError(
                        "closed during STARTTLS", F.W3S_EABORTED, "W3S_EABORTED"))
            self._finish_close(err)


class TCPServerSocket(_Base):
    """A listening TCP socket. ``await server.listen()`` gives the next
    connection; ``async for conn in server.connections`` iterates them."""

    _flush_drain = True

    def __init__(self, *, local_address: Optional[str] = None,
                 local_port: Optional[int] = None,
                 address_reuse: bool = True,
                 use_secure_transport: bool = False,
                 tls: TLSArg = None,
                 backlog: Optional[int] = None,
                 reuse_port: bool = False,
                 no_delay: bool = True,
                 high_water_send: Optional[int] = None,
                 high_water_receive: Optional[int] = None,
                 _reader_class: type = Readable) -> None:
        local_address = _check_address("local_address", local_address)
        local_port = _check_port("local_port", local_port, allow_zero=True)
        _check_bool("address_reuse", address_reuse)
        _check_bool("use_secure_transport", use_secure_transport)
        _check_bool("reuse_port", reuse_port)
        _check_bool("no_delay", no_delay)
        backlog = _check_size("backlog", backlog, maximum=65535)
        tlso = tls_options(tls)
        if use_secure_transport and (tlso is None or not tlso._has_cert_and_key()):
            raise ValueError("a TLS server needs tls=TLSOptions(cert_file=..., key_file=...) "
                             "(or cert=/key= with PEM data)")
        high_water_send = _check_size("high_water_send", high_water_send, maximum=1 << 40)
        high_water_receive = _check_size("high_water_receive", high_water_receive,
                                         maximum=1 << 40)
        nl = get_native_loop()
        super().__init__(nl)
        self._address_reuse = address_reuse
        self._use_secure_transport = use_secure_transport
        self._no_delay = no_delay
        self._hw_send = high_water_send or F.DEFAULT_HIGH_WATER
        self._hw_receive = high_water_receive or DEFAULT_READ_HIGH_WATER
        self._reader_class = _reader_class
        self._pending: Deque[TCPSocket] = deque()
        self._waiters: Deque[asyncio.Future[TCPSocket]] = deque()
        opts, keep = _tcp_opts(
            local_address=local_address, local_port=local_port,
            address_reuse=address_reuse, no_delay=no_delay, backlog=backlog,
            reuse_port=reuse_port, use_secure_transport=use_secure_transport, tls=tlso,
            high_water_send=high_water_send, high_water_receive=high_water_receive)
        h = _lib.w3s_tcp_listen(nl.handle, ctypes.byref(opts), 0)
        del keep
        if h < 0:
            where = f"{local_address or '*'}:{local_port or 0}"
            self._open_failed(h, f"listen on {where}")
            return
        self._register(h)
        self._refresh_addresses()

    @property
    def address_reuse(self) -> bool:
        return self._address_reuse

    @property
    def use_secure_transport(self) -> bool:
        return self._use_secure_transport

    async def listen(self) -> TCPSocket:
        """Waits for and returns the next accepted connection."""
        if self._pending:
            return self._pending.popleft()
        if self._ready_state in ("closing", "closed"):
            raise InvalidStateError("the server socket is closed", F.W3S_ESTATE, "W3S_ESTATE")
        fut: asyncio.Future[TCPSocket] = self._loop.create_future()
        self._waiters.append(fut)
        try:
            return await fut
        except asyncio.CancelledError:
            # a connection handed to us just before the cancellation is kept
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._pending.appendleft(fut.result())
            raise
        finally:
            if fut in self._waiters:
                self._waiters.remove(fut)

    @property
    def connections(self) -> AsyncIterator[TCPSocket]:
        return self._iter_connections()

    async def _iter_connections(self) -> AsyncIterator[TCPSocket]:
        while True:
            if not self._pending and self._ready_state in ("closing", "closed"):
                return
            try:
                yield await self.listen()
            except AbortError:
                return
            except InvalidStateError:
                return

    async def __aenter__(self) -> "TCPServerSocket":
        await self._opened
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ready_state != "closed":
            self.close()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), 30)
            except (SocketError, asyncio.TimeoutError):
                pass

    def _on_connection(self, handle: int, address: str, port: int) -> None:
        if self._ready_state in ("closing", "closed"):
            _lib.w3s_abort(handle)
            return
        sock = TCPSocket("", None, _reader_class=self._reader_class,
                         _accepted=(self._nl, handle, address, port, self))
        while self._waiters:
            w = self._waiters.popleft()
            if not w.done():
                w.set_result(sock)
                return
        self._pending.append(sock)

    def _on_event(self, et: int, err: int, msg: str) -> None:
        if et == F.EV_OPEN:
            self._ready_state = "open"
            self._refresh_addresses()
            if not self._opened.done():
                self._opened.set_result(OpenInfo(
                    self.connections, None, None, None, self._local_address,
                    self._local_port))
        elif et == F.EV_ERROR:
            self._fail(err, msg)
        elif et == F.EV_CLOSE:
            exc = self._error or AbortError("the server socket was closed",
                                            F.W3S_EABORTED, "W3S_EABORTED")
            while self._waiters:
                w = self._waiters.popleft()
                if not w.done():
                    w.set_exception(exc)
            self._finish_close(err)


# --------------------------------------------------------------------------
# UDP
# --------------------------------------------------------------------------

class UDPReadable(_Waiting):
    """Async iterator of :class:`UDPMessage`; ``await read()`` gives one."""

    def __init__(self, owner: "UDPSocket", max_messages: int = 4096,
                 high_water: int = 4 << 20) -> None:
        self._owner = owner
        self._queue: Deque[UDPMessage] = deque()
        self._size = 0
        self._eof = False
        self._exc: Optional[BaseException] = None
        self._waiter: Optional[asyncio.Future[None]] = None
        self._paused = False
        self._max = max_messages
        self._hw = high_water

    def _feed(self, msg: UDPMessage) -> None:
        self._queue.append(msg)
        self._size += len(msg.data)
        self._wake()
        if not self._paused and (len(self._queue) >= self._max or self._size >= self._hw):
            self._paused = True
            self._owner._apply_pause()

    async def read(self) -> Optional[UDPMessage]:
        """The next datagram, or None once the socket is closed."""
        while not self._queue:
            if self._eof:
                if self._exc is not None:
                    raise self._exc
                return None
            if self._waiter is not None:
                raise RuntimeError("read() called while another coroutine is waiting")
            w = self._owner._loop.create_future()
            self._waiter = w
            try:
                await w
            finally:
                self._waiter = None
        m = self._queue.popleft()
        self._size -= len(m.data)
        if self._paused and len(self._queue) <= self._max // 2 and self._size <= self._hw // 2:
            self._paused = False
            self._owner._apply_pause()
        return m

    def __aiter__(self) -> "UDPReadable":
        return self

    async def __anext__(self) -> UDPMessage:
        m = await self.read()
        if m is None:
            raise StopAsyncIteration
        return m


class UDPSocket(_Base):
    """A UDP socket; connected when ``remote_address``/``remote_port`` are given."""

    def __init__(self, *, local_address: Optional[str] = None,
                 local_port: Optional[int] = None,
                 remote_address: Optional[str] = None,
                 remote_port: Optional[int] = None,
                 address_reuse: bool = True,
                 loopback: bool = False,
                 multicast_ttl: Optional[int] = None,
                 broadcast: bool = False,
                 reuse_port: bool = False,
                 ttl: Optional[int] = None,
                 multicast_interface: Optional[str] = None,
                 send_buffer_size: Optional[int] = None,
                 receive_buffer_size: Optional[int] = None,
                 high_water_send: Optional[int] = None,
                 high_water_receive: Optional[int] = None) -> None:
        local_address = _check_address("local_address", local_address)
        local_port = _check_port("local_port", local_port, allow_zero=True)
        remote_address = _check_address("remote_address", remote_address)
        remote_port = _check_port("remote_port", remote_port, allow_zero=False)
        if (remote_address is None) != (remote_port is None):
            raise ValueError("remote_address and remote_port go together")
        for n, v in (("address_reuse", address_reuse), ("loopback", loopback),
                     ("broadcast", broadcast), ("reuse_port", reuse_port)):
            _check_bool(n, v)
        for n, iv in (("multicast_ttl", multicast_ttl), ("ttl", ttl)):
            if iv is not None:
                if isinstance(iv, bool) or not isinstance(iv, int):
                    raise TypeError(f"{n} must be an int")
                if not 0 <= iv <= 255:
                    raise ValueError(f"{n} must be in 0..255")
        multicast_interface = _check_address("multicast_interface", multicast_interface)
        send_buffer_size = _check_size("send_buffer_size", send_buffer_size)
        receive_buffer_size = _check_size("receive_buffer_size", receive_buffer_size)
        high_water_send = _check_size("high_water_send", high_water_send, maximum=1 << 40)
        high_water_receive = _check_size("high_water_receive", high_water_receive,
                                         maximum=1 << 40)
        nl = get_native_loop()
        super().__init__(nl)
        self._address_reuse = address_reuse
        self._loopback = loopback
        self._broadcast = broadcast
        self._multicast_ttl = multicast_ttl
        self._remote_address = remote_address
        self._remote_port = remote_port
        self._hw_send = high_water_send or F.DEFAULT_HIGH_WATER
        self._readable = UDPReadable(self)
        self._writable = UDPWritable(self)
        self._native_paused = False
        self._suspended = False
        o = F.UDPOptionsC()
        _lib.w3s_udp_options_init(ctypes.byref(o))
        keep = [_enc(local_address), _enc(remote_address), _enc(multicast_interface)]
        o.local_address = keep[0]
        o.remote_address = keep[1]
        o.multicast_interface = keep[2]
        o.local_port = local_port or 0
        o.remote_port = remote_port or 0
        o.address_reuse = int(address_reuse)
        o.reuse_port = int(reuse_port)
        o.broadcast = int(broadcast)
        o.multicast_loopback = int(loopback)
        if multicast_ttl is not None:
            o.multicast_ttl = multicast_ttl
        if ttl is not None:
            o.ttl = ttl
        if send_buffer_size:
            o.send_buffer_size = send_buffer_size
        if receive_buffer_size:
            o.receive_buffer_size = receive_buffer_size
        o.high_water_send = high_water_send or 0
        o.high_water_receive = high_water_receive or 0
        h = _lib.w3s_udp_open(nl.handle, ctypes.byref(o), 0)
        del keep
        if h < 0:
            where = f"{local_address or '*'}:{local_port or 0}"
            self._readable._set_exception(self._open_failed(h, f"udp bind on {where}"))
            return
        self._register(h)
        self._refresh_addresses()

    # -- attributes -----------------------------------------------------------
    @property
    def remote_address(self) -> Optional[str]:
        return self._remote_address

    @property
    def remote_port(self) -> Optional[int]:
        return self._remote_port

    @property
    def address_reuse(self) -> bool:
        return self._address_reuse

    @property
    def loopback(self) -> bool:
        return self._loopback

    @property
    def broadcast(self) -> bool:
        return self._broadcast

    @property
    def multicast_ttl(self) -> Optional[int]:
        return self._multicast_ttl

    @property
    def readable(self) -> UDPReadable:
        return self._readable

    @property
    def writable(self) -> UDPWritable:
        return self._writable

    @property
    def writeable(self) -> UDPWritable:
        return self._writable

    # -- methods -----------------------------------------------------------
    def send(self, data: Any, remote_address: Optional[str] = None,
             remote_port: Optional[int] = None) -> bool:
        """Sends one datagram; False when the send queue is at its high-water mark."""
        return self._send_dgram(data, remote_address, remote_port) < self._hw_send

    def set_peer(self, remote_address: Optional[str], remote_port: Optional[int] = None) -> None:
        """Sets (or with None removes) the default destination."""
        if remote_address is None:
            rc = _lib.w3s_udp_set_peer(self._handle, None, 0)
            if rc < 0:
                raise error_from_code(rc, context="set_peer")
            self._remote_address = self._remote_port = None
            return
        _check_address("remote_address", remote_address)
        _check_port("remote_port", remote_port, allow_zero=False, optional=False)
        rc = _lib.w3s_udp_set_peer(self._handle, remote_address.encode(), remote_port)
        if rc < 0:
            raise error_from_code(rc, context="set_peer")
        self._remote_address, self._remote_port = remote_address, remote_port

    def join_multicast(self, group: str, interface: Optional[str] = None, *,
                       source: Optional[str] = None) -> None:
        self._group_call(True, group, interface, source)

    def leave_multicast(self, group: str, interface: Optional[str] = None, *,
                        source: Optional[str] = None) -> None:
        self._group_call(False, group, interface, source)

    @property
    def joined_groups(self) -> List[Dict[str, Any]]:
        n = _lib.w3s_get_joined_groups_sized(self._handle, None, 0, F.GROUP_SIZE)
        if n < 0:
            raise error_from_code(n, context="joined_groups")
        if n == 0:
            return []
        arr = (F.Group * n)()
        m = _lib.w3s_get_joined_groups_sized(self._handle, arr, n, F.GROUP_SIZE)
        if m < 0:
            raise error_from_code(m, context="joined_groups")
        return [{"group": F.cstr(g.group), "source": F.cstr(g.source) or None,
                 "interface": g.iface} for g in arr[:min(n, m)]]

    def suspend(self) -> None:
        self._suspended = True
        self._apply_pause()

    def resume(self) -> None:
        self._suspended = False
        self._apply_pause()

    async def __aenter__(self) -> "UDPSocket":
        await self._opened
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ready_state != "closed":
            self.close()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), 30)
            except (SocketError, asyncio.TimeoutError):
                pass

    # -- internals -----------------------------------------------------------
    def _group_call(self, join: bool, group: str, interface: Optional[str],
                    source: Optional[str]) -> None:
        _check_address("group", group, optional=False)
        _check_address("interface", interface)
        _check_address("source", source)
        g = group.encode()
        i = _enc(interface)
        if source is None:
            fn = _lib.w3s_join_group if join else _lib.w3s_leave_group
            rc = fn(self._handle, g, i)
        else:
            fn = _lib.w3s_join_source_group if join else _lib.w3s_leave_source_group
            rc = fn(self._handle, source.encode(), g, i)
        if rc < 0:
            raise error_from_code(rc, context=f"{'join' if join else 'leave'}_multicast({group})")

    def _send_dgram(self, data: Any, address: Optional[str], port: Optional[int]) -> int:
        data = _bytes_like(data)
        p, n = _ptr_len(data)
        if address is None and port is None:
            r = _lib.w3s_send_to(self._handle, p, n, None, 0) if self._remote_address is None \
                else _send(self._handle, p, n)
        else:
            _check_address("remote_address", address, optional=False)
            _check_port("remote_port", port, allow_zero=False, optional=False)
            assert address is not None and port is not None
            r = _lib.w3s_send_to(self._handle, p, n, address.encode(), port)
        if r < 0:
            if self._error is not None and r in (F.W3S_ESTATE, F.W3S_EBADF):
                raise self._error
            if r == F.W3S_ENOTCONN:
                raise argument_error(r, "send", "an unconnected UDPSocket needs "
                                     "remote_address and remote_port for each message")
            if r == F.W3S_EISCONN:
                raise argument_error(r, "send", f"this UDPSocket is connected to "
                                     f"{self._remote_address}:{self._remote_port}; "
                                     f"it cannot send to {address}:{port}")
            raise error_from_code(r, context="send")
        return r

    def _apply_pause(self) -> None:
        want = self._suspended or self._readable._paused
        if want == self._native_paused or self._ready_state == "closed":
            return
        self._native_paused = want
        (_lib.w3s_pause if want else _lib.w3s_resume)(self._handle)

    def _on_message(self, data: bytes, address: str, port: int) -> None:
        self._readable._feed(UDPMessage(data, address, port))

    def _on_event(self, et: int, err: int, msg: str) -> None:
        if et == F.EV_OPEN:
            self._ready_state = "open"
            self._refresh_addresses()
            if not self._opened.done():
                self._opened.set_result(OpenInfo(
                    self._readable, self._writable, self._remote_address,
                    self._remote_port, self._local_address, self._local_port))
        elif et == F.EV_DRAIN:
            self._resolve_drain()
        elif et == F.EV_ERROR:
            exc = self._fail(err, msg)
            self._readable._set_exception(exc)
            self._resolve_drain(exc)
        elif et == F.EV_CLOSE:
            self._readable._feed_eof()
            self._finish_close(err)


# --------------------------------------------------------------------------
# module functions
# --------------------------------------------------------------------------

def network_interfaces() -> List[Dict[str, Any]]:
    """Interfaces and their addresses (chrome.socket getNetworkList shape)."""
    n = _lib.w3s_network_list_sized(None, 0, F.INTERFACE_SIZE)
    if n < 0:
        raise error_from_code(n, context="network_interfaces")
    for _ in range(4):
        arr = (F.Interface * max(n, 1))()
        m = _lib.w3s_network_list_sized(arr, len(arr), F.INTERFACE_SIZE)
        if m < 0:
            raise error_from_code(m, context="network_interfaces")
        if m <= len(arr):
            out = []
            for it in arr[:m]:
                flags = it.flags
                out.append({
                    "name": F.cstr(it.name),
                    "address": F.cstr(it.address) or None,
                    "index": it.index,
                    "prefix_length": it.prefix_length if it.prefix_length >= 0 else None,
                    "family": it.family or None,
                    "up": bool(flags & F.IF_UP),
                    "loopback": bool(flags & F.IF_LOOPBACK),
                    "multicast": bool(flags & F.IF_MULTICAST),
                    "broadcast": bool(flags & F.IF_BROADCAST),
                })
            return out
        n = m
    raise InvalidStateError("interface list keeps changing", F.W3S_EIO, "W3S_EIO")
