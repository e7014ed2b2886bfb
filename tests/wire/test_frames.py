"""Server frames are what RFC 6455 says, at every length boundary."""

from __future__ import annotations

import struct

import pytest

from picloud.wire.frames import TEXT, encode_frame


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e" + struct.pack("!H", 126)),
        (65535, b"\x81\x7e" + struct.pack("!H", 65535)),
        (65536, b"\x81\x7f" + struct.pack("!Q", 65536)),
    ],
)
def test_header_lengths(length, header):
    payload = b"x" * length
    assert encode_frame(payload, TEXT) == header + payload


def test_binary_opcode():
    assert encode_frame(b"\x00", 0x2)[:1] == b"\x82"
