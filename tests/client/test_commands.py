"""``picloud publish``, ``subscribe`` and ``info`` as real processes against a real hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from picloud.client import Client
from tests.support.hub import KEY
from tests.support.mqtt import Peer
from tests.support.process import free_port, wait_subscribed

CLIENT_ENV = ("PICLOUD_URL", "PICLOUD_API_KEY", "API_KEY", "PICLOUD_CLIENT_NAME", "PICLOUD_STATE_DIR")


def cli_env(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLIENT_ENV}
    # No stray key from the machine's own hub.
    env["PICLOUD_STATE_DIR"] = str(tmp_path / "no-hub-here")
    env.update(extra)
    return env


def picloud(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "picloud", *args], input=input, capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.fixture
def hub(hub_process):
    return hub_process("--api-key", KEY)


def test_subscribe_prints_json_lines_from_publish(hub, tmp_path):
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY=KEY)
    sub = subprocess.Popen(
        [sys.executable, "-m", "picloud", "subscribe", "t", "u/v", "--count", "5",
         "--client-name", "cli-sub"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        with Client(hub.url, KEY, "watcher") as watcher:
            wait_subscribed(watcher, "u/v", "cli-sub")
        assert picloud("publish", "t", "hello", env=env).returncode == 0
        done = picloud("publish", "u/v", '{"a": [1, 2]}', "--json", "--retain", env=env)
        assert done.returncode == 0, done.stderr
        done = picloud("publish", "t", "-", env=env, input="line 1\nline/2\n\n")
        assert (done.returncode, done.stderr) == (0, "")  # quiet in a pipe
        out, err = sub.communicate(timeout=30)
    finally:
        sub.kill()
    assert sub.returncode == 0, err
    messages = [json.loads(line) for line in out.splitlines()]
    assert [(m["event"], m["data"]) for m in messages] == [
        ("t", "hello"), ("u/v", {"a": [1, 2]}), ("t", "line 1"), ("t", "line/2"), ("t", ""),
    ]
    assert all(m["created_at"].endswith("Z") and "action" not in m for m in messages)


def test_publish_json_lines_stops_at_bad_line(hub, tmp_path):
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, API_KEY=KEY)
    done = picloud("publish", "t", "-", "--json", env=env, input='1\n{"x": 2}\n{oops\n')
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: line 3: invalid json '{oops': expecting property name enclosed in double quotes "
        "(2 messages published)"
    ]
    done = picloud("publish", "t", "NaN", "--json", env=env)
    assert done.returncode == 1
    assert "non-finite" in done.stderr


def test_info_table_and_json(hub, tmp_path):
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY=KEY)
    done = picloud("info", env=env)
    assert done.returncode == 0
    assert "no connections yet" in done.stdout
    plug = Peer(hub.mqtt_port, "plug", level=3, keepalive=30)
    plug.subscribe(("temperature", 0))
    with Client(hub.url, KEY, "kitchen-pi") as kitchen:
        kitchen.subscribe("temperature")
        wait_subscribed(kitchen, "temperature", "kitchen-pi")
        wait_subscribed(kitchen, "temperature", "plug")
        table = picloud("info", env=env).stdout
        doc = json.loads(picloud("info", "--json", env=env).stdout)
    plug.close()
    lines = table.splitlines()
    assert lines[0].startswith(f"hub {hub.url} at ")
    assert "connections (2)" in lines
    at = lines.index("connections (2)")
    assert lines[at + 1].split() == ["CLIENT", "ADDRESS", "PROTOCOL", "KEEPALIVE", "CONNECTED", "SINCE"]
    rows = {line.split()[0]: line.split() for line in lines[at + 2:at + 4]}
    assert rows["kitchen-pi"][2] == "websocket"
    assert rows["plug"][2:5] == ["mqtt", "3.1", "30s"]
    subscribers = lines[lines.index("subscriptions (1 events)") + 2].replace(",", " ").split()
    assert subscribers[:2] == ["temperature", "2"] and sorted(subscribers[2:]) == ["kitchen-pi", "plug"]
    by_name = {c["client_name"]: c for c in doc["all_connections"]}
    assert "protocol" not in by_name["kitchen-pi"]
    assert {k: by_name["plug"][k] for k in ("protocol", "keepalive", "clean_session")} == {
        "protocol": "mqtt 3.1", "keepalive": 30, "clean_session": True}


def test_finds_the_generated_key_in_the_state_dir(hub_process, tmp_path):
    state = tmp_path / "hub-state"
    hub = hub_process(state_dir=state)  # no --api-key: the hub generates one
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_STATE_DIR=str(state))
    done = picloud("info", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert "all_connections" in json.loads(done.stdout)
    done = picloud("publish", "t", "x", "--state-dir", str(tmp_path / "elsewhere"), env=env)
    assert done.returncode == 1
    assert "no api key given: use --api-key or PICLOUD_API_KEY" in done.stderr


@pytest.mark.parametrize("command", [["info"], ["publish", "t", "x"], ["subscribe", "t"],
                                     ["publish", "t", "-"]])
def test_wrong_key_is_one_line_error(hub, tmp_path, command):
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY="wrong")
    done = picloud(*command, env=env, input="x\n")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"Error: the hub at {hub.url} refused the api key: invalid api key" + (
            " (0 messages published)" if command[-1] == "-" else "")
    ]


@pytest.mark.parametrize("command", [["info"], ["publish", "t", "x"], ["subscribe", "t"]])
def test_unreachable_hub_is_one_line_error(tmp_path, command):
    url = f"http://127.0.0.1:{free_port()}"
    done = picloud(*command, "--url", url, "--api-key", KEY, env=cli_env(tmp_path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"Error: cannot reach the hub at {url}: connection refused"]


def test_publish_stdin_shows_progress_on_a_terminal(hub, tmp_path):
    import pty

    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY=KEY)
    terminal, stderr = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "picloud", "publish", "t", "-"],
                              input="reading\n" * 300, stdout=subprocess.PIPE, stderr=stderr,
                              text=True, env=env, timeout=60)
        os.close(stderr)
        shown = os.read(terminal, 65536).decode()
    finally:
        os.close(terminal)
    assert done.returncode == 0
    assert shown.endswith("published 300 messages\r\n")


def test_subscribe_since_without_epoch_replays_what_came_after(hub, tmp_path):
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY=KEY)
    for n in range(1, 4):
        assert picloud("publish", "t", str(n), env=env).returncode == 0  # HTTP: numbered once it returns
    done = picloud("subscribe", "t", "--since", "1", "--count", "2", env=env)
    assert done.returncode == 0, done.stderr
    assert [(m["seq"], m["data"]) for m in map(json.loads, done.stdout.splitlines())] == [(2, 2), (3, 3)]


def test_publish_reads_stdin_as_utf8_whatever_the_locale_says(hub, tmp_path):
    """A sensor script's degree signs arrive intact under an ASCII locale."""
    env = cli_env(tmp_path, PICLOUD_URL=hub.url, PICLOUD_API_KEY=KEY, PYTHONIOENCODING="ascii")
    with Client(hub.url, KEY, "watcher") as watcher:
        watcher.subscribe("t")
        wait_subscribed(watcher, "t", "watcher")
        done = subprocess.run([sys.executable, "-m", "picloud", "publish", "t", "-"], env=env,
                              input="21.5 °C\n".encode(), capture_output=True, timeout=20)
        assert done.returncode == 0, done.stderr
        message = watcher.receive(timeout=10)
    assert message.data == "21.5 °C"
