#!/usr/bin/env python3
"""Checks that every hand-written copy of the C ABI's shared tables agrees.

The tables are the error codes (number, name, text), the event types, the
struct sizes and field offsets, and the version. Their sources:

  include/w3sock.h      the contract (macros, enums, structs: a C compiler
                        gives the sizes and offsets)
  core/errors.go,       the library's own tables, asked through the built
  core/loop.go          library (w3s_err_name, w3s_strerror) and read from
                        the Go source (event types)
  bindings/python       w3sock._ffi (constants, ctypes structs, the event's
                        struct formats)
  bindings/node         lib/native.js (EV, ERR, EVENT_SIZE, EVENT_OFF, SIZES)
  VERSION               the version, also in the header's W3S_VERSION_*,
                        w3sock.pc, package.json, pyproject.toml, __init__.py

and the bindings' sources must not spell error codes as number literals.
Prints one line per disagreement and exits 1 if there is any.

Usage: tests/abi/check_tables.py [path/to/libw3sock.so]   (from `make test-abi`)
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Tuple

ROOT = Path(__file__).resolve().parents[2]
HEADER = ROOT / "include" / "w3sock.h"

problems: List[str] = []


def problem(msg: str) -> None:
    problems.append(msg)


# ---------------------------------------------------------------- the header

def header_codes() -> Dict[str, Tuple[int, str]]:
    """W3S_E* name -> (number, comment) from the header's #defines."""
    text = HEADER.read_text()
    out: Dict[str, Tuple[int, str]] = {}
    for name, num, comment in re.findall(
            r"^#define\s+(W3S_E\w+)\s+(-\d+)\s*/\*\s*([\s\S]*?)\s*\*/", text, re.M):
        out[name] = (int(num), " ".join(comment.split()))  # comments may wrap
    m = re.search(r"^#define\s+W3S_OK\s+(\d+)", text, re.M)
    out["W3S_OK"] = (int(m.group(1)) if m else -999, "success")
    return out


def header_events() -> Dict[str, int]:
    """OPEN -> 1, ... from enum w3s_event_type."""
    body = re.search(r"typedef enum w3s_event_type \{(.*?)\}", HEADER.read_text(), re.S)
    return {n: int(v) for n, v in re.findall(r"W3S_EV_(\w+)\s*=\s*(\d+)", body.group(1))} if body else {}


def header_version() -> str:
    text = HEADER.read_text()
    parts = [re.search(rf"^#define\s+W3S_VERSION_{p}\s+(\d+)", text, re.M) for p in
             ("MAJOR", "MINOR", "PATCH")]
    return ".".join(m.group(1) if m else "?" for m in parts)


def c_layout(queries: Dict[str, List[str]]) -> Dict[str, int]:
    """Asks the C compiler: 'struct' -> sizeof, 'struct.field' -> offsetof,
    'struct.field#size' -> sizeof the field."""
    lines = ["#include <stdio.h>", "#include <stddef.h>", '#include "w3sock.h"', "int main(void) {"]
    for struct, fields in queries.items():
        lines.append(f'printf("{struct} %zu\\n", sizeof({struct}));')
        for f in fields:
            lines.append(f'printf("{struct}.{f} %zu\\n", offsetof({struct}, {f}));')
            lines.append(f'printf("{struct}.{f}#size %zu\\n", sizeof((({struct} *)0)->{f}));')
    lines += ["return 0;", "}"]
    with tempfile.TemporaryDirectory() as d:
        src, exe = Path(d) / "layout.c", Path(d) / "layout"
        src.write_text("\n".join(lines) + "\n")
        subprocess.run([os.environ.get("CC", "cc"), "-std=c99", "-I", str(ROOT / "include"),
                        "-o", str(exe), str(src)], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


# ---------------------------------------------------------------- the library (Go)

def library_codes(lib: ctypes.CDLL) -> Dict[str, Tuple[int, str]]:
    lib.w3s_err_name.restype = ctypes.c_char_p
    lib.w3s_strerror.restype = ctypes.c_char_p
    out = {}
    for code in range(-127, 1):
        name = lib.w3s_err_name(code).decode()
        if name != "W3S_UNKNOWN":
            out[name] = (code, lib.w3s_strerror(code).decode())
    return out


def go_events() -> Dict[str, int]:
    src = (ROOT / "core" / "loop.go").read_text()
    return {n.upper(): int(v) for n, v in re.findall(r"\bEv(\w+)\s+EventType\s*=\s*(\d+)", src)}


# ---------------------------------------------------------------- the bindings

PY_STRUCTS = {"Event": "w3s_event", "Stats": "w3s_stats_t", "TLSOptionsC": "w3s_tls_options",
              "TCPOptionsC": "w3s_tcp_options", "UDPOptionsC": "w3s_udp_options",
              "Group": "w3s_group", "Info": "w3s_info", "Interface": "w3s_interface"}
NODE_SIZES = {"tls": "w3s_tls_options", "tcp": "w3s_tcp_options", "udp": "w3s_udp_options",
              "info": "w3s_info", "stats": "w3s_stats_t", "group": "w3s_group",
              "iface": "w3s_interface"}


def python_tables(libpath: str):
    os.environ["W3SOCK_LIBRARY"] = libpath
    sys.path.insert(0, str(ROOT / "bindings" / "python"))
    from w3sock import _ffi as F  # noqa: E402  (needs the path above)
    import w3sock
    return F, w3sock.__version__


def node_tables() -> dict:
    script = (
        "const n = require(process.argv[1]);"
        "console.log(JSON.stringify({EV: n.EV, ERR: n.ERR, EVENT_SIZE: n.EVENT_SIZE,"
        " EVENT_OFF: n.EVENT_OFF, SIZES: n.SIZES}));"
    )
    out = subprocess.run(["node", "-e", script, str(ROOT / "bindings" / "node" / "lib" / "native.js")],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, W3SOCK_LIBRARY=os.environ["W3SOCK_LIBRARY"])).stdout
    return json.loads(out)


