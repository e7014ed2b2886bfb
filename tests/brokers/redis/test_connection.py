"""How the broker reaches Redis (picloud/brokers/redis/connection.py): with a
password, over TLS, and the password never shown. Real redis-server and hub
processes."""

from __future__ import annotations

import json

import pytest

from tests.support.hub import KEY, read_json, send_json, subscribed
from tests.support.redisserver import PREFIX, connect, health, next_data, wait_until


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
