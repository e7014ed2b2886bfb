"""Retained values, seq, history, catch-up and presence as the cluster's, with
a real Redis (started by the tests on a free port) and real hub processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.hub import read_json, send_json, subscribed
from tests.support.redisserver import connect, get, next_publish, publish_acked, wait_health, wait_until


@pytest.mark.gen_test(timeout=30)
async def test_retained_on_one_hub_reaches_new_subscribers_everywhere_and_survives_restarts(
    redis_server, hubs
):
    server = redis_server()
    a, b = hubs(server, 2)
    pub = await connect(a, "/publish", clientName="pub")
    await publish_acked(pub, event="home/temp", data=21.5, retain=True)

    old = await connect(b, "/subscribe", clientName="old")  # an original client
    await send_json(old, {"action": "subscribe", "event": "home/temp"})
    value = await next_publish(old)
    assert value["data"] == 21.5 and value["retained"] is True and value["seq"] == 1
    new = await connect(b, "/subscribe", clientName="new", protocol="2")
    await send_json(new, {"action": "subscribe", "event": "home/+", "id": 7})
    assert await read_json(new) == {"action": "subscribed", "event": "home/+", "id": 7}
    assert await next_publish(new) == value
    for hub in (a, b):
        assert (await get(hub, "/retained?event=home/temp"))["retained"] == [value]
        everything = (await get(hub, "/retained"))["retained"]
        assert [m for m in everything if not m["event"].startswith("$SYS/")] == [value]

    await publish_acked(pub, event="home/temp", data=None, retain=True)  # clears it
    late = await connect(b, "/subscribe", clientName="late")
    await subscribed(late, "home/temp")
    await send_json(pub, {"event": "home/temp", "data": "live"})
    assert (await next_publish(late))["data"] == "live"  # nothing retained came first
    assert (await get(b, "/retained?event=home/%23"))["retained"] == []

    await publish_acked(pub, event="home/door", data="open", retain=True)
    for hub in (a, b):
        hub.stop()
    (c,) = hubs(server, 1)  # the value is in Redis, not in a hub
    sub = await connect(c, "/subscribe", clientName="sub")
    await send_json(sub, {"action": "subscribe", "event": "home/door"})
    door = await next_publish(sub)
    assert door["data"] == "open" and door["epoch"] == value["epoch"]  # the cluster's epoch, in Redis


@pytest.mark.gen_test(timeout=30)
async def test_seq_and_history_are_the_same_on_every_hub(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    subs = [await connect(hub, "/subscribe", clientName=f"sub{i}") for i, hub in enumerate((a, b))]
    for sub in subs:
        await subscribed(sub, "t")
    wait_until(lambda: server.subscriber_count("t") == 2, "both hubs subscribed")
    pubs = [await connect(hub, "/publish", clientName=f"pub{i}") for i, hub in enumerate((a, b))]
    seen: list[list[tuple[int, str]]] = [[], []]
    for n in range(6):
        await send_json(pubs[n % 2], {"event": "t", "data": n})
        for i, sub in enumerate(subs):
            message = await next_publish(sub)
            assert message["data"] == n
            seen[i].append((message["seq"], message["epoch"]))
    assert seen[0] == seen[1]
    assert [seq for seq, _ in seen[0]] == [1, 2, 3, 4, 5, 6]
    epoch = seen[0][0][1]
    assert {e for _, e in seen[0]} == {epoch}
    # Encoded once: the frame relayed to b is byte for byte the one a delivers.
    await send_json(pubs[0], {"event": "t", "data": {"x": "a/b é"}})
    raw = [await sub.read_message() for sub in subs]
    assert raw[0] == raw[1] and json.loads(raw[0])["seq"] == 7

    for hub in (a, b):
        history = await get(hub, "/history?event=t&since=2&limit=3")
        assert history["epoch"] == epoch and history["last_seq"] == 7 and history["complete"] is True
        assert [(m["seq"], m["data"]) for m in history["messages"]] == [(3, 2), (4, 3), (5, 4)]
        other = await get(hub, "/history?event=t&since=2&epoch=elsewhere")
        assert other["complete"] is False and len(other["messages"]) == 7


@pytest.mark.gen_test(timeout=30)
async def test_concurrent_publishers_on_two_hubs_are_seen_in_seq_order_everywhere(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    subs = [await connect(hub, "/subscribe", clientName=f"sub{i}") for i, hub in enumerate((a, b))]
    for sub in subs:
        await subscribed(sub, "t")
    wait_until(lambda: server.subscriber_count("t") == 2, "both hubs subscribed")
    pubs = [await connect(hub, "/publish", clientName=f"pub{i}") for i, hub in enumerate((a, b))]

    async def burst(pub, name: str) -> None:
        for n in range(200):
            await send_json(pub, {"event": "t", "data": [name, n]})
            if n % 10 == 0:
                await asyncio.sleep(0.001)

    await asyncio.gather(burst(pubs[0], "a"), burst(pubs[1], "b"))
    orders = []
    for sub in subs:
        messages = [await next_publish(sub) for _ in range(400)]
        assert [m["seq"] for m in messages] == list(range(1, 401))
        for name in ("a", "b"):  # each publisher's order kept
            assert [m["data"][1] for m in messages if m["data"][0] == name] == list(range(200))
        orders.append([tuple(m["data"]) for m in messages])
    assert orders[0] == orders[1]
    for hub in (a, b):
        hub.stop()
        assert "Traceback" not in hub.stderr, hub.stderr


@pytest.mark.gen_test(timeout=30)
async def test_since_on_one_hub_replays_what_another_published_while_it_races(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2, "--history-size", "1000")
    pub = await connect(a, "/publish", clientName="pub")
    for n in range(1, 30):
        await send_json(pub, {"event": "t", "data": n})
    await publish_acked(pub, event="t", data=30)
    epoch = (await get(b, "/history?event=t&limit=1"))["epoch"]

    async def burst() -> None:
        for n in range(31, 401):
            await send_json(pub, {"event": "t", "data": n})
            if n % 20 == 0:
                await asyncio.sleep(0.001)  # spread the burst over the catch-up

    racing = asyncio.ensure_future(burst())
    # On b every message is relayed; on a (the publisher's hub) none is.
    subs = [await connect(hub, "/subscribe", clientName="resume", protocol="2") for hub in (b, a)]
    for sub in subs:
        await send_json(sub, {"action": "subscribe", "event": "t", "since": {"seq": 10, "epoch": epoch}})
    for sub in subs:
        confirmation = await read_json(sub)
        assert confirmation["action"] == "subscribed" and confirmation["recovered"] is True, confirmation
        assert confirmation["epoch"] == epoch and confirmation["seq"] >= 30
        seqs = []
        while len(seqs) < 390:
            message = await next_publish(sub)
            assert message["seq"] == message["data"] and message["epoch"] == epoch
            seqs.append(message["seq"])
        assert seqs == list(range(11, 401))  # no gap, no duplicate
    await racing
    for hub in (a, b):
        hub.stop()
        assert "Traceback" not in hub.stderr, hub.stderr


@pytest.mark.gen_test(timeout=40)
async def test_without_redis_delivery_goes_on_and_since_is_not_recovered(redis_server, hubs):
    server = redis_server()
    (a,) = hubs(server, 1)
    sub = await connect(a, "/subscribe", clientName="sub", protocol="2")
    await send_json(sub, {"action": "subscribe", "event": "t"})
    epoch = (await read_json(sub))["epoch"]
    pub = await connect(a, "/publish", clientName="pub")
    await send_json(pub, {"event": "t", "data": 1})
    assert (await next_publish(sub))["seq"] == 1

    server.stop()
    await wait_health(a, "degraded")
    await send_json(pub, {"event": "t", "data": 2})
    local = await next_publish(sub)  # delivered here, stamped by this hub alone
    assert local["data"] == 2 and local["epoch"] != epoch
    resume = await connect(a, "/subscribe", clientName="resume", protocol="2")
    await send_json(resume, {"action": "subscribe", "event": "t", "since": {"seq": 1, "epoch": epoch}})
    confirmation = await read_json(resume)
    assert confirmation["recovered"] is False, confirmation
    assert [(await next_publish(resume))["data"]] == [2]  # what this hub kept meanwhile
    with pytest.raises(HTTPClientError) as refused:
        await get(a, "/history?event=t")
    assert refused.value.code == 503
    await send_json(pub, {"event": "t", "data": 3, "retain": True, "id": 9})
    assert (await read_json(pub))["action"] == "error"  # not stored: no Redis
    assert (await next_publish(sub))["data"] == 3

    for _ in range(8):  # an outbox that takes Redis many round trips to relay
        await send_json(pub, [{"event": "bulk", "data": n} for n in range(1000)])

    server.restart()  # empty: sequences restart with a new epoch
    await wait_health(a, "ok")  # ok: the outbox is relayed, Redis stamps again
    await send_json(pub, {"event": "t", "data": 4})
    message = await next_publish(sub)
    assert message["data"] == 4 and message["epoch"] not in (epoch, local["epoch"])
    a.stop()
    assert "Traceback" not in a.stderr, a.stderr


async def info_until(hub, condition) -> None:
    """Read /info snapshots until ``condition`` holds for the nodes holding "kitchen"."""
    info = await connect(hub, "/info")
    while True:
        snapshot = await read_json(info)
        if condition([c["node"] for c in snapshot["all_connections"] if c["client_name"] == "kitchen"]):
            info.close()
            return


@pytest.mark.gen_test(timeout=30)
async def test_presence_is_the_clusters_and_a_dead_hubs_clients_go_offline(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    kitchen = await connect(a, "/publish", clientName="kitchen")
    watcher = await connect(b, "/subscribe", clientName="watcher")
    await send_json(watcher, {"action": "subscribe", "event": "$SYS/clients/kitchen"})
    assert (await next_publish(watcher))["data"]["online"] is True  # retained, or live if it came just now

    await info_until(b, lambda nodes: len(nodes) == 1)  # b knows a holds it
    second = await connect(b, "/publish", clientName="kitchen")  # the name on both hubs: no news
    await info_until(a, lambda nodes: len(nodes) == 2)
    kitchen.close()
    await info_until(b, lambda nodes: len(nodes) == 1)
    # b still holds the name: a did not announce it offline
    assert (await get(a, "/retained?event=%24SYS/clients/kitchen"))["retained"][0]["data"]["online"] is True
    second.close()
    assert (await next_publish(watcher))["data"]["online"] is False

    again = await connect(a, "/subscribe", clientName="kitchen")
    assert (await next_publish(watcher))["data"]["online"] is True
    a.stop(signal.SIGKILL)
    killed = time.monotonic()
    assert (await next_publish(watcher))["data"]["online"] is False
    assert time.monotonic() - killed < 8
    again.close()


@pytest.mark.gen_test(timeout=30)
async def test_history_in_redis_keeps_the_last_n_for_at_most_the_ttl(redis_server, hubs):
    server = redis_server()
    (a,) = hubs(server, 1, "--history-size", "5", "--history-ttl", "1")
    pub = await connect(a, "/publish", clientName="pub")
    for n in range(1, 7):
        await send_json(pub, {"event": "t", "data": n})
    await publish_acked(pub, event="t", data=7)
    history = await get(a, "/history?event=t")
    assert [m["seq"] for m in history["messages"]] == [3, 4, 5, 6, 7]
    assert history["complete"] is False and history["last_seq"] == 7
    with server.client() as client:
        assert client.xlen("test:hist:t") == 5
        assert 0 < client.pttl("test:hist:t") <= 1000
    deadline = time.monotonic() + 5
    while (await get(a, "/history?event=t"))["messages"]:  # aged out (Redis expires the stream too)
        assert time.monotonic() < deadline, "kept messages never aged out"
        await asyncio.sleep(0.1)
    assert (await get(a, "/history?event=t"))["last_seq"] == 7
