"""The client for plain scripts (picloud/client/sync.py, imported as
picloud.client) against real hubs: publish, subscribe, callbacks, reconnects,
refusals."""

from __future__ import annotations

import pytest

from picloud.client import Client, publish_http
from picloud.exceptions import AuthError, HubUnreachable, ProtocolError
from tests.support.hub import KEY
from tests.support.process import free_port, wait_subscribed


def test_publish_subscribe_iterate_and_callbacks(hub_process):
    hub = hub_process("--api-key", KEY)
    with Client(hub.url, KEY, "sub") as sub, Client(hub.url, KEY, "pub") as pub:
        sub.subscribe("t")
        wait_subscribed(pub, "t", "sub")
        pub.publish("t", {"c": 21.5})
        pub.publish("t", "/x", retain=True)
        message = sub.receive(timeout=10)
        assert (message.event, message.data) == ("t", {"c": 21.5})
        assert message.created_at.endswith("Z")
        assert sub.receive(timeout=10).data == "/x"
        with pytest.raises(ProtocolError):
            pub.publish("t", float("nan"))
        with pytest.raises(ProtocolError):
            pub.publish("", 1)


def test_run_forever_calls_callbacks_in_its_thread(hub_process):
    import threading

    hub = hub_process("--api-key", KEY)
    seen = []
    with Client(hub.url, KEY, "pub") as pub:
        sub = Client(hub.url, KEY, "sub")

        def on_message(message):
            seen.append((message.data, threading.current_thread()))
            if len(seen) == 2:
                sub.close()

        sub.subscribe("t", on_message)
        wait_subscribed(pub, "t", "sub")
        pub.publish("t", 1)
        pub.publish_http("t", 2)
        sub.run_forever()  # returns once the callback closed the client
    assert sorted(data for data, _ in seen) == [1, 2]
    assert {thread for _, thread in seen} == {threading.current_thread()}


def test_reconnects_and_resubscribes_across_hub_restart(hub_process):
    hub = hub_process("--api-key", KEY)
    port = hub.port
    with Client(hub.url, KEY, "sub", min_backoff=0.05, max_backoff=0.2) as sub, \
            Client(hub.url, KEY, "pub") as pub:
        sub.subscribe("t")
        wait_subscribed(pub, "t", "sub")
        pub.publish("t", "before")
        assert sub.receive(timeout=10).data == "before"

        assert hub.stop() == 0
        hub = hub_process("--api-key", KEY, "--port", str(port))
        assert hub.port == port
        wait_subscribed(pub, "t", "sub")  # pub's info opens a new socket
        pub.publish("t", "after")  # through a new publish socket
        assert sub.receive(timeout=10).data == "after"


def test_wrong_key_and_unreachable_hub(hub_process):
    hub = hub_process("--api-key", KEY)
    with Client(hub.url, "wrong", "x") as client:
        client.publish("t", 1)  # queued: the refusal comes when it is sent
        with pytest.raises(AuthError, match="refused the api key"):
            client.flush(10)
        with pytest.raises(AuthError, match="refused the api key"):
            client.publish("t", 2)  # and from then on, at once
    with Client(hub.url, "wrong", "x", queue=0) as client:
        with pytest.raises(AuthError, match="refused the api key"):
            client.publish("t", 1)
        with pytest.raises(AuthError):
            client.connect()
        client.subscribe("t")  # in the background: the refusal comes out of iteration
        with pytest.raises(AuthError):
            client.receive(timeout=10)
    with pytest.raises(AuthError):
        publish_http("t", 1, url=hub.url, api_key="wrong")
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, KEY, "x", queue=0) as client:
        with pytest.raises(HubUnreachable, match="cannot reach the hub"):
            client.publish("t", 1)
    with Client(url, KEY, "x", timeout=0.5) as client:
        client.publish("t", 1)  # kept for when a hub comes
        assert client.flush(0.5) == 1 and client.queued == 1
    with pytest.raises(HubUnreachable):
        publish_http("t", 1, url=url, api_key=KEY)


def test_publish_http_module_function(hub_process, monkeypatch):
    hub = hub_process("--api-key", KEY)
    monkeypatch.setenv("PICLOUD_URL", hub.url)
    monkeypatch.setenv("API_KEY", KEY)
    with Client(client_name="sub") as sub:
        sub.subscribe("cron")
        wait_subscribed(sub, "cron", "sub")
        publish_http("cron", [1, 2], client_name="cron-job")
        assert sub.receive(timeout=10).data == [1, 2]


def test_a_missing_key_is_named_as_the_library_takes_it(hub_process):
    hub = hub_process("--api-key", KEY)
    with pytest.raises(AuthError) as info:
        publish_http("t", 1, url=hub.url, api_key="")
    assert str(info.value).endswith("(no api key given: pass api_key or set PICLOUD_API_KEY)")
