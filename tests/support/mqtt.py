"""A real MQTT client (paho-mqtt 2) for the tests, with what it receives in
a queue and the waits the tests need (no sleeping)."""

from __future__ import annotations

import queue
import threading
from typing import Any

import paho.mqtt.client as paho

from tests.support.hub import KEY

LEVELS = {3: paho.MQTTv31, 4: paho.MQTTv311}


class Peer:
    def __init__(self, port: int, client_id: str = "", *, key: str | None = KEY, username: str | None = "user",
                 level: int = 4, clean: bool = True, keepalive: int = 60, will: tuple | None = None,
                 connect: bool = True, ca_file: str | None = None, websocket: str | None = None,
                 source: str = "") -> None:
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=LEVELS[level], clean_session=clean,
                                  transport="websockets" if websocket is not None else "tcp")
        if websocket is not None:  # MQTT over WebSocket at this path (and query)
            self.client.ws_set_options(path=websocket)
        if ca_file is not None:  # MQTT over TLS, the hub's certificate checked against it
            self.client.tls_set(ca_certs=ca_file)
        if username is not None or key is not None:
            self.client.username_pw_set(username if username is not None else key,
                                        key if username is not None else None)
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain)
        self.messages: queue.Queue[paho.MQTTMessage] = queue.Queue()
        self.connacks: queue.Queue[Any] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_message = lambda c, u, message: self.messages.put(message)
        self.client.on_connect = lambda c, u, flags, code, props: self.connacks.put((flags, code))
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put([int(x.value) for x in codes])
        self.client.on_disconnect = lambda c, u, flags, code, props: self.disconnected.set()
        self.port = port
        self.keepalive = keepalive
        self.source = source  # the local address to connect from ("": any)
        if connect:
            self.start()

    def start(self) -> tuple[Any, Any]:
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive, bind_address=self.source)
        self.client.loop_start()
        return self.connack()

    def connack(self, timeout: float = 10) -> tuple[Any, Any]:
        return self.connacks.get(timeout=timeout)

    def subscribe(self, *filters: tuple[str, int]) -> list[int]:
        self.client.subscribe(list(filters))
        return self.subacks.get(timeout=10)

    def publish(self, topic: str, payload: bytes | str | None, qos: int = 0, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos, retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def receive(self, timeout: float = 10) -> paho.MQTTMessage:
        return self.messages.get(timeout=timeout)

    def nothing_more(self, barrier: tuple[Peer, str]) -> bool:
        """True if nothing but the barrier comes: a message ``publisher`` sends
        on ``topic`` (which this peer must be subscribed to) after the rest."""
        publisher, topic = barrier
        publisher.publish(topic, b"barrier", qos=1)
        return self.receive().topic == topic

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
