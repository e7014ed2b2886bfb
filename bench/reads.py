"""What a received websocket message costs the hub, read by read: the load of
``python -m bench.instructions --scenarios publish``.

pcbench's fan-in lets the hub's speed decide how many frames arrive in each
read, and under callgrind (fifty times slower) the reads grow, which makes
a count of instructions per message depend on the run. Here each of
``PUBLISHERS`` sends ``PER_READ`` frames in one write and waits until the
subscriber has them all before the next one writes: every read of the hub
holds the same frames, and the count is the same from run to run.
"""

from __future__ import annotations

import json

from .clients import mask_frame, open_websocket

PUBLISHERS = 5
PER_READ = 12
EVENT = "bench/reads"


def _frames_in(buffer: bytes) -> tuple[int, bytes]:
    """How many complete server frames ``buffer`` starts with, and the rest."""
    count = pos = 0
    while len(buffer) - pos >= 2:
        length, head = buffer[pos + 1] & 0x7F, 2
        if length == 126:
            if len(buffer) - pos < 4:
                break
            length, head = int.from_bytes(buffer[pos + 2:pos + 4], "big"), 4
        elif length == 127:
            if len(buffer) - pos < 10:
                break
            length, head = int.from_bytes(buffer[pos + 2:pos + 10], "big"), 10
        if len(buffer) - pos < head + length:
            break
        pos += head + length
        count += 1
    return count, buffer[pos:]


class Reads:
    """A subscriber and ``PUBLISHERS`` publishers of ``EVENT`` on a hub."""

    def __init__(self, port: int, key: str, timeout: float = 120.0) -> None:
        # Protocol 2: the subscription is confirmed, and nothing is published before it.
        self.subscriber = open_websocket(port, key, "/subscribe?clientName=reads-sub&protocol=2", timeout=timeout)
        self.subscriber.sendall(mask_frame(json.dumps({"action": "subscribe", "event": EVENT}).encode()))
        count, self._rest = 0, b""
        while not count:
            count, self._rest = _frames_in(self._rest + self.subscriber.recv(65536))
        self.publishers = [open_websocket(port, key, f"/publish?clientName=reads-pub{i}", timeout=timeout)
                           for i in range(PUBLISHERS)]
        self._sent = 0

    def _burst(self, publisher: int) -> bytes:
        frames = []
        for _ in range(PER_READ):
            self._sent += 1
            data = f"pub-{publisher}|{self._sent}|1733500000000000000|" + "x" * 20  # pcbench's shape
            frames.append(mask_frame(json.dumps({"event": EVENT, "data": data}, separators=(",", ":")).encode()))
        return b"".join(frames)

    def run(self, rounds: int) -> int:
        """``rounds`` reads of every publisher, each delivered before the next; the messages sent."""
        for _ in range(rounds):
            for index, publisher in enumerate(self.publishers):
                publisher.sendall(self._burst(index))
                got = 0
                while got < PER_READ:
                    chunk = self.subscriber.recv(65536)
                    if not chunk:
                        raise ConnectionError("the hub closed the subscriber")
                    count, self._rest = _frames_in(self._rest + chunk)
                    got += count
        return rounds * PUBLISHERS * PER_READ

    def close(self) -> None:
        for sock in (self.subscriber, *self.publishers):
            try:
                sock.close()
            except OSError:
                pass