# A negative number literal in a binding's code is an error code written by
# hand (-1 is left alone: it is also "no limit" and "to the end").
CODE_LITERAL = re.compile(r"(?<![\w.\])\[])-([2-9]|[1-9][0-9]+)\b")


def literal_codes(paths: List[Path]) -> None:
    for p in paths:
        for i, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if p.suffix == ".py" else line.split("//", 1)[0]
            if CODE_LITERAL.search(code):
                problem(f"{p.relative_to(ROOT)}:{i}: a number literal where an error code's name "
                        f"belongs: {line.strip()}")


# ---------------------------------------------------------------- the checks

def compare(what: str, a_name: str, a: Dict, b_name: str, b: Dict) -> None:
    for k in sorted(set(a) | set(b), key=str):
        if k not in a:
            problem(f"{what} {k}: in {b_name} ({b[k]}), missing from {a_name}")
        elif k not in b:
            problem(f"{what} {k}: in {a_name} ({a[k]}), missing from {b_name}")
        elif a[k] != b[k]:
            problem(f"{what} {k}: {a_name} says {a[k]!r}, {b_name} says {b[k]!r}")


def main() -> int:
    libpath = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "build" / "libw3sock.so")
    lib = ctypes.CDLL(libpath)

    # Error codes: header <-> library (core/errors.go). The header's comment
    # is w3s_strerror's text, optionally followed by details in parentheses.
    hc, lc = header_codes(), library_codes(lib)
    compare("error code", "include/w3sock.h", {k: v[0] for k, v in hc.items()},
            "core/errors.go", {k: v[0] for k, v in lc.items()})
    for name, (num, comment) in hc.items():
        if name in lc and name != "W3S_OK":
            text = lc[name][1]
            if comment != text and not comment.startswith(text + " ("):
                problem(f"error text {name}: header says {comment!r}, w3s_strerror says {text!r}")

    # Event types: header <-> core/loop.go.
    he = header_events()
    compare("event type", "include/w3sock.h", he, "core/loop.go", go_events())

    # Struct layouts from the compiler.
    F, py_version = python_tables(libpath)
    queries: Dict[str, List[str]] = {}
    for cls, struct in PY_STRUCTS.items():
        queries[struct] = [f[0] for f in getattr(F, cls)._fields_]
    layout = c_layout(queries)
    for struct, fields in queries.items():
        if layout[struct] % 8:
            problem(f"sizeof({struct}) is {layout[struct]}, not a multiple of 8 (ABI POLICY)")
        # No tail padding: a field appended later must not start inside an
        # older version's padding (whose bytes an old caller leaves as junk).
        end = max(layout[f"{struct}.{f}"] + layout[f"{struct}.{f}#size"] for f in fields)
        if end != layout[struct]:
            problem(f"{struct} ends with {layout[struct] - end} bytes of padding after its last field "
                    f"(ABI POLICY: fill it with a reserved field)")

    # Python: codes, events, structs, the event's struct formats.
    compare("error code", "include/w3sock.h", {k: v[0] for k, v in hc.items()},
            "bindings/python _ffi.py", {k: getattr(F, k) for k in dir(F) if re.fullmatch(r"W3S_(OK|E\w+)", k)})
    compare("event type", "include/w3sock.h", he, "bindings/python _ffi.py",
            {k[3:]: getattr(F, k) for k in dir(F) if k.startswith("EV_")})
    for cls, struct in PY_STRUCTS.items():
        c = getattr(F, cls)
        if ctypes.sizeof(c) != layout[struct]:
            problem(f"sizeof({struct}): header {layout[struct]}, Python {cls} {ctypes.sizeof(c)}")
        for fname, _ in c._fields_:
            if getattr(c, fname).offset != layout[f"{struct}.{fname}"]:
                problem(f"{struct}.{fname}: header offset {layout[f'{struct}.{fname}']}, "
                        f"Python {getattr(c, fname).offset}")
    if F.EVENT_SIZE != layout["w3s_event"]:
        problem(f"Python EVENT_SIZE {F.EVENT_SIZE} != sizeof(w3s_event) {layout['w3s_event']}")
    if F.EVENT_HEAD.size != layout["w3s_event.accepted"] or \
            F.EVENT_HEAD.size + F.EVENT_TAIL.size != layout["w3s_event"]:
        problem("Python EVENT_HEAD/EVENT_TAIL do not split w3s_event at accepted")
    if F.GROUP_SIZE != layout["w3s_group"] or F.INTERFACE_SIZE != layout["w3s_interface"]:
        problem("Python GROUP_SIZE/INTERFACE_SIZE disagree with the header")

    # Node: native.js.
    n = node_tables()
    compare("error code", "include/w3sock.h", {k: v[0] for k, v in hc.items() if k != "W3S_OK"},
            "bindings/node native.js ERR", {"W3S_" + k: v for k, v in n["ERR"].items()})
    compare("event type", "include/w3sock.h", he, "bindings/node native.js EV", n["EV"])
    if n["EVENT_SIZE"] != layout["w3s_event"]:
        problem(f"Node EVENT_SIZE {n['EVENT_SIZE']} != sizeof(w3s_event) {layout['w3s_event']}")
    for f, off in n["EVENT_OFF"].items():
        want = layout["w3s_event.address#size"] if f == "addressLen" else layout.get(f"w3s_event.{f}")
        if off != want:
            problem(f"Node EVENT_OFF.{f} is {off}, the header says {want}")
    for k, struct in NODE_SIZES.items():
        if n["SIZES"].get(k) != layout[struct]:
            problem(f"Node SIZES.{k} is {n['SIZES'].get(k)}, sizeof({struct}) is {layout[struct]}")

    # No error codes as literals in the bindings' code.
    literal_codes(sorted((ROOT / "bindings" / "node" / "lib").glob("*.js")) +
                  [ROOT / "bindings" / "node" / "index.js"] +
                  [p for p in sorted((ROOT / "bindings" / "python" / "w3sock").glob("*.py"))
                   if p.name != "_ffi.py"])

    # The version: VERSION is the one place; everything else must agree.
    version = (ROOT / "VERSION").read_text().strip()
    lib.w3s_version_string.restype = ctypes.c_char_p
    found = {
        "include/w3sock.h W3S_VERSION_*": header_version(),
        "the library's w3s_version_string()": lib.w3s_version_string().decode(),
        "bindings/python/pyproject.toml": (re.search(r'^version\s*=\s*"([^"]+)"', (
            ROOT / "bindings/python/pyproject.toml").read_text(), re.M) or [None, None])[1],
        "bindings/python/w3sock/__init__.py __version__": py_version,
        "bindings/node/package.json": json.loads((ROOT / "bindings/node/package.json").read_text())["version"],
        "bindings/node/package-lock.json": json.loads(
            (ROOT / "bindings/node/package-lock.json").read_text())["version"],
    }
    pc = ROOT / "build" / "w3sock.pc"
    if pc.exists():
        m = re.search(r"^Version:\s*(\S+)", pc.read_text(), re.M)
        found["build/w3sock.pc"] = m.group(1) if m else None
    else:
        problem("build/w3sock.pc is missing (make test-abi makes it)")
    for where, v in found.items():
        if v != version:
            problem(f"version: VERSION says {version}, {where} says {v}")
    soname = re.search(r"libw3sock\.so\.(\d+)", (ROOT / "bindings/python/setup.py").read_text())
    if not soname or soname.group(1) != version.split(".")[0]:
        problem(f"bindings/python/setup.py links libw3sock.so.{soname and soname.group(1)}, "
                f"the SONAME of {version} is libw3sock.so.{version.split('.')[0]}")

    for p in problems:
        print("check_tables:", p)
    print(f"check_tables: {len(hc)} error codes, {len(he)} event types, {len(queries)} structs, "
          f"version {version}: {'OK' if not problems else f'{len(problems)} disagreement(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
