# Sourced by the packaging scripts: the project's Python venv (build/venv-python,
# the one bindings/python/run-tests.sh makes) with the release tools in it.
#   zig (PyPI `ziglang`): the C compiler and linker for cgo, for both
#       architectures, against glibc 2.17 stubs (manylinux2014's floor)
#   auditwheel: reads the wheels' symbol versions and checks their tags
#   build: python -m build (sdist, wheels); vermin: oldest Python the code needs
# Versions are pinned so a release built later links the same way.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/build/venv-python"
# setuptools 70+: passes --build-option (the wheels' --plat-name) to bdist_wheel alone
TOOLS=(ziglang==0.17.1 auditwheel==6.8.2 vermin==1.9.2 build==1.6.1 "setuptools>=70" wheel)
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3}" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import ziglang, auditwheel, vermin, build, wheel, setuptools, sys
sys.exit(int(setuptools.__version__.split(".")[0]) < 70)' 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${TOOLS[@]}"
fi
VPY="$VENV/bin/python"
VERSION=$(cat "$ROOT/VERSION")
SOVERSION=${VERSION%%.*}
# The glibc whose symbol versions the libraries may use; the wheels' tag follows.
GLIBC=2.17
