#!/usr/bin/env bash
# Installs what the benchmark needs and nothing else needs: Debian's libuv
# (the C reference server), a virtual environment build/venv-bench with
# matplotlib (the chart) and uvloop (a Python reference), the Node binding's
# npm packages, openssl for the bench certificate and taskset (util-linux).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! [ -f /usr/include/uv.h ] || ! command -v openssl >/dev/null || ! command -v taskset >/dev/null; then
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libuv1-dev openssl util-linux >/dev/null
fi
VENV=build/venv-bench
if ! "$VENV/bin/python" -c 'import matplotlib, uvloop' 2>/dev/null; then
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check matplotlib uvloop
fi
if [ ! -d bindings/node/node_modules/koffi ]; then
  (cd bindings/node && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "bench deps: libuv1-dev, $VENV (matplotlib, uvloop), node_modules present"
