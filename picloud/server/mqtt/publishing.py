"""What an MQTT client sends once connected: PUBLISH at each QoS, the acks
of what it is sent, SUBSCRIBE and UNSUBSCRIBE, PINGREQ and DISCONNECT.

A bridge (the top bit of CONNECT's protocol level, Mosquitto's
``try_private``) is treated as Mosquitto treats one: what it publishes is not
sent back to it, and what it is sent keeps the RETAIN flag it was published
with (connection.py), setting aside [MQTT-3.3.1-9] for it -- MQTT 5's No
Local [MQTT-3.8.3-3] and Retain As Published, which 3.1.1 has no way to ask
for. Without the first, a ``topic ... both`` line would hand the bridge's
local subscribers each message twice; without the second, a value retained
here while the bridge is up would not be retained there.

A publish the hub will not take (outside the key's topics, a name the hub
cannot hold, ``$SYS/``) is dropped and still acknowledged, as 3.1.1 allows
[MQTT-3.3.5-2] and since it has no way to refuse one; it is counted and
logged once per connection.
"""

from __future__ import annotations

import asyncio
import logging

import ujson

from ...exceptions import BrokerError, ProtocolError
from ...hub.keys import allows
from ...hub.message import Message
from ...hub.pubsub import PubSub
from ...wire.codec import validate_event
from ...wire.mqtt import packets as p
from ...wire.mqtt.payloads import BASE64, to_data
from ...wire.topics import validate_filter
from .peer import Peer

log = logging.getLogger("picloud.mqtt")


def dispatch(conn: Peer, packet: p.Packet) -> None:
    session = conn.session
    assert session is not None
    if isinstance(packet, p.Publish):
        on_publish(conn, packet)
    elif isinstance(packet, p.Ack):
        kind, packet_id = packet.kind, packet.packet_id
        if kind in (p.PUBACK, p.PUBCOMP):
            session.acked(packet_id, 1 if kind == p.PUBACK else 2)
        elif kind == p.PUBREC:
            if session.received(packet_id):
                conn.send_pubrel(packet_id)
        else:  # PUBREL: the second half of a QoS 2 publish from the client
            if packet_id in session.awaiting_release:
                session.awaiting_release.discard(packet_id)
                session.changed()  # else, after a crash, the id would still be taken
            conn.send(p.encode_ack(p.PUBCOMP, packet_id))
    elif isinstance(packet, p.Subscribe):
        on_subscribe(conn, packet)
    elif isinstance(packet, p.Unsubscribe):
        for filter_ in packet.filters:
            conn.state.pubsub.unsubscribe(session, filter_)
            session.set_granted(filter_, None)
        conn.send(p.encode_unsuback(packet.packet_id))
    elif isinstance(packet, p.Bare):
        if packet.kind == p.PINGREQ:
            conn.send(p.PINGRESP_BYTES)
        elif packet.kind == p.DISCONNECT:
            conn.graceful = True  # no will [MQTT-3.14.4-3]
            conn.close()
    else:  # a second CONNECT
        raise p.MqttError("a second CONNECT [MQTT-3.1.0-2]")


def on_publish(conn: Peer, packet: p.Publish) -> None:
    session = conn.session
    assert session is not None
    qos, packet_id = packet.qos, packet.packet_id
    if qos == 2 and packet_id in session.awaiting_release:
        # Sent again before our PUBREC arrived: delivered once already.
        conn.send(p.encode_ack(p.PUBREC, packet_id))
        return
    publish_from_client(conn, packet.topic, packet.payload, qos, packet.retain)
    if qos == 1:
        assert packet_id is not None
        conn.send(p.encode_ack(p.PUBACK, packet_id))
    elif qos == 2:
        assert packet_id is not None
        if len(session.awaiting_release) >= 4 * session.max_inflight:
            raise p.MqttError(f"over {4 * session.max_inflight} QoS 2 publishes awaiting PUBREL")
        session.awaiting_release.add(packet_id)
        session.changed()
        conn.send(p.encode_ack(p.PUBREC, packet_id))


