"""MQTT persistent sessions, saved through the Store port and restored at
start, so that a hub restart does not lose what a device subscribed to or
the QoS 1 and 2 messages it has yet to receive.

What is saved of a session: its client id, the key it was made under (as a
salted PBKDF2 of the key's fingerprint: the file does not tell which key),
its subscriptions and granted QoS, the messages queued and in flight (their
MQTT bytes exactly), the ids of QoS 2 publishes awaiting PUBREL, and when
its client left. Clean sessions are not saved: they end with their
connection. A session is not restored if its key is gone or can no longer
subscribe or admit its client id, or if it expired while the hub was down
(counted and logged); subscriptions the key no longer covers are dropped, and
so are the messages no kept subscription matches.

A snapshot is taken on the event loop (references only); encoding it runs
in the store's writer thread.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from base64 import b64decode, b64encode
from typing import Any, Callable

import ujson

from ...exceptions import ProtocolError
from ...hub.keys import ADMIN_GRANT, Grant, allows
from ...hub.message import Message
from ...wire.codec import dumps
from ...wire.topics import matches, validate_filter
from .pool import mqtt_payload
from .session import Outgoing, Session

log = logging.getLogger("picloud.mqtt")

VERSION = 2
#: Slow enough that the file is no quick way to try keys, fast enough for many keys at start.
KEY_TAG_ROUNDS = 2000


class KeyTags:
    """The tag a key's fingerprint is saved under, cached per fingerprint."""

    def __init__(self, salt: bytes) -> None:
        self.salt = salt
        self._tags: dict[bytes, str] = {}

    def __call__(self, fingerprint: bytes | None) -> str | None:
        if fingerprint is None:
            return None
        tag = self._tags.get(fingerprint)
        if tag is None:
            tag = self._tags[fingerprint] = hashlib.pbkdf2_hmac(
                "sha256", fingerprint, self.salt, KEY_TAG_ROUNDS).hex()
        return tag


def _message(message: Message) -> tuple[str, bytes, int, bool, bool]:
    return message.event, mqtt_payload(message), message.qos, message.from_retained, message.retain


def snapshot(sessions: list[Session], tags: KeyTags) -> Callable[[], bytes]:
    """What to save, taken now; the returned function encodes it (off the loop)."""
    now = time.time()
    taken = [(session.client_id, session.key_fingerprint, session.left_wall,
              session.left_wall is not None and not session.connected_at_stop, dict(session.subscriptions),
              [(_message(message), qos) for message, qos, _ in session.queue],
              [(packet_id, _message(out.message), out.qos, out.released)
               for packet_id, out in session.inflight.items()],
              sorted(session.awaiting_release), session.next_id)
             for session in sessions if not session.clean]

    def encode() -> bytes:
        records = [{
            "id": client_id, "key": tags(fingerprint), "left": now if left is None else left,
            "away": was_away, "subscriptions": subscriptions,
            "queue": [[_encoded(message), qos] for message, qos in queue],
            "inflight": [[packet_id, _encoded(message), qos, released]
                         for packet_id, message, qos, released in inflight],
            "awaiting_release": awaiting, "next_id": next_id,
        } for client_id, fingerprint, left, was_away, subscriptions, queue, inflight, awaiting, next_id in taken]
        return dumps({"version": VERSION, "salt": tags.salt.hex(), "saved": now, "sessions": records})

    return encode


def _encoded(message: tuple[str, bytes, int, bool, bool]) -> list[Any]:
    event, payload, qos, from_retained, retain = message
    return [event, b64encode(payload).decode("ascii"), qos, from_retained, retain]


def _decoded(item: list[Any]) -> Message:
    event, payload, qos, from_retained, retain = item
    if not isinstance(event, str) or not event or "+" in event or "#" in event or type(qos) is not int \
            or qos not in (0, 1, 2):
        raise ValueError(f"bad message for {event!r}")
    message = Message(event, b"")  # only its MQTT bytes are ever sent again
    message.raw = b64decode(payload, validate=True)
    message.qos = qos
    message.from_retained = bool(from_retained)
    message.retain = bool(retain)  # what a bridge is sent (connection.py)
    return message


def _packet_id(value: Any) -> int:
    if type(value) is not int or not 1 <= value <= 65535:
        raise ValueError(f"bad packet id {value!r}")
    return value


def _qos(value: Any) -> int:
    if value not in (1, 2) or type(value) is not int:
        raise ValueError(f"bad qos {value!r}")
    return int(value)


class Restored:
    """What a restore brought back and what it did not."""

    def __init__(self) -> None:
        self.sessions = 0
        self.messages = 0
        self.expired = 0
        self.revoked = 0
        self.subscriptions_dropped = 0
        self.messages_dropped = 0
        self.unreadable = 0
        self.file_unreadable = False
        self.were_away: list[Session] = []  # restored, and away before the hub stopped


