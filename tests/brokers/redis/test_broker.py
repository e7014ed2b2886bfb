"""Relaying through Redis (picloud/brokers/redis/broker.py): several hubs as one,
local delivery through an outage and the backlog relayed after it. Each test
starts its own redis-server on a free port and real ``picloud serve``
processes."""

from __future__ import annotations

import asyncio

import pytest
from tornado.httpclient import AsyncHTTPClient

from picloud.brokers.redis.broker import _until_cancelled
from tests.support.hub import KEY, read_json, send_json, subscribed
from tests.support.redisserver import connect, next_data, nodes_by_client, wait_health, wait_until


@pytest.mark.gen_test(timeout=30)
async def test_three_hubs_publish_on_each_receive_on_all_exactly_once(redis_server, hubs):
    server = redis_server()
    cluster = hubs(server, 3)
    subs = []
    for i, hub in enumerate(cluster):
        sub = await connect(hub, "/subscribe", clientName=f"sub{i}")
        await subscribed(sub, "t")
        subs.append(sub)
    wait_until(lambda: server.subscriber_count("t") == 3, "three nodes subscribed in redis")
    pubs = [await connect(hub, "/publish", clientName=f"pub{i}") for i, hub in enumerate(cluster)]

    # Rounds in turn: a node delivering its own message twice would show the
    # copy (which comes back through Redis) before the next round's message.
    for round_ in range(2):
        for i, pub in enumerate(pubs):
            await send_json(pub, {"event": "t", "data": {"from": i, "round": round_}})
            for sub in subs:
                assert await next_data(sub) == {"from": i, "round": round_}
    await send_json(pubs[0], {"event": "t", "data": "end"})
    for sub in subs:
        assert await next_data(sub) == "end"


@pytest.mark.gen_test(timeout=40)
async def test_redis_outage_keeps_local_delivery_and_relays_the_backlog(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    sub_a = await connect(a, "/subscribe", clientName="sub-a")
    sub_b = await connect(b, "/subscribe", clientName="sub-b")
    await subscribed(sub_a, "t")
    await subscribed(sub_b, "t")
    wait_until(lambda: server.subscriber_count("t") == 2, "both nodes subscribed")
    # Let each node see the other in a heartbeat, as in a cluster that ran a while.
    info_socket = await connect(a, "/info")
    while "sub-b" not in nodes_by_client(await read_json(info_socket)):
        pass
    pub = await connect(a, "/publish", clientName="pub")
    await send_json(pub, {"event": "t", "data": 0})
    assert await next_data(sub_a) == 0
    assert await next_data(sub_b) == 0

    server.stop()
    for n in range(1, 6):
        await send_json(pub, {"event": "t", "data": n})
        assert await next_data(sub_a) == n  # local delivery goes on
    body = await wait_health(a, "degraded")
    assert body["status"] == "degraded"

    server.restart()
    for n in range(1, 6):
        assert await next_data(sub_b) == n  # in order, once Redis is back
    await wait_health(a, "ok")
    await send_json(pub, {"event": "t", "data": 6})
    assert await next_data(sub_a) == 6
    assert await next_data(sub_b) == 6
    metrics = await AsyncHTTPClient().fetch(f"{a.url}/metrics", headers={"X-API-Key": KEY})
    assert "\npicloud_broker_reconnects_total 1\n" in metrics.body.decode()
    a.stop()
    assert a.stderr.count("unreachable (") == 1, a.stderr  # logged once, not per retry


@pytest.mark.gen_test
async def test_a_session_task_that_swallows_its_cancellation_is_cancelled_again():
    swallowed = []

    async def carries_on() -> None:
        # What redis-py did under load: a cancelled command returned normally.
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed.append(True)

    tasks = [asyncio.ensure_future(carries_on()), asyncio.ensure_future(asyncio.sleep(3600))]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await asyncio.wait_for(_until_cancelled(tasks), 5)
    assert swallowed == [True] and all(task.cancelled() for task in tasks)


@pytest.mark.gen_test(timeout=30)
async def test_a_name_that_is_not_text_never_reaches_redis(redis_server, hubs):
    """Its channel name could not be encoded: the hub's Redis session would drop."""
    server = redis_server()
    a, b = hubs(server, 2)
    prober = await connect(a, "/subscribe", clientName="prober")
    await prober.write_message('{"action": "subscribe", "event": "\\ud800"}')
    assert "not valid utf-8 text" in (await read_json(prober))["error"]
    sub = await connect(a, "/subscribe", clientName="sub-a")
    await subscribed(sub, "t")
    wait_until(lambda: server.subscriber_count("t") == 1, "a subscribed in redis")
    pub = await connect(b, "/publish", clientName="pub-b")
    await send_json(pub, {"event": "t", "data": "across"})
    assert await next_data(sub) == "across"  # the session is whole
    assert (await wait_health(a, "ok"))["broker"] == "ok"
