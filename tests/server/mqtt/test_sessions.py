"""MQTT persistent sessions across hub restarts and crashes, retained MQTT
values byte for byte after a restart, and unacknowledged messages sent again
with DUP [MQTT-4.4.0-1]; real hub processes, paho and a raw socket client."""

from __future__ import annotations

import base64
import json
import signal

from picloud.stores.files import SESSIONS_FILE
from picloud.stores.sqlite.sessions import UNREADABLE_FILE
from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.rawmqtt import RawMqtt
from tests.support.redisserver import wait_until
from tests.support.statedb import DATABASE, query, saved_sessions


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
    assert "cannot write mqtt sessions" not in hub.stderr and "cannot save" not in hub.stderr

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
    hub = hub_process("--api-key", KEY, "--store-interval", "0.05", state_dir=state)
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    phone.subscribe(("alarm/#", 1))
    phone.close()
    sensor = Peer(hub.mqtt_port, "sensor")
    for n in range(3):
        sensor.publish("alarm/door", f"{n}", qos=1)
    saved = state / DATABASE

    def queued() -> list:
        sessions = saved_sessions(saved)
        return sessions["sessions"][0]["queue"] if sessions and sessions["sessions"] else []

    # Once an interval has passed the database holds them: then kill -9.
    wait_until(lambda: queued()[2:], "the three messages saved")
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


def test_a_retained_json_of_an_earlier_version_moves_in_byte_exact(hub_process, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    frame = {"action": "publish", "event": "tele/plug/SENSOR", "data": {"ENERGY": {"Power": 21.5}}, "seq": 4,
             "retained": True}
    raw = base64.b64encode(b'{"ENERGY":{"Power":21.50}}').decode()
    (state / "retained.json").write_text(json.dumps({"version": 2, "retained": [frame],
                                                     "mqtt": [["tele/plug/SENSOR", 1, raw]]}))
    hub = hub_process("--api-key", KEY, state_dir=state)
    wait_until(lambda: "moved 1 retained values from retained.json into" in hub.stderr, "the move logged")
    assert (state / "retained.json.migrated").exists() and not (state / "retained.json").exists()
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("tele/#", 1))
    got = late.receive()
    assert (got.payload, got.qos, got.retain) == (b'{"ENERGY":{"Power":21.50}}', 1, True)
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


