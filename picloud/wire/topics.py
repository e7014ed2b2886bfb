"""Wildcard subscriptions (MQTT's topic filters) without any I/O.

Event names are ``/``-separated levels. In a subscription, a level that is
exactly ``+`` matches any one level and a level that is exactly ``#`` (last
level only) matches the rest, including nothing: ``a/#`` matches ``a``. As in
MQTT, ``+`` and ``#`` at the first level do not match names starting with
``$`` (``$SYS/...`` is the hub's own). Anywhere else the two characters are
ordinary, since names from before wildcards existed may contain them:
``c#`` and ``a+b`` are plain names.

Exact names never touch this module's tree: the hub keeps them in a dict,
and a publish consults the tree only while some wildcard filter exists.
Even then most publishes cost one dict lookup: what a name matched is
cached until a filter is added or removed (bench/wildcards.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import ProtocolError

SYSTEM_PREFIX = "$SYS"

# Names whose matches are remembered; past this the cache starts over, so a
# flood of distinct names costs at most this many entries (a few MB at most:
# names that match nothing share one empty tuple). A name not cached costs a
# walk of the tree, about 3 us on a small machine.
MATCH_CACHE_SIZE = 16384
_NOTHING: tuple[Any, ...] = ()


def is_filter(name: str) -> bool:
    """True when ``name`` has a level that is exactly ``+`` or ``#``."""
    if "+" not in name and "#" not in name:
        return False
    return any(level in ("+", "#") for level in name.split("/"))


def validate_filter(name: str) -> str:
    """Return ``name`` if it is a usable subscription, else raise ProtocolError."""
    levels = name.split("/")
    for level in levels[:-1]:
        if level == "#":
            raise ProtocolError(f"'#' must be the last level in {name!r}")
    return name


def check_publishable(event: str) -> str:
    """Refuse names a client may not publish to: wildcards and ``$SYS/...``."""
    if is_filter(event):
        raise ProtocolError(f"cannot publish to {event!r}: a level that is exactly '+' or '#' is a wildcard")
    if event == SYSTEM_PREFIX or event.startswith(SYSTEM_PREFIX + "/"):
        raise ProtocolError(f"cannot publish to {event!r}: '$SYS/' events are the hub's own")
    return event


def matches(filter_: str, name: str) -> bool:
    """Whether subscription ``filter_`` (wildcard or not) matches event ``name``."""
    if filter_ == name:
        return True
    pattern = filter_.split("/")
    levels = name.split("/")
    if name.startswith("$") and pattern[0] in ("+", "#"):
        return False
    for i, want in enumerate(pattern):
        if want == "#":
            return True
        if i >= len(levels):
            return False
        if want != "+" and want != levels[i]:
            return False
    if len(levels) == len(pattern):
        return True
    return False


class _Node:
    __slots__ = ("children", "subscribers")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.subscribers: Any = None  # whatever the caller stored for this filter


class TopicTree:
    """Wildcard filters by level; each filter maps to one value of the caller's
    (the hub stores the filter's subscriber dict, so matching returns the
    very dicts it delivers to)."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0
        self._cache: dict[str, Sequence[Any]] = {}

    def __len__(self) -> int:
        return self.count

    def add(self, filter_: str, value: Any) -> None:
        node = self._root
        for level in filter_.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        if node.subscribers is None:
            self.count += 1
        node.subscribers = value
        self._cache.clear()

    def remove(self, filter_: str) -> None:
        path = [self._root]
        levels = filter_.split("/")
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return
            path.append(child)
        node = path[-1]
        if node.subscribers is None:
            return
        node.subscribers = None
        self.count -= 1
        self._cache.clear()
        # Prune the branch so a tree of departed filters does not linger.
        for depth in range(len(levels), 0, -1):
            node = path[depth]
            if node.children or node.subscribers is not None:
                break
            del path[depth - 1].children[levels[depth - 1]]

    def match(self, name: str) -> Sequence[Any]:
        """The values of every filter matching event ``name`` (do not modify it)."""
        found = self._cache.get(name)
        if found is None:
            cache = self._cache
            if len(cache) >= MATCH_CACHE_SIZE:
                cache.clear()
            found = cache[name] = self._match(name) or _NOTHING
        return found

    def _match(self, name: str) -> list[Any]:
        found: list[Any] = []
        root = self._root
        if not root.children:
            return found
        levels = name.split("/")
        nodes = [root]
        first_open = not name.startswith("$")
        for depth, level in enumerate(levels):
            following: list[_Node] = []
            for node in nodes:
                children = node.children
                if not children:
                    continue
                if depth or first_open:
                    rest = children.get("#")
                    if rest is not None and rest.subscribers is not None:
                        found.append(rest.subscribers)
                    one = children.get("+")
                    if one is not None:
                        following.append(one)
                child = children.get(level)
                if child is not None:
                    following.append(child)
            if not following:
                return found
            nodes = following
        for node in nodes:
            if node.subscribers is not None:
                found.append(node.subscribers)
            rest = node.children.get("#")
            if rest is not None and rest.subscribers is not None:
                found.append(rest.subscribers)
        return found
