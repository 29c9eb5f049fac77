#!/usr/bin/env bash
# Runs each C test binary with a time limit and prints a closing tally.
#   tests/c/run.sh BIN...             plain run
#   tests/c/run.sh --sanitize BIN...  binaries built with ASan + UBSan
#                                     (LeakSanitizer on, tests/c/lsan.supp)
#   tests/c/run.sh --tsan BIN...      the data-path protocol (tests/tsan/),
#                                     built with TSan or ASan
# Under a sanitizer a report in the log fails the test even if the exit code
# was 0 (a child process's report, say).
set -uo pipefail
mode=plain
case "${1:-}" in
  --sanitize) mode=asan; shift ;;
  --tsan) mode=tsan; shift ;;
esac
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$mode" = asan ]; then
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_odr_violation=0:${ASAN_OPTIONS:-}"
  export LSAN_OPTIONS="suppressions=$root/tests/c/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
  export W3S_SANITIZED=1
elif [ "$mode" = tsan ]; then
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:${TSAN_OPTIONS:-}"
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:${ASAN_OPTIONS:-}"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"
fi
report='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer'
pass=0; fail=0; failed=()
for t in "$@"; do
  name=$(basename "$t")
  log="$(dirname "$t")/$name.log"
  start=$(date +%s.%N)
  timeout 300 "$t" > "$log" 2>&1
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
  if [ "$mode" != plain ] && [ "$rc" = 0 ] && grep -qE "$report" "$log"; then rc=99; fi
  if [ "$rc" = 0 ]; then
    pass=$((pass+1)); echo "ok   $name ($(grep -c '^ok ' "$log") checks, ${secs}s)"
  else
    fail=$((fail+1)); failed+=("$name"); echo "FAIL $name (exit $rc, ${secs}s)"
    if grep -qE "$report" "$log"; then grep -E -A25 "$report" "$log" | head -60; else tail -30 "$log"; fi
  fi
done
echo "c tests ($mode): $pass passed, $fail failed${failed:+: ${failed[*]}}"
[ "$fail" = 0 ]
