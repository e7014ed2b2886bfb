"""Wildcard matching (picloud/topics.py), with no I/O."""

from __future__ import annotations

import pytest

from picloud.exceptions import ProtocolError
from picloud.wire.topics import TopicTree, check_publishable, is_filter, matches, validate_filter

# (filter, name, matches?)
TABLE = [
    # '#' alone: everything but $-names
    ("#", "a", True),
    ("#", "a/b/c", True),
    ("#", "/", True),
    ("#", "$SYS/clients/x", False),
    ("#", "$x", False),
    # '+' at each level
    ("+", "a", True),
    ("+", "a/b", False),
    ("+", "$SYS", False),
    ("+/b/c", "a/b/c", True),
    ("a/+/c", "a/b/c", True),
    ("a/b/+", "a/b/c", True),
    ("a/+/c", "a/b/d", False),
    ("a/+/c", "a/c", False),
    ("a/+", "a/b/c", False),
    ("+/+", "a/b", True),
    ("+/+", "a", False),
    ("+/b", "$SYS/b", False),
    ("$SYS/+", "$SYS/b", True),
    ("$SYS/#", "$SYS/clients/pi", True),
    # '#' at the end also matches the parent
    ("a/#", "a", True),
    ("a/#", "a/b", True),
    ("a/#", "a/b/c", True),
    ("a/#", "ab", False),
    ("a/#", "b/a", False),
    ("a/+/#", "a/b", True),
    ("a/+/#", "a", False),
    # empty levels are levels
    ("+", "", True),
    ("a/+", "a/", True),
    ("+/a", "/a", True),
    ("a/+/b", "a//b", True),
    ("a//#", "a//x", True),
    ("a/#", "a/", True),
    ("/#", "/", True),
    ("/#", "a", False),
    # wildcard characters inside a longer level are ordinary
    ("c#", "c#", True),
    ("c#", "cx", False),
    ("a+b", "a+b", True),
    ("a+b", "axb", False),
    ("a/c#/+", "a/c#/x", True),
    ("a/c#/+", "a/cz/x", False),
    # names are case-sensitive
    ("A/+", "a/b", False),
]


@pytest.mark.parametrize(("filter_", "name", "expected"), TABLE)
def test_matches_table(filter_, name, expected):
    assert matches(filter_, name) is expected


@pytest.mark.parametrize(("filter_", "name", "expected"), TABLE)
def test_tree_agrees_with_table(filter_, name, expected):
    if not is_filter(filter_):
        return  # exact names never go into the tree
    tree = TopicTree()
    tree.add("unrelated/+", "other")
    tree.add(filter_, "mine")
    assert ("mine" in tree.match(name)) is expected


def test_tree_returns_every_matching_filter_once():
    tree = TopicTree()
    filters = ["#", "a/#", "a/+", "+/b", "a/b/#", "+/+/+", "x/+"]
    for f in filters:
        tree.add(f, f)
    assert sorted(tree.match("a/b")) == sorted(["#", "a/#", "a/+", "+/b", "a/b/#"])
    assert sorted(tree.match("a")) == ["#", "a/#"]
    assert tree.match("$zzz") == ()


def test_tree_remove_prunes_and_counts():
    tree = TopicTree()
    tree.add("a/+/c", 1)
    tree.add("a/#", 2)
    assert len(tree) == 2
    tree.remove("a/+/c")
    tree.remove("a/+/c")  # twice is harmless
    tree.remove("never/+")
    assert len(tree) == 1
    assert tree.match("a/b/c") == [2]
    tree.remove("a/#")
    assert len(tree) == 0
    assert tree._root.children == {}


@pytest.mark.parametrize("name", ["+", "#", "a/+", "a/#", "+/b", "a/+/c"])
def test_is_filter(name):
    assert is_filter(name)


@pytest.mark.parametrize("name", ["a", "c#", "a+b", "a/b+", "#a/b", "++", "##"])
def test_ordinary_names_are_not_filters(name):
    assert not is_filter(name)


def test_hash_must_be_last():
    with pytest.raises(ProtocolError, match="'#' must be the last level in 'a/#/b'"):
        validate_filter("a/#/b")
    assert validate_filter("a/+/#") == "a/+/#"


@pytest.mark.parametrize(("name", "reason"), [
    ("a/+", "wildcard"), ("#", "wildcard"), ("+/x", "wildcard"),
    ("$SYS/clients/pi", "hub's own"), ("$SYS", "hub's own"),
])
def test_cannot_publish_to_wildcards_or_sys(name, reason):
    with pytest.raises(ProtocolError, match=reason):
        check_publishable(name)


@pytest.mark.parametrize("name", ["a+b", "c#", "$SYSTEM", "$other/x", "a/b"])
def test_can_publish_to_ordinary_names(name):
    assert check_publishable(name) == name
