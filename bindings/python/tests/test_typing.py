"""The package is typed (py.typed): mypy finds no error in it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import PKG_ROOT


@pytest.mark.timeout(300)
def test_mypy_clean():
    p = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental",
                        "--disallow-untyped-calls", "w3sock"],
                       cwd=PKG_ROOT, capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (PKG_ROOT / "w3sock" / "py.typed").exists()
