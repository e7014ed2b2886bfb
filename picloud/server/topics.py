"""``GET /topics``: the topic tree's data, as MQTT Explorer shows it, for pages.

``{"topics": [{"event", "value", "bytes", "at", "count", "rate",
"retained"}, ...], "limit": N, "truncated": bool}``, sorted by event, only
the events the key may read. It comes from the hub's tracker (hub/topics.py),
which sees every message for the cost of a dict update, so that a page never
subscribes to ``#`` (on a busy hub every message would then go to every open
page). The values are cut out of the frames the tracker holds, not parsed;
whether each has a retained value is asked of the broker, once a request.
"""

from __future__ import annotations

from ..wire.framefields import event_in
from .queries import QueryHandler, broker_answer


class TopicsHTTP(QueryHandler):
    routine = True  # polled by open dashboards: logged at debug level

    async def get(self) -> None:
        self.state.sample_topics()  # rates need samples from now on (serve starts them too)
        topics = self.pubsub.topics
        allowed = None if self.permissions is None else self.permissions.may_use
        listed = topics.listing(allowed)
        retained: set[str | None] = set()
        if listed:
            # Only the listed events' values come back (and are read for their names).
            tracked = {topic.event for topic in listed}
            frames = await broker_answer(self.pubsub.broker.retained_frames(None, tracked.__contains__))
            retained = {event_in(frame) for frame in frames}
        body = b",".join(topics.encode(topic, topic.event in retained) for topic in listed)
        truncated = b"true" if topics.forgotten else b"false"
        self.finish(b'{"topics":[%s],"limit":%d,"truncated":%s}' % (body, topics.max_events, truncated))
