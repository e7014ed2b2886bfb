"""Topic rights: what a key may publish and read, and as which client names.

A key's line in the keys file may list topic patterns after its role, in the
hub's wildcards (wire/topics.py), and bind the key to client names::

    Zr4p0Tf2Yq5Kx8Nn  subscribe  home/#  $SYS/clients/+
    Ab9Lm3Qw7Ee1Rt6Y  publish    sensors/%c/#
    Pp3Oo6Ii9Uu2Yy5T  publish    door/#  name=door-*

A key without patterns may do everything its role allows. With patterns, it
may publish to, read the retained values and history of, and subscribe to
only what they cover: a subscription is allowed when one pattern matches
every name the subscription can match (``home/+/temp`` under ``home/#``; not
``#``, nor ``+/temp``). ``%c`` stands for the connection's client name; a
name containing ``/``, ``+`` or ``#`` never satisfies a pattern with ``%c``
(as in Mosquitto: a client named ``#`` would otherwise turn ``sensors/%c/#``
into ``sensors/#/#``), nor does one starting with ``$`` (``%c/#`` would be
``$SYS/#``, the hub's own), nor a request without a client name.

``name=PATTERN`` binds the key to client names. The pattern is the name
itself, or ends in ``*``, which stands for any rest of the name that has no
``/`` (``door-*`` takes ``door-front``, not ``door-x/y``); any other ``*``,
and every ``=``, are ordinary characters: ``name=a=b`` binds the key to the
name ``a=b``. A token starting ``name=`` is always the binding, so no topic
pattern can start with it.

Standard library only: every front end (websocket and HTTP today) applies
the same rights through PubSub.
"""

from __future__ import annotations

from ..exceptions import Forbidden
from ..wire.topics import matches

CLIENT = "%c"
NOT_IN_NAMES = ("/", "+", "#")
#: Event names whose answer a connection remembers: a device publishes the
#: same few, and a dict lookup costs less than walking the patterns.
REMEMBERED = 256


def covers(pattern: str, filter_: str) -> bool:
    """Whether ``pattern`` matches every name that subscription ``filter_``
    can match (both in the hub's wildcards)."""
    if pattern == filter_:
        return True
    want, got = pattern.split("/"), filter_.split("/")
    # A pattern starting with a wildcard matches no $ name (wire/topics.py).
    if got[0].startswith("$") and want[0] in ("+", "#"):
        return False
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(got) or got[i] == "#":
            return False  # the filter reaches names this pattern does not
        if level != "+" and level != got[i]:
            return False  # a different name, or a '+' the pattern has no wildcard for
    return len(got) == len(want)


def name_allowed(pattern: str, name: str) -> bool:
    """Whether ``name=pattern`` admits client name ``name``."""
    if pattern.endswith("*"):
        head = pattern[:-1]
        return name.startswith(head) and "/" not in name[len(head):]
    return name == pattern


class Permissions:
    """A key's topic patterns for one connection, ``%c`` replaced by its
    client name; every check is a walk over them (a key has a handful)."""

    __slots__ = ("_known", "patterns", "written")

    def __init__(self, patterns: tuple[str, ...], client_name: str) -> None:
        self.written = patterns  # as in the keys file, for error messages
        self._known: dict[str, bool] = {}
        usable = []
        for pattern in patterns:
            if CLIENT in pattern:
                if not client_name or client_name[0] == "$" or any(c in client_name for c in NOT_IN_NAMES):
                    continue
                pattern = pattern.replace(CLIENT, client_name)
            usable.append(pattern)
        self.patterns = tuple(usable)

    def may_use(self, event: str) -> bool:
        """Publish to ``event``, or read its retained value and history."""
        known = self._known.get(event)
        if known is None:
            known = any(matches(pattern, event) for pattern in self.patterns)
            if len(self._known) >= REMEMBERED:
                self._known.clear()
            self._known[event] = known
        return known

    def may_subscribe(self, filter_: str) -> bool:
        return any(covers(pattern, filter_) for pattern in self.patterns)

    def refuse(self, verb: str, event: str) -> Forbidden:
        return Forbidden(f"this key may not {verb} {event!r} (its topics: {' '.join(self.written)})")

    def check_publish(self, event: str) -> None:
        if not self.may_use(event):
            raise self.refuse("publish to", event)

    def check_subscribe(self, filter_: str) -> None:
        if not self.may_subscribe(filter_):
            raise self.refuse("subscribe to", filter_)
