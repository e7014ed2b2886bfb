"""Dead peers: pings for clients that answer them, TCP keepalive for all."""

from __future__ import annotations

import json
import socket

import pytest
from tornado.testing import bind_unused_port
from tornado.websocket import websocket_connect

from picloud.keepalive import TCP_IDLE, KeepaliveHTTPServer

from .conftest import KEY
from .rawws import OP_PING, OP_PONG, OP_TEXT, RawWS


def next_frame_not_ping(conn: RawWS, *, answer: bool = False) -> tuple[int, bytes] | None:
    while True:
        frame = conn.recv_frame()
        if frame is None or frame[0] != OP_PING:
            return frame
        if answer:
            conn.send_frame(OP_PONG, frame[1])


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


def test_a_publisher_that_never_reads_is_not_dropped(hub):
    pub = RawWS(hub.port, "/publish?clientName=old-python-client", key=KEY)
    assert pub.status == 101
    for _ in range(5):  # five pings, none answered
        assert pub.recv_frame()[0] == OP_PING
    pub.send_text("not json")
    opcode, payload = next_frame_not_ping(pub)
    assert opcode == OP_TEXT and json.loads(payload)["action"] == "error"
    assert [c["client_name"] for c in info_snapshot(hub.port)["all_connections"]] == ["old-python-client"]


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
        (handler,) = app.sockets
        server_side = handler.ws_connection.stream.socket
        assert server_side.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == TCP_IDLE
        conn.close()
    finally:
        server.stop()
