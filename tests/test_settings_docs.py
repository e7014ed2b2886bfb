"""The docs made from the settings table (picloud/settings_docs.py): README.rst's
table and etc/default/picloud, checked in as generated, and valid reStructuredText."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from picloud import settings_docs
from picloud.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_the_checked_in_docs_are_what_the_table_makes():
    assert settings_docs.stale(ROOT) == [], "run: python -m picloud.settings_docs --write"


def test_the_settings_docs_check_and_write(tmp_path):
    for name in settings_docs.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text().replace("#PORT=9000", "#PORT=80"))
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert settings_docs.main(["--write", "--root", str(tmp_path)]) == 0
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "etc/default/picloud").read_text() == (ROOT / "etc/default/picloud").read_text()
    with pytest.raises(ValueError, match=re.escape("no marker '.. End of the generated table.'")):
        settings_docs.splice(settings_docs.RST_BEGIN, settings_docs.RST_BEGIN, settings_docs.RST_END, "")


def test_the_readme_table_is_valid_rst():
    docutils_core = pytest.importorskip("docutils.core")
    warnings: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            warnings.append(text)

    doctree = docutils_core.publish_doctree(
        settings_docs.rst_table(), settings_overrides={"warning_stream": Stream(), "report_level": 1}
    )
    assert warnings == []
    rows = list(doctree.findall(lambda node: node.tagname == "row"))
    assert len(rows) == 1 + len({row.group for row in SETTINGS}) + len(SETTINGS)
