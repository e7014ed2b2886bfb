"""Fixtures for every folder of tests/: an in-process hub on a loopback port
(pytest-tornado's ``http_server`` serves ``app``, made from ``config``, which
``@pytest.mark.config(...)`` changes for a test), real ``picloud serve``
processes (``hub_process``, ``run_serve``), a keys file, certificates,
redis-server processes and hubs sharing them, and an environment without
the machine's settings. The helpers they are built on are in tests/support/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.config import SETTINGS, Config
from picloud.server.app import make_app
from tests.support.certs import make_certificate
from tests.support.hub import KEY
from tests.support.keys import KEYS
from tests.support.process import HubProcess
from tests.support.redisserver import PREFIX, RedisServer

#: CPython before 3.11.8 (Debian 12 and Raspberry Pi OS ship 3.11.2) can leave
#: its AST builder in a broken state when an AST construction fails deep in a
#: stack (gh-106905); every later ast.parse then raises SystemError, and
#: pytest, which parses test files to show the failing statement, stops with
#: INTERNALERROR in the middle of the run. Python's own traceback format
#: needs no such parse.
AST_DEPTH_BUG = (3, 11) <= sys.version_info < (3, 11, 8)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "config(**settings): settings of the in-process hub that differ for this test",
    )
    if AST_DEPTH_BUG and config.option.tbstyle == "auto":
        config.option.tbstyle = "native"


@pytest.fixture
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Config:
    """The in-process hub's settings; ``@pytest.mark.config(store_interval=0.05)``
    changes some for one test (or a class, or a module's ``pytestmark``)."""
    marker = request.node.get_closest_marker("config")
    changed = marker.kwargs if marker else {}
    return Config(**{"api_key": KEY, "state_dir": tmp_path / "state", "info_interval": 0.2, **changed})


@pytest.fixture
def keys_path(tmp_path: Path) -> Path:
    """A keys file with one key of each role (KEYS)."""
    path = tmp_path / "keys"
    path.write_text(KEYS)
    return path


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


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def redis_server(tmp_path: Path):
    servers: list[RedisServer] = []

    def start(password: str | None = None, tls: tuple[Path, Path] | None = None) -> RedisServer:
        server = RedisServer(tmp_path, password, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hubs(hub_process):
    """Start ``n`` hubs relaying through one Redis."""

    def start(server: RedisServer, n: int, *extra: str) -> list[HubProcess]:
        args = ("--api-key", KEY, "--info-interval", "0.2", "--broker-prefix", PREFIX, "--shutdown-drain", "0")
        return [hub_process(*args, "--broker", server.url, *extra) for _ in range(n)]

    return start


@pytest.fixture
def run_serve(tmp_path):
    """Run ``picloud serve`` to completion, with a state directory of the test's own."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "picloud", "serve", "--state-dir", str(tmp_path / "state"), *args],
            capture_output=True, text=True, timeout=20,
        )

    return run


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    """No setting from the machine's environment; the state directory under tmp_path."""
    for setting in SETTINGS:
        monkeypatch.delenv(setting.env, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
