"""The fast websocket upgrade (picloud/server/upgrade.py), on real loopback
sockets: a plain request is upgraded by it with the 101 Tornado sends, to a
socket that works as one of Tornado's path does; anything unusual, and every
refusal, takes Tornado's path, counted once; the limits hold."""

from __future__ import annotations

import base64
import json
import os
from urllib.parse import urlparse

import pytest
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine
from tornado.tcpclient import TCPClient

from picloud.server import upgrade
from picloud.server.sockets import HubSocket, InfoSocket, PublishSocket, SubscribeSocket
from tests.server.test_reader import RawClient
from tests.support.hub import KEY, QUICK_RETAIN, post

NONCE = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's example


async def handshake(base_url: str, path: str, *extra: str, key: str = KEY) -> tuple[RawClient, bytes]:
    """An upgrade request with ``extra`` header lines; the stream and the answer's head."""
    port = urlparse(base_url).port
    stream = await TCPClient().connect("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {NONCE}", "Sec-WebSocket-Version: 13", f"X-API-Key: {key}", *extra]
    await stream.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    return RawClient(stream), await stream.read_until(b"\r\n\r\n")


def without_date(head: bytes) -> bytes:
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.startswith(b"Date: "))


def fast(handler: HubSocket) -> bool:
    """Whether the fast path upgraded ``handler``: Tornado's disables a handler's
    HTTP methods, one instance attribute each, and it does not."""
    return "finish" not in vars(handler)


def only_socket(app) -> HubSocket:
    (sock,) = app.state.sockets
    return sock  # type: ignore[return-value]


def test_the_accept_value_is_rfc_6455s():
    assert upgrade.accept_value(NONCE) == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(("change", "plain"), [
    ({}, True),
    ({"method": "POST"}, False),
    ({"version": "HTTP/1.0"}, False),
    ({"Sec-WebSocket-Version": "8"}, False),
    ({"Connection": "keep-alive, Upgrade"}, True),
    ({"Connection": "keep-alive"}, False),
    ({"Upgrade": "WebSocket"}, True),
    ({"Sec-WebSocket-Key": ""}, False),
    ({"Origin": "http://pi.local"}, False),
    ({"Sec-Fetch-Site": "cross-site"}, False),
    ({"Sec-WebSocket-Protocol": "mqtt"}, False),
    ({"Content-Length": "0"}, False),
])
def test_what_a_plain_request_is(change, plain):
    line = RequestStartLine(change.pop("method", "GET"), "/subscribe", change.pop("version", "HTTP/1.1"))
    headers = HTTPHeaders({"Host": "pi", "Upgrade": "websocket", "Connection": "Upgrade",
                           "Sec-WebSocket-Key": NONCE, "Sec-WebSocket-Version": "13", **change})
    assert upgrade.is_plain(line, headers) is plain


@pytest.mark.gen_test
async def test_both_paths_answer_the_same_101(ws, app, base_url):
    client, head = await handshake(base_url, "/subscribe?clientName=a")
    assert fast(only_socket(app))
    client.stream.close()
    # A subprotocol offered sends the request down Tornado's path, which chooses none.
    other, tornados = await handshake(base_url, "/subscribe?clientName=b", "Sec-WebSocket-Protocol: x")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert without_date(head) == without_date(tornados)
    assert b"Sec-Websocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    other.stream.close()


