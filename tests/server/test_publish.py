"""``POST /publish`` (picloud/server/publish.py, and fastpublish.py for
plain requests): delivery, batches all or nothing, JSON errors, size and
batch limits, lengths that are none. How the fast path answers like
PublishHTTP is tests/server/test_fastpublish.py's."""

from __future__ import annotations

import json
import socket

import pytest
from tornado.iostream import IOStream

from tests.support.hub import KEY, SMALL_LIMITS, post, read_json, send_json, subscribed
from tests.support.rawws import chunked_post, read_head

# -- delivery and errors -----------------------------------------------------------------

@pytest.mark.gen_test
async def test_http_publish_returns_201_and_delivers(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    response = await post(http_client, base_url, {"event": "t", "data": {"c": 21.5}})
    assert response.code == 201
    assert response.body == b""
    assert (await read_json(sub))["data"] == {"c": 21.5}


@pytest.mark.gen_test
async def test_http_publish_without_content_type_and_with_query_params(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    response = await http_client.fetch(
        f"{base_url}/publish?apiKey={KEY}&clientName=cron", method="POST",
        body=b'{"event": "t", "data": 1}', raise_error=False,
    )
    assert response.code == 201
    assert (await read_json(sub))["data"] == 1


@pytest.mark.gen_test
async def test_http_batch_is_all_or_nothing(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    bad = [{"event": "t", "data": 1}, {"event": "t", "data": 2}, {"data": 3}]
    response = await post(http_client, base_url, bad)
    assert response.code == 400
    assert json.loads(response.body) == {"error": "batch element 2: missing 'event'", "index": 2}
    good = [{"event": "t", "data": 1}, {"event": "t", "data": 2}]
    assert (await post(http_client, base_url, good)).code == 201
    assert [(await read_json(sub))["data"] for _ in range(2)] == [1, 2]  # nothing of the bad batch


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "invalid json"),
        (b"{not json", "invalid json"),
        (b'{"event": temperature}', "invalid json: expecting value at line 1 column 11 (near 'temperature}')"),
        (b"\xff\xfe", "invalid json"),
        (b"[1]", "batch element 0: message must be a json object, not a number"),
        (b'"hello"', "message must be a json object, not a string"),
        (b'{"data": 1}', "missing 'event'"),
        (b'{"event": ""}', "'event' must not be empty"),
        (b'{"event": 12}', "'event' must be a string, not int"),
        (b'{"event": "t", "data": NaN}', "data contains a non-finite number"),
        (b'{"event": "t", "data": 1e999}', "data contains a non-finite number"),
    ],
)
async def test_http_bad_bodies_get_400_with_json_error(http_client, base_url, body, error):
    response = await post(http_client, base_url, body)
    assert response.code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body)["error"].startswith(error)


# -- limits ------------------------------------------------------------------------------

@pytest.mark.gen_test
@SMALL_LIMITS
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
@SMALL_LIMITS
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
@pytest.mark.parametrize("length", ["\u00b2", "1" * 5000, "-1", "+5", "0x10", "5, 6", ""])
async def test_a_content_length_that_is_no_length_gets_400_json_and_no_traceback(
    http_server, base_url, app, caplog, length
):
    """Before the key is checked: a keyless request of garbage must cost one
    short answer, never a traceback in the log."""
    port = int(base_url.rsplit(":", 1)[1])
    stream = IOStream(socket.create_connection(("127.0.0.1", port)))
    await stream.write(
        f"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode("latin-1")
        + b'{"event": "t"}'
    )
    head = (await stream.read_until(b"\r\n\r\n")).decode("latin-1")
    assert head.startswith("HTTP/1.1 400 "), head
    size = int(next(line for line in head.split("\r\n") if line.lower().startswith("content-length:")).split(":")[1])
    body = json.loads(await stream.read_bytes(size))
    assert body["error"].startswith("content-length is not a length: ")
    assert await stream.read_until_close() == b""  # closed: the rest is never read as a request
    assert [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"] == []
    assert app.state.errors["request"] == 1


@pytest.mark.gen_test
async def test_a_refused_length_with_a_chunked_body_reads_none_of_it(http_server, base_url, app):
    port = int(base_url.rsplit(":", 1)[1])
    stream = IOStream(socket.create_connection(("127.0.0.1", port)))
    await stream.write(
        b"POST /publish HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"5\r\nhello\r\n" * 100
    )
    head = await stream.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"content-length is not a length" in await stream.read_until_close()
    assert app.state.errors["request"] == 1
