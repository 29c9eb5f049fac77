"""Puts libw3sock inside the package (a platform wheel, tagged py3-none-<platform>).

Where the library comes from, first match wins:
  1. W3SOCK_LIBRARY: a library already built, copied as is. `make dist` uses
     this for the release wheels (packaging/build-lib.sh: stripped, glibc 2.17
     symbols, one per architecture) and names the platform with
     `--plat-name manylinux_2_17_<arch>`.
  2. Go and a C compiler: built from the Go sources, the repository's (two
     levels up: go.mod, core/, capi/, include/) or, in an sdist, the copy in
     _gosrc/. This is `pip install w3sock-X.tar.gz` on a machine with Go.
  3. The repository's build/libw3sock.so (`make lib`), for a checkout without Go.
Otherwise the build stops with one message saying what is missing.
"""

import os
import re
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


def find_go() -> "str | None":
    go = shutil.which("go")
    if go is None and os.path.exists("/usr/local/go/bin/go"):  # Go's own install path
        go = "/usr/local/go/bin/go"
    return go


def copy_library(src: str, dest: Path, why: str) -> None:
    print(f"w3sock: {why}: copying {src}", flush=True)
    shutil.copy2(src, dest)


def build_library(dest: Path) -> None:
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    prebuilt = os.environ.get("W3SOCK_LIBRARY")
    if prebuilt:
        if not os.path.isfile(prebuilt):
            sys.exit(f"w3sock: W3SOCK_LIBRARY is {prebuilt}, which is not a file")
        copy_library(prebuilt, dest, "W3SOCK_LIBRARY is set")
        return
    root = go_source_root()
    go = find_go()
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if root is not None and go is not None and cc is not None:
        cmd = [go, "build", "-buildmode=c-shared", "-trimpath",
               # -s -w: no symbol table or DWARF (a third of the size);
               # exports.map keeps the internal w3sgo_* symbols out of the ABI
               "-ldflags=-s -w -extldflags=-Wl,-soname,libw3sock.so.0,--version-script="
               + str(root / "capi" / "exports.map"),
               "-o", str(dest), "./capi"]
        print("w3sock: building the native library:", " ".join(cmd), f"(in {root})", flush=True)
        env = dict(os.environ, CGO_ENABLED="1")
        subprocess.run(cmd, cwd=str(root), env=env, check=True)
        h = dest.with_suffix(".h")
        if h.exists():
            h.unlink()  # cgo's generated header is never installed
        return
    repo_lib = HERE.parent.parent / "build" / "libw3sock.so"
    if repo_lib.is_file():
        copy_library(str(repo_lib), dest, "Go or a C compiler is missing")
        return
    go_version = "the version go.mod names"
    if root is not None:
        m = re.search(r"^go\s+(\S+)", (root / "go.mod").read_text(), re.M)
        go_version = f"{m.group(1)} or newer" if m else go_version
    missing = [what for what, have in (
        (f"Go {go_version} (https://go.dev/dl/) on PATH",
         go is not None),
        ("a C compiler for cgo (cc or gcc, e.g. apt-get install gcc)", cc is not None),
        ("the w3sock Go sources (the sdist's _gosrc/ or a repository checkout)", root is not None),
    ) if not have]
    sys.exit("w3sock: cannot build the native library libw3sock.so. No prebuilt wheel "
             "matched this platform (wheels exist for Linux x86-64 and arm64, glibc 2.17+), "
             "so pip is building from source, which needs:\n  - " + "\n  - ".join(missing)
             + "\nor set W3SOCK_LIBRARY to a libw3sock.so built elsewhere.")


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
