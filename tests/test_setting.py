"""A row of the settings table (picloud/setting.py): a bad row fails as it is made."""

from __future__ import annotations

import pytest

from picloud.setting import Setting

pytestmark = pytest.mark.usefixtures("clean_environment")


@pytest.mark.parametrize(("row", "error"), [
    ({"default": 1, "kind": "integer"}, "unknown kind 'integer'"),
    ({"default": 1, "kind": "int", "group": "misc"}, "unknown group 'misc'"),
    ({"default": "1", "kind": "int"}, "default '1' is not of kind 'int'"),
    ({"default": "a", "kind": "str", "choices": ("a",)}, "choices go with kind 'choice', not 'str'"),
    ({"default": "c", "kind": "choice", "choices": ("a", "b")}, "default 'c' is not one of"),
    ({"default": "c", "kind": "choice"}, "kind 'choice' needs choices"),
    ({"default": "a", "kind": "str", "minimum": 0}, "bounds go with kind 'int' or 'float', not 'str'"),
    ({"default": 1, "kind": "int", "any_value": True}, "any_value goes with kind 'bool', not 'int'"),
    ({"default": ["a"], "kind": "str", "repeatable": True}, "default \\['a'\\] is not of kind 'str'"),
])
def test_a_bad_row_fails_at_import(row, error):
    with pytest.raises(ValueError, match=error):
        Setting(**{"group": "network", "help": "h", **row})
