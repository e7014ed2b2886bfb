"""TLS (picloud/server/tls.py) in real hub processes: https and wss from the
seed's settings, one clear line for missing or bad files, and SIGHUP
reloading the certificate and key while open connections stay."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import ssl
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.certs import self_signed
from tests.support.hub import read_json, subscribed
from tests.support.process import http_publish

KEY = "tls-key-0123456789"


def install(path: Path, content: bytes) -> None:
    """Replace a file the way certbot and friends do: write aside, rename."""
    path.with_suffix(".new").write_bytes(content)
    os.replace(path.with_suffix(".new"), path)


def served_cert(port: int) -> bytes:
    """The certificate a new handshake gets, DER."""
    return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", port)))


def der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


@pytest.fixture
def manager(tmp_path: Path):
    """Receives the hub's sd_notify datagrams: RELOADING=1 then READY=1 mark a reload done."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(10)
        yield sock


def reload(hub, manager) -> None:
    hub.proc.send_signal(signal.SIGHUP)
    assert manager.recv(4096) == b"RELOADING=1"
    assert manager.recv(4096) == b"READY=1"


@pytest.mark.gen_test(timeout=30)
async def test_sighup_reloads_certificate_and_keeps_connections(tmp_path, hub_process, manager):
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert1, key1 = self_signed("first")
    cert2, key2 = self_signed("renewed")
    install(cert_file, cert1)
    install(key_file, key1)
    hub = hub_process(
        "--api-key", KEY, "--tls", "--cert-file", str(cert_file), "--key-file", str(key_file),
        env={"NOTIFY_SOCKET": str(tmp_path / "notify")},
    )
    assert manager.recv(4096).startswith(b"READY=1")
    assert served_cert(hub.port) == der(cert1)
    sub = await websocket_connect(HTTPRequest(
        f"{hub.ws_url}/subscribe?clientName=old", headers={"X-API-Key": KEY}, validate_cert=False))
    await subscribed(sub, "temperature")

    install(cert_file, cert2)
    install(key_file, key2)
    reload(hub, manager)
    assert served_cert(hub.port) == der(cert2)

    # The connection opened before the reload is the same TLS session and still delivers.
    assert sub.protocol.stream.socket.getpeercert(binary_form=True) == der(cert1)
    resp = await AsyncHTTPClient().fetch(HTTPRequest(
        f"{hub.url}/publish", method="POST", body=json.dumps({"event": "temperature", "data": "21.5"}),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "sensor"}, validate_cert=False))
    assert resp.code == 201
    message = await read_json(sub)
    assert (message["event"], message["data"]) == ("temperature", "21.5")

    # A half-renewed pair (new certificate, old key) is refused: the hub
    # keeps serving the last good one.
    cert3, _ = self_signed("mismatched")
    install(cert_file, cert3)
    reload(hub, manager)
    assert served_cert(hub.port) == der(cert2)
    await subscribed(sub, "humidity")  # the old connection still answers

    sub.close()
    assert hub.stop() == 0
    assert "reloaded tls certificate" in hub.stderr
    assert "tls reload failed, keeping the current certificate" in hub.stderr


def test_tls_without_files_is_one_clear_line(run_serve):
    result = run_serve("--tls", "--api-key", "k" * 16, "--port", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: tls is on but CERT_FILE and KEY_FILE are not both set"
    assert "Traceback" not in result.stderr


def test_unreadable_certificate_is_one_clear_line(run_serve, tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = run_serve("--tls", "--cert-file", str(bad), "--key-file", str(bad), "--api-key", "k" * 16, "--port", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot load tls certificate")
    assert len(result.stderr.strip().splitlines()) == 1
    missing = run_serve("--tls", "--cert-file", str(tmp_path / "nope.crt"), "--key-file", str(bad),
                        "--api-key", "k" * 16, "--port", "0")
    assert missing.stderr.strip() == f"Error: tls file not found: {str(tmp_path / 'nope.crt')!r}"


def test_tls_from_seed_environment_serves_https_and_wss(hub_process, tls_files):
    cert, key = tls_files
    hub = hub_process(
        "--api-key", KEY, env={"USE_TLS": "yes", "CERT_FILE": str(cert), "KEY_FILE": str(key)}
    )
    assert hub.scheme == "https"
    context = ssl.create_default_context(cafile=str(cert))

    async def scenario():
        sub = await websocket_connect(HTTPRequest(
            f"wss://127.0.0.1:{hub.port}/subscribe?clientName=s",
            headers={"X-API-Key": KEY}, ssl_options=context,
        ))
        await sub.write_message(json.dumps({"action": "subscribe", "event": "t"}))
        await sub.write_message("barrier")
        await sub.read_message()
        status = await asyncio.get_running_loop().run_in_executor(
            None, http_publish, hub, KEY, {"event": "t", "data": "over tls"}, context
        )
        return status, json.loads(await sub.read_message())

    status, message = asyncio.run(scenario())
    assert status == 201
    assert message["data"] == "over tls"
