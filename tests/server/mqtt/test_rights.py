"""Keys and topic rights over MQTT: ``%c`` as the client id, SIGHUP applying
changed keys to connections and to sessions whose clients are away, and a
session never handed to another key."""

from __future__ import annotations

import signal

from picloud.wire.mqtt import packets as p
from tests.server.mqtt.test_sessions import away
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.redisserver import wait_until


def test_rights_apply_to_mqtt_with_the_client_id_as_percent_c(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nAb9Lm3Qw7Ee1Rt6Y publish tasmota/%c/#\nZr4p0Tf2Yq5Kx8Nn subscribe tasmota/#\n")
    hub = hub_process("--keys-file", str(keys))
    plug = Peer(hub.mqtt_port, "plug1", key="Ab9Lm3Qw7Ee1Rt6Y")
    reader = Peer(hub.mqtt_port, "ha", key="Zr4p0Tf2Yq5Kx8Nn")
    assert reader.subscribe(("tasmota/#", 1), ("#", 0)) == [1, p.SUBSCRIBE_FAILURE]
    plug.publish("tasmota/plug2/POWER", "spoofed", qos=1)  # dropped, still acked [MQTT-3.3.5-2]
    plug.publish("tasmota/plug1/POWER", "ON", qos=1)
    assert reader.receive().payload == b"ON"
    assert reader.subscribe(("x", 0)) == [p.SUBSCRIBE_FAILURE]  # a subscribe key may not subscribe outside
    # Given twice in one packet: decided once, the last QoS granted, refused both times when refused.
    assert reader.subscribe(("tasmota/a", 0), ("#", 1), ("tasmota/a", 1), ("#", 0)) == [
        1, p.SUBSCRIBE_FAILURE, 1, p.SUBSCRIBE_FAILURE]
    for peer in (plug, reader):
        peer.close()
    hub.stop()
    assert hub.stderr.count("publish dropped: this key may not publish to 'tasmota/plug2/POWER'") == 1


def test_sighup_closes_mqtt_connections_whose_key_was_removed(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nAb9Lm3Qw7Ee1Rt6Y publish tasmota/#\n")
    hub = hub_process("--keys-file", str(keys))
    plug = Peer(hub.mqtt_port, "plug", key="Ab9Lm3Qw7Ee1Rt6Y")
    stays = Peer(hub.mqtt_port, "ha")
    keys.write_text(f"{KEY} admin\n")
    hub.proc.send_signal(signal.SIGHUP)
    assert plug.disconnected.wait(10)
    stays.subscribe(("t", 0))
    stays.publish("t", "still in")
    assert stays.receive().payload == b"still in"
    stays.close()


def test_a_persistent_session_is_not_handed_to_another_key(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nAb9Lm3Qw7Ee1Rt6Y subscribe public/#\n")
    hub = hub_process("--keys-file", str(keys))
    owner = Peer(hub.mqtt_port, "dev", clean=False)
    owner.subscribe(("secret/#", 1))
    owner.close()
    pub = Peer(hub.mqtt_port, "pub")
    pub.publish("secret/x", "for the owner", qos=1)
    other = Peer(hub.mqtt_port, "dev", key="Ab9Lm3Qw7Ee1Rt6Y", clean=False, connect=False)
    flags, code = other.start()
    assert code == 0 and not flags.session_present  # a new session, not the owner's
    other.subscribe(("public/#", 1))
    pub.publish("secret/x", "live", qos=1)
    pub.publish("public/x", "public", qos=1)
    assert other.receive().payload == b"public"
    for peer in (pub, other):
        peer.close()


def test_sighup_narrows_the_sessions_of_clients_that_are_away(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nDv7Kq2Lm9Xw4Rt6Z subscribe alarm/# secret/#\n")
    hub = hub_process("--keys-file", str(keys))
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/phone", 0))
    phone = Peer(hub.mqtt_port, "phone", key="Dv7Kq2Lm9Xw4Rt6Z", clean=False)
    assert phone.subscribe(("alarm/#", 1), ("secret/#", 1)) == [1, 1]
    phone.close()
    away(watcher, "phone")
    sensor = Peer(hub.mqtt_port, "sensor")
    sensor.publish("secret/code", "1234", qos=1)
    keys.write_text(f"{KEY} admin\nDv7Kq2Lm9Xw4Rt6Z subscribe alarm/#\n")
    before = metrics(hub)["picloud_mqtt_dropped_total"]
    hub.proc.send_signal(signal.SIGHUP)
    # The queued secret/code goes with its subscription.
    wait_until(lambda: metrics(hub)["picloud_mqtt_dropped_total"] > before, "the narrowed queue")
    sensor.publish("secret/code", "5678", qos=1)
    sensor.publish("alarm/door", "open", qos=1)
    back = Peer(hub.mqtt_port, "phone", key="Dv7Kq2Lm9Xw4Rt6Z", clean=False, connect=False)
    assert back.start()[0].session_present
    assert back.receive().payload == b"open"
    assert back.nothing_more((sensor, "alarm/x"))
    for peer in (back, sensor, watcher):
        peer.close()
