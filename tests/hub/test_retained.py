"""Retained values: order, clearing, /retained, persistence across restarts and crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, websocket_connect

from picloud.brokers.memory import MemoryBroker
from picloud.config import Config
from picloud.hub.pubsub import PubSub
from picloud.hub.retained import Retained
from picloud.stores.files import FILE_NAME, FileStore
from tests.support.hub import KEY, post, read_json, send_json, subscribed


@pytest.fixture
def config(tmp_path):
    # Short write interval: a retained publish is answered once on disk.
    return Config(api_key=KEY, state_dir=tmp_path / "state", info_interval=0.2, retain_interval=0.05)


def test_store_persists_and_reloads(tmp_path):
    path = tmp_path / "state" / FILE_NAME

    async def fill():
        pubsub = PubSub(MemoryBroker(), retained=Retained(FileStore(path, interval=0.05)))
        pubsub.publish("a", {"v": 1}, retain=True)
        pubsub.publish("b", "gone", retain=True)
        pubsub.publish("b", None, retain=True)  # clears
        pubsub.publish("c", "not retained")
        await pubsub.retained.stored()

    asyncio.run(fill())
    again = Retained(FileStore(path))
    assert [json.loads(m.payload)["data"] for m in again.items()] == [{"v": 1}]
    assert json.loads(again.get("a").payload)["retained"] is True
    assert list(tmp_path.joinpath("state").iterdir()) == [path]  # no temporary file left


def test_writes_are_coalesced(tmp_path):
    async def burst():
        store = FileStore(tmp_path / FILE_NAME, interval=0.2)
        pubsub = PubSub(MemoryBroker(), retained=Retained(store))
        for i in range(100):
            pubsub.publish("sensor", i, retain=True)
            if i % 10 == 0:
                await asyncio.sleep(0.01)
        await store.stored()
        return store.writes

    assert asyncio.run(burst()) <= 2


def test_unreadable_file_is_moved_aside(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text('{"retained": [')
    store = Retained(FileStore(path))
    assert len(store) == 0
    assert (tmp_path / (FILE_NAME + ".unreadable")).read_text() == '{"retained": ['


@pytest.mark.gen_test
async def test_new_subscriber_gets_retained_value_first_then_live(ws, http_client, base_url):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "home/t", "data": 1, "retain": True})
    await send_json(pub, {"event": "home/t", "data": 2, "retain": True})
    await send_json(pub, {"event": "home/t", "data": 3})  # live only, not retained
    await send_json(pub, {"event": "home/h", "data": 40, "retain": True, "id": "last"})
    assert await read_json(pub) == {"action": "ack", "id": "last"}
    sub = await ws("/subscribe", clientName="kitchen")
    await send_json(sub, {"action": "subscribe", "event": "home/t"})
    first = await read_json(sub)  # arrives only once the subscription is made
    await send_json(pub, {"event": "home/t", "data": 4})
    live = await read_json(sub)
    assert (first["data"], first["retained"], first["seq"]) == (2, True, 2)
    assert (live["data"], live["seq"], "retained" in live) == (4, 4, False)
    wild = await ws("/subscribe", clientName="dash")
    await send_json(wild, {"action": "subscribe", "event": "home/+"})
    assert sorted([(await read_json(wild))["data"] for _ in range(2)]) == [2, 40]


@pytest.mark.gen_test
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


# -- a real hub process --------------------------------------------------------


async def _http_publish(hub, body):
    client = AsyncHTTPClient()
    return await client.fetch(
        f"{hub.url}/publish", method="POST", body=json.dumps(body),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "script"}, raise_error=False,
    )


async def _retained(hub, query=""):
    url = f"{hub.url}/retained{query}"
    response = await AsyncHTTPClient().fetch(url, headers={"X-API-Key": KEY})
    return json.loads(response.body)["retained"]


async def _first_frame(hub, event):
    request = HTTPRequest(f"{hub.ws_url}/subscribe?clientName=late", headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": event})
    frame = await read_json(conn)
    conn.close()
    return frame


def test_retained_survive_a_restart(hub_process, tmp_path):
    hub = hub_process("--api-key", KEY, "--retain-interval", "0.2")

    async def before():
        for event, data in [("t", 21.5), ("u", "x")]:
            response = await _http_publish(hub, {"event": event, "data": data, "retain": True})
            assert response.code == 201  # answered once stored
        assert (hub.state_dir / FILE_NAME).exists()

    hub.state_dir = tmp_path / "state"
    asyncio.run(before())
    assert hub.stop(signal.SIGKILL) == -signal.SIGKILL  # no shutdown flush to rely on
    hub = hub_process("--api-key", KEY)
    frame = asyncio.run(_first_frame(hub, "t"))
    assert (frame["event"], frame["data"], frame["retained"]) == ("t", 21.5, True)
    assert [m["event"] for m in asyncio.run(_retained(hub)) if not m["event"].startswith("$")] == ["t", "u"]


def test_shutdown_flushes_pending_retained_writes(hub_process):
    hub = hub_process("--api-key", KEY, "--retain-interval", "30")

    async def publish():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        for i in range(3):
            await send_json(conn, {"event": "t", "data": i, "retain": True})
        await send_json(conn, {"event": "barrier", "data": 0, "id": 1})
        assert await read_json(conn) == {"action": "ack", "id": 1}
        conn.close()

    asyncio.run(publish())
    assert hub.stop() == 0
    hub = hub_process("--api-key", KEY)
    assert asyncio.run(_first_frame(hub, "t"))["data"] == 2


def test_sigkill_during_a_burst_never_corrupts(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--retain-interval", "0")

    async def burst():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        await send_json(conn, {"event": "t", "data": -1, "retain": True, "id": "first"})
        assert await read_json(conn) == {"action": "ack", "id": "first"}  # one value is on disk
        deadline = time.monotonic() + 0.5
        i = 0
        killed = False
        while time.monotonic() < deadline:
            await send_json(conn, {"event": "t", "data": i, "retain": True, "filler": "x" * 2000})
            i += 1
            if i == 200:
                hub.proc.send_signal(signal.SIGKILL)  # while values are still streaming in
                killed = True
            await asyncio.sleep(0)
        if not killed:  # a slow machine: kill it in the middle of the burst all the same
            hub.proc.send_signal(signal.SIGKILL)
        return i

    try:
        asyncio.run(burst())
    except (StreamClosedError, WebSocketClosedError):  # the socket dies with the hub
        pass
    finally:
        if hub.proc.poll() is None:
            hub.proc.send_signal(signal.SIGKILL)
    assert hub.proc.wait(timeout=10) == -signal.SIGKILL
    doc = json.loads((state / FILE_NAME).read_text())  # whole, never half-written
    values = [m["data"] for m in doc["retained"] if m["event"] == "t"]
    assert len(values) == 1 and values[0] >= -1
    hub = hub_process("--api-key", KEY)
    assert "unreadable" not in hub.stderr
    assert asyncio.run(_first_frame(hub, "t"))["data"] == values[0]


@pytest.mark.gen_test
async def test_a_retained_value_that_cannot_be_stored_is_not_acked(ws, app, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app.state.pubsub.retained.store.path = blocker / FILE_NAME  # its parent cannot be created
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1, "retain": True, "id": 3})
    reply = await read_json(pub)
    assert reply["action"] == "error" and reply["id"] == 3
    assert reply["error"].startswith("cannot store retained value")


def test_retained_variant_is_encoded_once_for_every_late_subscriber():
    pubsub = PubSub(MemoryBroker())

    class Inbox:
        def __init__(self):
            self.got = []

        def deliver(self, message):
            self.got.append(message)

    pubsub.publish("t", 1, retain=True)
    first, second = Inbox(), Inbox()
    for inbox in (first, second):
        pubsub.join(inbox, "t", None, lambda joined: None)
    assert first.got[0] is second.got[0]  # one Message, one frame, shared
    assert first.got[0].frame is second.got[0].frame
