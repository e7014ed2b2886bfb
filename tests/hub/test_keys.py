"""Keys with roles: the keys file, what each role may do, rotation, and logs."""

from __future__ import annotations

import asyncio
import json
import logging
import signal

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.exceptions import ConfigError
from picloud.hub.keys import keys_from_config, parse_keys_file
from picloud.server.app import make_app
from picloud.server.rotation import reload_keys
from tests.support.hub import read_json, send_json, subscribed, ws_status
from tests.support.keys import KEYS
from tests.support.process import http_publish


def test_keys_file_with_comments_and_blank_lines():
    assert parse_keys_file(KEYS) == {"sub-key": "subscribe", "pub-key": "publish", "admin-key": "admin"}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a admin\nlonely\n", "line 2: expected 'KEY ROLE', got 1 fields"),
        ("# c\n\na b c\n", "line 3: expected 'KEY ROLE', got 3 fields"),
        ("a root\n", "line 1: unknown role 'root' (use admin, publish, subscribe)"),
        ("a admin\na publish\n", "line 2: key listed twice with different roles"),
    ],
)
def test_bad_keys_file_lines_are_named(text, error):
    with pytest.raises(ConfigError) as info:
        parse_keys_file(text, "keys file 'k'")
    assert str(info.value) == f"keys file 'k' {error}"


def test_api_key_file_holds_one_admin_key(tmp_path):
    path = tmp_path / "key"
    path.write_text("  the-key \n")
    config = Config(api_key_file=str(path), state_dir=tmp_path)
    assert keys_from_config(config) == {"the-key": "admin"}
    path.write_text("two keys\n")
    with pytest.raises(ConfigError, match="must hold exactly one key"):
        keys_from_config(config)
    with pytest.raises(ConfigError, match="cannot read api key file"):
        keys_from_config(Config(api_key_file=str(tmp_path / "missing"), state_dir=tmp_path))


@pytest.fixture
def keys_path(tmp_path):
    path = tmp_path / "keys"
    path.write_text(KEYS)
    return path


@pytest.fixture
def app(keys_path, tmp_path):
    return make_app(Config(keys_file=str(keys_path), state_dir=tmp_path, info_interval=0.2))


ALLOWED = {
    "sub-key": {"/subscribe", "/info"},
    "pub-key": {"/publish"},
    "admin-key": {"/subscribe", "/info", "/publish"},
}


@pytest.mark.gen_test
@pytest.mark.parametrize("key", sorted(ALLOWED))
async def test_each_role_reaches_exactly_its_routes(http_server, http_client, base_url, key):
    for path in ("/subscribe", "/publish", "/info"):
        expected = 101 if path in ALLOWED[key] else 403
        assert await ws_status(base_url, path, key) == expected, path
    response = await http_client.fetch(
        f"{base_url}/publish", method="POST", body=b'{"event": "t"}', raise_error=False,
        headers={"X-API-Key": key, "X-API-Client-Name": "c"},
    )
    assert response.code == (201 if "/publish" in ALLOWED[key] else 403)
    if response.code == 403:
        assert json.loads(response.body) == {"error": "this key may not publish"}
    # Reading routes follow subscribe rights, so a read-only dashboard key works.
    readers = 200 if "/subscribe" in ALLOWED[key] else 403
    for path in ("/retained", "/history?event=t", "/stats"):
        response = await http_client.fetch(f"{base_url}{path}", headers={"X-API-Key": key}, raise_error=False)
        assert response.code == readers, path
    metrics = await http_client.fetch(f"{base_url}/metrics", headers={"X-API-Key": key}, raise_error=False)
    assert metrics.code == (200 if key == "admin-key" else 403)


@pytest.mark.gen_test
async def test_refusal_order_is_401_403_400(http_server, http_client, base_url):
    def post(key, name):
        headers = {"X-API-Key": key} if key else {}
        if name:
            headers["X-API-Client-Name"] = name
        return http_client.fetch(f"{base_url}/publish", method="POST", body=b"garbage",
                                 headers=headers, raise_error=False)

    assert (await post(None, None)).code == 401
    assert (await post("Pub-key", None)).code == 401  # keys are case-sensitive
    assert (await post("sub-key", None)).code == 403  # role before client name
    assert (await post("pub-key", None)).code == 400
    assert (await post("pub-key", "c")).code == 400  # and only then the body


@pytest.mark.gen_test
async def test_keys_in_query_strings_never_reach_a_log(http_server, http_client, base_url, caplog):
    caplog.set_level(logging.DEBUG)
    ws_base = base_url.replace("http", "ws", 1)
    for key in ("sub-key", "wrong-secret-key"):
        with pytest.raises(HTTPClientError):
            await websocket_connect(f"{ws_base}/publish?apiKey={key}&clientName=c")
        await http_client.fetch(f"{base_url}/publish?apiKey={key}&clientName=c", method="POST",
                                body=b"{", raise_error=False)
    conn = await websocket_connect(f"{ws_base}/subscribe?apiKey=admin-key&clientName=c")
    await conn.write_message("not json")
    await conn.read_message()
    conn.close()
    assert "/publish" in caplog.text
    for key in ("sub-key", "wrong-secret-key", "admin-key"):
        assert key not in caplog.text


