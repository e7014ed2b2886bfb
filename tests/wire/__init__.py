"""Tests of picloud.wire: the wire formats, bytes and values only (no sockets, no Tornado)."""
