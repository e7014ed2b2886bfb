"""Publishing that outlives the hub going away (picloud/client/outbox.py):
``picloud publish EVENT -`` and ``Client.publish`` keep every reading across
a restart of their hub, bound what they keep, and say what was not sent.

Two hubs share a Redis: the counting subscriber stays on the one that keeps
running, so every reading the restarted hub took reaches it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from picloud.client import Client, ClientError
from tests.client.test_aio import Subscriber
from tests.support.hub import KEY
from tests.support.process import free_port, wait_subscribed
from tests.support.redisserver import PREFIX


@pytest.fixture
def pair(hub_process, redis_server):
    """``start(port=None)`` starts a hub on the shared Redis; the first call's
    hub is where the subscriber is."""
    server = redis_server()
    args = ("--api-key", KEY, "--broker-prefix", PREFIX, "--shutdown-drain", "1", "--broker", server.url)

    def start(port: int | None = None):
        return hub_process(*args, *(["--port", str(port)] if port else []))

    return start


def received(sub: Subscriber, count: int) -> list:
    return [m.data for m in sub.until(count)]


def test_the_cli_stream_keeps_every_reading_across_a_hub_restart(pair, tmp_path):
    other, hub = pair(), pair()
    sub = Subscriber(other.url, "t")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICLOUD_", "API_KEY"))}
    publisher = subprocess.Popen(
        [sys.executable, "-m", "picloud", "publish", "t", "-", "--url", hub.url, "--api-key", KEY,
         "--client-name", "sensor"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        wait_subscribed(sub.client, "t", "sub")

        def write(numbers: range) -> None:
            publisher.stdin.write("".join(f"{n}\n" for n in numbers))
            publisher.stdin.flush()

        write(range(1, 51))
        assert received(sub, 50) == list(range(1, 51))  # numbers, not strings
        assert hub.stop() == 0
        write(range(51, 101))  # while its hub is away: queued, and stdin still read
        hub = pair(hub.port)
        write(range(101, 151))
        publisher.stdin.close()
        assert publisher.wait(timeout=60) == 0, publisher.stderr.read()
        rest = received(sub, 150)
    finally:
        publisher.kill()
        sub.close()
    assert sorted(set(rest)) == list(range(51, 151))  # none lost
    assert rest == sorted(rest)  # in order (a batch the hub took unacked may come twice)
    stderr = publisher.stderr.read()
    assert "queueing up to 1000 messages, reconnecting" in stderr
    assert "Traceback" not in stderr and "Fatal" not in stderr


def test_client_publish_keeps_readings_while_its_hub_is_away(pair):
    other = pair()
    port = free_port()
    sub = Subscriber(other.url, "t")
    try:
        wait_subscribed(sub.client, "t", "sub")
        # No hub at the port yet: publish neither raises nor blocks.
        with Client(f"http://127.0.0.1:{port}", KEY, "sensor", queue=10, timeout=1) as client:
            for n in range(1, 26):
                client.publish("t", n)
            assert client.dropped == 15 and client.queued == 10  # the oldest went
            pair(port)
            assert client.flush(30) == 0
            assert received(sub, 25) == list(range(16, 26))
    finally:
        sub.close()


def test_the_cli_says_what_it_could_not_send(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICLOUD_", "API_KEY"))}
    done = subprocess.run(
        [sys.executable, "-m", "picloud", "publish", "t", "-", "--url", url, "--api-key", KEY,
         "--flush-timeout", "1", "--timeout", "0.5"],
        input="1\n2\n3\n", capture_output=True, text=True, env=env, timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "Error: 3 of 3 messages not sent (0 dropped while the hub was away, 0 refused by the hub, "
        "3 still queued after 1s)"
    )


def test_what_the_hub_will_never_take_is_refused_and_the_rest_goes(hub_process, tmp_path):
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY} admin\nAb9Lm3Qw7Ee1Rt6Y publish sensors/#\nZr4p0Tf2Yq5Kx8Nn subscribe #\n")
    hub = hub_process("--keys-file", str(keys), "--max-message-bytes", "2048")
    sub = Subscriber(hub.url, "sensors/t")
    try:
        wait_subscribed(sub.client, "sensors/t", "sub")
        with Client(hub.url, "Ab9Lm3Qw7Ee1Rt6Y", "sensor", timeout=2) as client:
            client.publish("sensors/t", 1)
            client.publish("sensors/t", "x" * 3000)  # over --max-message-bytes: the socket is closed 1009
            client.publish("door/lock", "open")  # outside the key's topics
            client.publish("sensors/t", 2)
            assert client.flush(30) == 0
            assert client.refused == 2
        assert received(sub, 2) == [1, 2]
    finally:
        sub.close()
    # A key that may not publish at all: one clear error, not a queue that waits forever.
    with Client(hub.url, "Zr4p0Tf2Yq5Kx8Nn", "reader") as client:
        client.publish("sensors/t", 3)
        with pytest.raises(ClientError, match="answered 403"):
            client.flush(10)


def test_an_ack_that_waits_for_the_disk_is_not_taken_for_a_lost_one(hub_process):
    hub = hub_process("--api-key", KEY, "--store-interval", "3")
    sub = Subscriber(hub.url, "t")
    try:
        wait_subscribed(sub.client, "t", "sub")
        with Client(hub.url, KEY, "sensor", timeout=1) as client:
            client.publish("t", 1, retain=True)  # acked once on disk, up to 3 s from now
            client.publish("t", 2)
            assert client.flush(20) == 0
        assert received(sub, 2) == [1, 2]
        assert sub.messages.empty()  # and nothing sent twice
    finally:
        sub.close()


def test_client_publish_keeps_every_reading_across_a_hub_restart(pair):
    other, hub = pair(), pair()
    sub = Subscriber(other.url, "t")
    try:
        wait_subscribed(sub.client, "t", "sub")
        with Client(hub.url, KEY, "sensor", timeout=2) as client:
            for n in range(1, 51):
                client.publish("t", n)
            assert received(sub, 50) == list(range(1, 51))
            assert hub.stop() == 0
            for n in range(51, 101):  # the GPIO loop goes on: nothing raises, nothing blocks
                client.publish("t", n)
            hub = pair(hub.port)
            for n in range(101, 151):
                client.publish("t", n)
            assert client.flush(30) == 0 and client.dropped == 0
        rest = received(sub, 150)
    finally:
        sub.close()
    assert sorted(set(rest)) == list(range(51, 151))
