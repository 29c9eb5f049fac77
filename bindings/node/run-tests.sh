#!/usr/bin/env bash
# The Node binding's suite: npm ci, the library into the package, node --test,
# tsc --noEmit on the TypeScript example, and the npm pack check (the tarball
# installs into an empty project and completes a TCP echo there).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$HERE"

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is required" >&2; exit 1; }
command -v openssl >/dev/null || apt_install openssl
command -v cc >/dev/null || apt_install gcc libc6-dev
command -v prlimit >/dev/null || apt_install util-linux
command -v unshare >/dev/null || apt_install util-linux
command -v ip >/dev/null || apt_install iproute2

echo "== npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== library"
LIB="${W3SOCK_LIBRARY:-$REPO/build/libw3sock.so}"
if [ ! -f "$LIB" ]; then
  echo "libw3sock.so not found at $LIB: run 'make lib' at the repository root first" >&2
  exit 1
fi
if [ "$(readlink -f "$LIB")" != "$(readlink -f "$HERE/libw3sock.so" 2>/dev/null || true)" ]; then
  cp -f "$LIB" "$HERE/libw3sock.so"
fi
export W3SOCK_LIBRARY="$HERE/libw3sock.so"
node -e "const w = require('./'); console.log('w3sock', w.version(), 'from', w.libraryPath)"

echo "== node --test"
node --test --test-reporter=spec test/*.test.js test/*.test.mjs

# Again with the binding's one Node internal (process._tickCallback, see
# lib/runtime.js) refused: a runtime that drops it must lose speed only.
# The whole suite takes well under 30 s, so all of it runs; dot reporter.
echo "== node --test, W3SOCK_NO_INTERNALS=1 (public-API fallback)"
W3SOCK_NO_INTERNALS=1 node --test --test-reporter=dot test/*.test.js test/*.test.mjs

echo "== tsc --noEmit"
npx --no-install tsc --noEmit -p "$REPO/examples/node/tsconfig.json"

echo "== npm pack + install into an empty project"
"$HERE/pack-check.sh"
echo "node binding: all checks passed"
