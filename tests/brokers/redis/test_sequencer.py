"""Numbering in Redis (picloud/brokers/redis/sequencer.py): the same seq and
history on every hub, in publish order, and the hub's own numbering while
Redis is away. Real redis-server and hub processes."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.hub import read_json, send_json, subscribed
from tests.support.redisserver import connect, get, next_publish, wait_health, wait_until


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
