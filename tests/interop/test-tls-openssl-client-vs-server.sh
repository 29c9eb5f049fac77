#!/usr/bin/env bash
# `openssl s_client` against our TLS server (examples/c/tls_echo_server.c,
# use_secure_transport on w3s_tcp_listen): echo, versions, ALPN, SNI, mutual
# TLS, and failed handshakes that are counted and dropped while the server
# goes on serving.
source "$(dirname "$0")/tls_lib.sh"

# server N ARGS...: starts tls_echo_server for N connections; sets $port.
server() {
  local n=$1; shift
  rm -f "$T/srv.out" "$T/srv.err"  # a background redirect opens the file late: no stale port
  "$EX/tls_echo_server" -C "$P/server.pem" -K "$P/server.key" -n "$n" "$@" > "$T/srv.out" 2> "$T/srv.err" &
  PIDS+=($!); srv=$!
  port=$(first_line "$T/srv.out")
}
server_done() {
  local i
  for i in $(seq 200); do kill -0 "$srv" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$srv" 2>/dev/null; then fail "server did not finish: $(cat "$T/srv.err")"; kill "$srv"; fi
  wait "$srv" 2>/dev/null || true
}
# roundtrip NAME S_CLIENT-ARGS...: a random line must come back through s_client.
roundtrip() {
  local name=$1; shift
  local token="line-$RANDOM$RANDOM"
  rm -f "$T/in"; mkfifo "$T/in"
  openssl s_client -connect "127.0.0.1:$port" -servername localhost -quiet "$@" < "$T/in" > "$T/c.out" 2> "$T/c.err" &
  local cpid=$!; PIDS+=($cpid)
  exec 3> "$T/in"
  echo "$token" >&3
  if wait_for "$T/c.out" "^$token\$" 10 > /dev/null; then pass "$name"; else fail "$name: $(cat "$T/c.out" "$T/c.err")"; fi
  exec 3>&-
  kill "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true
}
# refused NAME S_CLIENT-ARGS...: s_client must fail the handshake.
refused() {
  local name=$1; shift
  # -ign_eof: wait for the server's verdict (a TLS 1.3 refusal of a client
  # certificate arrives after the client's side of the handshake).
  if echo x | timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$port" -servername localhost "$@" > "$T/c.out" 2> "$T/c.err" \
     && ! grep -qiE 'alert|error' "$T/c.err"; then
    fail "$name: s_client succeeded"
  else
    pass "$name: $(grep -m1 -iE 'alert|error' "$T/c.err" | cut -c1-120)"
  fi
}
srv_has() { if grep -q "$2" "$T/srv.err"; then pass "$1"; else fail "$1: no '$2' in $(cat "$T/srv.err")"; fi; }

V=(-CAfile "$P/ca.pem" -verify_return_error)
server 3
roundtrip "echo over TLS 1.3" "${V[@]}"
roundtrip "echo over TLS 1.2" "${V[@]}" -tls1_2
roundtrip "TLS 1.2 with an RSA-less ECDHE-ECDSA cipher" "${V[@]}" -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
server_done
srv_has "server info: SNI and version" "secure: tls1.3 TLS_AES_.* sni=localhost"
srv_has "server info: TLS 1.2" "secure: tls1.2 TLS_ECDHE_ECDSA_WITH_AES_"
srv_has "server info: ChaCha20" "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
srv_has "served 3, dropped 0" "served 3 dropped 0"

server 1 -a "imap,smtp"
roundtrip "ALPN" "${V[@]}" -alpn smtp
server_done
srv_has "server info: ALPN" "alpn=smtp"

server 2 -c "$P/ca.pem" -r require
roundtrip "mutual TLS" "${V[@]}" -cert "$P/client.pem" -key "$P/client.key"
refused "client certificate required" "${V[@]}"
server_done
srv_has "server info: client certificate subject" "peer=CN=w3sock test client,O=w3sock tests issuer=CN=w3sock test CA"
srv_has "missing client certificate dropped" "served 1 dropped 1"

server 2 -c "$P/ca.pem" -r request
roundtrip "client certificate requested, none given" "${V[@]}"
refused "client certificate from an unknown CA" "${V[@]}" -cert "$P/rogue.pem" -key "$P/rogue.key"
server_done
srv_has "rogue client certificate dropped" "served 1 dropped 1"

server 5 -v tls1.3
refused "TLS 1.2 client vs min tls1.3" "${V[@]}" -tls1_2
refused "TLS 1.1 client" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0'
# A plaintext client: the handshake fails, nothing is announced.
printf 'EHLO plaintext\r\n' | timeout 10 socat -T 5 - "TCP4:127.0.0.1:$port" > /dev/null 2>&1 || true
# A client that connects and goes away without a word.
timeout 10 socat -u /dev/null "TCP4:127.0.0.1:$port" 2>/dev/null || true
roundtrip "still serving after four bad clients" "${V[@]}"
server_done
srv_has "four failed handshakes counted" "served 1 dropped 4"
if grep -q "connection from" "$T/srv.err" && [ "$(grep -c 'connection from' "$T/srv.err")" = 1 ]; then
  pass "only the good connection was announced"
else
  fail "CONNECTION events: $(grep -c 'connection from' "$T/srv.err")"
fi
finish
