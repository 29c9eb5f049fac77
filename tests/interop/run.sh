#!/usr/bin/env bash
# Runs every interop test (tests/interop/test-*.sh): w3sock against programs
# nobody here wrote. Each script exits 0 on success and bounds its own waits.
# A failing script is not run again: a flake is a finding, and its log is
# shown so it can be investigated.
set -uo pipefail
cd "$(dirname "$0")/../.."
pass=0; fail=0
for t in tests/interop/test-*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  log="build/interop-$name.log"
  if timeout 300 bash "$t" > "$log" 2>&1; then
    pass=$((pass+1)); echo "ok   $name"
  else
    fail=$((fail+1)); echo "FAIL $name (log: $log)"; tail -40 "$log"
  fi
done
echo "interop: $pass passed, $fail failed"
[ "$fail" = 0 ]
