"""``GET /topics`` (picloud/server/topics.py): the topic tree's data from the
hub's tracker, over real HTTP, with keys held to some topics and with Redis."""

from __future__ import annotations

import json

import pytest

from picloud.hub.topics import MAX_EVENTS
from tests.support.hub import KEY, QUICK_RETAIN, app_with_keys, post, subscribed
from tests.support.redisserver import connect, get, next_data, publish_acked

READER = "reader-key-0123456789"
KEYS = f"""\
{KEY}  admin
{READER}  subscribe  sensors/#
"""


async def topics(http_client, base_url, key=KEY) -> dict:
    response = await http_client.fetch(f"{base_url}/topics", headers={"X-API-Key": key})
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_every_event_published_with_its_last_value_count_and_retained_value(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="kitchen")  # its presence is $SYS/: not listed
    await subscribed(sub, "sensors/temp")
    for data in (20.5, 21.5):
        assert (await post(http_client, base_url, {"event": "sensors/temp", "data": data})).code == 201
        frame = await sub.read_message()  # the last one is what the tracker keeps
    assert (await post(http_client, base_url, {"event": "door", "data": "open", "retain": True})).code == 201
    big = "x" * 5000
    assert (await post(http_client, base_url, {"event": "blob", "data": big})).code == 201

    doc = await topics(http_client, base_url)
    assert (doc["limit"], doc["truncated"]) == (MAX_EVENTS, False)
    listed = {t["event"]: t for t in doc["topics"]}
    assert [t["event"] for t in doc["topics"]] == ["blob", "door", "sensors/temp"]
    temp = listed["sensors/temp"]
    assert (temp["value"], temp["count"], temp["retained"]) == (21.5, 2, False)
    assert temp["rate"] > 0 and temp["at"].endswith("Z")
    assert temp["bytes"] == len(frame.encode())
    assert (listed["door"]["value"], listed["door"]["retained"]) == ("open", True)
    assert listed["blob"]["value"] is None and listed["blob"]["bytes"] > 5000 and listed["blob"]["at"]
    # Cleared: the event stays, its retained value does not.
    assert (await post(http_client, base_url, {"event": "door", "data": None, "retain": True})).code == 201
    door = next(t for t in (await topics(http_client, base_url))["topics"] if t["event"] == "door")
    assert (door["value"], door["count"], door["retained"]) == (None, 2, False)


@pytest.mark.gen_test
async def test_topics_need_the_key(http_client, base_url):
    for headers, status in (({}, 401), ({"X-API-Key": "wrong"}, 401)):
        response = await http_client.fetch(f"{base_url}/topics", headers=headers, raise_error=False)
        assert response.code == status
        assert "api key" in json.loads(response.body)["error"]


class TestRights:
    @pytest.fixture
    def app(self, tmp_path, io_loop):
        yield from app_with_keys(tmp_path, io_loop, KEYS)

    @pytest.mark.gen_test
    async def test_a_key_held_to_some_topics_sees_only_those(self, http_server, http_client, base_url):
        for event in ("sensors/a", "door/lock"):
            assert (await post(http_client, base_url, {"event": event, "data": 1, "retain": True})).code == 201
        assert [t["event"] for t in (await topics(http_client, base_url))["topics"]] == ["door/lock", "sensors/a"]
        mine = (await topics(http_client, base_url, READER))["topics"]
        assert [(t["event"], t["retained"]) for t in mine] == [("sensors/a", True)]


@pytest.mark.gen_test(timeout=30)
async def test_with_redis_a_hub_lists_what_its_clients_subscribe_to_and_what_redis_retains(redis_server, hubs):
    one, two = hubs(redis_server(), 2)
    sub = await connect(two, "/subscribe", clientName="tablet")
    await subscribed(sub, "sensors/plug")  # a wildcard would bring this hub every event (channels.py)
    pub = await connect(one, "/publish", clientName="plug")
    await publish_acked(pub, event="sensors/plug", data=5, retain=True)
    await publish_acked(pub, event="elsewhere", data=1, id=2)
    assert await next_data(sub) == 5
    listed = (await get(two, "/topics"))["topics"]
    assert [(t["event"], t["value"], t["count"], t["retained"]) for t in listed] == [("sensors/plug", 5, 1, True)]
    # The publishing hub saw both: it delivers its own messages.
    assert [t["event"] for t in (await get(one, "/topics"))["topics"]] == ["elsewhere", "sensors/plug"]
