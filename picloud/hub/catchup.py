"""What a new subscription is told, and who holds its messages meanwhile.

A subscription's catch-up (the retained value, or with ``since`` what came
after it) is read where the broker keeps it. Where that read must wait (in
Redis, say), a ``StandIn`` takes the connection's place among the event's
subscribers and collects what is published meanwhile; once the catch-up is
sent, the broker hands over what the stand-in collected and the connection
goes live (``PubSub.go_live``): no gap, no duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

from .message import Connection, Message


@dataclass(frozen=True)
class Joined:
    """A subscription's confirmation.

    ``epoch`` and ``seq`` (the event's last) are given for exact names only;
    ``recovered`` says, when the client resumed with ``since``, whether
    nothing after it was lost (None without ``since``).
    """

    event: str
    already: bool = False  # it was subscribed before: nothing more follows
    epoch: str | None = None
    seq: int | None = None
    recovered: bool | None = None


class StandIn:
    """Takes a connection's place in one event's subscribers, collecting."""

    __slots__ = ("buffer", "conn")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffer: list[Message] = []

    def deliver(self, message: Message) -> None:
        self.buffer.append(message)

    # Equal to the connection it stands in for, so that unsubscribing the
    # connection, and /info, find it.
    def __hash__(self) -> int:
        return hash(self.conn)

    def __eq__(self, other: object) -> bool:
        return other is self.conn or other is self
