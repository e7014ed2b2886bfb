"""The fast write path (picloud/server/outbox.py): shared frames, coalescing, limits, slow consumers.

These tests also pin the Tornado internals outbox.py relies on
(``IOStream._write_buffer`` and ``IOStream.socket``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import ssl
import struct
import time

import pytest
from tornado.httpclient import HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.iostream import IOStream
from tornado.tcpclient import TCPClient
from tornado.testing import bind_unused_port
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.server.app import make_app
from picloud.wire.frames import encode_frame
from tests.support.hub import KEY, read_json, send_json, subscribed

SIZES = [0, 1, 60, 125, 126, 127, 65535, 65536, 200_000]


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A masked client-to-server frame, as RFC 6455 requires of clients."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def raw_websocket(port: int, path: str) -> IOStream:
    stream = await TCPClient().connect("127.0.0.1", port)
    await stream.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\nX-API-Key: {KEY}\r\n\r\n".encode()
    )
    head = await stream.read_until(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return stream


async def read_raw_frame(stream: IOStream) -> bytes:
    """One whole frame as it came off the wire, header included."""
    head = await stream.read_bytes(2)
    length = head[1] & 0x7F
    extra = b""
    if length == 126:
        extra = await stream.read_bytes(2)
        length = struct.unpack("!H", extra)[0]
    elif length == 127:
        extra = await stream.read_bytes(8)
        length = struct.unpack("!Q", extra)[0]
    return head + extra + await stream.read_bytes(length)


@pytest.mark.gen_test
async def test_frames_on_the_wire_are_exactly_rfc6455(http_server, http_port, http_client, base_url):
    stream = await raw_websocket(http_port, "/subscribe?clientName=raw")
    await stream.write(client_frame(b'{"action":"subscribe","event":"t"}'))
    await stream.write(client_frame(b"barrier"))
    await read_raw_frame(stream)
    for size in SIZES:
        data = "x" * size
        body = json.dumps({"event": "t", "data": data})
        response = await http_client.fetch(
            f"{base_url}/publish", method="POST", body=body,
            headers={"X-API-Key": KEY, "X-API-Client-Name": "p"},
        )
        assert response.code == 201
        frame = await read_raw_frame(stream)
        payload = frame[frame.index(b"{"):]
        assert frame == encode_frame(payload)
        assert json.loads(payload)["data"] == data
    stream.close()


@pytest.mark.gen_test
async def test_standard_client_decodes_every_size_in_order(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    for size in SIZES:
        await send_json(pub, {"event": "t", "data": "y" * size})
    for size in SIZES:
        assert (await read_json(sub))["data"] == "y" * size


@pytest.mark.gen_test
async def test_a_burst_is_coalesced_into_one_write_per_subscriber(ws, app):
    subs = [await ws("/subscribe", clientName=f"s{i}") for i in range(3)]
    for sub in subs:
        await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    before = app.state.outbox.writes
    await send_json(pub, [{"event": "t", "data": i} for i in range(100)])
    for sub in subs:
        assert [(await read_json(sub))["data"] for _ in range(100)] == list(range(100))
    assert app.state.outbox.writes - before == 3


@pytest.fixture
def ssl_options(tls_files):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


@pytest.mark.gen_test
async def test_tls_goes_through_the_stream_and_decodes(https_server, https_port, tls_files, app):
    client_ctx = ssl.create_default_context(cafile=str(tls_files[0]))

    async def connect(path):
        return await websocket_connect(HTTPRequest(
            f"wss://localhost:{https_port}{path}", headers={"X-API-Key": KEY}, ssl_options=client_ctx
        ))

    sub = await connect("/subscribe?clientName=s")
    await subscribed(sub, "t")
    pub = await connect("/publish?clientName=p")
    for size in SIZES:
        await send_json(pub, {"event": "t", "data": "z" * size})
    for size in SIZES:
        assert (await read_json(sub))["data"] == "z" * size
    for handler in app.state.sockets:  # nor are TLS sockets read directly
        assert handler._socket is None and handler.ws_connection._socket is None
    sub.close()
    pub.close()


@contextlib.asynccontextmanager
async def hub_with_small_queues(tmp_path, policy: str):
    """A hub whose connections may queue 256 KiB, so a stalled peer overflows fast."""
    app = make_app(Config(api_key=KEY, state_dir=tmp_path, max_queue_bytes=256 * 1024, slow_consumer=policy))
    sock, port = bind_unused_port()
    server = HTTPServer(app)
    server.add_socket(sock)
    try:
        yield app, port
    finally:
        server.stop()
        await server.close_all_connections()


async def connect(port: int, path: str):
    return await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{port}{path}", headers={"X-API-Key": KEY}))


async def stalled_subscriber(port: int, event: str) -> IOStream:
    """Subscribes, then never reads again; its receive buffer is tiny."""
    stream = await raw_websocket(port, "/subscribe?clientName=stalled")
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await stream.write(client_frame(json.dumps({"action": "subscribe", "event": event}).encode()))
    await stream.write(client_frame(b"barrier"))
    await read_raw_frame(stream)
    return stream


async def flood_past_a_stalled_subscriber(port: int):
    """A stalled and a good subscriber; 1500 x 8 KiB published while the good
    one checks it receives every message in order. Returns the three sockets."""
    stalled = await stalled_subscriber(port, "t")
    good = await connect(port, "/subscribe?clientName=good")
    await subscribed(good, "t")
    pub = await connect(port, "/publish?clientName=p")
    count = 1500

    async def flood() -> None:
        for i in range(count):
            await send_json(pub, {"event": "t", "data": f"{i}:" + "x" * 8 * 1024})

    sender = asyncio.ensure_future(flood())
    for i in range(count):
        assert (await read_json(good))["data"].startswith(f"{i}:")
    await sender
    return stalled, good, pub


@pytest.mark.gen_test(timeout=20)
async def test_slow_subscriber_is_disconnected_and_others_keep_receiving(tmp_path):
    async with hub_with_small_queues(tmp_path, "disconnect") as (app, port):
        sockets = await flood_past_a_stalled_subscriber(port)
        assert app.state.outbox.slow_consumers == 1
        # The stalled peer never reads the close frame, so the hub aborts it
        # (after ABORT_AFTER seconds); nothing can be awaited for that.
        deadline = time.monotonic() + 10
        while app.state.pubsub.connection_count != 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        names = [c["client_name"] for c in app.state.pubsub.snapshot()["all_connections"]]
        assert names == ["good", "p"]
        assert app.state.outbox.total_bytes == 0
        for sock in sockets:
            sock.close()


@pytest.mark.gen_test(timeout=20)
async def test_drop_policy_keeps_the_slow_subscriber_and_counts(tmp_path):
    async with hub_with_small_queues(tmp_path, "drop") as (app, port):
        sockets = await flood_past_a_stalled_subscriber(port)
        assert app.state.outbox.slow_consumers == 1  # one episode, however many frames
        assert app.state.outbox.dropped_frames > 0
        assert app.state.pubsub.connection_count == 3  # still connected
        for sock in sockets:
            sock.close()


@pytest.mark.gen_test
async def test_websockets_are_written_without_nagle(ws, app):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    (handler,) = app.state.sockets
    assert handler._stream.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


@pytest.mark.gen_test(timeout=20)
async def test_the_frames_of_one_read_are_queued_at_once_within_the_limits(tmp_path):
    """One write of many publish frames reaches the hub as one read (one run
    of one event, QueuedSocket.deliver_many): a good subscriber gets every
    one in order, a stalled one is dropped frame by frame past its limit."""
    async with hub_with_small_queues(tmp_path, "drop") as (app, port):
        stalled = await stalled_subscriber(port, "t")
        good = await connect(port, "/subscribe?clientName=good")
        await subscribed(good, "t")
        pub = await raw_websocket(port, "/publish?clientName=p")
        count, size = 1600, 8 * 1024  # past what the kernel's buffers take for the stalled one
        run = 6  # frames in each write: 48 KiB, within one read and the good one's 256 KiB
        for start in range(0, count, run):
            burst = b"".join(client_frame(json.dumps({"event": "t", "data": f"{i}:" + "x" * size}).encode())
                             for i in range(start, min(start + run, count)))
            await pub.write(burst)
            for i in range(start, min(start + run, count)):
                assert (await read_json(good))["data"].startswith(f"{i}:")
        assert app.state.outbox.slow_consumers == 1
        assert app.state.outbox.dropped_frames > 0
        assert app.state.pubsub.delivered >= count
        for sock in (stalled, good, pub):
            sock.close()
