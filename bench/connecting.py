"""The connection scenarios: what it costs a server to take a device that
connects, authenticates, subscribes, receives one message and goes, over and
over, some at a time (a Wi-Fi drop makes every device of a house reconnect
at once).

``connect`` does it over a /subscribe websocket: the upgrade with the key,
a subscribe frame for an event that has a retained value, that value, a
close frame, the server's close and its end of the TCP connection.
``mqtt-connect`` does it over MQTT 3.1.1: CONNECT with the key as password
(clean session) and SUBSCRIBE at once, CONNACK, SUBACK and the retained
PUBLISH, DISCONNECT, the server's end of the connection. The retained value
is set before the clock starts: by ``POST /publish`` with ``"retain": true``
(what every revision of the hub takes, and the naive hub too), and for MQTT
by a retained PUBLISH at QoS 1 (what Mosquitto takes too).

The clients are asyncio coroutines in the runner's process, on raw streams
with frames made by hand: their CPU is not the server's. PARALLEL of them
run at once, each a device of its own: a device's name is used by one
connection at a time, and NAMES names come back again and again, as devices
that reconnect do (presence, $SYS/clients/NAME, changes with each).

The server's CPU, all its threads, is counted from the first connection
until STORE_OUT after the last has closed, so that the store's write of the
presence values the run changed counts too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from picloud.wire.mqtt.packets import (
    CONNACK,
    PUBACK,
    PUBLISH,
    SUBACK,
    Connect,
    Publish,
    Subscribe,
    encode,
    encode_connect,
    encode_subscribe,
)

from .clients import mask_frame
from .context import Context
from .procs import Server, machine_busy_seconds
from .report import Measurement

#: Issue 21: against what connecting cost the hub before it was made cheaper.
CONNECT_TARGET = "<=0.6x CPU/conn of 1b313a2 (--baseline)"
#: Connections at once, and the device names they take turns with.
PARALLEL, NAMES = 20, 200
#: The event (and MQTT topic) whose retained value each connection receives.
EVENT = "bench/connect"
#: Seconds after the last connection closed that the server's CPU still counts:
#: the store writes once a --store-interval (1 s by default).
STORE_OUT = 1.5
#: How long one connection may take, start to end.
TIMEOUT = 10.0
DISCONNECT = b"\xe0\x00"
CLOSE_NORMAL = mask_frame((1000).to_bytes(2, "big"), opcode=0x8)
SUBSCRIBE_FRAME = mask_frame(json.dumps({"action": "subscribe", "event": EVENT}).encode())

Cycle = Callable[[str], Awaitable[None]]


@dataclass
class Churn:
    """What a run of connections did: how many completed, in what time, what went wrong."""

    done: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    failed: int = 0


def retain_over_http(port: int, key: str, event: str = EVENT) -> None:
    """Make ``event``'s retained value; returns once the hub has kept it (201)."""
    body = json.dumps({"event": event, "data": {"temperature": 21.5}, "retain": True}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/publish?clientName=bench-retainer", data=body, method="POST",
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
        if answer.status != 201:
            raise ConnectionError(f"retained publish answered {answer.status}")


async def retain_over_mqtt(port: int, key: str, topic: str = EVENT) -> None:
    """A retained PUBLISH at QoS 1; returns once the broker has acknowledged it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        connect = Connect(level=4, client_id="bench-retainer", clean=True, keepalive=60, username="bench",
                          password=key.encode())
        writer.write(encode_connect(connect)
                     + encode(Publish(topic, b'{"temperature": 21.5}', qos=1, retain=True, packet_id=1)))
        kind, body = await read_packet(reader)
        if kind != CONNACK or body[1] != 0:
            raise ConnectionError(f"mqtt connect of the retainer refused: {body.hex()}")
        kind, _ = await read_packet(reader)
        if kind != PUBACK:
            raise ConnectionError(f"mqtt retained publish answered packet type {kind}, not PUBACK")
        writer.write(DISCONNECT)
        await reader.read()
    finally:
        writer.close()


def upgrade_request(port: int, key: str, name: str) -> bytes:
    nonce = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET /subscribe?clientName={name} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n"
        f"X-API-Key: {key}\r\n\r\n"
    ).encode()


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: its opcode and payload."""
    head = await reader.readexactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    return head[0] & 0x0F, await reader.readexactly(length)


def websocket_cycle(port: int, key: str) -> Cycle:
    async def cycle(name: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(upgrade_request(port, key, name))
            answer = await reader.readuntil(b"\r\n\r\n")
            status = answer.split(b"\r\n", 1)[0]
            if status.split(b" ")[1:2] != [b"101"]:
                raise ConnectionError(f"upgrade refused: {status.decode('latin-1')!r}")
            writer.write(SUBSCRIBE_FRAME)
            opcode, payload = await read_frame(reader)
            if opcode != 0x1 or EVENT.encode() not in payload:
                raise ConnectionError(f"expected the retained value, got opcode {opcode}: {payload[:80]!r}")
            writer.write(CLOSE_NORMAL)
            opcode, _ = await read_frame(reader)
            if opcode != 0x8:
                raise ConnectionError(f"expected the close frame, got opcode {opcode}")
            if await reader.read(1):
                raise ConnectionError("data after the close frame")
        finally:
            writer.close()
    return cycle


async def read_packet(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One MQTT packet: its type and the bytes after its fixed header."""
    first = (await reader.readexactly(1))[0]
    length, shift = 0, 0
    while True:
        byte = (await reader.readexactly(1))[0]
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return first >> 4, await reader.readexactly(length)


def mqtt_cycle(port: int, key: str) -> Cycle:
    subscribe = encode_subscribe(Subscribe(1, [(EVENT, 0)]))

    async def cycle(name: str) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            connect = Connect(level=4, client_id=name, clean=True, keepalive=60, username="bench",
                              password=key.encode())
            writer.write(encode_connect(connect) + subscribe)
            kind, body = await read_packet(reader)
            if kind != CONNACK or body[1] != 0:
                raise ConnectionError(f"mqtt connect refused: {body.hex()}")
            subacked = published = False
            while not (subacked and published):  # in either order
                kind, body = await read_packet(reader)
                if kind == SUBACK:
                    if body[2] & 0x80:
                        raise ConnectionError("mqtt subscribe refused")
                    subacked = True
                elif kind == PUBLISH:
                    published = True
                else:
                    raise ConnectionError(f"unexpected mqtt packet type {kind}")
            writer.write(DISCONNECT)
            if await reader.read(1):
                raise ConnectionError("data after DISCONNECT")
        finally:
            writer.close()
    return cycle


async def churn(cycle: Cycle, count: int, parallel: int = PARALLEL, names: int = NAMES) -> Churn:
    """``count`` connections, ``parallel`` at a time: worker w makes
    connections w, w + parallel, ..., named ``dev-(i % names)``; with
    ``names`` a multiple of ``parallel`` a name is only ever a worker's own."""
    result = Churn()

    async def worker(first: int) -> None:
        for i in range(first, count, parallel):
            try:
                await asyncio.wait_for(cycle(f"dev-{i % names}"), TIMEOUT)
                result.done += 1
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                result.failed += 1
                if len(result.errors) < 3:
                    result.errors.append(f"connection {i}: {type(exc).__name__}: {exc}")

    start = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(min(parallel, count))))
    result.seconds = time.monotonic() - start
    return result


def measure_churn(server: Server, cycle: Cycle, count: int) -> Measurement:
    """Run ``count`` connections against ``server`` and charge it its CPU per connection."""
    before = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), time.process_time())
    done = asyncio.run(churn(cycle, count))
    time.sleep(STORE_OUT)
    after = (time.monotonic(), machine_busy_seconds(), server.cpu_seconds(), time.process_time())
    wall, busy, cpu, own = (a - b for a, b in zip(after, before))
    m = Measurement(subs=count, lost=done.failed, errors=done.errors,
                    notes=[f"{count} connections, {PARALLEL} at a time; one message each, so deliveries/s "
                           "are connections/s"])
    if done.done:
        m.deliveries_per_s = done.done / done.seconds
        m.cpu_per_100k = cpu / done.done * 100_000
        m.cpu_ms_per_conn = cpu / done.done * 1000
    m.other_cores = max(0.0, busy - cpu - own) / wall if wall > 0 else None
    return m


def websocket_connections(ctx: Context, server: Server) -> Measurement:
    retain_over_http(server.port, ctx.key)
    return measure_churn(server, websocket_cycle(server.port, ctx.key), ctx.scale(2000, 200))


def mqtt_connections(ctx: Context, server: Server) -> Measurement:
    asyncio.run(retain_over_mqtt(server.mqtt_port, ctx.key))
    return measure_churn(server, mqtt_cycle(server.mqtt_port, ctx.key), ctx.scale(2000, 200))
