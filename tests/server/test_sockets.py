"""The websocket routes ``/subscribe`` and ``/publish`` (picloud/server/sockets.py)
on real loopback sockets: delivery, bad frames, ``since``, retained values,
limits, the old protocol and protocol 2, presence and wildcards."""

from __future__ import annotations

import asyncio
import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.hub import KEY, LONG_HISTORY, QUICK_RETAIN, SMALL_LIMITS, post, read_json, send_json, subscribed

# -- publish and subscribe ---------------------------------------------------------------

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


# -- bad frames keep the connection usable -----------------------------------------------

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


# -- since: replays, and what cannot be recovered ----------------------------------------

async def read_until_seq(conn, last):
    frames = []
    while True:
        frame = await read_json(conn)
        frames.append(frame)
        if frame.get("action") == "publish" and frame.get("seq") == last:
            return frames


@pytest.mark.gen_test(timeout=20)
@LONG_HISTORY
async def test_replay_with_publishes_racing_has_no_gap_and_no_duplicate(ws):
    watcher = await ws("/subscribe", clientName="watcher", protocol=2)
    await send_json(watcher, {"action": "subscribe", "event": "t"})
    confirm = await read_json(watcher)
    assert confirm["action"] == "subscribed" and confirm["seq"] == 0
    epoch = confirm["epoch"]
    pub = await ws("/publish", clientName="sensor")
    stop = asyncio.Event()
    sent = 0

    async def publish_until_stopped():
        nonlocal sent
        while not stop.is_set():
            await send_json(pub, {"event": "t", "data": sent})
            sent += 1
            await asyncio.sleep(0)  # let the hub interleave the other sockets

    publishing = asyncio.ensure_future(publish_until_stopped())
    await read_until_seq(watcher, 30)  # the hub is mid-stream
    late = await ws("/subscribe", clientName="late", protocol=2)
    await send_json(late, {"action": "subscribe", "event": "t", "since": {"seq": 10, "epoch": epoch}})
    marker = await read_json(late)
    await read_until_seq(watcher, marker["seq"] + 50)  # keep racing a while
    stop.set()
    await publishing
    frames = await read_until_seq(late, sent)
    assert marker["action"] == "subscribed" and marker["recovered"] is True
    # It joined mid-stream: some messages came by replay, the rest live.
    assert 30 <= marker["seq"] < sent - 50
    assert [f["seq"] for f in frames] == list(range(11, sent + 1))
    assert [f["data"] for f in frames] == list(range(10, sent))


@pytest.mark.gen_test
@LONG_HISTORY
async def test_unreachable_since_says_not_recovered_and_sends_what_is_kept(ws, app):
    app.state.pubsub.history.size = 3
    app.state.pubsub.history._kept.clear()
    pub = await ws("/publish", clientName="sensor")
    for i in range(5):
        await send_json(pub, {"event": "t", "data": i, "id": i})
        await read_json(pub)  # ack: published
    late = await ws("/subscribe", clientName="late", protocol=2)
    await send_json(late, {"action": "subscribe", "event": "t", "since": {"seq": 0, "epoch": "old"}})
    marker = await read_json(late)
    assert marker["recovered"] is False and marker["seq"] == 5
    assert [(await read_json(late))["seq"] for _ in range(3)] == [3, 4, 5]


@pytest.mark.gen_test
@LONG_HISTORY
async def test_since_on_a_wildcard_is_refused(ws):
    sub = await ws("/subscribe", clientName="a", protocol=2)
    await send_json(sub, {"action": "subscribe", "event": "t/+", "since": {"seq": 0, "epoch": "x"}, "id": 4})
    reply = await read_json(sub)
    error = "'since' applies to exact event names only, not 't/+'"
    assert reply == {"action": "error", "error": error, "id": 4}


# -- retained values ---------------------------------------------------------------------

