"""etc/test-packages.txt is the one list of the system packages the suite
needs: every external program a test runs comes from a package on it, the
README's second command installs them, and .ci/run runs that command."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / "etc/test-packages.txt"
SUBPROCESS_CALLS = {"run", "Popen", "check_call", "check_output", "call"}


def listed() -> dict[str, str]:
    """Package -> its comment."""
    packages = {}
    for line in LIST.read_text().splitlines():
        name, _, comment = line.partition("#")
        if name.strip():
            packages[name.strip()] = comment.strip()
    return packages


def programs_the_tests_run() -> dict[str, str]:
    """Program -> the test file that runs it: the first literal of every
    subprocess call's argument list, absolute paths assigned to module
    constants (CHROMIUM, SSHD) and shutil.which("...") arguments."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in SUBPROCESS_CALLS and node.args and isinstance(node.args[0], ast.List):
                    first = node.args[0].elts[0] if node.args[0].elts else None
                    if isinstance(first, ast.Constant) and isinstance(first.value, str):
                        found.setdefault(first.value, where)
                if node.func.attr == "which" and node.args and isinstance(node.args[0], ast.Constant):
                    found.setdefault(node.args[0].value, where)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
                value = node.value.value
                if isinstance(value, str) and re.fullmatch(r"/usr/s?bin/[\w.+-]+", value):
                    found.setdefault(value, where)
    return found


def owner(program: str) -> str:
    """The Debian package that installs ``program`` (as found on PATH)."""
    path = program if program.startswith("/") else shutil.which(program)
    assert path is not None, f"{program} is not installed: is its package in {LIST.name}?"
    # On a merged-/usr system a package may have installed /bin/x, found as
    # /usr/bin/x; or the path may be a link (redis-server's is).
    candidates = [path, re.sub(r"^/usr/(s?bin)/", r"/\1/", path), str(Path(path).resolve())]
    for candidate in dict.fromkeys(candidates):
        result = subprocess.run(["dpkg-query", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr
    return result.stdout.split(":", 1)[0]


def essential(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Essential}", package], capture_output=True, text=True)
    return result.stdout.strip() == "yes"


def test_every_listed_package_says_which_tests_need_it():
    packages = listed()
    assert packages and all(packages.values()), [name for name, why in packages.items() if not why]


def test_every_program_a_test_runs_comes_from_a_listed_package():
    programs = programs_the_tests_run()
    # What the scan must find, or it found nothing: the list would be unchecked.
    assert {"redis-server", "nginx", "ssh-keygen", "shellcheck", "openssl", "/usr/bin/chromium"} <= set(programs)
    packages = listed()
    unlisted = {
        program: (owner(program), where) for program, where in programs.items()
        if owner(program) not in packages and not essential(owner(program))
    }
    assert not unlisted, f"add to {LIST.name}: {unlisted}"


def test_readme_second_command_installs_them_and_ci_runs_it():
    readme = (ROOT / "README.rst").read_text()
    commands = [line.strip() for line in readme.splitlines() if line.startswith("    ") and "pytest" in line]
    assert commands, "README.rst gives no test command"
    command = commands[0]
    assert command.startswith("bash etc/install-test-packages && ")
    ci = (ROOT / ".ci/run").read_text().splitlines()
    assert command in ci  # verbatim, then the suite again on the pure-Python code
    assert ci[-1] == "PICLOUD_PURE_PYTHON=1 .venv/bin/python -m pytest"
    assert ci[ci.index(command) + 1:-1] == [line for line in ci[ci.index(command) + 1:-1] if line.startswith("#")]
