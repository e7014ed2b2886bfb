"""A real Mosquitto bridged into the hub, as a Pi that keeps its Mosquitto
would do it: Mosquitto's ``connection`` block with the hub's key as
``remote_password`` and ``try_private`` on (its default), so the CONNECT
says protocol level 0x84, 3.1.1 with the bridge bit. paho clients on both
brokers and PiCloud-protocol clients on the hub; and what a refused filter
gets at MQTT 3.1. Every wait is for a message or a log line, never a sleep:
a retained probe on the hub that reaches Mosquitto shows the bridge is up
and subscribed."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY, read_json, send_json, subscribed
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Peer
from tests.support.process import HubProcess, http_publish

BRIDGE_ID = "mosq-bridge"


def bridge_config(hub: HubProcess, key: str) -> str:
    """sensors/ goes out to the hub, cmnd/ comes in from it, shared/ both
    ways; bridge/ last: Mosquitto subscribes on the hub in this order, so once
    bridge/ready (retained on the hub) reaches Mosquitto the rest are made."""
    return (f"connection picloud\naddress 127.0.0.1:{hub.mqtt_port}\nremote_clientid {BRIDGE_ID}\n"
            f"remote_username bridge\nremote_password {key}\n"
            "topic sensors/# out 1\ntopic cmnd/# in 1\ntopic shared/# both 1\ntopic bridge/# in 1\n")


@pytest.fixture
def hub(hub_process):
    # A retained POST /publish is answered once on disk: soon, here.
    return hub_process("--api-key", KEY, "--store-interval", "0.05")


@pytest.fixture
def mosquitto(tmp_path):
    started: list[Mosquitto] = []

    def start(config: str) -> Mosquitto:
        broker = Mosquitto(tmp_path, config)
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def bridged(hub, mosquitto) -> Mosquitto:
    """A Mosquitto whose bridge into ``hub`` is connected and subscribed."""
    probe = Peer(hub.mqtt_port, "probe")
    probe.publish("bridge/ready", b"up", qos=1, retain=True)
    probe.close()
    broker = mosquitto(bridge_config(hub, KEY))
    ready = local_peer(broker, "ready")
    ready.subscribe(("bridge/ready", 1))
    assert ready.receive().payload == b"up"  # live from the bridge, or as retained by Mosquitto
    ready.close()
    return broker


def local_peer(broker: Mosquitto, client_id: str) -> Peer:
    """A paho client of Mosquitto's (anonymous: Mosquitto checks no key here)."""
    return Peer(broker.port, client_id, key=None, username=None)


def metrics(hub: HubProcess) -> str:
    request = urllib.request.Request(f"{hub.url}/metrics", headers={"X-API-Key": KEY})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read().decode()


@pytest.mark.gen_test(timeout=30)
async def test_messages_cross_the_bridge_both_ways_at_qos_1(hub, bridged):
    """QoS 1 on each hop: each receiver answers PUBACK [MQTT-4.3.2-2], and a
    message is delivered at the lower of its QoS and the granted one
    [MQTT-3.8.4-6]; a PiCloud-protocol publish counts as QoS 0."""
    ha = Peer(hub.mqtt_port, "ha")
    assert ha.subscribe(("sensors/#", 1), ("shared/#", 1), (f"$SYS/clients/{BRIDGE_ID}", 0)) == [1, 1, 0]
    presence = ha.receive()
    assert presence.topic == f"$SYS/clients/{BRIDGE_ID}" and json.loads(presence.payload)["online"] is True
    tab = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await subscribed(tab, "sensors/#")
    plug = local_peer(bridged, "plug")
    assert plug.subscribe(("cmnd/#", 1), ("shared/#", 1)) == [1, 1]

    plug.publish("sensors/soil", b"21.50", qos=1)  # Mosquitto -> the hub
    got = ha.receive()
    assert (got.topic, got.payload, got.qos, got.retain) == ("sensors/soil", b"21.50", 1, False)
    frame = await read_json(tab)
    assert (frame["event"], frame["data"]) == ("sensors/soil", 21.5)

    ha.publish("cmnd/plug/POWER", b"ON", qos=1)  # the hub -> Mosquitto
    got = plug.receive()
    assert (got.topic, got.payload, got.qos) == ("cmnd/plug/POWER", b"ON", 1)
    assert http_publish(hub, KEY, {"event": "cmnd/plug/POWER", "data": "OFF"}) == 201
    got = plug.receive()
    assert (got.payload, got.qos) == (b"OFF", 0)
    dashboard = await websocket_connect(HTTPRequest(f"{hub.ws_url}/publish?clientName=dash",
                                                    headers={"X-API-Key": KEY}))
    await dashboard.write_message(json.dumps({"event": "cmnd/plug/POWER", "data": {"POWER": "TOGGLE"}}))
    assert plug.receive().payload == b'{"POWER":"TOGGLE"}'

    # Both ways: each side hears a message once. Were the hub to send the
    # bridge its own publish back, Mosquitto would hand it to plug a second
    # time, between plug's own copy and what the hub published after it.
    plug.publish("shared/note", b"from mosquitto", qos=1)
    assert ha.receive().payload == b"from mosquitto"
    assert plug.receive().payload == b"from mosquitto"  # Mosquitto's own delivery
    ha.publish("shared/note", b"from the hub", qos=1)
    assert plug.receive().payload == b"from the hub"
    assert ha.receive().payload == b"from the hub"  # ha's own, from the hub
    assert plug.nothing_more((ha, "cmnd/done"))  # through the bridge, after anything it still held
    assert ha.nothing_more((ha, "sensors/done"))
    for peer in (ha, plug):
        peer.close()
    tab.close()
    dashboard.close()
    hub.stop()
    # Mosquitto's own notice of the bridge's state is not a client's to publish.
    assert hub.stderr.count(f"publish dropped: cannot publish to '$SYS/broker/connection/{BRIDGE_ID}/state'") == 1


