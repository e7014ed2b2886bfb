"""The clients against a hub on a LAN with its own certificate: --ca-file
and --insecure on the command line (ca_file= and verify= in Python), and a
scheme that does not match the hub's is one line saying which to use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from picloud.client import Client, HubUnreachable, publish_http
from tests.support.hub import KEY


@pytest.fixture
def tls_hub(hub_process, tls_files):
    cert, key = tls_files
    hub = hub_process("--api-key", KEY, "--tls", "--cert-file", str(cert), "--key-file", str(key))
    hub.cert = cert
    return hub


def picloud(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICLOUD_", "API_KEY"))}
    return subprocess.run([sys.executable, "-m", "picloud", *args, "--api-key", KEY, "--timeout", "3"],
                          capture_output=True, text=True, env=env, timeout=60)


def test_the_cli_trusts_a_lan_hubs_certificate_when_told_to(tls_hub):
    url = f"https://localhost:{tls_hub.port}"
    refused = picloud("publish", "t", "1", "--url", url)
    assert refused.returncode == 1
    assert "has a certificate this machine does not trust (self-signed certificate)" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1
    assert picloud("publish", "t", "1", "--url", url, "--ca-file", str(tls_hub.cert)).returncode == 0
    assert picloud("publish", "t", "1", "--url", url, "--insecure").returncode == 0
    info = picloud("info", "--json", "--url", url, "--ca-file", str(tls_hub.cert))  # a websocket, wss://
    assert info.returncode == 0, info.stderr


def test_the_python_clients_take_ca_file_and_verify(tls_hub):
    url = f"https://localhost:{tls_hub.port}"
    with Client(url, KEY, "sensor", ca_file=str(tls_hub.cert)) as client:
        client.publish("t", 1)
        assert client.flush(10) == 0
    publish_http("t", 2, url=url, api_key=KEY, verify=False)
    publish_http("t", 3, url=url, api_key=KEY, ca_file=str(tls_hub.cert))
    with pytest.raises(HubUnreachable, match="does not trust"):
        publish_http("t", 4, url=url, api_key=KEY)


def test_a_scheme_that_does_not_match_the_hub_says_which_to_use(hub_process, tls_hub):
    plain = hub_process("--api-key", KEY)
    wrong = picloud("publish", "t", "1", "--url", f"https://127.0.0.1:{plain.port}")
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [
        f"Error: the hub at https://127.0.0.1:{plain.port} does not speak tls: use http://127.0.0.1:{plain.port}"
    ]
    wrong = picloud("publish", "t", "1", "--url", f"http://127.0.0.1:{tls_hub.port}")
    assert wrong.returncode == 1
    assert wrong.stderr.splitlines() == [
        f"Error: the hub at http://127.0.0.1:{tls_hub.port} closed the connection without an answer: "
        f"if it serves tls, use https://127.0.0.1:{tls_hub.port}"
    ]
    for command in (("info",), ("subscribe", "t", "-n", "1")):
        wrong = picloud(*command, "--url", f"https://127.0.0.1:{plain.port}")
        assert wrong.returncode == 1 and "does not speak tls: use http://" in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr
