"""A keys file with one key of each role, for the hub's key parsing and the
routes' role checks (no sockets, no Tornado)."""

from __future__ import annotations

KEYS = """\
# kitchen dashboard: may watch, may not publish
sub-key-0123456789ab subscribe

pub-key-0123456789ab   publish
admin-key-0123456789ab admin
"""
