"""Routing what arrives on a node's Redis pub/sub connection
(picloud/brokers/redis/inbound.py), without Redis: the bytes a node would receive."""

from __future__ import annotations

import asyncio

from picloud.brokers.redis.backlog import Backlog
from picloud.brokers.redis.channels import Channels
from picloud.brokers.redis.inbound import Inbound
from picloud.brokers.redis.sequencer import Sequencer

CONTROL = b"picloud:ctl:me"


def node() -> tuple[Inbound, Channels, list]:
    channels = Channels("picloud")
    sequencer = Sequencer("picloud", b"me\n", channels.prefix, CONTROL, Backlog(10))
    inbound = Inbound(b"me\n", channels, CONTROL, sequencer)
    delivered: list = []
    inbound.deliver = sequencer.deliver = delivered.append
    return inbound, channels, delivered


def test_another_nodes_message_is_delivered_as_it_was_encoded():
    inbound, channels, delivered = node()
    frame = '{"action":"publish","event":"kitchen/température","data":1}'.encode()
    inbound.receive(channels.channel("kitchen/température"), b"other\n" + frame)
    (message,) = delivered
    assert (message.event, message.payload) == ("kitchen/température", frame)


def test_own_messages_and_what_is_not_a_message_are_not_delivered():
    inbound, channels, delivered = node()
    inbound.receive(channels.channel("t"), b'me\n{"action":"publish"}')  # delivered here already
    inbound.receive(channels.channel("t"), b"no newline, no node")
    inbound.receive(b"picloud:msg:\xff", b"other\n{}")  # not an event name
    inbound.receive(b"elsewhere:msg:t", b"other\n{}")  # another prefix
    inbound.receive(channels.channel("t"), b"me 7\n{}")  # an echo nobody waits for
    assert delivered == []


def test_a_marker_on_the_control_channel_completes_its_catch_up():
    inbound, channels, _ = node()

    async def scenario():
        marker, arrived = channels.confirmations.marker()
        inbound.receive(CONTROL, marker)
        await asyncio.wait_for(arrived, 1)

    asyncio.run(scenario())
