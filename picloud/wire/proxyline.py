"""The PROXY protocol's version 1 header (HAProxy's, which nginx's stream
module sends with ``proxy_protocol on``): one text line in front of the
connection's bytes saying whom the proxy is relaying, so that the hub sees
the device's address, not the proxy's.

    PROXY TCP4 192.0.2.7 127.0.0.1 51234 1883\\r\\n
"""

from __future__ import annotations

import ipaddress

from ..exceptions import ProtocolError

SIGNATURE = b"PROXY "
#: The longest line the specification allows, CRLF included.
MAX_LINE = 107


def split_header(data: bytes) -> tuple[tuple[str, int] | None, bytes] | None:
    """``(source, rest)`` once ``data`` holds the whole line (source None for
    ``PROXY UNKNOWN``), None while it does not yet; ProtocolError if it is
    not a valid line."""
    end = data.find(b"\r\n", 0, MAX_LINE)
    if end < 0:
        if len(data) >= MAX_LINE:
            raise ProtocolError("proxy protocol line longer than 107 bytes")
        return None
    fields = data[:end].split(b" ")
    rest = data[end + 2:]
    if fields[:2] == [b"PROXY", b"UNKNOWN"]:
        return None, rest
    if len(fields) != 6 or fields[0] != b"PROXY" or fields[1] not in (b"TCP4", b"TCP6"):
        raise ProtocolError(f"not a proxy protocol line: {data[:end][:60]!r}")
    try:
        source = ipaddress.ip_address(fields[2].decode("ascii"))
        port = int(fields[4])
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError(f"not a proxy protocol line: {data[:end][:60]!r}") from None
    if (source.version == 4) != (fields[1] == b"TCP4") or not 0 <= port <= 65535:
        raise ProtocolError(f"not a proxy protocol line: {data[:end][:60]!r}")
    return (str(source), port), rest
