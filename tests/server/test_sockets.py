"""Every route of the protocol on a real loopback socket."""

from __future__ import annotations

import json

import pytest

from tests.support.hub import KEY, post, read_json, send_json, subscribed

# -- publish and subscribe -------------------------------------------------

@pytest.mark.gen_test
async def test_publish_over_websocket_reaches_subscriber(ws):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "temperature")
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "temperature", "data": "21.5"})
    message = await read_json(sub)
    assert list(message)[:4] == ["action", "event", "data", "created_at"]
    assert message["action"] == "publish"
    assert message["event"] == "temperature"
    assert message["data"] == "21.5"
    assert message["created_at"].endswith("Z") and len(message["created_at"]) == 27


@pytest.mark.gen_test
async def test_browser_style_publish_with_action_and_query_key(ws):
    sub = await ws("/subscribe", key=None, apiKey=KEY, clientName="page")
    await subscribed(sub, "t")
    pub = await ws("/publish", key=None, apiKey=KEY, clientName="page", headers={"Origin": "http://elsewhere.example"})
    await send_json(pub, {"action": "publish", "event": "t", "data": {"on": True}})
    assert (await read_json(sub))["data"] == {"on": True}


@pytest.mark.gen_test
async def test_client_name_from_header(ws, app):
    sub = await ws("/subscribe", headers={"X-API-Client-Name": "from-header"})
    await subscribed(sub, "t")
    names = [c["client_name"] for c in app.state.pubsub.snapshot()["all_connections"]]
    assert names == ["from-header"]


@pytest.mark.gen_test
@pytest.mark.parametrize("data", ["21.5", 21.5, 7, True, None, [1, "two"], {"nested": {"x": [1]}}, "a/b"])
async def test_data_passes_through_unchanged(ws, data):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t", "data": data})
    assert (await read_json(sub))["data"] == data


@pytest.mark.gen_test
async def test_missing_data_is_delivered_as_null(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t"})
    message = await read_json(sub)
    assert "data" in message and message["data"] is None


@pytest.mark.gen_test
async def test_slash_is_not_escaped_on_the_wire(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "a/b")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "a/b", "data": "x/y"})
    raw = await sub.read_message()
    assert '"event":"a/b"' in raw and '"data":"x/y"' in raw


@pytest.mark.gen_test
async def test_many_subscribers_and_events(ws):
    subs = [await ws("/subscribe", clientName=f"s{i}") for i in range(4)]
    await subscribed(subs[0], "a")
    await subscribed(subs[1], "b")
    await subscribed(subs[2], "a", "b")
    await subscribed(subs[3], "c")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "a", "data": 1})
    await send_json(pub, {"event": "b", "data": 2})
    assert (await read_json(subs[0]))["data"] == 1
    assert (await read_json(subs[1]))["data"] == 2
    assert [(await read_json(subs[2]))["data"] for _ in range(2)] == [1, 2]
    # s3 got nothing: the next thing it reads is the reply to its own barrier
    await subscribed(subs[3])


@pytest.mark.gen_test
async def test_subscribing_twice_delivers_once(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t", "t")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t", "data": 1})
    await send_json(pub, {"event": "t", "data": 2})
    assert [(await read_json(sub))["data"] for _ in range(2)] == [1, 2]


@pytest.mark.gen_test
async def test_unsubscribe_and_unsubscribe_all(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "a", "b", "c")
    await send_json(sub, {"action": "unsubscribe", "event": "a"})
    await send_json(sub, {"action": "unsubscribe", "event": "never-subscribed"})
    pub = await ws("/publish", clientName="p")
    await subscribed(sub)  # barrier: the unsubscribes are processed
    for event in ("a", "b", "c"):
        await send_json(pub, {"event": event, "data": event})
    assert [(await read_json(sub))["data"] for _ in range(2)] == ["b", "c"]
    await send_json(sub, {"action": "unsubscribe:all"})
    await subscribed(sub)
    for event in ("a", "b", "c"):
        await send_json(pub, {"event": event, "data": event})
    await subscribed(sub, "d")  # nothing arrived before the barrier reply


@pytest.mark.gen_test
async def test_publisher_does_not_receive_its_own_message(ws):
    pub = await ws("/publish", clientName="p")
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    await send_json(pub, {"event": "t", "data": 1})
    assert (await read_json(sub))["data"] == 1
    await pub.write_message("not json")
    assert (await read_json(pub))["action"] == "error"  # the only frame it ever got


@pytest.mark.gen_test
async def test_batch_publish_over_websocket_keeps_order(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "a", "b")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, [{"event": "a", "data": i} for i in range(5)] + [{"event": "b"}])
    got = [await read_json(sub) for _ in range(6)]
    assert [m["data"] for m in got] == [0, 1, 2, 3, 4, None]


# -- HTTP publish -------------------------------------------------------------

@pytest.mark.gen_test
async def test_http_publish_returns_201_and_delivers(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="kitchen")
    await subscribed(sub, "t")
    response = await post(http_client, base_url, {"event": "t", "data": {"c": 21.5}})
    assert response.code == 201
    assert response.body == b""
    assert (await read_json(sub))["data"] == {"c": 21.5}