@pytest.mark.gen_test
@QUICK_RETAIN
async def test_new_subscriber_gets_retained_value_first_then_live(ws, http_client, base_url):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "home/t", "data": 1, "retain": True})
    await send_json(pub, {"event": "home/t", "data": 2, "retain": True})
    await send_json(pub, {"event": "home/t", "data": 3})  # live only, not retained
    await send_json(pub, {"event": "home/h", "data": 40, "retain": True, "id": "last"})
    assert await read_json(pub) == {"action": "ack", "id": "last"}
    sub = await ws("/subscribe", clientName="kitchen")
    await send_json(sub, {"action": "subscribe", "event": "home/t"})
    first = await read_json(sub)  # arrives only once the subscription is made
    await send_json(pub, {"event": "home/t", "data": 4})
    live = await read_json(sub)
    assert (first["data"], first["retained"], first["seq"]) == (2, True, 2)
    assert (live["data"], live["seq"], "retained" in live) == (4, 4, False)
    wild = await ws("/subscribe", clientName="dash")
    await send_json(wild, {"action": "subscribe", "event": "home/+"})
    assert sorted([(await read_json(wild))["data"] for _ in range(2)]) == [2, 40]


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_a_retained_value_that_cannot_be_stored_is_not_acked(ws, app):
    db = app.state.pubsub.retained.store.db
    db.on_writer(lambda conn: conn.execute("PRAGMA query_only=1"))  # the disk refuses every write
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1, "retain": True, "id": 3})
    reply = await read_json(pub)
    assert reply["action"] == "error" and reply["id"] == 3
    assert reply["error"].startswith("cannot store retained value")


# -- limits ------------------------------------------------------------------------------

@pytest.mark.gen_test
@SMALL_LIMITS
async def test_connections_over_the_cap_get_503_after_auth_checks(ws, app):
    conns = [await ws("/subscribe", clientName=f"s{i}") for i in range(3)]
    with pytest.raises(HTTPClientError) as full:
        await ws("/subscribe", clientName="late")
    assert full.value.code == 503
    with pytest.raises(HTTPClientError) as unauthorized:
        await ws("/subscribe", key="wrong", clientName="late")
    assert unauthorized.value.code == 401
    with pytest.raises(HTTPClientError) as nameless:
        await ws("/subscribe")
    assert nameless.value.code == 400
    conns[0].close()
    await conns[0].read_message()
    while len(app.state.sockets) == 3:  # the hub notices the close on its next read
        await subscribed(conns[1])
    await ws("/subscribe", clientName="now-there-is-room")


@pytest.mark.gen_test
@SMALL_LIMITS
async def test_subscriptions_per_connection_are_limited(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "a", "b", "c")
    await send_json(sub, {"action": "subscribe", "event": "d"})
    assert await read_json(sub) == {"action": "error", "error": "too many subscriptions (limit 3)"}
    await subscribed(sub, "a")  # already subscribed: no error
    await send_json(sub, {"action": "unsubscribe", "event": "a"})
    await subscribed(sub, "d")  # room again


@pytest.mark.gen_test
@SMALL_LIMITS
async def test_publish_rate_errors_then_closes_1008(ws):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    for i in range(3):
        await send_json(pub, {"event": "t", "data": i})
    assert [(await read_json(sub))["data"] for _ in range(2)] == [0, 1]
    reply = await read_json(pub)
    assert reply == {"action": "error", "error": "publish rate over 2 messages/s: message refused"}
    for i in range(20):
        await send_json(pub, {"event": "t", "data": i})
    while (await pub.read_message()) is not None:
        pass
    assert pub.close_code == 1008


# -- old clients, protocol 2 and presence ------------------------------------------------

