"""One MQTT connection's writes (picloud/server/mqtt/connection.py), against
a real hub process: a new client's CONNACK, SUBACK and retained values go out
in one write, and a replay larger than the socket takes at once still
arrives whole and in order (test_limits.py: it is paced, not cut off)."""

from __future__ import annotations

import json
import socket
import urllib.request

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.rawmqtt import RawMqtt


def retain(hub, values: dict[str, object]) -> None:
    """Make the events' retained values, in one batch (one write to disk)."""
    body = json.dumps([{"event": event, "data": data, "retain": True} for event, data in values.items()]).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{hub.port}/publish?clientName=setter", data=body,
                                     headers={"X-API-Key": KEY}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 201


def test_connack_suback_and_the_retained_value_come_in_one_write(hub_process):
    hub = hub_process("--api-key", KEY)
    retain(hub, {"home/temp": 21.5})
    with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=5) as sock:
        sock.sendall(p.encode_connect(p.Connect(4, "one-write", True, 60, username="u", password=KEY.encode()))
                     + p.encode_subscribe(p.Subscribe(1, [("home/temp", 0)])))
        # One segment on the loopback: a single recv holds all three.
        data = sock.recv(65536)
    assert data[:4] == p.encode_connack(False, p.ACCEPTED)
    assert data[4:9] == p.encode_suback(1, [0])
    publish = data[9:]
    assert publish[0] == (p.PUBLISH << 4) | 1 and publish.endswith(b"21.5")  # RETAIN set


def test_a_replay_bigger_than_one_send_arrives_whole_and_in_order(hub_process):
    hub = hub_process("--api-key", KEY, "--store-interval", "0.05")
    values = {f"big/{i}": f"{i % 10}" * 50_000 for i in range(40)}  # 2 MB: more than one send takes
    events = list(values)
    for start in range(0, len(events), 4):  # a batch within --max-message-bytes
        retain(hub, {event: values[event] for event in events[start:start + 4]})
    # A small window: the hub's first send cannot take it all.
    raw = RawMqtt(hub.mqtt_port, None, rcvbuf=4096)
    raw.send(p.encode_connect(p.Connect(4, "big", True, 60, username="u", password=KEY.encode()))
             + p.encode_subscribe(p.Subscribe(1, [("big/#", 0)])))
    assert raw._exactly(9) == p.encode_connack(False, p.ACCEPTED) + p.encode_suback(1, [0])
    topics = []
    for _ in values:
        packet = raw.read()
        assert packet.kind == p.PUBLISH
        size = int.from_bytes(packet.body[:2], "big")
        topics.append(packet.body[2:2 + size].decode())
        assert packet.body[2 + size:] == values[topics[-1]].encode()  # a string's payload is the string
    raw.sock.close()
    assert sorted(topics) == sorted(values)
