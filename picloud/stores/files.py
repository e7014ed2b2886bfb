"""The JSON files hubs before picloud.db kept in the state directory, read
once so that their contents move into the database (sqlite/migrate.py).

``retained.json`` holds the retained values: version 1 the publish frames
alone, version 2 also the MQTT publishers' bytes and QoS (base64), so that an
MQTT subscriber gets after the move exactly what it got before (21.50, not
21.5). ``mqtt-sessions.json`` holds the MQTT sessions, opaque here
(server/mqtt/persist.py's encoding).
"""

from __future__ import annotations

import binascii
import logging
import os
from base64 import b64decode
from pathlib import Path

import ujson

from ..exceptions import ConfigError
from ..hub.message import Message
from ..wire.codec import dumps

log = logging.getLogger("picloud.retained")

FILE_NAME = "retained.json"
SESSIONS_FILE = "mqtt-sessions.json"


def read_retained(path: Path) -> list[Message]:
    """The retained values ``path`` holds (``"retained": true`` variants).
    A file that cannot be read as retained values is moved aside to
    ``retained.json.unreadable``, for a human, and reads as none."""
    values: dict[str, Message] = {}
    try:
        doc = ujson.loads(path.read_bytes())
        for frame in doc["retained"]:
            event = frame["event"]
            if not isinstance(event, str):
                raise TypeError("event is not a string")
            frame["retained"] = True
            message = Message(event, dumps(frame))
            message.seq = frame.get("seq") or 0
            message.from_retained = True
            values[event] = message
        for event, qos, raw in doc.get("mqtt", ()):  # not in version 1
            kept = values.get(event)
            if kept is not None:
                kept.qos = qos if qos in (0, 1, 2) else 0
                kept.raw = None if raw is None else b64decode(raw, validate=True)
    except FileNotFoundError:
        return []
    except (NotADirectoryError, PermissionError, IsADirectoryError) as exc:
        # The state directory itself is wrong: nothing to move aside.
        reason = (exc.strerror or str(exc)).lower()
        raise ConfigError(f"cannot read retained values from {str(path)!r}: {reason}") from None
    except (ValueError, TypeError, KeyError, OSError, binascii.Error) as exc:
        aside = path.with_name(path.name + ".unreadable")
        log.error("cannot read %s (%s); moved it to %s", path, exc, aside)
        os.replace(path, aside)
        return []
    return list(values.values())


def read_sessions(path: Path) -> bytes | None:
    """The saved MQTT sessions, or None (no file, or one that cannot be read)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.error("cannot read mqtt sessions from %s: %s (left where it is)", path, exc.strerror)
        return None