@QUICK_RETAIN
@pytest.mark.gen_test
@pytest.mark.parametrize("browser", [False, True])
async def test_a_socket_of_either_path_works_and_goes(ws, app, http_client, base_url, browser):
    response = await post(http_client, base_url, {"event": "t", "data": 1, "retain": True})
    assert response.code == 201
    extra = [f"Origin: {base_url}"] if browser else []
    client, head = await handshake(base_url, "/subscribe?clientName=kitchen&protocol=2", *extra)
    assert head.startswith(b"HTTP/1.1 101 ")
    sock = only_socket(app)
    assert fast(sock) is not browser
    assert sock.client_name == "kitchen" and sock.answers_pings and sock.key_fingerprint is not None
    assert not app.state.pending.total
    assert app.state.pubsub.presence.online("kitchen")
    await client.send(upgrade_frame({"action": "subscribe", "event": "t", "id": 1}))
    assert json.loads((await client.read_frame())[1])["action"] == "subscribed"
    assert json.loads((await client.read_frame())[1])["data"] == 1
    await client.send(b"\x88\x82" + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
    assert await client.read_close() == 1000
    assert await client.stream.read_until_close() == b""
    # The hub closed its side in the same turn as it let the socket go.
    assert not app.state.sockets
    assert not app.state.pubsub.presence.online("kitchen")


def upgrade_frame(value: object) -> bytes:
    payload = json.dumps(value).encode()
    return bytes([0x81, 0x80 | len(payload)]) + b"\0\0\0\0" + payload  # a zero mask


@pytest.mark.gen_test
async def test_the_handler_is_left_as_tornados_path_leaves_it(ws, app, base_url):
    client, _ = await handshake(base_url, "/info")
    fast_one = only_socket(app)
    other, _ = await handshake(base_url, "/info", "Sec-WebSocket-Protocol: x")
    (tornados,) = app.state.sockets - {fast_one}
    disabled = {"write", "redirect", "set_header", "set_cookie", "set_status", "flush", "finish"}
    assert set(vars(tornados)) - disabled == set(vars(fast_one))
    assert fast_one.get_status() == tornados.get_status() == 101
    assert fast_one._finished and fast_one.ws_connection.stream is not None
    client.stream.close()
    other.stream.close()


@pytest.mark.gen_test
async def test_refusals_take_tornados_path_and_count_once(ws, app, base_url):
    _, head = await handshake(base_url, "/subscribe?clientName=x", key="wrong")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert app.state.errors["auth"] == 1
    _, head = await handshake(base_url, "/subscribe")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert app.state.errors["client_name"] == 1
    assert not app.state.sockets


@pytest.mark.config(max_connections=1)
@pytest.mark.gen_test
async def test_max_connections_holds(ws, app, base_url):
    first, head = await handshake(base_url, "/publish?clientName=one")
    assert head.startswith(b"HTTP/1.1 101 ")
    _, head = await handshake(base_url, "/publish?clientName=two")
    assert head.startswith(b"HTTP/1.1 503 ")
    first.stream.close()


@pytest.mark.config(auth_fail_limit=2)
@pytest.mark.gen_test
async def test_a_blocked_address_is_refused_even_with_the_right_key(ws, app, base_url):
    for _ in range(2):
        await handshake(base_url, "/subscribe?clientName=x", key=base64.b64encode(os.urandom(9)).decode())
    _, head = await handshake(base_url, "/subscribe?clientName=x")
    assert head.startswith(b"HTTP/1.1 429 ")


class Connection:
    """What RequestHandler.__init__ asks of a request's connection."""

    context = None

    def set_close_callback(self, callback) -> None:
        pass


@pytest.mark.parametrize("route", [SubscribeSocket, PublishSocket, InfoSocket])
def test_a_handler_built_for_the_upgrade_has_what_tornados_constructors_set(app, route):
    request = HTTPServerRequest(connection=Connection(), start_line=RequestStartLine("GET", "/x", "HTTP/1.1"),
                                headers=HTTPHeaders({"Host": "pi"}))
    built = upgrade.build_handler(route, app, request, app.state)
    constructed = route(app, request, state=app.state)
    assert type(built) is route
    assert set(vars(built)) == set(vars(constructed))
    made_for_a_response = {"ui", "_headers"}  # dropped after open() (upgraded.py)
    assert {name: value for name, value in vars(built).items() if name not in made_for_a_response} == {
        name: value for name, value in vars(constructed).items() if name not in made_for_a_response}
