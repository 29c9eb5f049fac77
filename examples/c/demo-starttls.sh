#!/usr/bin/env bash
# STARTTLS demo: the C example SMTP-like server (examples/c/starttls_server.c)
# upgrades a plaintext session for `openssl s_client -starttls smtp`, then a
# NOOP line with a random token round-trips encrypted and a message is sent.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill $srv 2>/dev/null; rm -rf "$out"' EXIT
tests/certs.sh "$out"
build/examples/starttls_server -C "$out/server.pem" -K "$out/server.key" -n 1 > "$out/stdout" 2> "$out/server.log" &
srv=$!
for _ in $(seq 100); do [ -s "$out/stdout" ] && break; sleep 0.05; done
port=$(head -1 "$out/stdout")
echo "STARTTLS server on 127.0.0.1:$port"
token="token-$RANDOM$RANDOM"
printf 'EHLO demo.client\nNOOP %s\nMAIL FROM:<demo@w3sock.test>\nRCPT TO:<you@w3sock.test>\nDATA\nSubject: STARTTLS demo\n\nsent over TLS after STARTTLS\n.\nQUIT\n' "$token" |
  timeout 20 openssl s_client -starttls smtp -crlf -quiet -connect "127.0.0.1:$port" \
    -CAfile "$out/ca.pem" -servername localhost -verify_return_error > "$out/client.txt" 2> "$out/client.err"
wait $srv; srv=
echo "--- openssl s_client saw:"; cat "$out/client.txt"
echo "--- server log:"; cat "$out/server.log"
grep -q "^250 2.0.0 Ok $token" "$out/client.txt"      # the line came back through TLS
grep -q "^221 " "$out/client.txt"
grep -q "secure: tls1\.[23] " "$out/server.log"
grep -q "message 1 (encrypted)" "$out/stdout"
echo "demo-starttls: ok ($token round-tripped after STARTTLS)"
