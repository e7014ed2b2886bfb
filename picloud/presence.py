"""Presence: a retained ``$SYS/clients/<client name>`` event per client name.

Its data is ``{"online": true|false, "since": "<RFC 3339>"}``: online while
at least one ``/subscribe`` or ``/publish`` connection of that name is open.
A dashboard subscribes to ``$SYS/clients/+`` and gets every device's state at
once (MQTT users know this as a last will). Clients cannot publish under
``$SYS/``; only this module does.

With several hubs (Redis broker), each hub keeps presence for the
connections it holds and does not relay it: cluster-wide presence needs the
retained values in Redis (see retained.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .exceptions import ProtocolError
from .protocol import encode_publish, loads, utc_timestamp, validate_event

if TYPE_CHECKING:
    from .pubsub import PubSub

log = logging.getLogger("picloud.presence")

PREFIX = "$SYS/clients/"

#: Offline client names whose presence is kept; past this the longest
#: offline are forgotten (their retained value cleared). Devices have stable
#: names, but pages and scripts may invent a new one on every start, and a
#: hub must not keep each of those forever.
MAX_OFFLINE = 1000


def presence_event(client_name: str) -> str:
    return PREFIX + client_name


class Presence:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self._open: dict[str, int] = {}  # client name -> open connections
        self._offline: dict[str, None] = {}  # offline names, longest offline first
        self._mark_stale_offline()

    def joined(self, client_name: str) -> None:
        count = self._open.get(client_name, 0)
        self._open[client_name] = count + 1
        if not count:
            self._offline.pop(client_name, None)
            self._announce(client_name, True)

    def left(self, client_name: str) -> None:
        count = self._open.get(client_name, 0)
        if count <= 1:
            self._open.pop(client_name, None)
            if count:
                self._announce(client_name, False)
                self._went_offline(client_name)
        else:
            self._open[client_name] = count - 1

    def _mark_stale_offline(self) -> None:
        """Values kept from before a restart (or crash) still saying online
        are not true any more: nobody is connected to a hub that just started."""
        for value in list(self.pubsub.retained.items(PREFIX + "#")):
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
        from .pubsub import Message

        event = presence_event(client_name)
        try:
            validate_event(event)
        except ProtocolError as exc:
            log.debug("no presence for client %r: %s", client_name, exc)
            return
        now = utc_timestamp()
        data = None if online is None else {"online": online, "since": now}
        message = Message(event, encode_publish(event, data, now))
        message.retain = True
        message.clears = online is None
        # Not relayed to other hubs: each counts only its own connections, so
        # one hub's "offline" could contradict another's "online".
        self.pubsub.accept(message)
        self.pubsub.deliver(message)
