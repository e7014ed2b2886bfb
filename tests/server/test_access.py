"""Who gets in (picloud/server/access.py), on a real loopback socket: the key
is checked first (401), then the key's role (403), then the client name
(400); a refusal tells nothing of events. Origins (403) are test_origins.py's,
keys kept out of the logs test_logs.py's."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import AsyncHTTPClient

from picloud.config import Config
from picloud.server.app import make_app
from tests.support.hub import KEY, post, read_json, refused, subscribed, ws_status


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/subscribe", "/publish", "/info"])
@pytest.mark.parametrize("key", [None, "", "wrong", KEY.upper(), KEY[:-1], KEY + "x"])
async def test_websockets_refuse_bad_keys_with_401_before_upgrade(ws, path, key):
    error = await refused(ws, path, key=key, clientName="x")
    assert error.code == 401


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/subscribe", "/publish"])
async def test_missing_client_name_is_400_after_the_key(ws, path):
    assert (await refused(ws, path)).code == 400
    assert (await refused(ws, path, key="wrong")).code == 401  # key first
    assert (await refused(ws, path, clientName="")).code == 400


@pytest.mark.gen_test
async def test_http_refusal_order(http_client, base_url):
    assert (await post(http_client, base_url, b"garbage", key=None, name=None)).code == 401
    assert (await post(http_client, base_url, b"garbage", key="nope", name=None)).code == 401
    response = await post(http_client, base_url, b"garbage", name=None)
    assert response.code == 400
    assert "client name" in json.loads(response.body)["error"]
    assert (await post(http_client, base_url, b"garbage")).code == 400
    assert (await post(http_client, base_url, {"event": "t"})).code == 201


@pytest.mark.gen_test
async def test_401_body_says_nothing_about_events(http_client, base_url):
    response = await post(http_client, base_url, {"event": "t"}, key="nope")
    assert json.loads(response.body) == {"error": "invalid api key"}
    response = await post(http_client, base_url, {"event": "t"}, key=None)
    assert json.loads(response.body) == {"error": "missing api key"}


@pytest.mark.gen_test
@pytest.mark.parametrize("key", ["", KEY + " ", KEY.upper()])
async def test_query_keys_are_compared_exactly(ws, key):
    error = await refused(ws, "/subscribe", key=None, apiKey=key, clientName="x")
    assert error.code == 401


@pytest.mark.gen_test
async def test_info_needs_only_the_key(ws):
    info = await ws("/info", key=None, apiKey=KEY)
    assert "all_connections" in await read_json(info)


# -- keys with roles (a keys file) -------------------------------------------------------

ALLOWED = {
    "sub-key-0123456789ab": {"/subscribe", "/info"},
    "pub-key-0123456789ab": {"/publish"},
    "admin-key-0123456789ab": {"/subscribe", "/info", "/publish"},
}


class TestRoles:
    """A hub whose keys file (KEYS) has a key of each role."""

    @pytest.fixture
    def app(self, keys_path, tmp_path):
        return make_app(Config(keys_file=str(keys_path), state_dir=tmp_path, info_interval=0.2))

    @pytest.mark.gen_test
    @pytest.mark.parametrize("key", sorted(ALLOWED))
    async def test_each_role_reaches_exactly_its_routes(self, http_server, http_client, base_url, key):
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
        # Every way of presenting the key gets the same role check (Prometheus sends Bearer).
        for presented in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
            metrics = await http_client.fetch(f"{base_url}/metrics", headers=presented, raise_error=False)
            assert metrics.code == (200 if key == "admin-key-0123456789ab" else 403), presented
        query = await http_client.fetch(f"{base_url}/metrics?apiKey={key}", raise_error=False)
        assert query.code == (200 if key == "admin-key-0123456789ab" else 403)

    @pytest.mark.gen_test
    async def test_refusal_order_is_401_403_400(self, http_server, http_client, base_url):
        def post(key, name):
            headers = {"X-API-Key": key} if key else {}
            if name:
                headers["X-API-Client-Name"] = name
            return http_client.fetch(f"{base_url}/publish", method="POST", body=b"garbage",
                                     headers=headers, raise_error=False)

        assert (await post(None, None)).code == 401
        assert (await post("Pub-key", None)).code == 401  # keys are case-sensitive
        assert (await post("sub-key-0123456789ab", None)).code == 403  # role before client name
        assert (await post("pub-key-0123456789ab", None)).code == 400
        assert (await post("pub-key-0123456789ab", "c")).code == 400  # and only then the body

    @pytest.mark.gen_test
    async def test_refusals_do_not_tell_whether_an_event_exists(self, ws, http_client, base_url):
        sub = await ws("/subscribe", key="admin-key-0123456789ab", clientName="s")
        await subscribed(sub, "exists")
        for key, status in ((None, 401), ("wrong", 401), ("sub-key-0123456789ab", 403)):
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


@pytest.mark.gen_test(timeout=30)
async def test_an_address_that_keeps_guessing_is_blocked_and_no_other(hub_process):
    """Behind a proxy (--xheaders) the address is the forwarded one."""
    hub = hub_process("--api-key", KEY, "--xheaders", "--auth-fail-limit", "5", "--auth-block", "60")
    client = AsyncHTTPClient()

    async def stats(key, address):
        return (await client.fetch(
            f"{hub.url}/stats", headers={"X-API-Key": key, "X-Real-IP": address}, raise_error=False
        )).code

    assert [await stats("wrong", "203.0.113.7") for _ in range(5)] == [401] * 5
    assert await stats(KEY, "203.0.113.7") == 429  # blocked, the right key included
    assert await stats("wrong", "203.0.113.7") == 429
    response = await client.fetch(  # the fast publish path is blocked too
        f"{hub.url}/publish", method="POST", body=b'{"event": "t"}', raise_error=False,
        headers={"X-API-Key": KEY, "X-API-Client-Name": "c", "X-Real-IP": "203.0.113.7"},
    )
    assert response.code == 429
    assert await stats(KEY, "203.0.113.8") == 200  # elsewhere still works
    hub.stop()
    blocks = [line for line in hub.stderr.splitlines() if "blocking " in line]
    assert len(blocks) == 1, hub.stderr  # once, not per attempt
    assert blocks[0].endswith("blocking 203.0.113.7 for 60s after 5 wrong keys in 10s")
