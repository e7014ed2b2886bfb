"""A copy of the project to build from, so that builds leave the checkout as
it was (tests/test_deploy.py, tests/test_setup.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PARTS = ("picloud", "etc", "fabfile.py", "fabfile_nginx.py", "setup.py", "setup.cfg", "README.rst",
         "pyproject.toml", "MANIFEST.in")


def source_tree(tmp: Path, name: str, version_suffix: str = "") -> Path:
    """A copy of the project in ``tmp / name``, its version changed by ``version_suffix``."""
    src = tmp / name
    src.mkdir()
    for part in PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
        elif (ROOT / part).exists():
            shutil.copy(ROOT / part, src / part)
    init = src / "picloud/__init__.py"
    text = re.sub(r'__version__ = "([^"]+)"', rf'__version__ = "\1{version_suffix}"', init.read_text())
    init.write_text(text)
    return src
