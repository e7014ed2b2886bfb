"""The hub's own websocket reader (picloud/server/reader.py) on real loopback
sockets, driven by a raw client that writes exactly the frames a test needs."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import os
import socket
import struct
import time
from urllib.parse import urlparse

import pytest
from tornado.iostream import BaseIOStream, IOStream, StreamClosedError
from tornado.tcpclient import TCPClient
from tornado.web import Application
from tornado.websocket import WebSocketHandler, WebSocketProtocol13

from picloud.server.reader import UNMASK as unmask
from picloud.server.reader import ReaderMixin, ReaderProtocol
from picloud.server.sockets import SubscribeSocket
from picloud.server.upgraded import UpgradedRequest
from picloud.wire.frameparser import BINARY, CLOSE, PING, PONG, TEXT, unmask_python
from tests.support.frames import MASK, frame
from tests.support.hub import KEY, SMALL_LIMITS, read_json, send_json, subscribed
from tests.support.process import http_publish
from tests.support.rawws import OP_CLOSE, OP_TEXT, RawWS

MAX = 300_000
pytestmark = pytest.mark.config(max_message_bytes=MAX)


class RawClient:
    """A websocket client that sends hand-made frames."""

    def __init__(self, stream) -> None:
        self.stream = stream

    @classmethod
    async def connect(cls, base_url: str, path: str = "/publish?clientName=raw") -> RawClient:
        port = urlparse(base_url).port
        stream = await TCPClient().connect("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        await stream.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nX-API-Key: {KEY}\r\n\r\n".encode()
        )
        head = await stream.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(stream)

    async def send(self, data: bytes) -> None:
        await self.stream.write(data)

    async def read_frame(self) -> tuple[int, bytes]:
        b0, b1 = await self.stream.read_bytes(2)
        assert not b1 & 0x80, "server frames are not masked"
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.stream.read_bytes(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.stream.read_bytes(8))
        payload = await self.stream.read_bytes(length) if length else b""
        return b0 & 0x0F, payload

    async def read_close(self) -> int:
        """Read up to the server's close frame; its code."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0]

    async def closed_by_server(self) -> bool:
        try:
            await self.stream.read_bytes(1)
        except StreamClosedError:
            return True
        return False


def publish(event: str, data: object) -> bytes:
    return json.dumps({"event": event, "data": data}).encode()


async def until(condition, timeout: float = 5.0) -> None:
    # Used only where the hub offers nothing to await (its on_close).
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.gen_test
async def test_hub_sockets_use_the_reader(ws, app):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    (handler,) = [s for s in app.state.sockets if isinstance(s, SubscribeSocket)]
    assert type(handler.ws_connection) is ReaderProtocol
    # Our receive loop runs (not Tornado's) and the request was released.
    protocol = handler.ws_connection
    assert protocol._parser is not None
    # A plain socket is read directly when readable, not through read_bytes.
    assert protocol.stream._handle_read == protocol._read_directly
    assert protocol.stream._read_future is protocol._closed
    assert type(handler.request) is UpgradedRequest
    # Still usable in log lines (without the query, which may carry apiKey).
    assert handler._request_summary() == "GET /subscribe (127.0.0.1)"


@pytest.mark.gen_test
@pytest.mark.parametrize("size", [10, 125, 126, 65535, 65536, 200_000])
async def test_large_messages_reach_the_subscriber(ws, base_url, size):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "big")
    pub = await RawClient.connect(base_url)
    data = "x" * size
    await pub.send(frame(TEXT, publish("big", data)))
    assert (await read_json(sub))["data"] == data


@pytest.mark.gen_test
async def test_many_frames_in_one_write_arrive_in_order(ws, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "n")
    pub = await RawClient.connect(base_url)
    await pub.send(b"".join(frame(TEXT, publish("n", i)) for i in range(300)))
    assert [(await read_json(sub))["data"] for _ in range(300)] == list(range(300))


@pytest.mark.gen_test
async def test_fragmented_message_with_a_ping_between(ws, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "frag")
    pub = await RawClient.connect(base_url)
    raw = publish("frag", "€" * 50)
    await pub.send(frame(TEXT, raw[:31], fin=False) + frame(PING, b"are you there"))
    assert await pub.read_frame() == (PONG, b"are you there")
    await pub.send(frame(0, raw[31:70], fin=False) + frame(0, raw[70:]))
    assert (await read_json(sub))["data"] == "€" * 50


