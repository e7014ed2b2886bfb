"""The other tree of ``python -m bench --baseline REV``: a git worktree of REV
and a venv of its own, so that its hub runs REV's code and nothing else.

Both are kept under a cache folder outside the repository,
``<cache>/<sha12>/tree`` and ``<cache>/<sha12>/venv``, and reused while they
are at that commit: a venv takes a minute and PyPI to make.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .procs import BENCH_DIR

REPO = BENCH_DIR.parent
# Written into the venv once its install went through: a venv without it was
# interrupted half way and is made again.
READY = "picloud-bench-ready"


class BaselineError(RuntimeError):
    """REV is unknown, or its tree or venv could not be made."""


@dataclass
class Baseline:
    rev: str  # as given on the command line
    sha: str  # the full commit
    tree: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def describe(self) -> dict[str, str]:
        return {"rev": self.rev, "sha": self.sha, "tree": str(self.tree)}


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "picloud-bench"


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd``; its output, stripped. Failures raise BaselineError."""
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BaselineError(f"git {args[0]} in {cwd} failed: {why}")
    return done.stdout.strip()


def resolve(rev: str, repo: Path = REPO) -> str:
    """The full sha of the commit ``rev`` names in ``repo``."""
    if not rev or rev.startswith("-"):  # would be read as an option
        raise BaselineError(f"bad revision {rev!r}")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except BaselineError:
        raise BaselineError(f"unknown revision {rev!r} in {repo}") from None


def tree_state(repo: Path = REPO) -> dict[str, Any]:
    """The commit a checkout is at, whether tracked files differ from it, and
    where the current interpreter's hub imports picloud from (PYTHONPATH or
    the working directory may name another tree than the bench's)."""
    changed = git(repo, "status", "--porcelain", "--untracked-files=no")
    return {"sha": git(repo, "rev-parse", "HEAD"), "dirty": bool(changed),
            "picloud": str(picloud_location([sys.executable]))}


def _common_dir(path: Path) -> Path:
    return (path / git(path, "rev-parse", "--git-common-dir")).resolve()


def prepare_tree(repo: Path, sha: str, tree: Path) -> Path:
    """A worktree of ``repo`` at ``sha`` in ``tree``: the one there if it is
    ours and clean, else a new one. Never a branch: other worktrees may hold them."""
    if tree.is_dir() and any(tree.iterdir()):
        try:
            ours = (Path(git(tree, "rev-parse", "--show-toplevel")).resolve() == tree.resolve()
                    and _common_dir(tree) == _common_dir(repo))
        except BaselineError:
            ours = False
        if not ours:
            raise BaselineError(f"{tree} is not a worktree of {repo}; remove it")
        if git(tree, "rev-parse", "HEAD") != sha:
            git(tree, "checkout", "--quiet", "--detach", sha)
        if git(tree, "status", "--porcelain", "--untracked-files=no"):
            raise BaselineError(f"baseline tree {tree} has local changes")
        return tree
    tree.parent.mkdir(parents=True, exist_ok=True)
    # --force: a tree deleted by hand stays registered (until a prune), and
    # without it git refuses to add one at the same path again.
    git(repo, "worktree", "add", "--force", "--detach", "--quiet", str(tree), sha)
    return tree


def create_venv(venv: Path, python: str = sys.executable, with_pip: bool = True) -> Path:
    """A fresh venv (an old one there is cleared); returns its interpreter.

    Made by the interpreter the bench runs on, so both hubs run on the same Python.
    """
    args = [python, "-m", "venv", "--clear", *([] if with_pip else ["--without-pip"]), str(venv)]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise BaselineError(f"venv {venv} failed: {done.stderr.strip()[-500:]}")
    return venv / "bin" / "python"


def pip_install(venv: Path, tree: Path, timeout: float = 1200.0) -> None:
    """The tree, editable, with the ``speed`` extra (uvloop), as the current tree's hub has it."""
    args = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", f"{tree}[speed]"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BaselineError(f"pip install of {tree} took over {timeout:.0f} s") from None
    if done.returncode != 0:
        raise BaselineError(f"pip install of {tree} failed: {(done.stderr or done.stdout).strip()[-1000:]}")


def picloud_location(python: list[str]) -> Path:
    """The picloud a hub started as ``[*python, "-m", "picloud"]`` from the
    current directory would import (``-c`` puts the same folder first on sys.path)."""
    done = subprocess.run([*python, "-c", "import picloud; print(picloud.__file__)"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BaselineError(f"picloud does not import with {python[0]}: {done.stderr.strip()[-300:]}")
    return Path(done.stdout.strip()).resolve()


def check_import(venv: Path, tree: Path) -> Path:
    """Where the venv's hub imports picloud from, which must be inside ``tree``:
    a picloud found anywhere else would be measured as the baseline."""
    found = picloud_location([str(venv / "bin" / "python"), "-I"])
    if not found.is_relative_to(tree.resolve()):
        raise BaselineError(f"{venv} imports picloud from {found}, not from {tree}")
    return found


def prepare_venv(venv: Path, tree: Path, sha: str) -> None:
    marker = venv / READY
    if marker.is_file() and marker.read_text().strip() == sha:
        return
    create_venv(venv)
    pip_install(venv, tree)
    check_import(venv, tree)
    marker.write_text(sha + "\n")


def prepare(rev: str, repo: Path = REPO, cache: Optional[Path] = None, install: bool = True) -> Baseline:
    """The tree (and unless ``install`` is false, the venv) for ``rev``."""
    sha = resolve(rev, repo)
    home = (cache or default_cache()) / sha[:12]
    tree = prepare_tree(repo, sha, home / "tree")
    venv = home / "venv"
    if install:
        prepare_venv(venv, tree, sha)
    return Baseline(rev, sha, tree, venv)
