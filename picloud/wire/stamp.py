"""Splicing a message's seq and its hub's epoch into its publish frame.

A publish frame is encoded once, before the broker numbers it; the number
then goes in for the closing brace, ``,"seq":N`` and the epoch's tail
(``,"epoch":"..."}``). ``stamp_run`` does a run of messages of one event at
once: the C twin (picloud/wire/_messages.c) where it is built, else
``stamp_run_python``, the reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Callable, Protocol

from .speedups import load


class Stamped(Protocol):
    """What is stamped: hub/message.py's Message."""

    payload: bytes
    seq: int


def stamp_run_python(messages: Sequence[Stamped], seq: int, tail: bytes, start: int) -> tuple[list[int], int]:
    """Give each of ``messages`` the next seq after ``seq``, in its ``seq``
    and spliced into its ``payload`` with ``tail``. Returns where each new
    payload starts and where the last one ends, laid end to end from
    ``start`` (hub/history.py counts what it keeps by them)."""
    starts = []
    for message in messages:
        seq += 1
        message.seq = seq
        message.payload = payload = b'%s,"seq":%d%s' % (message.payload[:-1], seq, tail)
        starts.append(start)
        start += len(payload)
    return starts, start


_native = load("picloud.wire._messages")
stamp_run: Callable[[Sequence[Stamped], int, bytes, int], tuple[list[int], int]] = (
    getattr(_native, "stamp_run", None) or stamp_run_python  # an older build without it: Python
)
