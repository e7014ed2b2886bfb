"""setup.py's optional C speedups: the sdist carries their source whatever
the build's environment, an install that cannot compile them runs the
pure-Python code and says so, and PICLOUD_PURE_PYTHON=1 makes a wheel for
any machine. (That a target with gcc builds them is tests/test_deploy.py's.)"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.sourcetree import source_tree


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("setup")
    src = source_tree(tmp, "src")
    env = {**os.environ, "PICLOUD_PURE_PYTHON": "1"}  # no extension asked for: the source goes all the same
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", tmp / "dist"], cwd=src, env=env, check=True,
                   capture_output=True)
    (path,) = (tmp / "dist").glob("picloud-*.tar.gz")
    return path


def test_the_sdist_carries_the_c_source_and_nothing_compiled(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    assert {"picloud/wire/_frames.c", "picloud/wire/_publish.c", "picloud/wire/mqtt/_packets.c"} <= set(names)
    assert not [name for name in names if name.endswith((".so", ".o", ".pyd"))]


def test_without_a_compiler_the_install_runs_the_pure_python_code(sdist: Path, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PICLOUD_PURE_PYTHON"}
    env["CC"] = "/bin/false"  # what setuptools compiles with: a compiler that always fails
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", target,
         sdist], env=env, check=True, capture_output=True,
    )
    assert (target / "picloud/wire/frameparser.py").exists()
    assert not [path for path in target.glob("picloud/wire/**/_*") if path.suffix in (".so", ".c")]
    done = subprocess.run([sys.executable, "-m", "picloud", "--version"], cwd=tmp_path, capture_output=True,
                          text=True, check=True, env={**env, "PYTHONPATH": str(target)})
    assert done.stdout.startswith("picloud ")
    assert ", pure Python (not built: " in done.stdout
    assert str(target) in subprocess.run(
        [sys.executable, "-c", "import picloud; print(picloud.__file__)"], cwd=tmp_path, capture_output=True,
        text=True, check=True, env={**env, "PYTHONPATH": str(target)}).stdout  # not the checkout's


def test_picloud_pure_python_makes_a_wheel_for_any_machine(sdist: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PICLOUD_PURE_PYTHON": "1"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    tmp_path, sdist], env=env, check=True, capture_output=True)
    (wheel,) = tmp_path.glob("picloud-*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "picloud/wire/frameparser.py" in zf.namelist()
        assert not [name for name in zf.namelist() if name.endswith(".so")]
