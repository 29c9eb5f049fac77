"""pip install ./bindings/python into a fresh virtualenv, then a script outside
the repository imports w3sock (the library inside the package) and echoes.
Also `python -m build` (sdist, then a wheel from it) gives a platform wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import venv
import zipfile

import pytest

from conftest import PKG_ROOT, REPO

ECHO = textwrap.dedent("""
    import asyncio, os, sys, w3sock
    assert "W3SOCK_LIBRARY" not in os.environ
    assert w3sock.library_path.startswith(os.path.dirname(w3sock.__file__)), w3sock.library_path
    assert not w3sock.library_path.startswith(sys.argv[1]), "loaded from the repository"

    async def main():
        srv = w3sock.TCPServerSocket(local_address="127.0.0.1")
        await srv.opened
        async def echo():
            conn = await srv.listen()
            async for chunk in conn.readable:
                await conn.writable.write(chunk)
            conn.close()
        t = asyncio.ensure_future(echo())
        async with w3sock.TCPSocket("127.0.0.1", srv.local_port) as s:
            await s.writable.write(b"echo through the installed package")
            s.half_close()
            data = await s.readable.read()
        await t
        srv.close()
        return data

    print(asyncio.run(main()).decode())
""")


def _clean_env():
    env = dict(os.environ)
    for k in ("W3SOCK_LIBRARY", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(k, None)
    return env


@pytest.mark.timeout(900)
def test_pip_install_and_echo_outside_repo(tmp_path):
    vdir = tmp_path / "venv"
    venv.create(vdir, with_pip=True)
    py = str(vdir / "bin" / "python")
    env = _clean_env()
    p = subprocess.run([py, "-m", "pip", "install", "-q", str(PKG_ROOT)],
                       env=env, capture_output=True, text=True, timeout=800)
    assert p.returncode == 0, p.stdout + p.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "echo.py").write_text(ECHO)
    p = subprocess.run([py, "echo.py", str(REPO)], cwd=work, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip() == "echo through the installed package"
    assert "Traceback" not in p.stderr


@pytest.mark.timeout(900)
def test_python_m_build_makes_platform_wheel(tmp_path):
    build_py = REPO / "build" / "venv-python" / "bin" / "python"
    py = str(build_py) if build_py.exists() else sys.executable
    out = tmp_path / "dist"
    p = subprocess.run([py, "-m", "build", "--outdir", str(out), str(PKG_ROOT)],
                       env=_clean_env(), capture_output=True, text=True, timeout=800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    name = wheels[0].name
    assert "linux" in name and "none-any" not in name, name
    with zipfile.ZipFile(wheels[0]) as z:
        names = z.namelist()
    assert "w3sock/libw3sock.so" in names and "w3sock/py.typed" in names, names
