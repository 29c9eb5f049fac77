#!/usr/bin/env bash
# Clients nobody here wrote against the STARTTLS server on the C ABI
# (examples/c/starttls_server.c): `openssl s_client -starttls smtp` (through
# a socat proxy that records both directions, to prove what follows the
# upgrade is not on the wire in plaintext), Python's smtplib sending a
# message, and the CVE-2011-0411 injection, which must fail the handshake.
source "$(dirname "$0")/tls_lib.sh"

server() {
  rm -f "$T/srv.out" "$T/srv.err"  # a background redirect opens the file late: no stale port
  "$EX/starttls_server" -C "$P/server.pem" -K "$P/server.key" -n 1 "$@" > "$T/srv.out" 2> "$T/srv.err" &
  srv=$!; PIDS+=($srv)
  port=$(first_line "$T/srv.out")
}
server_done() {
  timeout 20 tail --pid="$srv" -f /dev/null || { fail "server did not finish"; kill "$srv"; }
  wait "$srv" 2>/dev/null || true
}

# 1. openssl s_client -starttls smtp, recorded by a socat proxy.
server
socat -T 20 -r "$T/c2s.raw" -R "$T/s2c.raw" TCP4-LISTEN:0,bind=127.0.0.1,reuseaddr "TCP4:127.0.0.1:$port" 2> /dev/null &
proxy=$!; PIDS+=($proxy)
pport=
for _ in $(seq 100); do
  pport=$(ss -Htlnp 2>/dev/null | grep "pid=$proxy," | awk '{n=split($4,a,":"); print a[n]; exit}')
  [ -n "$pport" ] && break; sleep 0.05
done
[ -n "$pport" ] || { fail "socat proxy port"; finish; }
token="secret-$RANDOM$RANDOM"
printf 'EHLO openssl.client\nNOOP %s\nMAIL FROM:<a@w3sock.test>\nRCPT TO:<b@w3sock.test>\nDATA\nSubject: %s\n\nbody\n.\nQUIT\n' "$token" "$token" |
  timeout 30 openssl s_client -starttls smtp -crlf -quiet -connect "127.0.0.1:$pport" -servername localhost \
    -CAfile "$P/ca.pem" -verify_return_error > "$T/c.out" 2> "$T/c.err" || true
server_done
kill "$proxy" 2>/dev/null || true; wait "$proxy" 2>/dev/null || true
grep -q "^250 2.0.0 Ok $token" "$T/c.out" && pass "s_client: NOOP line round-tripped after STARTTLS" || fail "s_client: $(cat "$T/c.out" "$T/c.err")"
grep -q "^250 2.0.0 Ok: queued" "$T/c.out" && pass "s_client: message accepted" || fail "s_client: no queued reply"
grep -q "message 1 (encrypted)" "$T/srv.out" && grep -q "Subject: $token" "$T/srv.out" && pass "server received the message encrypted" || fail "server: $(cat "$T/srv.out")"
grep -qa "STARTTLS" "$T/c2s.raw" && grep -qa "220 2.0.0 Ready to start TLS" "$T/s2c.raw" && pass "wire: the upgrade itself is plaintext" || fail "wire: no plaintext STARTTLS"
if grep -qa "$token" "$T/c2s.raw" "$T/s2c.raw"; then fail "wire: $token seen in plaintext"; else pass "wire: nothing after the upgrade is plaintext"; fi
grep -q "secure: tls1.3 .* sni=localhost" "$T/srv.err" && pass "server info after STARTTLS" || fail "server info: $(cat "$T/srv.err")"

# 2. TLS 1.2 and a client certificate the server requires.
server -c "$P/ca.pem" -r require
printf 'EHLO x\nNOOP %s\nQUIT\n' "$token" | timeout 30 openssl s_client -starttls smtp -crlf -quiet -tls1_2 \
  -connect "127.0.0.1:$port" -CAfile "$P/ca.pem" -verify_return_error -cert "$P/client.pem" -key "$P/client.key" > "$T/c.out" 2> "$T/c.err" || true
server_done
grep -q "^250 2.0.0 Ok $token" "$T/c.out" && grep -q "secure: tls1.2 .*peer=CN=w3sock test client" "$T/srv.err" \
  && pass "s_client: STARTTLS with TLS 1.2 and a client certificate" || fail "mTLS STARTTLS: $(cat "$T/c.out" "$T/srv.err")"

# 3. Python smtplib (standard library) sends a message after starttls().
server
if timeout 30 python3 - "$port" "$P/ca.pem" "$token" > "$T/py.out" 2>&1 <<'PY'
import smtplib, ssl, sys
port, ca, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("localhost", port, timeout=15) as s:
    s.ehlo()
    assert s.has_extn("starttls"), s.esmtp_features
    code, msg = s.mail("early@w3sock.test")
    assert code == 530, ("MAIL before STARTTLS", code, msg)
    s.starttls(context=ctx)
    s.ehlo()
    assert not s.has_extn("starttls")
    print("cipher:", s.sock.cipher(), s.sock.version())
    s.sendmail("py@w3sock.test", ["you@w3sock.test"], f"Subject: {token}\r\n\r\nfrom smtplib\r\n")
    code, msg = s.noop()
    assert code == 250, (code, msg)
print("smtplib ok")
PY
then pass "smtplib: starttls() then sendmail"; else fail "smtplib: $(cat "$T/py.out")"; fi
server_done
grep -q "Subject: $token" "$T/srv.out" && grep -q "(encrypted)" "$T/srv.out" && pass "server got smtplib's message encrypted" || fail "smtplib message: $(cat "$T/srv.out")"

# 4. CVE-2011-0411: STARTTLS and injected commands in one segment.
server
if timeout 30 python3 - "$port" > "$T/inj.out" 2>&1 <<'PY'
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
f = c.makefile("rb")
assert f.readline().startswith(b"220")
c.sendall(b"EHLO attacker\r\n")
while not f.readline().startswith(b"250 "): pass
c.sendall(b"STARTTLS\r\nRSET\r\nNOOP injected\r\n")   # one send, one segment
rest = f.read()                                       # until the server closes
print(repr(rest))
assert rest.startswith(b"220 2.0.0 Ready to start TLS\r\n"), rest
assert b"250" not in rest and b"injected" not in rest, "an injected command was answered"
PY
then pass "injection: no injected command answered"; else fail "injection: $(cat "$T/inj.out")"; fi
server_done
grep -q "W3S_ETLS_NOT_TLS" "$T/srv.err" && pass "injection: handshake failed with W3S_ETLS_NOT_TLS" || fail "injection: $(cat "$T/srv.err")"
finish
