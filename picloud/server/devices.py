"""``POST /devices/forget``: clear the presence of a device gone for good.

The body is ``{"client_name": "NAME"}``; only an admin key may. The retained
``$SYS/clients/NAME`` value is cleared as any retained value is
(hub/presence.py ``Presence.forget``): subscribers of ``$SYS/clients/+`` are
told (``"data": null``) and, with Redis, every hub forgets it. Answers 200
``{"forgotten": NAME}`` once the clear is kept (on disk, or in Redis), 409
while the name has an open connection on any hub, 404 for a name with no
presence, 400 for a bad body.
"""

from __future__ import annotations

from typing import Any

import ujson
from tornado.web import RequestHandler

from ..exceptions import BrokerError, ProtocolError
from ..hub.presence import presence_event
from ..wire.codec import loads, validate_client_name
from ..wire.framefields import event_in
from .access import AccessMixin, Refused
from .queries import broker_answer

EXAMPLE = '{"client_name": "NAME"}'


class ForgetDeviceHTTP(AccessMixin, RequestHandler):
    needs_client_name = False
    action = "admin"
    SUPPORTED_METHODS = ("POST",)

    def prepare(self) -> None:
        self.check_access()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")

    async def post(self) -> None:
        name = client_name_in(self.request.body)
        event = presence_event(name)
        if self.permissions is not None and not self.permissions.may_use(event):
            raise Refused(403, str(self.permissions.refuse("forget", event)))
        pubsub = self.state.pubsub
        presence = pubsub.presence
        if presence.online(name):
            raise Refused(409, f"client {name!r} is online")
        # Through the broker: with Redis the values are there, not here. A
        # name like "+" makes a filter of the event, so the match is exact.
        frames = await broker_answer(pubsub.broker.retained_frames(event))
        if not any(event_in(frame) == event for frame in frames):
            raise Refused(404, f"unknown client name {name!r}")
        if not presence.forget(name):  # it came back while Redis answered
            raise Refused(409, f"client {name!r} is online")
        try:
            await pubsub.stored()
        except (OSError, BrokerError) as exc:
            raise Refused(503, f"{exc}: forgotten here, not kept") from None
        self.finish(ujson.dumps({"forgotten": name}, ensure_ascii=False, escape_forward_slashes=False))


def client_name_in(body: bytes) -> str:
    """The name a forget body gives; Refused (400) naming what is wrong."""
    try:
        doc: Any = loads(body)
    except ProtocolError as exc:
        raise Refused(400, f"{exc}: send {EXAMPLE}") from None
    if not isinstance(doc, dict):
        raise Refused(400, f"the body must be a json object like {EXAMPLE}, not {short(doc)}")
    if "client_name" not in doc:
        raise Refused(400, f"missing 'client_name': send {EXAMPLE}")
    name = doc["client_name"]
    if not isinstance(name, str) or not name:
        raise Refused(400, f"'client_name' must be a non-empty string, not {short(name)}")
    try:
        return validate_client_name(name)
    except ProtocolError as exc:
        raise Refused(400, str(exc)) from None


def short(value: Any, limit: int = 40) -> str:
    text = ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    return text if len(text) <= limit else text[:limit - 3] + "..."