@pytest.mark.gen_test
async def test_http_publish_without_content_type_and_with_query_params(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    response = await http_client.fetch(
        f"{base_url}/publish?apiKey={KEY}&clientName=cron", method="POST",
        body=b'{"event": "t", "data": 1}', raise_error=False,
    )
    assert response.code == 201
    assert (await read_json(sub))["data"] == 1


@pytest.mark.gen_test
async def test_http_batch_is_all_or_nothing(ws, http_client, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    bad = [{"event": "t", "data": 1}, {"event": "t", "data": 2}, {"data": 3}]
    response = await post(http_client, base_url, bad)
    assert response.code == 400
    assert json.loads(response.body) == {"error": "batch element 2: missing 'event'", "index": 2}
    good = [{"event": "t", "data": 1}, {"event": "t", "data": 2}]
    assert (await post(http_client, base_url, good)).code == 201
    assert [(await read_json(sub))["data"] for _ in range(2)] == [1, 2]  # nothing of the bad batch


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "invalid json"),
        (b"{not json", "invalid json"),
        (b"\xff\xfe", "invalid json"),
        (b"[1]", "batch element 0: message must be a json object, not a number"),
        (b'"hello"', "message must be a json object, not a string"),
        (b'{"data": 1}', "missing 'event'"),
        (b'{"event": ""}', "'event' must not be empty"),
        (b'{"event": 12}', "'event' must be a string, not int"),
        (b'{"event": "t", "data": NaN}', "data contains a non-finite number"),
        (b'{"event": "t", "data": 1e999}', "data contains a non-finite number"),
    ],
)
async def test_http_bad_bodies_get_400_with_json_error(http_client, base_url, body, error):
    response = await post(http_client, base_url, body)
    assert response.code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body)["error"].startswith(error)


# -- bad frames keep the connection usable ---------------------------------------------

@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("nope", "invalid json"),
        ("[]", "frame must be a json object"),
        ('{"action": "publish", "event": "t"}', "unknown action 'publish'"),
        ('{"event": "t"}', "missing 'action'"),
        ('{"action": "subscribe"}', "missing 'event'"),
        ('{"action": "subscribe", "event": ""}', "'event' must not be empty"),
        ('{"action": "subscribe", "event": 3}', "'event' must be a string, not int"),
        ('{"action": "subscribe", "event": "a\\u0000b"}', "'event' contains control character"),
    ],
)
async def test_bad_subscriber_frames_get_an_error_and_the_socket_stays(ws, frame, error):
    sub = await ws("/subscribe", clientName="s")
    await sub.write_message(frame)
    reply = await read_json(sub)
    assert reply["action"] == "error" and reply["error"].startswith(error)
    assert "event" not in reply
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t", "data": 1})
    assert (await read_json(sub))["data"] == 1


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("frame", "error"),
    [
        ("{", "invalid json"),
        ("5", "message must be a json object, not a number"),
        ('{"data": 1}', "missing 'event'"),
        ('{"event": "t", "data": NaN}', "data contains a non-finite number"),
        ('{"action": "subscribe", "event": "t"}', "unknown action 'subscribe'"),
        ('[{"event": "t"}, 3]', "batch element 1"),
    ],
)
async def test_bad_publish_frames_get_an_error_and_the_socket_stays(ws, frame, error):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    await pub.write_message(frame)
    reply = await read_json(pub)
    assert reply["action"] == "error" and reply["error"].startswith(error)
    await send_json(pub, {"event": "t", "data": "after"})
    assert (await read_json(sub))["data"] == "after"  # nothing of the bad frame


# -- info ----------------------------------------------------------------------------------

async def next_snapshot_where(info, condition):
    """Read pushed snapshots until one satisfies ``condition`` (pushes come every 0.2 s)."""
    for _ in range(50):
        snapshot = await read_json(info)
        if condition(snapshot):
            return snapshot
    raise AssertionError(f"no snapshot matched; last: {snapshot}")


@pytest.mark.gen_test
async def test_info_snapshot_right_away_then_follows_connections(ws):
    info = await ws("/info")
    first = await read_json(info)
    assert first["subscriptions"] == [] and first["all_connections"] == []
    assert first["created_at"].endswith("Z")

    sub = await ws("/subscribe", clientName="kitchen-pi")
    await subscribed(sub, "temperature")
    pub = await ws("/publish", clientName="sensor")
    snap = await next_snapshot_where(info, lambda s: len(s["all_connections"]) == 2)
    assert [c["client_name"] for c in snap["all_connections"]] == ["kitchen-pi", "sensor"]
    (subscription,) = snap["subscriptions"]
    assert subscription["name"] == "temperature"
    (conn,) = subscription["connections"]
    assert conn["client_name"] == "kitchen-pi"
    host, port = conn["ip_address"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert conn["connected_at"].endswith("Z")

    sub.close()
    snap = await next_snapshot_where(info, lambda s: len(s["all_connections"]) == 1)
    assert snap["subscriptions"] == []
    pub.close()
    await next_snapshot_where(info, lambda s: not s["all_connections"])


@pytest.mark.gen_test
async def test_health_is_public_and_reveals_nothing(http_client, base_url):
    response = await http_client.fetch(f"{base_url}/healthz")
    body = json.loads(response.body)
    assert body["status"] == "ok"
    assert "subscriptions" not in body and "all_connections" not in body


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
