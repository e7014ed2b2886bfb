"""The first start with picloud.db (picloud/stores/sqlite/migrate.py): the
retained.json (version 1 or 2) and mqtt-sessions.json of earlier versions
move into the database once, the files are kept as *.migrated."""

from __future__ import annotations

import asyncio
import json
import logging

from picloud.hub.retained import Retained
from picloud.stores.files import FILE_NAME, SESSIONS_FILE
from picloud.stores.sqlite.store import SqliteStore
from tests.support.statedb import DATABASE, query

FRAME_T = (b'{"action":"publish","event":"t","data":21.5,"created_at":"2026-01-02T03:04:05.000Z","seq":3,'
           b'"retained":true}')
FRAME_U = b'{"action":"publish","event":"u","data":"x","seq":1,"retained":true}'
FRAME_PLUG = b'{"action":"publish","event":"tele/plug","data":{"Power":21.5},"seq":7,"retained":true}'
# As the hubs before picloud.db wrote them.
VERSION_1 = b'{"version":1,"retained":[' + FRAME_T + b"," + FRAME_U + b"]}"
VERSION_2 = (b'{"version":2,"retained":[' + FRAME_T + b"," + FRAME_PLUG + b'],"mqtt":[["tele/plug",1,'
             b'"eyJQb3dlciI6MjEuNTB9"]]}')  # base64 of {"Power":21.50}
SESSIONS = json.dumps({"version": 2, "salt": "00", "saved": 4e9, "sessions": []}).encode()


def start(state):
    """A hub's store starting in ``state``: what it loaded, and what it holds."""
    async def run():
        store = SqliteStore(state / DATABASE)
        values = {m.event: m for m in Retained(store).items()}
        sessions = store.load_sessions()
        await store.close()
        return values, sessions

    return asyncio.run(run())


def test_version_1_moves_into_the_database_and_is_kept_as_a_backup(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    (tmp_path / FILE_NAME).write_bytes(VERSION_1)
    values, sessions = start(tmp_path)
    assert sorted(values) == ["t", "u"] and sessions is None
    assert json.loads(values["t"].payload) == json.loads(FRAME_T) and values["t"].seq == 3
    assert not (tmp_path / FILE_NAME).exists()
    assert (tmp_path / (FILE_NAME + ".migrated")).read_bytes() == VERSION_1
    assert query(tmp_path / DATABASE, "SELECT event FROM retained ORDER BY event") == [("t",), ("u",)]
    moved = [m for m in caplog.messages if m.startswith("moved ")]
    assert moved == [f"moved 2 retained values from {FILE_NAME} into {tmp_path / DATABASE}; "
                     f"kept the file as {FILE_NAME}.migrated"]
    # The next start reads the database alone.
    caplog.clear()
    again, _ = start(tmp_path)
    assert sorted(again) == ["t", "u"] and not any(m.startswith("moved ") for m in caplog.messages)


def test_version_2_and_the_sessions_move_byte_for_byte(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    (tmp_path / FILE_NAME).write_bytes(VERSION_2)
    (tmp_path / SESSIONS_FILE).write_bytes(SESSIONS)
    values, sessions = start(tmp_path)
    plug = values["tele/plug"]
    assert (plug.raw, plug.qos, values["t"].raw, values["t"].qos) == (b'{"Power":21.50}', 1, None, 0)
    assert sessions == SESSIONS
    assert (tmp_path / (SESSIONS_FILE + ".migrated")).read_bytes() == SESSIONS
    assert [m for m in caplog.messages if m.startswith("moved ")] == [
        f"moved 2 retained values from {FILE_NAME} and the mqtt sessions from {SESSIONS_FILE} into "
        f"{tmp_path / DATABASE}; kept the files as {FILE_NAME}.migrated, {SESSIONS_FILE}.migrated"]
    again, sessions = start(tmp_path)
    assert (again["tele/plug"].raw, sessions) == (b'{"Power":21.50}', SESSIONS)


def test_a_file_beside_a_database_that_holds_values_is_left_alone(tmp_path, caplog):
    (tmp_path / FILE_NAME).write_bytes(VERSION_1)
    start(tmp_path)
    (tmp_path / FILE_NAME).write_bytes(VERSION_2)  # an older version ran here meanwhile
    values, _ = start(tmp_path)
    assert sorted(values) == ["t", "u"]  # the database's, not the file's
    assert (tmp_path / FILE_NAME).read_bytes() == VERSION_2
    assert f"{tmp_path / FILE_NAME} left as it is: {DATABASE} holds what it would bring already" in caplog.messages


def test_an_unreadable_file_is_moved_aside_and_the_rest_moves(tmp_path, caplog):
    (tmp_path / FILE_NAME).write_text('{"retained": [')
    (tmp_path / SESSIONS_FILE).write_bytes(SESSIONS)
    values, sessions = start(tmp_path)
    assert values == {} and sessions == SESSIONS
    assert (tmp_path / (FILE_NAME + ".unreadable")).read_text() == '{"retained": ['
    assert not (tmp_path / (FILE_NAME + ".migrated")).exists()
    assert any(m.startswith(f"cannot read {tmp_path / FILE_NAME} (") for m in caplog.messages)


def test_what_a_write_of_an_earlier_version_cut_short_left_is_removed(tmp_path, caplog):
    stale = tmp_path / f".{FILE_NAME}.k2j4x9.tmp"
    stale.write_bytes(b"x" * 1000)
    other = tmp_path / ".other.json.k2j4x9.tmp"
    other.write_text("not ours")
    start(tmp_path)
    assert not stale.exists() and other.exists()
    assert f"removed {stale} (1000 bytes), left by a write that did not finish" in caplog.messages
