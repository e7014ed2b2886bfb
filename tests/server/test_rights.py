"""Keys with topic rights on a real hub process: every route applies them
(HTTP, websockets, the queries), names are bound before the upgrade, and
SIGHUP applies changed rights to open connections (hub/rights.py)."""

from __future__ import annotations

import json
import signal

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.hub import read_json, send_json, subscribed

SENSOR, TABLET, DOOR, ADMIN = "Ab9Lm3Qw7Ee1Rt6Y", "Zr4p0Tf2Yq5Kx8Nn", "Pp3Oo6Ii9Uu2Yy5T", "Hh2Jj5Kk8Ll1Zz4X"
HOUSE = f"""\
# the sensors: each publishes under its own client name
{SENSOR}  publish    sensors/%c/#
# the tablet on the wall: reads the sensors and who is online
{TABLET}  subscribe  sensors/#  $SYS/clients/+
# the door controller: its own topics, and only as door-*
{DOOR}  publish    door/#  name=door-*
{ADMIN}  admin
"""


@pytest.fixture
def house(hub_process, tmp_path, request):
    """A hub with the house's keys; ``broker`` "redis" by indirect parametrization."""
    path = tmp_path / "keys"
    path.write_text(HOUSE)
    broker = []
    if getattr(request, "param", "memory") == "redis":
        broker = ["--broker", request.getfixturevalue("redis_server")().url]
    hub = hub_process("--keys-file", str(path), "--info-interval", "0.2", *broker)
    hub.keys_path = path
    return hub


async def post(hub, key: str, name: str, body) -> tuple[int, dict]:
    response = await AsyncHTTPClient().fetch(HTTPRequest(
        f"{hub.url}/publish", method="POST", body=json.dumps(body),
        headers={"X-API-Key": key, "X-API-Client-Name": name}), raise_error=False)
    return response.code, json.loads(response.body or b"{}")


async def get(hub, key: str, path: str) -> tuple[int, dict]:
    response = await AsyncHTTPClient().fetch(
        HTTPRequest(f"{hub.url}{path}", headers={"X-API-Key": key}), raise_error=False)
    return response.code, json.loads(response.body or b"{}") if response.code != 200 or path != "/metrics" else {}


async def connect(hub, path: str, key: str, name: str, protocol: int = 2):
    return await websocket_connect(HTTPRequest(
        f"{hub.ws_url}{path}?clientName={name}&protocol={protocol}", headers={"X-API-Key": key}))


async def until_frame(conn, action: str) -> dict:
    while True:
        frame = await read_json(conn)
        if frame.get("action") == action:
            return frame


@pytest.mark.gen_test(timeout=30)
async def test_http_publishes_are_held_to_the_keys_topics_and_names(house):
    assert (await post(house, SENSOR, "kitchen", {"event": "sensors/kitchen/temp", "data": 21}))[0] == 201
    status, body = await post(house, SENSOR, "kitchen", {"event": "door/lock", "data": "open"})
    assert status == 403
    assert body["error"] == "this key may not publish to 'door/lock' (its topics: sensors/%c/#)"
    # Another sensor's topic, and a name that would make %c a wildcard.
    assert (await post(house, SENSOR, "kitchen", {"event": "sensors/hall/temp"}))[0] == 403
    assert (await post(house, SENSOR, "a/b", {"event": "sensors/a/b/temp"}))[0] == 403
    # A batch with one element outside is refused whole, naming it.
    status, body = await post(house, SENSOR, "kitchen", [{"event": "sensors/kitchen/a"}, {"event": "x"}])
    assert status == 403 and body["index"] == 1
    # The door key is bound to door-* names, checked before anything else.
    status, body = await post(house, DOOR, "window", {"event": "door/lock"})
    assert (status, body["error"]) == (403, "this key may not use the client name 'window'")
    assert (await post(house, DOOR, "door-front", {"event": "door/lock", "data": "open"}))[0] == 201


