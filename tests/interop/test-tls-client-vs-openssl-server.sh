#!/usr/bin/env bash
# Our TLS client (examples/c/tls_client.c on the C ABI) against
# `openssl s_server -rev` (echoes each line reversed): versions, ALPN, mutual
# TLS, and each certificate and protocol error with its own code.
source "$(dirname "$0")/tls_lib.sh"

# s_server ARGS...: starts one s_server for one connection; sets $port.
s_server() {
  rm -f "$T/s.out" "$T/s.err"  # a background redirect opens the file late: no stale port
  openssl s_server -accept 127.0.0.1:0 -rev -naccept 1 "$@" > "$T/s.out" 2> "$T/s.err" &
  PIDS+=($!); spid=$!
  wait_for "$T/s.out" '^ACCEPT ' 10
  port=$(sed -n 's/^ACCEPT .*:\([0-9]*\)$/\1/p' "$T/s.out")
}
stop() { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }
# ok NAME CLIENT-ARGS... : the reversed line must come back; stderr is kept in $T/c.err
ok() {
  local name=$1; shift
  if timeout 30 "$EX/tls_client" -m "hello w3sock" -e "kcos3w olleh" "$@" localhost "$port" > "$T/c.out" 2> "$T/c.err"; then
    pass "$name"
  else
    fail "$name: rc=$? $(cat "$T/c.out" "$T/c.err")"
  fi
  stop
}
# err NAME CODE CLIENT-ARGS... : the client must fail with CODE
err() {
  local name=$1 code=$2; shift 2
  timeout 30 "$EX/tls_client" -m "hello w3sock" -e "kcos3w olleh" "$@" localhost "$port" > "$T/c.out" 2> "$T/c.err" && true
  if grep -q "^error: $code " "$T/c.out"; then pass "$name: $(head -1 "$T/c.out")"; else fail "$name: want $code, got $(cat "$T/c.out")"; fi
  stop
}
info_has() { if grep -q "$2" "$T/c.err"; then pass "$1"; else fail "$1: no '$2' in $(cat "$T/c.err")"; fi; }

SRV=(-cert "$P/server.pem" -key "$P/server.key")
s_server "${SRV[@]}";                   ok "echo over TLS 1.3" -c "$P/ca.pem"
info_has "client info: version" "version=tls1.3"
info_has "client info: peer subject" "peer subject=CN=localhost,O=w3sock tests issuer=CN=w3sock test CA"
s_server "${SRV[@]}" -tls1_2;           ok "echo over TLS 1.2" -c "$P/ca.pem"
info_has "client info: tls1.2 cipher" "version=tls1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES"
s_server "${SRV[@]}" -alpn smtp;        ok "ALPN" -c "$P/ca.pem" -a h2,smtp
info_has "client info: ALPN" "alpn=smtp"
s_server -cert "$P/chain.pem" -key "$P/server.key"; ok "server sends its chain" -c "$P/ca.pem"
s_server "${SRV[@]}" -Verify 1 -CAfile "$P/ca.pem" -verify_return_error
ok "mutual TLS" -c "$P/ca.pem" -C "$P/client.pem" -K "$P/client.key"
s_server "${SRV[@]}";                   ok "insecure_skip_verify, explicitly" -k
s_server "${SRV[@]}";                   ok "IP literal verified against the IP SAN" -c "$P/ca.pem" -n 127.0.0.1

s_server "${SRV[@]}";                   err "system roots only" W3S_ETLS_UNKNOWN_CA
s_server -cert "$P/rogue.pem" -key "$P/rogue.key";       err "unknown CA" W3S_ETLS_UNKNOWN_CA -c "$P/ca.pem"
s_server -cert "$P/expired.pem" -key "$P/expired.key";   err "expired" W3S_ETLS_EXPIRED -c "$P/ca.pem"
s_server -cert "$P/wronghost.pem" -key "$P/wronghost.key"; err "wrong host" W3S_ETLS_HOSTNAME -c "$P/ca.pem"
s_server "${SRV[@]}";                   err "server_name mismatch" W3S_ETLS_HOSTNAME -c "$P/ca.pem" -n mail.example.org
s_server "${SRV[@]}" -tls1_3;           err "version: server 1.3 only, client max 1.2" W3S_ETLS_VERSION -c "$P/ca.pem" -V tls1.2
s_server "${SRV[@]}" -tls1_2;           err "version: server 1.2 only, client min 1.3" W3S_ETLS_VERSION -c "$P/ca.pem" -v tls1.3
s_server "${SRV[@]}" -alpn imap;        err "no common ALPN" W3S_ETLS -c "$P/ca.pem" -a smtp
s_server "${SRV[@]}" -Verify 1 -CAfile "$P/ca.pem" -verify_return_error
err "client certificate required (TLS 1.3)" W3S_ETLS_CERT_REQUIRED -c "$P/ca.pem"
s_server "${SRV[@]}" -Verify 1 -CAfile "$P/ca.pem" -verify_return_error -tls1_2
err "client certificate required (TLS 1.2)" W3S_ETLS_CERT_REQUIRED -c "$P/ca.pem"
s_server "${SRV[@]}" -Verify 1 -CAfile "$P/ca.pem" -verify_return_error
err "client certificate rejected (TLS 1.3)" W3S_ETLS_CERT_REJECTED -c "$P/ca.pem" -C "$P/rogue.pem" -K "$P/rogue.key"
s_server "${SRV[@]}" -Verify 1 -CAfile "$P/ca.pem" -verify_return_error -tls1_2
err "client certificate rejected (TLS 1.2)" W3S_ETLS_CERT_REJECTED -c "$P/ca.pem" -C "$P/rogue.pem" -K "$P/rogue.key"
# Not a TLS server: a plaintext greeting (Python, one connection).
rm -f "$T/plain.out"
python3 -c '
import socket, sys
s = socket.create_server(("127.0.0.1", 0)); s.settimeout(20)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.sendall(b"220 plain ESMTP\r\n"); c.settimeout(10)
try:
    while c.recv(4096): pass
except OSError: pass
' > "$T/plain.out" &
PIDS+=($!); spid=$!
port=$(first_line "$T/plain.out")
err "plaintext peer" W3S_ETLS_NOT_TLS -c "$P/ca.pem"
# Refused before any traffic.
port=9; err "TLS 1.0 refused" W3S_ETLS_VERSION -c "$P/ca.pem" -v tls1.0
port=9; err "bad PEM" W3S_ETLS_BAD_PEM -c "$P/client.key"
finish
