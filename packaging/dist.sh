#!/usr/bin/env bash
# `make dist`: writes every release artifact under dist/ from the two release
# libraries (build/dist/linux-{amd64,arm64}/, made by packaging/build-lib.sh):
#   w3sock-V.tar.gz                               sdist (Go sources in _gosrc/)
#   w3sock-V-py3-none-manylinux_2_17_x86_64.whl   wheel, x86-64 library inside
#   w3sock-V-py3-none-manylinux_2_17_aarch64.whl  wheel, arm64 library inside
#   w3sock-V.tgz                                  npm package, both libraries
# The wheels are built from the sdist, as an installer would, with
# W3SOCK_LIBRARY naming the prebuilt library (bindings/python/setup.py).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"
cd "$ROOT"
LIBS="$ROOT/build/dist"
OUT="$ROOT/dist"
rm -rf "$OUT"
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/w3sock-dist.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "== sdist"
"$VPY" -m build --sdist --no-isolation --outdir "$OUT" bindings/python >"$WORK/sdist.log" 2>&1 \
  || { cat "$WORK/sdist.log"; exit 1; }
rm -rf bindings/python/w3sock.egg-info
sdist="$OUT/w3sock-$VERSION.tar.gz"
tar -xzf "$sdist" -C "$WORK"

for arch in amd64 arm64; do
  case $arch in amd64) plat=manylinux_${GLIBC/./_}_x86_64 ;; arm64) plat=manylinux_${GLIBC/./_}_aarch64 ;; esac
  echo "== wheel $plat"
  src="$WORK/w3sock-$VERSION"
  rm -rf "$src/build"
  W3SOCK_LIBRARY="$LIBS/linux-$arch/libw3sock.so.$SOVERSION" \
    "$VPY" -m build --wheel --no-isolation --outdir "$OUT" "-C--build-option=--plat-name=$plat" "$src" \
    >"$WORK/wheel-$arch.log" 2>&1 || { cat "$WORK/wheel-$arch.log"; exit 1; }
done

echo "== npm"
packaging/npm-pack.sh "$OUT" "$LIBS/linux-amd64/libw3sock.so.$SOVERSION" "$LIBS/linux-arm64/libw3sock.so.$SOVERSION"

echo "== dist/"
( cd "$OUT" && for f in *; do printf '%10s  %s\n' "$(stat -c %s "$f")" "$f"; done )
