"""Plain upgrades read as the connection is accepted (picloud/server/direct.py),
on real loopback sockets served by the hub's own HTTP server: a whole plain
request is upgraded there, with the same 101, to a socket that works; one
not yet sent is waited for, within the handshake timeout; anything else
(a partial or unusual request, a refusal, --xheaders) is Tornado's, with
the socket as it was."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from tornado.httputil import HTTPHeaders
from tornado.iostream import IOStream
from tornado.tcpclient import TCPClient

from picloud.server import direct
from picloud.server.direct import DirectUpgradeServer
from tests.server.test_reader import RawClient
from tests.server.test_upgrade import NONCE, fast, handshake, only_socket, upgrade_frame, without_date
from tests.support.hub import KEY, QUICK_RETAIN, post

REQUEST = (f"GET /subscribe?clientName=a HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {NONCE}\r\nSec-WebSocket-Version: 13\r\n"
           f"X-API-Key: {KEY}\r\n\r\n")


@pytest.fixture
def http_server(io_loop, _unused_port, app, config):
    """The hub's server (serve.py's), not pytest-tornado's plain HTTPServer."""
    server = DirectUpgradeServer(app, xheaders=config.xheaders, pending=app.state.pending,
                                 idle_connection_timeout=config.handshake_timeout)
    server.add_socket(_unused_port[0])
    yield server
    server.stop()
    io_loop.run_sync(server.close_all_connections)


def served(http_server) -> asyncio.Event:
    """Set once the server has taken the next connection it accepts."""
    taken = asyncio.Event()
    serve_stream = http_server.serve_stream

    def spy(stream: IOStream, address: tuple) -> None:
        serve_stream(stream, address)
        taken.set()
    http_server.serve_stream = spy
    return taken


def looked_at(http_server) -> asyncio.Event:
    """Set once the server has looked at the first bytes of a connection that waited for them."""
    looked = asyncio.Event()
    readable = http_server.readable

    def spy(waiting: object) -> None:
        readable(waiting)
        looked.set()
    http_server.readable = spy
    return looked


async def connected(http_server, base_url: str) -> IOStream:
    """A connection the server has taken, and which has sent nothing yet."""
    taken = served(http_server)
    stream = await connect(base_url)
    await taken.wait()
    return stream


async def connect(base_url: str) -> IOStream:
    port = int(base_url.rsplit(":", 1)[1])
    return await TCPClient().connect("127.0.0.1", port)


@QUICK_RETAIN
@pytest.mark.gen_test
async def test_a_plain_upgrade_is_done_here_with_tornados_101(app, http_server, http_client, base_url):
    assert (await post(http_client, base_url, {"event": "t", "data": 1, "retain": True})).code == 201
    stream = await connect(base_url)
    # The request and the first frame in one write: the frame is the reader's.
    await stream.write(REQUEST.encode() + upgrade_frame({"action": "subscribe", "event": "t", "id": 1}))
    head = await stream.read_until(b"\r\n\r\n")
    assert http_server.upgraded == 1
    sock = only_socket(app)
    assert fast(sock) and sock.client_name == "a" and not app.state.pending.total
    client = RawClient(stream)
    assert json.loads((await client.read_frame())[1])["data"] == 1  # the retained value
    await client.send(b"\x88\x82" + b"\0\0\0\0" + (1000).to_bytes(2, "big"))
    assert await client.read_close() == 1000
    assert await stream.read_until_close() == b""
    assert not app.state.sockets
    # Tornado's path (a subprotocol offered) answers the same bytes.
    other, tornados = await handshake(base_url, "/subscribe?clientName=a", "Sec-WebSocket-Protocol: x")
    assert http_server.upgraded == 1
    assert without_date(head) == without_date(tornados)
    other.stream.close()


