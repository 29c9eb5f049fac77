"""Builds libw3sock with Go and puts it inside the package (a platform wheel).

The Go sources are the repository's (two levels up: go.mod, core/, capi/,
include/). An sdist made from the repository carries a copy of them in
_gosrc/, so `python -m build` (sdist, then a wheel from it) works too.
If Go is missing, a library already built at W3SOCK_LIBRARY or at the
repository's build/libw3sock.so is copied instead.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent
GO_PARTS = ("go.mod", "go.sum", "core", "capi", "include")


def go_source_root():
    for cand in (HERE / "_gosrc", HERE.parent.parent):
        if (cand / "go.mod").is_file() and (cand / "capi").is_dir():
            return cand
    return None


def build_library(dest: Path) -> None:
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    root = go_source_root()
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if root is not None and go is not None and os.environ.get("W3SOCK_SKIP_GO") != "1":
        cmd = [go, "build", "-buildmode=c-shared", "-trimpath",
               # exports.map keeps the internal w3sgo_* symbols out of the ABI
               "-ldflags=-extldflags=-Wl,-soname,libw3sock.so.0,--version-script="
               + str(root / "capi" / "exports.map"),
               "-o", str(dest), "./capi"]
        print("w3sock: building the native library:", " ".join(cmd), f"(in {root})", flush=True)
        env = dict(os.environ, CGO_ENABLED="1")
        subprocess.run(cmd, cwd=str(root), env=env, check=True)
        h = dest.with_suffix(".h")
        if h.exists():
            h.unlink()  # cgo's generated header is never installed
        return
    for prebuilt in (os.environ.get("W3SOCK_LIBRARY"),
                     str(HERE.parent.parent / "build" / "libw3sock.so")):
        if prebuilt and os.path.isfile(prebuilt):
            print(f"w3sock: Go not available, copying {prebuilt}", flush=True)
            shutil.copy2(prebuilt, dest)
            return
    sys.exit("w3sock: cannot build libw3sock: need Go (https://go.dev) and the w3sock "
             "sources, or a built library in W3SOCK_LIBRARY")


class BuildPy(build_py):
    def run(self):
        super().run()
        build_library(Path(self.build_lib) / "w3sock" / "libw3sock.so")


class SDist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        root = go_source_root()
        if root is None:
            return
        dst = Path(base_dir) / "_gosrc"
        for part in GO_PARTS:
            src = root / part
            if src.is_dir():
                shutil.copytree(src, dst / part, ignore=shutil.ignore_patterns("*_test.go"))
            elif src.is_file():
                dst.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst / part)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True


try:
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

    class BdistWheel(_bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            self.root_is_pure = False

        def get_tag(self):
            # ctypes only: any CPython 3, but tied to the platform
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    extra = {"bdist_wheel": BdistWheel}
except ImportError:  # pragma: no cover
    extra = {}

setup(cmdclass={"build_py": BuildPy, "sdist": SDist, **extra}, distclass=BinaryDistribution)
