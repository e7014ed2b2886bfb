"""The broker outbox (picloud/brokers/redis/backlog.py): bounded, the oldest
dropped and counted, unconfirmed messages put back in front (without I/O);
and a full outbox between real hubs."""

from __future__ import annotations

import logging

import pytest

from picloud.brokers.redis.backlog import Backlog
from tests.support.hub import read_json, send_json, subscribed
from tests.support.redisserver import connect, next_data, nodes_by_client, wait_health, wait_until


def test_backlog_drops_the_oldest_counts_and_logs_once(caplog):
    backlog = Backlog(3)
    with caplog.at_level(logging.WARNING, logger="picloud.broker"):
        for n in range(5):
            backlog.append((b"c", str(n).encode(), None))
    assert [data for _, data, _ in backlog.queue] == [b"2", b"3", b"4"]
    assert backlog.dropped == 2
    assert [r.getMessage() for r in caplog.records] == [
        "broker outbox full (3 messages): dropping the oldest messages for other hubs"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="picloud.broker"):
        backlog.report()
        backlog.report()
    assert [r.getMessage() for r in caplog.records] == ["2 messages for other hubs were dropped (outbox full)"]


def test_unconfirmed_messages_go_back_in_front_within_the_bound():
    backlog = Backlog(3)
    for n in range(3):
        backlog.append((b"c", str(n).encode(), None))
    assert backlog.take(2) == [(b"c", b"0", None), (b"c", b"1", None)]
    backlog.append((b"c", b"3", None))
    backlog.append((b"c", b"4", None))  # queue full again while 0 and 1 are in flight
    assert len(backlog) == 5
    backlog.requeue()
    assert [data for _, data, _ in backlog.queue] == [b"2", b"3", b"4"]
    assert backlog.dropped == 2
    assert backlog.take(1) == [(b"c", b"2", None)]
    backlog.confirm()
    backlog.requeue()
    assert [data for _, data, _ in backlog.queue] == [b"3", b"4"]


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


def test_the_outbox_is_bounded_in_bytes_too(caplog):
    backlog = Backlog(100, max_bytes=1000)
    item = (b"picloud:msg:t", b"n\n" + b"x" * 285, None)  # 300 bytes
    for _ in range(5):
        backlog.append(item)
    assert (len(backlog), backlog.bytes, backlog.dropped) == (3, 900, 2)
    backlog.append((b"picloud:msg:t", b"n\n{}", (b"t", b"y" * 600)))  # a retained value counts too
    assert len(backlog) == 2 and backlog.bytes <= 1000 and backlog.dropped == 4
    taken = backlog.take(10)
    backlog.requeue()  # the session was lost: all back, still within bounds
    assert len(backlog) == len(taken) and backlog.bytes <= 1000
    backlog.take(10)
    backlog.confirm()
    assert (len(backlog), backlog.bytes) == (0, 0)
    assert "broker outbox full (1000 bytes)" in caplog.text
