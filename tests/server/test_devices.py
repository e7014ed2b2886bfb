"""``POST /devices/forget`` (picloud/server/devices.py): a device's presence
cleared for good, over real HTTP, on one hub and across hubs on Redis."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from tests.support.hub import KEY, QUICK_RETAIN, app_with_keys, read_json, send_json
from tests.support.redisserver import connect, get

SUB, PUB, HELD = "sub-key-0123456789ab", "pub-key-0123456789ab", "held-admin-key-0123456789"
KEYS = f"""\
{KEY}  admin
{SUB}  subscribe
{PUB}  publish
{HELD}  admin  sensors/#
"""


async def forget(url: str, body, key: str | None = KEY) -> tuple[int, dict]:
    headers = {"X-API-Key": key} if key else {}
    response = await AsyncHTTPClient().fetch(HTTPRequest(
        f"{url}/devices/forget", method="POST", headers=headers,
        body=body if isinstance(body, (bytes, str)) else json.dumps(body)), raise_error=False)
    return response.code, json.loads(response.body)


async def watch(conn) -> None:
    """Subscribe ``conn`` (protocol 2) to every device's presence."""
    await send_json(conn, {"action": "subscribe", "event": "$SYS/clients/+"})
    while (await read_json(conn))["action"] != "subscribed":
        pass


async def presence_of(conn, name: str) -> object:
    """The next presence data ``conn`` is sent for ``name``."""
    while True:
        frame = await read_json(conn)
        if frame.get("event") == f"$SYS/clients/{name}":
            return frame["data"]


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_an_offline_device_is_forgotten_and_watchers_are_told(ws, base_url):
    watcher = await ws("/subscribe", clientName="dashboard", protocol=2)
    await watch(watcher)
    plug = await ws("/subscribe", clientName="plug")
    assert (await presence_of(watcher, "plug"))["online"] is True
    assert (await forget(base_url, {"client_name": "plug"})) == (409, {"error": "client 'plug' is online"})
    plug.close()
    assert (await presence_of(watcher, "plug"))["online"] is False
    assert (await forget(base_url, {"client_name": "plug"})) == (200, {"forgotten": "plug"})
    assert await presence_of(watcher, "plug") is None
    response = await AsyncHTTPClient().fetch(f"{base_url}/retained?event=$SYS/clients/%2B", headers={"X-API-Key": KEY})
    assert [m["event"] for m in json.loads(response.body)["retained"]] == ["$SYS/clients/dashboard"]
    assert (await forget(base_url, {"client_name": "plug"})) == (404, {"error": "unknown client name 'plug'"})


@pytest.mark.gen_test
async def test_a_bad_body_is_refused_naming_what_is_wrong(ws, base_url):
    watcher = await ws("/subscribe", clientName="dashboard", protocol=2)
    await watch(watcher)  # a presence value exists, which a filter would find
    for body, error in [
        (b"", "invalid json"),
        (b"{plug}", "invalid json"),
        ([], "the body must be a json object like {\"client_name\": \"NAME\"}, not []"),
        ({"name": "plug"}, "missing 'client_name'"),
        ({"client_name": 42}, "'client_name' must be a non-empty string, not 42"),
        ({"client_name": ""}, "'client_name' must be a non-empty string, not \"\""),
        ({"client_name": "x" * 200}, "client name is longer than 128 bytes"),
    ]:
        status, answer = await forget(base_url, body)
        assert status == 400 and answer["error"].startswith(error), (body, answer)
    # A name that makes a wildcard of its presence event matches only itself.
    assert (await forget(base_url, {"client_name": "+"})) == (404, {"error": "unknown client name '+'"})


class TestRoles:
    @pytest.fixture
    def app(self, tmp_path, io_loop):
        yield from app_with_keys(tmp_path, io_loop, KEYS)

    @pytest.mark.gen_test
    async def test_only_an_admin_key_may_forget(self, http_server, base_url, app):
        conn = object()
        app.state.pubsub.connect(conn, "old", "127.0.0.1:1")
        app.state.pubsub.disconnect(conn)
        assert (await forget(base_url, {"client_name": "old"}, key=None)) == (401, {"error": "missing api key"})
        assert (await forget(base_url, {"client_name": "old"}, key="wrong-key-0123456789"))[0] == 401
        for key in (SUB, PUB):
            assert (await forget(base_url, {"client_name": "old"}, key)) == (403, {"error": "this key may not admin"})
        status, answer = await forget(base_url, {"client_name": "old"}, HELD)
        assert status == 403 and "'$SYS/clients/old'" in answer["error"]
        assert (await forget(base_url, {"client_name": "old"})) == (200, {"forgotten": "old"})


@pytest.mark.gen_test(timeout=30)
async def test_with_redis_a_device_is_forgotten_on_every_hub_and_kept_while_online_on_any(redis_server, hubs):
    one, two = hubs(redis_server(), 2)
    watcher = await connect(one, "/subscribe", clientName="dashboard", protocol="2")
    await watch(watcher)
    plug = await connect(one, "/subscribe", clientName="plug")
    lamp = await connect(one, "/subscribe", clientName="lamp")
    assert (await presence_of(watcher, "plug"))["online"] is True
    # Hub two knows of one's connections from its heartbeats, as /info shows them.
    info = await connect(two, "/info")
    while "lamp" not in {c["client_name"] for c in (await read_json(info))["all_connections"]}:
        pass
    assert (await forget(two.url, {"client_name": "lamp"})) == (409, {"error": "client 'lamp' is online"})
    plug.close()
    assert (await presence_of(watcher, "plug"))["online"] is False
    # Online for hub two until one's next heartbeat says otherwise.
    while "plug" in {c["client_name"] for c in (await read_json(info))["all_connections"]}:
        pass
    # Forgotten through the other hub: Redis forgets it, and the first hub's watcher is told.
    assert (await forget(two.url, {"client_name": "plug"})) == (200, {"forgotten": "plug"})
    assert await presence_of(watcher, "plug") is None
    for hub in (one, two):
        left = {m["event"] for m in (await get(hub, "/retained?event=$SYS/clients/%2B"))["retained"]}
        assert left == {"$SYS/clients/dashboard", "$SYS/clients/lamp"}
    assert (await forget(one.url, {"client_name": "plug"}))[0] == 404
    lamp.close()
