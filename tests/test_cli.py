"""The ``picloud`` command (picloud/cli.py)."""

from __future__ import annotations

import subprocess
import sys


def test_python_dash_m_matches_the_console_script():
    module = subprocess.run([sys.executable, "-m", "picloud", "--help"], capture_output=True, text=True)
    assert module.returncode == 0
    assert "serve" in module.stdout and "Usage: picloud" in module.stdout
