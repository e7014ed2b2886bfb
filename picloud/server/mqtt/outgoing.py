"""A message's PUBLISH, built once: the same bytes for every QoS 0
subscriber of a topic, and the parts every QoS 1 and 2 copy shares."""

from __future__ import annotations

from ...hub.message import Message
from ...wire.mqtt.packets import encode_publish, string
from ..outbox import _Framed
from .pool import UNNAMEABLE, mqtt_payload


class Publish(_Framed):
    """A message's QoS 0 PUBLISH, wrapped for the queue, and the parts every
    QoS 1 and 2 copy shares (topic and payload), made once per message; the
    QoS 0 bytes only once a QoS 0 subscriber needs them."""

    __slots__ = ("payload", "retain", "topic")

    def __init__(self, topic: bytes, payload: bytes, retain: bool) -> None:
        super().__init__(None)  # type: ignore[arg-type]  # built by frame, which the queue calls when None
        self.topic = topic
        self.payload = payload
        self.retain = retain

    @property
    def frame(self) -> bytes:
        frame = self._frame
        if frame is None:
            frame = self._frame = encode_publish(self.topic, self.payload, 0, retain=self.retain)
        return frame


def qos0_publish(message: Message) -> Publish:
    """The QoS 0 PUBLISH of a message, built once for every subscriber; RETAIN
    only on a retained value sent for a new subscription [MQTT-3.3.1-9].
    UNNAMEABLE (session.py) for an event no MQTT topic can name."""
    framed = message._mqtt
    if framed is None:
        event = message.event
        if "+" in event or "#" in event:
            framed = message._mqtt = UNNAMEABLE
        else:
            topic = _topics.get(event)
            if topic is None:
                topic = _topic(event)
            framed = message._mqtt = Publish(topic, mqtt_payload(message), message.from_retained)
    return framed


#: Event names as PUBLISH topics, length-prefixed: publishers repeat a few
#: names, so each is encoded once (bounded, as the hub's per-name caches are).
_topics: dict[str, bytes] = {}
MAX_CACHED_TOPICS = 4096


def _topic(event: str) -> bytes:
    if len(_topics) >= MAX_CACHED_TOPICS:
        _topics.clear()
    topic = _topics[event] = string(event)
    return topic
