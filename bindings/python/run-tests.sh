#!/usr/bin/env bash
# Runs the Python binding's whole test suite in build/venv-python (made if
# missing), against build/libw3sock.so. Includes the packaging checks
# (pip install ./bindings/python into a fresh venv, python -m build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT="$(pwd)"
VENV="$ROOT/build/venv-python"
PY="${PYTHON:-python3}"

# Debian programs the tests use
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
command -v setpriv >/dev/null || missing+=(util-linux)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  pytest pytest-timeout uvloop aiosmtpd build setuptools wheel mypy

if [ ! -f "$ROOT/build/libw3sock.so" ]; then
  make -C "$ROOT" lib
fi
export W3SOCK_LIBRARY="$ROOT/build/libw3sock.so"

set +e
"$VENV/bin/python" -m pytest "$ROOT/bindings/python/tests" -p no:cacheprovider \
-rfEs --timeout=300 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "run-tests.sh: pytest collected no tests" >&2
  exit 1
fi
if [ "$rc" -ne 0 ]; then
  exit "$rc"
fi

# Second pass with the public-API fallback of w3sock/_asyncio_adapter.py
# forced (no asyncio internals), so a runtime without them loses speed, never
# correctness. Only the socket, stream and conformance files (~5 s);
# test_dispatch.py is left out: it measures the internals' saving itself.
T="$ROOT/bindings/python/tests"
set +e
W3SOCK_NO_INTERNALS=1 "$VENV/bin/python" -m pytest -p no:cacheprovider -rfEs --timeout=300 \
  "$T/test_tcp.py" "$T/test_udp.py" "$T/test_tls.py" "$T/test_streams.py" \
  "$T/test_conformance.py" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then  # the caller's -k selected nothing in these files
  rc=0
fi
exit "$rc"
