"""Which hubs share a Redis and what each says in ``/info``
(picloud/brokers/redis/membership.py): the merge, a killed node dropping
out, URLs redacted."""

from __future__ import annotations

import signal
import time

import pytest

from picloud.brokers.redis.membership import Membership, redact
from tests.support.hub import read_json, subscribed
from tests.support.redisserver import connect, nodes_by_client


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


def test_merge_puts_this_node_first_and_merges_events_by_name():
    members = Membership("p", "b-node")
    now = time.monotonic()
    members.peers = {
        "c-node": (now, {"subscriptions": [{"name": "t", "connections": [conn("c1", "c-node")]}],
                         "all_connections": [conn("c1", "c-node")]}),
        "a-node": (now, {"subscriptions": [{"name": "u", "connections": [conn("a1", "a-node")]},
                                           {"name": "t", "connections": [conn("a1", "a-node")]}],
                         "all_connections": [conn("a1", "a-node")]}),
        "gone": (now - 60, {"subscriptions": [], "all_connections": [conn("g1", "gone")]}),
    }
    local = {"subscriptions": [{"name": "t", "connections": [conn("b1")]}], "all_connections": [conn("b1")]}
    merged = members.merge(local)
    assert [(c["client_name"], c["node"]) for c in merged["all_connections"]] == [
        ("b1", "b-node"), ("a1", "a-node"), ("c1", "c-node"),
    ]
    assert [(s["name"], [c["client_name"] for c in s["connections"]]) for s in merged["subscriptions"]] == [
        ("t", ["b1", "a1", "c1"]), ("u", ["a1"]),
    ]
