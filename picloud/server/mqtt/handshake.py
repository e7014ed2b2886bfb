"""CONNECT and the end of a connection: the key, the client id, the
session taken over or made, CONNACK; and, when the client goes, its will and
its session kept or dropped.

The MQTT password is the API key; the username is free (Home Assistant and
Zigbee2MQTT always send one), and a key given as the username with no
password is taken too, since 3.1.1 forbids a password without a username
[MQTT-3.1.2-22]. The key's role and topic rights hold as on every route,
with ``%c`` the client id.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets

from ...exceptions import ProtocolError
from ...hub.keys import allows, fingerprint
from ...hub.limits import AUTH_FAIL_WINDOW
from ...wire.codec import validate_client_name
from ...wire.mqtt import packets as p
from .peer import Peer
from .publishing import publish_from_client
from .session import Session

log = logging.getLogger("picloud.mqtt")

#: Client id limits [MQTT-3.1.3-5]: 23 bytes at 3.1; 3.1.1 lets a server take more.
MAX_ID_BYTES = {3: 23, 4: 128}


def handle_connect(conn: Peer, packet: p.Connect) -> bool:
    """Answer CONNECT; True when the client is in."""
    code = check(conn, packet)
    listener = conn.listener
    if code != p.ACCEPTED:
        conn.send(p.encode_connack(False, code))
        conn.flush_queue()
        conn.graceful = True  # a refused CONNECT leaves no will
        return False
    state = conn.state
    state.pending.settle(conn.pending_key)
    conn.connect = packet
    conn.bridge = packet.bridge
    conn.direct = not packet.bridge
    conn.keepalive = packet.keepalive
    old = listener.sessions.get(packet.client_id)
    if old is not None and old.link is not None:
        taken = old.link
        log.info("mqtt client id %r connected again from %s: closing the older connection",
                 packet.client_id, conn.address)
        taken.close()  # its will goes out: it left without DISCONNECT
        old = listener.sessions.get(packet.client_id)
    if old is not None and (packet.clean or old.key_fingerprint != conn.key_fingerprint):
        # Another key presenting the id does not inherit what the first
        # subscribed to and collected (its rights may be narrower).
        listener.forget(old)
        old = None
    present = old is not None
    session = old or Session(packet.client_id, packet.clean, listener.pool)
    session.clean = packet.clean
    session.permissions = conn.permissions
    session.key_fingerprint = conn.key_fingerprint
    conn.session = session
    state.pubsub.connect(session, packet.client_id, conn.address, details(packet))
    conn.send(p.encode_connack(present, p.ACCEPTED))
    session.attach(conn)
    listener.adopt(session)
    if log.isEnabledFor(logging.INFO):  # describe() costs, and a reconnecting house calls it a lot
        log.info("connect mqtt %s (level %d%s%s, keepalive %ds)", conn.describe(), packet.level,
                 ", bridge" if packet.bridge else "", ", clean" if packet.clean else "", packet.keepalive)
    return True


#: What /info shows of MQTT connections, one dict per kind shared by all
#: connections of that kind (an idle connection's memory counts).
_DETAILS: dict[tuple[int, int, bool], dict[str, object]] = {}


def details(packet: p.Connect) -> dict[str, object]:
    kind = (packet.level, packet.keepalive, packet.clean)
    found = _DETAILS.get(kind)
    if found is None:
        if len(_DETAILS) > 1000:
            _DETAILS.clear()
        found = _DETAILS[kind] = {"protocol": "mqtt 3.1.1" if packet.level == 4 else "mqtt 3.1",
                                  "keepalive": packet.keepalive, "clean_session": packet.clean}
    return found


def check(conn: Peer, packet: p.Connect) -> int:
    """The CONNACK return code for ``packet`` [MQTT-3.2.2-3]."""
    state = conn.state
    if packet.level not in MAX_ID_BYTES:
        log.info("mqtt %s: protocol level %d is not 3 (MQIsdp) or 4 (MQTT)", conn.address, abs(packet.level))
        return p.BAD_PROTOCOL
    client_id = packet.client_id
    if not client_id:
        if packet.level == 3 or not packet.clean:
            return p.BAD_CLIENT_ID  # [MQTT-3.1.3-8]
        client_id = packet.client_id = f"auto-{secrets.token_hex(8)}"  # [MQTT-3.1.3-6]
    if len(client_id.encode("utf-8")) > MAX_ID_BYTES[packet.level]:
        return p.BAD_CLIENT_ID
    try:
        validate_client_name(client_id)
    except ProtocolError:
        return p.BAD_CLIENT_ID
    if conn.listener.count() > state.config.max_connections:
        return p.UNAVAILABLE
    throttle = state.throttle
    address = conn.throttled_address()
    if address is not None and throttle.blocked(address):
        state.errors["auth"] += 1
        return p.NOT_AUTHORIZED
    key = presented_key(packet, conn.query_key)
    grant = state.auth.grant_of(key)
    if grant is None:
        state.errors["auth"] += 1
        if key and address is not None and throttle.failed(address):
            log.warning("blocking %s for %gs after %d wrong keys in %gs",
                        address, throttle.block, throttle.limit, AUTH_FAIL_WINDOW)
        return p.BAD_CREDENTIALS if key else p.NOT_AUTHORIZED
    if not (allows(grant.role, "publish") or allows(grant.role, "subscribe")) or not grant.admits(client_id):
        state.errors["auth"] += 1
        return p.NOT_AUTHORIZED
    conn.grant = grant
    conn.permissions = grant.permissions(client_id)
    # Without keys (--no-auth) whatever a client sends as username is no key:
    # its sessions belong to nobody in particular.
    conn.key_fingerprint = None if key is None or state.auth.open else fingerprint(key)
    return p.ACCEPTED


def throttled(host: str, xheaders: bool) -> str | None:
    """The address wrong keys count against. Behind a proxy (--xheaders) an
    MQTT connection from loopback is the proxy's (nginx's stream module, which
    forwards no address): None, never blocked, as it stands for every device."""
    if xheaders:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return host
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1, as a dual-stack socket reports it
        if ip.is_loopback:
            return None
    return host


def presented_key(packet: p.Connect, query_key: str | None = None) -> str | None:
    """The key: one given in /mqtt's URL (checked at the upgrade), else the
    password, else the username."""
    if query_key is not None:
        return query_key
    if packet.password is not None:
        return packet.password.decode("utf-8", "replace")
    return packet.username or None


def hang_up(conn: Peer) -> None:
    """The connection is gone: its will if it did not say DISCONNECT, and its
    session kept (clean session 0) or dropped."""
    listener = conn.listener
    listener.connections.discard(conn)
    conn.state.pending.settle(conn.pending_key)
    conn.stop_queue()
    session = conn.session
    if session is None or session.link is not conn:
        return  # refused, or taken over by a newer connection
    packet = conn.connect
    try:
        if packet is not None and not conn.graceful and packet.will_topic is not None:
            publish_from_client(conn, packet.will_topic, packet.will_payload, packet.will_qos, packet.will_retain,
                                what="will")
    finally:
        end_session(conn, session)


def end_session(conn: Peer, session: Session) -> None:
    session.detach()
    listener = conn.listener
    pubsub = conn.state.pubsub
    if session.clean:
        listener.forget(session)
    else:
        pubsub.leave(session)
        listener.went_away(session)
    if log.isEnabledFor(logging.INFO):
        log.info("disconnect mqtt %s%s", conn.describe(), "" if conn.graceful else " (no DISCONNECT)")
