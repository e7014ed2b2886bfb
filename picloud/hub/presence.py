"""Presence: a retained ``$SYS/clients/<client name>`` event per client name.

Its data is ``{"online": true|false, "since": "<RFC 3339>"}``: online while
at least one ``/subscribe`` or ``/publish`` connection of that name is open.
A dashboard subscribes to ``$SYS/clients/+`` and gets every device's state at
once (MQTT users know this as a last will). Clients cannot publish under
``$SYS/``; only this module does.

With several hubs (Redis broker) presence is the cluster's: the values are
retained in Redis, and a name is online while any live hub holds one of its
connections. A hub announces a change only when no other hub holds the name
(as their last heartbeats said), and every heartbeat corrects what Redis says:
each hub re-announces the names it holds if Redis says offline, and one hub
(the lowest node id) announces offline the names no live hub holds, which is
how the clients of a hub that died go offline within a few seconds.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Protocol

from ..exceptions import ProtocolError
from ..wire.codec import encode_publish_json, loads, stamp_now, validate_event
from .message import Message
from .retained import Retained

log = logging.getLogger("picloud.presence")

PREFIX = "$SYS/clients/"

#: Offline client names whose presence is kept; past this the longest
#: offline are forgotten (their retained value cleared). Devices have stable
#: names, but pages and scripts may invent a new one on every start, and a
#: hub must not keep each of those forever.
MAX_OFFLINE = 1000


def presence_event(client_name: str) -> str:
    return PREFIX + client_name


def presence_frame(event: str, online: bool | None) -> bytes:
    """``encode_publish(event, {"online": online, "since": now}, now)`` (data
    null for None), byte for byte, with the time formatted once: every
    connection and disconnection announces one."""
    stamp = stamp_now()
    if online is None:
        return encode_publish_json(event, b"null", stamp)
    return encode_publish_json(event, b'{"online":%s,"since":%s}' % (b"true" if online else b"false", stamp), stamp)


class Relay(Protocol):
    """What presence needs of the broker (hub/broker.py)."""

    def publish(self, message: Message) -> None: ...
    def elsewhere(self, client_name: str) -> bool: ...


class Presence:
    def __init__(self, retained: Retained, broker: Relay) -> None:
        self.retained = retained
        self.broker = broker
        self._open: dict[str, int] = {}  # client name -> open connections
        self._offline: dict[str, None] = {}  # offline names, longest offline first
        self._joined: dict[str, float] = {}  # client name -> monotonic time it came online here
        self._mark_stale_offline()

    def joined(self, client_name: str) -> None:
        count = self._open.get(client_name, 0)
        self._open[client_name] = count + 1
        if not count:
            self._offline.pop(client_name, None)
            if self.broker.elsewhere(client_name):
                # Not announced, so nothing of ours can be on its way to
                # Redis: the next heartbeat may correct at once.
                self._joined[client_name] = 0.0
            else:
                self._joined[client_name] = time.monotonic()
                self._announce(client_name, True)

    def left(self, client_name: str) -> None:
        count = self._open.get(client_name, 0)
        if count <= 1:
            self._open.pop(client_name, None)
            self._joined.pop(client_name, None)
            if count and not self.broker.elsewhere(client_name):
                self._announce(client_name, False)
                self._went_offline(client_name)
        else:
            self._open[client_name] = count - 1

    def online(self, client_name: str) -> bool:
        """Whether a connection of ``client_name`` is open, here or (as the
        other hubs' last heartbeats said) on another hub."""
        return client_name in self._open or self.broker.elsewhere(client_name)

    def forget(self, client_name: str) -> bool:
        """Clear the presence of ``client_name`` (a device gone for good): its
        retained value is cleared as any is, through the broker, so that
        subscribers of ``$SYS/clients/+`` are told (data null) and, with
        Redis, every hub. False, and nothing done, while it is online."""
        if self.online(client_name):
            return False
        self._offline.pop(client_name, None)
        self._announce(client_name, None)
        return True

    def _mark_stale_offline(self) -> None:
        """Values kept from before a restart (or crash) still saying online
        are not true any more: nobody is connected to a hub that just started."""
        for value in list(self.retained.items(PREFIX + "#")):
            try:
                online = loads(value.payload)["data"]["online"]
            except (KeyError, TypeError, ProtocolError):
                continue
            name = value.event[len(PREFIX):]
            if online is True:
                self._announce(name, False)
            self._went_offline(name)

    def _went_offline(self, client_name: str) -> None:
        offline = self._offline
        offline[client_name] = None
        while len(offline) > MAX_OFFLINE:
            oldest = next(iter(offline))
            del offline[oldest]
            self._announce(oldest, None)

    def _announce(self, client_name: str, online: bool | None) -> None:
        """Publish the client's presence; None forgets it (clears the value)."""
        event = presence_event(client_name)
        try:
            validate_event(event)
        except ProtocolError as exc:
            log.debug("no presence for client %r: %s", client_name, exc)
            return
        message = Message(event, presence_frame(event, online))
        message.retain = True
        message.clears = online is None
        # Not counted as published by clients: PubSub.publish_message is not called.
        self.broker.publish(message)

    def reconcile(
        self, states: dict[str, tuple[bool, float]], elsewhere: set[str], leader: bool, grace: float
    ) -> None:
        """Correct the cluster's presence values (``states``: name -> (online,
        since as a unix time)), leaving alone what changed within ``grace`` s."""
        now = time.monotonic()
        for name, joined in list(self._joined.items()):
            if now - joined > grace and not states.get(name, (False, 0.0))[0]:
                self._announce(name, True)
        if not leader:
            return
        wall = time.time()
        for name, (online, since) in states.items():
            if online and wall - since > grace and name not in self._open and name not in elsewhere:
                self._announce(name, False)


def parse_state(frame: bytes) -> tuple[bool, float] | None:
    """(online, since as a unix time) of a presence frame, None if unreadable."""
    try:
        data = loads(frame)["data"]
        since = datetime.strptime(data["since"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        return data["online"] is True, since
    except (KeyError, TypeError, ValueError, ProtocolError):
        return None
