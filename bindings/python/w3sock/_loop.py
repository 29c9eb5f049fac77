"""One native w3sock loop per asyncio event loop.

The native loop's eventfd is watched with ``loop.add_reader``; each wake-up
drains the queue in batches with ``w3s_loop_poll`` and dispatches each event
to the socket object registered for its handle. No Python code ever runs on
a library thread.

Teardown: a native loop lives exactly as long as its asyncio loop. Closing
the asyncio loop (``loop.close()``, the end of ``asyncio.run()``) closes the
native loop first and fails the sockets still open on it with AbortError
(see ``_watch_close``). In a child made by ``os.fork()`` every library call
answers W3S_EFORKED without entering the library (see ``_after_fork_in_child``)
and the parent's native loops are only forgotten, never touched (their
descriptors and the asyncio selector are shared with the parent).
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _ffi as F
from ._asyncio_adapter import ReadyRunner
from ._errors import error_from_code

BATCH = 512
_VIEW_MAX = 1 << 31  # the largest arena view _drain makes

_loops: Dict[int, "NativeLoop"] = {}

_HEAD = F.EVENT_HEAD.unpack_from
_TAIL = F.EVENT_TAIL.unpack_from
_string_at = F.string_at
_poll = F.raw.w3s_loop_poll  # no argtypes: called with ctypes objects (see _drain)
EV_DATA = F.EV_DATA
EV_MESSAGE = F.EV_MESSAGE
EV_CONNECTION = F.EV_CONNECTION
EV_CLOSE = F.EV_CLOSE
EV_ERROR = F.EV_ERROR


class NativeLoop:
    """A native loop bound to one asyncio loop."""

    def __init__(self, aloop: asyncio.AbstractEventLoop) -> None:
        h = F.lib.w3s_loop_new_sized(F.EVENT_SIZE)
        if h < 0:
            raise error_from_code(h, context="w3s_loop_new")
        fd = F.lib.w3s_loop_fd(h)
        if fd < 0:
            F.lib.w3s_loop_close(h)
            raise error_from_code(fd, context="w3s_loop_fd")
        self.handle = h
        self.fd = fd
        self.pid = os.getpid()  # a forked child must not touch this loop
        self.aloop = aloop
        self.sockets: Dict[int, Any] = {}
        self._buf = bytearray(F.EVENT_SIZE * BATCH)
        self._cbuf = (ctypes.c_uint8 * len(self._buf)).from_buffer(self._buf)
        self._addr = ctypes.addressof(self._cbuf)
        self._hc = ctypes.c_int64(h)  # the handle, converted once for _poll
        # a memoryview over the payload arena of the last poll (see _arena)
        self._view: memoryview = memoryview(b"")
        self._view_base = 0
        # runs what a batch scheduled at the end of its wake-up (see _drain);
        # the only user of asyncio internals, with a public fallback
        self._ready_runner = ReadyRunner(aloop)
        self._closed = False
        self._release_scheduled = False
        aloop.add_reader(fd, self._drain)
        _watch_close(aloop)

    # -- registry ---------------------------------------------------------
    def register(self, handle: int, obj: Any) -> None:
        self.sockets[handle] = obj

    def unregister(self, handle: int) -> None:
        self.sockets.pop(handle, None)
        self._maybe_release()

    def _maybe_release(self) -> None:
        if not self.sockets and not self._release_scheduled and not self._closed:
            self._release_scheduled = True
            try:
                self.aloop.call_soon(self._release)
            except RuntimeError:  # loop closed
                self._release()

    def _release(self) -> None:
        self._release_scheduled = False
        if self.sockets or self._closed:
            return
        self.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if _loops.get(id(self.aloop)) is self:
            del _loops[id(self.aloop)]
        if self.pid != os.getpid():
            return  # a forked child: the selector and the loop are the parent's
        try:
            self.aloop.remove_reader(self.fd)
        except Exception:  # loop already closed
            pass
        F.lib.w3s_loop_close(self.handle)

    # -- draining ---------------------------------------------------------
    def _arena(self, base: int, need: int) -> memoryview:
        """A view of the ``need`` bytes at ``base``, the first payload of the
        current poll. The library copies a poll's payloads one after another
        into one arena, valid until the next poll, so a payload is a slice of
        this view (cheaper than a ctypes.string_at per event); only the
        slices events point into are ever read. A payload that is not behind
        the first one is copied alone. The view is kept while later polls
        start at the same address."""
        if base != self._view_base or need > len(self._view):
            arr = (ctypes.c_uint8 * need).from_address(base)
            self._view = memoryview(arr).cast("B")
            self._view_base = base
        return self._view

    def _drain(self) -> None:
        buf = self._buf
        socks = self.sockets
        hc = self._hc
        cbuf = self._cbuf
        runner = self._ready_runner
        # When nothing else waits in asyncio's ready queue, the callbacks
        # this batch schedules (a reader's task woken by set_result) would run
        # first thing in the next loop iteration, before that iteration's I/O:
        # run them now instead, in the same order. That saves a whole loop
        # iteration (an epoll_wait and the selector's bookkeeping) per message.
        early = runner.idle()
        while True:
            n = _poll(hc, cbuf, BATCH, 0)
            if n <= 0:
                if n < 0:
                    self._fail_all(n)
                    return
                break
            base = _HEAD(buf, 0)[4]  # the first payload starts the arena
            if base == self._view_base:
                view = self._view
                vlen = len(view)
            else:
                vlen = -1  # a new arena: mapped at the first payload
            off = 0
            for _ in range(n):
                h, _ud, et, err, ptr, ln = _HEAD(buf, off)
                off += 104
                obj = socks.get(h)
                if et == EV_DATA:
                    if obj is not None:
                        o = ptr - base
                        e = o + ln
                        if 0 <= o and e <= vlen:
                            data = view[o:e].tobytes()
                        elif 0 <= o and e <= _VIEW_MAX:
                            view = self._arena(base, e)
                            vlen = len(view)
                            data = view[o:e].tobytes()
                        else:  # not behind the first payload: copy it alone
                            data = _string_at(ptr, ln)
                        try:
                            obj._on_data(data)
                        except Exception as exc:  # pragma: no cover - bug guard
                            self._report(exc, obj)
                elif obj is not None:
                    try:
                        if et == EV_MESSAGE:
                            _acc, port, fam, _r, a = _TAIL(buf, off - 64)
                            obj._on_message(_string_at(ptr, ln),
                                            a.split(b"\0", 1)[0].decode(), port)
                        elif et == EV_CONNECTION:
                            acc, port, fam, _r, a = _TAIL(buf, off - 64)
                            obj._on_connection(acc, a.split(b"\0", 1)[0].decode(), port)
                        elif et == EV_ERROR:
                            msg = _string_at(ptr, ln).decode("utf-8", "replace") if ptr else ""
                            obj._on_event(et, err, msg)
                        else:
                            obj._on_event(et, err, "")
                    except Exception as exc:  # pragma: no cover - bug guard
                        self._report(exc, obj)
                    if et == EV_CLOSE:
                        socks.pop(h, None)
                elif et == EV_CONNECTION:
                    # nobody owns the listener any more: refuse the newcomer
                    acc = _TAIL(buf, off - 64)[0]
                    F.lib.w3s_abort(acc)
            if n < BATCH:
                break
        if early:
            runner.run_scheduled()
        if not socks:
            self._maybe_release()

    def _report(self, exc: BaseException, obj: Any) -> None:
        self.aloop.call_exception_handler({
            "message": "w3sock: exception while dispatching an event",
            "exception": exc,
            "socket": obj,
        })

    def _fail_all(self, code: int) -> None:
        """The native loop is gone (w3s_shutdown, or this is a forked child):
        close everything."""
        socks = list(self.sockets.values())
        self.sockets.clear()
        self._closed = True
        _loops.pop(id(self.aloop), None)
        if self.pid != os.getpid():
            # A forked child woken by the parent's loop: the asyncio selector
            # is shared with the parent, so removing the reader would stop
            # the parent's loop from watching this fd. Close the child's copy
            # of the descriptor first; the removal then misses (EBADF).
            try:
                os.close(self.fd)
            except OSError:
                pass
        try:
            self.aloop.remove_reader(self.fd)
        except Exception:
            pass
        _fail_sockets(socks, code, "the native loop is gone")

    def close_with_host(self) -> None:
        """The asyncio loop is closing with sockets still open on this native
        loop: close the native loop (its sockets are aborted, their
        descriptors closed) and fail the socket objects with AbortError."""
        if self._closed:
            return
        socks = list(self.sockets.values())
        self.sockets.clear()
        self._closed = True
        if _loops.get(id(self.aloop)) is self:
            del _loops[id(self.aloop)]
        if self.pid == os.getpid():
            try:
                self.aloop.remove_reader(self.fd)
            except Exception:
                pass
            F.lib.w3s_loop_close(self.handle)
            code, why = F.W3S_EABORTED, "the asyncio event loop was closed"
        else:
            # a forked child closing the loop it inherited: the selector and
            # the native loop belong to the parent (see _fail_all)
            code, why = F.W3S_EFORKED, "w3sock cannot be used after fork()"
        _fail_sockets(socks, code, why)


def _fail_sockets(socks: List[Any], code: int, message: str) -> None:
    """Delivers ERROR then CLOSE to socket objects whose native loop is gone.

    Their futures are failed while nothing will ever run their callbacks
    (the loop is closing or closed), so their exceptions are marked
    retrieved here; otherwise collecting them would log "exception was
    never retrieved" for futures nobody could have awaited. Whoever kept a
    socket still finds the error in ``closed`` and gets it from ``send()``.
    """
    for obj in socks:
        try:
            obj._on_event(EV_ERROR, code, message)
            obj._on_event(EV_CLOSE, code, "")
        except Exception:  # pragma: no cover - bug guard
            pass
        for value in list(vars(obj).values()):
            futs = value if isinstance(value, collections.deque) else (value,)
            for fut in futs:
                if isinstance(fut, asyncio.Future) and fut.done() and not fut.cancelled():
                    fut.exception()


def _watch_close(aloop: asyncio.AbstractEventLoop) -> None:
    """Makes ``aloop.close()`` close the native loop first (once per loop).

    asyncio has no public hook for a loop closing: neither BaseEventLoop
    nor uvloop calls anything observable from close(), and a weakref
    finalizer would only run once every socket, future and task holding the
    loop is gone (they all do), i.e. possibly never. So the loop instance
    gets its own ``close`` attribute, which shadows the class's method for
    every caller (asyncio.run, asyncio.Runner, BaseEventLoop.__del__ and
    user code all call ``loop.close()``). Loops that refuse new attributes
    keep the fallback: get_native_loop reclaims native loops of closed
    asyncio loops, and w3sock.shutdown() runs at interpreter exit.
    """
    original = aloop.close
    if getattr(original, "_w3sock_hook", False):
        return
    key = id(aloop)

    def close() -> None:
        if not aloop.is_running():  # close() raises on a running loop
            nl = _loops.get(key)
            if nl is not None and nl.aloop is aloop:
                nl.close_with_host()
        original()

    close._w3sock_hook = True  # type: ignore[attr-defined]
    try:
        aloop.close = close  # type: ignore[method-assign]
    except (AttributeError, TypeError):
        pass


# --------------------------------------------------------------------------
# os.fork()
# --------------------------------------------------------------------------
# In a child made by fork() the library's Go runtime has lost every thread
# but the caller's, and entering it at all can spin forever (seen: a child
# forked during a garbage collection, stuck in runtime.exitsyscall on its
# first w3s_loop_poll). The header promises W3S_EFORKED from every call, so
# in the child the binding answers every call itself, without entering the
# library: the functions are swapped for stubs at fork time. What the stubs
# answer with (error names and texts) is read from the library beforehand.

_forked = False  # True in a child made by os.fork()
_FORKED_MESSAGE = b"w3sock cannot be used in a child process after fork()"
_ERROR_TEXTS: Dict[int, Tuple[bytes, bytes]] = {
    code: (F.err_name(code).encode(), F.strerror(code).encode())
    for name, code in vars(F).items()
    if name.startswith("W3S_E") and isinstance(code, int)
}


def _forked_stub(name: str) -> Callable[..., Any]:
    """What the function called ``name`` answers in a forked child."""
    if name == "w3s_err_name":
        return lambda code, *_: _ERROR_TEXTS.get(code, (b"W3S_UNKNOWN", b""))[0]
    if name == "w3s_strerror":
        return lambda code, *_: _ERROR_TEXTS.get(code, (b"", b"unknown error"))[1]
    if name == "w3s_last_error_message":
        return lambda *_: _FORKED_MESSAGE
    if name == "w3s_version_string":
        return lambda *_: F.VERSION_STRING.encode()
    if name == "w3s_version":
        return lambda *_: F.VERSION
    return lambda *_: F.W3S_EFORKED


def _after_fork_in_child() -> None:
    global _forked
    _forked = True
    stubs: Dict[str, Callable[..., Any]] = {}
    functions = (F.lib._FuncPtr, F.raw._FuncPtr)
    for cdll in (F.lib, F.raw):
        for name, fn in list(vars(cdll).items()):
            if name.startswith("w3s_") and isinstance(fn, functions):
                stub = stubs.setdefault(name, _forked_stub(name))
                setattr(cdll, name, stub)
    # functions the binding's modules keep in globals of their own
    for modname, mod in list(sys.modules.items()):
        if modname == "w3sock" or modname.startswith("w3sock."):
            for attr, fn in list(vars(mod).items()):
                name = getattr(fn, "__name__", "")
                if isinstance(fn, functions) and name in stubs:
                    setattr(mod, attr, stubs[name])


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_native_loop(aloop: Optional[asyncio.AbstractEventLoop] = None) -> NativeLoop:
    if _forked:
        # the library refuses every call here; say so before anything else
        # (uvloop even forgets the running loop in a child)
        raise error_from_code(F.W3S_EFORKED, context="w3sock in a forked child",
                              detail="w3sock cannot be used in a child process after fork()")
    if aloop is None:
        try:
            aloop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "w3sock sockets must be created inside a running asyncio event loop "
                "(use w3sock.sync for blocking code)") from None
    nl = _loops.get(id(aloop))
    if nl is None or nl._closed or nl.aloop is not aloop:
        # native loops left behind by asyncio loops that were closed with
        # sockets still open: close them (their sockets are aborted)
        for old in [x for x in _loops.values() if x.aloop.is_closed()]:
            old.sockets.clear()
            old.close()
        nl = NativeLoop(aloop)
        _loops[id(aloop)] = nl
    return nl


def close_all() -> None:
    for nl in list(_loops.values()):
        nl._closed = True
    _loops.clear()
