"""Multicast, inside a network namespace of the test's own (tests/netns.sh)."""

from __future__ import annotations

import subprocess
import sys

from conftest import HERE, REPO


def test_multicast_in_own_namespace():
    proc = subprocess.run(
        [str(REPO / "tests" / "netns.sh"), sys.executable,
         str(HERE / "netns" / "multicast_child.py")],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MULTICAST OK" in proc.stdout
