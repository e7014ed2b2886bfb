"""What the hub's logs say and leave out (picloud/server/logs.py): keys never
reach them, from query strings or malformed requests."""

from __future__ import annotations

import logging
import socket

import pytest
from tornado.httpclient import HTTPClientError
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.server.app import make_app


class TestRoles:
    """A hub whose keys file (KEYS) has a key of each role."""

    @pytest.fixture
    def app(self, keys_path, tmp_path):
        return make_app(Config(keys_file=str(keys_path), state_dir=tmp_path, info_interval=0.2))

    @pytest.mark.gen_test
    async def test_keys_in_query_strings_never_reach_a_log(self, http_server, http_client, base_url, caplog):
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


def test_malformed_requests_do_not_log_their_keys(hub_process):
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
