"""``GET /history`` and ``GET /retained`` (picloud/server/queries.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from tests.support.hub import KEY, LONG_HISTORY, QUICK_RETAIN, post, read_json, send_json, subscribed


@pytest.mark.gen_test
@LONG_HISTORY
async def test_history_over_http(ws, http_client, base_url):
    pub = await ws("/publish", clientName="sensor")
    for i in range(5):
        await send_json(pub, {"event": "t/x", "data": i, "id": i})
        await read_json(pub)
    headers = {"X-API-Key": KEY}
    response = await http_client.fetch(f"{base_url}/history?event=t/x&since=1&limit=2", headers=headers)
    doc = json.loads(response.body)
    assert doc["event"] == "t/x" and doc["last_seq"] == 5 and doc["complete"] is True
    assert [m["seq"] for m in doc["messages"]] == [2, 3]
    assert [m["data"] for m in doc["messages"]] == [1, 2]
    for query, status in [("", 400), ("?event=t/%2B", 400), ("?event=t&limit=x", 400)]:
        response = await http_client.fetch(f"{base_url}/history{query}", headers=headers, raise_error=False)
        assert response.code == status, query
    response = await http_client.fetch(f"{base_url}/history?event=t", raise_error=False)
    assert response.code == 401
    response = await http_client.fetch(f"{base_url}/history?event=t/x&limit=100000", headers=headers)
    assert len(json.loads(response.body)["messages"]) == 5


def test_history_size_from_the_environment(hub_process):
    hub = hub_process("--api-key", KEY, env={"PICLOUD_HISTORY_SIZE": "2"})

    async def check():
        client = AsyncHTTPClient()
        for i in range(3):
            await client.fetch(
                f"{hub.url}/publish", method="POST", body=json.dumps({"event": "t", "data": i}),
                headers={"X-API-Key": KEY, "X-API-Client-Name": "script"},
            )
        response = await client.fetch(f"{hub.url}/history?event=t", headers={"X-API-Key": KEY})
        return json.loads(response.body)

    doc = asyncio.run(check())
    assert ([m["seq"] for m in doc["messages"]], doc["last_seq"], doc["complete"]) == ([2, 3], 3, False)


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_retain_with_null_data_clears(ws, http_client, base_url):
    response = await post(http_client, base_url, {"event": "door", "data": "open", "retain": True})
    assert response.code == 201
    response = await post(http_client, base_url, {"event": "door", "data": None, "retain": True})
    assert response.code == 201
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "door")  # the barrier's error comes first: nothing retained
    response = await http_client.fetch(f"{base_url}/retained?event=door", headers={"X-API-Key": KEY})
    assert json.loads(response.body) == {"retained": []}


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_retained_over_http(ws, http_client, base_url):
    for event, data in [("a/1", 1), ("a/2", 2), ("b", 3)]:
        response = await post(http_client, base_url, {"event": event, "data": data, "retain": True})
        assert response.code == 201
    headers = {"X-API-Key": KEY}

    async def get(query=""):
        response = await http_client.fetch(f"{base_url}/retained{query}", headers=headers)
        assert response.headers["Content-Type"].startswith("application/json")
        return [(m["event"], m["data"]) for m in json.loads(response.body)["retained"]]

    assert await get("?event=b") == [("b", 3)]
    assert await get("?event=a/%2B") == [("a/1", 1), ("a/2", 2)]
    assert [e for e, _ in await get()] == ["a/1", "a/2", "b"]
    response = await http_client.fetch(f"{base_url}/retained", raise_error=False)
    assert response.code == 401
    response = await post(http_client, base_url, {"event": "b", "data": 1, "retain": "yes"})
    assert response.code == 400
    assert json.loads(response.body) == {"error": "'retain' must be true or false, not 'yes'"}
