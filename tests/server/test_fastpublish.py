"""The fast path of ``POST /publish`` (picloud/server/fastpublish.py): it
answers like PublishHTTP, counts what it refuses, and shares one keep-alive
connection with the full path, to which it hands everything it does not serve."""

from __future__ import annotations

import json
import socket

import pytest
from tornado.iostream import IOStream

from tests.support.hub import KEY, read_json, subscribed

PLAIN = {"X-API-Key": KEY, "X-API-Client-Name": "script"}


def fetch(http_client, base_url, body: bytes, *, chunked: bool = False, headers=None):
    """POST /publish; ``chunked`` sends the body without a Content-Length,
    which the fast path leaves to PublishHTTP."""
    kwargs = {}
    if chunked:
        async def produce(write):
            await write(body)
        kwargs["body_producer"] = produce
    else:
        kwargs["body"] = body
    return http_client.fetch(
        f"{base_url}/publish", method="POST", headers={**PLAIN, **(headers or {})},
        raise_error=False, **kwargs,
    )


def answer(response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.get_all() if k not in ("Date", "Transfer-Encoding")}
    assert response.headers["Date"].endswith(" GMT")
    return response.code, response.body, headers


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "body", [b'{"event": "t", "data": 1}', b'[{"event": "t"}, {"data": 2}]', b"{nope", b""],
)
async def test_fast_and_full_path_answer_alike(http_client, base_url, app, body):
    fast = answer(await fetch(http_client, base_url, body))
    full = answer(await fetch(http_client, base_url, body, chunked=True))
    assert fast == full
    assert fast[0] in (201, 400)
    # A 201 is empty and claims no type (Tornado's default would say text/html).
    assert ("Content-Type" in fast[2]) == (fast[0] != 201)


@pytest.mark.gen_test
async def test_fast_path_counts_protocol_errors(http_client, base_url, app):
    before = app.state.errors["protocol"]
    response = await fetch(http_client, base_url, b'[{"event": "t"}, {"data": 2}]')
    assert json.loads(response.body) == {"error": "batch element 1: missing 'event'", "index": 1}
    assert app.state.errors["protocol"] == before + 1


async def exchange(stream: IOStream, request: bytes) -> tuple[int, bytes]:
    await stream.write(request)
    head = await stream.read_until(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return status, await stream.read_bytes(length) if length else b""


def raw_post(body: bytes, key: str = KEY, extra: str = "") -> bytes:
    return (
        f"POST /publish?clientName=raw HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.mark.gen_test
async def test_one_keep_alive_connection_mixes_fast_and_full_requests(ws, http_server, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    stream = IOStream(socket.socket())
    await stream.connect(("127.0.0.1", int(base_url.rsplit(":", 1)[1])))
    try:
        assert await exchange(stream, raw_post(b'{"event": "t", "data": 1}')) == (201, b"")
        origin = "Origin: http://page.example\r\n"  # a browser's: PublishHTTP answers it
        assert await exchange(stream, raw_post(b'{"event": "t", "data": 2}', extra=origin)) == (201, b"")
        status, body = await exchange(stream, raw_post(b"{nope"))
        assert status == 400
        assert json.loads(body)["error"].startswith("invalid json")
        assert await exchange(stream, raw_post(b'{"event": "t", "data": 3}')) == (201, b"")
        status, body = await exchange(stream, raw_post(b'{"event": "t", "data": 4}', key="wrong"))
        assert (status, json.loads(body)) == (401, {"error": "invalid api key"})
    finally:
        stream.close()
    assert [(await read_json(sub))["data"] for _ in range(3)] == [1, 2, 3]


@pytest.mark.gen_test
async def test_retained_publish_answers_503_and_keeps_nothing_when_it_cannot_be_stored(
    http_client, base_url, app
):
    db = app.state.pubsub.retained.store.db
    db.on_writer(lambda conn: conn.execute("PRAGMA query_only=1"))  # the disk refuses every write
    body = b'{"event": "door", "data": "open", "retain": true}'
    for chunked in (False, True):
        response = await fetch(http_client, base_url, body, chunked=chunked)
        assert response.code == 503
        error = json.loads(response.body)["error"]
        assert error.startswith("cannot store retained value") and error.endswith("delivered, not retained")
        # Nothing half-kept: a late subscriber is not given what the disk does not hold.
        assert app.state.pubsub.retained.get("door") is None
