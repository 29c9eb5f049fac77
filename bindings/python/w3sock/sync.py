"""A blocking socket API after CommonJS Sockets/A, on the w3sock core.

    from w3sock.sync import Socket, AF_INET, SOCK_STREAM
    s = Socket(AF_INET, SOCK_STREAM)
    s.connect("127.0.0.1", 8080, timeout=5)
    s.send(b"hello")          # sends every byte or raises
    data = s.receive(4096)    # b"" at end of stream
    s.close()

    u = Socket(AF_INET, SOCK_DGRAM)
    u.send_to("127.0.0.1", 5353, b"query")   # sendTo(host, port, data)
    d = u.receive_from()                      # Datagram(data, address, port)

One background thread per process polls a private native loop (the GIL is
released while it waits) and hands each socket its events; calls block on a
condition variable with the socket's timeout. ``send`` applies the core's
backpressure (it waits for DRAIN when the send buffer reaches its high-water
mark) and unread received data beyond a threshold pauses the native socket,
so a fast peer cannot grow this process's memory without bound.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import socket as _socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Optional, Tuple, Union

from . import _ffi as F
from ._errors import (InvalidAccessError, InvalidStateError, argument_error,
                      error_from_code)

__all__ = [
    "Socket", "Datagram", "AF_INET", "AF_INET6", "AF_UNIX", "SOCK_STREAM", "SOCK_DGRAM",
    "SHUT_RD", "SHUT_WR", "SHUT_RDWR",
]

AF_INET = _socket.AF_INET
AF_INET6 = _socket.AF_INET6
AF_UNIX = _socket.AF_UNIX
SOCK_STREAM = _socket.SOCK_STREAM
SOCK_DGRAM = _socket.SOCK_DGRAM
SHUT_RD = _socket.SHUT_RD
SHUT_WR = _socket.SHUT_WR
SHUT_RDWR = _socket.SHUT_RDWR

_lib = F.lib
_BATCH = 256
_READ_HIGH_WATER = 1 << 20
_MAX_DGRAMS = 4096
_CLOSE_WAIT = 10.0

_OPTION_NAMES: Dict[str, int] = {
    "no_delay": F.OPT_NO_DELAY, "nodelay": F.OPT_NO_DELAY, "tcp_nodelay": F.OPT_NO_DELAY,
    "keep_alive": F.OPT_KEEP_ALIVE, "keepalive": F.OPT_KEEP_ALIVE,
    "so_keepalive": F.OPT_KEEP_ALIVE,
    "keep_alive_delay_ms": F.OPT_KEEP_ALIVE_DELAY_MS,
    "send_buffer_size": F.OPT_SEND_BUFFER_SIZE, "sndbuf": F.OPT_SEND_BUFFER_SIZE,
    "so_sndbuf": F.OPT_SEND_BUFFER_SIZE,
    "receive_buffer_size": F.OPT_RECEIVE_BUFFER_SIZE, "rcvbuf": F.OPT_RECEIVE_BUFFER_SIZE,
    "so_rcvbuf": F.OPT_RECEIVE_BUFFER_SIZE,
    "ttl": F.OPT_TTL, "multicast_ttl": F.OPT_MULTICAST_TTL,
    "multicast_loopback": F.OPT_MULTICAST_LOOPBACK, "multicast_loop": F.OPT_MULTICAST_LOOPBACK,
    "broadcast": F.OPT_BROADCAST, "so_broadcast": F.OPT_BROADCAST,
    "high_water_send": F.OPT_HIGH_WATER_SEND, "high_water_receive": F.OPT_HIGH_WATER_RECEIVE,
    "address_reuse": F.OPT_ADDRESS_REUSE, "reuseaddr": F.OPT_ADDRESS_REUSE,
    "so_reuseaddr": F.OPT_ADDRESS_REUSE,
    "reuse_port": F.OPT_REUSE_PORT, "reuseport": F.OPT_REUSE_PORT,
    "multicast_interface": F.OPT_MULTICAST_INTERFACE,
}
_BOOL_OPTS = {F.OPT_NO_DELAY, F.OPT_KEEP_ALIVE, F.OPT_MULTICAST_LOOPBACK, F.OPT_BROADCAST,
              F.OPT_ADDRESS_REUSE, F.OPT_REUSE_PORT}


@dataclass(frozen=True)
class Datagram:
    """What :meth:`Socket.receive_from` returns: one datagram and its sender."""

    data: bytes
    address: str
    port: int


class _State:
    """Everything the poller thread learned about one native socket."""

    __slots__ = ("handle", "cond", "chunks", "size", "msgs", "accepted", "opened",
                 "eof", "error", "closed", "drains", "paused", "discard", "secure")

    def __init__(self, handle: int, lock: threading.Lock) -> None:
        self.handle = handle
        self.cond = threading.Condition(lock)
        self.chunks: Deque[bytes] = deque()
        self.size = 0
        self.msgs: Deque[Tuple[bytes, str, int]] = deque()
        self.accepted: Deque["_State"] = deque()
        self.opened = False
        self.eof = False
        self.error: Optional[Tuple[int, str]] = None
        self.closed = False
        self.drains = 0
        self.paused = False
        self.discard = False
        self.secure = False


class _Engine:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        h = _lib.w3s_loop_new_sized(F.EVENT_SIZE)
        if h < 0:
            raise error_from_code(h, context="w3s_loop_new")
        self.loop = h
        self.states: Dict[int, _State] = {}
        self.stopping = False
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="w3sock-sync", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buf = bytearray(F.EVENT_SIZE * _BATCH)
        cbuf = (ctypes.c_uint8 * len(buf)).from_buffer(buf)
        addr = ctypes.addressof(cbuf)
        head = F.EVENT_HEAD.unpack_from
        tail = F.EVENT_TAIL.unpack_from
        string_at = F.string_at
        while not self.stopping:
            n = _lib.w3s_loop_poll(self.loop, addr, _BATCH, -1)
            if n < 0:
                self._fail_all(n)
                return
            if n == 0:
                continue
            with self.lock:
                touched = set()
                off = 0
                for _ in range(n):
                    h, _ud, et, err, ptr, ln = head(buf, off)
                    st = self.states.get(h)
                    if st is None:
                        if et == F.EV_CONNECTION:
                            _lib.w3s_abort(tail(buf, off + 40)[0])
                        off += F.EVENT_SIZE
                        continue
                    if et == F.EV_DATA:
                        if not st.discard:
                            st.chunks.append(string_at(ptr, ln))
                            st.size += ln
                            if st.size >= _READ_HIGH_WATER and not st.paused:
                                st.paused = True
                                _lib.w3s_pause(h)
                    elif et == F.EV_MESSAGE:
                        _a, port, _f, _r, a = tail(buf, off + 40)
                        st.msgs.append((string_at(ptr, ln), a.split(b"\0", 1)[0].decode(), port))
                        if len(st.msgs) >= _MAX_DGRAMS and not st.paused:
                            st.paused = True
                            _lib.w3s_pause(h)
                    elif et == F.EV_CONNECTION:
                        acc, port, _f, _r, a = tail(buf, off + 40)
                        nst = _State(acc, self.lock)
                        nst.opened = True
                        self.states[acc] = nst
                        st.accepted.append(nst)
                    elif et == F.EV_OPEN:
                        st.opened = True
                    elif et == F.EV_SECURE:
                        st.secure = True
                    elif et == F.EV_END:
                        st.eof = True
                    elif et == F.EV_DRAIN:
                        st.drains += 1
                    elif et == F.EV_ERROR:
                        msg = string_at(ptr, ln).decode("utf-8", "replace") if ptr else ""
                        if st.error is None:
                            st.error = (err, msg)
                    elif et == F.EV_CLOSE:
                        st.closed = True
                        st.eof = True
                        self.states.pop(h, None)
                    touched.add(st)
                    off += F.EVENT_SIZE
                for st in touched:
                    st.cond.notify_all()

    def _fail_all(self, code: int) -> None:
        with self.lock:
            for st in self.states.values():
                if st.error is None:
                    st.error = (code, "the library was shut down")
                st.closed = True
                st.eof = True
                st.cond.notify_all()
            self.states.clear()

    def register(self, create: Any) -> _State:
        """Runs create() (a native create call) and registers its handle
        under the lock, so no event can arrive before the state exists."""
        with self.lock:
            h = create(self.loop)
            if h < 0:
                raise error_from_code(h)
            st = _State(h, self.lock)
            self.states[h] = st
            return st

    def stop(self) -> None:
        self.stopping = True
        _lib.w3s_loop_wake(self.loop)
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(2.0)


_engine: Optional[_Engine] = None
_engine_lock = threading.Lock()


def _get_engine() -> _Engine:
    global _engine
    e = _engine
    if e is not None and e.pid == os.getpid() and not e.stopping:
        return e
    with _engine_lock:
        if _engine is None or _engine.pid != os.getpid() or _engine.stopping:
            _engine = _Engine()
        return _engine


def _stop_engine() -> None:
    e = _engine
    if e is not None and e.pid == os.getpid():
        e.stop()


def _wait(st: _State, pred: Any, timeout: Optional[float], what: str) -> None:
    """Waits (holding st.cond) until pred() is true; raises TimeoutError."""
    deadline = None if timeout is None else time.monotonic() + timeout
    with st.cond:
        while not pred():
            if deadline is None:
                st.cond.wait()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{what} timed out")
                st.cond.wait(left)


def _raise_state(st: _State, context: str) -> None:
    if st.error is not None:
        raise error_from_code(st.error[0], detail=st.error[1], context=context)


def _state_error(msg: str) -> InvalidStateError:
    return InvalidStateError(msg, F.W3S_ESTATE, "W3S_ESTATE")


class Socket:
    """A blocking socket: ``Socket(family=AF_INET, type=SOCK_STREAM)``."""

    def __init__(self, family: int = AF_INET, type: int = SOCK_STREAM) -> None:
        if isinstance(family, bool) or family not in (AF_INET, AF_INET6, AF_UNIX):
            raise ValueError("family must be AF_INET, AF_INET6 or AF_UNIX")
        if isinstance(type, bool) or type not in (SOCK_STREAM, SOCK_DGRAM):
            raise ValueError("type must be SOCK_STREAM or SOCK_DGRAM")
        if family == AF_UNIX and type != SOCK_STREAM:
            raise ValueError("AF_UNIX supports SOCK_STREAM only")
        self._family = int(family)
        self._type = int(type)
        self._st: Optional[_State] = None
        self._bound: Optional[Tuple[Optional[str], int]] = None
        self._listening = False
        self._timeout: Optional[float] = None
        self._shut_rd = False
        self._shut_wr = False
        self._closed = False
        self._peer: Optional[Tuple[str, int]] = None
        self._hw_send = F.DEFAULT_HIGH_WATER
        self._unix_path: Optional[str] = None

    # -- properties -----------------------------------------------------------
    @property
    def family(self) -> int:
        return self._family

    @property
    def type(self) -> int:
        return self._type

    @property
    def handle(self) -> int:
        return self._st.handle if self._st is not None else 0

    def settimeout(self, timeout: Optional[float]) -> None:
        self._timeout = self._check_timeout(timeout)

    def gettimeout(self) -> Optional[float]:
        return self._timeout

    timeout = property(gettimeout, settimeout)

    def _info(self) -> Optional[F.Info]:
        if self._st is None or self._st.closed:
            return None
        return F.get_info(self._st.handle)

    @property
    def local_address(self) -> Optional[str]:
        i = self._info()
        if i is None:
            return self._bound[0] if self._bound else None
        a = F.cstr(i.local_address)
        if a.startswith("unix:"):
            a = a[5:]
        return a or None

    @property
    def local_port(self) -> Optional[int]:
        i = self._info()
        if i is None or self._family == AF_UNIX:
            return None
        return int(i.local_port)

    @property
    def remote_address(self) -> Optional[str]:
        i = self._info()
        if i is None:
            return self._peer[0] if self._peer else None
        a = F.cstr(i.remote_address)
        if a.startswith("unix:"):
            a = a[5:]
        return a or None

    @property
    def remote_port(self) -> Optional[int]:
        i = self._info()
        if i is None or self._family == AF_UNIX:
            return None
        return int(i.remote_port) if F.cstr(i.remote_address) else None

    # -- predicates -------------------------------------------------------------
    def is_connected(self) -> bool:
        st = self._st
        if st is None or st.closed or self._listening:
            return False
        if self._type == SOCK_DGRAM:
            return self._peer is not None
        return st.opened and st.error is None

    def is_readable(self) -> bool:
        """True when receive() (or accept()) would not block."""
        st = self._st
        if st is None:
            return False
        with st.cond:
            if self._listening:
                return bool(st.accepted) or st.closed
            if self._type == SOCK_DGRAM:
                return bool(st.msgs) or st.closed
            return bool(st.chunks) or st.eof or st.closed or st.error is not None

    def is_writable(self) -> bool:
        """True when send() would not block."""
        st = self._st
        if st is None or st.closed or self._shut_wr or self._listening:
            return False
        if self._type == SOCK_STREAM and not st.opened:
            return False
        i = F.get_info(st.handle)
        return i is not None and i.buffered_amount < self._hw_send

    # -- setup ------------------------------------------------------------
    def bind(self, host: Optional[str] = None, port: int = 0) -> None:
        """Binds to host:port (AF_UNIX: bind(path)). A stream socket's bind
        takes effect at listen() or connect()."""
        self._check_open()
        if self._st is not None or self._bound is not None:
            raise _state_error("socket is already bound")
        if self._family == AF_UNIX:
            if not isinstance(host, str) or not host:
                raise TypeError("AF_UNIX bind() takes a path")
            self._bound = ("unix:" + host, 0)
            self._unix_path = host
            return
        host = self._check_host(host, optional=True)
        port = self._check_port(port, allow_zero=True)
        self._bound = (host, port)
        if self._type == SOCK_DGRAM:
            self._open_udp(None)

    def listen(self, backlog: Optional[int] = None) -> None:
        self._check_open()
        if self._type != SOCK_STREAM:
            raise InvalidAccessError("listen() needs a SOCK_STREAM socket", F.W3S_ENOTSUP,
                                     "W3S_ENOTSUP")
        if self._st is not None:
            raise _state_error("socket is already connected or listening")
        if backlog is not None and (isinstance(backlog, bool) or not isinstance(backlog, int)
                                    or not 0 <= backlog <= 65535):
            raise ValueError("backlog must be an int in 0..65535")
        local, port = self._bound or (self._any_address(), 0)
        o = F.TCPOptionsC()
        _lib.w3s_tcp_options_init(ctypes.byref(o))
        la = local.encode() if local else None
        o.local_address = la
        o.local_port = port
        if backlog:
            o.backlog = backlog
        st = _get_engine().register(lambda loop: _lib.w3s_tcp_listen(loop, ctypes.byref(o), 0))
        self._st = st
        self._listening = True
        _wait(st, lambda: st.opened or st.closed, self._timeout or 30.0, "listen")
        _raise_state(st, "listen")

    def accept(self, timeout: Optional[float] = None) -> "Socket":
        self._check_open()
        st = self._st
        if st is None or not self._listening:
            raise _state_error("accept() needs a listening socket")
        t = self._timeout if timeout is None else self._check_timeout(timeout)
        _wait(st, lambda: bool(st.accepted) or st.closed, t, "accept")
        with st.cond:
            if not st.accepted:
                _raise_state(st, "accept")
                raise _state_error("the listening socket was closed")
            nst = st.accepted.popleft()
        s = Socket(self._family, SOCK_STREAM)
        s._st = nst
        s._timeout = self._timeout
        return s

    def connect(self, host: str, port: Optional[int] = None,
                timeout: Optional[float] = None) -> None:
        """Connects (AF_UNIX: connect(path)). A SOCK_DGRAM socket sets its
        default peer."""
        self._check_open()
        t = self._timeout if timeout is None else self._check_timeout(timeout)
        if self._type == SOCK_DGRAM:
            host = self._check_host(host, optional=False)
            port = self._check_port(port, allow_zero=False)
            if self._st is None:
                self._open_udp((host, port))
            else:
                rc = _lib.w3s_udp_set_peer(self._st.handle, host.encode(), port)
                if rc < 0:
                    raise error_from_code(rc, context="connect")
            self._peer = (host, port)
            return
        if self._st is not None:
            raise _state_error("socket is already connected or listening")
        if self._family == AF_UNIX:
            if not isinstance(host, str) or not host:
                raise TypeError("AF_UNIX connect() takes a path")
            if port is not None:
                raise TypeError("AF_UNIX connect() takes no port")
            target, tport = "unix:" + host, 0
        else:
            target = self._check_host(host, optional=False)
            tport = self._check_port(port, allow_zero=False)
        o = F.TCPOptionsC()
        _lib.w3s_tcp_options_init(ctypes.byref(o))
        keep = []
        if self._bound is not None and self._family != AF_UNIX:
            la, lp = self._bound
            if la:
                keep.append(la.encode())
                o.local_address = keep[-1]
            o.local_port = lp
        if t is not None:
            o.connect_timeout_ms = max(1, int(t * 1000))
        tb = target.encode()
        st = _get_engine().register(
            lambda loop: _lib.w3s_tcp_connect(loop, tb, tport, ctypes.byref(o), 0))
        self._st = st
        self._peer = (host, tport)
        try:
            _wait(st, lambda: st.opened or st.closed, None if t is None else t + 5.0, "connect")
        except TimeoutError:
            _lib.w3s_abort(st.handle)
            raise
        if not st.opened:
            _wait(st, lambda: st.closed, 5.0, "connect")
            _raise_state(st, f"connect {host}:{port}")
            raise _state_error("connection closed before it opened")

    # -- data -----------------------------------------------------------
    def send(self, data: Any) -> int:
        """Sends every byte of data (blocking while the send buffer is at its
        high-water mark) or raises. Returns len(data)."""
        st = self._stream_state("send")
        if self._shut_wr:
            raise _state_error("send() after shutdown(SHUT_WR)")
        data = _as_bytes(data)
        before = st.drains
        r = _lib.w3s_send(st.handle, data, len(data))
        if r < 0:
            _raise_state(st, "send")
            if r == F.W3S_ENOTCONN:
                raise argument_error(r, "send", "an unconnected SOCK_DGRAM socket "
                                     "needs connect() first, or send_to(host, port, data)")
            raise error_from_code(r, context="send")
        if r >= self._hw_send:
            self._wait_drain(st, before, "send")
        return len(data)

    sendall = send

    def send_file(self, path: Union[str, "os.PathLike[str]"], offset: int = 0,
                  length: Optional[int] = None) -> int:
        """Sends a file's bytes (sendfile(2) on plain TCP); returns the count."""
        st = self._stream_state("send_file")
        if self._shut_wr:
            raise _state_error("send_file() after shutdown(SHUT_WR)")
        p = os.fspath(path)
        if not isinstance(p, str):
            raise TypeError("path must be a str or PathLike")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError("offset must be an int >= 0")
        if length is not None and (isinstance(length, bool) or not isinstance(length, int)
                                   or length < 0):
            raise ValueError("length must be an int >= 0 or None")
        try:
            size = os.stat(p).st_size
        except FileNotFoundError:
            size = None
        before = st.drains
        r = _lib.w3s_send_file(st.handle, p.encode(), offset,
                               -1 if length is None else length)
        if r < 0:
            _raise_state(st, "send_file")
            raise error_from_code(r, context=f"send_file({p})")
        if r >= self._hw_send:
            self._wait_drain(st, before, "send_file")
        if size is None:
            return 0
        rest = max(0, size - offset)
        return rest if length is None else min(rest, length)

    def receive(self, maxlen: int = 65536) -> bytes:
        """Up to maxlen bytes; blocks until some arrive; b"" at end of stream."""
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError("maxlen must be a positive int")
        st = self._stream_state("receive", allow_closed=True)
        if self._shut_rd:
            return b""
        _wait(st, lambda: bool(st.chunks) or st.eof or st.error is not None,
              self._timeout, "receive")
        with st.cond:
            if not st.chunks:
                if st.error is not None:
                    _raise_state(st, "receive")
                return b""
            out = bytearray()
            while st.chunks and len(out) < maxlen:
                c = st.chunks[0]
                need = maxlen - len(out)
                if len(c) <= need:
                    out += c
                    st.chunks.popleft()
                else:
                    out += c[:need]
                    st.chunks[0] = c[need:]
            st.size -= len(out)
            if st.paused and st.size <= _READ_HIGH_WATER // 2 and not st.closed:
                st.paused = False
                _lib.w3s_resume(st.handle)
            return bytes(out)

    recv = receive

    def receive_from(self, maxlen: int = 65536) -> "Datagram":
        """One datagram (truncated to maxlen) and its sender, as a
        :class:`Datagram` with ``data``, ``address`` and ``port`` (CommonJS
        Sockets/A ``receiveFrom``)."""
        if self._type != SOCK_DGRAM:
            raise InvalidAccessError("receive_from() needs a SOCK_DGRAM socket",
                                     F.W3S_ENOTSUP, "W3S_ENOTSUP")
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError("maxlen must be a positive int")
        self._check_open()
        if self._st is None:
            self._bound = (self._any_address(), 0)
            self._open_udp(None)
        st = self._st
        assert st is not None
        _wait(st, lambda: bool(st.msgs) or st.closed, self._timeout, "receive_from")
        with st.cond:
            if not st.msgs:
                _raise_state(st, "receive_from")
                raise _state_error("socket is closed")
            data, addr, port = st.msgs.popleft()
            if st.paused and len(st.msgs) <= _MAX_DGRAMS // 2 and not st.closed:
                st.paused = False
                _lib.w3s_resume(st.handle)
        return Datagram(data[:maxlen], addr, port)

    def send_to(self, host: str, port: int, data: Any) -> int:
        """Sends one datagram to host:port (CommonJS Sockets/A
        ``sendTo(host, port, data)``); returns len(data)."""
        if self._type != SOCK_DGRAM:
            raise InvalidAccessError("send_to() needs a SOCK_DGRAM socket",
                                     F.W3S_ENOTSUP, "W3S_ENOTSUP")
        if isinstance(host, (bytes, bytearray, memoryview)) and isinstance(port, str):
            raise TypeError("send_to() takes (host, port, data), the order of CommonJS "
                            "Sockets/A sendTo; w3sock 0.1.0 took (data, host, port)")
        self._check_open()
        host = self._check_host(host, optional=False)
        port = self._check_port(port, allow_zero=False)
        data = _as_bytes(data)
        if self._st is None:
            self._bound = (self._any_address(), 0)
            self._open_udp(None)
        st = self._st
        assert st is not None
        before = st.drains
        r = _lib.w3s_send_to(st.handle, data, len(data), host.encode(), port)
        if r < 0:
            if r == F.W3S_EISCONN:
                raise argument_error(r, f"send_to {host}:{port}",
                                     f"this socket is connected to {self._peer}")
            raise error_from_code(r, context=f"send_to {host}:{port}")
        if r >= self._hw_send:
            self._wait_drain(st, before, "send_to")
        return len(data)

    # -- options -----------------------------------------------------------
    def set_option(self, name: str, value: Union[int, bool]) -> None:
        opt = self._option(name)
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int):
            raise TypeError("option value must be an int or a bool")
        st = self._require_native("set_option")
        rc = _lib.w3s_set_option(st.handle, opt, value)
        if rc < 0:
            raise error_from_code(rc, context=f"set_option({name})")
        if opt == F.OPT_HIGH_WATER_SEND and value > 0:
            self._hw_send = value

    def get_option(self, name: str) -> Union[int, bool]:
        opt = self._option(name)
        st = self._require_native("get_option")
        v = ctypes.c_int64()
        rc = _lib.w3s_get_option(st.handle, opt, ctypes.byref(v))
        if rc < 0:
            raise error_from_code(rc, context=f"get_option({name})")
        return bool(v.value) if opt in _BOOL_OPTS else int(v.value)

    # -- closing -----------------------------------------------------------
    def shutdown(self, how: int = SHUT_RDWR) -> None:
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR) or isinstance(how, bool):
            raise ValueError("how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
        st = self._stream_state("shutdown")
        if how in (SHUT_RD, SHUT_RDWR) and not self._shut_rd:
            self._shut_rd = True
            with st.cond:
                st.discard = True
                st.chunks.clear()
                st.size = 0
                if st.paused:
                    st.paused = False
                    _lib.w3s_resume(st.handle)
        if how in (SHUT_WR, SHUT_RDWR) and not self._shut_wr:
            self._shut_wr = True
            rc = _lib.w3s_half_close(st.handle)
            if rc < 0 and not st.closed:
                raise error_from_code(rc, context="shutdown")

    def close(self) -> None:
        """Graceful close; waits (bounded) for the native socket to finish."""
        if self._closed:
            return
        self._closed = True
        st = self._st
        if st is None:
            return
        if not st.closed:
            _lib.w3s_close(st.handle)
            try:
                _wait(st, lambda: st.closed, _CLOSE_WAIT, "close")
            except TimeoutError:
                _lib.w3s_abort(st.handle)
        if self._unix_path and self._listening:
            try:
                os.unlink(self._unix_path)
            except OSError:
                pass

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        kind = {int(AF_INET): "AF_INET", int(AF_INET6): "AF_INET6",
                int(AF_UNIX): "AF_UNIX"}[self._family]
        typ = "SOCK_STREAM" if self._type == SOCK_STREAM else "SOCK_DGRAM"
        return f"<w3sock.sync.Socket {kind} {typ} handle={self.handle}>"

    # -- internals -----------------------------------------------------------
    def _any_address(self) -> str:
        return "::" if self._family == AF_INET6 else "0.0.0.0"

    def _check_open(self) -> None:
        if self._closed:
            raise _state_error("socket is closed")

    def _require_native(self, what: str) -> _State:
        self._check_open()
        if self._st is None:
            raise _state_error(f"{what}() needs a connected, listening or bound socket")
        return self._st

    def _stream_state(self, what: str, allow_closed: bool = False) -> _State:
        if not allow_closed:
            self._check_open()
        st = self._st
        if st is None or self._listening:
            raise _state_error(f"{what}() needs a connected socket")
        if self._type != SOCK_STREAM:
            if what in ("send", "receive"):
                return st
            raise InvalidAccessError(f"{what}() needs a SOCK_STREAM socket", F.W3S_ENOTSUP,
                                     "W3S_ENOTSUP")
        return st

    def _wait_drain(self, st: _State, before: int, what: str) -> None:
        _wait(st, lambda: st.drains > before or st.closed or st.error is not None,
              self._timeout, what)
        if st.error is not None:
            _raise_state(st, what)

    def _open_udp(self, peer: Optional[Tuple[str, int]]) -> None:
        o = F.UDPOptionsC()
        _lib.w3s_udp_options_init(ctypes.byref(o))
        keep = []
        if self._bound is not None:
            la, lp = self._bound
            if la:
                keep.append(la.encode())
                o.local_address = keep[-1]
            o.local_port = lp
        elif self._family == AF_INET:
            keep.append(b"0.0.0.0")
            o.local_address = keep[-1]
        if peer is not None:
            keep.append(peer[0].encode())
            o.remote_address = keep[-1]
            o.remote_port = peer[1]
        st = _get_engine().register(lambda loop: _lib.w3s_udp_open(loop, ctypes.byref(o), 0))
        self._st = st
        _wait(st, lambda: st.opened or st.closed, 30.0, "bind")
        _raise_state(st, "bind")

    def _option(self, name: str) -> int:
        if not isinstance(name, str):
            raise TypeError("option name must be a str")
        opt = _OPTION_NAMES.get(name.lower())
        if opt is None:
            raise ValueError(f"unknown option {name!r}")
        return opt

    @staticmethod
    def _check_timeout(t: Any) -> Optional[float]:
        if t is None:
            return None
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError("timeout must be a number of seconds or None")
        if t != t or t < 0:
            raise ValueError("timeout must be >= 0")
        return float(t)

    @staticmethod
    def _check_host(h: Any, optional: bool) -> Any:
        if h is None and optional:
            return None
        if not isinstance(h, str):
            raise TypeError("host must be a str")
        if not h or "\0" in h:
            raise ValueError("host must be a non-empty str")
        return h

    @staticmethod
    def _check_port(p: Any, allow_zero: bool) -> int:
        if isinstance(p, bool) or not isinstance(p, int):
            raise TypeError("port must be an int")
        if not (0 if allow_zero else 1) <= p <= 65535:
            raise ValueError("port out of range")
        return p


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError("data must be bytes-like, not str")
    try:
        return bytes(memoryview(data))
    except TypeError:
        raise TypeError(f"data must be bytes-like, not {type(data).__name__}") from None


atexit.register(_stop_engine)

