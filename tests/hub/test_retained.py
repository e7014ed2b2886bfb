"""Retained values (picloud/hub/retained.py): the retained variant is encoded once."""

from __future__ import annotations

from picloud.brokers.memory import MemoryBroker
from picloud.hub.pubsub import PubSub


def test_retained_variant_is_encoded_once_for_every_late_subscriber():
    pubsub = PubSub(MemoryBroker())

    class Inbox:
        def __init__(self):
            self.got = []

        def deliver(self, message):
            self.got.append(message)

    pubsub.publish("t", 1, retain=True)
    first, second = Inbox(), Inbox()
    for inbox in (first, second):
        pubsub.join(inbox, "t", None, lambda joined: None)
    assert first.got[0] is second.got[0]  # one Message, one frame, shared
    assert first.got[0].frame is second.got[0].frame
