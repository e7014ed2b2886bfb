"""``python -m bench --baseline REV``: the worktree and venv of REV (real git,
a real venv; only pip's download is left out), the baseline hub's command."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bench import baseline
from bench.baseline import BaselineError
from bench.procs import Server, server_commands

KEY = "bench-key-0123456789"


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        capture_output=True, text=True, check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with two commits of a one-line picloud package."""
    root = tmp_path / "repo"
    (root / "picloud").mkdir(parents=True)
    git(root, "init", "--quiet")
    for version in ("one", "two"):
        (root / "picloud" / "__init__.py").write_text(f"VERSION = {version!r}\n")
        git(root, "add", "picloud")
        git(root, "commit", "--quiet", "-m", version)
    return root


def version_in(tree: Path) -> str:
    return (tree / "picloud" / "__init__.py").read_text().strip()


def test_resolve_names_full_shas_and_refuses_the_rest(repo):
    assert baseline.resolve("HEAD~1", repo) == git(repo, "rev-parse", "HEAD~1")
    assert len(baseline.resolve("HEAD", repo)) == 40
    with pytest.raises(BaselineError, match="unknown revision 'nope'"):
        baseline.resolve("nope", repo)
    with pytest.raises(BaselineError, match="bad revision '--all'"):
        baseline.resolve("--all", repo)
    # A tree is no commit.
    with pytest.raises(BaselineError, match="unknown revision 'HEAD:picloud'"):
        baseline.resolve("HEAD:picloud", repo)


def test_prepare_adds_a_detached_worktree_of_the_commit(repo, tmp_path):
    cache = tmp_path / "cache"
    old = git(repo, "rev-parse", "HEAD~1")
    branches = git(repo, "branch", "--list")
    made = baseline.prepare("HEAD~1", repo, cache, install=False)
    assert made.sha == old and made.rev == "HEAD~1"
    assert made.tree == cache / old[:12] / "tree" and made.venv == cache / old[:12] / "venv"
    assert version_in(made.tree) == "VERSION = 'one'"
    assert git(made.tree, "rev-parse", "HEAD") == old
    assert str(made.tree) in git(repo, "worktree", "list")
    assert git(repo, "branch", "--list") == branches  # no branch made or moved
    assert version_in(repo) == "VERSION = 'two'"  # the repository's own checkout untouched


def test_prepare_reuses_the_worktree_at_that_commit(repo, tmp_path):
    cache = tmp_path / "cache"
    tree = baseline.prepare("HEAD~1", repo, cache, install=False).tree
    (tree / "left-by-the-last-run").write_text("")
    assert baseline.prepare("HEAD~1", repo, cache, install=False).tree == tree
    assert (tree / "left-by-the-last-run").exists()


def test_prepare_puts_a_moved_worktree_back_and_refuses_a_changed_one(repo, tmp_path):
    cache = tmp_path / "cache"
    old, new = git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")
    tree = baseline.prepare(old, repo, cache, install=False).tree
    git(tree, "checkout", "--quiet", "--detach", new)
    assert version_in(tree) == "VERSION = 'two'"
    baseline.prepare(old, repo, cache, install=False)
    assert git(tree, "rev-parse", "HEAD") == old and version_in(tree) == "VERSION = 'one'"

    (tree / "picloud" / "__init__.py").write_text("VERSION = 'edited'\n")
    with pytest.raises(BaselineError, match="has local changes"):
        baseline.prepare(old, repo, cache, install=False)


def test_prepare_makes_again_a_worktree_deleted_by_hand(repo, tmp_path):
    cache = tmp_path / "cache"
    tree = baseline.prepare("HEAD~1", repo, cache, install=False).tree
    shutil.rmtree(tree)  # git still has it registered
    assert baseline.prepare("HEAD~1", repo, cache, install=False).tree == tree
    assert version_in(tree) == "VERSION = 'one'"


def test_prepare_refuses_a_folder_that_is_not_its_worktree(repo, tmp_path):
    cache = tmp_path / "cache"
    sha = git(repo, "rev-parse", "HEAD~1")
    stranger = cache / sha[:12] / "tree"
    stranger.mkdir(parents=True)
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(BaselineError, match="is not a worktree of"):
        baseline.prepare("HEAD~1", repo, cache, install=False)
    assert (stranger / "notes.txt").read_text() == "mine"


def site_packages(venv: Path) -> Path:
    (found,) = (venv / "lib").glob("python3*/site-packages")
    return found


def test_venv_hub_imports_picloud_from_its_tree_alone(repo, tmp_path, monkeypatch):
    tree = baseline.prepare("HEAD~1", repo, tmp_path / "cache", install=False).tree
    venv = tmp_path / "venv"
    python = baseline.create_venv(venv, with_pip=False)
    assert python == venv / "bin" / "python" and python.exists()
    # The current directory and PYTHONPATH both offer the other commit's picloud.
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PYTHONPATH", str(repo))
    with pytest.raises(BaselineError, match="picloud does not import"):
        baseline.check_import(venv, tree)
    # What an editable install leaves in site-packages.
    (site_packages(venv) / "__editable__.picloud.pth").write_text(f"{repo}\n")
    with pytest.raises(BaselineError, match=f"imports picloud from {repo}"):
        baseline.check_import(venv, tree)
    (site_packages(venv) / "__editable__.picloud.pth").write_text(f"{tree}\n")
    assert baseline.check_import(venv, tree) == (tree / "picloud" / "__init__.py").resolve()


def test_prepare_venv_keeps_a_venv_marked_ready_for_that_commit(tmp_path):
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / baseline.READY).write_text("abc\n")
    baseline.prepare_venv(venv, tmp_path / "tree", "abc")  # would fail if it tried to make one
    assert list(venv.iterdir()) == [venv / baseline.READY]


def test_baseline_hub_has_the_current_hubs_flags():
    commands = server_commands(KEY, Path("/cache/venv/bin/python"))
    current, other = commands["picloud"], commands["baseline"]
    assert current[0] == sys.executable
    assert other[:2] == ["/cache/venv/bin/python", "-I"]
    state = current.index("--state-dir") + 1
    assert other[2:] == [*current[1:state], other[state + 1]]
    assert other[state + 1] != current[state]  # a state directory each
    assert "baseline" not in server_commands(KEY)


def test_baseline_hub_command_starts_a_hub():
    # This interpreter as the "venv": the tests run with picloud installed.
    server = Server("baseline", server_commands(KEY, Path(sys.executable))["baseline"])
    try:
        assert server.port > 0 and server.proc.poll() is None
    finally:
        server.stop()


def test_with_rights_the_current_hub_holds_the_key_to_every_topic():
    """``--rights``: the check runs on every message of the current tree's
    hub, while the baseline's hub keeps a plain key."""
    commands = server_commands(KEY, Path(sys.executable), rights=True)
    current = commands["picloud"]
    assert "--api-key" not in current and "--api-key" in commands["baseline"]
    keys_file = Path(current[current.index("--keys-file") + 1])
    assert keys_file.read_text() == f"{KEY} admin #\n"
    server = Server("picloud", current)
    try:
        status = http_status(server.port, KEY)
        assert status == 201  # the key is known, and "#" covers the event
    finally:
        server.stop()


def http_status(port: int, key: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/publish", data=b'{"event": "ev-0"}', method="POST",
        headers={"X-API-Key": key, "X-API-Client-Name": "bench"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status
