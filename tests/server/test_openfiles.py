"""The open-files limit and the connection cap under it (picloud/server/openfiles.py)."""

from __future__ import annotations

import json
import resource
import select
import socket
import time

import pytest

from picloud.config import Config
from picloud.server.openfiles import fit_connection_cap
from tests.support.hub import KEY, MANY_AT_ONCE
from tests.support.rawws import chunked_post


def test_connection_cap_is_kept_below_the_open_files_limit():
    config = Config(max_connections=10000)
    fit_connection_cap(config, 1024)
    assert config.max_connections == 1024 - 64
    fit_connection_cap(config, 1 << 20)
    assert config.max_connections == 1024 - 64


def test_hub_raises_its_open_files_limit(hub_process):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.fail(f"this machine's hard open-files limit ({hard}) cannot show the raise")
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    try:
        hub = hub_process("--api-key", KEY, "--max-connections", str(hard * 2))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    limits = open(f"/proc/{hub.proc.pid}/limits").read()
    line = next(line for line in limits.splitlines() if line.startswith("Max open files"))
    assert line.split()[3:5] == [str(hard), str(hard)]
    hub.stop()
    assert f"max connections lowered from {hard * 2} to {hard - 64}" in hub.stderr


def test_running_out_of_file_descriptors_refuses_instead_of_spinning(hub_process):
    # Taken at once (no deferred accept), so that the hub holds the silent ones.
    hub = hub_process("--api-key", KEY, "--defer-accept", "0", *MANY_AT_ONCE)
    soft, hard = resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (120, hard))
    flood = [socket.create_connection(("127.0.0.1", hub.port), timeout=5) for _ in range(200)]
    try:
        # More than the hub may open: it hangs up on the excess at once and
        # keeps the rest waiting for their request headers.
        waiting, hung_up = set(flood), 0
        deadline = time.monotonic() + 5
        while hung_up < 200 - 120 and time.monotonic() < deadline:
            readable, _, _ = select.select(list(waiting), [], [], 0.2)
            for sock in readable:
                waiting.discard(sock)
                if sock.recv(1) == b"":
                    hung_up += 1
        assert hung_up >= 200 - 120
    finally:
        for sock in flood:
            sock.close()
    resource.prlimit(hub.proc.pid, resource.RLIMIT_NOFILE, (soft, hard))
    status, _ = chunked_post(hub.port, json.dumps({"event": "t"}).encode())
    assert status == 201  # served again once the flood is gone
    hub.stop()
    assert "out of file descriptors: refusing a connection" in hub.stderr
    assert "Too many open files" not in hub.stderr and "Traceback" not in hub.stderr