@pytest.mark.gen_test
async def test_binary_messages_reach_on_message(ws, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "b")
    pub = await RawClient.connect(base_url)
    await pub.send(frame(BINARY, publish("b", 1)))
    assert (await read_json(sub))["data"] == 1


@pytest.mark.gen_test
@pytest.mark.parametrize(("sent", "echoed"), [(struct.pack("!H", 1000) + b"bye", struct.pack("!H", 1000)),
                                              (struct.pack("!H", 4000), struct.pack("!H", 4000)), (b"", b"")])
async def test_close_handshake_is_echoed_and_on_close_runs(http_server, base_url, app, sent, echoed):
    client = await RawClient.connect(base_url)
    assert app.state.pubsub.connection_count == 1
    await client.send(frame(CLOSE, sent))
    assert await client.read_frame() == (CLOSE, echoed)
    assert await client.closed_by_server()
    await until(lambda: app.state.pubsub.connection_count == 0 and not app.state.sockets)


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("data", "rest", "code"),
    [
        # Only the header of an oversize frame: refused before its payload comes.
        (frame(BINARY, b"", length=MAX + 1), MAX + 1, 1009),
        (frame(TEXT, b"x" * 700, fin=False) + frame(0, b"", length=MAX), MAX, 1009),
        (frame(TEXT, b'{"event": "t", "data": "\xff"}'), 0, 1007),
        (frame(TEXT, publish("t", 1), mask=None), 0, 1002),
        (frame(TEXT, b"x", rsv=0x40), 0, 1002),
        (frame(CLOSE, struct.pack("!H", 1005)), 0, 1002),
    ],
    ids=["oversize", "oversize-fragments", "bad-utf8", "unmasked", "reserved-bit", "bad-close-code"],
)
async def test_protocol_violations_close_with_their_code(http_server, base_url, app, data, rest, code):
    client = await RawClient.connect(base_url)
    await client.send(data)
    assert await client.read_close() == code
    # The server waits for our close, skipping the rest of what we were sending.
    await client.send(b"\x00" * rest)
    await client.send(frame(CLOSE, struct.pack("!H", code)))
    assert await client.closed_by_server()
    await until(lambda: app.state.pubsub.connection_count == 0 and not app.state.sockets)


@pytest.mark.gen_test
async def test_oversize_message_from_a_standard_client_gets_1009(ws, app):
    pub = await ws("/publish", clientName="big")
    await pub.write_message(publish("t", "x" * MAX))
    assert await pub.read_message() is None
    assert pub.close_code == 1009
    await until(lambda: app.state.pubsub.connection_count == 0)


@pytest.mark.gen_test
async def test_peer_vanishing_mid_frame_leaves_nothing_behind(ws, base_url, app):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    pub = await RawClient.connect(base_url)
    whole = frame(TEXT, publish("t", "y" * 100_000))
    await pub.send(whole[:50_000])
    assert app.state.pubsub.connection_count == 2
    pub.stream.close()
    await until(lambda: app.state.pubsub.connection_count == 1)
    sub.close()
    await until(lambda: app.state.pubsub.connection_count == 0 and not app.state.sockets)
    assert app.state.pubsub.subscriber_count("t") == 0


@pytest.mark.gen_test
async def test_peer_resetting_the_connection_leaves_nothing_behind(ws, base_url, app):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    pub = await RawClient.connect(base_url)
    await pub.send(frame(TEXT, publish("t", 1)))
    assert (await read_json(sub))["data"] == 1
    (hub_side,) = [s.ws_connection.stream for s in app.state.sockets if s.request.path == "/publish"]
    # SO_LINGER 0: close() sends RST, so the hub's recv fails with ECONNRESET.
    pub.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pub.stream.close()
    await until(lambda: app.state.pubsub.connection_count == 1)
    assert isinstance(hub_side.error, ConnectionResetError)
    again = await ws("/publish", clientName="again")  # the hub still serves
    await send_json(again, {"event": "t", "data": 2})
    assert (await read_json(sub))["data"] == 2


