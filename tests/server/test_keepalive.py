"""Dead peers (picloud/server/keepalive.py): pings for clients that answer them,
TCP keepalive for all."""

from __future__ import annotations

import json
import select
import socket

import pytest
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port
from tornado.websocket import websocket_connect

from picloud.server.keepalive import TCP_IDLE, KeepaliveHTTPServer, keep_alive_listening
from picloud.server.mqtt.listener import MqttListener
from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.rawws import OP_PING, OP_PONG, OP_TEXT, RawWS


def next_frame_not_ping(conn: RawWS, *, answer: bool = False, pings: int = 25) -> tuple[int, bytes] | None:
    """The next frame that is not a ping, within ``pings`` ping rounds."""
    for _ in range(pings):
        frame = conn.recv_frame()
        if frame is None or frame[0] != OP_PING:
            return frame
        if answer:
            conn.send_frame(OP_PONG, frame[1])
    raise AssertionError(f"nothing but pings for {pings} ping rounds")


def info_snapshot(port: int) -> dict:
    info = RawWS(port, "/info", key=KEY)
    assert info.status == 101
    opcode, payload = next_frame_not_ping(info)
    info.close()
    assert opcode == OP_TEXT
    return json.loads(payload)


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY, "--ping-interval", "0.2")


def test_a_publisher_that_never_reads_is_neither_pinged_nor_dropped(hub):
    pub = RawWS(hub.port, "/publish?clientName=old-python-client", key=KEY)
    assert pub.status == 101
    sub = RawWS(hub.port, "/subscribe?clientName=reader", key=KEY)
    for _ in range(3):  # three ping rounds, none answered
        assert sub.recv_frame()[0] == OP_PING
    assert select.select([pub.sock], [], [], 0)[0] == []
    pub.send_text("not json")
    opcode, payload = pub.recv_frame()
    assert opcode == OP_TEXT and json.loads(payload)["action"] == "error"
    names = {c["client_name"] for c in info_snapshot(hub.port)["all_connections"]}
    assert names == {"old-python-client", "reader"}


def test_a_publisher_on_protocol_2_reads_and_is_pinged(hub):
    pub = RawWS(hub.port, "/publish?clientName=new-client&protocol=2", key=KEY)
    assert pub.recv_frame()[0] == OP_PING


def test_a_publisher_that_never_reads_loses_nothing_when_it_closes(hub):
    # A socket closed with unread data (a ping, say) is reset, and the
    # client's kernel drops what it had not sent yet. TCP_CORK holds the
    # burst back until close() so that it is always unsent at that moment.
    sub = RawWS(hub.port, "/subscribe?clientName=reader&protocol=2", key=KEY)
    sub.send_text(json.dumps({"action": "subscribe", "event": "burst"}))
    assert json.loads(next_frame_not_ping(sub, answer=True)[1])["action"] == "subscribed"
    pub = RawWS(hub.port, "/publish?clientName=gpio-script", key=KEY)
    for _ in range(2):  # the publisher lives through two ping rounds
        opcode, payload = sub.recv_frame()
        assert opcode == OP_PING
        sub.send_frame(OP_PONG, payload)
    pub.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    for i in range(200):
        pub.send_text(json.dumps({"event": "burst", "data": i}))
    pub.close()
    received = [json.loads(next_frame_not_ping(sub, answer=True)[1])["data"] for _ in range(200)]
    assert received == list(range(200))


@pytest.mark.parametrize("how", ["protocol=2", "answered-before"])
def test_a_client_that_answers_pings_is_dropped_when_it_stops(hub, how):
    path = "/subscribe?clientName=flaky" + ("&protocol=2" if how == "protocol=2" else "")
    sub = RawWS(hub.port, path, key=KEY)
    assert sub.status == 101
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    if how == "protocol=2":
        opcode, payload = next_frame_not_ping(sub)
        assert opcode == OP_TEXT and json.loads(payload)["action"] == "subscribed"
    if how == "answered-before":
        opcode, payload = sub.recv_frame()
        assert opcode == OP_PING
        sub.send_frame(OP_PONG, payload)
    assert info_snapshot(hub.port)["subscriptions"][0]["name"] == "t"
    # From now on it stays silent: the hub aborts it without a close frame.
    frames = []
    while (frame := sub.recv_frame()) is not None:
        frames.append(frame[0])
    assert set(frames) <= {OP_PING}
    snapshot = info_snapshot(hub.port)
    assert snapshot["subscriptions"] == [] and snapshot["all_connections"] == []
    hub.stop()
    assert "no pong from /subscribe 'flaky'" in hub.stderr
    assert "Traceback" not in hub.stderr


def test_clients_that_keep_answering_stay(hub):
    sub = RawWS(hub.port, "/subscribe?clientName=good&protocol=2", key=KEY)
    for _ in range(6):
        opcode, payload = sub.recv_frame()
        assert opcode == OP_PING
        sub.send_frame(OP_PONG, payload)
    assert [c["client_name"] for c in info_snapshot(hub.port)["all_connections"]] == ["good"]


@pytest.mark.gen_test
async def test_every_accepted_socket_has_tcp_keepalive(app):
    sock, port = bind_unused_port()
    server = KeepaliveHTTPServer(app)
    server.add_sockets([sock])
    try:
        conn = await websocket_connect(f"ws://127.0.0.1:{port}/subscribe?clientName=s&apiKey={KEY}")
        (handler,) = app.state.sockets
        server_side = handler.ws_connection.stream.socket
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == TCP_IDLE
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        # Set once on the port, for Linux to copy into each accepted socket.
        assert server.inherited and sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        conn.close()
    finally:
        server.stop()


@pytest.mark.gen_test
async def test_every_accepted_mqtt_socket_has_tcp_keepalive_and_nodelay(app):
    sock, port = bind_unused_port()
    listener = MqttListener(app.state)
    listener.start_listening([sock], [], None)
    try:
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(p.encode_connect(p.Connect(4, "kept", True, 60, username="u", password=KEY.encode())))
        await client_recv(client, 4)
        (conn,) = app.state.mqtt
        server_side = conn.stream.socket
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == TCP_IDLE
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        client.close()
    finally:
        listener.close_all()


async def client_recv(sock: socket.socket, size: int) -> bytes:
    """``size`` bytes from a blocking socket, read off the loop's thread."""
    return await IOLoop.current().run_in_executor(None, sock.recv, size)


def test_sockets_that_take_no_keepalive_leave_it_to_each_accepted_one():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert not keep_alive_listening([unix])
