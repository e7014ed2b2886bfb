"""Plain TCP MQTT connections read straight from the socket
(picloud/server/mqtt/direct.py): what a publisher sent right before a reset
is still published and its connection goes, and packets are read whole
however the writes cut them. A publisher held back by --publish-rate and
read again is test_limits.py's; the Tornado internals this relies on are
checked by tests/server/test_reader.py."""

from __future__ import annotations

import socket
import struct

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.rawmqtt import RawMqtt
from tests.support.redisserver import wait_until


def test_publishers_resetting_right_after_sending_are_published_and_leave(hub_process):
    hub = hub_process("--api-key", KEY)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("reset/#", 0))
    for n in range(20):
        pub = RawMqtt(hub.mqtt_port, f"reset-{n}")
        pub.send(p.encode_publish(p.string("reset/n"), str(n).encode()))
        # RST, not FIN: the data and the reset arrive together.
        pub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        pub.close()
    assert sorted(int(watcher.receive().payload) for _ in range(20)) == list(range(20))
    wait_until(lambda: metrics(hub)["picloud_mqtt_connections"] == 1, "the reset connections gone")
    watcher.close()


def test_a_chunk_of_many_packets_and_one_split_across_writes_are_read_whole(hub_process):
    hub = hub_process("--api-key", KEY)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("chunk/#", 1))
    pub = RawMqtt(hub.mqtt_port, "chunky")
    data = b"".join(p.encode_publish(p.string("chunk/n"), str(n).encode(), 1, packet_id=n + 1) for n in range(300))
    pub.send(data[:1001])
    pub.send(data[1001:])
    assert [pub.read() for _ in range(300)] == [(p.PUBACK, 0, struct.pack("!H", n + 1)) for n in range(300)]
    assert [watcher.receive().payload for _ in range(300)] == [str(n).encode() for n in range(300)]
    pub.disconnect()
    watcher.close()
