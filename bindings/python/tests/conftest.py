"""Shared fixtures: loop kinds (asyncio and uvloop), a throwaway CA, helpers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent
REPO = PKG_ROOT.parent.parent
sys.path.insert(0, str(PKG_ROOT))

if not os.environ.get("W3SOCK_LIBRARY") and (REPO / "build" / "libw3sock.so").exists():
    os.environ["W3SOCK_LIBRARY"] = str(REPO / "build" / "libw3sock.so")

import w3sock  # noqa: E402

LOOP_KINDS = ["asyncio", "uvloop"]


def run_async(fn: Callable[[], Awaitable[Any]], kind: str = "asyncio",
              timeout: float = 60.0) -> Any:
    """Runs fn() on a fresh loop of the given kind, with an overall timeout."""
    async def main() -> Any:
        return await asyncio.wait_for(fn(), timeout)

    if kind == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    else:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main())


@pytest.fixture(params=LOOP_KINDS)
def loop_kind(request: Any) -> str:
    return request.param


@pytest.fixture
def arun(loop_kind: str) -> Callable[..., Any]:
    def _run(fn: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
        return run_async(fn, loop_kind, timeout)
    return _run


@pytest.fixture
def run() -> Callable[..., Any]:
    """Runs on the default asyncio loop only."""
    def _run(fn: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
        return run_async(fn, "asyncio", timeout)
    return _run


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)


class Certs:
    def __init__(self, d: Path) -> None:
        self.dir = d
        self.ca = d / "ca.pem"
        self.server_cert = d / "server.pem"
        self.server_key = d / "server.key"
        self.client_cert = d / "client.pem"
        self.client_key = d / "client.key"
        self.other_ca = d / "other-ca.pem"

    def text(self, p: Path) -> str:
        return p.read_text()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: Any) -> Certs:
    d = tmp_path_factory.mktemp("certs")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for name, cn in (("ca", "w3sock test CA"), ("other-ca", "untrusted CA")):
        _openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "2", "-subj", f"/CN={cn}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
        "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    (d / "client.ext").write_text(
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    for name, cn in (("server", "localhost"), ("client", "w3sock client")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                 "-extfile", f"{name}.ext", cwd=d)
    return Certs(d)


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def run_script(code: str, *args: str, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    """Runs a Python script in a fresh interpreter with this package on the
    path; its stdout and stderr are captured, and it must end within timeout
    (subprocess.TimeoutExpired otherwise, which fails the test). The script
    runs in a process group of its own, killed whole on a timeout, so that
    children it forked do not outlive the test."""
    import signal
    import textwrap
    env = dict(os.environ, PYTHONPATH=str(PKG_ROOT))
    env.pop("PYTHONWARNINGS", None)
    cmd = [sys.executable, "-c", textwrap.dedent(code), *args]
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def open_fd_count() -> int:
    """Descriptors open in this process (entries of /proc/self/fd, less the
    one listing it)."""
    return len(os.listdir("/proc/self/fd")) - 1
