#!/usr/bin/env python3
"""`make bench`: every echo server under the one load generator, in
interleaved rounds, then tests/bench/results.md and results.png.

    run.py [--out DIR] [--check]

BENCH_QUICK=1 makes every measurement brief (one round, 0.2 s windows, 300
idle connections) and writes to build/bench-quick unless --out says
otherwise; --check then fails unless every implementation produced a figure
for every scenario it supports (never a speed threshold).

While working on one path, BENCH_SCENARIOS=tls-bulk,udp and/or
BENCH_IMPLS=node,node-events (keys from bench_setup.py) measure only those,
writing to build/bench-partial; the drain rates are then left out.
BENCH_ROUNDS, BENCH_WINDOW and BENCH_IDLE_CONNS change the full run's sizes.

Server CPU is the utime+stime of the server process (/proc/PID/stat) over
the load generator's measured window, divided by the work done in it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import select
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_setup import BIN, IMPLS, ROOT, SCENARIOS, Impl, Scenario  # noqa: E402
import report  # noqa: E402

QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
ROUNDS = 1 if QUICK else int(os.environ.get("BENCH_ROUNDS", "3"))
WINDOW = "0.2s" if QUICK else os.environ.get("BENCH_WINDOW", "1.5s")
WARMUP = "0.1s" if QUICK else "0.3s"
IDLE_CONNS = 300 if QUICK else int(os.environ.get("BENCH_IDLE_CONNS", "10000"))
DRAIN_EVENTS = 20000 if QUICK else 200000
SETTLE = 0.1 if QUICK else 1.0  # seconds a server is left alone before its RSS is read
CLK_TCK = os.sysconf("SC_CLK_TCK")
ONLY_SCENARIOS = [k for k in os.environ.get("BENCH_SCENARIOS", "").split(",") if k]
ONLY_IMPLS = [k for k in os.environ.get("BENCH_IMPLS", "").split(",") if k]
PARTIAL = bool(ONLY_SCENARIOS or ONLY_IMPLS)
LOADGEN = os.path.join(BIN, "loadgen")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (every thread), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def free_port(proto: str) -> int:
    """A port below the ephemeral range, so that a client socket in
    TIME_WAIT can never be holding it."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    base = 20000 + (os.getpid() * 7) % 5000
    for p in range(base, base + 5000):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    raise RuntimeError("no free port")


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next stdout line of proc, or "" at EOF or after timeout seconds."""
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return ""
        ch = os.read(fd, 1)
        if not ch:
            return ""
        buf += ch
    return buf.decode().strip()


class Server:
    """One echo server process for one protocol."""

    def __init__(self, impl: Impl, proto: str, cert: Tuple[str, str],
                 pinned: bool = False) -> None:
        self.port = free_port(proto)
        argv = (["taskset", "-c", "0"] if pinned else []) + impl.argv + [proto, str(self.port)]
        if proto == "tls":
            argv += list(cert)
        self.err = open(os.path.join(BIN, f"server-{impl.key}-{proto}.err"), "w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.err, env=bench_env())
        line = read_line(self.proc, 30)
        if line != "ready":
            self.proc.kill()
            why = self.stderr()
            self.stop()
            raise RuntimeError(f"server did not start ({line!r}): {why}")

    def stderr(self) -> str:
        self.err.seek(0)
        return " ".join(self.err.read().split())[-300:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.err.close()


def bench_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["W3SOCK_LIBRARY"] = os.path.join(ROOT, "build", "libw3sock.so")
    return env


def run_load(srv: Server, sc: Scenario) -> Dict[str, Any]:
    """One measured window: throughput in units/s, server CPU in µs per unit."""
    argv = (["taskset", "-c", "0"] if sc.pinned else []) + [
        LOADGEN, "-addr", f"127.0.0.1:{srv.port}", "-dur", WINDOW, "-warmup", WARMUP,
        "-timeout", "60s"] + sc.loadgen
    lg = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    try:
        if read_line(lg, 60) != "start":
            raise RuntimeError(loadgen_error(lg))
        c0 = cpu_seconds(srv.proc.pid)
        line = read_line(lg, 60)
        c1 = cpu_seconds(srv.proc.pid)
        if not line.startswith("result "):
            raise RuntimeError(loadgen_error(lg))
    finally:
        if lg.poll() is None:
            lg.kill()
        lg.wait(10)
    kv = dict(f.split("=") for f in line.split()[1:])
    units = int(kv["ops"]) / sc.scale
    if units <= 0:
        raise RuntimeError("no work done in the window")
    return {"throughput": units / float(kv["secs"]), "cpu_us": (c1 - c0) * 1e6 / units}


def loadgen_error(lg: subprocess.Popen) -> str:
    if lg.poll() is None:
        lg.kill()
    lg.wait(10)
    assert lg.stderr is not None
    return "load generator: " + " ".join(lg.stderr.read().decode().split())[-300:]


def run_memory(srv: Server, sc: Scenario) -> Dict[str, Any]:
    """Server RSS growth per idle connection, IDLE_CONNS connections held."""
    time.sleep(SETTLE)
    before = rss_kib(srv.proc.pid)
    argv = [LOADGEN, "-addr", f"127.0.0.1:{srv.port}", "-mode", "hold",
            "-conns", str(IDLE_CONNS), "-timeout", "300s"] + sc.loadgen
    lg = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    try:
        line = read_line(lg, 240)
        if not line.startswith("held "):
            raise RuntimeError(loadgen_error(lg))
        time.sleep(SETTLE)
        after = rss_kib(srv.proc.pid)
    finally:
        if lg.stdin:
            lg.stdin.close()
        try:
            lg.wait(30)
        except subprocess.TimeoutExpired:
            lg.kill()
            lg.wait()
    return {"kib_per_conn": (after - before) / IDLE_CONNS, "rss_before_kib": before,
            "rss_after_kib": after}


def make_cert() -> Tuple[str, str]:
    cert, key = os.path.join(BIN, "cert.pem"), os.path.join(BIN, "key.pem")
    if not (os.path.exists(cert) and os.path.exists(key)):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "3650", "-subj", "/CN=localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = IDLE_CONNS + 1000
    if hard != resource.RLIM_INFINITY and hard < want:
        try:  # root may raise the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def machine() -> Dict[str, str]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f
                          if ln.startswith("model name")), "")
    except OSError:
        pass

    def version(argv: List[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.split("\n")[0]
        except OSError:
            return "?"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "kernel": platform.release(),
        "cores": str(os.cpu_count()),
        "cpu": model,
        "go": version(["go", "version"]),
        "node": version(["node", "--version"]),
        "python": platform.python_version(),
        "load": " ".join(open("/proc/loadavg").read().split()[:3]),
        # BENCH_NOTE: what the header should say about this run (e.g. other load)
        "note": os.environ.get("BENCH_NOTE", ""),
    }


def record(results: Dict[str, Any], sc: Scenario, impl: Impl, value: Dict[str, Any]) -> None:
    results.setdefault(sc.key, {}).setdefault(impl.key, []).append(value)


def selected_impls() -> List[Impl]:
    return [i for i in IMPLS if not ONLY_IMPLS or i.key in ONLY_IMPLS]


def selected_scenarios() -> List[Scenario]:
    return [s for s in SCENARIOS if not ONLY_SCENARIOS or s.key in ONLY_SCENARIOS]


def run_all(cert: Tuple[str, str]) -> Dict[str, Any]:
    results: Dict[str, Any] = {}
    impls = selected_impls()
    load = [s for s in selected_scenarios() if s.kind == "load"]
    started = time.monotonic()
    for rnd in range(ROUNDS):
        for proto in ("tcp", "tls", "udp"):
            scs = [s for s in load if s.proto == proto]
            # every round starts with another implementation, so slow
            # moments of the shared machine fall on each of them in turn
            shift = rnd * 5 % len(impls)
            order = impls[shift:] + impls[:shift]
            for impl in order:
                if proto in impl.unsupported:
                    continue
                for sc in scs:
                    try:
                        srv = Server(impl, proto, cert, sc.pinned)
                    except RuntimeError as e:
                        record(results, sc, impl, {"error": str(e)})
                        show(rnd, sc, impl, {"error": str(e)}, started)
                        continue
                    try:
                        value = run_load(srv, sc)
                    except (RuntimeError, OSError, ValueError, KeyError) as e:
                        value = {"error": f"{e} {srv.stderr()}".strip()}
                    finally:
                        srv.stop()
                    record(results, sc, impl, value)
                    show(rnd, sc, impl, value, started)
    for sc in (s for s in selected_scenarios() if s.kind == "memory"):
        for impl in impls:
            if sc.proto in impl.unsupported:
                continue
            try:
                srv = Server(impl, sc.proto, cert)
            except RuntimeError as e:
                record(results, sc, impl, {"error": str(e)})
                continue
            try:
                value = run_memory(srv, sc)
            except (RuntimeError, OSError) as e:
                value = {"error": f"{e} {srv.stderr()}".strip()}
            finally:
                srv.stop()
            record(results, sc, impl, value)
            show(0, sc, impl, value, started)
    if not PARTIAL:
        results["drain"] = run_drains()
    return results


def show(rnd: int, sc: Scenario, impl: Impl, value: Dict[str, Any], started: float) -> None:
    t = time.monotonic() - started
    if "error" in value:
        text = "ERROR " + value["error"]
    elif "kib_per_conn" in value:
        text = f"{value['kib_per_conn']:.2f} KiB per connection"
    else:
        text = f"{value['throughput']:.0f} {sc.unit}/s, {value['cpu_us']:.2f} us CPU per {sc.unit}"
    print(f"[{t:6.0f}s] round {rnd + 1} {sc.key:10s} {impl.key:17s} {text}", flush=True)


def run_drains() -> Dict[str, Any]:
    """Events drained per second through each binding: datagrams queued in
    the library, then taken out by the binding's own poll loop."""
    out: Dict[str, Any] = {}
    progs = {
        "C": [os.path.join(BIN, "poll_rate"), str(DRAIN_EVENTS)],
        "Python": [IMPLS[4].argv[0], os.path.join(HERE, "drain", "drain.py"), str(DRAIN_EVENTS)],
        "Node": ["node", os.path.join(HERE, "drain", "drain.js"), str(DRAIN_EVENTS)],
    }
    for group, argv in progs.items():
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=bench_env())
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("drain:")), "")
            if p.returncode != 0 or not line:
                raise RuntimeError(" ".join((p.stdout + p.stderr).split())[-300:])
            # "drain: N events in T s = R events/s ..."
            words = line.split()
            out[group] = {"throughput": float(words[7]), "events": int(words[1])}
        except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as e:
            out[group] = {"error": str(e)}
        print(f"drain {group}: {out[group]}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    default_out = (os.path.join(ROOT, "build", "bench-partial") if PARTIAL
                   else os.path.join(ROOT, "build", "bench-quick") if QUICK else HERE)
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--check", action="store_true",
                    help="fail unless every implementation has a figure for every "
                         "scenario it supports")
    ap.add_argument("--from-json", help="only write the report from a results.json")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.from_json:
        with open(args.from_json) as f:
            data = json.load(f)
    else:
        raise_fd_limit()
        cert = make_cert()
        info = machine()
        t0 = time.monotonic()
        results = run_all(cert)
        info["duration"] = f"{time.monotonic() - t0:.0f} s"
        info["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
        data = {"machine": info, "quick": QUICK, "partial": PARTIAL, "rounds": ROUNDS,
                "window": WINDOW, "idle_conns": IDLE_CONNS, "results": results}
        name = "results-partial" if PARTIAL else "results-quick" if QUICK else "results"
        with open(os.path.join(BIN, name + ".json"), "w") as f:
            json.dump(data, f, indent=1)
    report.write(data, args.out)
    print(f"wrote {os.path.join(args.out, 'results.md')} and results.png")
    if args.check and not data.get("partial"):
        missing = report.missing_figures(data)
        for m in missing:
            print("MISSING:", m)
        if missing:
            return 1
        print("bench check: every implementation produced a figure for every scenario "
              "it supports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
