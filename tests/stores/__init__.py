"""Tests of picloud.stores: the store port's adapters, without sockets or Tornado."""
