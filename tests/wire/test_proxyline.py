"""The PROXY protocol's version 1 line (picloud/wire/proxyline.py)."""

from __future__ import annotations

import pytest

from picloud.exceptions import ProtocolError
from picloud.wire.proxyline import split_header


def test_whole_lines_give_the_source_and_the_rest():
    assert split_header(b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 1883\r\n\x10\x0c") == (("192.0.2.7", 51234), b"\x10\x0c")
    assert split_header(b"PROXY TCP6 2001:db8::7 ::1 51234 1883\r\n") == (("2001:db8::7", 51234), b"")
    assert split_header(b"PROXY UNKNOWN\r\nrest") == (None, b"rest")


def test_a_line_still_coming_waits():
    assert split_header(b"PROXY TCP4 192.0.2") is None


@pytest.mark.parametrize("bad", [
    b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n", b"PROXY TCP4 2001:db8::7 127.0.0.1 1 2\r\n",
    b"PROXY UDP4 192.0.2.7 127.0.0.1 1 2\r\n", b"PROXY TCP4 192.0.2.7 127.0.0.1 70000 2\r\n",
    b"PROXY TCP4 192.0.2.7\r\n", b"PROXY " + b"x" * 200,
])
def test_anything_else_is_refused(bad):
    with pytest.raises(ProtocolError):
        split_header(bad)
