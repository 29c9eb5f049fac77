#!/usr/bin/env bash
# Installs the npm tarball into an empty temporary project (no Go, no
# repository around it) and checks it there: a TCP echo from ESM, the
# CommonJS entry point, the library loaded from the package's
# native/linux-<arch>/, and the one clear error on a platform without a
# library.
#
# Usage: pack-check.sh             packs this directory with the development
#                                  library (the Node suite, run-tests.sh)
#        pack-check.sh TARBALL     checks a release tarball (make test-dist:
#                                  dist/w3sock-V.tgz, both architectures)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/w3sock-pack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
if [ $# -ge 1 ]; then
  TARBALL=$(readlink -f "$1")
  ARCHES="x64 arm64"
else
  [ -f "$HERE/libw3sock.so" ] || { echo "libw3sock.so is not in the package directory" >&2; exit 1; }
  TARBALL=$("$REPO/packaging/npm-pack.sh" "$WORK" "$HERE/libw3sock.so" | tail -1)
  ARCHES="x64"
fi
CONTENTS=$(tar -tzf "$TARBALL")
for arch in $ARCHES; do
  grep -qx "package/native/linux-$arch/libw3sock.so" <<<"$CONTENTS" \
    || { echo "$TARBALL lacks native/linux-$arch/libw3sock.so" >&2; exit 1; }
done
if [ "$ARCHES" = "x64 arm64" ]; then
  tar -xzf "$TARBALL" -C "$WORK" package/native/linux-arm64/libw3sock.so
  readelf -h "$WORK/package/native/linux-arm64/libw3sock.so" | grep -q 'Machine:.*AArch64' \
    || { echo "native/linux-arm64/libw3sock.so is not an arm64 library" >&2; exit 1; }
fi
mkdir "$WORK/app"
cd "$WORK/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$TARBALL"
cat > echo.mjs <<'JS'
import { TCPServerSocket, TCPSocket, libraryPath } from 'w3sock';
const want = `node_modules/w3sock/native/linux-${process.arch}/libw3sock.so`;
if (!libraryPath.endsWith(want)) throw new Error(`library loaded from ${libraryPath}, not ${want}`);
const server = new TCPServerSocket({ localAddress: '127.0.0.1' });
const { localPort } = await server.opened;
server.listen().then((s) => s.readable.pipeTo(s.writable));
const sock = new TCPSocket('127.0.0.1', localPort);
const { readable, writable } = await sock.opened;
const w = writable.getWriter();
await w.write(new TextEncoder().encode('echo from the packed tarball'));
await w.close();
let got = '';
for await (const chunk of readable) got += new TextDecoder().decode(chunk);
server.close();
if (got !== 'echo from the packed tarball') throw new Error(`bad echo: ${got}`);
console.log(`pack check: ${got} (${libraryPath.slice(libraryPath.indexOf('native/'))})`);
JS
cat > echo.cjs <<'JS'
const { TCPSocket } = require('w3sock');
if (typeof TCPSocket !== 'function') throw new Error('CommonJS entry point broken');
JS
# what a user on a platform without a library sees (process.arch set before loading)
cat > other-arch.cjs <<'JS'
Object.defineProperty(process, 'arch', { value: 'ppc64' });
try {
  require('w3sock');
} catch (err) {
  if (/no native library for linux-ppc64; the package supports linux-x64 and linux-arm64/.test(err.message)) {
    console.log('pack check: linux-ppc64 gets:', err.message);
    process.exit(0);
  }
  throw err;
}
throw new Error('w3sock loaded on linux-ppc64');
JS
env -u W3SOCK_LIBRARY timeout 60 node echo.cjs
env -u W3SOCK_LIBRARY timeout 60 node echo.mjs
env -u W3SOCK_LIBRARY timeout 60 node other-arch.cjs
