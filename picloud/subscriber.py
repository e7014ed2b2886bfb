"""What a ``/subscribe`` request does: (un)subscribe, catch up, confirm.

Kept apart from the handler so it can be driven without sockets. Everything
runs synchronously inside one ``on_message`` call: the confirmation, the
retained value or the replay, and the registration reach the connection's
queue before any other publish can run on the event loop, so a client that
resumes with ``since`` sees no gap and no duplicate between replay and live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Protocol

from .exceptions import ProtocolError
from .protocol2 import SubscribeRequest, encode_reply
from .topics import is_filter

if TYPE_CHECKING:
    from .pubsub import Message, PubSub


class Subscriber(Protocol):
    def deliver(self, message: Message) -> None: ...


def handle_request(
    pubsub: PubSub,
    conn: Subscriber,
    request: SubscribeRequest,
    reply: Callable[[bytes], Any] | None,
    max_subscriptions: int | None = None,
) -> None:
    """Carry out ``request``; ``reply`` sends protocol-2 frames (None: an old
    client, which gets nothing but publish frames). Raises ProtocolError
    when a new subscription would go over ``max_subscriptions``."""
    event = request.event
    if event is None:  # unsubscribe:all
        count = pubsub.unsubscribe_all(conn)  # type: ignore[arg-type]
        if reply is not None:
            reply(encode_reply("unsubscribed:all", count=count, id=request.id))
    elif request.action == "subscribe":
        if (
            max_subscriptions is not None
            and pubsub.subscription_count(conn) >= max_subscriptions  # type: ignore[arg-type]
            and not pubsub.is_subscribed(conn, event)  # type: ignore[arg-type]
        ):
            raise ProtocolError(f"too many subscriptions (limit {max_subscriptions})", id=request.id)
        if not pubsub.broker.local_only:
            from .catchup import subscribe  # the catch-up is read from Redis

            subscribe(pubsub, conn, request, reply)
            return
        joined = pubsub.join(conn, event, request.since)
        if reply is not None:
            fields: dict[str, Any] = {"event": event, "id": request.id}
            if joined is None:
                fields["already"] = True
            elif not is_filter(event):
                fields["epoch"] = pubsub.history.epoch
                fields["seq"] = pubsub.history.last_seq(event)
                if request.since is not None:
                    fields["recovered"] = joined[1]
            reply(encode_reply("subscribed", **fields))
        if joined is not None:
            for message in joined[0]:
                conn.deliver(message)
    else:
        was = pubsub.unsubscribe(conn, event)  # type: ignore[arg-type]
        if reply is not None:
            reply(encode_reply("unsubscribed", event=event, id=request.id, was=was))
