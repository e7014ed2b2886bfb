"""MQTT on a hub with the Redis broker: a local publish comes back through
Redis before this hub delivers it, and must keep what an MQTT publisher
gave it (its bytes, its QoS, the bridge it came from)."""

from __future__ import annotations

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.rawmqtt import RawMqtt


def test_mqtt_messages_keep_bytes_qos_and_origin_through_redis(hub_process, redis_server):
    hub = hub_process("--api-key", KEY, "--broker", redis_server().url)
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    phone.subscribe(("sensors/#", 1))
    plug = Peer(hub.mqtt_port, "plug")
    plug.publish("sensors/temp", b"21.50", qos=1)
    got = phone.receive()
    assert (got.payload, got.qos) == (b"21.50", 1)
    # A bridge subscribed to what it publishes is not sent its own back.
    bridge = RawMqtt(hub.mqtt_port, "mosquitto", clean=False, level=4 | p.BRIDGE_BIT)
    assert bridge.subscribe(("sensors/#", 1)) == [1]
    # With Redis a subscription's catch-up (its retained values) is read from
    # Redis after SUBACK: once a live message comes, it is done.
    plug.publish("sensors/ready", b"r", qos=1)
    assert bridge.receive().topic == "sensors/ready"
    assert phone.receive().topic == "sensors/ready"
    bridge.send(p.encode_publish(p.string("sensors/hall"), b"19", 1, retain=True, packet_id=1))
    assert bridge.read().kind == p.PUBACK
    assert phone.receive().payload == b"19"
    plug.publish("sensors/after", b"x", qos=1)
    after = bridge.receive()
    assert after.topic == "sensors/after"  # and not its own sensors/hall before it
    for peer in (phone, plug):
        peer.close()
    bridge.close()
