#!/usr/bin/env bash
# npm pack, install the tarball into an empty temporary project (no Go, no
# repository around it) and run a TCP echo from a script there.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
[ -f libw3sock.so ] || { echo "libw3sock.so is not in the package directory" >&2; exit 1; }
WORK=$(mktemp -d /tmp/w3sock-pack.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
TARBALL=$(npm pack --silent --pack-destination "$WORK" | tail -1)
CONTENTS=$(tar -tzf "$WORK/$TARBALL")
grep -qx 'package/libw3sock.so' <<<"$CONTENTS" || { echo "the tarball lacks libw3sock.so" >&2; exit 1; }
mkdir "$WORK/app"
cd "$WORK/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$WORK/$TARBALL"
cat > echo.mjs <<'JS'
import { TCPServerSocket, TCPSocket, libraryPath } from 'w3sock';
if (!libraryPath.includes('node_modules/w3sock/')) throw new Error(`library loaded from ${libraryPath}`);
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
console.log(`pack check: ${got}`);
JS
cat > echo.cjs <<'JS'
const { TCPSocket } = require('w3sock');
if (typeof TCPSocket !== 'function') throw new Error('CommonJS entry point broken');
JS
env -u W3SOCK_LIBRARY timeout 60 node echo.cjs
env -u W3SOCK_LIBRARY timeout 60 node echo.mjs
