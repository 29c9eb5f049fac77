"""Exceptions named after the W3C DOMException names."""

from __future__ import annotations

import errno as _errno
from typing import Dict, Optional, Tuple, Type

from . import _ffi as F

__all__ = [
    "SocketError",
    "NetworkError",
    "InvalidAccessError",
    "InvalidStateError",
    "AbortError",
    "error_from_code",
    "argument_error",
    "check",
]


class SocketError(OSError):
    """Base of every w3sock error.

    Attributes:
        code: the native ``W3S_E*`` code (negative int).
        code_name: its name, e.g. ``"W3S_ECONNREFUSED"``.
        detail: the library's detail message ("" if none).
        name: the W3C DOMException name of the class.
    """

    name = "Error"

    def __new__(cls, message: str = "", *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().__new__(cls, message)

    def __init__(self, message: str = "", code: int = 0, code_name: str = "",
                 detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.code_name = code_name
        self.detail = detail
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # keep pickling (multiprocessing) working
        return (self.__class__, (self.message, self.code, self.code_name, self.detail))


class NetworkError(SocketError):
    """A network or TLS failure (refused, reset, timeout, not found, TLS ...)."""

    name = "NetworkError"


class InvalidAccessError(SocketError):
    """An argument or option the library refused."""

    name = "InvalidAccessError"


class InvalidStateError(SocketError):
    """The call is not allowed in the socket's (or library's) state."""

    name = "InvalidStateError"


class AbortError(SocketError):
    """The operation was aborted locally."""

    name = "AbortError"


_INVALID_STATE = {F.W3S_EBADF, F.W3S_ESTATE, F.W3S_ESHUTDOWN, F.W3S_EFORKED}
_INVALID_ACCESS = {
    F.W3S_EINVAL, F.W3S_EADDR, F.W3S_ENOOPT, F.W3S_ENOTSUP, F.W3S_EFAMILY,
    F.W3S_ENOTMULTICAST, F.W3S_ENOIFACE, F.W3S_EALREADY, F.W3S_ENOTJOINED,
    F.W3S_ETLS_BAD_PEM,
}
_ABORT = {F.W3S_EABORTED}

# Network codes that also match a Python builtin, so asyncio-style code that
# catches ConnectionRefusedError & co. keeps working.
_BUILTIN: Dict[int, Tuple[Type[OSError], int]] = {
    F.W3S_ECONNREFUSED: (ConnectionRefusedError, _errno.ECONNREFUSED),
    F.W3S_ECONNRESET: (ConnectionResetError, _errno.ECONNRESET),
    F.W3S_ETIMEDOUT: (TimeoutError, _errno.ETIMEDOUT),
    F.W3S_EPIPE: (BrokenPipeError, _errno.EPIPE),
    F.W3S_EADDRINUSE: (OSError, _errno.EADDRINUSE),
    F.W3S_EADDRNOTAVAIL: (OSError, _errno.EADDRNOTAVAIL),
    F.W3S_ENETUNREACH: (OSError, _errno.ENETUNREACH),
    F.W3S_EHOSTUNREACH: (OSError, _errno.EHOSTUNREACH),
    F.W3S_EACCES: (PermissionError, _errno.EACCES),
    F.W3S_ENOENT: (FileNotFoundError, _errno.ENOENT),
    F.W3S_EMFILE: (OSError, _errno.EMFILE),
    F.W3S_EMSGSIZE: (OSError, _errno.EMSGSIZE),
}
_mixed: Dict[Tuple[type, type], type] = {}


def class_for_code(code: int) -> Type[SocketError]:
    if code in _INVALID_STATE:
        return InvalidStateError
    if code in _INVALID_ACCESS:
        return InvalidAccessError
    if code in _ABORT:
        return AbortError
    return NetworkError


def _mixin(base: Type[SocketError], builtin: Type[OSError]) -> type:
    if builtin is OSError:
        return base
    key = (base, builtin)
    cls = _mixed.get(key)
    if cls is None:
        cls = type(base.__name__, (base, builtin), {"__module__": "w3sock"})
        cls.__qualname__ = base.__qualname__
        _mixed[key] = cls
    return cls


def error_from_code(code: int, detail: Optional[str] = None,
                    context: str = "") -> SocketError:
    """Builds the exception for a native code (negative)."""
    if detail is None:
        detail = F.last_error_message()
    name = F.err_name(code)
    text = F.strerror(code)
    msg = f"{context}: " if context else ""
    msg += f"{text} ({name})"
    if detail and detail != text:
        msg += f": {detail}"
    base = class_for_code(code)
    builtin = _BUILTIN.get(code)
    if builtin is not None and base is NetworkError:
        cls = _mixin(base, builtin[0])
        exc = cls(msg, code, name, detail or "")
        exc.errno = builtin[1]
        return exc
    return base(msg, code, name, detail or "")


def argument_error(code: int, context: str = "", detail: str = "") -> SocketError:
    """The exception for a code that reports a caller's mistake, such as
    W3S_ENOTCONN/W3S_EISCONN from a UDP send without a destination or to a
    peer other than the connected one: an :class:`InvalidAccessError` (the
    2014 draft's name) that is also a ``TypeError`` (Direct Sockets)."""
    key = (InvalidAccessError, TypeError)
    cls = _mixed.get(key)
    if cls is None:
        cls = type("InvalidAccessError", (InvalidAccessError, TypeError),
                   {"__module__": "w3sock"})
        _mixed[key] = cls
    msg = f"{context}: " if context else ""
    msg += f"{F.strerror(code)} ({F.err_name(code)})"
    if detail:
        msg += f": {detail}"
    exc = cls(msg, code, F.err_name(code), detail)
    assert isinstance(exc, SocketError)
    return exc


def check(rc: int, context: str = "") -> int:
    """Raises for a negative return code; passes others through."""
    if rc < 0:
        raise error_from_code(rc, context=context)
    return rc
