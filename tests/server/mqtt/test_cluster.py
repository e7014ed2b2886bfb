"""MQTT with several hubs on one Redis: an MQTT publisher's bytes and QoS
reach MQTT subscribers on every hub, retained values are the cluster's, and
a persistent session stays on the hub it was made on."""

from __future__ import annotations

from tests.support.hub import KEY
from tests.support.mqtt import Peer


def test_mqtt_messages_cross_hubs_with_their_bytes_and_qos(hub_process, redis_server, tmp_path):
    url = redis_server().url
    one, two = (hub_process("--api-key", KEY, "--broker", url, state_dir=tmp_path / name) for name in ("a", "b"))
    phone = Peer(two.mqtt_port, "phone", clean=False)
    phone.subscribe(("sensors/#", 1))
    away = Peer(two.mqtt_port, "tablet", clean=False)
    away.subscribe(("sensors/#", 1))
    away.close()
    plug = Peer(one.mqtt_port, "plug")
    plug.publish("sensors/temp", b"21.50", qos=1)
    got = phone.receive()
    assert (got.payload, got.qos) == (b"21.50", 1)  # not 21.5 at QoS 0
    plug.publish("sensors/blob", b"\xff\x00", qos=1, retain=True)
    assert phone.receive().payload == b"\xff\x00"
    # The tablet's session on the second hub kept the QoS 1 messages.
    back = Peer(two.mqtt_port, "tablet", clean=False, connect=False)
    assert back.start()[0].session_present
    assert [back.receive().payload for _ in range(2)] == [b"21.50", b"\xff\x00"]
    # A retained value is the cluster's: a late subscriber on either hub gets it.
    late = Peer(two.mqtt_port, "late")
    late.subscribe(("sensors/blob", 0))
    retained = late.receive()
    assert (retained.topic, retained.payload, retained.retain) == ("sensors/blob", b"\xff\x00", True)
    late.subscribe(("sensors/blob", 0))  # again: Redis's retained values again [MQTT-3.8.4-3]
    assert late.receive().retain
    # A session lives on the hub it was made on: on the other one, the
    # client starts afresh (docs/cluster.rst).
    elsewhere = Peer(one.mqtt_port, "phone", clean=False, connect=False)
    assert not elsewhere.start()[0].session_present
    for peer in (phone, plug, back, late, elsewhere):
        peer.close()
