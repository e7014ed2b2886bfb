"""The MQTT listener: accepts TCP connections, keeps the sessions, and once
a second drops clients silent for 1.5 times their keepalive [MQTT-3.1.2-24]
and sessions past ``--mqtt-session-expiry``.

Persistent sessions are saved through the hub's Store (persist.py) and
restored before the port opens; at most ``--mqtt-max-sessions`` of them are
kept while their clients are away, the one away longest ending first.

A second front end on the same hub: the connections count against
``--max-connections`` with the websockets, and those that have not yet sent
an accepted CONNECT against ``--max-pending`` and ``--max-pending-per-ip``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Any, Callable

from tornado.ioloop import PeriodicCallback
from tornado.iostream import IOStream
from tornado.tcpserver import TCPServer

from ...hub.keys import Grant, allows
from ..keepalive import keep_alive_listening, set_tcp_keepalive
from ..openfiles import near_open_files_limit
from ..state import HubState
from .connection import MqttConnection
from .persist import KeyTags, new_salt, restore_sessions, snapshot
from .pool import SessionPool
from .session import Session, nothing

log = logging.getLogger("picloud.mqtt")

SWEEP_EVERY = 1.0


class MqttListener(TCPServer):
    def __init__(self, state: HubState) -> None:
        super().__init__(max_buffer_size=state.config.max_message_bytes + 65536)
        self.state = state
        config = state.config
        state.mqtt_listener = self
        self.connections: set[MqttConnection] = state.mqtt  # shared: key rotation looks at them
        self.sessions: dict[str, Session] = state.mqtt_sessions
        self.away: dict[str, Session] = {}  # persistent sessions without a client, longest away first
        self.pool = SessionPool(queue_limit=config.mqtt_session_queue, queue_bytes=config.max_queue_bytes,
                                max_inflight=config.mqtt_max_inflight, total_bytes=config.mqtt_session_bytes)
        self.ended = 0  # sessions ended past --mqtt-max-sessions
        self.store = state.pubsub.retained.store
        self._tags = KeyTags(new_salt())
        self.closing = False
        self.port = self.tls_port = 0
        self._tls: _TlsAcceptor | None = None
        self._sweeper = PeriodicCallback(self.sweep, SWEEP_EVERY * 1000)
        self.inherited = False  # whether accepted sockets come with keepalive (start_listening)

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
        if not self.inherited:
            set_tcp_keepalive(stream.socket)
        conn = MqttConnection(self, stream, address)
        conn.start_queue(self.state.outbox, stream)  # TCP_NODELAY too
        self.connections.add(conn)
        conn.start()

    # -- sessions ----------------------------------------------------------------------

    def adopt(self, session: Session) -> None:
        """``session`` is the one of its client id from now on."""
        self.sessions[session.client_id] = session
        if session.link is None:
            self.away[session.client_id] = session
        else:
            self.away.pop(session.client_id, None)
        session.changed = nothing if session.clean else self.store.sessions_changed
        session.changed()

    def went_away(self, session: Session) -> None:
        """A persistent session's client left: kept, within the cap."""
        self.away.pop(session.client_id, None)
        self.away[session.client_id] = session
        if self.closing:
            session.connected_at_stop = True  # not one the cap is for
            return
        cap = self.state.config.mqtt_max_sessions
        while len(self.away) > cap:
            oldest = next(iter(self.away.values()))
            if self.ended == 0:
                log.warning("over %d mqtt sessions away: ending the one away longest (%r), and so on",
                            cap, oldest.client_id)
            self.ended += 1
            self.forget(oldest)

    def forget(self, session: Session) -> None:
        """A session ends: its subscriptions go, and it leaves presence."""
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        if self.away.get(session.client_id) is session:
            del self.away[session.client_id]
        self.state.pubsub.disconnect(session)
        session.discard()

    def narrow(self, session: Session, grant: Grant | None) -> bool:
        """An away session under its key's new grant: False (and ended) if the
        key is gone or may no longer subscribe or use its client id; else the
        subscriptions its topics no longer cover go, with what they collected."""
        if grant is None or not allows(grant.role, "subscribe") or not grant.admits(session.client_id):
            self.forget(session)
            return False
        permissions = session.permissions = grant.permissions(session.client_id)
        if permissions is None:
            return True
        for filter_ in [f for f in session.subscriptions if not permissions.may_subscribe(f)]:
            self.state.pubsub.unsubscribe(session, filter_)
            session.set_granted(filter_, None)
        session.keep_only_matched()
        return True

    def snapshot(self) -> Callable[[], bytes]:
        return snapshot(list(self.sessions.values()), self._tags)

    def restore(self) -> None:
        """The sessions saved by the hub before this one (before the port opens)."""
        self.store.keep_sessions(self.snapshot)
        data = self.store.load_sessions()
        if data is None:
            return
        done = restore_sessions(self, data)
        if done.file_unreadable:
            self.store.set_sessions_aside()
        lost = done.expired + done.revoked + done.unreadable
        if done.sessions or lost:
            log.info("restored %d mqtt sessions (%d messages waiting)%s", done.sessions, done.messages,
                     f"; not restored: {done.expired} expired, {done.revoked} of keys gone, "
                     f"{done.unreadable} unreadable" if lost else "")
        if done.subscriptions_dropped:
            log.warning("%d subscriptions of restored mqtt sessions dropped: outside their keys' topics "
                        "or the hub's limits", done.subscriptions_dropped)
        # The cap is for sessions that were away before the hub stopped, not
        # for those whose clients were connected until then (the longest away
        # come first, in leaving order).
        for session in done.were_away[:max(0, len(done.were_away) - self.state.config.mqtt_max_sessions)]:
            self.ended += 1
            self.forget(session)
        pool = self.pool
        if pool.used > pool.total_bytes:  # a smaller --mqtt-session-bytes than before
            pool.fits(0, None)

    def sweep(self) -> None:
        now = time.monotonic()
        for conn in list(self.connections):
            if conn.keepalive and now - conn.last_seen > 1.5 * conn.keepalive and not conn.held:
                log.info("mqtt %s silent for %.0fs (keepalive %ds): closing it",
                         conn.describe(), now - conn.last_seen, conn.keepalive)
                conn.close()
        expiry = self.state.config.mqtt_session_expiry
        for session in list(self.away.values()):  # longest away first
            if session.left_at is None or now - session.left_at <= expiry:
                break
            log.info("mqtt session %r expired", session.client_id)
            self.forget(session)

    def start_listening(self, sockets: list[socket.socket], tls_sockets: list[socket.socket],
                        ssl_options: ssl.SSLContext | None) -> None:
        """Plain MQTT on ``sockets``, MQTT over TLS on ``tls_sockets`` (the
        hub's certificate context: SIGHUP's reload applies to both)."""
        # Keepalive once per port, not per connection (keepalive.py).
        self.inherited = keep_alive_listening([*sockets, *tls_sockets])
        if sockets:
            self.add_sockets(sockets)
            self.port = sockets[0].getsockname()[1]
        if tls_sockets:
            self._tls = _TlsAcceptor(self, ssl_options)
            self._tls.add_sockets(tls_sockets)
            self.tls_port = tls_sockets[0].getsockname()[1]
        self._sweeper.start()

    @property
    def serving(self) -> bool:
        """Whether MQTT is on (/mqtt answers even when no TCP port could be had)."""
        return self._sweeper.is_running()

    def close_all(self) -> None:
        self.closing = True
        self._sweeper.stop()
        self.stop()
        if self._tls is not None:
            self._tls.stop()
        for conn in list(self.connections):
            conn.graceful = True  # the hub is going: no wills for those it closes
            conn.close()


class _TlsAcceptor(TCPServer):
    """Accepts MQTT over TLS; the connections are the listener's, sessions and all."""

    def __init__(self, listener: MqttListener, ssl_options: ssl.SSLContext | None) -> None:
        super().__init__(ssl_options=ssl_options, max_buffer_size=listener.max_buffer_size)
        self.listener = listener

    def handle_stream(self, stream: IOStream, address: Any) -> None:
        self.listener.handle_stream(stream, address)
