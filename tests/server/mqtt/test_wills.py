"""Wills in every way a client can vanish without DISCONNECT [MQTT-3.1.2-8]:
keepalive timeout, a protocol violation, the slow-consumer policy; their QoS
and the key's topic rights; and the failed-key throttle over MQTT."""

from __future__ import annotations

import socket

import pytest

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.rawmqtt import RawMqtt


def with_will(port: int, client_id: str, topic: str, *, qos: int = 1, keepalive: int = 60,
              key: str = KEY) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(p.encode_connect(p.Connect(4, client_id, True, keepalive, username="u", password=key.encode(),
                                            will_topic=topic, will_payload=b"offline", will_qos=qos)))
    assert sock.recv(4) == p.encode_connack(False, p.ACCEPTED)
    return sock


@pytest.fixture
def hub(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nAb9Lm3Qw7Ee1Rt6Y publish tele/%c/#\n")
    return hub_process("--keys-file", str(keys), "--max-queue-bytes", "4096", "--auth-fail-limit", "3")


def test_a_will_goes_at_one_and_a_half_keepalives_of_silence(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("tele/#", 1))
    silent = with_will(hub.mqtt_port, "silent", "tele/silent/LWT", keepalive=1)
    will = watcher.receive(timeout=10)
    assert (will.topic, will.payload, will.qos) == ("tele/silent/LWT", b"offline", 1)
    silent.close()
    watcher.close()


def test_a_will_goes_after_a_protocol_violation(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("tele/#", 0))
    rude = with_will(hub.mqtt_port, "rude", "tele/rude/LWT", qos=0)
    rude.sendall(bytes((0xF0, 0)))  # reserved packet type 15 [MQTT-4.8.0-1]
    assert watcher.receive().topic == "tele/rude/LWT"
    assert rude.recv(10) == b""  # and the connection is closed
    rude.close()
    watcher.close()


def test_a_will_goes_when_the_hub_drops_a_slow_consumer(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("tele/#", 1))
    stalled = with_will(hub.mqtt_port, "stalled", "tele/stalled/LWT")
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(p.encode_subscribe(p.Subscribe(1, [("bulk", 0)])))
    assert stalled.recv(5)[0] >> 4 == p.SUBACK  # then it reads no more
    pub = Peer(hub.mqtt_port, "pub")
    for _ in range(200):
        pub.publish("bulk", "x" * 32000, qos=1)
    while (got := watcher.receive()).topic != "tele/stalled/LWT":
        pass
    assert got.payload == b"offline"
    stalled.close()
    for peer in (watcher, pub):
        peer.close()


def test_topic_rights_apply_to_the_will_topic(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("#", 0))
    spoof = with_will(hub.mqtt_port, "plug1", "tele/plug2/LWT", key="Ab9Lm3Qw7Ee1Rt6Y")  # not its %c
    own = with_will(hub.mqtt_port, "plug3", "tele/plug3/LWT", key="Ab9Lm3Qw7Ee1Rt6Y")
    spoof.close()
    own.close()
    assert watcher.receive().topic == "tele/plug3/LWT"
    barrier = Peer(hub.mqtt_port, "barrier")
    assert watcher.nothing_more((barrier, "barrier"))  # the spoofing will went nowhere
    for peer in (watcher, barrier):
        peer.close()


def test_the_failed_key_throttle_covers_mqtt(hub):
    for _ in range(3):
        wrong = RawMqtt(hub.mqtt_port, "x", key="wrong-key-0123456789")
        assert wrong.connack == bytes((0, p.BAD_CREDENTIALS))
        wrong.close()
    # Blocked now: the right key too gets "not authorized" from this address.
    blocked = RawMqtt(hub.mqtt_port, "x")
    assert blocked.connack == bytes((0, p.NOT_AUTHORIZED))
    blocked.close()
