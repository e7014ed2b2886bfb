"""The MQTT scenarios: the hub's MQTT front end against Debian's Mosquitto,
both loaded by mqttbench with the same flags (64-byte payloads), over TCP,
and the QoS 0 fan-out and fan-in again over websockets (the hub's /mqtt,
Mosquitto's websocket listener) and over TLS (both with one self-signed
certificate), with the same targets; and the memory an idle MQTT
connection costs beside an idle websocket subscriber.

Mosquitto runs with the hub's default limits (bench/mosquitto.py), and at
QoS 1 drops messages for one subscriber of 50 publishers with 20 in flight
each, and with 10 in 2 of 5 rounds (mqttbench's README says the same): the
fan-in at QoS 1 runs with a window of 5, where neither broker loses any.
"""

from __future__ import annotations

from typing import Callable, Optional

from . import clients
from .connecting import CONNECT_TARGET, mqtt_connections
from .context import Context, Measure, Scenario, at_least, at_most, clean, picloud_of
from .procs import MOSQUITTO, PICLOUD_WS, TCP, TLS, WS, Server, rss_growth
from .report import Measurement, Row


def mqtt_load(
    subs: int, pubs: int, n: int, window: int, qos: int = 0, quick_subs: int | None = None,
) -> Measure:
    def measure(ctx: Context, server: Server) -> Measurement:
        return ctx.mqtt_load(server, subs=ctx.scale(subs, quick_subs or subs), pubs=pubs,
                             n=ctx.scale(n, max(1, n // 10)), window=window, qos=qos)
    return measure


def idle_connections(ctx: Context, server: Server) -> Measurement:
    """Resident memory per idle connection, as the idle scenario measures it:
    MQTT connections (keepalive 60), each subscribed to a topic of its own;
    on picloud-ws, websocket subscribers each of an event of its own."""
    count = ctx.scale(5000, 200)
    if server.name == PICLOUD_WS:
        kib = rss_growth(server.pid, lambda n: clients.idle_subscribers(server.port, ctx.key, n, own=True), count)
        what = "websocket subscribers, each of an event of its own"
    else:
        kib = rss_growth(server.pid, lambda n: clients.idle_mqtt(server.mqtt_port, ctx.key, n), count)
        what = "MQTT connections, each subscribed to a topic of its own"
    return Measurement(kib_per_conn=kib, subs=count, notes=[f"{count} {what}"])


def _no_more_than_websocket(row: Row) -> bool:
    websocket = row.results.get(PICLOUD_WS)
    return websocket is not None and at_most(picloud_of(row).kib_per_conn, websocket.kib_per_conn or 0)


def _mqtt(
    name: str, title: str, measure: Measure, target: str = "", meets: Optional[Callable[[Row], bool]] = None,
    transport: str = TCP,
) -> Scenario:
    return Scenario(name, title, measure, "deliveries_per_s", target, meets, needs_pcbench=False,
                    references=(MOSQUITTO,), mqtt=True, needs_mqttbench=True, transport=transport)


def _fanout_met(row: Row) -> bool:
    return at_least(row.ratio, 1.5) and at_most(row.cpu_ratio, 0.5) and clean(picloud_of(row))


def _fanin_met(row: Row) -> bool:
    return at_least(row.ratio, 0.5) and clean(picloud_of(row))


FANOUT_TARGET, FANIN_TARGET = ">=1.5x rate, <=0.5x CPU", ">=0.5x rate"


def _qos0(transport: str, label: str) -> list[Scenario]:
    """The QoS 0 fan-out and fan-in, with their targets, over ``transport``."""
    prefix = "mqtt" if transport == TCP else f"mqtt-{transport}"
    return [
        _mqtt(f"{prefix}-fanout-qos0", f"{label} fan-out 1->100, QoS 0, window 50", mqtt_load(100, 1, 2000, 50),
              FANOUT_TARGET, _fanout_met, transport),
        _mqtt(f"{prefix}-fanin-qos0", f"{label} fan-in 50->1, QoS 0, window 20", mqtt_load(1, 50, 400, 20),
              FANIN_TARGET, _fanin_met, transport),
    ]


TCP_FANOUT, TCP_FANIN = _qos0(TCP, "MQTT")

MQTT_SCENARIOS: list[Scenario] = [
    TCP_FANOUT,
    _mqtt("mqtt-fanout-qos1", "MQTT fan-out 1->100, QoS 1, window 20", mqtt_load(100, 1, 1000, 20, qos=1)),
    TCP_FANIN,
    _mqtt("mqtt-fanin-qos1", "MQTT fan-in 50->1, QoS 1, window 5", mqtt_load(1, 50, 200, 5, qos=1)),
    _mqtt("mqtt-connections", "MQTT 1->2000 connections, window 5",
          mqtt_load(2000, 1, 20, 5, quick_subs=200)),
    Scenario(
        "mqtt-connect", "MQTT connect, subscribe, 1 message, disconnect", mqtt_connections, "cpu_ms_per_conn",
        CONNECT_TARGET, needs_pcbench=False, references=(MOSQUITTO,), mqtt=True,
    ),
    *_qos0(WS, "MQTT/ws"),
    *_qos0(TLS, "MQTT/TLS"),
    Scenario(
        "mqtt-idle", "idle MQTT connections", idle_connections, "kib_per_conn", "<= websocket's KiB/conn",
        _no_more_than_websocket, needs_pcbench=False, references=(MOSQUITTO, PICLOUD_WS), mqtt=True,
    ),
]
