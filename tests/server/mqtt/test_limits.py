"""The hub-wide limits as MQTT clients meet them: partial packets count in
--max-total-inbound-bytes with the websockets', a publisher over
--publish-rate is read more slowly instead of losing messages, and a burst
a client asked for (retained values) is paced by its socket, not the queue."""

from __future__ import annotations

import socket
import time

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.rawmqtt import RawMqtt
from tests.support.redisserver import wait_until


def test_partial_packets_count_in_the_hub_wide_inbound_budget(hub_process):
    hub = hub_process("--api-key", KEY, "--max-total-inbound-bytes", "4096")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("big/#", 0))
    whole = p.encode_publish(p.string("big/a"), b"a" * 3000)
    first = RawMqtt(hub.mqtt_port, "first")
    first.send(whole[:2500])
    wait_until(lambda: metrics(hub)["picloud_inbound_partial_bytes"] >= 2500, "the first partial packet held")
    second = RawMqtt(hub.mqtt_port, "second")
    second.send(p.encode_publish(p.string("big/b"), b"b" * 3000)[:2500])  # 5000 > 4096 in all
    assert second.closed_by_hub()
    first.send(whole[2500:])  # the first is unharmed
    assert watcher.receive().payload == b"a" * 3000
    assert metrics(hub)["picloud_inbound_partial_bytes"] == 0
    first.disconnect()
    watcher.close()


def test_a_publisher_over_its_rate_is_slowed_not_dropped(hub_process):
    hub = hub_process("--api-key", KEY, "--publish-rate", "20", "--publish-burst", "5")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("fast/#", 0))
    fast = RawMqtt(hub.mqtt_port, "fast")
    started = time.monotonic()
    fast.send(b"".join(p.encode_publish(p.string("fast/n"), str(n).encode()) for n in range(45)))
    got = [watcher.receive().payload for _ in range(45)]
    # Every message arrives, in order; past the burst of 5, at 20 a second
    # (a lower bound: a slow machine only makes it longer).
    assert got == [str(n).encode() for n in range(45)]
    assert time.monotonic() - started >= 40 / 20 * 0.9
    fast.send(bytes((p.PINGREQ << 4, 0)))
    assert fast.read().kind == p.PINGRESP  # still served
    fast.disconnect()
    watcher.close()


def test_a_burst_of_retained_values_a_client_asked_for_is_paced_not_a_slow_consumer(hub_process):
    """Home Assistant subscribing to homeassistant/# gets every discovery
    config at once: 1,000 of 2 KB, 2 MB against a 64 KiB queue limit."""
    hub = hub_process("--api-key", KEY, "--max-queue-bytes", "65536")
    device = RawMqtt(hub.mqtt_port, "zigbee2mqtt")
    device.send(b"".join(p.encode_publish(p.string(f"homeassistant/sensor/{n:04d}/config"),
                                          b'{"name":"%04d",' % n + b'"x":"' + b"x" * 2000 + b'"}', retain=True)
                         for n in range(1000)))
    device.send(p.encode_publish(p.string("done"), b"", 1, packet_id=1))
    assert device.read().kind == p.PUBACK  # after every retained one before it
    ha = Peer(hub.mqtt_port, "homeassistant")
    ha.subscribe(("homeassistant/#", 0))
    got = [ha.receive() for _ in range(1000)]
    assert sorted(m.topic for m in got) == [f"homeassistant/sensor/{n:04d}/config" for n in range(1000)]
    assert all(m.retain for m in got)  # [MQTT-3.3.1-8]
    device.send(p.encode_publish(p.string("homeassistant/status"), b"online"))
    assert ha.receive().payload == b"online"  # still connected, and live again
    ha.close()
    device.disconnect()
    hub.stop()
    assert "slow consumer" not in hub.stderr


def test_one_subscribe_of_many_overlapping_filters_cannot_hold_the_retained_values_many_times(hub_process):
    """Every filter replays what it matches: 40 filters that each match all
    of 200 KB of retained values, to a client that never reads, would hold
    8 MB. A replay is allowed the hub's retained bytes and a queue's worth."""
    hub = hub_process("--api-key", KEY, "--max-queue-bytes", "65536", "--max-retained-bytes", "262144")
    device = RawMqtt(hub.mqtt_port, "device")
    device.send(b"".join(p.encode_publish(p.string(f"a/b/c/d/e/{n:03d}"), b"x" * 2000, retain=True)
                         for n in range(100)))
    device.send(p.encode_publish(p.string("done"), b"", 1, packet_id=1))
    assert device.read().kind == p.PUBACK
    levels = "abcde"
    filters = [("/".join(level if (mask >> i) & 1 else "+" for i, level in enumerate(levels[:depth])) + "/#"
                if depth else "#") for depth in range(6) for mask in range(2 ** depth)][:40]
    assert len(set(filters)) == 40
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", hub.mqtt_port))
    stalled.sendall(p.encode_connect(p.Connect(4, "stalled", True, 0, username="u", password=KEY.encode()))
                    + p.encode_subscribe(p.Subscribe(1, [(f, 0) for f in filters])))
    wait_until(lambda: metrics(hub)["picloud_slow_consumers_total"] >= 1, "the stalled client dropped")
    one = Peer(hub.mqtt_port, "one")  # a replay within the limit is whole
    one.subscribe(("#", 0))
    assert sorted(one.receive().topic for _ in range(100)) == [f"a/b/c/d/e/{n:03d}" for n in range(100)]
    one.close()
    device.disconnect()
    stalled.close()
    hub.stop()
    assert "slow consumer mqtt 'stalled' from" in hub.stderr and "over 327680 queued bytes" in hub.stderr
    assert "Traceback" not in hub.stderr
