"""Tests of picloud.server: the Tornado front end, on loopback sockets and as real processes."""
