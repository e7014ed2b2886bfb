"""A node's Redis subscriptions follow what its clients want
(picloud/brokers/redis/channels.py): exact channels, or every event of the
prefix while a wildcard filter exists. Real redis-server and hub processes."""

from __future__ import annotations

import pytest

from tests.support.hub import send_json, subscribed
from tests.support.redisserver import connect, next_data, wait_until


@pytest.mark.gen_test(timeout=30)
async def test_subscribe_and_unsubscribe_propagate_to_redis(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    pub = await connect(a, "/publish", clientName="pub")
    sub = await connect(b, "/subscribe", clientName="sub")
    assert server.subscriber_count("x") == 0
    await subscribed(sub, "x", "y")
    wait_until(lambda: server.subscriber_count("x") == 1, "node b subscribed to x")
    await send_json(pub, {"event": "x", "data": 1})
    assert await next_data(sub) == 1

    await send_json(sub, {"action": "unsubscribe", "event": "x"})
    await subscribed(sub)  # barrier
    wait_until(lambda: server.subscriber_count("x") == 0, "node b unsubscribed from x")
    assert server.subscriber_count("y") == 1
    await send_json(pub, {"event": "x", "data": 2})
    await send_json(pub, {"event": "y", "data": 3})
    assert await next_data(sub) == 3


@pytest.mark.gen_test(timeout=30)
async def test_a_wildcard_filter_subscribes_broadly_and_exactly_once(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    pub = await connect(a, "/publish", clientName="pub")
    sub = await connect(b, "/subscribe", clientName="sub")
    await subscribed(sub, "x")
    wait_until(lambda: server.subscriber_count("x") == 1, "node b subscribed to x")

    watcher = await connect(b, "/subscribe", clientName="watcher")
    await subscribed(watcher, "home/+/temperature")
    wait_until(lambda: server.pattern_count() == 1, "node b subscribed to every event")
    wait_until(lambda: server.subscriber_count("x") == 0, "node b dropped its exact subscriptions")
    await send_json(pub, {"event": "x", "data": 1})
    await send_json(pub, {"event": "unwatched", "data": 2})  # reaches b, filtered there
    await send_json(pub, {"event": "x", "data": 3})
    assert await next_data(sub) == 1
    assert await next_data(sub) == 3  # once each, not once per subscription

    watcher.close()
    wait_until(lambda: server.pattern_count() == 0, "node b back to exact subscriptions")
    assert server.subscriber_count("x") == 1
    await send_json(pub, {"event": "x", "data": 4})
    assert await next_data(sub) == 4
