"""The interface every broker implements.

The hub always delivers to its own subscribers itself; a broker only relays
messages to and from other hubs. So the in-memory broker does nothing at all,
and the single-hub path pays for no broker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..pubsub import Message


class Broker:
    #: True when there are no other hubs to relay to.
    local_only = True
    #: Times the connection to other hubs was re-established (shown in /metrics);
    #: a broker with a connection increments it on every reconnect.
    reconnects = 0

    async def start(
        self,
        deliver: Callable[[Message], object],
        describe: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """Begin relaying; ``deliver`` takes messages that other hubs published.

        ``describe`` returns this hub's own part of ``/info`` (subscriptions and
        connections), for brokers that show other hubs the whole cluster.
        """

    def bind(self, pubsub: Any) -> None:
        """Called by the PubSub this broker serves (only when ``local_only`` is false)."""

    async def stop(self) -> None:
        """Stop relaying and release connections."""

    def publish(self, message: Message) -> None:
        """Relay a message accepted by this hub; must not block."""

    def interest(self, event: str, wanted: bool) -> None:
        """This hub's first subscriber to ``event`` arrived, or its last one left."""

    def elsewhere(self, client_name: str) -> bool:
        """Whether another hub holds a connection of ``client_name``."""
        return False

    def cluster_info(self, local: dict[str, Any]) -> dict[str, Any]:
        """``/info`` for the whole cluster, given this hub's part (only called
        when ``local_only`` is false)."""
        return local

    @property
    def state(self) -> str:
        """``ok``, or ``degraded`` while other hubs cannot be reached."""
        return "ok"
