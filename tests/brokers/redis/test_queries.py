"""Presence as the cluster sees it (picloud/brokers/redis/queries.py): online
while any hub holds the name, offline soon after its hub dies. Real
redis-server and hub processes."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.hub import read_json, send_json
from tests.support.redisserver import connect, get, next_publish


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
