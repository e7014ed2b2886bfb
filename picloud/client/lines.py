"""What ``picloud publish`` sends: DATA, and each line of standard input,
as JSON when it is JSON (the rule the dashboard's form follows too)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any, TextIO

import click

from ..exceptions import ProtocolError
from ..wire.codec import dumps

PROGRESS_EVERY = 0.25  # seconds between progress updates on a terminal


def read_lines(fd: int, most: int = 1000) -> Iterator[list[tuple[int, str]]]:
    """Numbered lines of file descriptor ``fd`` (UTF-8), in batches of what
    has arrived (at least one, at most ``most``), without the line ending.

    A thread reads, so a slow producer (``tail -f``) gets each line sent at
    once while a fast one gets them sent many per round trip. It reads the
    descriptor itself, not sys.stdin: a thread blocked inside a buffered
    reader at exit makes the interpreter abort (_enter_buffered_busy).
    """
    lines: Queue[tuple[int, str] | None] = Queue(maxsize=10 * most)

    def read() -> None:
        pending = b""
        number = 0
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                *complete, pending = (pending + chunk).split(b"\n")
                for raw in complete:
                    number += 1
                    lines.put((number, raw.rstrip(b"\r").decode("utf-8", "replace")))
            if pending:
                lines.put((number + 1, pending.rstrip(b"\r").decode("utf-8", "replace")))
        except OSError:
            pass
        finally:
            lines.put(None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    while True:
        item = lines.get()
        batch = []
        while item is not None:
            batch.append(item)
            if len(batch) >= most:
                break
            try:
                item = lines.get_nowait()
            except Empty:
                break
        if batch:
            yield batch
        if item is None:
            return


def value_of(text: str, mode: str | None, line: int | None) -> Any:
    """What DATA (or a line) sends: its JSON value when it is strict JSON,
    else the text (``--string``: always the text; ``--json``: JSON or an error)."""
    if mode == "string":
        return text
    try:
        value = json.loads(text, parse_constant=_not_json)
        dumps(value)  # 1e400 parses to inf, which has no JSON form
        return value
    except (ValueError, ProtocolError) as exc:
        if mode != "json":
            return text
        where = f"line {line}: " if line is not None else ""
        reason = str(exc).split(":")[0].lower()
        raise click.ClickException(f"{where}invalid json {text[:40]!r}: {reason}") from None


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not json (non-finite numbers have no json form)")


class Progress:
    """A message count on a terminal, redrawn at most every PROGRESS_EVERY seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.next = time.monotonic() + PROGRESS_EVERY

    def show(self, count: int) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + PROGRESS_EVERY
            self.out.write(f"\rpublished {count} messages")
            self.out.flush()

    def done(self, count: int) -> None:
        self.out.write(f"\rpublished {count} messages\n")
        self.out.flush()
