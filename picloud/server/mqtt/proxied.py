"""MQTT behind nginx's stream module with ``proxy_protocol on``: the PROXY
line (wire/proxyline.py) in front of a connection from the proxy gives the
device's address, taken for that connection (/info, the wrong-key
throttle). Only behind --xheaders and only from loopback: from anywhere else
those bytes are no CONNECT, and refused as such."""

from __future__ import annotations

from typing import Any

from ...exceptions import ProtocolError
from ...wire.mqtt.packets import MqttError
from ...wire.proxyline import SIGNATURE, split_header
from .handshake import throttled


def unwrap_proxy_line(conn: Any, data: bytes) -> bytes:
    """``data`` without a PROXY line (connection.py, before CONNECT); b""
    while the line is still coming."""
    buffered = (conn._proxy_line or b"") + data
    trusted = conn.state.config.xheaders and throttled(conn.host, True) is None
    if not trusted or not buffered.startswith(SIGNATURE[:len(buffered)]):
        conn._proxy_line = None
        return buffered
    try:
        found = split_header(buffered)
    except ProtocolError as exc:
        raise MqttError(str(exc)) from None
    if found is None:
        conn._proxy_line = buffered
        return b""
    source, rest = found
    conn._proxy_line = None
    if source is not None:
        host, port = source
        conn.host, conn._proxied = host, True
        conn.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return rest
