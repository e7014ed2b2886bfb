"""Connections that dribble their headers, or never send them, time out and
do not hold anyone else up (``--handshake-timeout``)."""

from __future__ import annotations

import json
import socket
import time

from tests.support.hub import KEY
from tests.support.process import http_publish
from tests.support.rawws import OP_TEXT, RawWS

TIMEOUT = 1.0


def test_slow_and_silent_handshakes_time_out_without_blocking_others(hub_process):
    hub = hub_process("--api-key", KEY, "--handshake-timeout", str(TIMEOUT))
    request = f"GET /subscribe?clientName=slow HTTP/1.1\r\nHost: x\r\nX-API-Key: {KEY}\r\n".encode()
    dribblers = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(30)]
    silent = [socket.create_connection(("127.0.0.1", hub.port)) for _ in range(30)]
    for sock in dribblers + silent:
        sock.setblocking(False)
    started = time.monotonic()

    # Meanwhile a normal subscriber and publisher are served at once.
    sub = RawWS(hub.port, "/subscribe?clientName=normal", key=KEY)
    assert sub.status == 101
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    assert http_publish(hub, KEY, {"event": "t", "data": "through"}) == 201
    opcode, payload = sub.recv_frame()
    assert opcode == OP_TEXT and json.loads(payload)["data"] == "through"
    assert time.monotonic() - started < TIMEOUT

    open_ = {sock: 0 for sock in dribblers + silent}
    deadline = started + TIMEOUT + 5
    while open_ and time.monotonic() < deadline:
        for sock in list(open_):
            try:
                if sock in dribblers and open_[sock] < len(request):
                    sock.send(request[open_[sock]:open_[sock] + 1])  # one byte at a time
                    open_[sock] += 1
                if sock.recv(100) == b"":
                    del open_[sock]
            except BlockingIOError:
                pass
            except OSError:  # reset: closed too
                del open_[sock]
        time.sleep(0.1)  # the dribble rate: a byte per socket every 0.1 s
    elapsed = time.monotonic() - started
    assert not open_, f"{len(open_)} connections still open after {elapsed:.1f}s"
    assert elapsed >= TIMEOUT
    for sock in dribblers + silent:
        sock.close()
    sub.close()
