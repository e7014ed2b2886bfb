"""Retained values kept in one JSON file of the state directory.

The whole set is one file, replaced atomically (temporary file, fsync,
rename, fsync of the directory), so a crash at any moment leaves either the
previous file or the new one, never a mix. An SD card wears out, so writes
are coalesced: at most one write per ``interval`` seconds (default 1) however
many values change, plus one final write on shutdown. A crash loses at most
the last interval's changes; an acknowledged retained publish (see
``stored``) is on disk.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import os
import time
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Callable

import ujson

from ..config import Config
from ..exceptions import ConfigError
from ..hub.message import Message
from ..hub.retained import OWN_PREFIX
from ..hub.store import Store
from ..wire.codec import dumps
from .atomic import check_writable, remove_stale_temporaries, write_atomic
from .coalesce import Coalesced
from .sessions import SESSIONS_FILE, SessionFile

log = logging.getLogger("picloud.retained")

FILE_NAME = "retained.json"
#: After the first failed write is logged, at most one line per this many seconds.
FAILURE_LOG_EVERY = 60.0

class FileStore(Store, Coalesced):
    """Keeps the retained values in ``path``."""

    def __init__(self, path: Path, interval: float = Config.store_interval.default) -> None:
        Store.__init__(self)
        Coalesced.__init__(self, interval)
        self.path = path
        self.writes = 0
        self._values: dict[str, Message] = {}
        self._dirty = False
        self._waiters: list[asyncio.Future[None]] = []
        self._failing_since: float | None = None
        self._failure_logged = 0.0
        # Changes are numbered: a waiter that comes after a failed write must
        # still hear that the last change was given back, not that all is well.
        self._changes = 0
        self._written = 0
        self._given_back = 0
        self._last_error: OSError | None = None
        remove_stale_temporaries(path)
        self._load(path)
        check_writable(path.parent)
        self._durable = dict(self._values)  # what the file holds
        self.sessions = SessionFile(path.parent / SESSIONS_FILE, interval)

    def load_retained(self) -> list[Message]:
        return list(self._values.values())

    # -- writing -----------------------------------------------------------

    def retained_changed(self, event: str, value: Message | None) -> None:
        if value is None:
            self._values.pop(event, None)
        else:
            self._values[event] = value
        self._changes += 1
        self._dirty = True
        self._schedule()

    def stored(self) -> asyncio.Future[None]:
        """Resolves once every change made so far is on disk (or failed to be)."""
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if not (self._dirty or self._writing):
            if self._given_back == self._changes > self._written:
                waiter.set_exception(OSError(f"cannot store retained value: {self._last_error}"))
            else:
                waiter.set_result(None)
        elif self._closed:
            waiter.set_exception(OSError("cannot store retained value: the hub is shutting down"))
        else:
            self._waiters.append(waiter)
            self._schedule()
        return waiter

    def load_sessions(self) -> bytes | None:
        return self.sessions.load()

    def keep_sessions(self, snapshot: Callable[[], Callable[[], bytes]]) -> None:
        self.sessions.keep(snapshot)

    def set_sessions_aside(self) -> None:
        self.sessions.set_aside()

    def sessions_changed(self) -> None:
        self.sessions.changed()

    async def close(self) -> None:
        """Write what is pending now (on shutdown); later changes stay in memory."""
        try:
            await self.sessions.close()
        finally:
            await self._close_retained()

    async def _close_retained(self) -> None:
        await self._finish()
        if self._dirty or self._waiters:
            await self._write()

    async def _write(self) -> None:
        self._dirty = False
        self._writing = True
        waiters, self._waiters = self._waiters, []
        snapshot = dict(self._values)
        upto = self._changes
        data = self._encode()
        error: BaseException | None = None
        try:
            await asyncio.get_running_loop().run_in_executor(None, write_atomic, self.path, data)
            self.writes += 1
            self._durable = snapshot
            self._written = upto
            if self._failing_since is not None:
                log.warning("retained values written to %s again", self.path)
                self._failing_since = None
        except OSError as exc:
            error = self._last_error = exc
            self._given_back = self._changes
            self._give_back()
            waiters += self._waiters  # changes made meanwhile were given back too
            self._waiters = []
            self._log_failure(exc)
        finally:
            self._wrote()
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(OSError(f"cannot store retained value: {error}"))
        if self._dirty or self._waiters:
            self._schedule()

    def _give_back(self) -> None:
        """A failed write: nothing half-kept. Memory goes back to what the
        file holds, and the publishers waiting are told (503)."""
        values = dict(self._durable)
        own_pending = False
        for event in set(self._values) | set(self._durable):
            kept, now = self._durable.get(event), self._values.get(event)
            if now is kept:
                continue
            if event.startswith(OWN_PREFIX):
                # Presence is the hub's own state, not a publisher's: kept in
                # memory (where it is true) and written once the disk allows.
                own_pending = True
                if now is None:
                    values.pop(event, None)
                else:
                    values[event] = now
            elif self.on_revert is not None:
                self.on_revert(event, kept)
        self._values = values
        self._dirty = own_pending

    def _log_failure(self, exc: OSError) -> None:
        # One line when writes start failing, then one a minute: a full SD
        # card must not also fill the journal.
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._failure_logged < FAILURE_LOG_EVERY:
            return
        self._failure_logged = now
        log.error("cannot write retained values to %s: %s (values not kept)", self.path, exc)

    def _encode(self) -> bytes:
        # The stored payloads are already JSON: join them, do not re-encode.
        values = self._values.values()
        # MQTT publishers' values keep their bytes and QoS: an MQTT subscriber
        # gets after a restart exactly what it got before (21.50, not 21.5).
        mqtt = [[m.event, m.qos, None if m.raw is None else b64encode(m.raw).decode("ascii")]
                for m in values if m.raw is not None or m.qos]
        return (b'{"version":2,"retained":[' + b",".join(m.payload for m in values) + b'],"mqtt":'
                + dumps(mqtt) + b"}")

    def _load(self, path: Path) -> None:
        try:
            doc = ujson.loads(path.read_bytes())
            values = doc["retained"]
            for frame in values:
                event = frame["event"]
                if not isinstance(event, str):
                    raise TypeError("event is not a string")
                frame["retained"] = True
                message = Message(event, dumps(frame))
                message.seq = frame.get("seq") or 0
                message.from_retained = True
                self._values[event] = message
            for event, qos, raw in doc.get("mqtt", ()):  # not in version 1
                kept = self._values.get(event)
                if kept is not None:
                    kept.qos = qos if qos in (0, 1, 2) else 0
                    kept.raw = None if raw is None else b64decode(raw, validate=True)
        except FileNotFoundError:
            return
        except (NotADirectoryError, PermissionError, IsADirectoryError) as exc:
            # The state directory itself is wrong: nothing to move aside.
            reason = (exc.strerror or str(exc)).lower()
            raise ConfigError(f"cannot read retained values from {str(path)!r}: {reason}") from None
        except (ValueError, TypeError, KeyError, OSError, binascii.Error) as exc:
            # Cannot happen through our own writes; keep the file for a human.
            aside = path.with_name(path.name + ".unreadable")
            log.error("cannot read %s (%s); moved it to %s, starting empty", path, exc, aside)
            self._values.clear()
            os.replace(path, aside)
        else:
            log.info("loaded %d retained values from %s", len(self._values), path)
