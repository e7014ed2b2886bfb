"""The topic tree's data: each event seen here, its last value, its count and rate.

A page that shows the tree (as MQTT Explorer does) must not subscribe to
``#``: on a busy hub every message would then go to every open page. The
hub tracks the events instead: ``Subscriptions.deliver`` hands every message
to ``Topics`` (beside the recorder), which pays one dict lookup and a few
attribute updates for it. The value, its time and the rate are worked out
only when asked (``GET /topics``, server/topics.py).

Bounded: at most ``max_events`` events, the least recently published
forgotten (counted), and a last value only while its frame is at most
``MAX_VALUE_BYTES``; of a bigger one just its end, where its ``created_at``
is. Rates come from the counts sampled every ``SAMPLE_EVERY`` s (``sample``,
on the front end's timer), never from a time taken per message. The hub's
own ``$SYS/`` events are not tracked. The tracker sees what is delivered
here: with Redis, what this hub's clients subscribe to or what it records.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from operator import attrgetter

from ..exceptions import ProtocolError
from ..wire.codec import dumps, loads
from ..wire.framefields import created_at_in, publish_parts
from .message import Message

MAX_EVENTS = 2000
#: Frames up to this size are kept as the last value (shared with the message, not copied).
MAX_VALUE_BYTES = 4096
#: Of a bigger frame, the last bytes: its created_at (and seq, epoch) are there.
TAIL_BYTES = 256
SAMPLE_EVERY = 10.0
#: Samples kept: the rate is over the last SAMPLES - 1 intervals, about a minute.
SAMPLES = 7
#: Past the bound, this part of the events goes at once (the oldest published),
#: so that new names arriving one by one do not each pay for the search.
FORGET_SHARE = 0.01
OWN_PREFIX = "$SYS/"


class Topic:
    """One event as the tracker knows it."""

    __slots__ = ("count", "event", "frame", "marks", "order", "size")

    def __init__(self, event: str) -> None:
        self.event = event
        self.count = 0  # messages seen since it was first tracked
        self.size = 0  # bytes of the last frame
        self.frame = b""  # the last frame, or its end when over MAX_VALUE_BYTES
        self.order = 0  # when it was last published, in messages tracked
        self.marks = [0] * SAMPLES  # its count at each sample (Topics._times)


class Topics:
    """The hub hands ``track`` every message delivered (``Subscriptions.deliver``)."""

    def __init__(self, max_events: int = MAX_EVENTS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_events = max_events
        self._clock = clock
        self._topics: dict[str, Topic] = {}
        self.messages = 0  # tracked, all events: the order of the last one
        self.forgotten = 0  # events dropped for max_events
        # A ring of sample times; slot 0 starts as the tracker's start, when every count was 0.
        self._times = [clock()] * SAMPLES
        self._slot = 0
        self._taken = 1

    def track(self, message: Message) -> None:
        """Per message: one lookup, a few attributes. A bound method, which
        Python calls faster than an instance's ``__call__``."""
        topic = self._topics.get(message.event)
        if topic is None:
            topic = self._track(message.event)
            if topic is None:
                return
        payload = message.payload
        size = len(payload)
        self.messages = order = self.messages + 1
        topic.order = order
        topic.count += 1
        topic.size = size
        topic.frame = payload if size <= MAX_VALUE_BYTES else payload[-TAIL_BYTES:]

    def track_run(self, event: str, messages: Sequence[Message]) -> None:
        """``track`` for messages all of ``event`` (one read's): the last one counts."""
        topic = self._topics.get(event)
        if topic is None:
            topic = self._track(event)
            if topic is None:
                return
        payload = messages[-1].payload
        size = len(payload)
        self.messages = order = self.messages + len(messages)
        topic.order = order
        topic.count += len(messages)
        topic.size = size
        topic.frame = payload if size <= MAX_VALUE_BYTES else payload[-TAIL_BYTES:]

    def _track(self, event: str) -> Topic | None:
        if event.startswith(OWN_PREFIX):
            return None
        topics = self._topics
        if len(topics) >= self.max_events:
            drop = heapq.nsmallest(max(1, int(self.max_events * FORGET_SHARE)), topics.values(),
                                   key=attrgetter("order"))
            for old in drop:
                del topics[old.event]
            self.forgotten += len(drop)
        topic = topics[event] = Topic(event)
        return topic

    def __len__(self) -> int:
        return len(self._topics)

    def get(self, event: str) -> Topic | None:
        return self._topics.get(event)

    # -- rates ---------------------------------------------------------------

    def sample(self) -> None:
        """Note every event's count now (every SAMPLE_EVERY s: a pass over at most max_events)."""
        slot = self._slot = (self._slot + 1) % SAMPLES
        self._times[slot] = self._clock()
        self._taken += 1
        for topic in self._topics.values():
            topic.marks[slot] = topic.count

    def rate(self, topic: Topic, now: float | None = None) -> float:
        """Messages a second since the oldest sample kept (about a minute
        ago; since the start until there are enough samples)."""
        oldest = (self._slot + 1) % SAMPLES if self._taken >= SAMPLES else 0
        span = (self._clock() if now is None else now) - self._times[oldest]
        return (topic.count - topic.marks[oldest]) / span if span > 0 else 0.0

    # -- reading -------------------------------------------------------------

    def listing(self, allowed: Callable[[str], bool] | None = None) -> list[Topic]:
        """The events tracked, sorted by name, those ``allowed`` only."""
        return sorted((t for t in self._topics.values() if allowed is None or allowed(t.event)),
                      key=attrgetter("event"))

    def encode(self, topic: Topic, retained: bool, now: float | None = None) -> bytes:
        """``topic`` as ``GET /topics`` lists it, as JSON: the value and time
        cut out of its last frame, not parsed and encoded again."""
        value, at = b"null", b"null"
        if topic.size <= MAX_VALUE_BYTES:
            parts = publish_parts(topic.event, topic.frame) or _parsed(topic.frame)
            if parts is not None:
                value, at = parts
        else:
            at = created_at_in(topic.frame) or b"null"
        rate = round(self.rate(topic, now), 3)
        return (b'{"event":%s,"value":%s,"bytes":%d,"at":%s,"count":%d,"rate":%s,"retained":%s}' % (
            dumps(topic.event), value, topic.size, at, topic.count, repr(rate).encode(),
            b"true" if retained else b"false"))


def _parsed(frame: bytes) -> tuple[bytes, bytes] | None:
    """``publish_parts`` of a frame made some other way (a value read back from disk)."""
    try:
        parsed = loads(frame)
        return dumps(parsed.get("data")), dumps(parsed.get("created_at"))
    except (ProtocolError, AttributeError):
        return None
