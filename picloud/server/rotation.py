"""Key rotation: ``SIGHUP`` re-reads the key files.

Connections whose key still grants their route stay, under the key's new
topic rights: subscriptions those no longer cover are dropped with an error
frame, and a connection left with nothing it may do is closed with 1008, as
is one whose key was removed or may no longer use the route or its client
name. A bad file keeps the old keys.
"""

from __future__ import annotations

import logging
from typing import Any

from ..exceptions import ConfigError
from ..hub.keys import ADMIN_GRANT, Grant, allows, fingerprint, forget_fingerprints
from .keyfiles import keys_from_config
from .state import HubState, OpenSocket

log = logging.getLogger("picloud.keys")

CLOSE_POLICY_VIOLATION = 1008


def reload_keys(state: HubState) -> int:
    """Re-read the keys (SIGHUP); apply them to open connections.

    A bad file keeps the old keys: a typo must not lock everyone out.
    Returns how many connections were closed.
    """
    if state.auth.open:
        return 0
    try:
        keys = keys_from_config(state.config)
    except ConfigError as exc:
        log.error("keeping the old keys: %s", exc)
        return 0
    if not keys:
        log.error("keeping the old keys: the new settings name no key")
        return 0
    state.auth.replace(keys)
    forget_fingerprints()
    grants = {fingerprint(key): grant for key, grant in keys.items()}
    closed = 0
    for sock in list(state.sockets):
        grant = None if sock.key_fingerprint is None else grants.get(sock.key_fingerprint)
        reason = recheck(state, sock, grant)
        if reason is not None:
            closed += 1
            sock.close_gracefully(CLOSE_POLICY_VIOLATION, reason)
    for conn in list(state.mqtt):
        grant = None if conn.key_fingerprint is None else grants.get(conn.key_fingerprint)
        if recheck_mqtt(state, conn, grant):
            closed += 1
    for session in list(state.mqtt_sessions.values()):
        # Sessions whose client is away collect nothing outside the key's new rights.
        if session.link is None and state.mqtt_listener is not None:
            made_under = session.key_fingerprint
            grant = ADMIN_GRANT if state.auth.open else None if made_under is None else grants.get(made_under)
            state.mqtt_listener.narrow(session, grant)
    log.info("reloaded %d keys; closed %d connections the new keys no longer allow", len(keys), closed)
    return closed


def recheck_mqtt(state: HubState, conn: Any, grant: Grant | None) -> bool:
    """Put an MQTT connection under ``grant``; True if it was closed. MQTT has
    no way to tell a client a subscription ended: the log says so."""
    session = conn.session
    if session is None or conn.connect is None:
        return False
    client_id = conn.connect.client_id
    if grant is None or not grant.admits(client_id):
        log.info("closing mqtt %s: its key was revoked", conn.describe())
        conn.grant = None
        conn.graceful = True  # no will in the name of a revoked key
        conn.close()
        return True
    conn.grant = grant
    permissions = conn.permissions = session.permissions = grant.permissions(client_id)
    may_subscribe = allows(grant.role, "subscribe")
    dropped = False
    for filter_ in list(session.subscriptions):
        if not may_subscribe or (permissions is not None and not permissions.may_subscribe(filter_)):
            state.pubsub.unsubscribe(session, filter_)
            session.set_granted(filter_, None)
            dropped = True
            log.info("mqtt %s: subscription to %r dropped: outside the key's new topics", conn.describe(), filter_)
    if dropped:
        session.keep_only_matched()  # what they queued goes with them
    return False


def recheck(state: HubState, sock: OpenSocket, grant: Grant | None) -> str | None:
    """Put ``sock`` under ``grant``; the reason to close it, if any."""
    if grant is None or not allows(grant.role, sock.action):
        return "api key revoked"
    if grant.restricted and sock.shows_everything:
        return "this key is now held to some topics"
    if sock.client_name and not grant.admits(sock.client_name):
        return f"this key may no longer use the client name {sock.client_name!r}"
    permissions = sock.permissions = grant.permissions(sock.client_name)
    if permissions is None:
        return None
    if not permissions.patterns:
        return "this key's topics leave nothing for this client name"
    pubsub = state.pubsub
    events = pubsub.events_of(sock)
    dropped = [event for event in events if not permissions.may_subscribe(event)]
    for event in dropped:
        pubsub.unsubscribe(sock, event)
        error = permissions.refuse("subscribe to", event)
        sock.send_error_frame(type(error)(f"subscription dropped: {error}"))
    if events and len(dropped) == len(events):
        return "no subscription left that this key allows"
    return None
