"""The asyncio client (picloud/client/aio.py, also picloud.aclient), which the
sync Client runs on: it resumes from the last seq it saw across a cut
connection, a restart of a hub on Redis, and a restart that loses the history
(a gap, reported), with real hub processes, a real TCP proxy, a real Redis.
Then its own API, and what it sends on resubscribing to a stand-in peer."""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

import pytest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port
from tornado.web import Application
from tornado.websocket import WebSocketHandler

from picloud.aclient import AsyncClient
from picloud.client import Client, Gap, Message, publish_http
from tests.support.hub import KEY, read_json, subscribed
from tests.support.process import wait_subscribed
from tests.support.redisserver import PREFIX
from tests.support.tcpproxy import TcpProxy

FAST = {"min_backoff": 0.05, "max_backoff": 0.2}


class Subscriber:
    """A sync Client whose callbacks run in ``run_forever()`` on a thread of its own."""

    def __init__(self, url: str, event: str) -> None:
        self.messages: queue.Queue[Message] = queue.Queue()
        self.gaps: queue.Queue[Gap] = queue.Queue()
        self.client = Client(url, KEY, "sub", on_gap=self.gaps.put, **FAST)
        self.client.subscribe(event, self.messages.put)
        self._thread = threading.Thread(target=self.client.run_forever, daemon=True)
        self._thread.start()

    def until(self, last: Any) -> list[Message]:
        """Every message up to the one whose data is ``last``."""
        seen = []
        while not seen or seen[-1].data != last:
            seen.append(self.messages.get(timeout=15))
        return seen

    def close(self) -> None:
        self.client.close()
        self._thread.join(timeout=10)


def test_wifi_drop_loses_nothing_and_repeats_nothing(hub_process):
    hub = hub_process("--api-key", KEY)
    proxy = TcpProxy(hub.port)
    sub = Subscriber(proxy.url, "t")
    try:
        with Client(hub.url, KEY, "pub") as pub:
            wait_subscribed(pub, "t", "sub")
            pub.publish("t", 1)
            assert [m.data for m in sub.until(1)] == [1]

            proxy.cut()
            wait_subscribed(pub, "t", "sub", present=False)
            pub.publish_many([("t", n) for n in range(2, 7)])
            proxy.restore()
            wait_subscribed(pub, "t", "sub")
            pub.publish("t", "end")  # live, after the replay: duplicates would come before it
            seen = sub.until("end")
    finally:
        sub.close()
        proxy.close()
    assert [m.data for m in seen] == [2, 3, 4, 5, 6, "end"]
    assert [m.seq for m in seen] == [2, 3, 4, 5, 6, 7]
    assert sub.gaps.empty()
    assert sub.messages.empty()


def test_a_drop_longer_than_the_history_reports_a_gap_and_delivers_what_is_kept(hub_process):
    hub = hub_process("--api-key", KEY, "--history-size", "2")
    proxy = TcpProxy(hub.port)
    sub = Subscriber(proxy.url, "t")
    try:
        with Client(hub.url, KEY, "pub") as pub:
            wait_subscribed(pub, "t", "sub")
            pub.publish("t", 1)
            first = sub.until(1)[0]
            proxy.cut()
            wait_subscribed(pub, "t", "sub", present=False)
            for n in range(2, 7):
                pub.publish_http("t", n, retain=True)  # 201: numbered, only 5 and 6 kept
            proxy.restore()
            gap = sub.gaps.get(timeout=15)
            wait_subscribed(pub, "t", "sub")
            pub.publish("t", "end")
            seen = sub.until("end")
    finally:
        sub.close()
        proxy.close()
    # The retained value first, then the two kept (the retained one's copy dropped).
    assert [(m.seq, m.data, m.frame.get("retained")) for m in seen] == [
        (6, 6, True), (5, 5, None), (7, "end", None)]
    assert gap == Gap("t", (1, first.epoch), first.epoch, 6)
    assert sub.messages.empty()


def test_hub_restart_on_redis_replays_what_another_hub_took(hub_process, redis_server):
    server = redis_server()
    args = ("--api-key", KEY, "--broker-prefix", PREFIX, "--shutdown-drain", "0", "--broker", server.url)
    hub, other = hub_process(*args), hub_process(*args)
    sub = Subscriber(hub.url, "t")
    try:
        wait_subscribed(sub.client, "t", "sub")
        publish_http("t", 1, url=other.url, api_key=KEY, client_name="pub")
        first = sub.until(1)

        assert hub.stop() == 0
        for n in range(2, 6):  # while the subscriber's hub is away
            publish_http("t", n, url=other.url, api_key=KEY, client_name="pub", retain=n == 5)
        hub = hub_process(*args, "--port", str(hub.port))
        publish_http("t", 6, url=other.url, api_key=KEY, client_name="pub")
        wait_subscribed(sub.client, "t", "sub")
        publish_http("t", "end", url=hub.url, api_key=KEY, client_name="pub")
        seen = sub.until("end")
    finally:
        sub.close()
    assert sub.gaps.empty(), sub.gaps.get()
    assert [m.data for m in seen] == [2, 3, 4, 5, 6, "end"]
    assert [m.seq for m in seen] == [2, 3, 4, 5, 6, 7]
    assert {m.epoch for m in seen} == {first[0].epoch}  # Redis kept its data: same epoch
    assert sub.gaps.empty()


