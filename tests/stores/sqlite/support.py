"""A readings database in a test's directory, and messages to record into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picloud.hub.message import Message
from picloud.stores.sqlite.database import Database
from picloud.stores.sqlite.readings import Readings
from picloud.stores.sqlite.schema import READINGS
from picloud.wire.codec import encode_publish


def message(event: str, data: Any) -> Message:
    return Message(event, encode_publish(event, data, "2026-12-01T00:00:00.000Z"))


class Recorded:
    """A database and its writer, written to synchronously."""

    def __init__(self, directory: Path, max_series: int = 2000) -> None:
        self.db = Database(directory / "picloud.db", [READINGS])
        self.db.open()
        self.readings = Readings(max_series)
        self.db.write_now(self.readings.load)

    def record(self, *entries: tuple[float, str, Any]) -> None:
        batch = [(t, event, message(event, data).payload) for t, event, data in entries]
        self.db.write_now(lambda conn: self.readings.write(conn, batch))

    def query(self, sql: str, *args: Any) -> list[Any]:
        return self.db.read_now(lambda conn: conn.execute(sql, args).fetchall())

    def close(self) -> None:
        self.db.close()
