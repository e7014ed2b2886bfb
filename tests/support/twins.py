"""The C twins of the hub's per-message work (picloud/wire/_messages.c),
imported directly rather than through speedups.load, so that the tests
comparing them with their Python references run in the suite's
PICLOUD_PURE_PYTHON=1 pass too. tests/wire/test_speedups.py fails the build
where one is missing."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

try:
    messages: Any = importlib.import_module("picloud.wire._messages")
except ImportError:  # pragma: no cover - tests/wire/test_speedups.py fails the build
    messages = None

needs_messages = pytest.mark.skipif(messages is None, reason="picloud.wire._messages is not built")
