"""Event names between the two protocols (docs/mqtt.rst's names table),
each row both ways: PiCloud names no MQTT topic can hold, and MQTT topics
the hub cannot hold."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY, read_json, subscribed
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.rawmqtt import RawMqtt


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY)


@pytest.mark.gen_test(timeout=30)
async def test_picloud_names_with_plus_or_hash_stay_on_the_picloud_side(hub):
    """``c#`` and ``a+b`` are PiCloud names, but a PUBLISH's topic must not
    hold ``+`` or ``#`` [MQTT-3.3.2-2]: MQTT subscribers never get them."""
    ws = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await subscribed(ws, "c#", "a+b")
    everything = Peer(hub.mqtt_port, "everything")
    assert everything.subscribe(("#", 1), ("+", 0)) == [1, 0]
    pub = await websocket_connect(HTTPRequest(f"{hub.ws_url}/publish?clientName=pub", headers={"X-API-Key": KEY}))
    for name in ("c#", "a+b"):
        await pub.write_message(json.dumps({"event": name, "data": 1, "retain": True}))
        assert (await read_json(ws))["event"] == name
    await pub.write_message(json.dumps({"event": "after", "data": 2}))
    assert everything.receive().topic == "after"  # and nothing before it
    late = Peer(hub.mqtt_port, "late")
    late.subscribe(("#", 0))  # the retained ones are left out too
    # An MQTT filter cannot name them: a '#' or '+' inside a level is no
    # filter [MQTT-4.7.1-2/3] (paho will not even send it).
    raw = RawMqtt(hub.mqtt_port, "raw")
    assert raw.subscribe(("c#", 0), ("a+b", 0)) == [p.SUBSCRIBE_FAILURE, p.SUBSCRIBE_FAILURE]
    late.publish("barrier", "b", qos=1)
    assert late.receive().topic == "barrier"
    assert metrics(hub)["picloud_mqtt_unnameable_total"] >= 3
    # And an MQTT client may not publish to such a topic: that connection is closed.
    raw.send(p.encode_publish(p.string("a+b"), b"1"))
    assert raw.closed_by_hub()
    for peer in (everything, late):
        peer.close()
    ws.close()
    pub.close()


@pytest.mark.gen_test(timeout=30)
async def test_mqtt_topics_over_the_hubs_name_limit_are_acknowledged_and_dropped(hub):
    ws = await websocket_connect(HTTPRequest(f"{hub.ws_url}/subscribe?clientName=tab", headers={"X-API-Key": KEY}))
    await subscribed(ws, "#")
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("#", 1))
    before = metrics(hub)['picloud_errors_total{kind="protocol"}']
    device = Peer(hub.mqtt_port, "device")
    device.publish("long/" + "x" * 300, "21.5", qos=1)  # acknowledged: wait_for_publish returns
    device.publish("short", "21.5", qos=1)
    assert watcher.receive().topic == "short"  # the long one reached nobody
    assert (await read_json(ws))["event"] == "short"
    assert metrics(hub)['picloud_errors_total{kind="protocol"}'] == before + 1
    # The other way, a PiCloud publisher is told at once.
    pub = await websocket_connect(HTTPRequest(f"{hub.ws_url}/publish?clientName=pub", headers={"X-API-Key": KEY}))
    await pub.write_message(json.dumps({"event": "x" * 300, "data": 1}))
    reply = await read_json(pub)
    assert reply["action"] == "error" and "longer than 256 bytes" in reply["error"], reply
    for peer in (watcher, device):
        peer.close()
    ws.close()
    pub.close()
