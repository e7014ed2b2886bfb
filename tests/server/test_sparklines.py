"""``GET /readings/sparklines`` (picloud/server/sparklines.py) on an in-process
hub that records, over real HTTP: the parameters, keys and topic rights."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from picloud.config import Config
from picloud.server.app import make_app
from picloud.wire.codec import encode_publish
from tests.support.hub import KEY

READER = "reader-key-0123456789"
KEYS = f"""\
{KEY}  admin
{READER}  subscribe  sensors/#
"""
HOUR = 3600
#: Three whole hours ago: steps are whole multiples of themselves since 1970.
START = (int(time.time()) // HOUR - 3) * HOUR


def record(app, *entries: tuple[float, str, object]) -> None:
    """Into the hub's own database, as its store's write would (at given times)."""
    store = app.state.pubsub.retained.store
    batch = [(t, event, encode_publish(event, data)) for t, event, data in entries]
    store.db.write_now(lambda conn: store._readings.write(conn, batch))


def readings(app) -> None:
    record(app, *[(START + i * 60, "sensors/temp", 20 + i % 2) for i in range(120)],
           *[(START + i * 60, "door/battery", 90.0) for i in range(60)], (START, "door/state", "open"))


async def sparklines(http_client, base_url, key=KEY, **query) -> tuple[int, dict]:
    params = urlencode([(k, v) for k, values in query.items() for v in (values if isinstance(values, list)
                                                                         else [values])])
    response = await http_client.fetch(f"{base_url}/readings/sparklines?{params}", raise_error=False,
                                       headers={"X-API-Key": key} if key else {})
    if response.code == 200:
        assert response.headers["Content-Type"].startswith("application/json")
    return response.code, json.loads(response.body)


@pytest.mark.gen_test
async def test_every_recorded_event_with_numbers_in_one_answer(http_client, base_url, app):
    readings(app)
    status, doc = await sparklines(http_client, base_url, **{"from": START, "to": START + 2 * HOUR, "points": 60})
    assert status == 200
    assert (doc["from"], doc["to"], doc["step"], doc["truncated"]) == (START, START + 2 * HOUR, 120, False)
    assert list(doc["events"]) == ["sensors/temp", "door/battery"]  # the last recorded first; no text
    (temp,) = doc["events"]["sensors/temp"]
    assert temp == {"field": "", "unit": None, "t": [START + i * 120 for i in range(60)], "mean": [20.5] * 60}
    (battery,) = doc["events"]["door/battery"]
    assert len(battery["t"]) == 30 and set(battery["mean"]) == {90.0}
    # By default the last 6 hours, about 60 points; at most 200 points.
    status, doc = await sparklines(http_client, base_url)
    assert (status, doc["step"], round(doc["to"] - doc["from"])) == (200, 360, 6 * HOUR)
    status, doc = await sparklines(http_client, base_url, **{"from": START, "to": START + 2 * HOUR, "points": 9999})
    assert (status, doc["step"]) == (200, 60)


@pytest.mark.gen_test
async def test_named_events_and_what_is_refused(http_client, base_url, app):
    readings(app)
    span = {"from": START, "to": START + HOUR}
    status, doc = await sparklines(http_client, base_url, event=["door/battery", "nothing/here"], **span)
    assert status == 200 and list(doc["events"]) == ["door/battery", "nothing/here"]
    assert doc["events"]["nothing/here"] == []
    for query, error in [
        ({"event": "sensors/#"}, "sparklines are of events, not a filter like 'sensors/#'"),
        ({"event": ""}, "'event'"),
        ({"points": "0"}, "'points' must be an integer >= 1, not '0'"),
        ({"points": "many"}, "'points' must be an integer >= 1, not 'many'"),
        ({"from": "yesterday"}, "'from' must be rfc 3339"),
        ({"from": "now", "to": "-1h"}, "'to' ("),
        ({"event": [f"e{i}" for i in range(501)]}, "at most 500 events at once, not 501"),
    ]:
        status, answer = await sparklines(http_client, base_url, **query)
        assert status == 400 and answer["error"].lower().startswith(error.lower()), (query, answer)
    assert (await sparklines(http_client, base_url, key=None))[0] == 401


@pytest.mark.gen_test
@pytest.mark.config(no_record=True)
async def test_a_hub_that_records_nothing_answers_404(http_client, base_url):
    status, answer = await sparklines(http_client, base_url)
    assert (status, answer) == (404, {"error": "this hub records no readings (see --record)"})


class TestRights:
    @pytest.fixture
    def app(self, tmp_path, io_loop):
        path = tmp_path / "keys"
        path.write_text(KEYS)
        app = make_app(Config(keys_file=str(path), state_dir=tmp_path / "state"))
        yield app
        io_loop.run_sync(app.state.pubsub.retained.close)

    @pytest.mark.gen_test
    async def test_a_key_held_to_some_topics_gets_only_those(self, http_server, http_client, base_url, app):
        readings(app)
        span = {"from": START, "to": START + 2 * HOUR}
        status, doc = await sparklines(http_client, base_url, READER, **span)
        assert status == 200 and list(doc["events"]) == ["sensors/temp"]
        status, answer = await sparklines(http_client, base_url, READER, event="door/battery", **span)
        assert status == 403 and "'door/battery'" in answer["error"]
        status, doc = await sparklines(http_client, base_url, **span)
        assert list(doc["events"]) == ["sensors/temp", "door/battery"]
