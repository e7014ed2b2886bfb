"""The MQTT front end (picloud/server/mqtt/) with real clients, paho-mqtt and
Debian's mosquitto_pub/mosquitto_sub, against a real hub process: CONNECT's
return codes, QoS 0/1/2 both ways, retained values, wills, sessions, and the
spec's normative statements named where they are tested."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY, read_json, subscribed
from tests.support.mqtt import Peer


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY, "--info-interval", "0.2")


def test_connect_takes_the_key_as_password_or_username(hub):
    for key, username in ((KEY, "homeassistant"), (KEY, None)):  # None: the key as username
        peer = Peer(hub.mqtt_port, "ha", key=key, username=username, connect=False)
        _, code = peer.start()
        assert code == 0, code
        peer.close()
    wrong = Peer(hub.mqtt_port, "x", key="wrong-key-0123456789", connect=False)
    # paho names the 3.1.1 return codes 4 and 5 as MQTT 5 does.
    assert str(wrong.start()[1]) == "Bad user name or password"
    nothing = Peer(hub.mqtt_port, "x", key=None, username=None, connect=False)
    assert str(nothing.start()[1]) == "Not authorized"
    for peer in (wrong, nothing):
        peer.client.loop_stop()


def raw_connack(port: int, packet: p.Connect) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(p.encode_connect(packet))
        return sock.recv(4)


def test_protocol_levels_and_client_ids(hub):
    # MQTT 5 gets "unacceptable protocol version" [MQTT-3.1.2-2]; 3.1 and bridges are in.
    assert raw_connack(hub.mqtt_port, p.Connect(5, "v5", True, 60, password=KEY.encode(), username="u")) == \
        p.encode_connack(False, p.BAD_PROTOCOL)
    for level, bridge in ((3, False), (4, True)):
        answer = raw_connack(hub.mqtt_port, p.Connect(level, "ok", True, 60, username="u", password=KEY.encode(),
                                                      bridge=bridge))
        assert answer == p.encode_connack(False, p.ACCEPTED)
    # Ids: 23 bytes at 3.1, 128 at 3.1.1; an empty one needs clean session [MQTT-3.1.3-8].
    for level, client_id, clean, code in ((3, "x" * 24, True, p.BAD_CLIENT_ID), (4, "x" * 128, True, p.ACCEPTED),
                                          (4, "x" * 129, True, p.BAD_CLIENT_ID), (4, "", False, p.BAD_CLIENT_ID),
                                          (4, "", True, p.ACCEPTED), (3, "", True, p.BAD_CLIENT_ID)):
        packet = p.Connect(level, client_id, clean, 60, username="u", password=KEY.encode())
        assert raw_connack(hub.mqtt_port, packet) == p.encode_connack(False, code), (level, len(client_id), clean)


@pytest.mark.parametrize("level", [3, 4])
def test_delivery_at_the_lower_qos_once_however_many_match(hub, level):
    sub = Peer(hub.mqtt_port, "sub", level=level)
    assert sub.subscribe(("home/+/temp", 1), ("home/#", 0), ("home/kitchen/temp", 2)) == [1, 0, 2]
    pub = Peer(hub.mqtt_port, "pub", level=level)
    for qos in (0, 1, 2):
        pub.publish("home/kitchen/temp", f"{qos}", qos=qos)
        got = sub.receive()
        # [MQTT-3.3.5-1]: once, at the highest granted QoS of those matching; never above the publish's.
        assert (got.payload, got.qos, got.retain) == (f"{qos}".encode(), qos, False)
    pub.publish("home/hall/temp", "x", qos=2)
    assert sub.receive().qos == 1  # home/+/temp granted 1, home/# 0
    assert sub.nothing_more((pub, "home/kitchen/temp"))
    sub.close()
    pub.close()


def test_retained_values_have_retain_set_only_for_a_new_subscription(hub):
    pub = Peer(hub.mqtt_port, "plug")
    pub.publish("tasmota/plug/POWER", b"ON", qos=1, retain=True)
    sub = Peer(hub.mqtt_port, "ha")
    sub.subscribe(("tasmota/#", 1))
    first = sub.receive()
    assert (first.topic, first.payload, first.retain) == ("tasmota/plug/POWER", b"ON", True)  # [MQTT-3.3.1-8]
    pub.publish("tasmota/plug/POWER", b"OFF", qos=1, retain=True)
    live = sub.receive()
    assert (live.payload, live.retain) == (b"OFF", False)  # [MQTT-3.3.1-9]
    sub.subscribe(("tasmota/#", 1))  # again: the retained values again [MQTT-3.8.4-3]
    again = sub.receive()
    assert (again.payload, again.retain) == (b"OFF", True)
    # An empty retained payload clears the value and still reaches subscribers [MQTT-3.3.1-10/11].
    pub.publish("tasmota/plug/POWER", b"", qos=1, retain=True)
    cleared = sub.receive()
    assert (cleared.payload, cleared.retain) == (b"", False)
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("tasmota/#", 0), ("late/done", 0))
    assert late.nothing_more((pub, "late/done"))
    for peer in (pub, sub, late):
        peer.close()


@pytest.mark.gen_test(timeout=30)
async def test_payloads_cross_between_the_two_protocols(hub):
    ws = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await subscribed(ws, "stat/#")
    mqtt = Peer(hub.mqtt_port, "plug")
    mqtt.subscribe(("cmnd/#", 1))
    for payload, data in ((b"21.50", 21.5), (b'{"POWER":"ON"}', {"POWER": "ON"}), (b"ON", "ON"),
                          (b'"ON"', "ON"), (b"", None)):
        mqtt.publish("stat/plug", payload, qos=1)
        frame = await read_json(ws)
        assert (frame["data"], "encoding" in frame) == (data, False), payload
    mqtt.publish("stat/plug", b"\xff\x00\x01", qos=1)  # not UTF-8: base64, and the frame says so
    frame = await read_json(ws)
    assert (frame["data"], frame["encoding"]) == ("/wAB", "base64")
    pub = await websocket_connect(HTTPRequest(f"{hub.ws_url}/publish?clientName=tab", headers={"X-API-Key": KEY}))
    for data, payload in (("ON", b"ON"), ({"POWER": "TOGGLE"}, b'{"POWER":"TOGGLE"}'), (21.5, b"21.5"), (None, b"")):
        await pub.write_message(json.dumps({"event": "cmnd/plug/POWER", "data": data}))
        got = mqtt.receive()
        assert (got.payload, got.qos) == (payload, 0)  # a PiCloud publisher counts as QoS 0
    mqtt.close()
    ws.close()
    pub.close()


def test_wills_go_when_a_client_vanishes_never_after_disconnect(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("status/#", 1))
    polite = Peer(hub.mqtt_port, "polite", will=("status/polite", b"gone", 1, False))
    polite.close()  # DISCONNECT: no will [MQTT-3.14.4-3]
    rude = Peer(hub.mqtt_port, "rude", will=("status/rude", b"offline", 1, True))
    rude.client.socket().close()  # vanished
    rude.client.loop_stop()
    will = watcher.receive()
    assert (will.topic, will.payload) == ("status/rude", b"offline")
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("status/#", 1))
    assert (late.receive().payload, True) == (b"offline", True)  # will retain honoured
    for peer in (watcher, late):
        peer.close()


def test_a_persistent_session_keeps_its_subscriptions_and_messages(hub):
    sensor = Peer(hub.mqtt_port, "sensor")
    phone = Peer(hub.mqtt_port, "phone", clean=False)
    assert phone.subscribe(("alarm/#", 1)) == [1]
    phone.close()
    for n in range(5):
        sensor.publish("alarm/door", f"{n}", qos=1)
    sensor.publish("alarm/door", "qos0", qos=0)  # not kept for an absent client
    back = Peer(hub.mqtt_port, "phone", clean=False, connect=False)
    flags, code = back.start()
    assert code == 0 and flags.session_present
    assert [back.receive().payload for _ in range(5)] == [f"{n}".encode() for n in range(5)]
    sensor.publish("alarm/last", "live", qos=1)
    assert back.receive().payload == b"live"
    back.close()
    fresh = Peer(hub.mqtt_port, "phone", clean=True, connect=False)
    assert not fresh.start()[0].session_present  # clean session 1 drops it
    fresh.close()
    sensor.close()


def test_a_second_connection_with_the_same_id_takes_over(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("status/#", 1))
    first = Peer(hub.mqtt_port, "plug", will=("status/plug", b"lost", 1, False))
    second = Peer(hub.mqtt_port, "plug")
    assert first.disconnected.wait(10)  # [MQTT-3.1.4-2]
    # The first left without DISCONNECT: its will goes, as Mosquitto does.
    assert watcher.receive().payload == b"lost"
    second.publish("status/plug", "here", qos=1)
    assert watcher.receive().payload == b"here"
    for peer in (watcher, second):
        peer.close()


def test_dollar_topics_are_not_matched_by_leading_wildcards(hub):
    sub = Peer(hub.mqtt_port, "sub")
    sub.subscribe(("#", 0), ("$SYS/clients/+", 0))
    presence = sub.receive()  # its own presence: through $SYS/clients/+, once
    assert presence.topic == "$SYS/clients/sub" and json.loads(presence.payload)["online"] is True
    pub = Peer(hub.mqtt_port, "pub")
    pub.publish("$SYS/fake", "x", qos=1)  # not a client's to publish: dropped
    pub.publish("home/t", "1", qos=1)
    got = sub.receive()
    assert got.topic == "$SYS/clients/pub"  # an MQTT client is in presence [MQTT-4.7.2-1: not via '#']
    assert sub.receive().topic == "home/t"
    for peer in (sub, pub):
        peer.close()


def test_malformed_and_oversized_packets_close_only_that_connection(hub):
    for bad in (b"\x10\xff\xff\xff\xff\x01",  # a remaining length of 5 bytes
                b"\x30" + p.remaining_length(2 * 1024 * 1024),  # over --max-message-bytes, before the body
                b"\xf0\x00"):  # packet type 15
        with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=5) as sock:
            sock.sendall(bad)
            assert sock.recv(10) == b""
    peer = Peer(hub.mqtt_port, "fine")
    peer.subscribe(("t", 0))
    peer.publish("t", "still served")
    assert peer.receive().payload == b"still served"
    peer.close()
    hub.stop()
    assert "Traceback" not in hub.stderr


def test_a_silent_client_is_dropped_at_one_and_a_half_keepalives(hub):
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("status/#", 1))
    with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=10) as sock:
        sock.sendall(p.encode_connect(p.Connect(4, "sleepy", True, 1, username="u", password=KEY.encode(),
                                                will_topic="status/sleepy", will_payload=b"asleep", will_qos=1)))
        assert sock.recv(4) == p.encode_connack(False, p.ACCEPTED)
        assert sock.recv(10) == b""  # closed after 1.5 s of silence [MQTT-3.1.2-24]
    assert watcher.receive().payload == b"asleep"
    watcher.close()


def test_mosquitto_clients_publish_and_subscribe(hub):
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(hub.mqtt_port), "-u", "u", "-P", KEY, "-t", "garden/#",
                            "-v", "-C", "2", "-q", "1", "-i", "mosquitto-sub"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("$SYS/clients/mosquitto-sub", 0))
    while json.loads(watcher.receive().payload)["online"] is not True:
        pass  # mosquitto_sub is connected once it is online
    for value in ("21.5", "dry"):
        done = subprocess.run(["mosquitto_pub", "-p", str(hub.mqtt_port), "-u", "u", "-P", KEY,
                               "-t", "garden/soil", "-m", value, "-q", "1"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out, err = sub.communicate(timeout=20)
    assert out.splitlines() == ["garden/soil 21.5", "garden/soil dry"], err
    watcher.close()


def test_a_client_that_stops_reading_is_dropped_without_harming_the_others(hub_process):
    # Over 1 MiB unsent, at QoS 0, the stalled one; steady, at QoS 1, has
    # at most --mqtt-max-inflight (20) of these 32 KB messages unacknowledged,
    # 640 KB, so a moment's backlog of a busy machine never takes it over.
    hub = hub_process("--api-key", KEY, "--max-queue-bytes", str(1 << 20))
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", hub.mqtt_port))
    stalled.sendall(p.encode_connect(p.Connect(4, "stalled", True, 0, username="u", password=KEY.encode()))
                    + p.encode_subscribe(p.Subscribe(1, [("t", 0)])))
    steady = Peer(hub.mqtt_port, "steady")
    steady.subscribe(("t", 1))
    pub = Peer(hub.mqtt_port, "pub")
    for n in range(200):  # 6 MB: more than the kernel's buffers hold, so the stalled one overflows
        pub.publish("t", f"{n:04d}" + "x" * 32000, qos=1)
    assert [steady.receive().payload[:4] for _ in range(200)] == [f"{n:04d}".encode() for n in range(200)]
    pub.publish("t", "after", qos=1)  # the publisher is still served
    assert steady.receive().payload == b"after"
    for peer in (steady, pub):
        peer.close()
    stalled.close()
    hub.stop()
    assert "slow consumer mqtt 'stalled'" in hub.stderr and "Traceback" not in hub.stderr


def test_payload_corner_cases(hub):
    sub = Peer(hub.mqtt_port, "sub")
    sub.subscribe(("t/#", 1))
    pub = Peer(hub.mqtt_port, "pub")
    pub.publish("t/null", b"null", qos=1, retain=True)  # text: a value, not a clear [MQTT-3.3.1-10]
    assert sub.receive().payload == b"null"
    deep = b"[" * 100_000
    pub.publish("t/deep", deep, qos=1)  # deeper than a JSON parser goes: passed on as it is
    assert sub.receive().payload == deep
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("t/null", 0))
    assert late.receive().payload == b"null"
    # A protocol name that is not its level's gets return code 1 [MQTT-3.1.2-2].
    assert raw_connack(hub.mqtt_port, p.Connect(4, "x", True, 60, username="u", password=KEY.encode())) == \
        p.encode_connack(False, p.ACCEPTED)
    with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=5) as sock:
        wrong_name = p.encode_connect(p.Connect(4, "x", True, 60, username="u", password=KEY.encode()))
        sock.sendall(wrong_name.replace(b"\x00\x04MQTT\x04", b"\x00\x06MQIsdp\x04").replace(
            bytes((wrong_name[1],)), bytes((wrong_name[1] + 2,)), 1))
        assert sock.recv(4) == p.encode_connack(False, p.BAD_PROTOCOL)
    for peer in (sub, pub, late):
        peer.close()


def test_metrics_count_mqtt_connections_and_sessions(hub):
    live = Peer(hub.mqtt_port, "live")
    live.subscribe(("$SYS/clients/kept", 0))
    kept = Peer(hub.mqtt_port, "kept", clean=False)
    kept.close()
    while json.loads(live.receive().payload)["online"] is not False:
        pass  # its session is kept, its connection gone
    request = urllib.request.Request(f"{hub.url}/metrics", headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    assert "picloud_mqtt_connections 1" in text and "picloud_mqtt_sessions 2" in text
    live.close()
