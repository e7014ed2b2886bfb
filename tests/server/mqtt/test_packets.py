"""Packet flows a raw socket client drives step by step: QoS 2 both ways
(PUBREC, PUBREL, PUBCOMP), a QoS 2 PUBLISH sent again before its PUBREL,
UNSUBSCRIBE and UNSUBACK, PINGREQ and PINGRESP."""

from __future__ import annotations

import struct

import pytest

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.rawmqtt import RawMqtt


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY)


def test_qos2_from_a_client_is_delivered_once_however_often_it_is_sent(hub):
    """A QoS 2 PUBLISH sent again (DUP) before PUBREL is not delivered twice
    [MQTT-4.3.3-2]; after PUBREL the id is free for a new message."""
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("plug/#", 2))
    plug = RawMqtt(hub.mqtt_port, "plug")
    plug.send(p.encode_publish(p.string("plug/state"), b"ON", 2, packet_id=7))
    assert plug.read() == (p.PUBREC, 0, struct.pack("!H", 7))
    plug.send(p.encode_publish(p.string("plug/state"), b"ON", 2, dup=True, packet_id=7))
    assert plug.read() == (p.PUBREC, 0, struct.pack("!H", 7))
    plug.send(p.encode_ack(p.PUBREL, 7))
    assert plug.read() == (p.PUBCOMP, 0, struct.pack("!H", 7))
    plug.send(p.encode_publish(p.string("plug/state"), b"OFF", 2, packet_id=7))
    assert plug.read().kind == p.PUBREC
    assert [watcher.receive().payload for _ in range(2)] == [b"ON", b"OFF"]
    assert watcher.nothing_more((Peer(hub.mqtt_port, "barrier"), "plug/barrier"))
    plug.disconnect()
    watcher.close()


def test_qos2_to_a_client_goes_publish_pubrec_pubrel_pubcomp(hub):
    phone = RawMqtt(hub.mqtt_port, "phone")
    assert phone.subscribe(("alarm", 2)) == [2]
    sensor = Peer(hub.mqtt_port, "sensor")
    sensor.publish("alarm", "open", qos=2)
    got = phone.receive()
    assert (got.payload, got.qos, got.dup) == (b"open", 2, False)
    phone.send(p.encode_ack(p.PUBREC, got.packet_id))
    # PUBREL's reserved flags are 0010 [MQTT-3.6.1-1].
    assert phone.read() == (p.PUBREL, 2, struct.pack("!H", got.packet_id))
    phone.send(p.encode_ack(p.PUBCOMP, got.packet_id))
    phone.send(bytes((p.PINGREQ << 4, 0)))
    assert phone.read().kind == p.PINGRESP  # the exchange is done: nothing else was sent
    phone.disconnect()
    sensor.close()


def test_unsubscribe_stops_delivery_and_is_acknowledged(hub):
    client = RawMqtt(hub.mqtt_port, "client")
    client.subscribe(("a/#", 0), ("b", 0))
    client.send(p.encode_unsubscribe(p.Unsubscribe(9, ["a/#", "never-subscribed"])))
    assert client.read() == (p.UNSUBACK, 0, struct.pack("!H", 9))  # [MQTT-3.10.4-4]
    sender = Peer(hub.mqtt_port, "sender")
    sender.publish("a/x", "gone", qos=1)
    sender.publish("b", "kept", qos=1)
    got = client.receive()
    assert (got.topic, got.payload) == ("b", b"kept")
    client.disconnect()
    sender.close()
