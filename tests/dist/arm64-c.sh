#!/usr/bin/env bash
# The C test suite (tests/c) against the arm64 release library, under
# qemu-user: each test is compiled for aarch64 with zig cc (the compiler that
# built the library), linked to build/dist/linux-arm64/libw3sock.so.N, and run
# by qemu-aarch64 with Debian's arm64 glibc (libc6-arm64-cross) as its root.
# tests/c/run.sh runs them, through one small wrapper script per test, with
# (clang, so -Wno-string-plus-int for an idiom gcc accepts) with
# its usual time limit, log files (build/tests/arm64-*.log) and tally.
#
# Usage: tests/dist/arm64-c.sh LIBDIR [test names...]   (default: all of tests/c)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../packaging/tools.sh"
libdir=$(cd "${1:?usage: arm64-c.sh LIBDIR [tests...]}" && pwd); shift
cd "$ROOT"
command -v qemu-aarch64 >/dev/null && [ -f /usr/aarch64-linux-gnu/lib/libc.so.6 ] || {
  echo "arm64-c: installing qemu-user libc6-arm64-cross"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user libc6-arm64-cross >/dev/null
}
ln -sf "libw3sock.so.$SOVERSION" "$libdir/libw3sock.so"
export ZIG_GLOBAL_CACHE_DIR="$ROOT/build/zig-cache"
out="$ROOT/build/tests/arm64"
mkdir -p "$out"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(cd tests/c && ls test_*.c | sed 's/\.c$//'))
wrappers=()
for name in "${names[@]}"; do
  bin="$out/$name"
  if [ ! -x "$bin" ] || [ "tests/c/$name.c" -nt "$bin" ] || [ tests/c/testutil.h -nt "$bin" ] \
     || [ "$libdir/libw3sock.so.$SOVERSION" -nt "$bin" ]; then
    "$VPY" -m ziglang cc -target "aarch64-linux-gnu.$GLIBC" -std=c99 -w -O2 \
      -Iinclude -Itests/c -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
      -o "$bin" "tests/c/$name.c" -L"$libdir" -lw3sock -lpthread
  fi
  # the tests re-exec themselves (/proc/self/exe) for fork/exec cases; qemu's
  # -L root and LD_LIBRARY_PATH reach those children through the environment
  cat > "$out/arm64-$name" <<SH
#!/bin/sh
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu LD_LIBRARY_PATH="$libdir"
exec qemu-aarch64 "$bin" "\$@"
SH
  chmod +x "$out/arm64-$name"
  wrappers+=("$out/arm64-$name")
done
echo "arm64-c: $(uname -m) host, qemu-aarch64 $(qemu-aarch64 --version | head -1 | grep -oE '[0-9]+\.[0-9.]+' | head -1), library $libdir/libw3sock.so.$SOVERSION"
tests/c/run.sh "${wrappers[@]}"