@pytest.mark.gen_test(timeout=30)
async def test_retained_values_cross_the_bridge_both_ways(hub, bridged):
    """A retained value reaches a late subscriber on the other broker with
    RETAIN set [MQTT-3.3.1-8], live subscribers without it [MQTT-3.3.1-9],
    and an empty retained payload clears it there too [MQTT-3.3.1-10]."""
    ha = Peer(hub.mqtt_port, "ha")
    ha.subscribe(("sensors/#", 1))
    plug = local_peer(bridged, "plug")
    plug.subscribe(("cmnd/#", 1))

    plug.publish("sensors/plug/state", b"ON", qos=1, retain=True)  # Mosquitto -> the hub
    got = ha.receive()
    assert (got.payload, got.retain) == (b"ON", False)
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("sensors/plug/state", 1))
    got = late.receive()
    assert (got.payload, got.retain) == (b"ON", True)
    tab = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await send_json(tab, {"action": "subscribe", "event": "sensors/plug/state"})
    frame = await read_json(tab)  # the retained value first
    assert (frame["data"], frame["retained"]) == ("ON", True)

    # The hub -> Mosquitto, published while the bridge is connected: kept as
    # retained on Mosquitto too (the bridge bit asks for retain as published).
    ha.publish("cmnd/light", b"ON", qos=1, retain=True)
    assert plug.receive().payload == b"ON"
    assert http_publish(hub, KEY, {"event": "cmnd/fan", "data": "LOW", "retain": True}) == 201
    assert plug.receive().payload == b"LOW"
    ha.publish("cmnd/heater", b"1", qos=1, retain=True)
    assert plug.receive().payload == b"1"
    ha.publish("cmnd/heater", b"", qos=1, retain=True)  # cleared on both brokers
    assert plug.receive().payload == b""
    newcomer = local_peer(bridged, "newcomer")
    newcomer.subscribe(("cmnd/#", 1), ("bridge/done", 1))
    ha.publish("bridge/done", b"done", qos=1)  # after Mosquitto's retained values for newcomer
    values: dict[str, bytes] = {}
    while (got := newcomer.receive()).topic != "bridge/done":
        assert got.retain, got.topic
        values[got.topic] = got.payload
    assert values == {"cmnd/light": b"ON", "cmnd/fan": b"LOW"}
    for peer in (ha, plug, late, newcomer):
        peer.close()
    tab.close()


def test_a_bridge_with_a_wrong_key_is_refused(hub, mosquitto):
    """Return code 4 and the connection closed [MQTT-3.2.2-5]: no presence,
    nothing through, and the hub counts it as an auth error."""
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("sensors/#", 1), (f"$SYS/clients/{BRIDGE_ID}", 0))
    broker = mosquitto(bridge_config(hub, "wrong-key-0123456789"))
    # Mosquitto 2.0 logs return code 4 from a bridge's remote as "broker
    # unavailable" (its handle_connack): the code itself is tested in
    # test_broker.py, the count below says it was the key.
    broker.wait_for_log("Connection Refused: ")
    plug = local_peer(broker, "plug")
    plug.publish("sensors/soil", b"lost", qos=1)  # held by Mosquitto for a bridge that is not up
    # Once refused the bridge waits before trying again (restart_timeout, 5 s
    # and more), and it would be refused again: the barrier bounds the wait.
    assert watcher.nothing_more((watcher, "sensors/done"))
    text = metrics(hub)
    assert re.search(r'^picloud_errors_total\{kind="auth"\} [1-9]', text, re.M), text
    assert "picloud_mqtt_connections 1\n" in text, text  # the watcher only
    for peer in (watcher, plug):
        peer.close()
    hub.stop()
    assert f"connect mqtt '{BRIDGE_ID}'" not in hub.stderr


def test_a_refused_filter_at_mqtt_3_1_gets_0x80_and_nothing(hub_process, tmp_path):
    """docs/mqtt.rst: a filter outside the key's topics gets 0x80 in SUBACK,
    at 3.1 too. 3.1 has no failure code (its SUBACK holds granted QoS only);
    3.1.1 defines 0x80 [MQTT-3.9.3-2], one code per filter in their order
    [MQTT-3.8.4-5, MQTT-3.9.3-1]. The refused filter gets no messages,
    retained or live, and the connection stays."""
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nZr4p0Tf2Yq5Kx8Nn subscribe tasmota/#\n")
    hub = hub_process("--keys-file", str(keys))
    admin = Peer(hub.mqtt_port, "admin", level=3)
    admin.publish("secret/code", b"1234", qos=1, retain=True)
    reader = Peer(hub.mqtt_port, "reader", key="Zr4p0Tf2Yq5Kx8Nn", level=3)
    assert reader.subscribe(("tasmota/#", 1), ("secret/#", 1), ("#", 0)) == [
        1, p.SUBSCRIBE_FAILURE, p.SUBSCRIBE_FAILURE]
    admin.publish("secret/door", b"open", qos=1)
    admin.publish("tasmota/plug/POWER", b"ON", qos=1)
    got = reader.receive()
    assert (got.topic, got.payload) == ("tasmota/plug/POWER", b"ON")
    assert reader.nothing_more((admin, "tasmota/done"))
    assert not reader.disconnected.is_set()
    for peer in (admin, reader):
        peer.close()
