"""Which hubs share a Redis and what each says in ``/info``
(picloud/brokers/redis/membership.py): the merge, a killed node dropping
out, URLs redacted."""

from __future__ import annotations

import signal
import time

import pytest

from picloud.brokers.redis.membership import Membership, Peer, changed_ids, redact
from tests.support.hub import read_json, subscribed
from tests.support.redisserver import PREFIX, connect, nodes_by_client


@pytest.mark.gen_test(timeout=30)
async def test_info_lists_the_cluster_and_forgets_a_killed_node(redis_server, hubs):
    server = redis_server()
    cluster = hubs(server, 3)
    for i, hub in enumerate(cluster):
        sub = await connect(hub, "/subscribe", clientName=f"sub{i}")
        await subscribed(sub, "shared", f"only{i}")
    info_socket = await connect(cluster[0], "/info")

    names = {"sub0", "sub1", "sub2"}
    events = {"shared", "only0", "only1", "only2"}
    # Each node publishes its part on its own timer: a node may show its
    # connection in one refresh and its subscriptions in the next.
    while True:
        info = await read_json(info_socket)
        if set(nodes_by_client(info)) == names and {s["name"] for s in info["subscriptions"]} >= events:
            break
    nodes = nodes_by_client(info)
    assert len(set(nodes.values())) == 3
    assert all(set(c) == {"client_name", "ip_address", "connected_at", "node"} for c in info["all_connections"])
    subscriptions = {s["name"]: s["connections"] for s in info["subscriptions"]}
    assert sorted(c["client_name"] for c in subscriptions["shared"]) == sorted(names)
    for i in range(3):
        assert [c["client_name"] for c in subscriptions[f"only{i}"]] == [f"sub{i}"]
    assert list(info) == ["subscriptions", "all_connections", "created_at"]

    cluster[2].stop(signal.SIGKILL)
    killed_at = time.monotonic()
    while "sub2" in nodes_by_client(info):
        info = await read_json(info_socket)
    assert time.monotonic() - killed_at < 6
    assert set(nodes_by_client(info)) == {"sub0", "sub1"}
    assert "only2" not in {s["name"] for s in info["subscriptions"]}


def test_redact_hides_passwords():
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert redact("rediss://user:pw@host/1") == "rediss://user:***@host/1"
    assert redact("redis://host/0?password=pw&db=2") == "redis://host/0?password=%2A%2A%2A&db=2"
    assert redact("redis://host:6379") == "redis://host:6379"


def conn(name: str, node: str | None = None) -> dict:
    found = {"client_name": name, "ip_address": "127.0.0.1:1", "connected_at": "t"}
    if node:
        found["node"] = node
    return found


def record(name: str, *events: str) -> dict:
    return {"client_name": name, "ip_address": "127.0.0.1:1", "connected_at": "t", "events": list(events)}


def peer(seen: float, **records: dict) -> Peer:
    found = Peer()
    found.seen, found.records = seen, records
    return found


def test_merge_puts_this_node_first_and_merges_events_by_name():
    members = Membership("p", "b-node")
    now = time.monotonic()
    members.peers = {
        "c-node": peer(now, **{"1": record("c1", "t")}),
        "a-node": peer(now, **{"10": record("a2"), "2": record("a1", "u", "t")}),
        "gone": peer(now - 60, **{"1": record("g1")}),
    }
    local = {"subscriptions": [{"name": "t", "connections": [conn("b1")]}], "all_connections": [conn("b1")]}
    merged = members.merge(local)
    assert [(c["client_name"], c["node"]) for c in merged["all_connections"]] == [
        ("b1", "b-node"), ("a1", "a-node"), ("a2", "a-node"), ("c1", "c-node"),
    ]
    assert [(s["name"], [c["client_name"] for c in s["connections"]]) for s in merged["subscriptions"]] == [
        ("t", ["b1", "a1", "c1"]), ("u", ["a1"]),
    ]


def test_changed_ids_reads_only_a_complete_run_of_versions():
    entries = [b"3 1 2", b"4 2", b"5 7"]
    assert changed_ids(entries, 3) == ({"2", "7"}, 5)
    assert changed_ids(entries, 5) == (None, 5)  # nothing newer: nothing to tell
    assert changed_ids(entries, 1) == (None, 1)  # version 2 was trimmed away
    assert changed_ids([b"3 1", b"4 *"], 2) == (None, 2)  # rewritten: read everything


def redis_traffic(server) -> int:
    with server.client() as client:
        stats = client.info("stats")
    return stats["total_net_input_bytes"] + stats["total_net_output_bytes"]


def beats(server, node_key: str, count: int) -> None:
    """Wait for ``count`` heartbeats of a node (its key's TTL set anew each time)."""
    with server.client() as client:
        last = client.pttl(node_key)
        seen = 0
        deadline = time.monotonic() + 10 * count
        while seen < count and time.monotonic() < deadline:
            ttl = client.pttl(node_key)
            if ttl > last:
                seen += 1
            last = ttl
            time.sleep(0.02)
    assert seen == count


@pytest.mark.gen_test(timeout=60)
async def test_the_heartbeat_costs_what_changed_not_the_whole_listing(redis_server, hubs):
    server = redis_server()
    a, b = hubs(server, 2)
    # 20 connections x 100 subscriptions x 200-byte names: a listing of ~400 KB.
    subs = []
    for i in range(20):
        sub = await connect(a, "/subscribe", clientName=f"big{i}")
        await subscribed(sub, *(f"{i:02d}-{n:03d}-" + "x" * 193 for n in range(100)))
        subs.append(sub)
    watcher = await connect(b, "/info")
    while True:  # b has read a's listing
        info = await read_json(watcher)
        if sum(len(s["connections"]) for s in info["subscriptions"]) == 2000:
            break
    watcher.close()
    with server.client() as client:
        (node_key,) = [k.decode() for k in client.keys(f"{PREFIX}:alive:*")
                       if int(client.get(k)) > 1 and client.hlen(k.replace(b":alive:", b":listing:")) == 20]

    before = redis_traffic(server)
    beats(server, node_key, 3)
    idle = redis_traffic(server) - before
    # Before, every beat wrote a's whole listing and b read it: 2.4 MB. What
    # is left is presence (20 names) and the liveness keys.
    assert idle < 60_000, f"{idle} bytes of Redis traffic in 3 idle beats"

    # One more subscription: one connection's record (~20 KB) goes, not 400 KB.
    before = redis_traffic(server)
    await subscribed(subs[0], "one-more")
    watcher = await connect(b, "/info")
    while "one-more" not in {s["name"] for s in (await read_json(watcher))["subscriptions"]}:
        pass
    watcher.close()
    changed = redis_traffic(server) - before
    assert changed < 150_000, f"{changed} bytes of Redis traffic for one subscription"
    for sub in subs:
        sub.close()
