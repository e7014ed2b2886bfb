"""``picloud serve`` as a real process: start-up, keys, signals, errors."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
import subprocess
import sys

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.process import HubProcess, http_publish


def generated_key(hub: HubProcess) -> str:
    line = next(line for line in hub.stdout_lines if "api key" in line)
    return line.split("api key ")[1].split()[0]


def test_serve_without_configuration_generates_a_key_and_reuses_it(hub_process, tmp_path):
    hub = hub_process()
    key = generated_key(hub)
    assert (tmp_path / "state" / "api_key").read_text().strip() == key
    assert http_publish(hub, key, {"event": "t", "data": 1}) == 201
    assert http_publish(hub, "wrong", {"event": "t"}) == 401
    assert hub.stop() == 0

    again = hub_process()
    assert generated_key(again) == key
    assert http_publish(again, key, {"event": "t"}) == 201


def test_api_key_from_environment(hub_process):
    hub = hub_process(env={"API_KEY": "from-env"})
    assert not any("api key" in line for line in hub.stdout_lines)
    assert http_publish(hub, "from-env", {"event": "t"}) == 201


def test_no_auth_is_explicit_and_logged(hub_process):
    hub = hub_process("--no-auth")
    assert http_publish(hub, "anything", {"event": "t"}) == 201
    hub.stop()
    assert "authentication is off" in hub.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_with_1001_and_exits_0(hub_process, sig):
    hub = hub_process("--api-key", "k")

    async def scenario():
        request = HTTPRequest(f"{hub.ws_url}/subscribe?clientName=s", headers={"X-API-Key": "k"})
        conn = await websocket_connect(request)
        await conn.write_message(json.dumps({"action": "subscribe", "event": "t"}))
        await conn.write_message("barrier")
        assert json.loads(await conn.read_message())["action"] == "error"
        hub.proc.send_signal(sig)
        assert await conn.read_message() is None
        return conn.close_code

    assert asyncio.run(scenario()) == 1001
    assert hub.proc.wait(timeout=5) == 0


def test_listening_line_names_the_real_port(hub_process):
    hub = hub_process("--api-key", "k", "--host", "127.0.0.1")
    assert hub.port > 0
    assert any(f"http://127.0.0.1:{hub.port}" in line for line in hub.stdout_lines)


@pytest.fixture
def run_serve(tmp_path):
    """Run ``picloud serve`` to completion, with a state directory of the test's own."""

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "picloud", "serve", "--state-dir", str(tmp_path / "state"), *args],
            capture_output=True, text=True, timeout=20,
        )

    return run


def test_port_in_use_is_one_clear_line(run_serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--host", "127.0.0.1", "--port", str(port), "--api-key", "k")
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: port {port} is already in use"


def test_tls_without_files_is_one_clear_line(run_serve):
    result = run_serve("--tls", "--api-key", "k", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: tls is on but CERT_FILE and KEY_FILE are not both set"
    assert "Traceback" not in result.stderr


def test_unreadable_certificate_is_one_clear_line(run_serve, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = run_serve("--tls", "--cert-file", str(bad), "--key-file", str(bad), "--api-key", "k", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot load tls certificate")
    assert len(result.stderr.strip().splitlines()) == 1
    missing = run_serve("--tls", "--cert-file", str(tmp_path / "nope.crt"), "--key-file", str(bad),
                        "--api-key", "k", "--port", "0")
    assert missing.stderr.strip() == f"Error: tls file not found: {str(tmp_path / 'nope.crt')!r}"


def test_python_dash_m_matches_the_console_script():
    module = subprocess.run([sys.executable, "-m", "picloud", "--help"], capture_output=True, text=True)
    assert module.returncode == 0
    assert "serve" in module.stdout and "Usage: picloud" in module.stdout


def test_tls_from_seed_environment_serves_https_and_wss(hub_process, tls_files):
    cert, key = tls_files
    hub = hub_process(
        "--api-key", "k", env={"USE_TLS": "yes", "CERT_FILE": str(cert), "KEY_FILE": str(key)}
    )
    assert hub.scheme == "https"
    context = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        sub = await websocket_connect(HTTPRequest(
            f"wss://127.0.0.1:{hub.port}/subscribe?clientName=s",
            headers={"X-API-Key": "k"}, ssl_options=context,
        ))
        await sub.write_message(json.dumps({"action": "subscribe", "event": "t"}))
        await sub.write_message("barrier")
        await sub.read_message()
        status = await asyncio.get_running_loop().run_in_executor(
            None, http_publish, hub, "k", {"event": "t", "data": "over tls"}, context
        )
        return status, json.loads(await sub.read_message())

    status, message = asyncio.run(scenario())
    assert status == 201
    assert message["data"] == "over tls"


def test_state_dir_under_a_file_is_one_clear_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "picloud", "serve", "--port", "0", "--api-key", "k",
         "--state-dir", str(blocker / "state")],
        capture_output=True, text=True, timeout=20,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: cannot read retained values from")
    assert "Traceback" not in result.stderr
