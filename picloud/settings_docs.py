"""The settings docs, made from the table in picloud/config.py.

Two renderings of the table: ``rst_table()``, the table of
docs/configuration.rst, which the docs' ``picloud-settings`` directive
(docs/_ext/picloud_settings.py) renders whenever the docs are built, so no
copy of it is checked in; and ``env_file()``, the settings in
etc/default/picloud, generated between marker comments (the prose around them
is written by hand). After a change to the table::

    python -m picloud.settings_docs --write     # from the top of the checkout

tests/test_settings_docs.py fails while etc/default/picloud differs from what
the table makes. ``--rst`` and ``--env-file`` print the generated text.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

from .config import MIB, SETTINGS
from .setting import Setting

ENV_BEGIN = (
    "# Generated from the settings table in picloud/config.py\n"
    "# (python -m picloud.settings_docs --write); edit it there.\n"
)
ENV_END = "# End of the generated settings.\n"

# Spans that read as code in the docs: `code`, --options, URLs, $VARS/paths,
# ENV_NAMES and /routes. Without this docutils would make links of the URLs.
_CODE = re.compile(
    r"`(?P<quoted>[^`]+)`"
    r"|(?P<code>--[a-z][a-z-]*|[a-z]+://(?:[^\s,;()]*[^\s.,;()])?|\$[A-Z_]+[\w/.]*\w|\b[A-Z]+_[A-Z_]+\b"
    r"|(?<![\w/])/\w[\w/.]*\w)"
)


def _rst_inline(text: str) -> str:
    return _CODE.sub(lambda m: f"``{m.group('quoted') or m.group('code')}``", text)


def _rst_option(setting: Setting[Any]) -> str:
    if setting.any_value:
        return f"``{setting.option}/--no-{setting.option[2:]}``"
    return f"``{setting.option}``"


def _rst_default(setting: Setting[Any]) -> str:
    value = setting.default
    if setting.shown is not None:
        return setting.shown
    if value is None:
        return "unset"
    if setting.kind == "bool":
        return "on" if value else "off"
    if setting.kind == "int" and value >= MIB and value % MIB == 0:
        return f"{value // MIB} MiB"
    if setting.kind == "float":
        return f"``{value:g}``"
    return f"``{value}``"


def _rst_meaning(setting: Setting[Any]) -> str:
    meaning = _rst_inline(setting.description)
    if setting.choices:
        meaning += " One of " + ", ".join(f"``{choice}``" for choice in setting.choices) + "."
    return meaning


def rst_table(settings: Sequence[Setting[Any]] = SETTINGS) -> str:
    """An RST simple table of the settings, a row with its name before each group."""
    rows: list[tuple[str, ...]] = []
    group = None
    for setting in settings:
        if setting.group != group:
            group = setting.group
            rows.append((f"**{group}**", "", "", ""))
        rows.append((_rst_option(setting), f"``{setting.env}``", _rst_default(setting), _rst_meaning(setting)))
    header = ("option", "environment", "default", "meaning")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    # The last column's text may run past its rule; a full-width rule would
    # only make every line of --rst's output longer.
    widths[-1] = min(widths[-1], 60)
    rule = "  ".join("=" * width for width in widths)

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

    return "\n".join([rule, line(header), rule, *map(line, rows), rule]) + "\n"


def _env_value(setting: Setting[Any]) -> str:
    value = setting.default
    if setting.example is not None:
        return setting.example
    if setting.factory is not None or value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, tuple):
        return " ".join(value)
    return str(value)


def env_file(settings: Sequence[Setting[Any]] = SETTINGS) -> str:
    """Every setting commented out, with its help and commentary above it."""
    blocks = []
    group = None
    for setting in settings:
        if setting.group != group:
            group = setting.group
            blocks.append(f"# --- {group} ---")
        words = [setting.description]
        if setting.choices:
            words.append("One of: " + ", ".join(setting.choices) + ".")
        if setting.shown is not None:
            words.append(f"Default: {setting.shown}.")
        if setting.doc:
            words.append(setting.doc)
        if setting.kind == "bool" and not setting.any_value:
            words.append("1 turns it on.")
        comment = textwrap.fill(
            " ".join(words), width=78, initial_indent="# ", subsequent_indent="# ",
            break_long_words=False, break_on_hyphens=False,
        )
        blocks.append(f"{comment}\n#{setting.env}={_env_value(setting)}")
    return "\n\n".join(blocks) + "\n"


# File (from the top of the checkout) -> its markers and what goes between them.
DOCS: dict[str, tuple[str, str, Callable[[], str]]] = {
    "etc/default/picloud": (ENV_BEGIN, ENV_END, lambda: "\n" + env_file() + "\n"),
}


def splice(text: str, begin: str, end: str, generated: str) -> str:
    """``text`` with what is between the ``begin`` and ``end`` markers replaced."""
    start = text.find(begin)
    if start < 0:
        raise ValueError(f"no marker {begin.splitlines()[0]!r}")
    start += len(begin)
    stop = text.find(end, start)
    if stop < 0:
        raise ValueError(f"no marker {end.splitlines()[0]!r}")
    return text[:start] + generated + text[stop:]


def stale(root: Path, write: bool = False) -> list[str]:
    """The files under ``root`` whose generated text is out of date (rewritten if ``write``)."""
    out_of_date = []
    for name, (begin, end, generate) in DOCS.items():
        path = root / name
        text = path.read_text()
        try:
            fresh = splice(text, begin, end, generate())
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if fresh != text:
            out_of_date.append(name)
            if write:
                path.write_text(fresh)
    return out_of_date


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m picloud.settings_docs", description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--rst", action="store_true", help="print docs/configuration.rst's settings table")
    what.add_argument("--env-file", action="store_true", help="print etc/default/picloud's settings")
    what.add_argument("--write", action="store_true", help="bring the docs under --root up to date")
    what.add_argument("--check", action="store_true", help="exit 1 if the docs under --root are out of date")
    parser.add_argument("--root", type=Path, default=Path("."), help="the top of the checkout [default: .]")
    args = parser.parse_args(argv)
    if args.rst or args.env_file:
        sys.stdout.write(rst_table() if args.rst else env_file())
        return 0
    try:
        changed = stale(args.root, write=args.write)
    except (OSError, ValueError) as exc:
        parser.exit(1, f"error: {exc}\n")
    for name in changed:
        print(f"{'rewrote' if args.write else 'out of date'}: {name}")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
