"""The publish path's C twin (picloud/wire/_publish.c), imported directly
rather than through speedups.load, so that the tests comparing it with its
Python references run in the suite's PICLOUD_PURE_PYTHON=1 pass too.
tests/wire/test_scan.py fails the build where it is missing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

try:
    publish: Any = importlib.import_module("picloud.wire._publish")
except ImportError:  # pragma: no cover - tests/wire/test_scan.py fails the build
    publish = None

needs_publish = pytest.mark.skipif(publish is None, reason="picloud.wire._publish is not built")