@pytest.mark.gen_test
async def test_frames_sent_with_the_handshake_are_read_before_the_rest(ws, base_url):
    """Bytes that arrived with the upgrade request sit in the stream's buffer:
    they are read from there first, then the socket is read directly."""
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "n")
    port = urlparse(base_url).port
    stream = await TCPClient().connect("127.0.0.1", port)
    await stream.write(
        f"GET /publish?clientName=eager HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        f"Sec-WebSocket-Version: 13\r\nX-API-Key: {KEY}\r\n\r\n".encode()
        + b"".join(frame(TEXT, publish("n", i)) for i in range(3))
    )
    assert (await stream.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    await stream.write(frame(TEXT, publish("n", 3)))
    assert [(await read_json(sub))["data"] for _ in range(4)] == [0, 1, 2, 3]
    stream.close()


@pytest.mark.gen_test
async def test_server_close_waits_for_the_peers_close(http_server, base_url, app):
    client = await RawClient.connect(base_url)
    (handler,) = app.state.sockets
    handler.close(1001, "going away")
    assert await client.read_close() == 1001
    assert app.state.pubsub.connection_count == 1  # still waiting for our answer
    await client.send(frame(CLOSE, struct.pack("!H", 1001)))
    assert await client.closed_by_server()
    await until(lambda: app.state.pubsub.connection_count == 0)
    assert handler.close_code == 1001


# -- the Tornado internals picloud/server/reader.py relies on -------------------------


def test_tornado_internals_the_reader_replaces_are_there():
    accept = inspect.getsource(WebSocketProtocol13._accept_connection)
    assert "await self._receive_frame_loop()" in accept
    assert accept.index("handler.open(") < accept.index("self._receive_frame_loop()")
    assert inspect.iscoroutinefunction(WebSocketProtocol13._receive_frame_loop)
    for name in ("close", "_abort", "_write_frame", "_run_callback", "get_websocket_protocol"):
        owner = WebSocketHandler if name == "get_websocket_protocol" else WebSocketProtocol13
        assert callable(getattr(owner, name)), name
    init = inspect.getsource(WebSocketProtocol13.__init__)
    for attribute in ("_decompressor", "close_code", "close_reason", "params"):
        assert f"self.{attribute}" in init, attribute
    # The ping timeout reads what the reader sets when a pong arrives.
    assert "self._received_pong" in init
    assert "self._received_pong" in inspect.getsource(WebSocketProtocol13.periodic_ping)
    handler_close = inspect.getsource(WebSocketHandler.on_ws_connection_close)
    assert "on_connection_close" in handler_close


def test_tornado_internals_direct_reading_relies_on_are_there():
    events = inspect.getsource(IOStream._handle_events)
    assert "self._handle_read()" in events
    assert "if self.reading():" in events  # READ interest while _read_future is set
    assert "self._read_future is not None" in inspect.getsource(IOStream.reading)
    assert "self._signal_closed()" in inspect.getsource(IOStream.close)
    signal_closed = inspect.getsource(IOStream._signal_closed)
    assert "self._read_future" in signal_closed and "StreamClosedError" in signal_closed
    assert "self._read_buffer_size = 0" in inspect.getsource(BaseIOStream.__init__)
    assert callable(IOStream._add_io_state)


@pytest.mark.gen_test
async def test_a_pong_is_recorded_for_the_ping_timeout(http_server, base_url, app):
    client = await RawClient.connect(base_url, "/subscribe?clientName=pi")
    (handler,) = app.state.sockets
    protocol = handler.ws_connection
    await client.send(frame(PONG, b"") + frame(TEXT, b"barrier"))
    opcode, reply = await client.read_frame()
    assert opcode == TEXT
    assert json.loads(reply)["action"] == "error"
    assert protocol._received_pong is True


def numbered(number: int) -> bytes:
    return b"%06d" % number + b"p" * 119  # 125 bytes, the most a ping carries


@pytest.mark.gen_test(timeout=60)
async def test_a_peer_that_pings_and_never_reads_has_one_pong_waiting_at_most(http_server, base_url, app):
    """RFC 6455 5.5.3 lets a pong answer only the latest ping: pongs to a
    peer that never reads them do not pile up in the hub's memory, and the
    last ping held back is answered once the peer reads again."""
    client = await RawClient.connect(base_url, "/subscribe?clientName=pinger")
    (handler,) = app.state.sockets
    count, seen = 60_000, asyncio.Event()
    pings = 0

    def on_ping(data: bytes) -> None:
        nonlocal pings
        pings += 1
        if pings == count:
            seen.set()
    handler.on_ping = on_ping
    for start in range(0, count, 1000):  # 8 MB of pongs in all, past any socket buffers
        await client.send(b"".join(frame(PING, numbered(n)) for n in range(start, start + 1000)))
    await seen.wait()
    assert len(handler.ws_connection.stream._write_buffer) <= 2 * 127
    pongs = 0
    while True:
        opcode, payload = await client.read_frame()
        assert opcode == PONG
        pongs += 1
        if payload == numbered(count - 1):
            break
    assert pongs < count


def test_publishers_resetting_right_after_sending_leave_nothing_behind(hub_process):
    # The data and the RST arrive together; the reset shows only on a second
    # recv. Under uvloop (a real hub uses it where installed) no later event
    # reports it, so a reader that waited for one kept these open for good.
    hub = hub_process("--api-key", KEY, "--info-interval", "0.1")
    for n in range(50):
        pub = RawWS(hub.port, f"/publish?clientName=reset-{n}", key=KEY)
        pub.send_text(json.dumps({"event": "t", "data": n}))
        pub.reset()
    info = RawWS(hub.port, "/info", key=KEY)
    left = None
    for _ in range(100):  # one push every 0.1 s
        _, payload = info.recv_frame()
        left = [c["client_name"] for c in json.loads(payload)["all_connections"]]
        if not left:
            break
    assert left == []


def test_nothing_follows_the_hubs_close_frame(hub_process):
    """A subscriber that broke the protocol is sent 1002 and has not answered
    yet: what is published meanwhile is not sent after the close frame."""
    hub = hub_process("--api-key", KEY)
    sub = RawWS(hub.port, "/subscribe?clientName=broken", key=KEY)
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    sub.send_frame(OP_TEXT, b"unmasked", mask=False)
    assert sub.recv_frame()[0] == OP_CLOSE
    for n in range(3):
        assert http_publish(hub, KEY, {"event": "t", "data": n}) == 201
    sub.send_frame(OP_CLOSE, struct.pack("!H", 1002))  # the hub now closes the connection
    after = []
    while (received := sub.recv_frame()) is not None:
        after.append(received)
    assert after == []


# -- ReaderMixin with handlers other than the hub's ---------------------------------

events: list = []


class SlowEcho(ReaderMixin, WebSocketHandler):
    """Echoes after yielding to the loop, so later messages must wait."""

    async def on_message(self, message):
        assert type(self.ws_connection) is ReaderProtocol
        events.append(("start", message))
        await asyncio.sleep(0.001 if message == "first" else 0)
        events.append(("end", message))
        await self.write_message(message)

    def on_close(self):
        events.append(("close", self.close_code))


class Boom(ReaderMixin, WebSocketHandler):
    def on_message(self, message):
        raise RuntimeError(f"boom {message}")

    def on_close(self):
        events.append(("close", self.close_code))


class KeepsRequest(ReaderMixin, WebSocketHandler):
    def on_message(self, message):
        request = self.request
        self.write_message(f"{request.method} {request.path} {request.query_arguments}")
        try:
            request.headers  # noqa: B018
        except AttributeError as exc:
            self.write_message(str(exc))


class TestOtherHandlers:
    """ReaderMixin with handlers other than the hub's: coroutine on_message,
    handlers that raise, and on_close running exactly once."""

    @pytest.fixture
    def app(self):
        events.clear()
        return Application([("/echo", SlowEcho), ("/boom", Boom), ("/request", KeepsRequest)])

    @pytest.mark.gen_test
    async def test_coroutine_on_message_keeps_order(self, http_server, base_url):
        raw = await RawClient.connect(base_url, "/echo")
        await raw.send(frame(TEXT, b"first") + frame(TEXT, b"second") + frame(TEXT, b"third"))
        replies = [await raw.read_frame() for _ in range(3)]
        assert replies == [(TEXT, b"first"), (TEXT, b"second"), (TEXT, b"third")]
        assert [e for e in events if e[0] != "close"] == [
            ("start", "first"), ("end", "first"),
            ("start", "second"), ("end", "second"),
            ("start", "third"), ("end", "third"),
        ]


    @pytest.mark.gen_test
    async def test_on_close_runs_once_after_the_close_handshake(self, http_server, base_url):
        raw = await RawClient.connect(base_url, "/echo")
        await raw.send(frame(CLOSE, struct.pack("!H", 4000)))
        assert await raw.read_frame() == (CLOSE, struct.pack("!H", 4000))
        assert await raw.closed_by_server()
        # on_close ran in the same callback that closed the socket.
        assert events == [("close", 4000)]


    @pytest.mark.gen_test
    async def test_a_raising_handler_is_aborted_and_closed_once(self, http_server, base_url):
        raw = await RawClient.connect(base_url, "/boom")
        await raw.send(frame(TEXT, b"x") + frame(TEXT, b"y"))
        assert await raw.closed_by_server()
        assert events == [("close", None)]


    @pytest.mark.gen_test
    async def test_request_keeps_what_handlers_read_after_open(self, http_server, base_url):
        raw = await RawClient.connect(base_url, "/request?clientName=a")
        await raw.send(frame(TEXT, b"hi"))
        assert await raw.read_frame() == (TEXT, b"GET /request {'clientName': [b'a']}")
        opcode, text = await raw.read_frame()
        assert opcode == TEXT
        assert b"released after the websocket upgrade" in text


# -- the C unmask the reader uses, against the frame parser's own ----------------


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 64, 1000, 65537])
def test_python_unmask_matches_the_c_one(size):
    data = os.urandom(size)
    assert unmask_python(MASK, data) == unmask(MASK, data)
    assert unmask_python(MASK, unmask_python(MASK, data)) == data


