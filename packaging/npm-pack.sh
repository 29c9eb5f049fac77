#!/usr/bin/env bash
# Packs the npm package with its native libraries: the files package.json
# lists, copied to a staging directory, plus native/linux-x64/libw3sock.so and
# (when given) native/linux-arm64/libw3sock.so, which lib/native.js picks by
# process.platform and process.arch. Prints the tarball's path.
#
# Usage: packaging/npm-pack.sh OUTDIR LIB_X64 [LIB_ARM64]
#   make dist: both release libraries; bindings/node/pack-check.sh (the Node
#   suite): the development library alone.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:?usage: npm-pack.sh OUTDIR LIB_X64 [LIB_ARM64]}" && cd "$1" && pwd)
declare -A libs=([x64]="${2:?usage: npm-pack.sh OUTDIR LIB_X64 [LIB_ARM64]}" [arm64]="${3:-}")
declare -A machine=([x64]='X86-64' [arm64]='AArch64')
stage=$(mktemp -d /tmp/w3sock-npm.XXXXXX)
trap 'rm -rf "$stage"' EXIT
cd "$ROOT/bindings/node"
cp package.json "$stage/"
for f in $(node -p "require('./package.json').files.filter((f) => f !== 'native/').join('\n')"); do
  cp -r "$f" "$stage/"
done
for arch in x64 arm64; do
  lib=${libs[$arch]}
  [ -n "$lib" ] || continue
  readelf -h "$lib" | grep -q "Machine:.*${machine[$arch]}" \
    || { echo "npm-pack: $lib is not a ${machine[$arch]} library" >&2; exit 1; }
  mkdir -p "$stage/native/linux-$arch"
  cp "$(readlink -f "$lib")" "$stage/native/linux-$arch/libw3sock.so"
done
cd "$stage"
echo "$out/$(npm pack --silent --pack-destination "$out" | tail -1)"
