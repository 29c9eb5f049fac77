#!/usr/bin/env bash
# Runs each C test binary with a time limit and prints a closing tally.
set -uo pipefail
pass=0; fail=0; failed=()
for t in "$@"; do
  name=$(basename "$t")
  if timeout 300 "$t" > "build/tests/$name.log" 2>&1; then
    pass=$((pass+1)); echo "ok   $name ($(grep -c '^ok ' "build/tests/$name.log") checks)"
  else
    fail=$((fail+1)); failed+=("$name"); echo "FAIL $name"; tail -30 "build/tests/$name.log"
  fi
done
echo "c tests: $pass passed, $fail failed"
[ "$fail" = 0 ]
