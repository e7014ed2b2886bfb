"""Finding, building and running pcbench, the Go load generator."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Optional

from . import gotools
from .procs import children_cpu_seconds

# Where the tool lives next to a checkout; PCBENCH_SRC or --pcbench-src point elsewhere.
SOURCE_CANDIDATES = gotools.candidates("pcbench")
# The websocket package its build.sh builds against (Debian's golang-github-gorilla-websocket-dev).
GORILLA = Path("/usr/share/gocode/src/github.com/gorilla/websocket")


class PcbenchError(gotools.ToolError):
    """pcbench is missing, failed to build, or a run failed."""


def source_dir(explicit: str | None = None) -> Path:
    return gotools.source_dir("pcbench", explicit, SOURCE_CANDIDATES, PcbenchError)


def ensure_binary(binary: str | None = None, src: str | None = None) -> Path:
    """Return a pcbench binary: the given one, the cached build, or a fresh build."""
    return gotools.ensure_binary("pcbench", binary, None if binary else source_dir(src), PcbenchError)


def unbuildable(src: str | None = None) -> Optional[str]:
    """Why pcbench can neither be found built nor be built without
    installing anything (its build.sh would apt-get Go), or None."""
    try:
        source = source_dir(src)
    except PcbenchError as exc:
        return str(exc)
    cached = gotools.CACHE / "pcbench"
    if cached.exists() and cached.stat().st_mtime >= (source / "main.go").stat().st_mtime:
        return None
    if shutil.which("go") is None or not GORILLA.is_dir():
        return f"no Go toolchain to build pcbench with (go and {GORILLA})"
    return None


def command(binary: Path, url: str, key: str, **options: Any) -> list[str]:
    """pcbench's command line; options are its flags (``subs=100`` -> ``-subs 100``)."""
    args = [str(binary), "-url", url, "-key", key]
    for name, value in options.items():
        args += [f"-{name}", str(value)]
    return args


def parse_output(text: str) -> dict[str, Any]:
    """The JSON line pcbench prints last (anything before it is ignored)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except ValueError:
                break
            if "deliveries_per_s" in result:
                return result
            break
    raise PcbenchError(f"no result line in pcbench output: {text.strip()[-500:]!r}")


def run(binary: Path, url: str, key: str, options: dict[str, Any], wait: float = 180.0) -> dict[str, Any]:
    """Run pcbench with ``options`` (its flags); ``wait`` bounds the whole run.

    Adds ``pcbench_cpu_s``, the CPU time pcbench itself used: on a machine
    whose cores it shares with the server, that is CPU the server did not get.
    """
    args = command(binary, url, key, **options)
    before = children_cpu_seconds()
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=wait)
    except subprocess.TimeoutExpired:
        raise PcbenchError(f"pcbench did not finish within {wait:.0f} s: {' '.join(args[5:])}") from None
    if done.returncode != 0:
        raise PcbenchError(f"pcbench failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    result = parse_output(done.stdout)
    result["pcbench_cpu_s"] = children_cpu_seconds() - before  # the servers are reaped only later
    return result

