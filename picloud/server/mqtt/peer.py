"""What handshake.py and publishing.py use of a connection (connection.py),
so that neither imports it back."""

from __future__ import annotations

from typing import Any, Protocol

from ...hub.keys import Grant
from ...hub.message import Message
from ...hub.rights import Permissions
from ...wire.mqtt.packets import Connect
from ..state import HubState
from .session import Session


class Peer(Protocol):
    state: HubState
    listener: Any  # listener.MqttListener, which imports the connection
    stream: Any
    address: str
    host: str
    session: Session | None
    connect: Connect | None
    keepalive: int
    graceful: bool
    bridge: bool
    grant: Grant | None
    permissions: Permissions | None
    key_fingerprint: bytes | None
    refused_publishes: int
    direct: bool
    query_key: str | None
    replays: Any  # the task of a repeated SUBSCRIBE's retained values (publishing.py)
    closed: bool
    pending_key: Any  # what --max-pending counts it by until CONNECT

    def deliver(self, framed: Any) -> None: ...

    def send(self, data: bytes) -> None: ...
    def send_qos0(self, message: Message) -> None: ...
    def send_publish(self, message: Message, qos: int, packet_id: int, dup: bool) -> None: ...
    def send_pubrel(self, packet_id: int) -> None: ...
    def flush_queue(self) -> None: ...
    def stop_queue(self) -> None: ...
    def close(self) -> None: ...
    def throttled_address(self) -> str | None: ...
    def describe(self) -> str: ...
    def pace(self) -> None: ...
    def end_pace(self) -> None: ...
