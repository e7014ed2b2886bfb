"""Shared fixtures: an in-process hub on a loopback port (pytest-tornado's
``http_server``) and a real ``picloud serve`` process for CLI, signal and
TLS tests."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.server.app import make_app

KEY = "test-key"
HERE = Path(__file__).parent


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(api_key=KEY, state_dir=tmp_path / "state", info_interval=0.2)


@pytest.fixture
def app(config: Config, io_loop):
    app = make_app(config)
    yield app
    # Let a pending write of retained values finish before the loop closes.
    io_loop.run_sync(app.state.pubsub.retained.close)


@pytest.fixture
def ws(http_server, base_url: str):
    """Open websockets to the test hub: ``await ws("/subscribe", clientName="a")``.

    The key goes in the X-API-Key header unless given as ``apiKey=`` or
    ``key=None``; extra headers via ``headers=``.
    """
    ws_base = base_url.replace("http", "ws", 1)
    opened = []

    async def connect(path: str, *, key: str | None = KEY, headers: dict | None = None, **params: Any):
        all_headers = dict(headers or {})
        if key is not None and "apiKey" not in params:
            all_headers["X-API-Key"] = key
        query = f"?{urlencode(params)}" if params else ""
        conn = await websocket_connect(HTTPRequest(f"{ws_base}{path}{query}", headers=all_headers))
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


async def send_json(conn, value: Any) -> None:
    await conn.write_message(json.dumps(value))


async def read_json(conn) -> Any:
    text = await conn.read_message()
    assert text is not None, "connection closed"
    return json.loads(text)


async def subscribed(conn, *events: str) -> None:
    """Subscribe and wait until the hub has processed it.

    Old-protocol clients get no confirmation, so a malformed frame sent after
    the subscriptions is used as a barrier: its error reply comes back only
    after everything before it was handled.
    """
    for event in events:
        await send_json(conn, {"action": "subscribe", "event": event})
    await conn.write_message("barrier")
    reply = await read_json(conn)
    assert reply["action"] == "error", reply


class HubProcess:
    """A real ``picloud serve`` process, started on a free port."""

    LISTENING = re.compile(r"listening on (\w+)://\S*:(\d+)")

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if k not in _HUB_ENV}
        full_env.update(env or {})
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
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)


_HUB_ENV = {"PORT", "API_KEY", "USE_TLS", "KEY_FILE", "CERT_FILE"}


@pytest.fixture
def hub_process(tmp_path: Path):
    """Start hubs as real processes: ``hub_process("--api-key", "k")``."""
    started: list[HubProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, state_dir: Path | None = None) -> HubProcess:
        state = ["--state-dir", str(state_dir or tmp_path / "state")]
        hub = HubProcess([*state, *args], env)
        started.append(hub)
        return hub

    yield start
    for hub in started:
        if hub.proc.poll() is None:
            hub.proc.kill()
            hub.proc.wait()


def make_certificate(directory: Path, name: str = "hub") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, made with openssl."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", f"/CN={name}",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))
