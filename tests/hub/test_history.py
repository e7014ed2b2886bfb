"""Sequence numbers, epochs and catch-up: History alone, then on real sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.brokers.memory import MemoryBroker
from picloud.config import Config
from picloud.hub.history import History
from picloud.hub.pubsub import PubSub
from tests.support.hub import KEY, read_json, send_json


class Conn:
    def __init__(self):
        self.got = []

    def deliver(self, message):
        self.got.append(json.loads(message.payload))


def test_seq_counts_per_event_and_is_in_the_frame():
    pubsub = PubSub(MemoryBroker(), history=History(epoch="e1"))
    sub = Conn()
    pubsub.subscribe(sub, "a")
    pubsub.subscribe(sub, "b")
    for event in "aab":
        pubsub.publish(event, 1)
    got = [(m["event"], m["seq"], m["epoch"]) for m in sub.got]
    assert got == [("a", 1, "e1"), ("a", 2, "e1"), ("b", 1, "e1")]
    assert list(sub.got[0])[:4] == ["action", "event", "data", "created_at"]


def test_since_replays_what_is_kept_and_says_if_complete():
    history = History(size=3, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    for i in range(5):
        pubsub.publish("t", i)
    seqs = lambda messages: [m.seq for m in messages]  # noqa: E731
    messages, recovered = history.since("t", 2, "e")
    assert (seqs(messages), recovered) == ([3, 4, 5], True)
    messages, recovered = history.since("t", 1, "e")  # seq 2 is gone
    assert (seqs(messages), recovered) == ([3, 4, 5], False)
    assert history.since("t", 5, "e") == ([], True)
    messages, recovered = history.since("t", 4, "other")
    assert (seqs(messages), recovered) == ([3, 4, 5], False)
    assert history.since("t", 9, "e")[1] is False
    assert seqs(history.query("t", 3, 1)) == [4]


def test_size_zero_keeps_nothing_but_still_counts():
    history = History(size=0, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    pubsub.publish("t", 1)
    pubsub.publish("t", 2)
    assert history.last_seq("t") == 2
    assert history.since("t", 2, "e") == ([], True)
    assert history.since("t", 1, "e") == ([], False)


def test_ttl_drops_old_messages():
    history = History(size=10, ttl=60, epoch="e")
    pubsub = PubSub(MemoryBroker(), history=history)
    pubsub.publish("t", 1)
    pubsub.publish("t", 2)
    kept = history._kept["t"]
    kept[0] = (kept[0][0] - 120, kept[0][1])  # the first one is two minutes old
    messages, recovered = history.since("t", 0, "e")
    assert ([m.seq for m in messages], recovered) == ([2], False)


def test_epochs_differ_between_histories():
    assert History().epoch != History().epoch


def test_batch_refused_half_way_leaves_no_gap():
    pubsub = PubSub(MemoryBroker())
    ok = pubsub.prepare("t", 1)
    with pytest.raises(Exception):  # noqa: B017
        pubsub.prepare("t", float("nan"))
    pubsub.publish_message(ok)
    pubsub.publish("t", 2)
    assert [m.seq for m in pubsub.history.query("t", 0, 10)] == [1, 2]


# -- on real sockets ---------------------------------------------------------


@pytest.fixture
def config(tmp_path):
    return Config(api_key=KEY, state_dir=tmp_path / "state", info_interval=0.2, history_size=100_000)


async def read_until_seq(conn, last):
    frames = []
    while True:
        frame = await read_json(conn)
        frames.append(frame)
        if frame.get("action") == "publish" and frame.get("seq") == last:
            return frames


@pytest.mark.gen_test(timeout=20)
async def test_replay_with_publishes_racing_has_no_gap_and_no_duplicate(ws):
    watcher = await ws("/subscribe", clientName="watcher", protocol=2)
    await send_json(watcher, {"action": "subscribe", "event": "t"})
    confirm = await read_json(watcher)
    assert confirm["action"] == "subscribed" and confirm["seq"] == 0
    epoch = confirm["epoch"]
    pub = await ws("/publish", clientName="sensor")
    stop = asyncio.Event()
    sent = 0

    async def publish_until_stopped():
        nonlocal sent
        while not stop.is_set():
            await send_json(pub, {"event": "t", "data": sent})
            sent += 1
            await asyncio.sleep(0)  # let the hub interleave the other sockets

    publishing = asyncio.ensure_future(publish_until_stopped())
    await read_until_seq(watcher, 30)  # the hub is mid-stream
    late = await ws("/subscribe", clientName="late", protocol=2)
    await send_json(late, {"action": "subscribe", "event": "t", "since": {"seq": 10, "epoch": epoch}})
    marker = await read_json(late)
    await read_until_seq(watcher, marker["seq"] + 50)  # keep racing a while
    stop.set()
    await publishing
    frames = await read_until_seq(late, sent)
    assert marker["action"] == "subscribed" and marker["recovered"] is True
    # It joined mid-stream: some messages came by replay, the rest live.
    assert 30 <= marker["seq"] < sent - 50
    assert [f["seq"] for f in frames] == list(range(11, sent + 1))
    assert [f["data"] for f in frames] == list(range(10, sent))


@pytest.mark.gen_test
async def test_unreachable_since_says_not_recovered_and_sends_what_is_kept(ws, app):
    app.state.pubsub.history.size = 3
    app.state.pubsub.history._kept.clear()
    pub = await ws("/publish", clientName="sensor")
    for i in range(5):
        await send_json(pub, {"event": "t", "data": i, "id": i})
        await read_json(pub)  # ack: published
    late = await ws("/subscribe", clientName="late", protocol=2)
    await send_json(late, {"action": "subscribe", "event": "t", "since": {"seq": 0, "epoch": "old"}})
    marker = await read_json(late)
    assert marker["recovered"] is False and marker["seq"] == 5
    assert [(await read_json(late))["seq"] for _ in range(3)] == [3, 4, 5]


@pytest.mark.gen_test
async def test_since_on_a_wildcard_is_refused(ws):
    sub = await ws("/subscribe", clientName="a", protocol=2)
    await send_json(sub, {"action": "subscribe", "event": "t/+", "since": {"seq": 0, "epoch": "x"}, "id": 4})
    reply = await read_json(sub)
    error = "'since' applies to exact event names only, not 't/+'"
    assert reply == {"action": "error", "error": error, "id": 4}


@pytest.mark.gen_test
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


def test_epoch_changes_after_restart(hub_process):
    epochs = []
    for _ in range(2):
        hub = hub_process("--api-key", KEY)
        epochs.append(asyncio.run(_subscribe_epoch(hub)))
        assert hub.stop() == 0
    assert epochs[0] != epochs[1]


async def _subscribe_epoch(hub):
    url = f"{hub.ws_url}/subscribe?clientName=c&protocol=2"
    request = HTTPRequest(url, headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": "t", "since": {"seq": 3, "epoch": "gone"}})
    frame = await read_json(conn)
    conn.close()
    assert frame["recovered"] is False
    return frame["epoch"]


def test_history_size_from_the_environment(hub_process):
    hub = hub_process("--api-key", KEY, env={"PICLOUD_HISTORY_SIZE": "2"})

    async def check():
        from tornado.httpclient import AsyncHTTPClient

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


def test_events_past_the_limit_are_forgotten_least_recently_published_first():
    history = History(size=5, epoch="e", events=2)
    pubsub = PubSub(MemoryBroker(), history=history)
    for event in ("a", "b", "b", "a", "c"):  # c is one too many: b was published least recently
        pubsub.publish(event, event)
    assert sorted(history._seq) == sorted(history._kept) == ["a", "c"]
    assert history.forgotten_events == 1
    assert history.last_seq("b") == 0
    assert history.since("b", 2, "e") == ([], False)  # nothing to recover from

    again = pubsub.publish("b", "again")  # goes on above what was forgotten; a is forgotten now
    assert again.seq == 3 and json.loads(again.payload)["seq"] == 3
    assert sorted(history._seq) == ["b", "c"] and history.forgotten_events == 2
    assert history.since("b", 2, "e") == ([again], True)  # 3 follows 2: b lost nothing
    assert pubsub.publish("a", "x").seq == 3  # above the 2 a had
    assert sorted(history._seq) == ["a", "b"] and history.forgotten_events == 3


def test_a_forgotten_event_never_reuses_a_seq_a_subscriber_has_seen():
    history = History(size=5, epoch="e", events=1)
    pubsub = PubSub(MemoryBroker(), history=history)
    for _ in range(4):
        pubsub.publish("a", 1)  # a reaches 4
    pubsub.publish("b", 1)  # forgets a
    assert pubsub.publish("a", 2).seq == 5  # above the 4 a subscriber of "a" may have seen
    messages, recovered = history.since("a", 2, "e")  # 3 and 4 are gone
    assert ([m.seq for m in messages], recovered) == ([5], False)


def test_the_hub_takes_its_event_limit_from_the_config(tmp_path):
    from picloud.server.app import make_app

    app = make_app(Config(api_key=KEY, state_dir=tmp_path, history_events=7))
    assert app.state.pubsub.history.events == 7
    with pytest.raises(ValueError, match="history events must be >= 1, not 0"):
        History(events=0)
