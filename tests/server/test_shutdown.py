"""Graceful shutdown: what was accepted reaches connected subscribers before 1001."""

from __future__ import annotations

import json
import signal
import struct

from tests.support.hub import KEY
from tests.support.process import http_publish
from tests.support.rawws import OP_CLOSE, OP_TEXT, RawWS

BATCHES = 4
PER_BATCH = 10_000
PAD = "x" * 480  # 4 x 10,000 x ~500 bytes: 20 MB, more than the kernel buffers hold


def test_messages_accepted_before_sigterm_reach_a_subscriber_before_its_1001(hub_process):
    hub = hub_process(
        "--api-key", KEY, "--max-batch", str(PER_BATCH), "--max-message-bytes", str(16 << 20),
        "--max-queue-bytes", str(64 << 20), "--max-total-queue-bytes", str(128 << 20),
    )
    sub = RawWS(hub.port, "/subscribe?clientName=s", key=KEY, timeout=10)
    sub.send_text(json.dumps({"action": "subscribe", "event": "t"}))
    sub.send_text("barrier")
    assert json.loads(sub.recv_frame()[1])["action"] == "error"
    # The subscriber reads nothing until SIGTERM, so most of this waits in the hub.
    for b in range(BATCHES):
        batch = [{"event": "t", "data": {"n": b * PER_BATCH + i, "pad": PAD}} for i in range(PER_BATCH)]
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
    assert received == list(range(BATCHES * PER_BATCH))
    assert hub.proc.wait(timeout=10) == 0
    assert "did not close" not in hub.stderr
