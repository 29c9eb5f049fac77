"""What `make bench` measures: the implementations, the scenarios, and which
implementation is the reference of each row.

Every server takes ``PROTO PORT [CERT KEY]`` after the arguments given here
(tests/bench/servers/*) and prints "ready" once listening. The load generator
(tests/bench/loadgen) drives them all with the arguments of a scenario.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, "build", "bench")
VENV_PY = os.path.join(ROOT, "build", "venv-bench", "bin", "python")
SERVERS = os.path.join(ROOT, "tests", "bench", "servers")


@dataclass(frozen=True)
class Impl:
    """One echo server. ``unsupported`` maps a protocol it cannot serve to the reason."""

    key: str
    group: str
    label: str
    argv: List[str]
    unsupported: Dict[str, str] = field(default_factory=dict)
    w3sock: bool = False


def _py(impl: str) -> List[str]:
    return [VENV_PY if os.path.exists(VENV_PY) else sys.executable,
            os.path.join(SERVERS, "python", "echo.py"), impl]


def _node(impl: str) -> List[str]:
    return ["node", os.path.join(SERVERS, "node", "echo.js"), impl]


NO_TLS_LIBUV = "libuv has no TLS"
NO_DGRAM_STREAM = "node:dgram is not a stream (no Duplex.toWeb)"

IMPLS: List[Impl] = [
    Impl("c-poll", "C", "w3sock C, poll mode", [os.path.join(BIN, "w3sock_echo"), "poll"],
         w3sock=True),
    Impl("c-callback", "C", "w3sock C, callback mode",
         [os.path.join(BIN, "w3sock_echo"), "callback"], w3sock=True),
    Impl("libuv", "C", "libuv (C)", [os.path.join(BIN, "libuv_echo")],
         unsupported={"tls": NO_TLS_LIBUV}),
    Impl("go", "C", "plain Go net / crypto/tls", [os.path.join(BIN, "goserver")]),
    Impl("py-w3sock", "Python", "w3sock Python, asyncio loop", _py("w3sock"), w3sock=True),
    Impl("py-w3sock-uvloop", "Python", "w3sock Python, uvloop loop", _py("w3sock-uvloop"),
         w3sock=True),
    Impl("asyncio", "Python", "asyncio streams / ssl / datagram endpoint", _py("asyncio")),
    Impl("uvloop", "Python", "uvloop streams / ssl / datagram endpoint", _py("uvloop")),
    Impl("node-streams", "Node", "w3sock Node, W3C streams", _node("w3sock-streams"),
         w3sock=True),
    Impl("node-events", "Node", "w3sock Node, events (onmessage/send)", _node("w3sock-events"),
         w3sock=True),
    Impl("node", "Node", "node:net / node:tls / node:dgram", _node("node")),
    Impl("toweb", "Node", "Duplex.toWeb(net.Socket / tls.TLSSocket)", _node("toweb"),
         unsupported={"udp": NO_DGRAM_STREAM}),
]
IMPL_BY_KEY = {i.key: i for i in IMPLS}
GROUPS = ["C", "Python", "Node"]


@dataclass(frozen=True)
class Scenario:
    """One row of the table. kind: "load" (a measured window of the load
    generator), "memory" (idle connections held open), "drain" (events
    drained per second, measured inside each binding's own program)."""

    key: str
    title: str
    proto: str
    kind: str
    loadgen: List[str] = field(default_factory=list)
    unit: str = ""          # what one unit of work is
    scale: float = 1.0      # loadgen ops per unit (bulk counts bytes, the unit is a MB)
    short: str = ""         # the chart's label
    # Server and load generator both on CPU 0 (taskset). One connection's
    # ping-pong is otherwise bimodal on this VM: a wake-up across cores costs
    # the woken process ~25 us more than a switch on its own core, so the
    # server's CPU per round trip changes up to 8x with where the scheduler
    # put the two. Pinned across cores the wake-ups drown the servers' own
    # work (every server measured 30-55 us); on one core they measure it.
    pinned: bool = False


SCENARIOS: List[Scenario] = [
    Scenario("tcp-pp1", "TCP ping-pong, 1 connection, 64 B, pinned", "tcp", "load",
             ["-mode", "pingpong", "-conns", "1", "-size", "64"], "round trip",
             short="TCP ping-pong x1", pinned=True),
    Scenario("tcp-pp100", "TCP ping-pong, 100 connections, 64 B", "tcp", "load",
             ["-mode", "pingpong", "-conns", "100", "-size", "64"], "round trip",
             short="TCP ping-pong x100"),
    Scenario("tcp-bulk", "TCP bulk echo, 64 KiB writes", "tcp", "load",
             ["-mode", "bulk", "-conns", "1", "-size", "65536"], "MB", 1e6,
             short="TCP bulk echo"),
    Scenario("accept", "TCP accepts (connect, 64 B echo, close), 4 clients", "tcp", "load",
             ["-mode", "accept", "-conns", "4", "-size", "64"], "connection",
             short="TCP accepts/s"),
    Scenario("tls-bulk", "TLS bulk echo, 64 KiB writes", "tls", "load",
             ["-tls", "-mode", "bulk", "-conns", "1", "-size", "65536"], "MB", 1e6,
             short="TLS bulk echo"),
    Scenario("tls-pp100", "TLS ping-pong, 100 connections, 64 B", "tls", "load",
             ["-tls", "-mode", "pingpong", "-conns", "100", "-size", "64"], "round trip",
             short="TLS ping-pong x100"),
    Scenario("udp", "UDP echo, 64 B, 4 sockets x 8 in flight", "udp", "load",
             ["-mode", "udp", "-conns", "4", "-window", "8", "-size", "64"], "datagram",
             short="UDP echo 64 B"),
    Scenario("mem-tcp", "memory per idle TCP connection", "tcp", "memory", ["-size", "64"],
             "connection", short="idle TCP memory"),
    Scenario("mem-tls", "memory per idle TLS connection", "tls", "memory",
             ["-tls", "-size", "64"], "connection", short="idle TLS memory"),
]
SCENARIO_BY_KEY = {s.key: s for s in SCENARIOS}


def reference(group: str, scenario: Scenario) -> Optional[str]:
    """The implementation the ratios of a row are taken against: libuv for C
    (plain Go crypto/tls where libuv has no TLS), asyncio for Python,
    node:net/tls/dgram for Node."""
    if group == "C":
        return "go" if scenario.proto == "tls" else "libuv"
    return {"Python": "asyncio", "Node": "node"}.get(group)
