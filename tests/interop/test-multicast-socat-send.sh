#!/usr/bin/env bash
# Interop: socat sends to a multicast group and our socket receives.
# Our receiver is examples/c/discovery in responder mode (joined with
# w3s_join_group); socat multicasts a query and must get our unicast answer
# back. IPv4 on lo, then IPv6 (our responder joined on veth1, socat sending
# out of veth0). Runs inside its own network namespace (tests/netns.sh).
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
  waitfor() { # file pattern: bounded wait for a line
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
    echo "timed out waiting for \"$2\" in $1:"; cat "$1"; return 1
  }
  ask() { # socat-address nonce expected-answer
    for _ in 1 2 3 4 5; do
      printf "W3SD QUERY %s" "$2" | socat -t 1 - "$1" > $tmp/answer || true
      if grep -q "^$3\$" $tmp/answer; then echo "socat got: $(cat $tmp/answer)"; return 0; fi
    done
    echo "no answer \"$3\"; got: $(cat $tmp/answer)"; return 1
  }

  $bin respond ours4 1111 -i lo -t 60 > $tmp/r4 & pids+=($!)
  waitfor $tmp/r4 "listening on group"
  ask UDP4-DATAGRAM:239.255.77.77:7777,ip-multicast-if=127.0.0.1 n4 "W3SD ANSWER n4 ours4 1111"
  waitfor $tmp/r4 "answered query n4 from 127.0.0.1"

  $bin respond ours6 2222 -6 -i veth1 -t 60 > $tmp/r6 & pids+=($!)
  waitfor $tmp/r6 "listening on group"
  ask "UDP6-DATAGRAM:[ff15::7777]:7777" n6 "W3SD ANSWER n6 ours6 2222"
  waitfor $tmp/r6 "answered query n6 from fd00::"

  # A group we did not join is not delivered: socat multicasts to another
  # group first, then to ours; only the second is answered.
  printf "W3SD QUERY stray" | socat -u - UDP4-DATAGRAM:239.255.77.78:7777,ip-multicast-if=127.0.0.1
  ask UDP4-DATAGRAM:239.255.77.77:7777,ip-multicast-if=127.0.0.1 n4b "W3SD ANSWER n4b ours4 1111"
  if grep -q stray $tmp/r4; then echo "received a group it never joined"; exit 1; fi
  cat $tmp/r4 $tmp/r6
  echo "test-multicast-socat-send: ok"
' test "$bin"
