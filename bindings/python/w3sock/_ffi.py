"""ctypes declarations of include/w3sock.h and the library loader.

The layouts here mirror the public header exactly; the event struct is read
from raw memory with :mod:`struct` for speed (its offsets are fixed by the
header).
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["lib", "library_path"]

# --------------------------------------------------------------------------
# Constants (stable numbers from the header)
# --------------------------------------------------------------------------

W3S_OK = 0
W3S_EINVAL = -1
W3S_EBADF = -2
W3S_ENOMEM = -3
W3S_ESTATE = -4
W3S_ESHUTDOWN = -5
W3S_EFORKED = -6
W3S_EADDR = -7
W3S_ENOTFOUND = -8
W3S_ECONNREFUSED = -9
W3S_ECONNRESET = -10
W3S_ETIMEDOUT = -11
W3S_EADDRINUSE = -12
W3S_EADDRNOTAVAIL = -13
W3S_ENETUNREACH = -14
W3S_EHOSTUNREACH = -15
W3S_EACCES = -16
W3S_EPIPE = -17
W3S_EMSGSIZE = -18
W3S_ENOTSUP = -19
W3S_EMFILE = -20
W3S_ENOOPT = -21
W3S_EIO = -22
W3S_EABORTED = -23
W3S_ENOENT = -24
W3S_EISCONN = -25
W3S_ENOTCONN = -26
W3S_ETLS = -40
W3S_ETLS_UNKNOWN_CA = -41
W3S_ETLS_HOSTNAME = -42
W3S_ETLS_EXPIRED = -43
W3S_ETLS_VERSION = -44
W3S_ETLS_CERT_REQUIRED = -45
W3S_ETLS_CERT_REJECTED = -46
W3S_ETLS_NOT_TLS = -47
W3S_ETLS_BAD_PEM = -48
W3S_ETLS_TRUNCATED = -49
W3S_ETLS_NO_CLOSE_NOTIFY = -50
W3S_ETLS_BAD_RECORD = -51
W3S_ETLS_TOO_LARGE = -52
W3S_ENOTMULTICAST = -60
W3S_ENOIFACE = -61
W3S_EFAMILY = -62
W3S_EALREADY = -63
W3S_ENOTJOINED = -64

EV_OPEN = 1
EV_DATA = 2
EV_MESSAGE = 3
EV_CONNECTION = 4
EV_DRAIN = 5
EV_END = 6
EV_SECURE = 7
EV_ERROR = 8
EV_CLOSE = 9

CLIENT_AUTH_NONE = 0
CLIENT_AUTH_REQUEST = 1
CLIENT_AUTH_REQUIRE = 2

OPT_NO_DELAY = 1
OPT_KEEP_ALIVE = 2
OPT_KEEP_ALIVE_DELAY_MS = 3
OPT_SEND_BUFFER_SIZE = 4
OPT_RECEIVE_BUFFER_SIZE = 5
OPT_TTL = 6
OPT_MULTICAST_TTL = 7
OPT_MULTICAST_LOOPBACK = 8
OPT_BROADCAST = 9
OPT_HIGH_WATER_SEND = 10
OPT_HIGH_WATER_RECEIVE = 11
OPT_ADDRESS_REUSE = 12
OPT_REUSE_PORT = 13
OPT_MULTICAST_INTERFACE = 14

KIND_TCP = 1
KIND_TCP_SERVER = 2
KIND_UDP = 3

READY_STATES = ("opening", "open", "closing", "closed", "halfclosed")

IF_UP = 1
IF_LOOPBACK = 2
IF_MULTICAST = 4
IF_BROADCAST = 8

DEFAULT_HIGH_WATER = 1 << 20

# --------------------------------------------------------------------------
# Structures
# --------------------------------------------------------------------------

EVENT_SIZE = 104
# handle, user_data, type, error, data, len  (first 40 bytes)
EVENT_HEAD = struct.Struct("<qQiiQQ")
# accepted, port, family, reserved, address  (bytes 40..104)
EVENT_TAIL = struct.Struct("<qHHI48s")


class Event(ctypes.Structure):
    _fields_ = [
        ("handle", ctypes.c_int64),
        ("user_data", ctypes.c_uint64),
        ("type", ctypes.c_int32),
        ("error", ctypes.c_int32),
        ("data", ctypes.c_void_p),
        ("len", ctypes.c_uint64),
        ("accepted", ctypes.c_int64),
        ("port", ctypes.c_uint16),
        ("family", ctypes.c_uint16),
        ("reserved", ctypes.c_uint32),
        ("address", ctypes.c_char * 48),
    ]


assert ctypes.sizeof(Event) == EVENT_SIZE


class Stats(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("loops", ctypes.c_int64),
        ("sockets", ctypes.c_int64),
        ("goroutines", ctypes.c_int64),
        ("open_fds", ctypes.c_int64),
        ("events_queued", ctypes.c_int64),
    ]


class TLSOptionsC(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("insecure_skip_verify", ctypes.c_int32),
        ("server_name", ctypes.c_char_p),
        ("ca_pem", ctypes.c_char_p),
        ("cert_pem", ctypes.c_char_p),
        ("key_pem", ctypes.c_char_p),
        ("alpn", ctypes.c_char_p),
        ("min_version", ctypes.c_char_p),
        ("max_version", ctypes.c_char_p),
        ("ca_replace_system", ctypes.c_int32),
        ("client_auth", ctypes.c_int32),
    ]


class TCPOptionsC(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("local_port", ctypes.c_int32),
        ("local_address", ctypes.c_char_p),
        ("no_delay", ctypes.c_int32),
        ("keep_alive", ctypes.c_int32),
        ("keep_alive_delay_ms", ctypes.c_int32),
        ("connect_timeout_ms", ctypes.c_int32),
        ("send_buffer_size", ctypes.c_int32),
        ("receive_buffer_size", ctypes.c_int32),
        ("address_reuse", ctypes.c_int32),
        ("reuse_port", ctypes.c_int32),
        ("backlog", ctypes.c_int32),
        ("use_secure_transport", ctypes.c_int32),
        ("high_water_send", ctypes.c_int64),
        ("high_water_receive", ctypes.c_int64),
        ("tls", ctypes.POINTER(TLSOptionsC)),
    ]


class UDPOptionsC(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("local_port", ctypes.c_int32),
        ("local_address", ctypes.c_char_p),
        ("remote_address", ctypes.c_char_p),
        ("remote_port", ctypes.c_int32),
        ("address_reuse", ctypes.c_int32),
        ("reuse_port", ctypes.c_int32),
        ("broadcast", ctypes.c_int32),
        ("ttl", ctypes.c_int32),
        ("multicast_ttl", ctypes.c_int32),
        ("multicast_loopback", ctypes.c_int32),
        ("send_buffer_size", ctypes.c_int32),
        ("receive_buffer_size", ctypes.c_int32),
        ("multicast_interface", ctypes.c_char_p),
        ("high_water_send", ctypes.c_int64),
        ("high_water_receive", ctypes.c_int64),
    ]


class Group(ctypes.Structure):
    _fields_ = [
        ("group", ctypes.c_char * 48),
        ("source", ctypes.c_char * 48),
        ("iface", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


class Info(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("kind", ctypes.c_int32),
        ("ready_state", ctypes.c_int32),
        ("family", ctypes.c_int32),
        ("local_address", ctypes.c_char * 112),
        ("local_port", ctypes.c_int32),
        ("remote_port", ctypes.c_int32),
        ("remote_address", ctypes.c_char * 112),
        ("buffered_amount", ctypes.c_int64),
        ("bytes_received", ctypes.c_uint64),
        ("bytes_sent", ctypes.c_uint64),
        ("messages_received", ctypes.c_uint64),
        ("messages_sent", ctypes.c_uint64),
        ("messages_dropped", ctypes.c_uint64),
        ("paused", ctypes.c_int32),
        ("peer_ended", ctypes.c_int32),
        ("rtt_us", ctypes.c_int64),
        ("secure", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("tls_version", ctypes.c_char * 16),
        ("tls_cipher", ctypes.c_char * 64),
        ("alpn", ctypes.c_char * 64),
        ("server_name", ctypes.c_char * 256),
        ("peer_subject", ctypes.c_char * 256),
        ("peer_issuer", ctypes.c_char * 256),
    ]


class Interface(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 64),
        ("address", ctypes.c_char * 48),
        ("index", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("prefix_length", ctypes.c_int32),
        ("family", ctypes.c_int32),
    ]


# The element sizes this binding passes to the *_sized calls: the library
# writes exactly this many bytes per array element (include/w3sock.h).
GROUP_SIZE = ctypes.sizeof(Group)
INTERFACE_SIZE = ctypes.sizeof(Interface)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

_PKG_DIR = Path(__file__).resolve().parent
_LIB_NAMES = ("libw3sock.so", "libw3sock.so.0", "libw3sock.dylib")


def _candidates() -> List[Path]:
    out: List[Path] = []
    env = os.environ.get("W3SOCK_LIBRARY")
    if env:
        out.append(Path(env))
        return out
    for name in _LIB_NAMES:
        out.append(_PKG_DIR / name)
    # bindings/python/w3sock -> repository root
    repo = _PKG_DIR.parent.parent.parent
    out.append(repo / "build" / "libw3sock.so")
    return out


def _load() -> "tuple[ctypes.CDLL, str]":
    tried = []
    for path in _candidates():
        if path.is_file():
            try:
                return ctypes.CDLL(str(path)), str(path)
            except OSError as exc:  # pragma: no cover - broken file
                tried.append(f"{path} ({exc})")
                if os.environ.get("W3SOCK_LIBRARY"):
                    break
        else:
            tried.append(f"{path} (missing)")
    raise ImportError(
        "w3sock: cannot load libw3sock; tried: " + "; ".join(tried)
        + ". Set W3SOCK_LIBRARY to the library's path or build it with `make lib`."
    )


lib, library_path = _load()

_i64 = ctypes.c_int64
_i32 = ctypes.c_int
_vp = ctypes.c_void_p
_cp = ctypes.c_char_p
_sz = ctypes.c_size_t


def _decl(name: str, restype, *argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = list(argtypes)


_decl("w3s_version", ctypes.c_uint32)
_decl("w3s_version_string", _cp)
_decl("w3s_strerror", _cp, _i32)
_decl("w3s_err_name", _cp, _i32)
_decl("w3s_last_error_message", _cp)
_decl("w3s_shutdown", _i32)
_decl("w3s_stats", _i32, ctypes.POINTER(Stats))
try:
    _decl("w3s_release_memory", _i32)
    HAVE_RELEASE_MEMORY = True
except AttributeError:  # pragma: no cover - older library
    HAVE_RELEASE_MEMORY = False
_decl("w3s_loop_new_sized", _i64, _sz)
_decl("w3s_loop_close", _i32, _i64)
_decl("w3s_loop_fd", _i32, _i64)
_decl("w3s_loop_poll", _i32, _i64, _vp, _i32, _i32)
_decl("w3s_loop_wake", _i32, _i64)
_decl("w3s_tls_options_init", _i32, ctypes.POINTER(TLSOptionsC))
_decl("w3s_tcp_options_init", _i32, ctypes.POINTER(TCPOptionsC))
_decl("w3s_udp_options_init", _i32, ctypes.POINTER(UDPOptionsC))
_decl("w3s_tcp_connect", _i64, _i64, _cp, _i32, ctypes.POINTER(TCPOptionsC), ctypes.c_uint64)
_decl("w3s_tcp_listen", _i64, _i64, ctypes.POINTER(TCPOptionsC), ctypes.c_uint64)
_decl("w3s_udp_open", _i64, _i64, ctypes.POINTER(UDPOptionsC), ctypes.c_uint64)
_decl("w3s_set_user_data", _i32, _i64, ctypes.c_uint64)
_decl("w3s_send", _i64, _i64, _vp, _sz)
_decl("w3s_send_to", _i64, _i64, _vp, _sz, _cp, _i32)
_decl("w3s_send_file", _i64, _i64, _cp, _i64, _i64)
_decl("w3s_pause", _i32, _i64)
_decl("w3s_resume", _i32, _i64)
_decl("w3s_half_close", _i32, _i64)
_decl("w3s_close", _i32, _i64)
_decl("w3s_abort", _i32, _i64)
_decl("w3s_start_tls", _i32, _i64, ctypes.POINTER(TLSOptionsC))
try:
    _decl("w3s_start_tls_with", _i32, _i64, ctypes.POINTER(TLSOptionsC), _vp, _sz)
    HAVE_START_TLS_WITH = True
except AttributeError:  # pragma: no cover - older library
    HAVE_START_TLS_WITH = False
_decl("w3s_udp_set_peer", _i32, _i64, _cp, _i32)
_decl("w3s_join_group", _i32, _i64, _cp, _cp)
_decl("w3s_leave_group", _i32, _i64, _cp, _cp)
_decl("w3s_join_source_group", _i32, _i64, _cp, _cp, _cp)
_decl("w3s_leave_source_group", _i32, _i64, _cp, _cp, _cp)
_decl("w3s_get_joined_groups_sized", _i32, _i64, ctypes.POINTER(Group), _i32, _sz)
_decl("w3s_set_option", _i32, _i64, _i32, _i64)
_decl("w3s_get_option", _i32, _i64, _i32, ctypes.POINTER(_i64))
_decl("w3s_get_info", _i32, _i64, ctypes.POINTER(Info))
_decl("w3s_network_list_sized", _i32, ctypes.POINTER(Interface), _i32, _sz)

VERSION: int = lib.w3s_version()
VERSION_STRING: str = (lib.w3s_version_string() or b"").decode()
if (VERSION >> 16) != 0:  # pragma: no cover - ABI mismatch
    raise ImportError(
        f"w3sock: {library_path} has ABI version {VERSION_STRING}; this binding needs 0.x"
    )

string_at = ctypes.string_at
byref = ctypes.byref

# A second handle on the same library whose functions have no argtypes: the
# hot path (w3s_loop_poll) calls it with arguments that are already ctypes
# objects or small ints, which skips ctypes' per-call argument conversion
# (about 0.7 us of a 2 us call). dlopen returns the same library.
raw = ctypes.CDLL(library_path)


def err_name(code: int) -> str:
    return (lib.w3s_err_name(code) or b"W3S_UNKNOWN").decode("utf-8", "replace")


def strerror(code: int) -> str:
    return (lib.w3s_strerror(code) or b"").decode("utf-8", "replace")


def last_error_message() -> str:
    return (lib.w3s_last_error_message() or b"").decode("utf-8", "replace")


def cstr(buf: bytes) -> str:
    """Decodes a NUL-terminated fixed char array."""
    return buf.split(b"\0", 1)[0].decode("utf-8", "replace")


def get_info(handle: int) -> Optional[Info]:
    info = Info()
    info.size = ctypes.sizeof(Info)
    if lib.w3s_get_info(handle, byref(info)) < 0:
        return None
    return info


def stats() -> dict:
    s = Stats()
    s.size = ctypes.sizeof(Stats)
    rc = lib.w3s_stats(byref(s))
    if rc < 0:
        from ._errors import error_from_code

        raise error_from_code(rc)
    return {
        "loops": s.loops,
        "sockets": s.sockets,
        "goroutines": s.goroutines,
        "open_fds": s.open_fds,
        "events_queued": s.events_queued,
    }


IS_LINUX = sys.platform.startswith("linux")
