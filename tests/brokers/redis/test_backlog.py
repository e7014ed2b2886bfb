"""The broker outbox and the cluster /info merge, without any I/O."""

from __future__ import annotations

import logging
import time

from picloud.brokers.redis.backlog import Backlog
from picloud.brokers.redis.membership import Membership


def test_backlog_drops_the_oldest_counts_and_logs_once(caplog):
    backlog = Backlog(3)
    with caplog.at_level(logging.WARNING, logger="picloud.broker"):
        for n in range(5):
            backlog.append((b"c", str(n).encode()))
    assert [data for _, data in backlog.queue] == [b"2", b"3", b"4"]
    assert backlog.dropped == 2
    assert [r.getMessage() for r in caplog.records] == [
        "broker outbox full (3 messages): dropping the oldest messages for other hubs"
    ]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="picloud.broker"):
        backlog.report()
        backlog.report()
    assert [r.getMessage() for r in caplog.records] == ["2 messages for other hubs were dropped (outbox full)"]


def test_unconfirmed_messages_go_back_in_front_within_the_bound():
    backlog = Backlog(3)
    for n in range(3):
        backlog.append((b"c", str(n).encode()))
    assert backlog.take(2) == [(b"c", b"0"), (b"c", b"1")]
    backlog.append((b"c", b"3"))
    backlog.append((b"c", b"4"))  # queue full again while 0 and 1 are in flight
    assert len(backlog) == 5
    backlog.requeue()
    assert [data for _, data in backlog.queue] == [b"2", b"3", b"4"]
    assert backlog.dropped == 2
    assert backlog.take(1) == [(b"c", b"2")]
    backlog.confirm()
    backlog.requeue()
    assert [data for _, data in backlog.queue] == [b"3", b"4"]


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