def restore_sessions(listener: Any, data: bytes) -> Restored:
    """Bring back the sessions saved in ``data`` into ``listener``
    (listener.MqttListener): subscribed in the hub again, their clients away."""
    done = Restored()
    state = listener.state
    try:
        doc = ujson.loads(data)
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}")
        tags = KeyTags(bytes.fromhex(doc["salt"]))
        records = doc["sessions"]
        if not isinstance(records, list):
            raise TypeError("sessions are not a list")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        log.error("cannot read the saved mqtt sessions (%s): starting without them", exc)
        done.file_unreadable = True
        return done
    grants: dict[str | None, tuple[bytes | None, Grant]]
    if state.auth.open:
        grants = {None: (None, ADMIN_GRANT)}
    else:
        grants = {tags(fp): (fp, grant) for fp, grant in state.auth.fingerprints()}
    now_wall, now = time.time(), time.monotonic()
    expiry = state.config.mqtt_session_expiry
    restored: list[tuple[Session, bool]] = []
    seen: set[str] = set()
    for record in records:
        try:
            if record["id"] in seen:
                raise ValueError(f"client id {record['id']!r} saved twice")
            one = _restore_one(listener, record, grants, now_wall - expiry, done)
        except (ValueError, TypeError, KeyError, AttributeError, ProtocolError) as exc:
            log.warning("saved mqtt session not restored: %s", exc)
            done.unreadable += 1
            continue
        if one is not None:
            seen.add(one[0].client_id)
            restored.append(one)
    restored.sort(key=lambda one: one[0].left_wall or now_wall)  # the longest away ends first
    for session, was_away in restored:
        session.left_at = now - max(0.0, now_wall - (session.left_wall or now_wall))
        if session.queued_bytes:
            listener.pool.away_queued(session, session.queued_bytes)  # in leaving order
        listener.adopt(session)
        done.sessions += 1
        done.messages += len(session.queue) + len(session.inflight)
        if was_away:
            done.were_away.append(session)
    return done


def _restore_one(listener: Any, record: dict[str, Any], grants: dict[str | None, tuple[bytes | None, Grant]],
                 expired_before: float, done: Restored) -> tuple[Session, bool] | None:
    client_id = record["id"]
    if not isinstance(client_id, str) or client_id in listener.sessions:
        raise ValueError(f"bad or repeated client id {client_id!r}")
    left = float(record["left"])
    if left < expired_before:
        done.expired += 1
        return None
    found = grants.get(record["key"])
    if found is None or not found[1].admits(client_id) or not allows(found[1].role, "subscribe"):
        done.revoked += 1
        return None
    fingerprint, grant = found
    inflight = {}
    for packet_id, item, qos, released in record["inflight"]:
        outgoing = inflight[_packet_id(packet_id)] = Outgoing(_decoded(item), _qos(qos), 0)
        outgoing.released = bool(released)
    queue = [(_decoded(item), _qos(qos)) for item, qos in record["queue"]]
    awaiting = {_packet_id(packet_id) for packet_id in record["awaiting_release"]}
    subscriptions = record["subscriptions"]
    if not isinstance(subscriptions, dict):
        raise TypeError("subscriptions are not an object")
    for filter_ in subscriptions:
        validate_filter(filter_)
    next_id = record["next_id"]
    if type(next_id) is not int or not 0 <= next_id <= 65535:
        raise ValueError(f"bad next packet id {next_id!r}")
    # All read: from here on nothing raises.
    pubsub = listener.state.pubsub
    session = Session(client_id, False, listener.pool)
    session.key_fingerprint = fingerprint
    session.permissions = permissions = grant.permissions(client_id)
    session.left_wall = left
    session.next_id = next_id
    for filter_, qos in subscriptions.items():
        if (type(qos) is not int or qos not in (0, 1, 2)
                or (permissions is not None and not permissions.may_subscribe(filter_))
                or pubsub.subscriptions >= pubsub.max_total_subscriptions
                or len(session.subscriptions) >= pubsub.max_subscriptions):
            done.subscriptions_dropped += 1
            continue
        # Subscribed without a catch-up: its client had the retained values.
        pubsub.subscribe(session, filter_)
        session.subscriptions[filter_] = qos
    session.regranted()

    def wanted(message: Message) -> bool:
        if any(matches(filter_, message.event) for filter_ in session.subscriptions):
            return True
        done.messages_dropped += 1
        return False

    pool = listener.pool
    for packet_id, outgoing in inflight.items():
        if wanted(outgoing.message):
            outgoing.size = len(outgoing.message.raw or b"")
            session.inflight[packet_id] = outgoing
            pool.used += outgoing.size
    for message, qos in queue:
        if wanted(message):
            size = len(message.raw or b"")
            session.queue.append((message, qos, size))
            session.queued_bytes += size
            pool.used += size
    session.awaiting_release = awaiting
    return session, bool(record.get("away", True))


def new_salt() -> bytes:
    return secrets.token_bytes(16)
