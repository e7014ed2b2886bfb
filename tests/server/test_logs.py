"""What the hub's logs say and leave out (picloud/server/logs.py): publishes
and dashboard polls at debug level, refusals as warnings, and never a key,
whether from a query string or a malformed request."""

from __future__ import annotations

import logging
import re
import socket

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.server.app import make_app
from picloud.wire.mqtt.packets import Connect, encode_connect
from tests.support.hub import KEY
from tests.support.rawws import OP_BINARY, RawWS


@pytest.mark.gen_test
async def test_publishes_are_logged_at_debug_level_and_refusals_as_warnings(http_client, base_url, caplog):
    caplog.set_level("DEBUG", logger="picloud.access")
    publish = f"{base_url}/publish"
    headers = {"X-API-Key": KEY, "X-API-Client-Name": "c"}
    await http_client.fetch(publish, method="POST", headers=headers, body=b'{"event":"t"}')  # fast path
    await http_client.fetch(  # PublishHTTP: a body sent in chunks
        publish, method="POST", headers=headers, body_producer=lambda write: write(b'{"event":"t"}')
    )
    await http_client.fetch(publish, method="POST", headers=headers, body=b"{", raise_error=False)
    levels = [(r.levelname, r.getMessage().split()[0]) for r in caplog.records if r.name == "picloud.access"]
    assert levels == [("DEBUG", "201"), ("DEBUG", "201"), ("WARNING", "400")]


@pytest.mark.gen_test
async def test_dashboard_polls_are_logged_at_debug_level(http_client, base_url, caplog):
    caplog.set_level("DEBUG", logger="picloud.access")
    for path in ("/stats", "/retained"):
        await http_client.fetch(f"{base_url}{path}", headers={"X-API-Key": KEY})
    await http_client.fetch(f"{base_url}/stats", raise_error=False)
    levels = [(r.levelname, r.getMessage().split()[2]) for r in caplog.records if r.name == "picloud.access"]
    assert levels == [("DEBUG", "/stats"), ("DEBUG", "/retained"), ("WARNING", "/stats")]


@pytest.mark.gen_test
async def test_access_log_never_contains_the_query_key(http_client, base_url, caplog):
    caplog.set_level("DEBUG", logger="picloud.access")
    for body in (b'{"event":"t"}', b"[1]"):  # the fast path and a refusal
        await http_client.fetch(
            f"{base_url}/publish?apiKey={KEY}&clientName=c", method="POST", body=body, raise_error=False
        )
    assert caplog.text.count("/publish") == 2
    assert KEY not in caplog.text


@pytest.mark.gen_test
@pytest.mark.parametrize("origin", [None, "http://example.com"], ids=["plain", "tornados-path"])
async def test_an_upgrade_logs_its_connect_line_and_its_101_only_at_debug(http_client, base_url, caplog, origin):
    """A plain upgrade (server/upgrade.py) and a browser's, which Tornado answers."""
    caplog.set_level("INFO")
    caplog.set_level("DEBUG", logger="picloud.access")
    headers = {"X-API-Key": KEY} | ({"Origin": origin} if origin else {})
    url = f"{base_url.replace('http', 'ws', 1)}/subscribe?clientName=logged"
    conn = await websocket_connect(HTTPRequest(url, headers=headers))
    conn.close()
    access = [(r.levelname, r.getMessage().split()[0]) for r in caplog.records if r.name == "picloud.access"]
    assert access == [("DEBUG", "101")]
    connects = [r.getMessage() for r in caplog.records if r.name == "picloud.handlers" and r.levelname == "INFO"]
    assert connects and connects[0].startswith("connect /subscribe 'logged' from 127.0.0.1:")


