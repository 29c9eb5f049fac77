#!/usr/bin/env bash
# Builds the release libw3sock for one Linux architecture with zig as cgo's C
# compiler, linked against glibc 2.17's symbols (so it loads on every glibc
# distribution since 2014: CentOS 7, Debian 8, Ubuntu 14.04, Raspberry Pi OS),
# stripped (-s -w: no symbol table, no DWARF). Checks the result's ELF
# machine, SONAME, exported functions (same set as include/w3sock.h) and
# newest glibc symbol version.
#
# Usage: [SOURCES="files..."] packaging/build-lib.sh amd64|arm64 OUT.so
# make builds build/dist/linux-<arch>/libw3sock.so.N with it and passes the
# library's source files in SOURCES: a library built from the same sources
# (and the same script, zig and Go) is then reused from build/dist-cache/,
# found by the SHA-256 of all of them, so switching branches back and forth or
# `touch` does not rebuild it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
arch=${1:?usage: build-lib.sh amd64|arm64 OUT.so}
out=${2:?usage: build-lib.sh amd64|arm64 OUT.so}
case "$arch" in
  amd64) triple=x86_64-linux-gnu; machine='X86-64' ;;
  arm64) triple=aarch64-linux-gnu; machine='AArch64' ;;
  *) echo "build-lib.sh: unknown architecture $arch (amd64 or arm64)" >&2; exit 2 ;;
esac
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
cd "$ROOT"
# zig keeps its compiled glibc stubs in build/ so a clean machine's HOME stays clean
export ZIG_GLOBAL_CACHE_DIR="$ROOT/build/zig-cache"
key=
if [ -n "${SOURCES:-}" ]; then
  key=$( { for f in $(printf '%s\n' $SOURCES | sort -u); do printf '%s\n' "$f"; cat "$f"; done
           cat "${BASH_SOURCE[0]}" "$ROOT/packaging/tools.sh"; ${GO:-go} version; "$VPY" -m ziglang version
           echo "$arch"; } | sha256sum | cut -c1-16)
  cached="$ROOT/build/dist-cache/libw3sock-$arch-$key.so"
  if [ -f "$cached" ]; then
    cp "$cached" "$out"
    echo "build-lib: $arch -> $out: the same sources' build from $cached"
    exit 0
  fi
fi
echo "build-lib: $arch -> $out (zig cc, $triple.$GLIBC)"
CGO_ENABLED=1 GOOS=linux GOARCH=$arch CC="$VPY -m ziglang cc -target $triple.$GLIBC" \
  ${GO:-go} build -trimpath -buildmode=c-shared \
  -ldflags="-s -w -extldflags=-Wl,-s,-soname,libw3sock.so.$SOVERSION,--version-script=$ROOT/capi/exports.map" \
  -o "$out" ./capi
rm -f "${out%.so*}.h" "$out.h" "${out%.*}.h"

# What was built is what was asked for.
readelf -h "$out" | grep -q "Machine:.*$machine" || { echo "build-lib: $out is not $machine" >&2; exit 1; }
readelf -d "$out" | grep -q "SONAME.*\[libw3sock.so.$SOVERSION\]" || { echo "build-lib: wrong SONAME" >&2; exit 1; }
if readelf -S "$out" | grep -qE '\.(debug_|symtab)'; then echo "build-lib: $out is not stripped" >&2; exit 1; fi
newest=$(objdump -T "$out" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
if [ "$(printf '%s\n%s\n' "$newest" "$GLIBC" | sort -V | tail -1)" != "$GLIBC" ]; then
  echo "build-lib: $out needs glibc $newest, more than $GLIBC" >&2; exit 1
fi
grep -oE '\bw3s_[a-z0-9_]+\(' include/w3sock.h | tr -d '(' | sort -u > "$out.header-syms"
objdump -T "$out" | awk '$4==".text"{print $NF}' | grep '^w3s_' | sort -u > "$out.lib-syms"
if ! diff -u "$out.header-syms" "$out.lib-syms"; then
  echo "build-lib: include/w3sock.h and $out export different functions" >&2; exit 1
fi
rm -f "$out.header-syms" "$out.lib-syms"
if [ -n "$key" ]; then
  mkdir -p "$ROOT/build/dist-cache"
  cp "$out" "$cached.tmp" && mv "$cached.tmp" "$cached"
fi
echo "build-lib: $out: $machine, $(stat -c %s "$out") bytes, stripped, newest glibc symbol $newest, $(grep -c . <(objdump -T "$out" | awk '$4==".text"' | grep ' w3s_')) functions"
