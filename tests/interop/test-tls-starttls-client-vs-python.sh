#!/usr/bin/env bash
# Our STARTTLS client (examples/c/tls_client.c -s: plaintext SMTP, then
# w3s_start_tls_with) against a STARTTLS server written with Python's own
# socket and ssl modules (tests/interop/starttls_server.py).
source "$(dirname "$0")/tls_lib.sh"

# run NAME WANT(ok|ERRCODE) SERVER-ARGS -- CLIENT-ARGS
run() {
  local name=$1 want=$2; shift 2
  local sargs=() cargs=()
  while [ "$1" != "--" ]; do sargs+=("$1"); shift; done; shift
  cargs=("$@")
  rm -f "$T/py.out" "$T/py.err"  # a background redirect opens the file late: no stale port
  python3 tests/interop/starttls_server.py "$P/server.pem" "$P/server.key" "${sargs[@]}" > "$T/py.out" 2> "$T/py.err" &
  local py=$!; PIDS+=($py)
  local port; port=$(first_line "$T/py.out")
  local token="starttls-$RANDOM$RANDOM"
  timeout 30 "$EX/tls_client" -s -m "$token" "${cargs[@]}" localhost "$port" > "$T/c.out" 2> "$T/c.err" && rc=0 || rc=$?
  local prc=0
  timeout 20 tail --pid="$py" -f /dev/null || true
  wait "$py" || prc=$?
  if [ "$want" = ok ]; then
    if [ "$rc" = 0 ] && [ "$prc" = 0 ] && grep -q "^TLSv1\.[23]: NOOP $token" "$T/py.out" \
       && grep -q "^250 OK $token" "$T/c.out" && grep -q "^plain: STARTTLS" "$T/py.out"; then
      pass "$name ($(grep -m1 -o 'version=tls1\.[23]' "$T/c.err"))"
    else
      fail "$name: client rc=$rc server rc=$prc"; cat "$T/c.out" "$T/c.err" "$T/py.out" "$T/py.err"
    fi
  else
    if grep -q "^error: $want " "$T/c.out" && ! grep -q "NOOP" "$T/py.out"; then
      pass "$name: $(grep -m1 '^error:' "$T/c.out")"
    else
      fail "$name: want $want"; cat "$T/c.out" "$T/c.err" "$T/py.out"
    fi
  fi
}

run "STARTTLS client role, TLS 1.3" ok -- -c "$P/ca.pem"
run "STARTTLS client role, TLS 1.2" ok --tls12 -- -c "$P/ca.pem"
run "STARTTLS with a client certificate" ok --require-client-cert "$P/ca.pem" -- -c "$P/ca.pem" -C "$P/client.pem" -K "$P/client.key"
grep -q "client certificate: .*w3sock test client" "$T/py.out" && pass "server saw our client certificate" || fail "client certificate: $(cat "$T/py.out")"
run "STARTTLS verifies the server (unknown CA)" W3S_ETLS_UNKNOWN_CA --
run "STARTTLS verifies the host name" W3S_ETLS_HOSTNAME -- -c "$P/ca.pem" -n mail.example.org
finish