def dispatch_all(conn: Peer, packets: list[p.Packet]) -> None:
    """Every packet of one read, in order. QoS 0 and 1 PUBLISH packets go
    through the hub in one pass (``PubSub.publish_messages``), what the key
    allows looked up once per topic, and their PUBACKs go out together once
    their messages are handed to the hub; anything else is dispatch()ed
    once the messages and acks before it are."""
    acks: list[bytes] = []
    allowed: dict[str, bool] = {}
    pubsub = conn.state.pubsub
    grant = conn.grant
    may_publish = grant is not None and allows(grant.role, "publish")
    permissions = conn.permissions
    session = conn.session
    origin = session.client_id if conn.bridge and session is not None else None
    # Handed to the hub together (PubSub.publish_messages: what depends on
    # the topic looked up once per run of it), before anything that follows.
    ready: list[Message] = []
    try:
        for packet in packets:
            if type(packet) is not p.Publish or packet.qos == 2:
                if ready:
                    pubsub.publish_messages(ready)
                    ready = []
                if acks:
                    conn.send(b"".join(acks))
                    acks.clear()
                if type(packet) is p.Ack and packet.kind == p.PUBACK and session is not None:
                    session.acked(packet.packet_id, 1)  # a QoS 1 subscriber's, one a message
                else:
                    dispatch(conn, packet)
            else:
                topic = packet.topic
                ok = allowed.get(topic)
                if ok is None:
                    ok = allowed[topic] = may_publish and (permissions is None or permissions.may_use(topic))
                message = None
                if ok:
                    try:
                        message = client_message(pubsub, topic, packet.payload, packet.qos, packet.retain, origin)
                    except ProtocolError:
                        pass
                if message is not None:
                    ready.append(message)
                else:  # refused: counted and logged as one alone is
                    publish_from_client(conn, topic, packet.payload, packet.qos, packet.retain)
                packet_id = packet.packet_id
                if packet_id is not None:
                    acks.append(bytes((p.PUBACK << 4, 2, packet_id >> 8, packet_id & 0xFF)))
            if conn.closed:
                return
    finally:
        if ready:  # accepted: published even if the connection went meanwhile
            pubsub.publish_messages(ready)
        if acks and not conn.closed:
            conn.send(b"".join(acks))


def publish_from_client(conn: Peer, topic: str, payload: bytes, qos: int, retain: bool,
                        what: str = "publish") -> bool:
    """Hand a client's message (or its will) to the hub; False when dropped."""
    state = conn.state
    grant = conn.grant
    refused = None
    if grant is None or not allows(grant.role, "publish"):
        refused = "this key may not publish"
    elif conn.permissions is not None and not conn.permissions.may_use(topic):
        refused = str(conn.permissions.refuse("publish to", topic))
    if refused is None:
        session = conn.session
        origin = session.client_id if conn.bridge and session is not None else None
        try:
            message = client_message(state.pubsub, topic, payload, qos, retain, origin)
        except ProtocolError as exc:
            refused = str(exc)
        else:
            state.pubsub.publish_message(message)
            return True
    conn.refused_publishes += 1
    state.errors["protocol"] += 1
    if conn.refused_publishes == 1:
        log.warning("mqtt %s: %s dropped: %s", conn.describe(), what, refused)
    return False


def client_message(pubsub: PubSub, topic: str, payload: bytes, qos: int, retain: bool,
                   origin: str | None) -> Message:
    """The hub's message for what a client published; ProtocolError for a
    name the hub cannot hold. ``origin``: the bridge's client id."""
    data, encoding = to_data(payload)
    message = pubsub.prepare(topic, data, retain=retain)
    if encoding == BASE64:
        message.payload = message.payload[:-1] + b',"encoding":"base64"}'
    message.raw = payload
    message.qos = qos
    message.origin = origin
    # Only an empty payload clears a retained value [MQTT-3.3.1-10];
    # the text "null" is a value like any other.
    message.clears = retain and not payload
    return message


