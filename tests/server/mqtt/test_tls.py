"""MQTT over TLS (--mqtt-tls-port) and over wss:// (/mqtt) in real hub
processes: paho and mosquitto_pub with the hub's certificate checked, a
plain client refused without harm, and SIGHUP's certificate reload applying
to MQTT too."""

from __future__ import annotations

import contextlib
import socket
import subprocess

from tests.server.test_tls import der, install, manager, reload, served_cert
from tests.support.certs import self_signed
from tests.support.hub import KEY
from tests.support.mqtt import Peer


def test_mqtt_over_tls_with_the_hubs_certificate(hub_process, tls_files):
    cert, key = tls_files
    hub = hub_process("--api-key", KEY, "--tls", "--cert-file", str(cert), "--key-file", str(key))
    assert hub.mqtt_tls_port
    sub = Peer(hub.mqtt_tls_port, "phone", ca_file=str(cert))
    sub.subscribe(("garden/#", 1))
    done = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(hub.mqtt_tls_port), "--cafile", str(cert),
                           "-u", "u", "-P", KEY, "-t", "garden/soil", "-m", "dry", "-q", "1"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    got = sub.receive()
    assert (got.topic, got.payload, got.qos) == ("garden/soil", b"dry", 1)
    # Plain MQTT on the TLS port: that connection fails, the hub goes on.
    with socket.create_connection(("127.0.0.1", hub.mqtt_tls_port), timeout=10) as plain:
        plain.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00")
        with contextlib.suppress(ConnectionResetError):
            plain.recv(100)  # a TLS alert, or the close: the hub has dealt with it
    other = Peer(hub.mqtt_tls_port, "other", ca_file=str(cert))
    other.publish("garden/after", "still", qos=1)
    assert sub.receive().payload == b"still"
    # And over wss:// at /mqtt on the HTTPS port.
    tab = Peer(hub.port, "tab", ca_file=str(cert), websocket="/mqtt")
    tab.publish("garden/tab", "from a browser", qos=1)
    assert sub.receive().payload == b"from a browser"
    for peer in (sub, other, tab):
        peer.close()
    assert hub.stop() == 0
    assert "Traceback" not in hub.stderr


def test_sighup_reloads_the_certificate_of_mqtt_over_tls(tmp_path, hub_process, manager):
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert1, key1 = self_signed("first")
    cert2, key2 = self_signed("renewed")
    install(cert_file, cert1)
    install(key_file, key1)
    hub = hub_process("--api-key", KEY, "--tls", "--cert-file", str(cert_file), "--key-file", str(key_file),
                      env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert manager.recv(4096).startswith(b"READY=1")
    assert served_cert(hub.mqtt_tls_port) == der(cert1)
    kept = Peer(hub.mqtt_tls_port, "kept", ca_file=str(cert_file))
    kept.subscribe(("t", 1))
    install(cert_file, cert2)
    install(key_file, key2)
    reload(hub, manager)
    assert served_cert(hub.mqtt_tls_port) == der(cert2)
    renewed = Peer(hub.mqtt_tls_port, "renewed", ca_file=str(cert_file))
    renewed.publish("t", "after the reload", qos=1)
    assert kept.receive().payload == b"after the reload"  # opened before it, still served
    for peer in (kept, renewed):
        peer.close()


__all__ = ["manager"]  # the fixture, shared with the HTTPS tests


def test_mqtt_tls_port_needs_tls(run_serve):
    result = run_serve("--api-key", KEY, "--port", "0", "--mqtt-tls-port", "0")
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: --mqtt-tls-port needs tls on (--tls, CERT_FILE and KEY_FILE)"
