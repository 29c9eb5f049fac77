#!/usr/bin/env bash
# `make test-dist`: checks what `make dist` wrote under dist/, as a user gets it.
#  1. each wheel: auditwheel's tag is the file name's (manylinux_2_17, py3-none),
#     the library inside is that architecture's; requires-python is no older
#     than what vermin finds the code needs
#  2. the x86-64 wheel installs into fresh venvs with Go hidden (a mount
#     namespace with an empty GOROOT) and passes tests/dist/smoke.py (TCP echo
#     over loopback) on the oldest Python requires-python claims, the
#     project's python3 and the newest one on the machine (pyenv's)
#  3. the sdist builds a wheel from source with Go (then installs and passes
#     the smoke test) and, with Go hidden, stops with a message naming Go
#  4. the npm tarball: bindings/node/pack-check.sh (install into an empty
#     project, echo, both libraries, the unsupported-platform error)
#  5. the arm64 library: the C suite under qemu-user (tests/dist/arm64-c.sh)
#  and that CHANGELOG.md has a section for VERSION.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../../packaging/tools.sh"
cd "$ROOT"
command -v unshare >/dev/null || { apt-get update -qq; apt-get install -y -qq util-linux >/dev/null; }
WORK=$(mktemp -d /tmp/w3sock-test-dist.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }

GOROOT_DIR=$(${GO:-go} env GOROOT)
# Runs "$@" where Go does not exist: GOROOT under an empty tmpfs, PATH without it.
without_go() {
  unshare -m sh -c 'mount -t tmpfs none "$1" && shift && exec "$@"' - "$GOROOT_DIR" \
    env -u W3SOCK_LIBRARY -u GOROOT PATH=/usr/local/bin:/usr/bin:/bin "$@"
}

echo "== version"
if grep -q "^## $VERSION\b" CHANGELOG.md; then ok "CHANGELOG.md has a $VERSION section"; else bad "CHANGELOG.md lacks a '## $VERSION' section"; fi
for f in "w3sock-$VERSION.tar.gz" "w3sock-$VERSION.tgz"; do
  [ -f "dist/$f" ] || bad "dist/$f missing (the artifacts must carry VERSION's $VERSION)"
done

echo "== wheels"
floor=$(sed -n 's/^requires-python = ">=\([0-9.]*\)"/\1/p' bindings/python/pyproject.toml)
need=$("$VENV/bin/vermin" --no-tips --no-parse-comments bindings/python/w3sock | sed -n 's/^Minimum required versions: *//p')
if [ "$(printf '%s\n%s\n' "$need" "$floor" | sort -V | tail -1)" = "$floor" ]; then
  ok "requires-python >=$floor; vermin finds the code needs $need"
else
  bad "requires-python >=$floor, but vermin finds the code needs $need"
