"""sd_notify readiness (picloud/server/systemd.py) over a real unix datagram socket."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from picloud.server.systemd import notify
from tests.support.hub import KEY


@pytest.fixture
def manager(tmp_path: Path, monkeypatch):
    """A service manager's end: a bound datagram socket named in NOTIFY_SOCKET."""
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        yield sock


def test_notify_sends_one_datagram(manager):
    assert notify("READY=1", "STATUS=listening on port 9000")
    assert manager.recv(4096) == b"READY=1\nSTATUS=listening on port 9000"


def test_notify_reaches_an_abstract_socket(monkeypatch):
    name = f"picloud-test-{os.getpid()}-{secrets.token_hex(4)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify("READY=1")
        assert sock.recv(4096) == b"READY=1"


def test_without_a_manager_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False


@pytest.mark.parametrize("address", ["/nonexistent/picloud-notify", "vsock:2:1234"])
def test_an_unreachable_manager_does_not_raise(monkeypatch, address):
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    assert notify("READY=1") is False


def test_hub_reports_ready_reload_and_stopping(manager, hub_process):
    hub = hub_process("--api-key", KEY, env={"NOTIFY_SOCKET": os.environ["NOTIFY_SOCKET"]})
    assert manager.recv(4096) == f"READY=1\nSTATUS=listening on port {hub.port}".encode()
    # Without TLS, SIGHUP has nothing to reload, but must not end the hub
    # (SIGHUP's default action would).
    hub.proc.send_signal(signal.SIGHUP)
    assert manager.recv(4096) == b"RELOADING=1"
    assert manager.recv(4096) == b"READY=1"
    with urllib.request.urlopen(f"{hub.url}/healthz", timeout=5) as resp:
        assert resp.status == 200
    assert hub.stop() == 0
    assert manager.recv(4096) == b"STOPPING=1"
