"""The setups people run, end to end with real clients: Home Assistant's
discovery and availability, a Tasmota plug driven from a PiCloud websocket
client, and Zigbee2MQTT's large retained device list. Each test lists the
defaults of the firmware or program it reproduces."""

from __future__ import annotations

import json
import socket

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY, read_json, subscribed
from tests.support.mqtt import Peer


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY)


def vanishing(port: int, client_id: str, keepalive: int, will: tuple[str, bytes, int, bool]) -> socket.socket:
    """A device that will lose power: a raw connection with a will, closed without DISCONNECT."""
    topic, payload, qos, retain = will
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(p.encode_connect(p.Connect(4, client_id, True, keepalive, username="u", password=KEY.encode(),
                                            will_topic=topic, will_payload=payload, will_qos=qos,
                                            will_retain=retain)))
    assert sock.recv(4) == p.encode_connack(False, p.ACCEPTED)
    return sock


def exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "closed"
        data += chunk
    return data


def test_home_assistant_discovery_availability_and_birth(hub):
    """ESPHome's MQTT component: client id the node name, keepalive 15,
    clean session, will ``<node>/status`` ``offline`` retained, birth
    ``online`` retained, discovery configs retained under ``homeassistant/``
    and sent again when Home Assistant's birth message comes. Home
    Assistant: username and password, keepalive 60, clean session, birth and
    will on ``homeassistant/status`` (QoS 0, not retained)."""
    config = {"name": "Temperature", "state_topic": "livingroom/sensor/temperature/state",
              "availability_topic": "livingroom/status", "unit_of_measurement": "°C", "device_class": "temperature",
              "unique_id": "livingroom-temperature", "command_topic": "livingroom/switch/fan/command"}
    node = Peer(hub.mqtt_port, "livingroom", keepalive=15, will=("livingroom/status", b"offline", 1, True))
    node.publish("livingroom/status", "online", qos=1, retain=True)
    node.publish("homeassistant/sensor/livingroom/temperature/config", json.dumps(config), qos=1, retain=True)
    node.subscribe(("homeassistant/status", 0), ("livingroom/switch/fan/command", 0))
    node.publish("livingroom/sensor/temperature/state", "21.50", qos=0)

    ha = Peer(hub.mqtt_port, "", will=("homeassistant/status", b"offline", 0, False))  # an id of the hub's
    ha.subscribe(("homeassistant/#", 0), ("livingroom/#", 0))
    seen = {m.topic: m for m in (ha.receive(), ha.receive())}  # the retained ones, RETAIN set
    assert json.loads(seen["homeassistant/sensor/livingroom/temperature/config"].payload) == config
    assert (seen["livingroom/status"].payload, seen["livingroom/status"].retain) == (b"online", True)
    ha.publish("homeassistant/status", "online")  # birth: devices send their configs again
    assert node.receive().topic == "homeassistant/status"
    node.publish("homeassistant/sensor/livingroom/temperature/config", json.dumps(config), qos=1, retain=True)
    assert ha.receive().topic == "homeassistant/status"  # its own birth, under homeassistant/#
    again = ha.receive()
    assert again.topic.endswith("/config") and not again.retain  # live, not a replay [MQTT-3.3.1-9]
    ha.publish("livingroom/switch/fan/command", "ON")
    assert node.receive().payload == b"ON"
    node.client.disconnect()  # clean: no will
    node.client.loop_stop()
    ha.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_tasmota_plug_driven_from_a_picloud_client(hub):
    """Tasmota: client id ``DVES_<6 hex>``, keepalive 30, clean session, will
    ``tele/<topic>/LWT`` ``Offline`` retained QoS 1, ``Online`` retained once
    connected, commands on ``cmnd/<topic>/<command>`` (plain ``ON``, ``OFF``,
    ``TOGGLE``), answers on ``stat/<topic>/RESULT`` (JSON) and
    ``stat/<topic>/POWER`` (plain text), telemetry on ``tele/<topic>/STATE``."""
    plug = vanishing(hub.mqtt_port, "DVES_4A1B2C", 30, ("tele/tasmota_4A1B2C/LWT", b"Offline", 1, True))
    plug.sendall(p.encode_publish(p.string("tele/tasmota_4A1B2C/LWT"), b"Online", 1, retain=True, packet_id=1)
                 + p.encode_subscribe(p.Subscribe(2, [("cmnd/tasmota_4A1B2C/#", 0)])))
    assert exactly(plug, 4)[0] >> 4 == p.PUBACK
    assert exactly(plug, 5)[0] >> 4 == p.SUBACK

    tab = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab",
                                              headers={"X-API-Key": KEY}))
    await subscribed(tab, "stat/tasmota_4A1B2C/#")
    await tab.write_message(json.dumps({"action": "subscribe", "event": "tele/tasmota_4A1B2C/LWT"}))
    lwt = await read_json(tab)  # its retained value
    assert (lwt["data"], lwt.get("retained")) == ("Online", True)
    pub = await websocket_connect(HTTPRequest(f"{hub.ws_url}/publish?clientName=tab",
                                              headers={"X-API-Key": KEY}))
    await pub.write_message(json.dumps({"event": "cmnd/tasmota_4A1B2C/POWER", "data": "TOGGLE"}))
    command = p.encode_publish(p.string("cmnd/tasmota_4A1B2C/POWER"), b"TOGGLE")
    assert exactly(plug, len(command)) == command
    plug.sendall(p.encode_publish(p.string("stat/tasmota_4A1B2C/RESULT"), b'{"POWER":"ON"}')
                 + p.encode_publish(p.string("stat/tasmota_4A1B2C/POWER"), b"ON"))
    result, power = await read_json(tab), await read_json(tab)
    assert (result["data"], power["data"]) == ({"POWER": "ON"}, "ON")
    plug.close()  # the plug loses power: its will goes, retained
    will = await read_json(tab)
    assert (will["event"], will["data"]) == ("tele/tasmota_4A1B2C/LWT", "Offline")
    tab.close()
    pub.close()


