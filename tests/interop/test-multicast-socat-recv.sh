#!/usr/bin/env bash
# Interop: our socket sends to a multicast group and socat, a member through
# ip-add-membership (IPv4) / ipv6-join-group (IPv6), receives. Our sender is
# examples/c/discovery in browser mode: socat gets its query and answers it,
# and the browser must report socat's answer. Runs inside its own network
# namespace (tests/netns.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/deps.sh >/dev/null
bin=build/examples/discovery
[ -x "$bin" ] || { echo "missing $bin: run make"; exit 1; }
exec tests/netns.sh bash -c '
  set -euo pipefail
  bin=$1
  tmp=$(mktemp -d); pids=()
  trap "kill \${pids[*]} 2>/dev/null || true; rm -rf $tmp" EXIT
  # For each datagram, socat forks a child that reads it (one read is one
  # datagram), logs it and sends an answer back to the sender.
  cat > $tmp/answer.sh <<"EOS"
#!/bin/sh
q=$(dd bs=1024 count=1 2>/dev/null)
printf "%s\n" "$q" >> "$LOG"
printf "W3SD ANSWER %s socat-%s 4242" "${q#W3SD QUERY }" "$TAG"
EOS
  chmod +x $tmp/answer.sh
  TAG=v4 LOG=$tmp/queries-v4 socat UDP4-RECVFROM:7777,ip-add-membership=239.255.77.77:127.0.0.1,reuseaddr,fork EXEC:$tmp/answer.sh & pids+=($!)
  TAG=v6 LOG=$tmp/queries-v6 socat "UDP6-RECVFROM:7777,ipv6-join-group=[ff15::7777]:veth1,reuseaddr,fork" EXEC:$tmp/answer.sh & pids+=($!)

  $bin browse -i lo -e 1 -t 10 | tee $tmp/b4
  grep -q "found socat-v4, service port 4242, at 127.0.0.1" $tmp/b4
  grep -q "^W3SD QUERY [0-9]" $tmp/queries-v4

  $bin browse -6 -i veth0 -e 1 -t 10 | tee $tmp/b6
  grep -q "found socat-v6, service port 4242, at fd00::" $tmp/b6
  grep -q "^W3SD QUERY [0-9]" $tmp/queries-v6
  echo "socat received: $(sort -u $tmp/queries-v4 $tmp/queries-v6 | tr "\n" " ")"
  echo "test-multicast-socat-recv: ok"
' test "$bin"
