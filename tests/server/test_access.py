"""Who gets in, on a real loopback socket: the key is checked first (401),
then the client name (400), and a key sent in the query string never reaches
the log. Roles and origins (403) have test_keys.py and test_origins.py."""

from __future__ import annotations

import json

import pytest

from tests.support.hub import KEY, post, read_json, refused


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


@pytest.mark.gen_test
async def test_access_log_never_contains_the_query_key(http_client, base_url, caplog):
    caplog.set_level("DEBUG", logger="picloud.access")
    for body in (b'{"event":"t"}', b"[1]"):  # the fast path and a refusal
        await http_client.fetch(
            f"{base_url}/publish?apiKey={KEY}&clientName=c", method="POST", body=body, raise_error=False
        )
    assert caplog.text.count("/publish") == 2
    assert KEY not in caplog.text
