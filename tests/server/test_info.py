"""``/info`` (picloud/server/info.py pushes its snapshots): one at once, then
following the connections."""

from __future__ import annotations

import pytest

from tests.support.hub import read_json, subscribed


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
@pytest.mark.config(info_interval=60)
async def test_sockets_opening_within_an_interval_share_one_snapshot(ws, app, monkeypatch):
    """A snapshot costs connections x subscriptions: opening /info must not build one each."""
    built = []
    snapshot = app.state.pubsub.snapshot

    def counted():
        built.append(1)
        return snapshot()

    monkeypatch.setattr(app.state.pubsub, "snapshot", counted)
    pages = [await ws("/info") for _ in range(20)]
    first = [await read_json(page) for page in pages]
    assert len(built) == 1 and all(page == first[0] for page in first)
    for page in pages:
        page.close()
