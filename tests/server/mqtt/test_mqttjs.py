"""MQTT.js (npm ``mqtt``, tests/js/, installed by ``npm ci`` in the test
command) against the hub: from Node over TCP, TLS and websockets, at 3.1.1
and 3.1, and in Chromium over /mqtt through Playwright."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.browser import browser_fixture, page_fixture  # noqa: F401 (fixtures)
from tests.support.hub import KEY
from tests.support.mqtt import Peer

JS = Path(__file__).resolve().parents[2] / "js"
MQTT_JS = JS / "node_modules" / "mqtt" / "dist" / "mqtt.min.js"


def node_client(url: str, *, level: int = 4, ca_file: Path | None = None) -> dict:
    """MQTT.js in Node: subscribes to js/#, publishes js/hello, prints what comes."""
    env = {**os.environ, "KEY": KEY, "LEVEL": str(level), **({"CA_FILE": str(ca_file)} if ca_file else {})}
    done = subprocess.run(["node", str(JS / "client.mjs"), url, "js/#", "js/hello", "hi from node", "1"],
                          capture_output=True, text=True, timeout=30, env=env, cwd=JS)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[0])


@pytest.fixture
def tls_hub(hub_process, tls_files):
    cert, key = tls_files
    return hub_process("--api-key", KEY, "--tls", "--cert-file", str(cert), "--key-file", str(key)), cert


@pytest.mark.parametrize("level", [4, 3])
def test_mqttjs_from_node_over_tcp(hub_process, level):
    hub = hub_process("--api-key", KEY)
    watcher = Peer(hub.mqtt_port, "watcher")
    watcher.subscribe(("js/#", 1))
    assert node_client(f"mqtt://127.0.0.1:{hub.mqtt_port}", level=level) == {
        "topic": "js/hello", "payload": "hi from node", "qos": 1, "retain": False}
    assert watcher.receive().payload == b"hi from node"
    watcher.close()


def test_mqttjs_from_node_over_tls_and_websockets(tls_hub):
    hub, cert = tls_hub
    for url in (f"mqtts://localhost:{hub.mqtt_tls_port}", f"wss://localhost:{hub.port}/mqtt"):
        assert node_client(url, ca_file=cert)["payload"] == "hi from node", url


def test_mqttjs_in_chromium_over_mqtt_route(page: Page, hub_process) -> None:
    hub = hub_process("--api-key", KEY)
    plug = Peer(hub.mqtt_port, "plug")
    plug.subscribe(("cmnd/#", 1))
    page.goto(f"{hub.url}/healthz")  # a page of the hub's own origin
    page.add_script_tag(path=str(MQTT_JS))
    page.evaluate("""([url, key]) => {
        window.client = mqtt.connect(url, {username: "tab", password: key, reconnectPeriod: 0});
        window.received = [];
        window.client.on("message", (topic, payload) => window.received.push([topic, payload.toString()]));
        window.ready = new Promise((resolve, reject) => {
            window.client.on("connect", () => window.client.subscribe("stat/#", {qos: 1}, resolve));
            window.client.on("error", reject);
        });
    }""", [f"ws://127.0.0.1:{hub.port}/mqtt", KEY])
    page.evaluate("() => window.ready")
    page.evaluate("() => window.client.publishAsync('cmnd/plug/POWER', 'TOGGLE', {qos: 1})")
    assert plug.receive().payload == b"TOGGLE"
    plug.publish("stat/plug/POWER", "ON", qos=1)
    page.wait_for_function("() => window.received.length > 0")
    assert page.evaluate("() => window.received") == [["stat/plug/POWER", "ON"]]
    plug.close()
