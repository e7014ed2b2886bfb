"""MQTT over WebSocket at /mqtt (picloud/server/mqtt/websocket.py): paho's
websocket transport at 3.1 and 3.1.1, the key in CONNECT or in the URL,
packets spanning and sharing frames, CONNECT within the handshake timeout,
text frames and origins refused."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import metrics
from tests.support.rawws import OP_BINARY, RawWS, encode_client_frame
from tests.support.redisserver import wait_until


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY, "--handshake-timeout", "1", "--allowed-origin", "https://home.example")


async def raw(hub, query: str = "", **headers: str):
    request = HTTPRequest(f"{hub.ws_url}/mqtt{query}", headers=headers)
    return await websocket_connect(request, subprotocols=["mqtt"])


@pytest.mark.parametrize("level", [3, 4])
def test_paho_over_websockets_meets_tcp_clients(hub, level):
    browser = Peer(hub.port, "tab", level=level, websocket="/mqtt")
    assert browser.subscribe(("cmnd/#", 1)) == [1]
    plug = Peer(hub.mqtt_port, "plug")
    plug.subscribe(("stat/#", 1))
    plug.publish("cmnd/plug/POWER", "ON", qos=1)
    got = browser.receive()
    assert (got.topic, got.payload, got.qos) == ("cmnd/plug/POWER", b"ON", 1)
    browser.publish("stat/plug/POWER", "ON", qos=1)
    assert plug.receive().payload == b"ON"
    for peer in (browser, plug):
        peer.close()


def test_the_key_in_the_url_instead_of_connect(hub):
    tab = Peer(hub.port, "tab", key=None, username=None, websocket=f"/mqtt?apiKey={KEY}")
    assert tab.subscribe(("t", 0)) == [0]
    tab.close()


@pytest.mark.gen_test(timeout=30)
async def test_a_wrong_key_in_the_url_is_refused_before_the_upgrade(hub):
    with pytest.raises(HTTPClientError) as refused:
        await raw(hub, "?apiKey=wrong-key-0123456789")
    assert refused.value.code == 401
    with pytest.raises(HTTPClientError) as foreign:
        await raw(hub, Origin="https://evil.example")
    assert foreign.value.code == 403


@pytest.mark.gen_test(timeout=30)
async def test_packets_may_span_and_share_frames(hub):
    ws = await raw(hub)
    assert ws.selected_subprotocol == "mqtt"
    connect = p.encode_connect(p.Connect(4, "split", True, 60, username="u", password=KEY.encode()))
    await ws.write_message(connect[:5], binary=True)  # half a CONNECT...
    await ws.write_message(connect[5:], binary=True)  # ...and the rest
    assert await ws.read_message() == p.encode_connack(False, p.ACCEPTED)
    await ws.write_message(p.encode_subscribe(p.Subscribe(1, [("t", 0)])) + bytes((p.PINGREQ << 4, 0)), binary=True)
    replies = b""
    while len(replies) < 5 + 2:
        replies += await ws.read_message()
    assert replies == p.encode_suback(1, [0]) + p.PINGRESP_BYTES
    await ws.write_message("text", binary=False)  # MQTT goes in binary frames only
    assert await ws.read_message() is None
    assert ws.close_code == 1000


@pytest.mark.gen_test(timeout=30)
async def test_no_connect_within_the_handshake_timeout_closes_it(hub):
    ws = await raw(hub)
    assert await ws.read_message() is None  # after --handshake-timeout (1 s), nothing sent


@pytest.mark.gen_test(timeout=30)
async def test_no_mqtt_means_no_mqtt_route(hub_process):
    hub = hub_process("--api-key", KEY, "--no-mqtt")
    with pytest.raises(HTTPClientError) as off:
        await raw(hub)
    assert off.value.code == 404


def test_keyless_sockets_count_as_pending_until_connect(hub_process):
    hub = hub_process("--api-key", KEY, "--max-pending-per-ip", "2", "--handshake-timeout", "5")
    # From an address of their own: /metrics, read from 127.0.0.1, is not held up by them.
    waiting = [RawWS(hub.port, "/mqtt", key=None, source="127.0.0.2") for _ in range(2)]
    assert [ws.status for ws in waiting] == [101, 101]
    wait_until(lambda: metrics(hub)["picloud_pending_connections"] == 2, "both counted as pending")
    third = RawWS(hub.port, "/mqtt", key=None, source="127.0.0.2")
    assert third.status == 0  # hung up on at accept, as any connection past the cap
    third.close()
    connect = p.encode_connect(p.Connect(4, "late", True, 60, username="u", password=KEY.encode()))
    waiting[0].send_frame(OP_BINARY, connect)
    assert waiting[0].recv_frame() == (OP_BINARY, p.encode_connack(False, p.ACCEPTED))
    wait_until(lambda: metrics(hub)["picloud_pending_connections"] == 1, "the one in settled")
    for ws in waiting:
        ws.close()


def test_partial_frames_before_connect_count_in_the_inbound_budget(hub_process):
    hub = hub_process("--api-key", KEY, "--max-total-inbound-bytes", "100000")
    first = RawWS(hub.port, "/mqtt", key=None)
    first.send(encode_client_frame(OP_BINARY, b"x" * 90_000, declared_length=200_000))
    wait_until(lambda: metrics(hub)["picloud_inbound_partial_bytes"] >= 90_000, "the first partial frame held")
    second = RawWS(hub.port, "/mqtt", key=None)
    second.send(encode_client_frame(OP_BINARY, b"y" * 20_000, declared_length=200_000))
    assert second.recv_until_close() == 1009  # over the hub's budget: that one goes
    first.close()


def test_a_forwarded_loopback_address_is_throttled_like_any_other(hub_process):
    """Behind --xheaders only the proxy's own connections are spared the
    wrong-key throttle: a client claiming X-Real-IP 127.0.0.1 is not."""
    hub = hub_process("--api-key", KEY, "--xheaders", "--auth-fail-limit", "3")
    for key, code in [("wrong-key-0123456789", p.BAD_CREDENTIALS)] * 3 + [(KEY, p.NOT_AUTHORIZED)]:
        ws = RawWS(hub.port, "/mqtt", key=None, headers={"X-Real-IP": "127.0.0.1"}, source="127.0.0.2")
        ws.send_frame(OP_BINARY, p.encode_connect(p.Connect(4, "x", True, 60, username="u", password=key.encode())))
        assert ws.recv_frame() == (OP_BINARY, p.encode_connack(False, code))
        ws.close()
