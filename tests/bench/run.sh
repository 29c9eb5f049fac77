#!/usr/bin/env bash
# `make bench`: every benchmark, each printing its figures beside a
# reference measured in the same run (plain Go, asyncio, node:net), as
# ratios. Figures vary with machine load; compare ratios, not absolutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build/bench
go build -o $B/gobench ./tests/bench/go

ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
num() { grep -oE '= [0-9.]+' | head -1 | tr -d '= '; }

echo "== C ABI client vs plain Go net client, same Go server in another process (loopback)"
coproc SRV { exec $B/gobench serve; }
read -r port <&"${SRV[0]}"
pp_w=$($B/tcp_bench pingpong "$port" 30000 | tee /dev/stderr | num)
pp_g=$($B/gobench pingpong "$port" 30000 | tee /dev/stderr | num)
bk_w=$($B/tcp_bench bulk "$port" 2048 | tee /dev/stderr | num)
bk_g=$($B/gobench bulk "$port" 2048 | tee /dev/stderr | num)
eval "exec ${SRV[1]}>&-"
wait "$SRV_PID" 2>/dev/null || true
echo "ratio w3sock/go: pingpong $(ratio "$pp_w" "$pp_g"), bulk $(ratio "$bk_w" "$bk_g")"

echo "== C poll loop: events drained per second"
$B/poll_rate 200000

echo "== what a host pays for waiting on an epoll set instead of the socket (pure C, no w3sock)"
$B/nested_epoll 20000 7

echo "== memory per idle TCP connection (10,000 connections)"
$B/idle_memory 10000

echo "== TLS bulk: core vs plain crypto/tls"
go test -run '^$' -bench 'TLSBulk' -benchtime 2x ./core/ 2>/dev/null | grep -E 'Bulk|ratio' || echo "(no TLS bulk benchmark)"

if [ -x tests/bench/python/run-bench.sh ]; then
  echo "== Python binding vs asyncio"
  tests/bench/python/run-bench.sh
fi
if [ -x tests/bench/node/run-bench.sh ]; then
  echo "== Node binding vs node:net"
  tests/bench/node/run-bench.sh
fi
