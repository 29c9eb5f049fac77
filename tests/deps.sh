#!/usr/bin/env bash
# Installs the Debian programs the test suites use when they are missing.
# `make test` runs this first, so a fresh machine needs nothing by hand.
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v socat   >/dev/null || need+=(socat)
command -v ip      >/dev/null || need+=(iproute2)
command -v unshare >/dev/null || need+=(util-linux)
command -v prlimit >/dev/null || need+=(util-linux)
command -v timeout >/dev/null || need+=(coreutils)
# TLS interop (tests/interop/test-tls-*.sh): ss (iproute2) finds the socat proxy port, python3 is a peer
command -v ss      >/dev/null || need+=(iproute2)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
echo "deps: openssl socat iproute2 present"
