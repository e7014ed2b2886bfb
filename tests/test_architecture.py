"""The rules of ARCHITECTURE.md, checked: the layers' import contracts
(setup.cfg, [importlinter]), no import cycles, the types (mypy, strict
for the core), and the core's tests free of sockets and Tornado."""

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


BROKER_KINDS = {"memory", "redis", "rediss", "unix", "memory://", "redis://", "rediss://"}


def broker_kind_questions(source: str, name: str) -> list[int]:
    """Lines that ask which broker there is: ``local_only``, a concrete
    broker's class, or a comparison with a broker URL's scheme."""
    lines = []
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Attribute) and node.attr == "local_only":
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in ("RedisBroker", "MemoryBroker"):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = [o.value for o in operands if isinstance(o, ast.Constant)]
            constants += [
                e.value for o in operands if isinstance(o, (ast.Tuple, ast.List, ast.Set))
                for e in o.elts if isinstance(e, ast.Constant)
            ]
            if any(isinstance(c, str) and c in BROKER_KINDS for c in constants):
                lines.append(node.lineno)
    return lines


def test_the_broker_kind_is_never_asked_outside_the_brokers():
    """What differs between brokers is a method of the port, not a branch."""
    asked = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "brokers"):
            continue
        asked += [f"{path.relative_to(ROOT)}:{line}" for line in broker_kind_questions(path.read_text(), str(path))]
    assert asked == []


def test_a_question_of_the_broker_kind_is_found():
    source = (
        "if broker.local_only: pass\n"
        "isinstance(b, RedisBroker)\n"
        "if urlsplit(url).scheme == 'memory': pass\n"
        "if scheme in ('redis', 'rediss'): pass\n"
        "if config.scheme == 'https': pass\n"  # TLS, not a broker: left alone
    )
    assert sorted(broker_kind_questions(source, "example.py")) == [1, 2, 3, 4]


# -- the core's tests need no sockets and no Tornado -------------------------------

CORE_TESTS = ("wire", "hub", "stores")
IO_MODULES = ("tornado", "socket", "ssl", "pytest_tornado", "picloud.server", "picloud.client", "picloud.aclient")
# pytest-tornado's fixtures, and the fixtures of conftest.py that serve a hub or start one.
IO_FIXTURES = {
    "io_loop", "http_server", "http_client", "http_port", "base_url", "https_server", "https_client", "https_port",
    "app", "ws", "hub_process", "run_serve", "redis_server", "hubs", "tls_files",
}


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of ``from <level dots><module> import ...`` in ``package``."""
    if not level:
        return module or ""
    base = package.split(".")[: len(package.split(".")) - level + 1]
    return ".".join([*base, *([module] if module else [])])


def _module_file(name: str, root: Path) -> Path | None:
    path = root.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def io_in(path: Path, root: Path, seen: set[Path] | None = None) -> list[str]:
    """Where ``path`` (a test module, or a tests.* helper it imports, followed)
    imports an I/O module or uses an I/O fixture or pytest-tornado's gen_test."""
    seen = set() if seen is None else seen
    if path in seen:
        return []
    seen.add(path)
    where = path.relative_to(root)
    package = ".".join(where.with_suffix("").parts[:-1])
    found: list[str] = []
    helpers: list[Path] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(node.module, node.level, package)
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        banned = [name for name in names if any(name == m or name.startswith(m + ".") for m in IO_MODULES)]
        if banned:
            found.append(f"{where}:{node.lineno}: imports {banned[0]}")
        helpers += [helper for name in names if name.split(".")[0] == "tests" and (helper := _module_file(name, root))]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for argument in arguments:
                if argument.arg in IO_FIXTURES:
                    found.append(f"{where}:{node.lineno}: {node.name} uses the fixture {argument.arg}")
        if isinstance(node, ast.Attribute) and node.attr == "gen_test":
            found.append(f"{where}:{node.lineno}: a pytest-tornado coroutine (gen_test)")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "usefixtures", "getfixturevalue",
        ):
            for argument in node.args:
                if isinstance(argument, ast.Constant) and argument.value in IO_FIXTURES:
                    found.append(f"{where}:{node.lineno}: uses the fixture {argument.value}")
    for helper in helpers:
        found += [f"{problem} (imported by {where})" for problem in io_in(helper, root, seen)]
    return sorted(found, key=lambda problem: (problem.split(":")[0], int(problem.split(":")[1])))


def test_the_tests_of_the_wire_formats_the_hub_and_the_stores_need_no_sockets_or_tornado():
    found = []
    for layer in CORE_TESTS:
        for path in sorted((ROOT / "tests" / layer).rglob("*.py")):
            found += io_in(path, ROOT)
    assert found == []


def test_the_io_check_finds_imports_fixtures_and_helpers(tmp_path):
    for folder in ("tests/hub", "tests/support"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "tests/support/net.py").write_text("import json\nimport socket\n")
    (tmp_path / "tests/support/clean.py").write_text("import json\n")
    (tmp_path / "tests/hub/test_bad.py").write_text(
        "import tornado.web\n"
        "from picloud import server\n"
        "from picloud.client.wire import hub_urls\n"
        "from ..support import net\n"
        "from tests.support.clean import x\n"
        "import pytest\n"
        "\n"
        "@pytest.mark.gen_test\n"
        "async def test_x(ws, tmp_path):\n"
        "    pass\n"
        "\n"
        "@pytest.mark.usefixtures('io_loop')\n"
        "def test_y(*, app):\n"
        "    pass\n"
    )
    assert io_in(tmp_path / "tests/hub/test_bad.py", tmp_path) == [
        "tests/hub/test_bad.py:1: imports tornado.web",
        "tests/hub/test_bad.py:2: imports picloud.server",
        "tests/hub/test_bad.py:3: imports picloud.client.wire",
        "tests/hub/test_bad.py:8: a pytest-tornado coroutine (gen_test)",
        "tests/hub/test_bad.py:9: test_x uses the fixture ws",
        "tests/hub/test_bad.py:12: uses the fixture io_loop",
        "tests/hub/test_bad.py:13: test_y uses the fixture app",
        "tests/support/net.py:2: imports socket (imported by tests/hub/test_bad.py)",
    ]
