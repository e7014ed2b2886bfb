"""Sphinx configuration of PiCloud's documentation.

Build it from the top of the checkout (the ``docs`` extra installs Sphinx,
furo and myst-parser)::

    .venv/bin/sphinx-build -W docs docs/_build/html

tests/test_docs.py builds it with ``-W --keep-going``: a warning fails the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# picloud itself (for the settings table) and the local extension in _ext/.
sys.path[:0] = [str(HERE.parent), str(HERE / "_ext")]

from picloud import __version__  # noqa: E402

project = "PiCloud"
author = "the PiCloud authors"
copyright = "the PiCloud authors"
version = release = __version__

extensions = [
    # internals.rst includes ../ARCHITECTURE.md, which is Markdown.
    "myst_parser",
    # The ``picloud-settings`` directive: the settings table, made from picloud/config.py.
    "picloud_settings",
]
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = "PiCloud"
html_static_path = ["_static"]
