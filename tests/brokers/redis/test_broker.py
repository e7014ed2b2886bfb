"""Several hubs as one through a real Redis: each test starts its own
redis-server on a free port and real ``picloud serve`` processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time

import pytest

from picloud.brokers import broker_from_url
from picloud.brokers.memory import MemoryBroker
from picloud.brokers.redis import RedisBroker
from picloud.brokers.redis.broker import _until_cancelled
from picloud.brokers.redis.membership import redact
from tests.support.hub import KEY, read_json, send_json, subscribed
from tests.support.redisserver import PREFIX, connect, health, next_data, nodes_by_client, wait_health, wait_until


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


@pytest.mark.gen_test(timeout=30)
async def test_info_lists_the_cluster_and_forgets_a_killed_node(redis_server, hubs):
    server = redis_server()
    cluster = hubs(server, 3)
    for i, hub in enumerate(cluster):
        sub = await connect(hub, "/subscribe", clientName=f"sub{i}")
        await subscribed(sub, "shared", f"only{i}")
    info_socket = await connect(cluster[0], "/info")

    names = {"sub0", "sub1", "sub2"}
    events = {"shared", "only0", "only1", "only2"}
    # Each node publishes its part on its own timer: a node may show its
    # connection in one refresh and its subscriptions in the next.
    while True:
        info = await read_json(info_socket)
        if set(nodes_by_client(info)) == names and {s["name"] for s in info["subscriptions"]} >= events:
            break
    nodes = nodes_by_client(info)
    assert len(set(nodes.values())) == 3
    assert all(set(c) == {"client_name", "ip_address", "connected_at", "node"} for c in info["all_connections"])
    subscriptions = {s["name"]: s["connections"] for s in info["subscriptions"]}
    assert sorted(c["client_name"] for c in subscriptions["shared"]) == sorted(names)
    for i in range(3):
        assert [c["client_name"] for c in subscriptions[f"only{i}"]] == [f"sub{i}"]
    assert list(info) == ["subscriptions", "all_connections", "created_at"]

    cluster[2].stop(signal.SIGKILL)
    killed_at = time.monotonic()
    while "sub2" in nodes_by_client(info):
        info = await read_json(info_socket)
    assert time.monotonic() - killed_at < 6
    assert set(nodes_by_client(info)) == {"sub0", "sub1"}
    assert "only2" not in {s["name"] for s in info["subscriptions"]}


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
    a.stop()
    assert a.stderr.count("unreachable (") == 1, a.stderr  # logged once, not per retry


@pytest.mark.gen_test(timeout=30)
async def test_password_protected_redis_never_shows_the_password(redis_server, hubs, hub_process):
    password = "s3cret-pass"
    server = redis_server(password=password)
    a, b = hubs(server, 2)
    sub = await connect(b, "/subscribe", clientName="sub")
    await subscribed(sub, "t")
    wait_until(lambda: server.subscriber_count("t") == 1, "node b subscribed")
    pub = await connect(a, "/publish", clientName="pub")
    await send_json(pub, {"event": "t", "data": "hello"})
    assert await next_data(sub) == "hello"
    info = await read_json(await connect(a, "/info"))
    assert password not in json.dumps(info)

    wrong = hub_process(
        "--api-key", KEY, "--broker", server.url.replace(password, "wrong-pass"), "--broker-prefix", PREFIX
    )
    assert (await health(wrong))["broker"] == "degraded"
    for hub in (a, b, wrong):
        hub.stop()
        assert password not in hub.stderr and "wrong-pass" not in hub.stderr
    assert "redis://:***@127.0.0.1" in a.stderr
    assert "redis://:***@127.0.0.1" in wrong.stderr


@pytest.mark.gen_test(timeout=30)
async def test_rediss_with_password(redis_server, hubs, tls_files):
    server = redis_server(password="tls-pass", tls=tls_files)
    a, b = hubs(server, 2)
    sub = await connect(b, "/subscribe", clientName="sub")
    await subscribed(sub, "t")
    wait_until(lambda: server.subscriber_count("t") == 1, "node b subscribed over tls")
    pub = await connect(a, "/publish", clientName="pub")
    await send_json(pub, {"event": "t", "data": "over tls"})
    assert await next_data(sub) == "over tls"
    assert (await health(a))["broker"] == "ok"
    a.stop()
    assert "rediss://:***@127.0.0.1" in a.stderr and "tls-pass" not in a.stderr


@pytest.mark.gen_test(timeout=30)
async def test_full_outbox_drops_the_oldest_and_says_so(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2, "--broker-outbox", "3")
    sub_b = await connect(b, "/subscribe", clientName="sub-b")
    await subscribed(sub_b, "t")
    wait_until(lambda: server.subscriber_count("t") == 1, "node b subscribed")
    info_socket = await connect(a, "/info")
    while "sub-b" not in nodes_by_client(await read_json(info_socket)):
        pass  # node a knows node b, so it waits for b to re-subscribe after the outage
    pub = await connect(a, "/publish", clientName="pub")
    await send_json(pub, {"event": "t", "data": 0})
    assert await next_data(sub_b) == 0

    server.stop()
    for n in range(1, 6):
        await send_json(pub, {"event": "t", "data": n})
    await wait_health(a, "degraded")
    server.restart()
    assert [await next_data(sub_b) for _ in range(3)] == [3, 4, 5]
    await send_json(pub, {"event": "t", "data": 6})
    assert await next_data(sub_b) == 6
    a.stop()
    assert "broker outbox full (3 messages)" in a.stderr
    assert "2 messages for other hubs were dropped" in a.stderr


def test_redact_hides_passwords():
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("rediss://user:pw@host/1") == "rediss://user:***@host/1"
    assert redact("redis://host/0?password=pw&db=2") == "redis://host/0?password=%2A%2A%2A&db=2"
    assert redact("redis://host:6379") == "redis://host:6379"


def test_broker_from_url_picks_redis_and_checks_the_url():
    broker = broker_from_url("redis://127.0.0.1:1/0", prefix="p", outbox=5)
    assert isinstance(broker, RedisBroker)
    assert broker.state == "degraded"  # not started
    assert isinstance(broker_from_url("memory://"), MemoryBroker)


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
