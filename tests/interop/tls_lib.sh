# Shared by tests/interop/test-tls-*.sh (sourced, not run): a throwaway PKI
# in a temporary directory, bounded waits, and checks that name what failed.
set -euo pipefail
set -E
trap 'echo "FAILED: ${BASH_SOURCE[0]##*/} line $LINENO: $BASH_COMMAND (exit $?)" >&2' ERR
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
EX=$ROOT/build/examples
for b in tls_client tls_echo_server starttls_server; do
  [ -x "$EX/$b" ] || { echo "missing $EX/$b (run make)"; exit 1; }
done
tests/deps.sh > /dev/null
T=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
tests/certs.sh "$T/pki"
P=$T/pki
fails=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; fails=$((fails+1)); }
# wait_for FILE REGEX [SECONDS]: until a line of FILE matches (bounded).
wait_for() {
  local i
  for i in $(seq $(( ${3:-10} * 20 ))); do
    grep -qE "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  { echo "timed out waiting for /$2/ in $1:"; cat "$1" 2>/dev/null || true; } >&2
  return 1
}
# first_line FILE: the port a server printed on its first line.
first_line() { wait_for "$1" '^[0-9]+$' && head -1 "$1"; }
finish() {
  if [ "$fails" = 0 ]; then echo "PASSED"; else echo "FAILED: $fails"; fi
  [ "$fails" = 0 ]
}