def on_subscribe(conn: Peer, packet: p.Subscribe) -> None:
    """SUBACK first, then each new subscription's retained values, with
    RETAIN set [MQTT-3.3.1-8], again for a filter subscribed before
    [MQTT-3.8.4-3]."""
    session = conn.session
    assert session is not None
    pubsub = conn.state.pubsub
    if len(packet.filters) > pubsub.max_subscriptions:
        raise p.MqttError(f"subscribe with {len(packet.filters)} filters, over {pubsub.max_subscriptions}")
    # A filter given twice in one packet is decided, and replayed, once; its
    # last QoS is the one granted, as a later SUBSCRIBE would replace it.
    allowed = {filter_: refusal(conn, filter_) is None for filter_, _ in packet.filters}
    granted = {filter_: qos for filter_, qos in packet.filters if allowed[filter_]}
    codes = [granted[filter_] if allowed[filter_] else p.SUBSCRIBE_FAILURE for filter_, _ in packet.filters]
    conn.send(p.encode_suback(packet.packet_id, codes))
    conn.pace()
    again: list[str] = []  # subscribed before, with retained values the broker keeps
    try:
        for filter_, qos in granted.items():
            session.set_granted(filter_, qos)
            if pubsub.is_subscribed(session, filter_):
                if pubsub.broker.keeps_retained:
                    again.append(filter_)
                for value in pubsub.retained.items(filter_):
                    session.deliver(value)
                continue
            try:
                pubsub.join(session, filter_, None, ignore, conn.permissions)
            except ProtocolError as exc:  # checked above; the hub may have filled meanwhile
                session.set_granted(filter_, None)
                log.warning("mqtt %s: subscription to %r not made: %s", conn.describe(), filter_, exc)
    finally:
        conn.end_pace()
    if again:
        conn.replays = asyncio.ensure_future(replay_retained(conn, again))


async def replay_retained(conn: Peer, filters: list[str]) -> None:
    """A repeated SUBSCRIBE on a hub whose broker keeps the retained values
    (Redis, for every hub): they are read from it, then sent as here."""
    session = conn.session
    broker = conn.state.pubsub.broker
    for filter_ in filters:
        try:
            frames = await broker.retained_frames(filter_, None)
        except BrokerError as exc:
            log.warning("mqtt %s: retained values of %r not sent again: %s", conn.describe(), filter_, exc)
            continue
        if conn.closed or session is None or conn.session is not session:
            return
        if filter_ not in session.subscriptions:
            continue  # unsubscribed meanwhile (or dropped by SIGHUP)
        permissions = conn.permissions  # as they are now, SIGHUP included
        conn.pace()
        try:
            for frame in frames:
                try:
                    event = ujson.loads(frame)["event"]
                except (ValueError, KeyError, TypeError):
                    continue
                if permissions is None or permissions.may_use(event):
                    value = Message(event, frame)
                    value.from_retained = True
                    session.deliver(value)
        finally:
            conn.end_pace()


def refusal(conn: Peer, filter_: str) -> str | None:
    """Why ``filter_`` gets 0x80, or None."""
    session = conn.session
    assert session is not None
    grant = conn.grant
    if grant is None or not allows(grant.role, "subscribe"):
        return "this key may not subscribe"
    try:
        validate_event(filter_)
        validate_filter(filter_)
    except ProtocolError as exc:
        return str(exc)
    if ("+" in filter_ or "#" in filter_) and any(
            level != "+" and level != "#" and ("+" in level or "#" in level) for level in filter_.split("/")):
        # A PiCloud name (c#, a+b), but no MQTT filter [MQTT-4.7.1-2/3]; and
        # no MQTT topic could carry what it matches.
        return f"{filter_!r} is not an mqtt filter: '+' and '#' must be whole levels"
    if conn.permissions is not None and not conn.permissions.may_subscribe(filter_):
        return "outside the key's topics"
    pubsub = conn.state.pubsub
    if not pubsub.is_subscribed(session, filter_):
        if pubsub.subscription_count(session) >= pubsub.max_subscriptions:
            return "too many subscriptions"
        if pubsub.subscriptions >= pubsub.max_total_subscriptions:
            return "the hub has too many subscriptions"
    return None


def ignore(joined: object) -> None:
    """MQTT has no confirmation beyond SUBACK, sent before."""
