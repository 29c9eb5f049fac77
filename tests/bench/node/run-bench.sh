#!/usr/bin/env bash
# Node binding benchmark: ping-pong round trips/s and bulk MB/s, w3sock vs
# node:net in the same run (ratios), and the koffi -> Go export call cost.
# BENCH_ROUNDS (default 20000), BENCH_BULK_MB (default 512) and BENCH_REPEAT
# (interleaved runs of each kind, default 3; medians are printed) scale it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
if [ ! -d "$REPO/bindings/node/node_modules/koffi" ]; then
  (cd "$REPO/bindings/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -z "${W3SOCK_LIBRARY:-}" ] && [ ! -f "$REPO/bindings/node/libw3sock.so" ]; then
  export W3SOCK_LIBRARY="$REPO/build/libw3sock.so"
fi
exec node "$HERE/bench.js"
