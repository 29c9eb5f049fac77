#!/usr/bin/env bash
# Runs the Python examples end to end; exits 0 only if all of them worked:
#   1. echo_server.py + echo_client.py (1 MB, checksummed)
#   2. starttls_client.py against aiosmtpd (a real SMTP server) with STARTTLS
#   3. multicast_discovery.py (two responders, one seeker) inside tests/netns.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$(pwd)"
VENV="$ROOT/build/venv-python"
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check aiosmtpd
command -v openssl >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends openssl; }
PY="$VENV/bin/python"
[ -f "$ROOT/build/libw3sock.so" ] || make -C "$ROOT" lib
export W3SOCK_LIBRARY="$ROOT/build/libw3sock.so"

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

wait_for_line() {  # file pattern: bounded wait (20 s) for a line in a log
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

echo "== 1. echo server + client"
timeout 60 "$PY" examples/python/echo_server.py --once >"$TMP/echo.log" 2>&1 &
ECHO_PID=$!; PIDS+=("$ECHO_PID")
wait_for_line "$TMP/echo.log" "listening on"
PORT="$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$TMP/echo.log")"
timeout 60 "$PY" examples/python/echo_client.py "$PORT" --bytes 1000000
wait "$ECHO_PID"
cat "$TMP/echo.log"

echo "== 2. STARTTLS client against aiosmtpd"
(cd "$TMP" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -days 1 -subj "/CN=demo CA" -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
    -out server.csr -subj /CN=localhost 2>/dev/null &&
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext &&
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out server.pem -days 1 -extfile ext 2>/dev/null)
SMTP_PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
timeout 120 "$PY" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" --tlscert "$TMP/server.pem" \
  --tlskey "$TMP/server.key" >"$TMP/smtpd.log" 2>&1 &
SMTPD_PID=$!; PIDS+=("$SMTPD_PID")
for _ in $(seq 100); do
  "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1',$SMTP_PORT),1).close()" 2>/dev/null && break
  sleep 0.1
done
timeout 60 "$PY" examples/python/starttls_client.py "$SMTP_PORT" --ca "$TMP/ca.pem"
kill "$SMTPD_PID" 2>/dev/null || true
grep -q "Hello over TLS" "$TMP/smtpd.log" || { echo "aiosmtpd did not get the message" >&2; cat "$TMP/smtpd.log" >&2; exit 1; }
echo "aiosmtpd received the message"

echo "== 3. multicast discovery (own network namespace)"
timeout 120 "$ROOT/tests/netns.sh" bash -c '
  set -euo pipefail
  PY="$1"; EX="$2"; LOG="$3"
  "$PY" "$EX" responder alpha --count 1 >"$LOG.a" 2>&1 & A=$!
  "$PY" "$EX" responder beta --count 1 >"$LOG.b" 2>&1 & B=$!
  for _ in $(seq 200); do
    grep -q joined "$LOG.a" 2>/dev/null && grep -q joined "$LOG.b" 2>/dev/null && break
    sleep 0.1
  done
  "$PY" "$EX" seek --expect 2
  wait "$A" "$B"
' _ "$PY" "$ROOT/examples/python/multicast_discovery.py" "$TMP/mc"
echo "== all Python demos passed"
