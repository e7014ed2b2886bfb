"""The documentation: docs/ builds with Sphinx without a warning, its
configuration page documents every setting of ``picloud serve``, every page
is reachable from the index, and README.rst is a valid front page holding the
two commands a newcomer runs (.ci/run runs the second one)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from picloud.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

SERVE = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/picloud serve"
TEST = (
    "bash etc/install-test-packages && npm ci -s --prefix tests/js && python3 -m venv .venv"
    " && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
)


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The docs built as HTML, afresh, warnings as errors."""
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", str(DOCS), str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


class Codes(HTMLParser):
    """The text of every ``<code>`` element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.codes: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "code":
            if not self.depth:
                self.codes.append("")
            self.depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.codes[-1] += data


def test_the_docs_build_without_warnings(html):
    for page in ("index", "configuration", "internals", "security", "benchmarks"):
        assert (html / f"{page}.html").is_file()
    # ARCHITECTURE.md, through myst-parser.
    assert "Where to change what" in (html / "internals.html").read_text()


def test_every_setting_of_serve_is_on_the_configuration_page(html):
    parser = Codes()
    parser.feed((html / "configuration.html").read_text())
    codes = set(parser.codes)
    missing = []
    for setting in SETTINGS:
        options = [setting.option]
        if setting.any_value:  # --tls/--no-tls
            options = [f"{setting.option}/--no-{setting.option[2:]}"]
        missing += [name for name in [*options, setting.env] if name not in codes]
    assert missing == []


def test_every_page_is_in_the_index_toctree():
    index = (DOCS / "index.rst").read_text()
    listed = set()
    for block in re.findall(r"^\.\. toctree::\n((?:[ \t]+.*\n|\n)+)", index, re.M):
        listed |= {line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith(":")}
    pages = {path.relative_to(DOCS).with_suffix("").as_posix() for path in DOCS.rglob("*.rst")}
    pages -= {"index"}
    pages = {page for page in pages if not page.startswith("_build/")}
    assert pages == listed


def test_the_readme_is_a_short_valid_front_page():
    docutils_core = pytest.importorskip("docutils.core")
    text = (ROOT / "README.rst").read_text()
    assert len(text.splitlines()) <= 250
    warnings: list[str] = []

    class Stream:
        def write(self, message: str) -> None:
            warnings.append(message)

    doctree = docutils_core.publish_doctree(
        text, settings_overrides={"warning_stream": Stream(), "report_level": 1}
    )
    assert warnings == []
    # Each command in a literal block of its own, character for character.
    blocks = [node.astext() for node in doctree.findall(lambda node: node.tagname == "literal_block")]
    assert SERVE in blocks
    assert TEST in blocks
    assert f"    {SERVE}\n" in text and f"    {TEST}\n" in text
    assert ".venv/bin/sphinx-build -W docs docs/_build/html" in text
