"""Fan-out: handing a message to every local subscriber of its event, once
each however many of its subscriptions match, and to what sees every
message delivered here (the recorder, the topic tracker) before them.

The hot path of the hub: ``deliver`` runs once per message, ``deliver_runs``
once per read of a publisher, with what depends only on the event looked up
once per run of that event's messages. A mixin of ``Subscriptions``
(subscriptions.py), whose tables it reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..wire.topics import TopicTree
from .message import Connection, Message


class Records(Protocol):
    """Sees every message delivered here, before its subscribers (hub/recording.py)."""

    def __call__(self, message: Message) -> None: ...
    def record_run(self, event: str, messages: Sequence[Message]) -> None: ...


class Tracks(Protocol):
    """The same, for the topic tree (hub/topics.py)."""

    def track(self, message: Message) -> None: ...
    def track_run(self, event: str, messages: Sequence[Message]) -> None: ...


class Fanout:
    """``Subscriptions``' delivery (it sets these in its ``__init__``)."""

    _subscribers: dict[str, dict[Connection, None]]
    _filters: TopicTree
    recorder: Records | None
    tracker: Tracks | None
    delivered: int
    delivered_bytes: int

    def deliver(self, message: Message) -> int:
        """Hand ``message`` to every local subscriber of its event, once each
        however many of its subscriptions match."""
        recorder = self.recorder
        if recorder is not None:
            recorder(message)
        tracker = self.tracker
        if tracker is not None:
            tracker.track(message)
        subscribers = self._subscribers.get(message.event)
        if self._filters.count:
            found = self._filters.match(message.event)
            if found:
                if len(found) == 1 and not subscribers:
                    subscribers = found[0]
                else:  # a connection matched twice still gets it once
                    merged = dict(subscribers) if subscribers else {}
                    for group in found:
                        merged.update(group)
                    subscribers = merged
        if not subscribers:
            return 0
        for conn in subscribers:
            conn.deliver(message)
        count = len(subscribers)
        self.delivered += count
        self.delivered_bytes += count * len(message.payload)
        return count

    def deliver_runs(self, event_runs: Sequence[Sequence[Message]]) -> None:
        """``deliver`` each message of one read, cut into runs of one event
        (``message.runs``), in order, with what depends only on the event
        (recorded or not, its topic, its subscribers) looked up once a run."""
        for run in event_runs:
            if len(run) == 1:
                self.deliver(run[0])
                continue
            event = run[0].event
            recorder = self.recorder
            if recorder is not None:
                recorder.record_run(event, run)
            tracker = self.tracker
            if tracker is not None:
                tracker.track_run(event, run)
            subscribers = self._subscribers.get(event)
            if self._filters.count:
                found = self._filters.match(event)
                if found:
                    merged = dict(subscribers) if subscribers else {}
                    for group in found:
                        merged.update(group)
                    subscribers = merged
            if not subscribers:
                continue
            for conn in subscribers:
                many = getattr(conn, "deliver_many", None)  # optional: a websocket queues them at once
                if many is not None:
                    many(run)
                    continue
                for message in run:
                    conn.deliver(message)
            delivered = len(subscribers)
            self.delivered += delivered * len(run)
            self.delivered_bytes += delivered * sum([len(message.payload) for message in run])
