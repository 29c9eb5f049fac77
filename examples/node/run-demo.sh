#!/usr/bin/env bash
# Runs the Node examples end to end: echo server + client, the TLS client
# against openssl s_server, and the chat server with two clients.
# Exits 0 only if every one worked.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$HERE"
NEED=()
command -v openssl >/dev/null || NEED+=(openssl)
command -v ss >/dev/null || NEED+=(iproute2)
if [ ${#NEED[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NEED[@]}" >/dev/null
fi
if [ ! -d "$REPO/bindings/node/node_modules/koffi" ]; then
  (cd "$REPO/bindings/node" && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -z "${W3SOCK_LIBRARY:-}" ] && [ ! -f "$REPO/bindings/node/libw3sock.so" ]; then
  export W3SOCK_LIBRARY="$REPO/build/libw3sock.so"
fi
WORK=$(mktemp -d /tmp/w3sock-node-demo.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (bounded) until FILE has a line matching REGEX; prints the match.
wait_for() {
  local file=$1 regex=$2
  for _ in $(seq 1 100); do
    if grep -Eo "$regex" "$file" 2>/dev/null | head -1; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for /$regex/ in $file:" >&2
  cat "$file" >&2
  return 1
}

echo "== echo server + client"
node echo-server.js 0 127.0.0.1 >"$WORK/echo.log" 2>&1 &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
PORT=$(wait_for "$WORK/echo.log" 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
OUT=$(timeout 20 node echo-client.js 127.0.0.1 "$PORT" "hello from the node demo")
echo "client got: $OUT"
[ "$OUT" = "hello from the node demo" ]
kill -TERM "$ECHO_PID"
timeout 10 tail --pid="$ECHO_PID" -f /dev/null   # the server exits by itself after close()

echo "== TLS client against openssl s_server -rev"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
TLS_PORT=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
openssl s_server -accept "127.0.0.1:$TLS_PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
  -rev -quiet >"$WORK/s_server.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 100); do ss -ltnH "sport = :$TLS_PORT" 2>/dev/null | grep -q LISTEN && break; sleep 0.1; done
TLS_OUT=$(timeout 20 node tls-client.js localhost "$TLS_PORT" "$WORK/cert.pem" localhost "hello" "w3sock tls")
echo "$TLS_OUT"
echo "$TLS_OUT" | grep -q '^secure: tls1\.[23]'
echo "$TLS_OUT" | grep -qx '< olleh'
echo "$TLS_OUT" | grep -qx '< slt kcos3w'

echo "== chat server with two clients"
node chat-server.js 0 >"$WORK/chat.log" 2>&1 &
CHAT_PID=$!
PIDS+=("$CHAT_PID")
CPORT=$(wait_for "$WORK/chat.log" 'chat on 127\.0\.0\.1:[0-9]+' | sed 's/.*://')
timeout 20 node - "$CPORT" <<'JS'
const net = require('node:net');
const port = Number(process.argv[2]);
function client() {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.buf = '';
    c.on('data', (d) => { c.buf += d; });
    c.once('data', () => resolve(c));
  });
}
const until = (c, re) => new Promise((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ${re} in ${JSON.stringify(c.buf)}`)), 5000);
  const check = () => { if (re.test(c.buf)) { clearTimeout(t); c.off('data', check); resolve(); } };
  c.on('data', check);
  check();
});
(async () => {
  const a = await client();
  const b = await client();
  await until(a, /joined/);
  a.write('hi from A\n');
  await until(b, /> hi from A\n/);
  b.write('hello A, B here\n');
  await until(a, /> hello A, B here\n/);
  b.end('/quit\n');
  await until(a, /left/);
  a.end('/quit\n');
  console.log('chat: A and B exchanged messages');
})().catch((e) => { console.error(e.message); process.exit(1); });
JS
kill -TERM "$CHAT_PID"
timeout 10 tail --pid="$CHAT_PID" -f /dev/null
echo "node demo: all examples worked"
