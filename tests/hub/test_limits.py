"""Size, connection, subscription, batch and rate limits."""

from __future__ import annotations

import json
import resource
import select
import socket
import time

import pytest
from tornado.httpclient import HTTPClientError

from picloud.config import Config
from picloud.hub.limits import TokenBucket
from picloud.server.app import make_app
from picloud.server.openfiles import fit_connection_cap
from tests.support.hub import KEY, post, read_json, send_json, subscribed
from tests.support.rawws import chunked_post, read_head


@pytest.fixture
def config(tmp_path):
    return Config(
        api_key=KEY, state_dir=tmp_path, max_message_bytes=2048, max_connections=3,
        max_subscriptions=3, max_batch=3, publish_rate=2, publish_burst=2,
    )


@pytest.fixture
def app(config):
    return make_app(config)


@pytest.mark.gen_test
async def test_oversized_websocket_message_closes_with_1009(ws):
    pub = await ws("/publish", clientName="p")
    await pub.write_message(json.dumps({"event": "t", "data": "x" * 3000}))
    assert await pub.read_message() is None
    assert pub.close_code == 1009


@pytest.mark.gen_test
async def test_oversized_http_body_is_413_with_json(http_client, base_url):
    response = await post(http_client, base_url, {"event": "t", "data": "x" * 3000})
    assert response.code == 413
    assert json.loads(response.body) == {"error": "body over 2048 bytes"}
    assert (await post(http_client, base_url, {"event": "t", "data": "x" * 1000})).code == 201
    # the key is checked before the size: no hint to someone without it
    assert (await post(http_client, base_url, "x" * 3000, key="nope")).code == 401


def test_chunked_bodies_are_counted_against_a_running_hub(hub_process):
    hub = hub_process("--api-key", KEY, "--max-message-bytes", "4096")
    status, body = chunked_post(hub.port, json.dumps({"event": "t", "data": "y" * 9000}).encode())
    assert status == 413
    assert b"body over 4096 bytes" in body
    status, _ = chunked_post(hub.port, json.dumps({"event": "t", "data": "y" * 3000}).encode())
    assert status == 201
    # Content-Length over the limit, larger than Tornado's own limit too
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
                     b"X-API-Key: " + KEY.encode() + b"\r\nX-API-Client-Name: c\r\n\r\n")
        assert read_head(sock)[0] == 413


@pytest.mark.gen_test
async def test_connections_over_the_cap_get_503_after_auth_checks(ws, app):
    conns = [await ws("/subscribe", clientName=f"s{i}") for i in range(3)]
    with pytest.raises(HTTPClientError) as full:
        await ws("/subscribe", clientName="late")
    assert full.value.code == 503
    with pytest.raises(HTTPClientError) as unauthorized:
        await ws("/subscribe", key="wrong", clientName="late")
    assert unauthorized.value.code == 401
    with pytest.raises(HTTPClientError) as nameless:
        await ws("/subscribe")
    assert nameless.value.code == 400
    conns[0].close()
    await conns[0].read_message()
    while len(app.state.sockets) == 3:  # the hub notices the close on its next read
        await subscribed(conns[1])
    await ws("/subscribe", clientName="now-there-is-room")


def test_connection_cap_is_kept_below_the_open_files_limit():
    config = Config(max_connections=10000)
    fit_connection_cap(config, 1024)
    assert config.max_connections == 1024 - 64
    fit_connection_cap(config, 1 << 20)
    assert config.max_connections == 1024 - 64


def test_hub_raises_its_open_files_limit(hub_process):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.fail(f"this machine's hard open-files limit ({hard}) cannot show the raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        hub = hub_process("--api-key", KEY, "--max-connections", str(hard * 2))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = open(f"/proc/{hub.proc.pid}/limits").read()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)]
    hub.stop()
    assert f"max connections lowered from {hard * 2} to {hard - 64}" in hub.stderr


@pytest.mark.gen_test
async def test_subscriptions_per_connection_are_limited(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "a", "b", "c")
    await send_json(sub, {"action": "subscribe", "event": "d"})
    assert await read_json(sub) == {"action": "error", "error": "too many subscriptions (limit 3)"}
    await subscribed(sub, "a")  # already subscribed: no error
    await send_json(sub, {"action": "unsubscribe", "event": "a"})
    await subscribed(sub, "d")  # room again


@pytest.mark.gen_test
async def test_batches_are_limited(ws, http_client, base_url, app):
    app.state.config.publish_rate = 0
    batch = [{"event": "t", "data": i} for i in range(4)]
    response = await post(http_client, base_url, batch)
    assert response.code == 400
    assert json.loads(response.body) == {"error": "batch of 4 messages is over the limit of 3"}
    pub = await ws("/publish", clientName="p")
    await send_json(pub, batch)
    assert (await read_json(pub))["error"] == "batch of 4 messages is over the limit of 3"
    assert (await post(http_client, base_url, batch[:3])).code == 201


@pytest.mark.gen_test
async def test_publish_rate_errors_then_closes_1008(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    for i in range(3):
        await send_json(pub, {"event": "t", "data": i})
    assert [(await read_json(sub))["data"] for _ in range(2)] == [0, 1]
    reply = await read_json(pub)
    assert reply == {"action": "error", "error": "publish rate over 2 messages/s: message refused"}
    for i in range(20):
        await send_json(pub, {"event": "t", "data": i})
    while (await pub.read_message()) is not None:
        pass
    assert pub.close_code == 1008


def test_token_bucket_refills_at_its_rate():
    bucket = TokenBucket(rate=1000, burst=2)
    assert bucket.take() and bucket.take()
    bucket.stamp -= 0.0015  # 1.5 ms later: one token back
    assert bucket.take()
    assert not bucket.take()
    bucket.charge(5)
    bucket.stamp -= 0.003
    assert not bucket.take()  # still paying off the batch


def test_running_out_of_file_descriptors_refuses_instead_of_spinning(hub_process):
    hub = hub_process("--api-key", KEY)
    soft, hard = resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (120, hard))
    flood = [socket.create_connection(("127.0.0.1", hub.port), timeout=5) for _ in range(200)]
    try:
        # More than the hub may open: it hangs up on the excess at once and
        # keeps the rest waiting for their request headers.
        waiting, hung_up = set(flood), 0
        deadline = time.monotonic() + 5
        while hung_up < 200 - 120 and time.monotonic() < deadline:
            readable, _, _ = select.select(list(waiting), [], [], 0.2)
            for sock in readable:
                waiting.discard(sock)
                if sock.recv(1) == b"":
                    hung_up += 1
        assert hung_up >= 200 - 120
    finally:
        for sock in flood:
            sock.close()
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    status, _ = chunked_post(hub.port, json.dumps({"event": "t"}).encode())
    assert status == 201  # served again once the flood is gone
    hub.stop()
    assert "out of file descriptors: refusing a connection" in hub.stderr
    assert "Too many open files" not in hub.stderr and "Traceback" not in hub.stderr
