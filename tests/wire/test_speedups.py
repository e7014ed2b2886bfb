"""picloud/wire/speedups.py: what loads, what is said about it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from picloud.wire import speedups


def test_a_missing_extension_loads_as_none_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(speedups.DISABLE_ENV, raising=False)
    monkeypatch.setattr(speedups, "LOADED", {})
    monkeypatch.setattr(speedups, "MISSING", {})
    monkeypatch.setattr(speedups, "USERS", ())
    assert speedups.load("picloud.wire._no_such_twin") is None
    assert speedups.LOADED == {"picloud.wire._no_such_twin": False}
    assert speedups.describe() == "pure Python (not built: no_such_twin)"


def test_the_environment_turns_them_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(speedups.DISABLE_ENV, "1")
    monkeypatch.setattr(speedups, "LOADED", {})
    monkeypatch.setattr(speedups, "MISSING", {})
    monkeypatch.setattr(speedups, "USERS", ())
    assert speedups.load("picloud.wire.codec") is None  # importable, yet refused
    assert speedups.describe() == "pure Python (PICLOUD_PURE_PYTHON is set)"


@pytest.mark.parametrize("value", ["", "0"])
def test_empty_or_zero_leaves_them_on(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(speedups.DISABLE_ENV, value)
    assert not speedups.disabled()


def test_the_version_line_says_which_code_runs() -> None:
    def version(**env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "picloud", "--version"], capture_output=True, text=True, check=True,
            env={"PATH": "/usr/bin:/bin", **env},
        )
        return done.stdout.strip()

    assert version(PICLOUD_PURE_PYTHON="1").endswith(", pure Python (PICLOUD_PURE_PYTHON is set)")
    line = version()
    assert line.startswith("picloud ")
    twins = ("picloud.wire._frames", "picloud.wire._messages", "picloud.wire._publish", "picloud.wire.mqtt._packets")
    if all(importlib.util.find_spec(name) is not None for name in twins):
        assert line.endswith(", C speedups: frames, messages, packets, publish")
    else:
        assert ", pure Python (not built: " in line


def test_a_twin_that_fails_to_import_says_how(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A twin that is there but does not load (built for another Python) is named with its error."""
    package = tmp_path / "twinpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_broken.py").write_text("raise ImportError('undefined symbol: PyFoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(speedups.DISABLE_ENV, raising=False)
    monkeypatch.setattr(speedups, "LOADED", {})
    monkeypatch.setattr(speedups, "MISSING", {})
    monkeypatch.setattr(speedups, "USERS", ())
    assert speedups.load("twinpkg._broken") is None
    assert speedups.load("twinpkg._absent") is None
    assert speedups.describe() == "pure Python (not built: absent; broken: undefined symbol: PyFoo)"
