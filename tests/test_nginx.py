"""etc/nginx/picloud.conf and picloud-stream.conf in front of a real hub:
websockets and MQTT (plain, TLS ended at nginx, and over /mqtt) pass the
proxy, and with --xheaders /info shows the device's address, not nginx's."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

from tests.support.certs import self_signed
from tests.support.hub import read_json, subscribed
from tests.support.mqtt import Peer

ROOT = Path(__file__).resolve().parent.parent
KEY = "nginx-key-0123456789"
DEVICE_IP = "127.0.0.2"  # another loopback address, so the device is told apart from nginx
OTHER_DEVICE_IP = "127.0.0.3"
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"  # libnginx-mod-stream


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def nginx(tmp_path: Path, hub_process, request):
    """The example config with its ports, certificate and upstream pointed at
    a test hub (given more flags by indirect parametrization)."""
    hub = hub_process("--api-key", KEY, "--host", "127.0.0.1", "--xheaders", *getattr(request, "param", ()))
    cert, key = self_signed("nginx")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    https, http, mqtt, mqtts = free_port(), free_port(), free_port(), free_port()
    stream = (ROOT / "etc/nginx/picloud-stream.conf").read_text()
    for old, new in [
        ("server 127.0.0.1:1884;", f"server 127.0.0.1:{hub.mqtt_port};"),
        ("listen [::]:1883;", ""), ("listen [::]:8883 ssl;", ""),
        ("listen 1883;", f"listen 127.0.0.1:{mqtt};"), ("listen 8883 ssl;", f"listen 127.0.0.1:{mqtts} ssl;"),
        ("/etc/letsencrypt/live/picloud.example.org/fullchain.pem", str(tmp_path / "cert.pem")),
        ("/etc/letsencrypt/live/picloud.example.org/privkey.pem", str(tmp_path / "key.pem")),
    ]:
        assert old in stream, old
        stream = stream.replace(old, new)
    (tmp_path / "stream.conf").write_text(stream)
    site = (ROOT / "etc/nginx/picloud.conf").read_text()
    for old, new in [
        ("server 127.0.0.1:9000;", f"server 127.0.0.1:{hub.port};"),
        ("listen [::]:80;", ""), ("listen [::]:443 ssl;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;"),
        ("/etc/letsencrypt/live/picloud.example.org/fullchain.pem", str(tmp_path / "cert.pem")),
        ("/etc/letsencrypt/live/picloud.example.org/privkey.pem", str(tmp_path / "key.pem")),
    ]:
        assert old in site, old
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    temps = "".join(f"{name}_temp_path {tmp_path / name};\n"
                    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (tmp_path / "nginx.conf").write_text(
        f"daemon off;\nuser root;\nworker_processes 1;\npid {tmp_path / 'nginx.pid'};\n"
        f"load_module {STREAM_MODULE};\n"
        f"error_log stderr;\nevents {{}}\ninclude {tmp_path / 'stream.conf'};\nhttp {{\naccess_log off;\n{temps}"
        f"include {tmp_path / 'site.conf'};\n}}\n"
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stderr=subprocess.PIPE, text=True,
    )
    # nginx says nothing when it is ready: poll its port.
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", https), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"nginx did not start: {proc.communicate()[1]}")
            time.sleep(0.05)
    hub.through_nginx = {"mqtt": mqtt, "mqtts": mqtts, "cert": str(tmp_path / "cert.pem")}
    yield hub, f"127.0.0.1:{https}", f"127.0.0.1:{http}"
    proc.terminate()
    proc.wait(timeout=10)


def request(url: str, device: str = DEVICE_IP, **kwargs) -> HTTPRequest:
    return HTTPRequest(url, validate_cert=False, network_interface=device, **kwargs)


@pytest.mark.gen_test(timeout=20)
async def test_websockets_through_nginx_show_the_devices_address(nginx):
    hub, https, http = nginx
    sub = await websocket_connect(request(f"wss://{https}/subscribe?clientName=kitchen",
                                          headers={"X-API-Key": KEY}))
    await subscribed(sub, "temperature")
    resp = await AsyncHTTPClient().fetch(request(
        f"https://{https}/publish", method="POST", body=json.dumps({"event": "temperature", "data": 21.5}),
        headers={"X-API-Key": KEY, "X-API-Client-Name": "sensor"}))
    assert resp.code == 201
    message = await read_json(sub)
    assert (message["event"], message["data"]) == ("temperature", 21.5)

    info = await websocket_connect(request(f"wss://{https}/info?apiKey={KEY}"))
    snapshot = await read_json(info)
    (address,) = [conn["ip_address"] for conn in snapshot["all_connections"]]
    assert re.fullmatch(rf"{re.escape(DEVICE_IP)}:\d+", address)

    redirect = await AsyncHTTPClient().fetch(request(f"http://{http}/info", follow_redirects=False),
                                             raise_error=False)
    assert redirect.code == 301
    assert redirect.headers["Location"].startswith("https://")
    sub.close()
    info.close()
    assert hub.stop() == 0
    assert f"connect /subscribe 'kitchen' from {DEVICE_IP}:" in hub.stderr  # the log names the device too


@pytest.mark.parametrize("nginx", [("--auth-fail-limit", "3", "--max-pending-per-ip", "2")], indirect=True)
@pytest.mark.gen_test(timeout=30)
async def test_behind_nginx_limits_apply_to_the_device_not_to_the_proxy(nginx):
    """Every connection comes from nginx: the per-address cap on connections
    without a key does not count them together, and wrong keys block the
    device that sent them, not the proxy every other device comes through."""
    hub, https, _ = nginx
    client = AsyncHTTPClient(force_instance=True, max_clients=20)

    async def get(device: str, key: str | None, path: str = "/retained") -> int:
        headers = {} if key is None else {"X-API-Key": key}
        resp = await client.fetch(request(f"https://{https}{path}", device, headers=headers), raise_error=False)
        return resp.code

    # More keyless requests at once than the cap, each on its own upstream
    # connection (nginx keeps them open for reuse): answered, none 502.
    assert await asyncio.gather(*(get(DEVICE_IP, None) for _ in range(12))) == [401] * 12
    assert await asyncio.gather(*(get(DEVICE_IP, KEY) for _ in range(12))) == [200] * 12

    assert [await get(DEVICE_IP, "wrong-key-0123456789") for _ in range(3)] == [401] * 3
    assert await get(DEVICE_IP, KEY) == 429  # this device is blocked, the right key included
    assert await get(OTHER_DEVICE_IP, KEY) == 200  # another one, through the same proxy, is not
    client.close()
    assert hub.stop() == 0
    assert f"blocking {DEVICE_IP} for 60s after 3 wrong keys" in hub.stderr


@pytest.mark.parametrize("nginx", [("--auth-fail-limit", "3")], indirect=True)
def test_mqtt_through_nginx_plain_tls_and_websocket(nginx):
    """With proxy_protocol on, the hub sees each MQTT device's address: its
    wrong keys block that device, not nginx every other one comes through."""
    hub, https, _ = nginx
    ports = hub.through_nginx
    cert = ports["cert"]
    watcher = Peer(ports["mqtt"], "watcher", key=KEY, source=OTHER_DEVICE_IP)
    watcher.subscribe(("t/#", 1))
    for _ in range(3):
        wrong = Peer(ports["mqtt"], "x", key="wrong-key-0123456789", connect=False, source=DEVICE_IP)
        assert str(wrong.start()[1]) == "Bad user name or password"
        wrong.client.loop_stop()
    blocked = Peer(ports["mqtt"], "x", key=KEY, connect=False, source=DEVICE_IP)
    assert str(blocked.start()[1]) == "Not authorized"  # that device, the right key too
    blocked.client.loop_stop()
    over_tls = Peer(ports["mqtts"], "tls-device", key=KEY, ca_file=cert, source=OTHER_DEVICE_IP)
    over_tls.publish("t/tls", "ended at nginx", qos=1)
    assert watcher.receive().payload == b"ended at nginx"
    tab = Peer(int(https.split(":")[1]), "tab", key=KEY, ca_file=cert, websocket="/mqtt", source=OTHER_DEVICE_IP)
    tab.publish("t/ws", "through /mqtt", qos=1)
    assert watcher.receive().payload == b"through /mqtt"
    for peer in (watcher, over_tls, tab):
        peer.close()
    assert hub.stop() == 0
    assert f"blocking {DEVICE_IP} for 60s after 3 wrong keys" in hub.stderr
    assert f"'tls-device' from {OTHER_DEVICE_IP}:" in hub.stderr  # its address, not nginx's