fi
for m in x86_64:X86-64 aarch64:AArch64; do
  arch=${m%%:*}; elf=${m#*:}
  tag="py3-none-manylinux_${GLIBC/./_}_$arch"
  whl="dist/w3sock-$VERSION-$tag.whl"
  [ -f "$whl" ] || { bad "$whl missing"; continue; }
  shown=$("$VENV/bin/auditwheel" show "$whl" 2>&1 | tr -s ' \n' '  ')  # one line: it wraps
  if grep -q "consistent with the following platform tag: \"manylinux_${GLIBC/./_}_$arch\"" <<<"$shown"; then
    ok "auditwheel show $(basename "$whl"): manylinux_${GLIBC/./_}_$arch"
  else
    bad "auditwheel show $(basename "$whl")"; echo "$shown"
  fi
  rm -rf "$WORK/unz" && mkdir "$WORK/unz" && "$VPY" -m zipfile -e "$whl" "$WORK/unz"
  if readelf -h "$WORK/unz/w3sock/libw3sock.so" | grep -q "Machine:.*$elf" \
     && grep -qx "Requires-Python: >=$floor" "$WORK/unz/w3sock-$VERSION.dist-info/METADATA"; then
    ok "$(basename "$whl") holds an $elf libw3sock.so ($(stat -c %s "$WORK/unz/w3sock/libw3sock.so") bytes), Requires-Python >=$floor"
  else
    bad "$(basename "$whl"): library not $elf or Requires-Python not >=$floor"
  fi
done

# Interpreters: the oldest requires-python claims, python3, the newest pyenv has.
pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
oldest=$(ls -d "$pyenv_root"/versions/"$floor".* 2>/dev/null | sort -V | tail -1)
newest=$(ls -d "$pyenv_root"/versions/3.* 2>/dev/null | sort -V | tail -1)
[ -n "$oldest" ] || bad "no Python $floor on this machine to check requires-python with"
interpreters=()
for p in "$oldest/bin/python" "$(command -v "${PYTHON:-python3}")" "$newest/bin/python"; do
  [ -x "$p" ] && interpreters+=("$(readlink -f "$p")")
done
fresh_venv() {  # python -> prints the new venv's directory
  local dir="$WORK/venv-$RANDOM$RANDOM"
  without_go "$1" -m venv "$dir" >&2 && echo "$dir"
}
smoke() {  # venv wheel label: installs the wheel there (no index) and runs smoke.py
  if without_go "$1/bin/python" -m pip install -q --no-index --no-deps --force-reinstall \
       --disable-pip-version-check "$2" \
     && (cd "$WORK" && without_go "$1/bin/python" "$ROOT/tests/dist/smoke.py" "$VERSION"); then
    ok "$3"
  else
    bad "$3"
  fi
}
echo "== x86-64 wheel in fresh venvs, no Go"
project_venv=
for py in $(printf '%s\n' "${interpreters[@]}" | sort -u); do
  v=$("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
  dir=$(fresh_venv "$py") || { bad "venv for Python $v"; continue; }
  smoke "$dir" "dist/w3sock-$VERSION-py3-none-manylinux_${GLIBC/./_}_x86_64.whl" \
    "x86-64 wheel, Python $v, fresh venv, no Go: TCP echo"
  [ "$py" = "$(readlink -f "$(command -v "${PYTHON:-python3}")")" ] && project_venv=$dir
done

echo "== sdist"
sdist="dist/w3sock-$VERSION.tar.gz"
tar -xzf "$sdist" -C "$WORK"
if (cd "$WORK/w3sock-$VERSION" && env -u W3SOCK_LIBRARY "$VPY" -m build --wheel --no-isolation \
      --outdir "$WORK/from-sdist" . >"$WORK/sdist-go.log" 2>&1) \
   && grep -q 'w3sock: building the native library' "$WORK/sdist-go.log"; then
  ok "sdist -> wheel with Go: $(cd "$WORK/from-sdist" && ls)"
  # python3's venv from above: the wheel replaces the release one there
  smoke "${project_venv:-$(fresh_venv "$VPY")}" "$(ls "$WORK"/from-sdist/*.whl)" \
    "wheel built from the sdist, installed over the release wheel: TCP echo"
else
  bad "sdist -> wheel with Go"; tail -20 "$WORK/sdist-go.log"
fi
rm -rf "$WORK/w3sock-$VERSION/build"
if (cd "$WORK/w3sock-$VERSION" && without_go "$VPY" -m build --wheel --no-isolation \
      --outdir "$WORK/no-go" . >"$WORK/sdist-nogo.log" 2>&1); then
  bad "sdist -> wheel without Go succeeded"
elif grep -q 'needs:' "$WORK/sdist-nogo.log" && grep -q -- '- Go .* or newer' "$WORK/sdist-nogo.log"; then
  ok "sdist without Go stops: $(grep -A1 'needs:' "$WORK/sdist-nogo.log" | tail -1 | sed 's/^ *//')"
else
  bad "sdist without Go: no clear message"; tail -20 "$WORK/sdist-nogo.log"
fi

echo "== npm"
tgz="dist/w3sock-$VERSION.tgz"
if bindings/node/pack-check.sh "$tgz"; then ok "npm $(basename "$tgz"): installs, echo, both libraries"; else bad "npm $tgz"; fi

echo "== arm64 C suite under qemu-user"
# test_shutdown, test_emfile and test_multicast re-exec themselves (/proc/self/exe, and
# tests/netns.sh), which needs binfmt_misc, absent in containers; test_abi and
# test_options set multicast socket options qemu-user does not translate
# ("protocol not available"). Everything else runs.
if tests/dist/arm64-c.sh build/dist/linux-arm64 test_core test_datapath test_poll_into test_send_nomem test_tls; then
  ok "arm64 C suite under qemu-user"
else
  bad "arm64 C suite under qemu-user"
fi
echo "test-dist: $pass passed, $fail failed"
[ "$fail" = 0 ]
