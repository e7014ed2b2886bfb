"""Graceful shutdown: what was accepted reaches connected subscribers before 1001."""

from __future__ import annotations

import json
import signal
import socket
import struct

from .conftest import KEY
from .rawws import OP_CLOSE, OP_TEXT, RawWS
from .test_cli import http_publish

COUNT = 1000


def test_messages_accepted_before_sigterm_reach_a_subscriber_before_its_1001(hub_process):
    hub = hub_process("--api-key", KEY, "--max-batch", str(COUNT))
    sub = RawWS(hub.port, "/subscribe?clientName=s", key=KEY)
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # make the hub queue
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    batch = [{"event": "t", "data": {"n": i, "pad": "x" * 200}} for i in range(COUNT)]
    assert http_publish(hub, KEY, batch) == 201  # accepted: now it must be delivered
    hub.proc.send_signal(signal.SIGTERM)
    received = []
    while True:
        opcode, payload = sub.recv_frame()
        if opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0]
            break
        assert opcode == OP_TEXT
        received.append(json.loads(payload)["data"]["n"])
    sub.send_frame(OP_CLOSE, payload[:2])
    assert code == 1001
    assert received == list(range(COUNT))
    assert hub.proc.wait(timeout=10) == 0