@pytest.mark.gen_test
async def test_reload_closes_only_revoked_connections(app, ws, keys_path, http_client, base_url):
    revoked = await ws("/subscribe", key="sub-key", clientName="old-dashboard")
    kept = await ws("/subscribe", key="admin-key", clientName="kitchen")
    await subscribed(revoked, "t")
    await subscribed(kept, "t")
    keys_path.write_text("admin-key admin\nnew-key publish\n")
    assert reload_keys(app.state) == 1
    assert await revoked.read_message() is None
    assert revoked.close_code == 1008
    pub = await ws("/publish", key="new-key", clientName="p")
    await send_json(pub, {"event": "t", "data": 1})
    assert (await read_json(kept))["data"] == 1
    assert await ws_status(base_url, "/subscribe", "sub-key") == 401


@pytest.mark.gen_test
async def test_a_bad_file_on_reload_keeps_the_old_keys(app, ws, keys_path, caplog):
    sub = await ws("/subscribe", key="sub-key", clientName="s")
    keys_path.write_text("sub-key superuser\n")
    assert reload_keys(app.state) == 0
    assert "keeping the old keys" in caplog.text and "line 1" in caplog.text
    await subscribed(sub, "t")  # still served


def test_sighup_rotates_keys_of_a_running_hub(hub_process, tmp_path):
    path = tmp_path / "keys"
    path.write_text("old-key admin\nstays subscribe\n")
    hub = hub_process("--keys-file", str(path))
    assert not any("api key" in line for line in hub.stdout_lines)  # nothing generated

    async def scenario():
        async def connect(key):
            conn = await websocket_connect(HTTPRequest(
                f"{hub.ws_url}/subscribe?clientName=c", headers={"X-API-Key": key}))
            await subscribed(conn, "t")
            return conn

        old, stays = await connect("old-key"), await connect("stays")
        path.write_text("new-key admin\nstays subscribe\n")
        hub.proc.send_signal(signal.SIGHUP)
        assert await old.read_message() is None
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, http_publish, hub, "new-key", {"event": "t", "data": 2}) == 201
        assert await loop.run_in_executor(None, http_publish, hub, "old-key", {"event": "t"}) == 401
        data = (await read_json(stays))["data"]
        stays.close()
        return old.close_code, data

    assert asyncio.run(scenario()) == (1008, 2)
    assert hub.stop() == 0
    assert "Traceback" not in hub.stderr


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


def test_every_key_is_compared_whatever_matches(monkeypatch):
    """Constant time: the work done does not depend on which key (if any) matched."""
    from picloud.hub import auth as auth_module

    calls = []
    real = auth_module.hmac.compare_digest

    def counting(a, b):
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", counting)
    authenticator = auth_module.Authenticator({f"key-{i}": "admin" for i in range(5)})
    for presented in ("key-0", "key-4", "nope", "KEY-0"):
        calls.clear()
        authenticator.role_of(presented)
        assert len(calls) == 5, presented


@pytest.mark.gen_test
async def test_refusals_do_not_tell_whether_an_event_exists(ws, http_client, base_url):
    sub = await ws("/subscribe", key="admin-key", clientName="s")
    await subscribed(sub, "exists")
    for key, status in ((None, 401), ("wrong", 401), ("sub-key", 403)):
        answers = set()
        for event in ("exists", "never-seen"):
            headers = {"X-API-Client-Name": "c", **({"X-API-Key": key} if key else {})}
            response = await http_client.fetch(
                f"{base_url}/publish", method="POST", body=json.dumps({"event": event}).encode(),
                headers=headers, raise_error=False,
            )
            answers.add((response.code, response.body, response.headers.get("Content-Length")))
        assert len(answers) == 1 and next(iter(answers))[0] == status
    await subscribed(sub)  # and nothing was delivered


def test_malformed_requests_do_not_log_their_keys(hub_process):
    import socket

    hub = hub_process("--api-key", "k", "--log-level", "debug")
    for request in (
        b"GET /subscribe?clientName=c HTTP/1.1\r\nHost: x\r\nX-API-Key: leaked-secret\x01\r\n\r\n",
        b"GET /info?apiKey=leaked-secret HTTP/1.1\r\nHost: x\r\nBad header\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
            sock.sendall(request)
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    hub.stop()
    assert "Malformed HTTP message" in hub.stderr
    assert "leaked-secret" not in hub.stderr
