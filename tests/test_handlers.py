"""The protocol routes on a real loopback socket."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import KEY, read_json, send_json, subscribed


def post(http_client, base_url, body, *, key=KEY, name="script", headers=None, path="/publish"):
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["X-API-Key"] = key
    if name is not None:
        all_headers["X-API-Client-Name"] = name
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return http_client.fetch(
        base_url + path, method="POST", body=body, headers=all_headers, raise_error=False
    )


@pytest.mark.gen_test
async def test_publish_over_websocket_reaches_subscriber(ws):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "temperature")
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "temperature", "data": "21.5"})
    message = await read_json(sub)
    assert list(message)[:4] == ["action", "event", "data", "created_at"]
    assert message["action"] == "publish"
    assert message["event"] == "temperature"
    assert message["data"] == "21.5"


@pytest.mark.gen_test
async def test_http_publish_returns_201_and_delivers(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    response = await post(http_client, base_url, {"event": "t", "data": {"c": 21.5}})
    assert response.code == 201
    assert response.body == b""
    assert (await read_json(sub))["data"] == {"c": 21.5}
