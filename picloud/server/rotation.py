"""Key rotation: ``SIGHUP`` re-reads the key files.

Connections whose key is still valid for their route stay; the others are
closed with 1008. A bad file keeps the old keys.
"""

from __future__ import annotations

import logging

from ..exceptions import ConfigError
from ..hub.keys import allows, fingerprint
from .keyfiles import keys_from_config
from .state import HubState

log = logging.getLogger("picloud.keys")

CLOSE_POLICY_VIOLATION = 1008


def reload_keys(state: HubState) -> int:
    """Re-read the keys (SIGHUP); close connections whose key no longer fits.

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
    roles = {fingerprint(key): role for key, role in keys.items()}
    closed = 0
    for sock in list(state.sockets):
        fingerprint_of = sock.key_fingerprint
        if fingerprint_of is None or not allows(roles.get(fingerprint_of), sock.action):
            closed += 1
            sock.close_gracefully(CLOSE_POLICY_VIOLATION, "api key revoked")
    log.info("reloaded %d keys; closed %d connections whose key was revoked", len(keys), closed)
    return closed
