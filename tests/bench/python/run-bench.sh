#!/usr/bin/env bash
# Ping-pong round trips/s and bulk MB/s of the Python binding vs asyncio
# streams (and uvloop), measured in the same run; prints the ratios.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
ROOT="$(pwd)"
VENV="$ROOT/build/venv-python"
[ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check uvloop
[ -f "$ROOT/build/libw3sock.so" ] || make -C "$ROOT" lib
export W3SOCK_LIBRARY="$ROOT/build/libw3sock.so"
exec "$VENV/bin/python" "$ROOT/tests/bench/python/bench.py" "$@"
