#!/usr/bin/env bash
# Service discovery over multicast (examples/c/discovery.c), inside a
# private network namespace (tests/netns.sh) so nothing leaves the machine:
# two responders join a group, a browser queries it and must find both; over
# IPv4 on lo, then over IPv6 across the namespace's veth pair. Exits 0 only
# when every browser found what it expected.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=build/examples/discovery
[ -x "$bin" ] || { echo "demo-discovery: $bin not built (make demo builds it)"; exit 1; }
exec tests/netns.sh bash -c '
  set -euo pipefail
  bin=$1
  pids=()
  trap "kill \${pids[*]} 2>/dev/null || true; wait || true" EXIT
  echo "--- IPv4: group 239.255.77.77 on lo"
  $bin respond printer 631 -i lo -t 30 & pids+=($!)
  $bin respond scanner 6566 -i lo -t 30 & pids+=($!)
  $bin browse -i lo -e 2 -t 10
  echo "--- IPv6: group ff15::7777, responders on veth1, browser sends out of veth0"
  $bin respond files 445 -6 -i veth1 -t 30 & pids+=($!)
  $bin respond media 8200 -6 -i veth1 -t 30 & pids+=($!)
  $bin browse -6 -i veth0 -e 2 -t 10
  echo "--- responders stop"
  kill -TERM "${pids[@]}"
  for p in "${pids[@]}"; do wait "$p"; done
  pids=()
  echo "demo-discovery: ok"
' demo "$bin"
