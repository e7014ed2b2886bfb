"""Helpers the tests share; none of these modules is a test module.

``frames`` and ``keys`` import neither Tornado nor sockets, so the tests of
``picloud.wire`` and ``picloud.hub`` may use them (tests/test_architecture.py
checks it).
"""
