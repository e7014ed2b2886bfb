"""Topic rights (picloud/hub/rights.py): which names a pattern covers, %c,
name bindings, and the hub refusing what a key's rights do not cover."""

from __future__ import annotations

import json

import pytest

from picloud.brokers.memory import MemoryBroker
from picloud.exceptions import Forbidden
from picloud.hub.pubsub import PubSub
from picloud.hub.rights import Permissions, covers, name_allowed
from picloud.wire.requests import parse_publications


@pytest.mark.parametrize(
    ("pattern", "filter_", "covered"),
    [
        ("home/#", "home/#", True),
        ("home/#", "home", True),  # a/# matches a
        ("home/#", "home/+/temp", True),
        ("home/#", "home/kitchen/#", True),
        ("home/#", "#", False),
        ("home/#", "+/temp", False),
        ("home/#", "homes/x", False),
        ("home/+", "home/kitchen", True),
        ("home/+", "home/+", True),
        ("home/+", "home/#", False),  # reaches home and home/a/b
        ("home/+", "home/a/b", False),
        ("home/kitchen", "home/+", False),
        ("a", "a/#", False),
        ("a/+/#", "a/+", True),
        ("#", "anything/at/all", True),
        ("#", "$SYS/clients/+", False),  # a leading wildcard matches no $ name
        ("+/temp", "$x/temp", False),
        ("$SYS/clients/+", "$SYS/clients/+", True),
        ("$SYS/clients/+", "$SYS/clients/kitchen", True),
        ("$SYS/clients/+", "$SYS/#", False),
    ],
)
def test_covers(pattern, filter_, covered):
    assert covers(pattern, filter_) is covered


def test_name_patterns_take_a_trailing_star_within_a_level():
    assert name_allowed("door-*", "door-front") and name_allowed("door-*", "door-")
    assert not name_allowed("door-*", "door-a/b") and not name_allowed("door-*", "window")
    assert name_allowed("a*b", "a*b") and not name_allowed("a*b", "axb")  # only a last '*' is a wildcard
    assert name_allowed("kitchen", "kitchen") and not name_allowed("kitchen", "kitchen2")


def test_client_name_stands_in_for_percent_c():
    mine = Permissions(("sensors/%c/#", "status"), "kitchen")
    assert mine.patterns == ("sensors/kitchen/#", "status")
    assert mine.may_use("sensors/kitchen/temp") and not mine.may_use("sensors/hall/temp")
    # Mosquitto's rule: such a name would make %c a wildcard or a new level.
    for name in ("#", "+", "a/b", "", "$SYS"):  # "$SYS" would make %c/# the hub's own $SYS/#
        assert Permissions(("sensors/%c/#",), name).patterns == ()


class Inbox:
    def __init__(self):
        self.got = []

    def deliver(self, message):
        self.got.append(json.loads(message.payload)["event"])


def test_the_hub_refuses_publishes_and_subscriptions_outside_the_rights():
    pubsub = PubSub(MemoryBroker())
    sensor = Permissions(("sensors/%c/#",), "kitchen")
    watcher, inbox = Permissions(("sensors/#",), "tablet"), Inbox()
    pubsub.join(inbox, "sensors/+/temp", None, lambda joined: None, watcher)
    with pytest.raises(Forbidden, match=r"may not subscribe to '#' \(its topics: sensors/#\)"):
        pubsub.join(inbox, "#", None, lambda joined: None, watcher)

    pubsub.publish_batch(parse_publications(b'{"event": "sensors/kitchen/temp", "data": 21}'), sensor)
    with pytest.raises(Forbidden, match=r"may not publish to 'door/lock' \(its topics: sensors/%c/#\)"):
        pubsub.publish_batch(parse_publications(b'{"event": "door/lock", "data": "open"}'), sensor)
    # A batch is all or nothing: the element outside the rights stops all of it.
    batch = b'[{"event": "sensors/kitchen/temp"}, {"event": "sensors/hall/temp"}]'
    with pytest.raises(Forbidden, match="batch element 1") as info:
        pubsub.publish_batch(parse_publications(batch), sensor)
    assert info.value.index == 1
    assert inbox.got == ["sensors/kitchen/temp"]
