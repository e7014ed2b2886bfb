"""The open-files limit, and the connection cap that must stay under it.

A hub that runs out of file descriptors spins on EMFILE in accept(); one
that knows its limit refuses with 503 instead, and keeps a few for the
broker, the logs and the refusals themselves.
"""

from __future__ import annotations

import logging

from ..config import Config

try:
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None  # type: ignore[assignment]

log = logging.getLogger("picloud.limits")

#: File descriptors kept free for listening sockets, handshakes that are not
#: yet websockets, the broker and log files.
SPARE_FDS = 64

#: File descriptors kept for the broker, logs and the refusals themselves:
#: a connection accepted into one of these is hung up at once.
RESERVED_FDS = 32


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; return the soft limit now in force."""
    if resource is None:  # pragma: no cover
        return 1 << 20
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return hard if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-files limit from %d to %d: %s", soft, hard, exc)
        return soft
    return hard


def near_open_files_limit(fd: int) -> bool:
    """True when ``fd`` is among the last RESERVED_FDS the process may open.

    File descriptors are handed out lowest first, so a high one means the
    table is nearly full. The limit is read each time, so a change by
    ``prlimit`` counts at once; the syscall costs far less than the accept.
    """
    if resource is None:  # pragma: no cover
        return False
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft != resource.RLIM_INFINITY and fd >= soft - RESERVED_FDS


def fit_connection_cap(config: Config, open_files: int) -> None:
    """Keep ``max_connections`` below what the process can open, so that the
    hub refuses with 503 instead of spinning on EMFILE in accept()."""
    room = max(open_files - SPARE_FDS, 1)
    if config.max_connections > room:
        log.warning(
            "max connections lowered from %d to %d to fit the open-files limit of %d",
            config.max_connections, room, open_files,
        )
        config.max_connections = room
