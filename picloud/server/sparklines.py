"""``GET /readings/sparklines``: every recorded event's recent series in one
request, for a page of overview cards.

``?from=-6h&points=60[&to=T][&event=NAME ...]`` answers ``{"from", "to",
"step", "events": {NAME: [{"field", "unit", "t", "mean"}]}, "truncated"}``:
about ``points`` (at most 200) means per series, read from the minute or
hour rollups only (stores/sqlite/sparklines.py), so a page of 500 cards costs
what a few charts do. Without ``event``, every event with numbers the key
may read, the most recently recorded first, at most 500. Keys and topic
rights as for ``/readings``; 404 where the hub records nothing.
"""

from __future__ import annotations

import time

from ..exceptions import ProtocolError
from ..wire.codec import validate_event
from ..wire.times import parse_time, rfc3339
from ..wire.topics import is_filter
from .access import Refused
from .queries import encode_head
from .readings import ReadingsQuery

DEFAULT_POINTS = 60
MAX_POINTS = 200
MAX_EVENTS = 500


class SparklinesHTTP(ReadingsQuery):
    routine = True  # refreshed by open dashboards: logged at debug level

    async def get(self) -> None:
        events = self.events_args()
        now = time.time()
        try:
            start = parse_time(self.get_query_argument("from", "-6h"), now, "from")
            end = parse_time(self.get_query_argument("to", "now"), now, "to")
        except ProtocolError as exc:
            raise Refused(400, str(exc)) from None
        if end <= start:
            raise Refused(400, f"'to' ({rfc3339(end)}) is not after 'from' ({rfc3339(start)})")
        points = self.points_arg()
        store = self.store
        allowed = None if self.permissions is None else self.permissions.may_use
        found = await self.ask(store.sparklines(start, end, points, events, allowed, MAX_EVENTS))
        self.finish(encode_head(found))

    def points_arg(self) -> int:
        text = self.get_query_argument("points", None)
        if text is None:
            return DEFAULT_POINTS
        try:
            points = int(text)
        except ValueError:
            points = 0
        if points < 1:
            raise Refused(400, f"'points' must be an integer >= 1, not {text[:40]!r}")
        return min(points, MAX_POINTS)

    def events_args(self) -> list[str] | None:
        """The ``event`` parameters, each checked as ``/readings`` checks its
        one (a name, not a filter, that the key may read); None for none."""
        names = list(dict.fromkeys(self.get_query_arguments("event")))
        if not names:
            return None
        if len(names) > MAX_EVENTS:
            raise Refused(400, f"at most {MAX_EVENTS} events at once, not {len(names)}")
        for name in names:
            try:
                validate_event(name)
            except ProtocolError as exc:
                raise Refused(400, str(exc)) from None
            if is_filter(name):
                raise Refused(400, f"sparklines are of events, not a filter like {name!r}")
            self.check_readable(name)
        return names
