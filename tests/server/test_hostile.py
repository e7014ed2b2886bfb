"""Hostile input against a hub process over plain sockets (hypothesis).

Whatever arrives (random bytes, garbage HTTP, any JSON value, malformed
websocket frames) is answered with an HTTP error, a protocol error frame, a
close code, or, for frames that break the websocket framing itself, by
dropping that one connection; the hub logs no traceback and a canary
subscriber keeps receiving.
"""

from __future__ import annotations

import itertools
import json
import socket
import struct
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hub import KEY
from tests.support.rawws import OP_CLOSE, OP_PING, OP_TEXT, RawWS, encode_client_frame, read_head

SETTINGS = settings(
    max_examples=200, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ROUTES = ["/subscribe", "/publish", "/info", "/healthz", "/", "/nope"]
HTTP_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "BREW"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["action", "event", "data", "id"]) | st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
header_names = st.text(st.characters(codec="ascii", categories=["L", "N"]) | st.sampled_from("-_"),
                       min_size=1, max_size=20)
header_values = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=60)


class Canary:
    """A subscriber that must keep receiving whatever else happens."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = RawWS(port, "/subscribe?clientName=canary", key=KEY)
        assert self.conn.status == 101
        self.conn.send_text(json.dumps({"action": "subscribe", "event": "canary"}))
        self.counter = itertools.count()
        self.check()

    def check(self) -> None:
        n = next(self.counter)
        for _ in range(50):  # the subscribe may still be in flight the first time
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/publish", method="POST",
                data=json.dumps({"event": "canary", "data": n}).encode(),
                headers={"X-API-Key": KEY, "X-API-Client-Name": "canary-feed"},
            )
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 201
            self.conn.sock.settimeout(0.2 if n == 0 else 5)
            try:
                while True:
                    opcode, payload = self.conn.recv_frame()
                    assert opcode == OP_TEXT
                    if json.loads(payload)["data"] == n:
                        return
            except (TimeoutError, socket.timeout):
                if n:
                    raise
        raise AssertionError("canary never subscribed")


@pytest.fixture
def hub(hub_process):
    hub = hub_process("--api-key", KEY, "--max-message-bytes", "65536", "--handshake-timeout", "2")
    hub.canary = Canary(hub.port)
    yield hub
    hub.canary.check()
    hub.canary.conn.close()
    hub.stop()
    for bad in ("Traceback", "uncaught exception", " ERROR ", KEY):
        assert bad not in hub.stderr, hub.stderr


def exchange(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send ``data``, end our side, return everything the hub answers until it closes.

    A complete request is sent without ``half_close``: the hub may notice the
    end of our side before it has written its answer and drop the answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # it may hang up on us first; that is an answer too
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def statuses(answer: bytes) -> list[int]:
    return [int(line.split(b" ")[1]) for line in answer.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes(hub, data):
    answer = exchange(hub.port, data)
    assert all(400 <= code < 500 for code in statuses(answer)) or not answer or answer.startswith(b"HTTP/1.1")
    assert all(code < 500 for code in statuses(answer))
    hub.canary.check()


@SETTINGS
@given(
    method=st.sampled_from(HTTP_METHODS), route=st.sampled_from(ROUTES),
    headers=st.dictionaries(header_names, header_values, max_size=6),
    with_key=st.booleans(), body=st.binary(max_size=3000),
)
def test_garbage_http_requests_at_every_route(hub, method, route, headers, with_key, body):
    lines = [f"{method} {route} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}", "Connection: close"]
    if with_key:
        lines += [f"X-API-Key: {KEY}", "X-API-Client-Name: fuzz"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    answer = exchange(hub.port, request, half_close=False)
    codes = statuses(answer)
    assert codes, answer[:200]
    code = codes[0]
    assert code < 500, answer[:300]
    if route in ("/subscribe", "/publish", "/info") and not with_key and "x-api-key" not in {
            h.lower() for h in headers}:
        # never anything about events; a CORS preflight needs no key and says nothing
        assert code in (400, 401, 403, 404, 405) or (method == "OPTIONS" and code == 204), answer[:300]
    if code >= 400 and route == "/publish" and method == "POST":
        # JSON from the hub, or Tornado's bare 400 for a request it cannot parse at all
        assert b'{"error":' in answer or answer == b"HTTP/1.1 400 Bad Request\r\n\r\n"


def open_socket(port: int, path: str) -> RawWS:
    conn = RawWS(port, path, key=KEY)
    assert conn.status == 101
    return conn


def barrier_replies(conn: RawWS) -> list[dict]:
    """Send a malformed frame and collect every reply up to and including its error."""
    conn.send_text("barrier")
    replies = []
    while True:
        frame = conn.recv_frame()
        assert frame is not None, "connection dropped"
        opcode, payload = frame
        if opcode == OP_PING:
            continue
        assert opcode == OP_TEXT
        replies.append(json.loads(payload))
        if replies[-1].get("error", "").startswith("invalid json"):
            return replies


@SETTINGS
@given(path=st.sampled_from(["/subscribe", "/publish"]), value=json_values)
def test_any_json_value_gets_an_error_frame_or_is_accepted(hub, path, value):
    conn = open_socket(hub.port, f"{path}?clientName=fuzz")
    try:
        text = json.dumps(value)
    except ValueError:
        text = repr(value)
    conn.send_text(text)
    replies = barrier_replies(conn)
    conn.close()
    for reply in replies:
        assert reply["action"] == "error" and isinstance(reply["error"], str) and "event" not in reply
    assert len(replies) <= 2


frames = st.builds(
    lambda opcode, fin, rsv, mask, payload: encode_client_frame(opcode, payload, fin=fin, rsv=rsv, mask=mask),
    opcode=st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xF]), fin=st.booleans(),
    rsv=st.sampled_from([0, 0, 0, 1, 4]), mask=st.booleans() | st.just(True),
    payload=st.binary(max_size=200) | st.sampled_from([b"\xff\xfe", b'{"event": "\xed\xa0\x80"}', b"\xc3"]),
)
oversized = st.builds(
    lambda length: encode_client_frame(0x1, b"x" * 10, declared_length=length),
    st.integers(min_value=65537, max_value=(1 << 63) - 1),
)


@SETTINGS
@given(path=st.sampled_from(["/subscribe", "/publish", "/info"]),
       sequence=st.lists(frames | oversized, min_size=1, max_size=5))
def test_malformed_websocket_frames(hub, path, sequence):
    conn = open_socket(hub.port, f"{path}?clientName=fuzz")
    conn.send(b"".join(sequence))
    conn.sock.shutdown(socket.SHUT_WR)
    codes = []
    while (frame := conn.recv_frame()) is not None:
        opcode, payload = frame
        if opcode == OP_CLOSE:
            codes.append(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)
        elif opcode == OP_TEXT:
            assert path == "/info" or json.loads(payload)["action"] in ("error", "publish")
    conn.close()
    assert set(codes) <= {1000, 1002, 1003, 1005, 1007, 1009}, codes
    hub.canary.check()


def test_unfinished_and_bad_upgrades(hub):
    for request in (
        b"GET /subscribe HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"X-API-Key: " + KEY.encode() + b"\r\n\r\n",  # no Sec-WebSocket-Key
        b"GET /subscribe?clientName=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: AAAA\r\nSec-WebSocket-Version: 99\r\nX-API-Key: " + KEY.encode() + b"\r\n\r\n",
        b"GET /info HTTP/1.1\r\nHost: x\r\nX-API-Key: " + KEY.encode() + b"\r\n\r\n",  # no upgrade
    ):
        with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
            sock.sendall(request)
            assert 400 <= read_head(sock)[0] < 500
    hub.canary.check()
