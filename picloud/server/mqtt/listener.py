"""The MQTT listener: accepts TCP connections, keeps the sessions, and once
a second drops clients silent for 1.5 times their keepalive [MQTT-3.1.2-24]
and sessions past ``--mqtt-session-expiry``.

A second front end on the same hub: the connections count against
``--max-connections`` with the websockets, and those that have not yet sent
an accepted CONNECT against ``--max-pending`` and ``--max-pending-per-ip``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import time
from typing import Any

from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream
from tornado.netutil import bind_sockets
from tornado.tcpserver import TCPServer

from ...config import Config
from ...exceptions import ConfigError
from ..keepalive import set_tcp_keepalive
from ..openfiles import near_open_files_limit
from ..state import HubState
from .connection import MqttConnection
from .session import Session

log = logging.getLogger("picloud.mqtt")

DEFAULT_PORT = 1883
SWEEP_EVERY = 1.0


class MqttListener(TCPServer):
    def __init__(self, state: HubState) -> None:
        super().__init__(max_buffer_size=state.config.max_message_bytes + 65536)
        self.state = state
        self.connections: set[MqttConnection] = state.mqtt  # shared: key rotation looks at them
        self.sessions: dict[str, Session] = state.mqtt_sessions
        self.port = 0
        self._sweeper = PeriodicCallback(self.sweep, SWEEP_EVERY * 1000)

    def count(self) -> int:
        return len(self.connections) + len(self.state.sockets)

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        if near_open_files_limit(stream.socket.fileno()):
            log.warning("out of file descriptors: refusing an mqtt connection from %s", address[0])
            stream.close()
            return
        if not self.state.pending.admit(stream, str(address[0])):
            stream.close()
            return
        set_tcp_keepalive(stream.socket)
        stream.set_nodelay(True)
        conn = MqttConnection(self, stream, address)
        conn.start_queue(self.state.outbox, stream)
        self.connections.add(conn)
        conn.task = asyncio.ensure_future(_run(conn))  # held by conn, itself held in connections

    def forget(self, session: Session) -> None:
        """A session ends: its subscriptions go, and it leaves presence."""
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        self.state.pubsub.disconnect(session)

    def sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            if conn.keepalive and now - conn.last_seen > 1.5 * conn.keepalive:
                log.info("mqtt %s silent for %.0fs (keepalive %ds): closing it",
                         conn.describe(), now - conn.last_seen, conn.keepalive)
                conn.close()
        expiry = self.state.config.mqtt_session_expiry
        for session in list(self.sessions.values()):
            if session.link is None and session.left_at is not None and now - session.left_at > expiry:
                log.info("mqtt session %r expired", session.client_id)
                self.forget(session)

    def start_listening(self, sockets: list[socket.socket]) -> None:
        self.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self._sweeper.start()

    def close_all(self) -> None:
        self._sweeper.stop()
        self.stop()
        for conn in list(self.connections):
            conn.graceful = True  # the hub is going: no wills for those it closes
            conn.close()


async def _run(conn: MqttConnection) -> None:
    try:
        await conn.run()
    except Exception:  # never a traceback per client; the hub goes on
        log.exception("mqtt connection %s failed", conn.describe())
        conn.close()


def mqtt_sockets(config: Config) -> list[socket.socket]:
    """The listening sockets for MQTT, or none: off, or the default port taken."""
    if config.no_mqtt or (config.tls and config.mqtt_port is None):
        return []
    port = DEFAULT_PORT if config.mqtt_port is None else config.mqtt_port
    try:
        return bind_sockets(port, config.host or None)
    except OSError as exc:
        if config.mqtt_port is not None:
            raise ConfigError(f"cannot listen for mqtt on port {port}: {(exc.strerror or str(exc)).lower()}") from None
        if exc.errno == errno.EADDRINUSE:
            log.warning("mqtt is off: port %d is taken (by Mosquitto?); give another with --mqtt-port, "
                        "or --no-mqtt to say so", port)
        else:
            log.warning("mqtt is off: cannot listen on port %d: %s", port, exc.strerror)
        return []
