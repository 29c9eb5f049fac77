#!/usr/bin/env bash
# A C echo server (poll mode) and a C client (callback mode) talk over loopback.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'kill $srv 2>/dev/null || true; rm -rf "$out"' EXIT
build/examples/echo_server 0 2 > "$out/port" 2> "$out/server.log" &
srv=$!
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.05; done
port=$(head -1 "$out/port")
echo "server listening on 127.0.0.1:$port"
got=$(build/examples/echo_client 127.0.0.1 "$port" hello from w3sock)
echo "client got back: $got"
[ "$got" = "hello from w3sock" ]
got2=$(echo "a second client" | build/examples/echo_client 127.0.0.1 "$port")
echo "client got back: $got2"
[ "$got2" = "a second client" ]
wait $srv
cat "$out/server.log"