async def frames_until_error(conn):
    """Every frame up to and including the next error reply."""
    frames = []
    while True:
        frame = await read_json(conn)
        frames.append(frame)
        if frame["action"] == "error":
            return frames


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_old_client_never_sees_a_non_publish_frame(ws, app):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 0, "retain": True, "id": 1})
    assert await read_json(pub) == {"action": "ack", "id": 1}
    old = await ws("/subscribe", clientName="old-device")  # no protocol=2
    epoch = app.state.pubsub.history.epoch
    requests = [
        {"action": "subscribe", "event": "t"},  # retained value comes first
        {"action": "subscribe", "event": "t"},  # twice: nothing
        {"action": "subscribe", "event": "x", "since": {"seq": 0, "epoch": "old"}},
        {"action": "subscribe", "event": "$SYS/clients/+"},
        {"action": "subscribe", "event": "t/#", "id": 9},
        {"action": "unsubscribe", "event": "nothing"},
        {"action": "unsubscribe", "event": "t/#"},
        {"action": "subscribe", "event": "y", "since": {"seq": 0, "epoch": epoch}},
    ]
    for request in requests:
        await send_json(old, request)
    await old.write_message("barrier")
    frames = await frames_until_error(old)
    await send_json(pub, {"event": "t", "data": 1, "action": "publish"})  # as the browser client sends
    await send_json(pub, {"event": "t/x", "data": 2})
    await send_json(old, {"action": "unsubscribe:all"})
    await old.write_message("barrier")
    frames += await frames_until_error(old)
    errors = [f for f in frames if f["action"] != "publish"]
    assert [e["action"] for e in errors] == ["error", "error"], frames
    assert not any("event" in e for e in errors)
    events = [(f["event"], f["data"]) for f in frames if f["action"] == "publish"]
    # t's retained value, presence values, t's retained value again (t/# matches t), then live.
    assert events[0] == ("t", 0)
    assert dict(events[1:3])["$SYS/clients/old-device"]["online"] is True
    assert events[3:] == [("t", 0), ("t", 1)]


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_old_publisher_gets_nothing_without_an_id(ws):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1})
    await send_json(pub, {"event": "t", "data": 2, "retain": True})
    await send_json(pub, [{"event": "t"}, {"event": "u"}])
    await pub.write_message("not json")
    assert (await read_json(pub))["action"] == "error"


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_protocol2_confirms_and_echoes_ids(ws, app):
    sub = await ws("/subscribe", clientName="new", protocol=2)
    epoch = app.state.pubsub.history.epoch
    await send_json(sub, {"action": "subscribe", "event": "t", "id": "s1"})
    confirm = await read_json(sub)
    assert confirm == {"action": "subscribed", "event": "t", "id": "s1", "epoch": epoch, "seq": 0}
    await send_json(sub, {"action": "subscribe", "event": "t"})
    assert await read_json(sub) == {"action": "subscribed", "event": "t", "already": True}
    await send_json(sub, {"action": "subscribe", "event": "a/+", "id": 2})
    assert await read_json(sub) == {"action": "subscribed", "event": "a/+", "id": 2}
    await send_json(sub, {"action": "unsubscribe", "event": "t", "id": 3})
    assert await read_json(sub) == {"action": "unsubscribed", "event": "t", "id": 3, "was": True}
    await send_json(sub, {"action": "unsubscribe:all"})
    assert await read_json(sub) == {"action": "unsubscribed:all", "count": 1}
    await send_json(sub, {"action": "subscribe", "event": "", "id": 5})
    assert await read_json(sub) == {"action": "error", "error": "'event' must not be empty", "id": 5}
    await send_json(sub, {"action": "subscribe", "event": "t", "id": [1]})
    error = await read_json(sub)
    assert error == {"action": "error", "error": "'id' must be a string or an integer, not an array"}


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_acks_and_errors_carry_the_id(ws):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "t", "data": 1, "id": 7})
    assert await read_json(pub) == {"action": "ack", "id": 7}
    await send_json(pub, {"event": "t/+", "data": 1, "id": "x"})
    reply = await read_json(pub)
    assert reply["action"] == "error" and reply["id"] == "x" and "wildcard" in reply["error"]
    await send_json(pub, [{"event": "a", "id": 1}, {"event": "b", "data": float("inf"), "id": 2}])
    reply = await read_json(pub)
    assert (reply["id"], reply["index"]) == (2, 1)
    await send_json(pub, [{"event": "a", "id": 1}, {"event": "b", "retain": True, "data": 2, "id": 2}])
    acks = [await read_json(pub) for _ in range(2)]
    assert acks == [{"action": "ack", "id": 1}, {"action": "ack", "id": 2}]


