"""Tests of picloud.hub: the protocol-neutral core, driven without sockets or Tornado."""
