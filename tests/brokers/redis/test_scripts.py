"""What the PUBLISH script keeps in Redis (picloud/brokers/redis/scripts.py):
an event's last N messages, for at most the history TTL. Real redis-server
and hub processes."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.hub import send_json
from tests.support.redisserver import connect, get, publish_acked


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
