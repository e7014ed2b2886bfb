"""The ``picloud-settings`` directive: the table of every ``picloud serve``
setting, rendered when the docs are built.

docs/configuration.rst holds ``.. picloud-settings::`` and no copy of the
table: the directive parses what ``picloud.settings_docs.rst_table()`` makes
from the settings table in picloud/config.py, the same table ``picloud serve
--help`` is made from, so the page cannot drift from the command.

A plain docutils directive, so tests/test_settings_docs.py can render it
without Sphinx (``register()``, then ``docutils.core.publish_doctree``).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

from picloud import config, settings_docs

NAME = "picloud-settings"


def table_lines() -> list[str]:
    """The table's reStructuredText, one line a line."""
    return settings_docs.rst_table().splitlines()


class PiCloudSettings(Directive):
    """``.. picloud-settings::``: the settings table, parsed in place."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        env = getattr(self.state.document.settings, "env", None)
        if env is not None:
            # Rebuild the page whenever a row of the table changes.
            env.note_dependency(config.__file__)
            env.note_dependency(settings_docs.__file__)
            env.note_dependency(__file__)
        container = nodes.container()
        self.state.nested_parse(StringList(table_lines(), source=f"<{NAME}>"), self.content_offset, container)
        for table in container.findall(nodes.table):
            table["classes"].append(NAME)  # styled by _static/picloud.css
        return container.children


def register() -> None:
    """Make the directive known to plain docutils (outside Sphinx)."""
    directives.register_directive(NAME, PiCloudSettings)


def setup(app: Any) -> dict[str, Any]:
    app.add_directive(NAME, PiCloudSettings)
    app.add_css_file("picloud.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
