"""Where MQTT listens (picloud/server/mqtt/listener.py): a port given that is
taken stops the hub in one line, the default one taken turns MQTT off with
one warning, and with TLS on plain MQTT is off unless a port is given."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

from picloud.config import Config
from picloud.server.mqtt import ports
from picloud.wire.mqtt import packets as p
from tests.support.hub import KEY


def first_lines(*args: str, env: dict[str, str] | None = None) -> list[str]:
    """What a hub prints up to its listening line; then it is stopped."""
    proc = subprocess.Popen([sys.executable, "-m", "picloud", "serve", "--port", "0", "--api-key", KEY, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "listening on" in line:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return lines


def test_a_given_port_that_is_taken_stops_the_hub_in_one_line(run_serve):
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--port", "0", "--api-key", KEY, "--mqtt-port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: cannot listen for mqtt on port {port}: address already in use"


def test_the_default_port_taken_turns_mqtt_off_with_one_warning(monkeypatch, caplog, tmp_path):
    with socket.socket() as taken:
        taken.bind(("", 0))
        taken.listen()
        monkeypatch.setattr(ports, "DEFAULT_PORT", taken.getsockname()[1])
        with caplog.at_level(logging.WARNING, "picloud.mqtt"):
            assert ports.mqtt_sockets(Config(api_key=KEY, state_dir=tmp_path)) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"mqtt is off: port {ports.DEFAULT_PORT} is taken (by Mosquitto?); give another with --mqtt-port, "
        "or --no-mqtt to say so"]


def test_with_tls_plain_mqtt_is_off_unless_a_port_is_given(tls_files, tmp_path):
    cert, key = tls_files
    tls = ["--tls", "--cert-file", str(cert), "--key-file", str(key), "--state-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICLOUD_")}
    lines = first_lines(*tls, "--mqtt-tls-port", "0", env=env)
    assert not any("mqtt on port" in line for line in lines)
    assert any("mqtt over tls on port" in line for line in lines)
    given = first_lines(*tls, "--mqtt-port", "0", "--mqtt-tls-port", "0", env=env)
    assert any("mqtt on port" in line for line in given)
    assert not any("mqtt on port" in line for line in first_lines("--no-mqtt", "--state-dir", str(tmp_path),
                                                                  env=env))


def test_a_proxy_line_is_taken_only_from_a_proxy(hub_process):
    """Without --xheaders (or from an address other than loopback) a PROXY
    line is no CONNECT: a device cannot claim another's address with it."""
    hub = hub_process("--api-key", KEY)
    with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=10) as sock:
        sock.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 1883\r\n")
        assert sock.recv(10) == b""  # closed
    behind = hub_process("--api-key", KEY, "--xheaders")
    with socket.create_connection(("127.0.0.1", behind.mqtt_port), timeout=10) as sock:
        sock.sendall(b"PROXY TCP4 192.0.2.7 127.0.0.1 51234 1883\r\n" + connect_packet())
        assert sock.recv(4) == p.encode_connack(False, p.ACCEPTED)
    behind.stop()
    assert "'proxied' from 192.0.2.7:51234" in behind.stderr


def connect_packet() -> bytes:
    return p.encode_connect(p.Connect(4, "proxied", True, 60, username="u", password=KEY.encode()))
