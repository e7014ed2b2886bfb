"""The JSON files of hubs before picloud.db (picloud/stores/files.py), read
to move them into the database: retained.json version 1 and 2, an
unreadable one moved aside, the sessions file as it is."""

from __future__ import annotations

import pytest

from picloud.exceptions import ConfigError
from picloud.stores.files import FILE_NAME, SESSIONS_FILE, read_retained, read_sessions


def test_version_1_holds_the_frames(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text('{"version":1,"retained":[{"action":"publish","event":"t","data":1,"seq":4,"retained":true},'
                    '{"action":"publish","event":"u","data":"x"}]}')
    values = {m.event: m for m in read_retained(path)}
    assert sorted(values) == ["t", "u"]
    assert (values["t"].seq, values["u"].seq, values["t"].from_retained) == (4, 0, True)
    assert values["u"].payload.endswith(b'"retained":true}')  # marked, even if the file did not say so
    assert (values["t"].raw, values["t"].qos) == (None, 0)


def test_version_2_also_holds_the_mqtt_bytes_and_qos(tmp_path):
    path = tmp_path / FILE_NAME
    path.write_text('{"version":2,"retained":[{"event":"a","data":21.5},{"event":"b","data":1}],'
                    '"mqtt":[["a",1,"MjEuNTA="],["b",7,null],["gone",1,"eA=="]]}')
    values = {m.event: m for m in read_retained(path)}
    assert (values["a"].raw, values["a"].qos) == (b"21.50", 1)
    assert (values["b"].raw, values["b"].qos) == (None, 0)  # a QoS that cannot be is 0
    assert sorted(values) == ["a", "b"]


def test_no_file_is_no_values(tmp_path):
    assert read_retained(tmp_path / FILE_NAME) == []
    assert read_sessions(tmp_path / SESSIONS_FILE) is None


@pytest.mark.parametrize("text", ['{"retained": [', '{"retained": [{"event": 3}]}', '{"version": 2}',
                                  '{"retained": [{"event": "a"}], "mqtt": [["a", 1, "not base64!"]]}'])
def test_an_unreadable_file_is_moved_aside(tmp_path, text):
    path = tmp_path / FILE_NAME
    path.write_text(text)
    assert read_retained(path) == []
    assert not path.exists() and (tmp_path / (FILE_NAME + ".unreadable")).read_text() == text


def test_a_state_directory_under_a_file_is_one_clear_error(tmp_path):
    blocker = tmp_path / "state"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"cannot read retained values from .*: not a directory"):
        read_retained(blocker / FILE_NAME)


def test_the_sessions_file_is_read_as_it_is(tmp_path):
    (tmp_path / SESSIONS_FILE).write_bytes(b"\x00opaque")
    assert read_sessions(tmp_path / SESSIONS_FILE) == b"\x00opaque"
