"""A redis-server of the test's own, and how tests reach the hub processes
sharing it (the ``redis_server`` and ``hubs`` fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import redis
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.testing import bind_unused_port
from tornado.websocket import websocket_connect

from tests.support.hub import KEY, read_json, send_json
from tests.support.process import HubProcess

PREFIX = "test"


class RedisServer:
    """A redis-server process of our own; ``restart`` reuses the port."""

    def __init__(self, directory: Path, password: str | None = None, tls: tuple[Path, Path] | None = None) -> None:
        sock, self.port = bind_unused_port()
        sock.close()
        self.directory = directory
        self.password = password
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        args = [
            shutil.which("redis-server") or "redis-server", "--port", str(self.port),
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.directory),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            cert, key = self.tls
            args += [
                "--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
                "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
            ]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:  # blocks until redis says it is ready
            if "Ready to accept connections" in line:
                return
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.tls[0]}"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        if self.tls:
            return redis.Redis(port=self.port, password=self.password, ssl=True, ssl_ca_certs=str(self.tls[0]))
        return redis.Redis(port=self.port, password=self.password)

    def pattern_count(self) -> int:
        with self.client() as client:
            return client.pubsub_numpat()

    def subscriber_count(self, event: str) -> int:
        with self.client() as client:
            return dict(client.pubsub_numsub(f"{PREFIX}:msg:{event}"))[f"{PREFIX}:msg:{event}".encode()]


def wait_until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll ``condition`` (state in another process, nothing to await)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def connect(hub: HubProcess, path: str, **params: str):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    url = f"{hub.ws_url}{path}{'?' + query if query else ''}"
    return await websocket_connect(HTTPRequest(url, headers={"X-API-Key": KEY}))


async def health(hub: HubProcess) -> dict:
    response = await AsyncHTTPClient().fetch(f"{hub.url}/healthz")
    return json.loads(response.body)


async def wait_health(hub: HubProcess, broker_state: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = await health(hub)
        if body["broker"] == broker_state:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"hub never reported broker {broker_state!r}")


async def next_data(conn) -> Any:
    message = await read_json(conn)
    assert message["action"] == "publish", message
    return message["data"]


def nodes_by_client(info: dict) -> dict[str, str]:
    return {c["client_name"]: c["node"] for c in info["all_connections"]}


async def get(hub, path: str) -> dict:
    response = await AsyncHTTPClient().fetch(f"{hub.url}{path}", headers={"X-API-Key": KEY})
    return json.loads(response.body)


async def publish_acked(pub, **frame) -> None:
    frame.setdefault("id", 1)
    await send_json(pub, frame)
    reply = await read_json(pub)
    assert reply == {"action": "ack", "id": frame["id"]}, reply


async def next_publish(conn) -> dict:
    message = await read_json(conn)
    assert message["action"] == "publish", message
    return message