def test_an_mqtt_websockets_101_is_logged_at_debug_and_its_connect_line_at_info(hub_process):
    hub = hub_process("--api-key", KEY, "--log-level", "debug")
    ws = RawWS(hub.port, "/mqtt", key=None, headers={"Sec-WebSocket-Protocol": "mqtt"})
    assert ws.status == 101
    ws.send_frame(OP_BINARY, encode_connect(Connect(level=4, client_id="logged", clean=True, keepalive=60,
                                                    username="u", password=KEY.encode())))
    assert ws.recv_frame() == (OP_BINARY, b"\x20\x02\x00\x00")  # CONNACK, accepted
    ws.close()
    hub.stop()
    lines = hub.stderr.splitlines()
    assert any("DEBUG picloud.access: 101 GET /mqtt" in line for line in lines), hub.stderr[-2000:]
    assert any("INFO picloud.mqtt: connect mqtt 'logged' from 127.0.0.1:" in line for line in lines)


def test_the_hubs_log_lines_carry_time_level_logger_and_message(hub_process):
    hub = hub_process("--api-key", KEY)
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
    hub.stop()
    line = next(line for line in hub.stderr.splitlines() if "GET /healthz" in line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO picloud\.access: 200 GET /healthz "
                        r"\(127\.0\.0\.1\) \d+\.\dms", line), line


def test_malformed_requests_do_not_log_their_keys(hub_process):
    hub = hub_process("--api-key", KEY, "--log-level", "debug")
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


# -- keys with roles (a keys file) -------------------------------------------------------

class TestRoles:
    """A hub whose keys file (KEYS) has a key of each role."""

    @pytest.fixture
    def app(self, keys_path, tmp_path):
        return make_app(Config(keys_file=str(keys_path), state_dir=tmp_path, info_interval=0.2))

    @pytest.mark.gen_test
    async def test_keys_in_query_strings_never_reach_a_log(self, http_server, http_client, base_url, caplog):
        caplog.set_level(logging.DEBUG)
        ws_base = base_url.replace("http", "ws", 1)
        for key in ("sub-key-0123456789ab", "wrong-secret-key"):
            with pytest.raises(HTTPClientError):
                await websocket_connect(f"{ws_base}/publish?apiKey={key}&clientName=c")
            await http_client.fetch(f"{base_url}/publish?apiKey={key}&clientName=c", method="POST",
                                    body=b"{", raise_error=False)
        conn = await websocket_connect(f"{ws_base}/subscribe?apiKey=admin-key-0123456789ab&clientName=c")
        await conn.write_message("not json")
        await conn.read_message()
        conn.close()
        assert "/publish" in caplog.text
        for key in ("sub-key-0123456789ab", "wrong-secret-key", "admin-key-0123456789ab"):
            assert key not in caplog.text


ROUTES = ["/subscribe", "/publish", "/info", "/healthz", "/retained", "/history?event=t", "/metrics", "/stats",
          "/", "/dashboard", "/picloud.js", "/static/dashboard.css"]


@pytest.mark.gen_test
@pytest.mark.parametrize("route", ROUTES)
async def test_no_error_log_of_any_route_carries_the_query_key(http_client, base_url, app, caplog, monkeypatch, route):
    """An error forced inside each route's handler, the key in the query."""
    secret = "query-key-that-must-stay-secret"

    def fail(*args, **kwargs):
        raise RuntimeError("forced")

    for rule in app.wildcard_router.rules:
        handler = rule.target
        if isinstance(handler, type):
            monkeypatch.setattr(handler, "prepare", fail)
    caplog.set_level(logging.DEBUG)
    separator = "&" if "?" in route else "?"
    post = {"method": "POST", "body": b'{"event": "t"}'} if route == "/publish" else {}
    response = await http_client.fetch(
        f"{base_url}{route}{separator}apiKey={secret}&clientName=c", raise_error=False, **post
    )
    assert response.code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert errors, "the forced error was logged"
    logged = "\n".join(f"{r.getMessage()} {logging.Formatter().formatException(r.exc_info)}" for r in errors)
    assert secret not in logged and secret not in caplog.text


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/static/%00", "/static/a%00b.css", "/static/%00/dashboard.css"])
async def test_a_static_path_with_a_nul_is_404_and_logs_no_key(http_client, base_url, caplog, path):
    response = await http_client.fetch(f"{base_url}{path}?apiKey=query-key-that-must-stay-secret", raise_error=False)
    assert response.code == 404
    assert "query-key-that-must-stay-secret" not in caplog.text
