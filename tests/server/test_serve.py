"""``picloud serve`` as a real process: start-up, keys, signals, errors."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import ssl
import subprocess
import sys
import time

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, websocket_connect

from picloud.stores.files import FILE_NAME
from tests.support.hub import KEY, read_json, send_json
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


def test_epoch_changes_after_restart(hub_process):
    epochs = []
    for _ in range(2):
        hub = hub_process("--api-key", KEY)
        epochs.append(asyncio.run(_subscribe_epoch(hub)))
        assert hub.stop() == 0
    assert epochs[0] != epochs[1]


async def _subscribe_epoch(hub):
    url = f"{hub.ws_url}/subscribe?clientName=c&protocol=2"
    request = HTTPRequest(url, headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": "t", "since": {"seq": 3, "epoch": "gone"}})
    frame = await read_json(conn)
    conn.close()
    assert frame["recovered"] is False
    return frame["epoch"]


async def _http_publish(hub, body):
    client = AsyncHTTPClient()
    return await client.fetch(
        f"{hub.url}/publish", method="POST", body=json.dumps(body),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "script"}, raise_error=False,
    )


async def _retained(hub, query=""):
    url = f"{hub.url}/retained{query}"
    response = await AsyncHTTPClient().fetch(url, headers={"X-API-Key": KEY})
    return json.loads(response.body)["retained"]


async def _first_frame(hub, event):
    request = HTTPRequest(f"{hub.ws_url}/subscribe?clientName=late", headers={"X-API-Key": KEY})
    conn = await websocket_connect(request)
    await send_json(conn, {"action": "subscribe", "event": event})
    frame = await read_json(conn)
    conn.close()
    return frame


def test_retained_survive_a_restart(hub_process, tmp_path):
    hub = hub_process("--api-key", KEY, "--retain-interval", "0.2")

    async def before():
        for event, data in [("t", 21.5), ("u", "x")]:
            response = await _http_publish(hub, {"event": event, "data": data, "retain": True})
            assert response.code == 201  # answered once stored
        assert (hub.state_dir / FILE_NAME).exists()

    hub.state_dir = tmp_path / "state"
    asyncio.run(before())
    assert hub.stop(signal.SIGKILL) == -signal.SIGKILL  # no shutdown flush to rely on
    hub = hub_process("--api-key", KEY)
    frame = asyncio.run(_first_frame(hub, "t"))
    assert (frame["event"], frame["data"], frame["retained"]) == ("t", 21.5, True)
    assert [m["event"] for m in asyncio.run(_retained(hub)) if not m["event"].startswith("$")] == ["t", "u"]


def test_shutdown_flushes_pending_retained_writes(hub_process):
    hub = hub_process("--api-key", KEY, "--retain-interval", "30")

    async def publish():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        for i in range(3):
            await send_json(conn, {"event": "t", "data": i, "retain": True})
        await send_json(conn, {"event": "barrier", "data": 0, "id": 1})
        assert await read_json(conn) == {"action": "ack", "id": 1}
        conn.close()

    asyncio.run(publish())
    assert hub.stop() == 0
    hub = hub_process("--api-key", KEY)
    assert asyncio.run(_first_frame(hub, "t"))["data"] == 2


def test_sigkill_during_a_burst_never_corrupts(hub_process, tmp_path):
    state = tmp_path / "state"
    hub = hub_process("--api-key", KEY, "--retain-interval", "0")

    async def burst():
        request = HTTPRequest(f"{hub.ws_url}/publish?clientName=sensor", headers={"X-API-Key": KEY})
        conn = await websocket_connect(request)
        await send_json(conn, {"event": "t", "data": -1, "retain": True, "id": "first"})
        assert await read_json(conn) == {"action": "ack", "id": "first"}  # one value is on disk
        deadline = time.monotonic() + 0.5
        i = 0
        killed = False
        while time.monotonic() < deadline:
            await send_json(conn, {"event": "t", "data": i, "retain": True, "filler": "x" * 2000})
            i += 1
            if i == 200:
                hub.proc.send_signal(signal.SIGKILL)  # while values are still streaming in
                killed = True
            await asyncio.sleep(0)
        if not killed:  # a slow machine: kill it in the middle of the burst all the same
            hub.proc.send_signal(signal.SIGKILL)
        return i

    try:
        asyncio.run(burst())
    except (StreamClosedError, WebSocketClosedError):  # the socket dies with the hub
        pass
    finally:
        if hub.proc.poll() is None:
            hub.proc.send_signal(signal.SIGKILL)
    assert hub.proc.wait(timeout=10) == -signal.SIGKILL
    doc = json.loads((state / FILE_NAME).read_text())  # whole, never half-written
    values = [m["data"] for m in doc["retained"] if m["event"] == "t"]
    assert len(values) == 1 and values[0] >= -1
    hub = hub_process("--api-key", KEY)
    assert "unreadable" not in hub.stderr
    assert asyncio.run(_first_frame(hub, "t"))["data"] == values[0]


def test_api_key_file_and_bad_keys_file_at_start(hub_process, tmp_path):
    key_file = tmp_path / "api_key"
    key_file.write_text("from-file\n")
    hub = hub_process("--api-key-file", str(key_file))
    assert http_publish(hub, "from-file", {"event": "t"}) == 201
    hub.stop()
    bad = tmp_path / "keys"
    bad.write_text("ok admin\nbroken\n")
    with pytest.raises(RuntimeError) as info:
        hub_process(env={"PICLOUD_KEYS_FILE": str(bad)})
    assert f"Error: keys file {str(bad)!r} line 2: expected 'KEY ROLE'" in str(info.value)


def test_keys_file_without_keys_is_one_clear_line(hub_process, tmp_path):
    empty = tmp_path / "keys"
    empty.write_text("# nobody yet\n\n")
    with pytest.raises(RuntimeError) as info:
        hub_process("--keys-file", str(empty))
    assert "Error: no api key: the keys file names none" in str(info.value)
    assert "Traceback" not in str(info.value)
