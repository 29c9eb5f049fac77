#!/usr/bin/env bash
# `make bench` and `make test-bench-quick`: installs the bench's own
# dependencies (tests/bench/deps.sh), builds the load generator and the echo
# servers, then runs tests/bench/run.py in the bench's virtual environment.
#   tests/bench/run.sh            full run: tests/bench/results.md and .png
#   tests/bench/run.sh quick      BENCH_QUICK=1 into build/bench-quick, and
#                                 fails unless every implementation produced
#                                 a figure for every scenario it supports
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/bench/deps.sh
make --no-print-directory bench-programs
if [ "${1:-}" = quick ]; then
  BENCH_QUICK=1 exec build/venv-bench/bin/python tests/bench/run.py --check
fi
exec build/venv-bench/bin/python tests/bench/run.py --check