@pytest.mark.gen_test
@QUICK_RETAIN
async def test_presence_is_retained_per_client_name(ws, app):
    dash = await ws("/subscribe", clientName="dash")
    await send_json(dash, {"action": "subscribe", "event": "$SYS/clients/+"})
    own = await read_json(dash)
    assert (own["event"], own["data"]["online"], own["retained"]) == ("$SYS/clients/dash", True, True)
    pi1 = await ws("/publish", clientName="pi")
    online = await read_json(dash)
    assert (online["event"], online["data"]["online"]) == ("$SYS/clients/pi", True)
    pi2 = await ws("/subscribe", clientName="pi")  # open by the time this returns
    connections = app.state.pubsub.connection_count
    pi1.close()
    deadline = asyncio.get_running_loop().time() + 5
    while app.state.pubsub.connection_count == connections:  # the hub has no event for a peer's close
        assert asyncio.get_running_loop().time() < deadline, "close not seen"
        await asyncio.sleep(0.01)
    await dash.write_message("barrier")
    assert (await read_json(dash))["action"] == "error"  # pi is still online: nothing announced
    pi2.close()
    offline = await read_json(dash)
    assert (offline["event"], offline["data"]["online"]) == ("$SYS/clients/pi", False)
    assert offline["data"]["since"] >= online["data"]["since"]


# -- wildcards ---------------------------------------------------------------------------

@pytest.mark.gen_test
async def test_wildcards_on_real_sockets_and_in_info(ws):
    sub = await ws("/subscribe", clientName="dash")
    await subscribed(sub, "home/+/temp", "home/#", "c#")
    pub = await ws("/publish", clientName="sensor")
    for event in ["home/kitchen/temp", "c#", "cx", "home"]:
        await send_json(pub, {"event": event, "data": 1})
    assert [(await read_json(sub))["event"] for _ in range(3)] == ["home/kitchen/temp", "c#", "home"]
    info = await ws("/info")
    snapshot = await read_json(info)
    assert [s["name"] for s in snapshot["subscriptions"]] == ["home/+/temp", "home/#", "c#"]


@pytest.mark.gen_test
async def test_publishing_to_a_wildcard_or_sys_is_refused(ws, http_client, base_url):
    pub = await ws("/publish", clientName="sensor")
    await send_json(pub, {"event": "home/+", "data": 1})
    reply = await read_json(pub)
    assert reply["action"] == "error" and "'home/+'" in reply["error"] and "wildcard" in reply["error"]
    response = await post(http_client, base_url, [{"event": "ok"}, {"event": "$SYS/clients/x", "data": 1}])
    assert response.code == 400
    assert json.loads(response.body) == {
        "error": "batch element 1: cannot publish to '$SYS/clients/x': '$SYS/' events are the hub's own",
        "index": 1,
    }
    sub = await ws("/subscribe", clientName="a")
    await send_json(sub, {"action": "subscribe", "event": "a/#/b"})
    assert (await read_json(sub)) == {"action": "error", "error": "'#' must be the last level in 'a/#/b'"}


# -- names that are not text, and sockets that fail to open --------------------------------

