"""Browser origins (picloud/server/origins.py): any by default; with
--allowed-origin, the hub's own plus those listed."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from picloud.config import Config
from picloud.server.app import make_app
from picloud.server.origins import OriginPolicy
from tests.support.hub import KEY, post, read_json, send_json, subscribed
from tests.support.rawws import RawWS

DASH = "https://dash.example"
EVIL = "https://evil.example"


@pytest.fixture
def app(tmp_path):
    return make_app(Config(api_key=KEY, state_dir=tmp_path, allowed_origin=(DASH + "/", "http://also.example")))


@pytest.mark.gen_test
async def test_listed_and_own_origins_and_devices_connect(ws, base_url):
    sub = await ws("/subscribe", clientName="s", headers={"Origin": DASH})
    await subscribed(sub, "t")
    own = base_url  # the Host the client sends
    pub = await ws("/publish", key=None, apiKey=KEY, clientName="p", headers={"Origin": own})
    await send_json(pub, {"event": "t", "data": 1})
    assert (await read_json(sub))["data"] == 1
    device = await ws("/publish", clientName="device")  # no Origin at all
    await send_json(device, {"event": "t", "data": 2})
    assert (await read_json(sub))["data"] == 2


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/subscribe", "/publish", "/info"])
async def test_other_origins_get_403_but_only_after_the_key(ws, path):
    with pytest.raises(HTTPClientError) as refused:
        await ws(path, clientName="x", headers={"Origin": EVIL})
    assert refused.value.code == 403
    with pytest.raises(HTTPClientError) as unauthorized:
        await ws(path, key="wrong", clientName="x", headers={"Origin": EVIL})
    assert unauthorized.value.code == 401


@pytest.mark.gen_test
async def test_http_publish_gets_cors_for_allowed_origins_only(http_client, base_url):
    response = await post(http_client, base_url, {"event": "t"}, headers={"Origin": DASH})
    assert response.code == 201
    assert response.headers["Access-Control-Allow-Origin"] == DASH
    assert response.headers["Vary"] == "Origin"
    # an error is readable by the page too
    response = await post(http_client, base_url, b"{", headers={"Origin": DASH})
    assert response.code == 400 and response.headers["Access-Control-Allow-Origin"] == DASH
    response = await post(http_client, base_url, {"event": "t"}, headers={"Origin": EVIL})
    assert response.code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.gen_test
async def test_preflight_needs_no_key_and_names_the_headers(http_client, base_url):
    headers = {"Origin": DASH, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "x-api-key, content-type"}
    response = await http_client.fetch(f"{base_url}/publish", method="OPTIONS", headers=headers)
    assert response.code == 204
    assert response.headers["Access-Control-Allow-Origin"] == DASH
    assert response.headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "X-API-Key, X-API-Client-Name, Content-Type"
    headers["Origin"] = EVIL
    response = await http_client.fetch(f"{base_url}/publish", method="OPTIONS", headers=headers,
                                       raise_error=False)
    assert response.code == 403


def test_default_policy_allows_any_origin():
    policy = OriginPolicy()
    assert policy.any and policy.allows(EVIL, "hub:9000") and policy.allows("null", None)


def test_own_origin_is_the_host_header():
    policy = OriginPolicy([DASH])
    assert policy.allows("http://hub.local:9000", "hub.local:9000")
    assert not policy.allows("http://hub.local:9001", "hub.local:9000")
    assert not policy.allows("null", "hub.local:9000")
    assert policy.allows("HTTPS://DASH.example", "x")


def test_allowed_origins_from_the_environment_are_space_separated(hub_process):
    hub = hub_process("--api-key", KEY, env={"PICLOUD_ALLOWED_ORIGIN": f"{DASH} http://b.example"})
    for origin, status in ((DASH, 101), ("http://b.example", 101), (EVIL, 403)):
        conn = RawWS(hub.port, "/info", key=KEY, headers={"Origin": origin})
        assert conn.status == status, origin
        conn.close()
