"""What a ``/subscribe`` request does: (un)subscribe, catch up, confirm.

Kept apart from the websocket handler so it can be driven without sockets.
The catch-up and the confirmation come from the broker (``PubSub.join``):
on a single hub everything runs inside this call, so the confirmation, the
retained value or the replay, and the registration reach the connection's
queue before any other publish can run on the event loop, and a client that
resumes with ``since`` sees no gap and no duplicate between replay and live.
"""

from __future__ import annotations

from typing import Any, Callable

from ..exceptions import ProtocolError
from ..wire.requests import SubscribeRequest, encode_reply
from .catchup import Joined
from .message import Connection
from .pubsub import PubSub
from .rights import Permissions

Reply = Callable[[bytes], Any]


def handle_request(
    pubsub: PubSub, conn: Connection, request: SubscribeRequest, reply: Reply | None,
    permissions: Permissions | None = None,
) -> None:
    """Carry out ``request`` within the key's ``permissions``; ``reply`` sends
    protocol-2 frames (None: an old client, which gets nothing but publish
    frames). Raises ProtocolError, with the request's ``id``, when the hub
    refuses a subscription."""
    event = request.event
    if event is None:  # unsubscribe:all
        count = pubsub.unsubscribe_all(conn)
        if reply is not None:
            reply(encode_reply("unsubscribed:all", count=count, id=request.id))
    elif request.action == "subscribe":
        confirm = _ignore if reply is None else _confirmation(reply, request.id, request.since is not None)
        try:
            pubsub.join(conn, event, request.since, confirm, permissions)
        except ProtocolError as exc:
            exc.id = request.id
            raise
    else:
        was = pubsub.unsubscribe(conn, event)
        if reply is not None:
            reply(encode_reply("unsubscribed", event=event, id=request.id, was=was))


def _ignore(joined: Joined) -> None:
    """An old client is sent no confirmation."""


def _confirmation(reply: Reply, request_id: Any, resumed: bool) -> Callable[[Joined], None]:
    def confirm(joined: Joined) -> None:
        fields: dict[str, Any] = {"event": joined.event, "id": request_id}
        if joined.already:
            fields["already"] = True
        elif joined.epoch is not None:
            fields["epoch"] = joined.epoch
            fields["seq"] = joined.seq
            if resumed:
                fields["recovered"] = joined.recovered
        reply(encode_reply("subscribed", **fields))

    return confirm
