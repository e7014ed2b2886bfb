"""--xheaders: behind a reverse proxy, /info and the logs show the devices'
addresses from X-Forwarded-For / X-Real-IP (and only when asked to)."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.hub import read_json, subscribed

KEY = "proxy-key-0123456789"
# What nginx sends (etc/nginx/picloud.conf): the device's address last in
# X-Forwarded-For, and as X-Real-IP.
DEVICE = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7", "X-Real-IP": "203.0.113.7"}
SCRIPT = {"X-Forwarded-For": "203.0.113.8", "X-Real-IP": "203.0.113.8"}


async def connect_through_proxy(hub):
    """A subscriber and an HTTP publish as they arrive from the proxy; returns /info's view."""
    sub = await websocket_connect(HTTPRequest(
        f"{hub.ws_url}/subscribe?clientName=kitchen", headers={"X-API-Key": KEY, **DEVICE}))
    await subscribed(sub, "temperature")
    resp = await AsyncHTTPClient().fetch(HTTPRequest(
        f"{hub.url}/publish", method="POST", body=json.dumps({"event": "temperature"}),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "script", **SCRIPT}))
    assert resp.code == 201
    info = await websocket_connect(HTTPRequest(f"{hub.ws_url}/info", headers={"X-API-Key": KEY}))
    snapshot = await read_json(info)
    sub.close()
    info.close()
    assert hub.stop() == 0  # the logs are complete once it has exited
    return [conn["ip_address"] for conn in snapshot["all_connections"]]


@pytest.mark.gen_test(timeout=20)
async def test_forwarded_address_in_info_and_logs(hub_process):
    hub = hub_process("--api-key", KEY, "--xheaders", "--log-level", "debug")  # publishes log at debug
    (address,) = await connect_through_proxy(hub)
    host, _, port = address.rpartition(":")
    assert host == "203.0.113.7" and port.isdigit()
    assert "GET /subscribe (203.0.113.7)" in hub.stderr
    assert "POST /publish (203.0.113.8)" in hub.stderr


@pytest.mark.gen_test(timeout=20)
async def test_forwarded_headers_ignored_without_xheaders(hub_process):
    hub = hub_process("--api-key", KEY, "--log-level", "debug")
    (address,) = await connect_through_proxy(hub)
    assert address.startswith("127.0.0.1:")
    assert "203.0.113" not in hub.stderr
    assert "POST /publish (127.0.0.1)" in hub.stderr


@pytest.mark.gen_test(timeout=20)
async def test_wrong_keys_block_the_forwarded_address_never_the_proxys_own(hub_process):
    hub = hub_process("--api-key", KEY, "--xheaders", "--auth-fail-limit", "3")

    async def get(headers: dict[str, str]) -> int:
        resp = await AsyncHTTPClient().fetch(HTTPRequest(f"{hub.url}/retained", headers=headers), raise_error=False)
        return resp.code

    # The proxy's own requests (no forwarded address) stand for every device.
    assert [await get({"X-API-Key": "wrong-key-0123456789"}) for _ in range(5)] == [401] * 5
    assert await get({"X-API-Key": KEY}) == 200
    assert [await get({"X-API-Key": "wrong-key-0123456789", **DEVICE}) for _ in range(3)] == [401] * 3
    assert await get({"X-API-Key": KEY, **DEVICE}) == 429
    assert await get({"X-API-Key": KEY, **SCRIPT}) == 200
    hub.stop()