def test_hub_restart_without_history_reports_a_gap(hub_process):
    hub = hub_process("--api-key", KEY)
    sub = Subscriber(hub.url, "t")
    try:
        wait_subscribed(sub.client, "t", "sub")
        publish_http("t", "before", url=hub.url, api_key=KEY, client_name="pub", retain=True)
        before = sub.until("before")[0]

        assert hub.stop() == 0
        hub = hub_process("--api-key", KEY, "--port", str(hub.port))
        # Kept by the new hub: sent with the answer that says "not recovered"
        # (or live, if the client is back already).
        publish_http("t", "after", url=hub.url, api_key=KEY, client_name="pub")
        gap = sub.gaps.get(timeout=15)
        wait_subscribed(sub.client, "t", "sub")
        publish_http("t", "end", url=hub.url, api_key=KEY, client_name="pub")
        # The retained "before" comes back from disk with the answer: not repeated.
        seen = sub.until("end")
    finally:
        sub.close()
    assert [m.data for m in seen] == ["after", "end"]
    assert (gap.event, gap.since) == ("t", (before.seq, before.epoch))
    assert gap.epoch not in (None, before.epoch)
    assert sub.gaps.empty()


def test_a_restart_without_history_is_one_info_line_not_a_warning_per_event(hub_process, caplog):
    hub = hub_process("--api-key", KEY)
    sub = Subscriber(hub.url, "t")
    try:
        for event in ("u", "v"):
            sub.client.subscribe(event, sub.messages.put)
        wait_subscribed(sub.client, "v", "sub")
        for event in ("t", "u", "v"):
            publish_http(event, event, url=hub.url, api_key=KEY, client_name="pub")
        sub.until("v")
        assert hub.stop() == 0
        with caplog.at_level("INFO", logger="picloud.client"):
            hub = hub_process("--api-key", KEY, "--port", str(hub.port))
            for _ in range(3):
                sub.gaps.get(timeout=15)  # every event is told, to on_gap
    finally:
        sub.close()
    said = [r for r in caplog.records if "resume" in r.getMessage()]
    assert [r.levelname for r in said] == ["INFO"]
    assert "restarted without its history" in said[0].getMessage()


@pytest.mark.gen_test
async def test_since_without_epoch_means_the_hubs_current_one(ws, base_url):
    async with AsyncClient(base_url, KEY, "pub") as pub:
        for n in range(1, 5):
            await pub.publish_http("t", n, retain=True)  # 201: numbered and kept
    gaps: list[Gap] = []
    async with AsyncClient(base_url, KEY, "late", on_gap=gaps.append) as sub:
        await sub.subscribe("t", since=(2, None))
        seen = [await sub.__anext__(), await sub.__anext__()]
        async with AsyncClient(base_url, KEY, "pub") as pub:
            await pub.publish("t", "end")
        seen.append(await sub.__anext__())
    assert [(m.seq, m.data) for m in seen] == [(3, 3), (4, 4), (5, "end")]
    assert gaps == []


# -- the asyncio client on its own -------------------------------------------

@pytest.mark.gen_test
async def test_async_client(ws, base_url):
    received = []
    async with AsyncClient(base_url, KEY, "async-sub") as sub, AsyncClient(base_url, KEY, "async-pub") as pub:
        await sub.connect()
        await sub.subscribe("a", received.append)
        await sub.subscribe("b")
        # A websocket subscriber on the same events is the barrier: once it
        # has its message, the client's earlier subscription has it too.
        probe = await ws("/subscribe", clientName="probe")
        await subscribed(probe, "b")
        await pub.publish("a", 1)
        await pub.publish("b", 2)
        assert (await read_json(probe))["data"] == 2
        message = await sub.__anext__()
        assert (message.event, message.data) == ("b", 2)
        assert [m.data for m in received] == [1]
        info = await pub.info()
        assert "async-sub" in [c["client_name"] for c in info["all_connections"]]


class RecordingHub(WebSocketHandler):
    """A peer that speaks the history extension (seq/epoch), which the hub
    does not number yet: it records subscribe frames and answers with one
    numbered message, then drops the connection."""

    frames: list = []

    def on_message(self, message):
        frame = json.loads(message)
        self.frames.append(frame)
        self.write_message({"action": "publish", "event": frame["event"], "data": len(self.frames),
                            "created_at": "2026-01-01T00:00:00.000000Z", "seq": 7 + len(self.frames),
                            "epoch": "e1"})
        if len(self.frames) == 1:
            self.close()


@pytest.mark.gen_test
async def test_resubscribe_sends_since_from_last_seq():
    RecordingHub.frames = []
    sock, port = bind_unused_port()
    server = HTTPServer(Application([(r"/subscribe", RecordingHub)]))
    server.add_sockets([sock])
    try:
        async with AsyncClient(f"http://127.0.0.1:{port}", KEY, "resumer", min_backoff=0.01) as client:
            await client.subscribe("t", since=(3, None))
            first = await client.__anext__()
            second = await client.__anext__()
    finally:
        server.stop()
    assert (first.seq, first.epoch, second.seq) == (8, "e1", 9)
    assert RecordingHub.frames == [
        {"action": "subscribe", "event": "t", "since": {"seq": 3, "epoch": ""}},
        {"action": "subscribe", "event": "t", "since": {"seq": 8, "epoch": "e1"}},
    ]
