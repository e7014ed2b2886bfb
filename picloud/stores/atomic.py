"""Files written so that a crash leaves the old or the new one, never a mix
(temporary file, fsync, rename, fsync of the directory), and what such a
write cut short leaves behind."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path

from ..exceptions import ConfigError

log = logging.getLogger("picloud.store")


def temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def remove_stale_temporaries(path: Path) -> None:
    """Remove what a write cut short by a crash left (as big as the values)."""
    for stale in path.parent.glob(f"{temporary_prefix(path)}*.tmp"):
        try:
            size = stale.stat().st_size
            stale.unlink()
        except OSError as exc:
            log.warning("cannot remove stale %s: %s", stale, exc.strerror)
        else:
            log.warning("removed %s (%d bytes), left by a write that did not finish", stale, size)


def check_writable(directory: Path) -> None:
    """Fail at start, in one line, if the state directory cannot be written:
    else every retained publish would fail, and the log fill, only later."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(
            f"cannot write in the state directory {str(directory)!r}: {reason} "
            "(retained values are kept there: fix its permissions or choose another with --state-dir)"
        ) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # make the rename itself durable
    finally:
        os.close(fd)
