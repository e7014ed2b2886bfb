"""MQTT persistent sessions across hub restarts and crashes, their bounds
(--mqtt-max-sessions, --mqtt-session-bytes), retained MQTT values byte for
byte after a restart, and unacknowledged messages sent again with DUP
[MQTT-4.4.0-1]; real hub processes, paho and a raw socket client."""

from __future__ import annotations

import json
import signal

from picloud.stores.sessions import SESSIONS_FILE
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.rawmqtt import RawMqtt
from tests.support.redisserver import wait_until


def away(watcher: Peer, client_id: str) -> None:
    """Wait until presence says ``client_id`` is offline: its session is kept."""
    while True:
        message = watcher.receive()
        if message.topic == f"$SYS/clients/{client_id}" and json.loads(message.payload)["online"] is False:
            return


def test_a_session_and_its_messages_outlive_a_hub_restart(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, state_dir=state)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/phone", 0))
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    assert phone.subscribe(("alarm/#", 1), ("ping", 2)) == [1, 2]
    phone.close()
    away(watcher, "phone")
    sensor = Peer(hub.mqtt_port, "sensor")
    for payload in (b"21.50", b"\xff\x00binary", b'{"POWER":"ON"}'):
        sensor.publish("alarm/door", payload, qos=1)
    for peer in (sensor, watcher):
        peer.close()
    assert hub.stop() == 0
    assert "mqtt-sessions" not in hub.stderr  # nothing failed to be written

    again = hub_process("--api-key", KEY, state_dir=state)
    wait_until(lambda: "restored 1 mqtt sessions (3 messages waiting)" in again.stderr, "the restore logged")
    back = Peer(again.mqtt_port, "phone", clean=False, connect=False)
    flags, code = back.start()
    assert code == 0 and flags.session_present  # [MQTT-3.2.2-2]
    # The bytes exactly as sent, at QoS 1, and the subscriptions still there.
    got = [back.receive() for _ in range(3)]
    assert [(m.payload, m.qos) for m in got] == [(b"21.50", 1), (b"\xff\x00binary", 1), (b'{"POWER":"ON"}', 1)]
    sensor = Peer(again.mqtt_port, "sensor")
    sensor.publish("ping", "live", qos=2)
    live = back.receive()
    assert (live.topic, live.payload, live.qos) == ("ping", b"live", 2)
    for peer in (back, sensor):
        peer.close()


def test_a_crash_loses_at_most_the_last_interval(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--retain-interval", "0.05", state_dir=state)
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    phone.subscribe(("alarm/#", 1))
    phone.close()
    sensor = Peer(hub.mqtt_port, "sensor")
    for n in range(3):
        sensor.publish("alarm/door", f"{n}", qos=1)
    saved = state / SESSIONS_FILE
    # Once an interval has passed the file holds them: then kill -9.
    wait_until(lambda: saved.exists() and json.loads(saved.read_bytes())["sessions"][0]["queue"][2:],
               "the three messages saved")
    hub.stop(signal.SIGKILL)
    again = hub_process("--api-key", KEY, state_dir=state)
    back = Peer(again.mqtt_port, "phone", clean=False, connect=False)
    assert back.start()[0].session_present
    assert [back.receive().payload for _ in range(3)] == [b"0", b"1", b"2"]
    back.close()
    sensor.close()


def test_unacknowledged_messages_come_again_with_dup_after_a_restart(hub_process, tmp_path):
    """[MQTT-4.4.0-1]: on reconnect with clean session 0, what was sent and
    not acknowledged is sent again with DUP set, under the same packet id;
    here across a hub restart too."""
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, state_dir=state)
    plug = RawMqtt(hub.mqtt_port, "plug", clean=False)
    assert plug.subscribe(("cmnd/plug/#", 1)) == [1]
    sender = Peer(hub.mqtt_port, "sender")
    sender.publish("cmnd/plug/POWER", "ON", qos=1)
    first = plug.receive()
    assert (first.payload, first.qos, first.dup) == (b"ON", 1, False)
    plug.close()  # gone without PUBACK (or taken over, if the hub has not seen it yet)
    again = RawMqtt(hub.mqtt_port, "plug", clean=False)
    assert again.session_present
    resent = again.receive()
    assert (resent.payload, resent.dup, resent.packet_id) == (b"ON", True, first.packet_id)
    again.close()
    sender.close()
    assert hub.stop() == 0
    restarted = hub_process("--api-key", KEY, state_dir=state)
    after = RawMqtt(restarted.mqtt_port, "plug", clean=False)
    assert after.session_present
    resent = after.receive()
    assert (resent.payload, resent.dup, resent.packet_id) == (b"ON", True, first.packet_id)
    after.ack(resent.packet_id)
    after.disconnect()


def test_retained_mqtt_values_stay_byte_exact_after_a_restart(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, state_dir=state)
    plug = Peer(hub.mqtt_port, "plug")
    plug.publish("tele/plug/SENSOR", b'{"ENERGY":{"Power":21.50}}', qos=1, retain=True)
    plug.publish("stat/plug/RAW", b"\x00\x01", qos=0, retain=True)
    plug.close()
    assert hub.stop() == 0
    again = hub_process("--api-key", KEY, state_dir=state)
    late = Peer(again.mqtt_port, "late")
    late.subscribe(("tele/#", 1), ("stat/#", 1))
    got = {m.topic: (m.payload, m.qos, m.retain) for m in (late.receive(), late.receive())}
    assert got == {"tele/plug/SENSOR": (b'{"ENERGY":{"Power":21.50}}', 1, True),
                   "stat/plug/RAW": (b"\x00\x01", 0, True)}
    late.close()


def test_a_session_of_a_key_gone_while_the_hub_was_down_is_not_restored(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, state_dir=state)
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    phone.subscribe(("alarm/#", 1))
    phone.close()
    assert hub.stop() == 0
    other = "another-key-0123456789"
    again = hub_process("--api-key", other, state_dir=state)
    wait_until(lambda: "1 of keys gone" in again.stderr, "the session left out")
    back = Peer(again.mqtt_port, "phone", key=other, clean=False, connect=False)
    assert not back.start()[0].session_present
    back.close()


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
    assert numbers["picloud_mqtt_session_bytes"] <= 2048
    assert numbers["picloud_mqtt_dropped_total"] == 4
    back = Peer(hub.mqtt_port, "one", clean=False, connect=False)
    back.start()
    # Each session dropped its own oldest to make room: the newest are kept.
    assert [back.receive().payload for _ in range(2)] == [b"2" * 500, b"3" * 500]
    for peer in (back, sensor, watcher):
        peer.close()
