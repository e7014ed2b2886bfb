"""Finding and building the Go load generators, pcbench and mqttbench.

Both live next to a checkout (the project's sources sit beside a shared/
directory) as a folder with main.go and a build.sh that takes the output
path; a build goes to bench/.cache (ignored by git), since the tool's own
folder may be read-only.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from .procs import BENCH_DIR

REPO = BENCH_DIR.parent
CACHE = BENCH_DIR / ".cache"


class ToolError(RuntimeError):
    """A program the bench runs (a load generator, Mosquitto) is missing, failed to build, or failed."""


def candidates(tool: str) -> tuple[Path, ...]:
    """Where ``tool``'s sources are looked for when none are named."""
    return (REPO.parent / "shared" / "tools" / tool, REPO.parent.parent / "shared" / "tools" / tool)


def source_dir(tool: str, explicit: str | None, tried: Sequence[Path], error: type[ToolError]) -> Path:
    """The folder named (on the command line, else in $TOOL_SRC), or the first of ``tried``."""
    chosen = explicit or os.environ.get(f"{tool.upper()}_SRC")
    folders = [Path(chosen)] if chosen else list(tried)
    for folder in folders:
        if (folder / "build.sh").is_file():
            return folder
    raise error(
        f"{tool} sources not found (tried {', '.join(str(f) for f in folders)}); "
        f"pass --{tool}-src DIR or --{tool} BINARY"
    )


def ensure_binary(tool: str, binary: str | None, source: Path | None, error: type[ToolError]) -> Path:
    """The given binary, else the cached build while it is newer than
    ``source``'s main.go, else a fresh build (build.sh installs Debian's Go
    when it is missing)."""
    if binary:
        path = Path(binary)
        if not os.access(path, os.X_OK):
            raise error(f"{tool} binary not executable: {path}")
        return path
    if source is None:
        raise error(f"no {tool} binary and no sources to build it from")
    out = CACHE / tool
    if out.exists() and out.stat().st_mtime >= (source / "main.go").stat().st_mtime:
        return out
    CACHE.mkdir(exist_ok=True)
    done = subprocess.run(["bash", str(source / "build.sh"), str(out)], capture_output=True, text=True)
    if done.returncode != 0 or not out.exists():
        raise error(f"{tool} build failed: {(done.stderr or done.stdout).strip()[-1000:]}")
    return out
