"""The rules of ARCHITECTURE.md, checked: the layers' import contracts
(setup.cfg, [importlinter]), no import cycles, and the types (mypy, strict
for the core)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "picloud"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_the_layer_contracts_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")  # import-linter's command
    result = run(str(lint_imports), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every strongly connected set of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_module_imports_itself_back():
    # Imports under TYPE_CHECKING and inside functions count: a cycle of
    # types is still a knot for a reader.
    graph = grimp.build_graph("picloud", exclude_type_checking_imports=False)
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle_of_types(tmp_path, monkeypatch):
    package = tmp_path / "knot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    )
    (package / "c.py").write_text("from . import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("knot", exclude_type_checking_imports=False, cache_dir=None)
    assert import_cycles(graph) == [["knot.a", "knot.b"]]


def test_the_types_check():
    result = run(sys.executable, "-m", "mypy")  # configured in setup.cfg
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_broker_kind_is_never_asked_outside_the_brokers():
    """What differs between brokers is a method of the port, not a branch."""
    asked = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "brokers"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "local_only":
                asked.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id in ("RedisBroker", "MemoryBroker"):
                asked.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert asked == []
