"""Talking to the in-process test hub (the ``ws`` fixture, pytest-tornado's
``http_client``): the key, JSON frames, the subscribe barrier, HTTP publish."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

KEY = "test-key-0123456789"  # 16 characters or more: shorter keys get a warning

# For a hub process that tests take thousands of connections from one address
# at once: more than a default hub lets wait to show a key (server/pending.py).
MANY_AT_ONCE = ("--max-pending", "100000", "--max-pending-per-ip", "100000")

# Settings some tests give the in-process hub (the config fixture reads them).
# A short write interval: a retained publish is answered once on disk.
QUICK_RETAIN = pytest.mark.config(store_interval=0.05)
LONG_HISTORY = pytest.mark.config(history_size=100_000)
SMALL_LIMITS = pytest.mark.config(
    max_message_bytes=2048, max_connections=3, max_subscriptions=3, max_batch=3, publish_rate=2, publish_burst=2,
)


async def send_json(conn, value: Any) -> None:
    await conn.write_message(json.dumps(value))


async def read_json(conn) -> Any:
    text = await conn.read_message()
    assert text is not None, "connection closed"
    return json.loads(text)


async def subscribed(conn, *events: str) -> None:
    """Subscribe and wait until the hub has processed it.

    Old-protocol clients get no confirmation, so a malformed frame sent after
    the subscriptions is used as a barrier: its error reply comes back only
    after everything before it was handled.
    """
    for event in events:
        await send_json(conn, {"action": "subscribe", "event": event})
    await conn.write_message("barrier")
    reply = await read_json(conn)
    assert reply["action"] == "error", reply


def post(http_client, base_url, body, *, key=KEY, name="script", headers=None, query=""):
    all_headers = dict(headers or {})
    if key is not None:
        all_headers["X-API-Key"] = key
    if name is not None:
        all_headers["X-API-Client-Name"] = name
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return http_client.fetch(
        f"{base_url}/publish{query}", method="POST", body=body, headers=all_headers, raise_error=False
    )


async def refused(ws, path, **kwargs) -> HTTPClientError:
    with pytest.raises(HTTPClientError) as info:
        await ws(path, **kwargs)
    return info.value


async def ws_status(base_url, path, key, **query) -> int:
    url = base_url.replace("http", "ws", 1) + path + "?clientName=c"
    url += "".join(f"&{k}={v}" for k, v in query.items())
    try:
        conn = await websocket_connect(HTTPRequest(url, headers={"X-API-Key": key}))
    except HTTPClientError as exc:
        return exc.code
    conn.close()
    return 101


def app_with_keys(tmp_path, io_loop, keys: str):
    """An in-process hub's app reading ``keys`` as its keys file (a fixture's body)."""
    from picloud.config import Config
    from picloud.server.app import make_app

    path = tmp_path / "keys"
    path.write_text(keys)
    app = make_app(Config(keys_file=str(path), state_dir=tmp_path / "state", store_interval=0.05))
    yield app
    io_loop.run_sync(app.state.pubsub.retained.close)
