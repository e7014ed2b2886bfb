"""Catching up from Redis (picloud/brokers/redis/catchup.py): retained values
and ``since`` replays reach subscribers on every hub, with no gap while
publishes race. Real redis-server and hub processes."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.hub import read_json, send_json, subscribed
from tests.support.redisserver import connect, get, next_publish, publish_acked


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
