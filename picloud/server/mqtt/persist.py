"""MQTT persistent sessions, saved through the Store port and restored at
start, so that a hub restart does not lose what a device subscribed to or
the QoS 1 and 2 messages it has yet to receive.

What is saved of a session: its client id, the key it was made under (as a
keyed hash: the file alone does not tell which key), its subscriptions and
granted QoS, the messages queued and in flight (their MQTT bytes exactly),
the ids of QoS 2 publishes awaiting PUBREL, and when its client left.
Clean sessions (clean session 1) are not saved: they end with their
connection. A session whose key is gone, whose key no longer admits its
client id, or that expired while the hub was down is not restored (counted
and logged); a subscription the key no longer covers is dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from base64 import b64decode, b64encode
from typing import Any

import ujson

from ...exceptions import ProtocolError
from ...hub.keys import ADMIN_GRANT, Grant
from ...hub.message import Message
from ...wire.codec import dumps
from ...wire.topics import validate_filter
from .session import Outgoing, Session, size_of

log = logging.getLogger("picloud.mqtt")

VERSION = 1


def key_tag(salt: bytes, fingerprint: bytes | None) -> str | None:
    return None if fingerprint is None else hmac.new(salt, fingerprint, hashlib.sha256).hexdigest()


def encode_message(message: Message) -> list[Any]:
    raw = None if message.raw is None else b64encode(message.raw).decode("ascii")
    return [message.event, message.payload.decode("utf-8"), raw, message.qos, message.from_retained, message.seq]


def decode_message(item: list[Any]) -> Message:
    event, payload, raw, qos, from_retained, seq = item
    if not isinstance(event, str) or qos not in (0, 1, 2):
        raise ValueError(f"bad message for {event!r}")
    message = Message(event, payload.encode("utf-8"))
    message.raw = None if raw is None else b64decode(raw, validate=True)
    message.qos = qos
    message.from_retained = bool(from_retained)
    message.seq = int(seq)
    return message


def encode_sessions(sessions: list[Session], salt: bytes) -> bytes:
    now = time.time()
    records = []
    for session in sessions:
        if session.clean:
            continue
        records.append({
            "id": session.client_id,
            "key": key_tag(salt, session.key_fingerprint),
            "left": now if session.left_wall is None else session.left_wall,
            "subscriptions": session.subscriptions,
            "queue": [[encode_message(message), qos] for message, qos in session.queue],
            "inflight": [[packet_id, encode_message(out.message), out.qos, out.released]
                         for packet_id, out in session.inflight.items()],
            "awaiting_release": sorted(session.awaiting_release),
            "next_id": session.next_id,
        })
    return dumps({"version": VERSION, "salt": salt.hex(), "saved": now, "sessions": records})


class Restored:
    """What a restore brought back and what it did not."""

    def __init__(self) -> None:
        self.sessions = 0
        self.messages = 0
        self.expired = 0
        self.revoked = 0
        self.subscriptions_dropped = 0
        self.unreadable = 0


def restore_sessions(listener: Any, data: bytes) -> Restored:
    """Bring back the sessions saved in ``data`` into ``listener``
    (listener.MqttListener): subscribed in the hub again, their clients away."""
    done = Restored()
    state = listener.state
    try:
        doc = ujson.loads(data)
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}")
        salt = bytes.fromhex(doc["salt"])
        records = doc["sessions"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.error("cannot read the saved mqtt sessions (%s): starting without them", exc)
        done.unreadable += 1
        return done
    grants: dict[str | None, tuple[bytes | None, Grant]]
    if state.auth.open:
        grants = {None: (None, ADMIN_GRANT)}
    else:
        grants = {key_tag(salt, fp): (fp, grant) for fp, grant in state.auth.fingerprints()}
    now_wall, now = time.time(), time.monotonic()
    expiry = state.config.mqtt_session_expiry
    sessions: list[Session] = []
    seen: set[str] = set()
    for record in records:
        try:
            if record["id"] in seen:
                raise ValueError(f"client id {record['id']!r} saved twice")
            session = _restore_one(listener, record, grants, now_wall - expiry, done)
        except (ValueError, TypeError, KeyError, AttributeError, ProtocolError) as exc:
            log.warning("saved mqtt session not restored: %s", exc)
            done.unreadable += 1
            continue
        if session is not None:
            seen.add(session.client_id)
            sessions.append(session)
    sessions.sort(key=lambda session: session.left_wall or now_wall)  # the longest away ends first
    for session in sessions:
        session.left_at = now - max(0.0, now_wall - (session.left_wall or now_wall))
        listener.adopt(session)
        done.sessions += 1
        done.messages += len(session.queue) + len(session.inflight)
    return done


def _restore_one(listener: Any, record: dict[str, Any], grants: dict[str | None, tuple[bytes | None, Grant]],
                 expired_before: float, done: Restored) -> Session | None:
    client_id = record["id"]
    if not isinstance(client_id, str) or client_id in listener.sessions:
        raise ValueError(f"bad or repeated client id {client_id!r}")
    left = float(record["left"])
    if left < expired_before:
        done.expired += 1
        return None
    found = grants.get(record["key"])
    if found is None or not found[1].admits(client_id):
        done.revoked += 1
        return None
    fingerprint, grant = found
    inflight = {}
    for packet_id, item, qos, released in record["inflight"]:
        outgoing = inflight[int(packet_id)] = Outgoing(decode_message(item), int(qos))
        outgoing.released = bool(released)
    queue = [(decode_message(item), int(qos)) for item, qos in record["queue"]]
    awaiting = {int(packet_id) for packet_id in record["awaiting_release"]}
    subscriptions = record["subscriptions"]
    if not isinstance(subscriptions, dict):
        raise TypeError("subscriptions are not an object")
    for filter_ in subscriptions:
        validate_filter(filter_)
    next_id = int(record["next_id"]) % 65536
    # All read: from here on nothing raises.
    pubsub = listener.state.pubsub
    session = Session(client_id, False, listener.pool)
    session.key_fingerprint = fingerprint
    session.permissions = permissions = grant.permissions(client_id)
    session.left_wall = left
    session.next_id = next_id
    for filter_, qos in subscriptions.items():
        if (qos not in (0, 1, 2) or (permissions is not None and not permissions.may_subscribe(filter_))
                or pubsub.subscriptions >= pubsub.max_total_subscriptions
                or len(session.subscriptions) >= pubsub.max_subscriptions):
            done.subscriptions_dropped += 1
            continue
        # Subscribed without a catch-up: its client had the retained values.
        pubsub.subscribe(session, filter_)
        session.subscriptions[filter_] = qos
    session.regranted()
    session.inflight = inflight
    session.queue.extend(queue)
    session.queued_bytes = sum(size_of(message) for message, _ in queue)
    session.awaiting_release = awaiting
    listener.pool.used += session.queued_bytes + sum(size_of(out.message) for out in inflight.values())
    return session


def new_salt() -> bytes:
    return secrets.token_bytes(16)