@pytest.mark.gen_test
async def test_a_request_not_yet_sent_is_waited_for(app, http_server, base_url):
    stream = await connected(http_server, base_url)
    assert app.state.pending.total == 1
    await stream.write(REQUEST.encode())
    assert (await stream.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    assert http_server.upgraded == 1 and not app.state.pending.total
    stream.close()


@pytest.mark.gen_test
async def test_a_partial_request_goes_to_tornado(app, http_server, base_url):
    stream = await connected(http_server, base_url)
    looked = looked_at(http_server)
    await stream.write(REQUEST[:20].encode())
    await looked.wait()
    assert not http_server._waiting  # handed to Tornado's HTTP/1 connection
    await stream.write(REQUEST[20:].encode())
    assert (await stream.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    assert http_server.upgraded == 0  # Tornado's path upgraded it
    assert fast(only_socket(app))
    stream.close()


@pytest.mark.config(handshake_timeout=0.2)
@pytest.mark.gen_test
async def test_no_request_within_the_handshake_timeout_closes_it(app, http_server, base_url):
    stream = await connected(http_server, base_url)
    started = asyncio.get_running_loop().time()
    assert await stream.read_until_close() == b""
    assert asyncio.get_running_loop().time() - started < 2
    assert not app.state.pending.total


@pytest.mark.gen_test
async def test_refusals_are_tornados_and_count_once(app, http_server, base_url):
    _, head = await handshake(base_url, "/subscribe?clientName=x", key="wrong")
    assert head.startswith(b"HTTP/1.1 401 ")
    assert app.state.errors["auth"] == 1
    assert http_server.upgraded == 0


@pytest.mark.config(xheaders=True)
@pytest.mark.gen_test
async def test_xheaders_take_tornados_path(app, http_server, base_url):
    client, head = await handshake(base_url, "/subscribe?clientName=x", "X-Real-Ip: 10.1.2.3")
    assert head.startswith(b"HTTP/1.1 101 ")
    assert http_server.upgraded == 0
    assert only_socket(app).request.remote_ip == "10.1.2.3"
    client.stream.close()


@pytest.mark.gen_test
async def test_shutdown_closes_the_connections_still_waiting(app, http_server, base_url):
    stream = await connected(http_server, base_url)
    http_server.stop()  # at once: a request coming in the shutdown's drain is not taken
    assert not http_server._waiting
    assert await stream.read_until_close() == b""
    assert not app.state.pending.total
    await http_server.close_all_connections()


async def get_healthz(stream: IOStream) -> bytes:
    await stream.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await stream.read_until(b"\r\n\r\n")
    length = int(HTTPHeaders.parse(head.decode("latin-1").split("\r\n", 1)[1])["Content-Length"])
    await stream.read_bytes(length)
    return head


@pytest.mark.config(handshake_timeout=1.0)
@pytest.mark.gen_test(timeout=10)
async def test_a_connection_that_waited_has_the_rest_of_the_timeout_for_its_first_headers(
    app, http_server, base_url
):
    stream = await connected(http_server, base_url)
    accepted = asyncio.get_running_loop().time()
    await asyncio.sleep(0.6)  # the time that passes is what is tested
    await stream.write(b"GET /healthz HTTP/1.1\r\n")  # and the rest never comes
    assert await stream.read_until_close() == b""
    assert asyncio.get_running_loop().time() - accepted < 1.4  # not 0.6 + a whole second
    assert not app.state.pending.total


@pytest.mark.config(handshake_timeout=1.0)
@pytest.mark.gen_test(timeout=10)
async def test_a_connection_that_waited_keeps_the_whole_idle_timeout_after_its_first_request(
    app, http_server, base_url
):
    stream = await connected(http_server, base_url)
    await asyncio.sleep(0.7)  # 0.3 s of the handshake timeout left
    assert (await get_healthz(stream)).startswith(b"HTTP/1.1 200 ")
    await asyncio.sleep(0.5)  # idle for longer than that, within the idle timeout
    assert (await get_healthz(stream)).startswith(b"HTTP/1.1 200 ")
    assert http_server.upgraded == 0
    stream.close()


@pytest.mark.gen_test
async def test_a_request_there_when_accepted_is_upgraded_before_the_loop_turns(app, http_server, base_url):
    upgraded_as_served: list[int] = []
    serve_stream = http_server.serve_stream

    def spy(stream: IOStream, address: tuple) -> None:
        serve_stream(stream, address)
        upgraded_as_served.append(http_server.upgraded)
    http_server.serve_stream = spy
    # Blocking: connected and the request sent before the server's loop runs again.
    sock = socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])))
    sock.sendall(REQUEST.encode())
    stream = IOStream(sock)
    assert (await stream.read_until(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
    assert upgraded_as_served == [1] and not http_server._waiting
    assert fast(only_socket(app)) and not app.state.pending.total
    stream.close()


@pytest.mark.gen_test
async def test_an_upgrade_that_fails_on_the_way_is_logged_closed_and_not_counted(
    app, http_server, base_url, monkeypatch, caplog
):
    def fail(*args: object) -> None:
        raise RuntimeError("no room for it")
    monkeypatch.setattr(direct.FastUpgrade, "upgrade", fail)
    stream = await connected(http_server, base_url)
    await stream.write(REQUEST.encode())
    assert await stream.read_until_close() == b""
    assert http_server.upgraded == 0 and not app.state.pending.total and not app.state.sockets
    assert "Uncaught exception GET /subscribe" in caplog.text and "no room for it" in caplog.text