@pytest.mark.gen_test(timeout=30)
async def test_zigbee2mqtt_device_list_and_states(hub):
    """Zigbee2MQTT (MQTT.js underneath): a random client id, keepalive 60,
    clean session, will ``zigbee2mqtt/bridge/state`` ``{"state":"offline"}``
    retained, a large retained ``zigbee2mqtt/bridge/devices`` (a JSON array),
    and per-device JSON state on ``zigbee2mqtt/<friendly name>``."""
    devices = [{"ieee_address": f"0x00158d00{n:08x}", "friendly_name": f"sensor_{n}", "type": "EndDevice",
                "definition": {"model": "MCCGQ11LM", "vendor": "Aqara", "description": "door sensor " + "x" * 300}}
               for n in range(300)]
    listing = json.dumps(devices, separators=(",", ":")).encode()
    assert len(listing) > 100_000
    bridge = Peer(hub.mqtt_port, "", will=("zigbee2mqtt/bridge/state", b'{"state":"offline"}', 1, True))
    bridge.publish("zigbee2mqtt/bridge/state", b'{"state":"online"}', qos=1, retain=True)
    bridge.publish("zigbee2mqtt/bridge/devices", listing, qos=1, retain=True)
    late = Peer(hub.mqtt_port, "ha")
    late.subscribe(("zigbee2mqtt/bridge/devices", 0))
    assert late.receive().payload == listing  # byte for byte, MQTT to MQTT
    tab = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await tab.write_message(json.dumps({"action": "subscribe", "event": "zigbee2mqtt/#"}))
    got = {}  # the retained values first
    while len(got) < 2:
        frame = await read_json(tab)
        got[frame["event"]] = frame["data"]
    assert got == {"zigbee2mqtt/bridge/state": {"state": "online"}, "zigbee2mqtt/bridge/devices": devices}
    bridge.publish("zigbee2mqtt/sensor_7", b'{"contact":false,"battery":97,"linkquality":120}', qos=0)
    state = await read_json(tab)
    assert (state["event"], state["data"]) == ("zigbee2mqtt/sensor_7", {"contact": False, "battery": 97,
                                                                          "linkquality": 120})
    for peer in (bridge, late):
        peer.close()
    tab.close()
