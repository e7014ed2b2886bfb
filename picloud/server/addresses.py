"""Where a running hub can be reached, for the lines it prints at start.

``listening on http://[::]:9000`` names no address anyone can open: a hub
bound to every interface says its host name and its address on the LAN
instead (the one the default route leaves by), so a Pi owner can copy a URL
that works from the phone in their hand.
"""

from __future__ import annotations

import ipaddress
import socket

EVERY_INTERFACE = ("", "0.0.0.0", "::")
# A documentation address (RFC 5737): connecting a UDP socket to it sends
# nothing, and picks the interface a real packet would leave by.
PROBE = ("192.0.2.1", 9)


def lan_address() -> str | None:
    """This machine's IPv4 address on its network, None without one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(PROBE)
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(address).is_loopback else address


def every_interface(host: str | None) -> bool:
    return host is None or host in EVERY_INTERFACE


def hub_urls(host: str | None, port: int, scheme: str) -> list[str]:
    """URLs the hub answers at: the host name and the LAN address when bound
    to every interface, else the one address it is bound to."""
    if host is not None and not every_interface(host):
        return [url(scheme, host, port)]
    names = [socket.gethostname() or "localhost", lan_address()]
    return [url(scheme, name, port) for name in dict.fromkeys(n for n in names if n)]


def url(scheme: str, host: str, port: int) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"
