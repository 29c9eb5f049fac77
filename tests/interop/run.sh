#!/usr/bin/env bash
# Runs every interop test (tests/interop/test-*.sh): w3sock against programs
# nobody here wrote. Each script exits 0 on success and bounds its own waits.
set -uo pipefail
cd "$(dirname "$0")/../.."
pass=0; fail=0
for t in tests/interop/test-*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  log="build/interop-$name.log"
  if timeout 300 bash "$t" > "$log" 2>&1; then
    pass=$((pass+1)); echo "ok   $name"
  elif echo "first run of $name failed; its log:" && tail -40 "$log" &&
       timeout 300 bash "$t" > "$log.retry" 2>&1; then
    # These scripts drive programs we do not control (openssl, socat) on a
    # shared machine; one failure is shown above and the script gets one
    # more run. A second failure fails the suite.
    pass=$((pass+1)); echo "ok   $name (passed on its second run)"
  else
    fail=$((fail+1)); echo "FAIL $name"; tail -40 "$log.retry"
  fi
done
echo "interop: $pass passed, $fail failed"
[ "$fail" = 0 ]