@pytest.mark.gen_test
@SMALL_LIMITS
async def test_oversized_websocket_message_closes_with_1009(ws):
    pub = await ws("/publish", clientName="p")
    await pub.write_message(json.dumps({"event": "t", "data": "x" * 3000}))
    assert await pub.read_message() is None
    assert pub.close_code == 1009


@pytest.mark.gen_test
async def test_every_message_of_one_read_is_published_or_refused_on_its_own(ws, base_url):
    """The messages of one chunk go through the hub together (on_messages),
    each still published or refused alone, its ack or error in order."""
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "n")
    pub = await RawClient.connect(base_url)
    messages = [
        publish("n", 0),
        b"not json",
        json.dumps({"event": "n", "data": 1, "id": "a"}).encode(),
        json.dumps([{"event": "n", "data": 2}, {"event": "", "data": 3}]).encode(),  # refused whole
        json.dumps({"event": "n", "data": 4, "id": 5}).encode(),
    ]
    await pub.send(b"".join(frame(TEXT, m) for m in messages))
    replies = [json.loads((await pub.read_frame())[1]) for _ in range(4)]
    assert [(r["action"], r.get("id")) for r in replies] == [("error", None), ("ack", "a"), ("error", None), ("ack", 5)]
    assert replies[2]["index"] == 1
    assert [(await read_json(sub))["data"] for _ in range(3)] == [0, 1, 4]


@pytest.mark.gen_test
@pytest.mark.config(max_total_inbound_bytes=4096)
async def test_the_connection_that_would_cross_the_inbound_budget_is_closed_1009(http_server, base_url, app):
    """Partial messages of all connections share --max-total-inbound-bytes."""
    async def hold(client, size):
        # A first fragment, complete; the ping after it answers once it is parsed.
        await client.send(frame(TEXT, b"a" * size, fin=False) + frame(PING, b"held"))

    first = await RawClient.connect(base_url)
    await hold(first, 2500)
    assert await first.read_frame() == (PONG, b"held")
    assert app.state.inbound.used == 2500
    second = await RawClient.connect(base_url)
    await hold(second, 2000)
    assert await second.read_close() == 1009
    assert app.state.inbound.used == 2500  # the first still holds its part
    await first.send(frame(CLOSE, struct.pack("!H", 1000)))
    assert await first.read_close() == 1000  # gone: what it held is given back
    third = await RawClient.connect(base_url)
    await hold(third, 3000)
    assert await third.read_frame() == (PONG, b"held")
    assert app.state.inbound.used == 3000
