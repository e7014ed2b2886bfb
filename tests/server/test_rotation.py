"""Key rotation (picloud/server/rotation.py): reloading the keys file closes only
the connections whose key it revoked; a bad file keeps the old keys."""

from __future__ import annotations

import asyncio
import signal

import pytest
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from picloud.config import Config
from picloud.hub import keys
from picloud.server.app import make_app
from picloud.server.rotation import reload_keys
from tests.support.hub import read_json, send_json, subscribed, ws_status
from tests.support.process import http_publish


@pytest.fixture
def app(keys_path, tmp_path):
    return make_app(Config(keys_file=str(keys_path), state_dir=tmp_path, info_interval=0.2))


@pytest.mark.gen_test
async def test_reload_closes_only_revoked_connections(app, ws, keys_path, http_client, base_url):
    revoked = await ws("/subscribe", key="sub-key-0123456789ab", clientName="old-dashboard")
    kept = await ws("/subscribe", key="admin-key-0123456789ab", clientName="kitchen")
    await subscribed(revoked, "t")
    await subscribed(kept, "t")
    keys_path.write_text("admin-key-0123456789ab admin\nnew-key-0123456789ab publish\n")
    assert reload_keys(app.state) == 1
    # Nor is the revoked key kept in the fingerprints' cache: looking it up misses.
    misses = keys._cached_digest.cache_info().misses
    keys._cached_digest("sub-key-0123456789ab")
    assert keys._cached_digest.cache_info().misses == misses + 1
    assert await revoked.read_message() is None
    assert revoked.close_code == 1008
    pub = await ws("/publish", key="new-key-0123456789ab", clientName="p")
    await send_json(pub, {"event": "t", "data": 1})
    assert (await read_json(kept))["data"] == 1
    assert await ws_status(base_url, "/subscribe", "sub-key-0123456789ab") == 401


@pytest.mark.gen_test
async def test_a_bad_file_on_reload_keeps_the_old_keys(app, ws, keys_path, caplog):
    sub = await ws("/subscribe", key="sub-key-0123456789ab", clientName="s")
    keys_path.write_text("sub-key-0123456789ab superuser\n")
    assert reload_keys(app.state) == 0
    assert "keeping the old keys" in caplog.text and "line 1" in caplog.text
    await subscribed(sub, "t")  # still served


def test_sighup_rotates_keys_of_a_running_hub(hub_process, tmp_path):
    path = tmp_path / "keys"
    path.write_text("old-key-0123456789ab admin\nstays-key-0123456789 subscribe\n")
    hub = hub_process("--keys-file", str(path))
    assert not any("api key" in line for line in hub.stdout_lines)  # nothing generated

    async def scenario():
        async def connect(key):
            conn = await websocket_connect(HTTPRequest(
                f"{hub.ws_url}/subscribe?clientName=c", headers={"X-API-Key": key}))
            await subscribed(conn, "t")
            return conn

        old, stays = await connect("old-key-0123456789ab"), await connect("stays-key-0123456789")
        path.write_text("new-key-0123456789ab admin\nstays-key-0123456789 subscribe\n")
        hub.proc.send_signal(signal.SIGHUP)
        assert await old.read_message() is None
        loop = asyncio.get_running_loop()
        body = {"event": "t", "data": 2}
        assert await loop.run_in_executor(None, http_publish, hub, "new-key-0123456789ab", body) == 201
        assert await loop.run_in_executor(None, http_publish, hub, "old-key-0123456789ab", {"event": "t"}) == 401
        data = (await read_json(stays))["data"]
        stays.close()
        return old.close_code, data

    assert asyncio.run(scenario()) == (1008, 2)
    assert hub.stop() == 0
    assert "Traceback" not in hub.stderr