@pytest.mark.gen_test
async def test_a_name_that_is_not_text_is_refused_everywhere_and_breaks_nothing(ws, app, http_client, base_url):
    sub = await ws("/subscribe", clientName="prober")
    for action in ("subscribe", "unsubscribe"):
        await sub.write_message(f'{{"action": "{action}", "event": "\\ud800"}}')
        reply = await read_json(sub)
        assert reply["action"] == "error" and "not valid utf-8 text" in reply["error"]
    assert app.state.pubsub.subscription_count(next(iter(app.state.sockets))) == 0
    pub = await ws("/publish", clientName="prober")
    await pub.write_message('{"event": "a/\\udc00", "data": 1}')
    assert "not valid utf-8 text" in (await read_json(pub))["error"]
    response = await http_client.fetch(
        f"{base_url}/publish", method="POST", body=b'{"event": "\\ud800"}', raise_error=False,
        headers={"X-API-Key": KEY, "X-API-Client-Name": "prober"},
    )
    assert response.code == 400 and "not valid utf-8 text" in json.loads(response.body)["error"]
    # Every /info socket still gets its snapshot and stays open.
    for _ in range(3):
        info = await ws("/info")
        assert "all_connections" in await read_json(info)
    assert len(app.state.sockets) == 5


@pytest.mark.gen_test
async def test_a_client_name_over_128_bytes_is_refused_on_every_route(ws, http_client, base_url):
    name = "n" * 129
    for path in ("/subscribe", "/publish"):
        with pytest.raises(HTTPClientError) as info:
            await ws(path, clientName=name)
        assert info.value.code == 400
    response = await http_client.fetch(  # a plain publish, which the fast path would serve
        f"{base_url}/publish", method="POST", body=b'{"event": "t"}', raise_error=False,
        headers={"X-API-Key": KEY, "X-API-Client-Name": name},
    )
    assert response.code == 400
    assert json.loads(response.body) == {"error": "client name is longer than 128 bytes"}


@pytest.mark.gen_test
async def test_a_socket_whose_open_fails_is_not_kept(ws, app, monkeypatch):
    def fail(sock):
        raise RuntimeError("forced")

    monkeypatch.setattr(app.state.info, "add", fail)
    info = await ws("/info")
    assert await info.read_message() is None  # dropped
    assert app.state.sockets == set()
    sub = await ws("/subscribe", clientName="kitchen")  # the slot is free
    await subscribed(sub, "t")


@pytest.mark.gen_test
@SMALL_LIMITS
async def test_the_publish_rate_is_one_publishers_across_sockets_and_http(ws, http_client, base_url):
    """Per (key, client name): fresh sockets and HTTP requests share one bucket of 2."""
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    first = await ws("/publish", clientName="p")
    await send_json(first, {"event": "t", "data": 0})
    assert (await read_json(sub))["data"] == 0
    second = await ws("/publish", clientName="p")  # a fresh socket gets no fresh bucket
    await send_json(second, {"event": "t", "data": 1})
    assert (await read_json(sub))["data"] == 1
    await send_json(second, {"event": "t", "data": 2})
    assert (await read_json(second))["error"] == "publish rate over 2 messages/s: message refused"
    response = await post(http_client, base_url, {"event": "t", "data": 3}, name="p")
    assert response.code == 429
    assert json.loads(response.body) == {"error": "publish rate over 2 messages/s: message refused"}
    assert (await post(http_client, base_url, {"event": "t", "data": 4}, name="other")).code == 201
    assert (await read_json(sub))["data"] == 4


@pytest.mark.gen_test
@pytest.mark.config(max_retained_value_bytes=200)
async def test_a_value_too_big_to_retain_is_delivered_and_the_publisher_told(ws, app, http_client, base_url):
    sub = await ws("/subscribe", clientName="s")
    await subscribed(sub, "t")
    pub = await ws("/publish", clientName="p")
    await send_json(pub, {"event": "t", "data": "x" * 300, "retain": True, "id": 9})
    assert (await read_json(sub))["data"] == "x" * 300  # live all the same
    assert await read_json(pub) == {
        "action": "error", "error": "retained value over 200 bytes: delivered, not retained", "id": 9,
    }
    response = await post(http_client, base_url, {"event": "t", "data": "y" * 300, "retain": True})
    assert response.code == 413
    assert json.loads(response.body) == {"error": "retained value over 200 bytes: delivered, not retained"}
    assert (await read_json(sub))["data"] == "y" * 300
    assert app.state.pubsub.retained.get("t") is None and app.state.pubsub.retained.refused == 2
