"""Readiness notification to a service manager (the sd_notify protocol).

systemd (``Type=notify``) and Debian's ``start-stop-daemon --notify-await``
both pass a unix datagram socket in ``$NOTIFY_SOCKET`` and wait for
``READY=1`` on it, so a start only counts as done once the hub listens. The
protocol is one datagram of newline-separated ``KEY=value`` lines, which is
less than a dependency's worth of code.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("picloud.systemd")


def notify(*states: str) -> bool:
    """Send ``states`` (e.g. ``"READY=1"``) to the service manager, if any.

    Returns whether a notification was sent. Never raises: a hub whose
    manager went away keeps serving.
    """
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    elif not address.startswith("/"):
        log.warning("unsupported NOTIFY_SOCKET %r", address)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError as exc:
        # Debug only: start-stop-daemon --notify-await listens for READY=1
        # alone and is gone by the time a reload or stop is announced.
        log.debug("cannot notify the service manager at %r: %s", address, exc.strerror or exc)
        return False
    return True
