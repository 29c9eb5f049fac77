#!/usr/bin/env bash
# `make demo`: the examples end to end — C (echo, STARTTLS against openssl,
# multicast discovery in a private network namespace), Python and Node.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/deps.sh >/dev/null
for d in examples/c/demo-*.sh; do
  [ -e "$d" ] || continue
  echo "=== $d"
  timeout 120 bash "$d"
done
for d in examples/python/run-demo.sh examples/node/run-demo.sh; do
  if [ -x "$d" ]; then echo "=== $d"; timeout 300 "$d"; fi
done
echo "demo: all examples ran"
