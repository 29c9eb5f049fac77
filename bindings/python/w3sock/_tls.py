"""TLS options (the same names as the Node binding, PEP 8 spelled)."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field, fields
from typing import Any, List, Mapping, Optional, Sequence, Union

from . import _ffi as F

__all__ = ["TLSOptions", "tls_options"]

PEM = Union[str, bytes, "os.PathLike[str]"]

_VERSIONS = {"tls1.2": "tls1.2", "tls1.3": "tls1.3", "1.2": "tls1.2", "1.3": "tls1.3",
             "tlsv1.2": "tls1.2", "tlsv1.3": "tls1.3"}


@dataclass
class TLSOptions:
    """TLS settings for a client, a server or a STARTTLS upgrade.

    ``ca``, ``cert`` and ``key`` are PEM text (``str`` or ``bytes``) or a path
    (``os.PathLike``) to a PEM file. ``alpn`` is a list of protocol names.
    ``min_version`` / ``max_version`` are ``"tls1.2"`` or ``"tls1.3"``.
    ``verify=False`` skips certificate verification (clients only; never
    the default). ``request_cert`` / ``require_cert`` are for servers.
    ``ca_replace_system`` (default True when ``ca`` is given) makes ``ca``
    replace the system roots instead of adding to them.
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
    _keep: List[Any] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.server_name is not None and not isinstance(self.server_name, str):
            raise TypeError("TLSOptions.server_name must be a str")
        for name in ("ca", "cert", "key"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, bytes, bytearray, os.PathLike)):
                raise TypeError(f"TLSOptions.{name} must be PEM text (str/bytes) or a path")
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

        def pem(v: Optional[PEM], what: str) -> Optional[bytes]:
            if v is None:
                return None
            if isinstance(v, os.PathLike):
                with open(os.fspath(v), "rb") as fh:
                    b = fh.read()
            elif isinstance(v, str):
                b = v.encode("utf-8")
            else:
                b = bytes(v)
            if b"\0" in b:
                raise ValueError(f"TLSOptions.{what} contains a NUL byte")
            keep.append(b)
            return b

        o.insecure_skip_verify = 0 if self.verify else 1
        o.server_name = s(self.server_name)
        o.ca_pem = pem(self.ca, "ca")
        o.cert_pem = pem(self.cert, "cert")
        o.key_pem = pem(self.key, "key")
        o.alpn = s(",".join(self.alpn)) if self.alpn else None
        o.min_version = s(self.min_version)
        o.max_version = s(self.max_version)
        if self.ca_replace_system is not None:
            o.ca_replace_system = 1 if self.ca_replace_system else 0
        elif self.ca is not None:
            o.ca_replace_system = 1
        if self.require_cert:
            o.client_auth = F.CLIENT_AUTH_REQUIRE
        elif self.request_cert:
            o.client_auth = F.CLIENT_AUTH_REQUEST
        else:
            o.client_auth = F.CLIENT_AUTH_NONE
        o._keep = keep  # type: ignore[attr-defined]
        return o


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
