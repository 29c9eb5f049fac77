#!/usr/bin/env bash
# Runs a command inside a fresh network namespace made for one test, so that
# multicast never leaves the machine:
#   - lo is up with multicast on and carries 224.0.0.0/4 (IPv4 multicast loops on lo);
#   - a veth pair veth0 (fd00::1/64) <-> veth1 (fd00::2/64), addresses with nodad,
#     carries IPv6 multicast (IPv6 multicast does not loop on lo); ff00::/8 routes
#     via veth0.
# Usage: tests/netns.sh CMD [ARGS...]   (needs root or user namespaces)
# The namespace disappears when CMD exits.
set -euo pipefail
if [ "${W3S_IN_NETNS:-}" != 1 ]; then
  exec env W3S_IN_NETNS=1 unshare -n -- "$0" "$@"
fi
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
ip link add veth0 type veth peer name veth1
ip addr add fd00::1/64 dev veth0 nodad
ip addr add fd00::2/64 dev veth1 nodad
ip link set veth0 up multicast on
ip link set veth1 up multicast on
ip -6 route add ff00::/8 dev veth0 table local metric 1 2>/dev/null || ip -6 route add ff00::/8 dev veth0 2>/dev/null || true
exec "$@"
