"""TLS options (the same names as the Node binding, PEP 8 spelled)."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field, fields
from typing import Any, List, Mapping, Optional, Sequence, Union

from . import _ffi as F

__all__ = ["TLSOptions", "tls_options"]

PEM = Union[str, bytes, "os.PathLike[str]"]
FilePath = Union[str, "os.PathLike[str]"]
_PEM_MARK = b"-----BEGIN "

_VERSIONS = {"tls1.2": "tls1.2", "tls1.3": "tls1.3", "1.2": "tls1.2", "1.3": "tls1.3",
             "tlsv1.2": "tls1.2", "tlsv1.3": "tls1.3"}


@dataclass
class TLSOptions:
    """TLS settings for a client, a server or a STARTTLS upgrade.

    As in Python's :mod:`ssl` (``cafile``/``cadata``, ``certfile``/``keyfile``),
    files and data are separate arguments:

    - ``ca``, ``cert``, ``key``: PEM *data* (``str`` or ``bytes`` holding a
      ``-----BEGIN`` block). A ``pathlib.Path`` (any ``os.PathLike``) is read
      as a file too, as before. A ``str`` that holds no PEM block (such as a
      path) is refused with a ``ValueError`` that names the ``*_file``
      argument: it is never read as a file by guesswork.
    - ``ca_file``, ``cert_file``, ``key_file``: the *path* (``str`` or
      ``os.PathLike``) of a PEM file, read when a socket uses the options.
      ``ca`` and ``ca_file`` may both be given (both are trusted). Without
      ``key``/``key_file``, the key is looked for in ``cert_file`` (like
      ``ssl.SSLContext.load_cert_chain``).

    ``alpn`` is a list of protocol names. ``min_version`` / ``max_version``
    are ``"tls1.2"`` or ``"tls1.3"``. ``verify=False`` skips certificate
    verification (clients only; never the default). ``request_cert`` /
    ``require_cert`` are for servers. ``ca_replace_system`` (default True
    when a CA is given) makes it replace the system roots instead of adding
    to them.
    """

    server_name: Optional[str] = None
    ca: Optional[PEM] = None
    cert: Optional[PEM] = None
    key: Optional[PEM] = None
    alpn: Optional[Sequence[str]] = None
    min_version: Optional[str] = None
    max_version: Optional[str] = None
    verify: bool = True
    request_cert: bool = False
    require_cert: bool = False
    ca_replace_system: Optional[bool] = None
    ca_file: Optional[FilePath] = None
    cert_file: Optional[FilePath] = None
    key_file: Optional[FilePath] = None
    _keep: List[Any] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.server_name is not None and not isinstance(self.server_name, str):
            raise TypeError("TLSOptions.server_name must be a str")
        for name in ("ca", "cert", "key"):
            v = getattr(self, name)
            if v is None or isinstance(v, os.PathLike):
                continue
            if not isinstance(v, (str, bytes, bytearray)):
                raise TypeError(f"TLSOptions.{name} must be PEM data (str/bytes), not "
                                f"{type(v).__name__}; for a file use {name}_file=")
            _check_pem_data(name, v)
        for name in ("ca_file", "cert_file", "key_file"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, os.PathLike)):
                raise TypeError(f"TLSOptions.{name} must be a path (str or os.PathLike), "
                                f"not {type(v).__name__}")
            if isinstance(v, str) and (not v or "\0" in v):
                raise ValueError(f"TLSOptions.{name} must be a non-empty path without NUL")
        for name in ("cert", "key"):
            if getattr(self, name) is not None and getattr(self, name + "_file") is not None:
                raise ValueError(f"TLSOptions: give {name}= (PEM data) or {name}_file= "
                                 "(a path), not both")
        if self.alpn is not None:
            if isinstance(self.alpn, (str, bytes)):
                raise TypeError("TLSOptions.alpn must be a list of strings")
            alpn = list(self.alpn)
            for p in alpn:
                if not isinstance(p, str) or not p or "," in p or len(p) > 255:
                    raise ValueError(f"TLSOptions.alpn: bad protocol name {p!r}")
            self.alpn = alpn
        for name in ("min_version", "max_version"):
            v = getattr(self, name)
            if v is None:
                continue
            if not isinstance(v, str):
                raise TypeError(f"TLSOptions.{name} must be a str")
            norm = _VERSIONS.get(v.lower())
            if norm is None:
                raise ValueError(f"TLSOptions.{name} must be 'tls1.2' or 'tls1.3', not {v!r}")
            setattr(self, name, norm)
        if (self.min_version and self.max_version
                and self.min_version > self.max_version):
            raise ValueError("TLSOptions.min_version is above max_version")
        for name in ("verify", "request_cert", "require_cert"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"TLSOptions.{name} must be a bool")
        if self.ca_replace_system is not None and not isinstance(self.ca_replace_system, bool):
            raise TypeError("TLSOptions.ca_replace_system must be a bool")

    def _to_c(self) -> F.TLSOptionsC:
        """Builds the C struct; the returned object keeps its buffers alive."""
        o = F.TLSOptionsC()
        F.lib.w3s_tls_options_init(ctypes.byref(o))
        keep: List[Any] = []

        def s(v: Optional[str]) -> Optional[bytes]:
            if v is None:
                return None
            b = v.encode("utf-8")
            if b"\0" in b:
                raise ValueError("TLS option contains a NUL character")
            keep.append(b)
            return b

        def pem(v: Optional[PEM], path: Optional[FilePath], what: str) -> Optional[bytes]:
            parts = []
            if isinstance(v, os.PathLike):
                parts.append(_read_pem_file(what, v))
            elif isinstance(v, str):
                parts.append(v.encode("utf-8"))
            elif v is not None:
                parts.append(bytes(v))
            if path is not None:
                parts.append(_read_pem_file(what + "_file", path))
            if not parts:
                return None
            b = b"\n".join(parts)
            if b"\0" in b:
                raise ValueError(f"TLSOptions.{what} contains a NUL byte")
            keep.append(b)
            return b

        o.insecure_skip_verify = 0 if self.verify else 1
        o.server_name = s(self.server_name)
        o.ca_pem = pem(self.ca, self.ca_file, "ca")
        o.cert_pem = pem(self.cert, self.cert_file, "cert")
        o.key_pem = pem(self.key, self.key_file, "key")
        if o.key_pem is None and self.cert_file is not None:
            o.key_pem = o.cert_pem  # the key in the certificate's file, as ssl does
        o.alpn = s(",".join(self.alpn)) if self.alpn else None
        o.min_version = s(self.min_version)
        o.max_version = s(self.max_version)
        if self.ca_replace_system is not None:
            o.ca_replace_system = 1 if self.ca_replace_system else 0
        elif self.ca is not None or self.ca_file is not None:
            o.ca_replace_system = 1
        if self.require_cert:
            o.client_auth = F.CLIENT_AUTH_REQUIRE
        elif self.request_cert:
            o.client_auth = F.CLIENT_AUTH_REQUEST
        else:
            o.client_auth = F.CLIENT_AUTH_NONE
        o._keep = keep  # type: ignore[attr-defined]
        return o


    def _has_cert_and_key(self) -> bool:
        """Whether a server certificate and its key are given (the key may be
        in cert_file)."""
        if self.cert is None and self.cert_file is None:
            return False
        return self.key is not None or self.key_file is not None or self.cert_file is not None


def _describe(name: str, v: Union[str, bytes, bytearray]) -> str:
    """What was given, for an error message; key material is not echoed."""
    kind = type(v).__name__
    if len(v) == 0:
        return f"an empty {kind}"
    text = v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")
    if isinstance(v, str) and os.path.exists(v):
        return f"the str {v!r} (the path of an existing file)"
    if name == "key" or len(text) > 80 or "\n" in text or "\ufffd" in text:
        return f"a str of {len(v)} characters" if isinstance(v, str) else f"{len(v)} bytes"
    return f"the {kind} {v!r}"


def _path_hint(v: Union[str, bytes, bytearray]) -> str:
    """The argument to suggest as NAME_file=: the given text when it could
    be a path, else a placeholder."""
    text = v if isinstance(v, str) else bytes(v).decode("utf-8", "replace")
    if 0 < len(text) <= 200 and text.isprintable():
        return repr(text)
    return "'<path>'"


def _check_pem_data(name: str, v: Union[str, bytes, bytearray]) -> None:
    """PEM data holds a '-----BEGIN ' line; anything else (a path, DER,
    a typo) is refused here rather than failing later as W3S_ETLS_BAD_PEM."""
    b = v.encode("utf-8", "replace") if isinstance(v, str) else bytes(v)
    if _PEM_MARK in b:
        return
    hint = _path_hint(v) if name != "key" else "'<path>'"
    der = ""
    if b[:1] == b"\x30" and name != "key":  # an ASN.1 SEQUENCE: DER
        der = " (DER must be converted first: ssl.DER_cert_to_PEM_cert)"
    raise ValueError(
        f"TLSOptions.{name} takes PEM data (text with a '-----BEGIN ...' line), but "
        f"{_describe(name, v)} was given{der}; to load a PEM file pass "
        f"{name}_file={hint} (or a pathlib.Path) instead")


def _read_pem_file(what: str, path: FilePath) -> bytes:
    try:
        with open(os.fspath(path), "rb") as fh:
            b = fh.read()
    except OSError as e:
        raise type(e)(e.errno, f"{e.strerror} (TLSOptions.{what})", e.filename) from None
    if _PEM_MARK not in b:
        raise ValueError(f"TLSOptions.{what}: {os.fspath(path)!r} holds no PEM block "
                         "(no '-----BEGIN ...' line)")
    return b


_FIELD_NAMES = {f.name for f in fields(TLSOptions) if not f.name.startswith("_")}


def tls_options(tls: Union[None, TLSOptions, Mapping[str, Any]]) -> Optional[TLSOptions]:
    """Accepts a TLSOptions, a plain dict of its fields, or None."""
    if tls is None or isinstance(tls, TLSOptions):
        return tls
    if isinstance(tls, Mapping):
        unknown = set(tls) - _FIELD_NAMES
        if unknown:
            raise ValueError(f"unknown TLS option(s): {', '.join(sorted(map(str, unknown)))}")
        return TLSOptions(**tls)
    raise TypeError("tls must be a TLSOptions, a dict or None")
