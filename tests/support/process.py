"""A hub as a real ``picloud serve`` process (the ``hub_process`` fixture),
and what tests do to it from outside: publish over HTTP, wait for a client's
subscription to show in ``/info``, find a port nothing listens on."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from tornado.netutil import bind_sockets

from picloud.client import Client
from tests.support.hub import KEY


class HubProcess:
    """A real ``picloud serve`` process, started on a free port."""

    LISTENING = re.compile(r"listening on (\w+)://\S*:(\d+)")
    MQTT = re.compile(r"mqtt on port (\d+)")
    MQTT_TLS = re.compile(r"mqtt over tls on port (\d+)")

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in _HUB_ENV}
        full_env.update(env or {})
        if not {"--mqtt-port", "--no-mqtt"} & set(args) and "PICLOUD_MQTT_PORT" not in (env or {}):
            args = [*args, "--mqtt-port", "0"]  # never the machine's 1883
        tls = "--tls" in args or (env or {}).get("USE_TLS") or (env or {}).get("PICLOUD_TLS")
        if tls and not {"--mqtt-tls-port", "--no-mqtt"} & set(args):
            args = [*args, "--mqtt-tls-port", "0"]  # nor its 8883
        self.mqtt_port = self.mqtt_tls_port = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "picloud", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env,
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._stderr = threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines), daemon=True)
        self._stderr.start()
        self.port = 0
        self.scheme = "http"
        for line in self.proc.stdout:  # blocks until the hub says where it listens
            self.stdout_lines.append(line)
            mqtt = self.MQTT.search(line)
            if mqtt:
                self.mqtt_port = int(mqtt.group(1))
            mqtt_tls = self.MQTT_TLS.search(line)
            if mqtt_tls:
                self.mqtt_tls_port = int(mqtt_tls.group(1))
            match = self.LISTENING.search(line)
            if match:
                self.scheme, self.port = match.group(1), int(match.group(2))
                break
        else:
            self.proc.wait(timeout=10)
            self._stderr.join(timeout=5)
            raise RuntimeError(f"hub did not start: {''.join(self.stderr_lines)}")
        self._stdout = threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True)
        self._stdout.start()

    @staticmethod
    def _drain(stream, into: list[str]) -> None:
        for line in stream:
            into.append(line)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http", "ws", 1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._stderr.join(timeout=5)
        self._stdout.join(timeout=5)  # its last lines too
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


_HUB_ENV = {"PORT", "API_KEY", "USE_TLS", "KEY_FILE", "CERT_FILE"}


def http_publish(hub: HubProcess, key: str, body: dict, context: ssl.SSLContext | None = None) -> int:
    request = urllib.request.Request(
        f"{hub.url}/publish", data=json.dumps(body).encode(), method="POST",
        headers={"X-API-Key": key, "X-API-Client-Name": "cli-test"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def metrics(hub: HubProcess, key: str = KEY) -> dict[str, float]:
    """The hub's /metrics as numbers, by name (labelled series by their full name)."""
    request = urllib.request.Request(f"{hub.url}/metrics", headers={"X-API-Key": key})
    with urllib.request.urlopen(request, timeout=5) as response:
        lines = response.read().decode().splitlines()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line and line[0] != "#"}


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    sock = bind_sockets(0, "127.0.0.1")[0]
    port = sock.getsockname()[1]
    sock.close()
    return port


def wait_subscribed(client: Client, event: str, name: str, present: bool = True,
                    deadline: float = 10) -> None:
    """Poll the hub's info until ``name`` is (or is no longer) subscribed to ``event``.

    The old protocol confirms nothing, so the hub's own listing is what can be
    waited for.
    """
    end = time.monotonic() + deadline
    while True:
        snapshot = client.info()
        names = [c["client_name"] for s in snapshot["subscriptions"] if s["name"] == event
                 for c in s["connections"]]
        if (name in names) == present:
            return
        if time.monotonic() > end:
            raise AssertionError(f"{name!r} subscribed to {event!r}: {names}")
        time.sleep(0.05)