@pytest.mark.gen_test(timeout=30)
async def test_websockets_subscribe_and_publish_within_the_rights(house):
    tablet = await connect(house, "/subscribe", TABLET, "tablet")
    for refused in ("#", "+/temp", "door/lock"):
        await send_json(tablet, {"action": "subscribe", "event": refused, "id": refused})
        error = await until_frame(tablet, "error")
        assert error["id"] == refused and "may not subscribe to" in error["error"]
    for allowed in ("sensors/+/temp", "$SYS/clients/+"):
        await send_json(tablet, {"action": "subscribe", "event": allowed})
        assert (await until_frame(tablet, "subscribed"))["event"] == allowed

    sensor = await connect(house, "/publish", SENSOR, "kitchen")
    await send_json(sensor, {"event": "door/lock", "data": "open", "id": 7})
    error = await read_json(sensor)
    assert error == {"action": "error", "error": "this key may not publish to 'door/lock' (its topics: "
                     "sensors/%c/#)", "id": 7}
    await send_json(sensor, {"event": "sensors/kitchen/temp", "data": 22, "id": 8})
    assert (await read_json(sensor))["action"] == "ack"  # the socket is still served
    while (frame := await until_frame(tablet, "publish"))["event"] != "sensors/kitchen/temp":
        pass  # presence frames come first
    assert frame["data"] == 22

    # Bound to door-* names, or a name that leaves the key nothing: refused
    # before the upgrade.
    for key, name in ((DOOR, "window"), (SENSOR, "a/b"), (SENSOR, "$SYS")):
        with pytest.raises(HTTPClientError) as info:
            await connect(house, "/publish", key, name)
        assert info.value.code == 403, name
    tablet.close()
    sensor.close()


@pytest.mark.parametrize("house", ["memory", "redis"], indirect=True)
@pytest.mark.gen_test(timeout=30)
async def test_queries_answer_only_what_the_key_may_read(house):
    for event in ("sensors/kitchen/temp", "door/state"):
        status, _ = await post(house, ADMIN, "admin", {"event": event, "data": 1, "retain": True})
        assert status == 201
    status, body = await get(house, TABLET, "/retained")
    assert status == 200 and [frame["event"] for frame in body["retained"]] == ["sensors/kitchen/temp"]
    assert (await get(house, TABLET, "/retained?event=door/state"))[0] == 403
    assert (await get(house, TABLET, "/retained?event=%23"))[1]["retained"][0]["event"] == "sensors/kitchen/temp"
    assert (await get(house, TABLET, "/history?event=sensors/kitchen/temp"))[0] == 200
    status, body = await get(house, TABLET, "/history?event=door/state")
    assert status == 403
    assert body["error"] == "this key may not read 'door/state' (its topics: sensors/# $SYS/clients/+)"
    # Routes that show every event are not for keys held to some.
    for path in ("/stats", "/metrics"):
        assert (await get(house, TABLET, path))[0] == 403
        assert (await get(house, ADMIN, path))[0] == 200
    with pytest.raises(HTTPClientError) as info:
        await connect(house, "/info", TABLET, "tablet")
    assert info.value.code == 403
    (await connect(house, "/info", ADMIN, "admin")).close()


@pytest.mark.gen_test(timeout=30)
async def test_sighup_applies_changed_rights_to_open_connections(house):
    tablet = await connect(house, "/subscribe", TABLET, "tablet", protocol=1)
    await subscribed(tablet, "sensors/kitchen/temp", "$SYS/clients/door-front")
    door = await connect(house, "/publish", DOOR, "door-front")
    house.keys_path.write_text(HOUSE.replace("sensors/#  $SYS", "$SYS").replace("name=door-*", "name=gate-*"))
    house.proc.send_signal(signal.SIGHUP)

    error = await until_frame(tablet, "error")
    assert error["error"] == ("subscription dropped: this key may not subscribe to 'sensors/kitchen/temp' "
                              "(its topics: $SYS/clients/+)")
    assert await door.read_message() is None and door.close_code == 1008
    assert door.close_reason == "this key may no longer use the client name 'door-front'"
    # What is still allowed is still delivered; the dropped one is not.
    status, _ = await post(house, SENSOR, "kitchen", {"event": "sensors/kitchen/temp", "data": 1})
    assert status == 201
    frame = await until_frame(tablet, "publish")
    assert frame["event"] == "$SYS/clients/door-front" and frame["data"]["online"] is False

    # Rights that leave none of its subscriptions: closed.
    house.keys_path.write_text(HOUSE.replace("sensors/#  $SYS/clients/+", "home/#"))
    house.proc.send_signal(signal.SIGHUP)
    while await tablet.read_message() is not None:
        pass
    assert (tablet.close_code, tablet.close_reason) == (1008, "no subscription left that this key allows")
    assert house.stop() == 0
    assert "Traceback" not in house.stderr
