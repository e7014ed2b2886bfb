"""The hub-wide limits an MQTT connection's reading meets: what its partial
packets hold counts in --max-total-inbound-bytes, and --publish-rate holds
a publisher's reading back instead of dropping what it sends."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from ...wire.mqtt import packets as p
from ...wire.mqtt.packets import MqttError
from .publishing import dispatch


async def dispatch_paced(conn: Any, packets: list[Any]) -> None:
    """Under --publish-rate: a publisher over its rate is not read until
    the rate allows (its socket fills, TCP slows it), rather than having
    its messages dropped, which 3.1.1 could not even tell it."""
    bucket = conn.bucket
    assert bucket is not None
    for packet in packets:
        if type(packet) is p.Publish:
            while not bucket.take():
                conn.held = True
                await asyncio.sleep(bucket.wait())
                if conn.closed:  # taken over, or the hub is stopping
                    return
            if conn.held:
                conn.held = False
                conn.last_seen = time.monotonic()  # held by us, not silent
        dispatch(conn, packet)
        if conn.closed:
            return


def charge_inbound(conn: Any) -> None:
    """What the parser holds of a partial packet counts in the hub's
    --max-total-inbound-bytes, with the websockets' partial messages."""
    held = conn.parser.buffered
    charged = conn._inbound
    if held == charged:
        return
    budget = conn.state.inbound
    if held > charged and not budget.take(held - charged):
        raise MqttError(f"partial packets of all connections over {budget.limit} bytes "
                        "(--max-total-inbound-bytes)")
    if held < charged:
        budget.give(charged - held)
    conn._inbound = held
