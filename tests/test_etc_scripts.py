"""The shell scripts in etc/ (the test packages' installer, the fresh-Debian
and Pi-build checks, the uPlot refresh, the init script) pass shellcheck:
the checks that are run by hand are not run by the suite, so this is what
keeps them from rotting silently."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ETC = Path(__file__).resolve().parent.parent / "etc"
SCRIPTS = sorted(path for path in ETC.rglob("*")
                 if path.is_file() and path.read_bytes()[:2] == b"#!")


def test_there_are_the_scripts_the_docs_name():
    names = {path.relative_to(ETC).as_posix() for path in SCRIPTS}
    assert {"install-test-packages", "check-fresh-debian", "check-pi-build", "refresh-uplot",
            "init.d/picloud"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.relative_to(ETC).as_posix())
def test_passes_shellcheck(script: Path):
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
