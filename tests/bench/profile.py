#!/usr/bin/env python3
"""Where one server spends its CPU in one scenario: a first look for "what
bounds it" when a ratio in results.md is behind.

    build/venv-bench/bin/python tests/bench/profile.py IMPL SCENARIO [SECONDS]

IMPL and SCENARIO are keys from bench_setup.py (e.g. c-poll tls-bulk). Runs
the server under the load generator, then `perf record -g` on the server
for SECONDS (default 2) and `strace -c -f` for as long, and prints perf's
top shared objects and symbols and the syscall counts (strace slows the
server: compare the counts with the sendmsg/write count, not the times).
perf and strace are looked for, not installed: Debian's linux-perf and
strace packages bring them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_setup import BIN, IMPL_BY_KEY, SCENARIO_BY_KEY  # noqa: E402
from run import LOADGEN, Server, cpu_seconds, make_cert  # noqa: E402


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[1] not in IMPL_BY_KEY or sys.argv[2] not in SCENARIO_BY_KEY:
        print(__doc__)
        print("implementations:", " ".join(IMPL_BY_KEY))
        print("scenarios:", " ".join(k for k, s in SCENARIO_BY_KEY.items() if s.kind == "load"))
        return 2
    impl, sc = IMPL_BY_KEY[sys.argv[1]], SCENARIO_BY_KEY[sys.argv[2]]
    secs = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    if sc.kind != "load":
        print("only load scenarios can be profiled")
        return 2
    srv = Server(impl, sc.proto, make_cert())
    total = 2 * secs + 2
    lg = subprocess.Popen([LOADGEN, "-addr", f"127.0.0.1:{srv.port}", "-dur", f"{total}s",
                           "-warmup", "0.3s"] + sc.loadgen,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert lg.stdout is not None
        if lg.stdout.readline().strip() != "start":
            print("load generator:", lg.stderr.read() if lg.stderr else "")
            return 1
        t0, c0 = time.monotonic(), cpu_seconds(srv.proc.pid)
        data = os.path.join(BIN, f"perf-{impl.key}-{sc.key}.data")
        if shutil.which("perf"):
            subprocess.run(["perf", "record", "-F", "499", "-g", "-p", str(srv.proc.pid),
                            "-o", data, "--", "sleep", str(secs)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            print("(perf not installed: Debian's linux-perf)")
        straced = os.path.join(BIN, f"strace-{impl.key}-{sc.key}.txt")
        if shutil.which("strace"):
            subprocess.run(["timeout", str(secs), "strace", "-c", "-f", "-p",
                            str(srv.proc.pid), "-o", straced],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            print("(strace not installed)")
        line = lg.stdout.readline().strip()
        print(f"{impl.label}, {sc.title}: {line}; server CPU "
              f"{cpu_seconds(srv.proc.pid) - c0:.2f} s in {time.monotonic() - t0:.1f} s")
    finally:
        lg.kill()
        lg.wait()
        srv.stop()
    if os.path.exists(data):
        for sort, n in (("dso", 6), ("sym", 15)):
            out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--sort", sort,
                                  "--stdio"], capture_output=True, text=True).stdout
            print(f"-- perf, by {sort}:")
            print("\n".join([ln for ln in out.splitlines()
                             if ln.strip()[:1].isdigit() and "%" in ln][:n]))
    if os.path.exists(straced):
        print("-- strace -c (strace slows the server; compare counts, not times):")
        with open(straced) as f:
            print("".join(f.readlines()[:16]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