def test_with_no_auth_sessions_come_back_whatever_username_a_client_sends(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--no-auth", state_dir=state)
    ha = Peer(hub.mqtt_port, "homeassistant", key="anything", username="homeassistant", clean=False)
    ha.subscribe(("zigbee2mqtt/#", 1))
    ha.close()
    assert hub.stop() == 0
    again = hub_process("--no-auth", state_dir=state)
    back = Peer(again.mqtt_port, "homeassistant", key="else", username="homeassistant", clean=False, connect=False)
    assert back.start()[0].session_present
    back.close()


def test_a_key_narrowed_while_the_hub_was_down_narrows_its_session(hub_process, tmp_path):
    state, keys = tmp_path / "state", tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nDv7Kq2Lm9Xw4Rt6Z subscribe alarm/# secret/#\n")
    hub = hub_process("--keys-file", str(keys), state_dir=state)
    phone = Peer(hub.mqtt_port, "phone", key="Dv7Kq2Lm9Xw4Rt6Z", clean=False)
    assert phone.subscribe(("alarm/#", 1), ("secret/#", 1)) == [1, 1]
    phone.close()
    sensor = Peer(hub.mqtt_port, "sensor")
    sensor.publish("secret/code", "1234", qos=1)
    sensor.publish("alarm/door", "open", qos=1)
    sensor.close()
    assert hub.stop() == 0
    keys.write_text(f"{KEY} admin\nDv7Kq2Lm9Xw4Rt6Z subscribe alarm/#\n")
    again = hub_process("--keys-file", str(keys), state_dir=state)
    back = Peer(again.mqtt_port, "phone", key="Dv7Kq2Lm9Xw4Rt6Z", clean=False, connect=False)
    assert back.start()[0].session_present
    assert back.receive().payload == b"open"  # what secret/# collected went with it
    sensor = Peer(again.mqtt_port, "sensor")
    sensor.publish("secret/code", "5678", qos=1)
    assert back.nothing_more((sensor, "alarm/door"))
    for peer in (back, sensor):
        peer.close()
    keys.write_text(f"{KEY} admin\nDv7Kq2Lm9Xw4Rt6Z publish alarm/#\n")  # may no longer subscribe
    assert again.stop() == 0
    last = hub_process("--keys-file", str(keys), state_dir=state)
    wait_until(lambda: "1 of keys gone" in last.stderr, "the session left out")


def test_a_qos2_id_released_before_a_crash_is_free_after_it(hub_process, tmp_path):
    """The ids of QoS 2 publishes awaiting PUBREL are saved, and so is their
    release: after kill -9 a new publish under a released id is delivered."""
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--store-interval", "0.05", state_dir=state)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("plug/#", 2))
    plug = RawMqtt(hub.mqtt_port, "plug", clean=False)
    plug.send(p.encode_publish(p.string("plug/state"), b"first", 2, packet_id=5))
    assert plug.read().kind == p.PUBREC
    saved = state / DATABASE

    def awaiting() -> list[int] | None:
        sessions = saved_sessions(saved)
        if sessions is None:
            return None
        return next((s["awaiting_release"] for s in sessions["sessions"] if s["id"] == "plug"), None)

    wait_until(lambda: awaiting() == [5], "id 5 saved as awaiting PUBREL")
    plug.send(p.encode_ack(p.PUBREL, 5))
    assert plug.read().kind == p.PUBCOMP
    wait_until(lambda: awaiting() == [], "its release saved")
    hub.stop(signal.SIGKILL)
    again = hub_process("--api-key", KEY, state_dir=state)
    watcher = Peer(again.mqtt_port, "watcher")
    watcher.subscribe(("plug/#", 2))
    plug = RawMqtt(again.mqtt_port, "plug", clean=False)
    plug.send(p.encode_publish(p.string("plug/state"), b"second", 2, packet_id=5))
    assert plug.read().kind == p.PUBREC
    assert watcher.receive().payload == b"second"
    plug.close()
    watcher.close()


def test_a_damaged_sessions_file_never_stops_the_hub(hub_process, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    good = {"id": "good", "key": None, "left": 4e9, "away": True, "subscriptions": {"a": 1}, "queue": [],
            "inflight": [], "awaiting_release": [], "next_id": 3}
    bad = [dict(good, id="inf", next_id=1e999), dict(good, id="float-qos", subscriptions={"a": 1.0}),
           dict(good, id="plus", queue=[[["a+b", "eA==", 1, False, False], 1]]),
           dict(good, id="big-id", inflight=[[70000, ["a", "eA==", 1, False, False], 1, False]])]
    # As a hub before picloud.db left them: moved into the database at start.
    (state / SESSIONS_FILE).write_text(json.dumps({"version": 2, "salt": "00", "saved": 4e9,
                                                   "sessions": [good, *bad]}).replace("Infinity", "1e999"))
    hub = hub_process("--no-auth", state_dir=state)
    assert (state / (SESSIONS_FILE + ".migrated")).exists() and not (state / SESSIONS_FILE).exists()
    # The float QoS costs its session only that subscription.
    wait_until(lambda: "restored 2 mqtt sessions" in hub.stderr and "3 unreadable" in hub.stderr
               and "1 subscriptions of restored mqtt sessions dropped" in hub.stderr,
               "the good sessions restored, the others counted")
    back = Peer(hub.mqtt_port, "good", clean=False, connect=False)
    assert back.start()[0].session_present
    back.close()
    assert hub.stop() == 0
    query(state / DATABASE, "UPDATE sessions SET data = ?", b"{not json")  # damaged, somehow
    again = hub_process("--no-auth", state_dir=state)
    wait_until(lambda: "cannot read the saved mqtt sessions" in again.stderr, "the unreadable sessions named")
    assert (state / UNREADABLE_FILE).read_bytes() == b"{not json"  # kept for a human
    assert query(state / DATABASE, "SELECT count(*) FROM sessions") == [(0,)]  # not read again
    back = Peer(again.mqtt_port, "good", clean=False, connect=False)
    assert not back.start()[0].session_present
    back.close()
