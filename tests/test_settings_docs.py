"""The docs made from the settings table (picloud/settings_docs.py):
etc/default/picloud, checked in as generated, and the table of
docs/configuration.rst, rendered at build time by the docs' ``picloud-settings``
directive (docs/_ext/picloud_settings.py) as valid reStructuredText."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from picloud import settings_docs
from picloud.config import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "docs/_ext/picloud_settings.py"

pytestmark = pytest.mark.usefixtures("clean_environment")


def load_extension():
    spec = importlib.util.spec_from_file_location("picloud_settings", EXTENSION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse(text: str):
    """The doctree of ``text``, and every docutils message (info level and up)."""
    docutils_core = pytest.importorskip("docutils.core")
    warnings: list[str] = []

    class Stream:
        def write(self, text: str) -> None:
            warnings.append(text)

    doctree = docutils_core.publish_doctree(
        text, settings_overrides={"warning_stream": Stream(), "report_level": 1}
    )
    return doctree, warnings


def test_the_checked_in_docs_are_what_the_table_makes():
    assert list(settings_docs.DOCS) == ["etc/default/picloud"]
    assert settings_docs.stale(ROOT) == [], "run: python -m picloud.settings_docs --write"


def test_the_settings_docs_check_and_write(tmp_path):
    for name in settings_docs.DOCS:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text().replace("#PORT=9000", "#PORT=80"))
    assert settings_docs.stale(tmp_path) == ["etc/default/picloud"]
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert settings_docs.main(["--write", "--root", str(tmp_path)]) == 0
    assert settings_docs.main(["--check", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "etc/default/picloud").read_text() == (ROOT / "etc/default/picloud").read_text()
    with pytest.raises(ValueError, match=re.escape("no marker '# End of the generated settings.'")):
        settings_docs.splice(settings_docs.ENV_BEGIN, settings_docs.ENV_BEGIN, settings_docs.ENV_END, "")


def test_the_rst_table_is_printed(capsys):
    assert settings_docs.main(["--rst"]) == 0
    assert capsys.readouterr().out == settings_docs.rst_table()


def test_the_docs_directive_renders_the_table_as_valid_rst():
    extension = load_extension()
    assert extension.table_lines() == settings_docs.rst_table().splitlines()
    extension.register()
    doctree, warnings = parse(f".. {extension.NAME}::\n")
    assert warnings == []
    (table,) = doctree.findall(lambda node: node.tagname == "table")
    assert extension.NAME in table["classes"]
    rows = list(table.findall(lambda node: node.tagname == "row"))
    assert len(rows) == 1 + len({row.group for row in SETTINGS}) + len(SETTINGS)
    cells = [[entry.astext() for entry in row.findall(lambda node: node.tagname == "entry")] for row in rows]
    documented = {(cell[0], cell[1]) for cell in cells}
    for setting in SETTINGS:
        option = f"{setting.option}/--no-{setting.option[2:]}" if setting.any_value else setting.option
        assert (option, setting.env) in documented


def test_the_configuration_page_holds_the_directive_not_a_copy():
    page = (ROOT / "docs/configuration.rst").read_text()
    assert ".. picloud-settings::" in page
    first_row = next(line for line in settings_docs.rst_table().splitlines() if "``--" in line)
    assert first_row not in page
