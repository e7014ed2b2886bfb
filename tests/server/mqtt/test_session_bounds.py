"""The bounds of MQTT sessions: at most --mqtt-max-sessions away, the one
away longest ending first (never those connected when the hub stopped), and
one --mqtt-session-bytes pool for all their messages, in which away sessions
give way before connected clients lose anything."""

from __future__ import annotations

from tests.server.mqtt.test_sessions import away
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics


def test_away_sessions_are_capped_the_longest_away_ending_first(hub_process):
    hub = hub_process("--api-key", KEY, "--mqtt-max-sessions", "2")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/#", 0))
    for name in ("a", "b", "c"):
        peer = Peer(hub.mqtt_port, name, clean=False)
        peer.close()
        away(watcher, name)
    assert metrics(hub)["picloud_mqtt_sessions_ended_total"] == 1
    for name, kept in (("b", True), ("c", True), ("a", False)):  # each check leaves a session away
        back = Peer(hub.mqtt_port, name, clean=False, connect=False)
        assert back.start()[0].session_present is kept, name
        back.close()
    watcher.close()


def test_session_messages_share_one_byte_budget(hub_process):
    hub = hub_process("--api-key", KEY, "--mqtt-session-bytes", "2048")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/#", 0))
    for name in ("one", "two"):
        peer = Peer(hub.mqtt_port, name, clean=False)
        peer.subscribe(("log/#", 1))
        peer.close()
        away(watcher, name)
    sensor = Peer(hub.mqtt_port, "sensor")
    for n in range(4):
        sensor.publish("log/line", bytes([48 + n]) * 500, qos=1)
    # Two sessions x four of 500 bytes = 4000 > 2048: four of them fit.
    numbers = metrics(hub)
    assert numbers["picloud_mqtt_session_bytes"] == 2000
    assert numbers["picloud_mqtt_dropped_total"] == 4
    # "one" has held messages longest: it gave way to "two", which kept all four.
    back = Peer(hub.mqtt_port, "two", clean=False, connect=False)
    back.start()
    assert [back.receive().payload[:1] for _ in range(4)] == [b"0", b"1", b"2", b"3"]
    other = Peer(hub.mqtt_port, "one", clean=True, connect=False)  # clean: its session ends
    other.start()
    assert back.nothing_more((sensor, "log/line"))
    # paho acknowledged it; a publish of its own, acknowledged in turn, comes
    # after that PUBACK on the same connection: then nothing is held.
    back.publish("elsewhere", "x", qos=1)
    assert metrics(hub)["picloud_mqtt_session_bytes"] == 0
    for peer in (back, sensor, watcher, other):
        peer.close()


def test_away_sessions_give_way_to_a_connected_client(hub_process):
    hub = hub_process("--api-key", KEY, "--mqtt-session-bytes", "2048")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/#", 0))
    gone = Peer(hub.mqtt_port, "gone", clean=False)
    gone.subscribe(("log/#", 1))
    gone.close()
    away(watcher, "gone")
    sensor = Peer(hub.mqtt_port, "sensor")
    for n in range(4):
        sensor.publish("log/line", bytes([48 + n]) * 500, qos=1)  # the pool full of the away one's
    here = Peer(hub.mqtt_port, "here", clean=False)
    here.subscribe(("log/#", 1))
    for n in range(4, 10):
        sensor.publish("log/line", bytes([48 + n]) * 500, qos=1)
    assert [here.receive().payload[:1] for _ in range(6)] == [bytes([48 + n]) for n in range(4, 10)]
    assert metrics(hub)["picloud_mqtt_session_bytes"] <= 2048
    for peer in (here, sensor, watcher):
        peer.close()


def test_sessions_connected_when_the_hub_stops_are_not_capped(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--mqtt-max-sessions", "1", state_dir=state)
    peers = [Peer(hub.mqtt_port, name, clean=False) for name in ("a", "b")]
    for peer in peers:
        peer.subscribe(("t", 1))
    assert hub.stop() == 0
    for peer in peers:
        peer.client.loop_stop()
    again = hub_process("--api-key", KEY, "--mqtt-max-sessions", "1", state_dir=state)
    # Both kept (the cap holds again as soon as one of them leaves).
    back = [Peer(again.mqtt_port, name, clean=False, connect=False) for name in ("a", "b")]
    assert [peer.start()[0].session_present for peer in back] == [True, True]
    for peer in back:
        peer.close()
